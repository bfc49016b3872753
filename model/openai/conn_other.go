//go:build !linux

package openai

import (
	"net"
	"sync/atomic"
	"time"
)

// A stampConn is a connection that notes when its latest read returned
// bytes (elsewhere than Linux there is no kernel receive timestamp), and
// when the first write after markSend began.
type stampConn struct {
	net.Conn
	readAt atomic.Int64 // ns after epoch
	sendAt atomic.Int64 // ns after epoch; 0 while markSend waits for a write
}

func (c *stampConn) markSend() { c.sendAt.Store(0) }

func (c *stampConn) sentAt() time.Time {
	ns := c.sendAt.Load()
	if ns <= 0 {
		return time.Time{}
	}
	return epoch.Add(time.Duration(ns))
}

func (c *stampConn) Write(p []byte) (int, error) {
	if c.sendAt.Load() == 0 {
		c.sendAt.Store(max(1, int64(time.Since(epoch))))
	}
	return c.Conn.Write(p)
}

func newStampConn(c net.Conn) net.Conn { return &stampConn{Conn: c} }

func (c *stampConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readAt.Store(int64(time.Since(epoch)))
	}
	return n, err
}

// CloseWrite lets net/http half-close the connection as it would a plain one.
func (c *stampConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *stampConn) arrival() time.Time {
	ns := c.readAt.Load()
	if ns == 0 {
		return time.Time{}
	}
	return epoch.Add(time.Duration(ns))
}
