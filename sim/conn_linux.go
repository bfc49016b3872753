//go:build linux

package sim

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A stampConn is a TCP connection that notes when the bytes of its latest
// read arrived: the kernel's receive timestamp (SO_TIMESTAMPNS), so that
// time spent before this process got round to the read is not counted.
// Where the kernel gives none, the time the read returned.
type stampConn struct {
	net.Conn
	tcp    *net.TCPConn
	rc     syscall.RawConn
	kernel bool
	readAt atomic.Int64 // ns after epoch
}

func newStampConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &stampConn{Conn: c, tcp: tc, rc: rc}
	rc.Control(func(fd uintptr) {
		s.kernel = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) == nil
	})
	return s
}

func (c *stampConn) Read(p []byte) (int, error) {
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
	var oob [64]byte
	var n, oobn int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, oob[:], 0)
			if rerr != unix.EINTR {
				break
			}
		}
		return rerr != unix.EAGAIN
	})
	now := time.Now()
	if err == nil {
		err = rerr
	}
	if err != nil {
		if n < 0 {
			n = 0
		}
		return n, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("recvmsg", err)}
	}
	if n == 0 {
		return 0, io.EOF
	}
	at := now
	if k, ok := kernelStamp(oob[:oobn]); ok {
		if d := now.UnixNano() - k; d >= 0 && d < int64(10*time.Second) {
			at = now.Add(-time.Duration(d))
		}
	}
	c.readAt.Store(int64(at.Sub(epoch)))
	return n, nil
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
func (c *stampConn) CloseWrite() error { return c.tcp.CloseWrite() }

// arrival returns when the bytes of the latest read arrived (zero before
// any).
func (c *stampConn) arrival() time.Time {
	ns := c.readAt.Load()
	if ns == 0 {
		return time.Time{}
	}
	return epoch.Add(time.Duration(ns))
}
