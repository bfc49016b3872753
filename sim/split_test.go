package sim

import "testing"

func TestSplitAtMovesThroughEveryPlace(t *testing.T) {
	ev := ": keep-alive\r\ndata:{\"a\":1}\r\n\r\ndata:{\"b\":2}\r\n\r\n"
	data := len(": keep-alive\r\n")
	dataEnd := data + len(`data:{"a":1}`)
	want := map[int]int{
		0: 2,               // inside the first line's field name
		1: data + 13/2 + 1, // inside the first data line's value
		2: dataEnd + 1,     // between CR and LF
		3: dataEnd + 2,     // between the data line and the blank line
		4: dataEnd + 4,     // between the events
	}
	for k := 0; k < 10; k++ {
		got := splitAt([]byte(ev), k)
		if got != want[k%5] {
			t.Errorf("flush %d: cut at %d (%q | %q), want %d", k, got, ev[:got], ev[got:], want[k%5])
		}
	}
	// LF ends, the data line first: between CR and LF degenerates to
	// after the line.
	lf := "data: {\"a\":1}\n\ndata: [DONE]\n\n"
	for k, w := range []int{2, 7, 14, 14, 15} {
		if got := splitAt([]byte(lf), k); got != w {
			t.Errorf("LF flush %d: cut at %d (%q | %q), want %d", k, got, lf[:got], lf[got:], w)
		}
	}
	// Short or lineless input never gives a cut outside it.
	for _, b := range []string{"", "d", "data", "da\r", ": x\n"} {
		for k := 0; k < 5; k++ {
			if got := splitAt([]byte(b), k); got < 0 || got > len(b) {
				t.Errorf("splitAt(%q, %d) = %d", b, k, got)
			}
		}
	}
}
