package sim

import (
	"github.com/inference-pio/piobench/internal/stampconn"
	"io"
	"net"
	"testing"
	"time"
)

// A stamped read's arrival lies between the peer's write and the read's
// return, however late the reader comes to it.
func TestStampConnArrival(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sl := stampListener{ln}
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := sl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, ok := c.(*stampconn.Conn)
	if !ok {
		t.Fatalf("accepted %T, want *stampconn.Conn", c)
	}
	if !sc.Arrival().IsZero() {
		t.Error("arrival before any read")
	}
	for i := range 3 {
		before := time.Now()
		if _, err := client.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		time.Sleep(20 * time.Millisecond) // the reader comes late
		buf := make([]byte, 16)
		n, err := io.ReadAtLeast(c, buf, 5)
		after := time.Now()
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		a := sc.Arrival()
		if a.Before(before) || a.After(after) {
			t.Fatalf("arrival %v outside [write %v, read %v]", a.Sub(before), 0, after.Sub(before))
		}
		// The first packets after timestamps are switched on may go without
		// (the kernel switches them on for the whole system, shortly after).
		if sc.Kernel() && i > 0 && a.After(written.Add(10*time.Millisecond)) {
			t.Errorf("kernel stamp %v after the write, want the arrival, not the late read", a.Sub(written))
		}
	}
	client.Close()
	if n, err := c.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Errorf("read after close: %d, %v; want 0, EOF", n, err)
	}
}
