//go:build !linux

package stampconn

import (
	"net"
	"sync/atomic"
	"time"
)

// A Conn is a connection that notes when its latest read returned
// bytes (elsewhere than Linux there is no kernel receive timestamp), and
// when the first write after MarkSend began.
type Conn struct {
	net.Conn
	readAt atomic.Int64 // ns after epoch
	sendAt atomic.Int64 // ns after epoch; 0 while MarkSend waits for a write
}

// New wraps c.
func New(c net.Conn) net.Conn { return &Conn{Conn: c} }

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readAt.Store(int64(time.Since(epoch)))
	}
	return n, err
}

// CloseWrite lets net/http half-close the connection as it would a plain one.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Kernel reports whether reads are stamped by the kernel: never here.
func (c *Conn) Kernel() bool { return false }
