//go:build linux

package stampconn

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Conn is a TCP connection that notes when the bytes of its latest
// read arrived: the kernel's receive timestamp (SO_TIMESTAMPNS), so that
// time spent before this process got round to the read is not counted.
// Where the kernel gives none, the time the read returned. It also notes
// when the first write after MarkSend began: a request's send time.
type Conn struct {
	net.Conn
	tcp    *net.TCPConn
	rc     syscall.RawConn
	kernel bool
	readAt atomic.Int64 // ns after epoch
	// sendAt is when the first write after MarkSend began (ns after
	// epoch); 0 while MarkSend waits for it.
	sendAt atomic.Int64

	// One read at a time uses these, so that a read allocates nothing.
	mu     sync.Mutex
	readFn func(fd uintptr) bool
	msg    unix.Msghdr
	iov    unix.Iovec
	oob    [64]byte
	n      int
	errno  syscall.Errno
}

// New wraps c when it is a TCP connection, and returns other connections
// as they are.
func New(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &Conn{Conn: c, tcp: tc, rc: rc}
	rc.Control(func(fd uintptr) {
		s.kernel = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) == nil
	})
	s.readFn = s.recvmsg
	return s
}

// recvmsg reads once into the buffer set in s.iov; it reports false when
// nothing is there yet (the poller then waits).
func (c *Conn) recvmsg(fd uintptr) bool {
	for {
		c.msg.Iov = &c.iov
		c.msg.Iovlen = 1
		c.msg.Control = &c.oob[0]
		c.msg.SetControllen(len(c.oob))
		r, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.msg)), 0)
		if e == unix.EINTR {
			continue
		}
		c.n, c.errno = int(r), e
		return e != unix.EAGAIN
	}
}

func (c *Conn) Read(p []byte) (int, error) {
	if !c.kernel {
		n, err := c.Conn.Read(p)
		if n > 0 {
			c.readAt.Store(int64(time.Since(epoch)))
		}
		return n, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.iov.Base = &p[0]
	c.iov.SetLen(len(p))
	c.n, c.errno = 0, 0
	err := c.rc.Read(c.readFn)
	c.iov.Base = nil // keep no reference to p
	now := time.Now()
	if err != nil {
		return 0, err // already a *net.OpError (closed, deadline)
	}
	if c.errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("recvmsg", c.errno)}
	}
	if c.n == 0 {
		return 0, io.EOF
	}
	at := now
	if k, ok := kernelStamp(c.oob[:c.msg.Controllen]); ok {
		if d := now.UnixNano() - k; d >= 0 && d < int64(10*time.Second) {
			at = now.Add(-time.Duration(d))
		}
	}
	c.readAt.Store(int64(at.Sub(epoch)))
	return c.n, nil
}

// kernelStamp finds the receive timestamp (wall clock, ns) among control
// messages.
func kernelStamp(oob []byte) (int64, bool) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && len(data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:16]))
			if sec == 0 && nsec == 0 {
				return 0, false
			}
			return sec*1e9 + nsec, true
		}
		oob = rest
	}
	return 0, false
}

// CloseWrite lets net/http half-close the connection as it would a plain one.
func (c *Conn) CloseWrite() error { return c.tcp.CloseWrite() }

// Kernel reports whether reads are stamped by the kernel.
func (c *Conn) Kernel() bool { return c.kernel }
