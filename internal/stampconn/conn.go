// Package stampconn wraps TCP connections so that each read notes when its
// bytes arrived (the kernel's receive timestamp on Linux, the time the read
// returned elsewhere) and each request notes when its first byte was
// written. The serving client (model/openai) and the simulator (sim) share
// it, so both measure the same way.
package stampconn

import "time"

// epoch anchors the stored times, which are nanoseconds after it, so that
// the times returned keep their monotonic reading.
var epoch = time.Now()

// Arrival returns when the bytes of the latest read arrived (zero before
// any).
func (c *Conn) Arrival() time.Time { return at(c.readAt.Load()) }

// MarkSend makes the next write note its start (SentAt).
func (c *Conn) MarkSend() { c.sendAt.Store(0) }

// SentAt returns when the first write after MarkSend began (zero if none).
func (c *Conn) SentAt() time.Time { return at(c.sendAt.Load()) }

// Write notes the start of the first write after MarkSend.
func (c *Conn) Write(p []byte) (int, error) {
	if c.sendAt.Load() == 0 {
		c.sendAt.Store(max(1, int64(time.Since(epoch))))
	}
	return c.Conn.Write(p)
}

// at turns a stored time (ns after epoch; zero or less: none) into a time.
func at(ns int64) time.Time {
	if ns <= 0 {
		return time.Time{}
	}
	return epoch.Add(time.Duration(ns))
}
