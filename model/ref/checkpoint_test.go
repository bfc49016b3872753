package ref

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inference-pio/piobench/model"
)

func TestCheckpointRoundTrip(t *testing.T) {
	for _, shared := range []bool{true, false} {
		path := writeTestCheckpoint(t, tinyShape, shared)
		w, err := mapCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		if w.Shape != tinyShape || w.Shared != shared {
			t.Errorf("shape %+v shared %v", w.Shape, w.Shared)
		}
		naive := readNaive(t, path)
		for _, c := range []struct {
			name string
			got  []float32
			want []float64
		}{
			{"embedding", w.TokenEmbedding, naive.emb}, {"rms_att", w.RMSAtt, naive.rmsAtt},
			{"wq", w.WQ, naive.wq}, {"wk", w.WK, naive.wk}, {"wv", w.WV, naive.wv}, {"wo", w.WO, naive.wo},
			{"rms_ffn", w.RMSFFN, naive.rmsFFN}, {"w1", w.W1, naive.w1}, {"w2", w.W2, naive.w2},
			{"w3", w.W3, naive.w3}, {"rms_final", w.RMSFinal, naive.rmsFinal}, {"wcls", w.WCls, naive.wcls},
		} {
			if len(c.got) != len(c.want) {
				t.Fatalf("%s: %d floats, want %d", c.name, len(c.got), len(c.want))
			}
			for i := range c.want {
				if float64(c.got[i]) != c.want[i] {
					t.Fatalf("%s[%d] = %v, want %v", c.name, i, c.got[i], c.want[i])
				}
			}
		}
		if shared != (&w.WCls[0] == &w.TokenEmbedding[0]) {
			t.Errorf("shared %v, but classifier and embedding alias: %v", shared, !shared)
		}
		if got, want := w.bytes(), 4*tinyShape.Params(shared); got != want {
			t.Errorf("bytes %d, want %d", got, want)
		}
		if w.HugeBytes < 0 || w.HugeBytes > int64(len(w.data)) {
			t.Errorf("HugeBytes %d of a %d-byte mapping", w.HugeBytes, len(w.data))
		}
		if err := w.unmap(); err != nil {
			t.Error(err)
		}
	}
}

func header(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func TestBadCheckpoints(t *testing.T) {
	good, err := os.ReadFile(writeTestCheckpoint(t, tinyShape, true))
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(d, h, l, nh, kv, v, seq int32) []byte { return header(d, h, l, nh, kv, v, seq) }
	withHeader := func(h []byte) []byte { return append(h, good[headerBytes:]...) }
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"empty", "shorter than the 28-byte", nil},
		{"short header", "shorter than the 28-byte", good[:20]},
		{"header only", "truncated?", good[:headerBytes]},
		{"truncated weights", "truncated?", good[:len(good)-1]},
		{"extra bytes", "extra bytes", append(append([]byte(nil), good...), 0, 0, 0, 0)},
		{"zero dim", "dim is 0", withHeader(hdr(0, 64, 2, 4, 2, 64, 32))},
		{"negative layers", "n_layers is -2", withHeader(hdr(32, 64, -2, 4, 2, 64, 32))},
		{"zero vocab", "vocab_size is 0", withHeader(hdr(32, 64, 2, 4, 2, 0, 32))},
		{"heads not divisible", "not divisible by n_kv_heads", withHeader(hdr(32, 64, 2, 4, 3, 64, 32))},
		{"dim not divisible", "not divisible by n_heads", withHeader(hdr(30, 64, 2, 4, 2, 64, 32))},
		{"huge", "want <=", withHeader(hdr(1<<30, 64, 2, 4, 2, 64, 32))},
		{"unshared but file shared", "truncated?", withHeader(hdr(32, 64, 2, 4, 2, -64, 32))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.bin")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := mapCheckpoint(path)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "bad.bin: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one naming bad.bin and saying %q", err, tc.want)
			}
			// Open checks the header too.
			if _, err := Open(mconfig(path)); err == nil || !strings.Contains(err.Error(), "bad.bin") {
				t.Errorf("Open: %v", err)
			}
		})
	}
	if _, err := mapCheckpoint(filepath.Join(t.TempDir(), "missing.bin")); err == nil || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("missing file: %v", err)
	}
}

func TestTruncatedMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.bin")
	b := append(header(288, 768, 6, 6, 6, 32000, 256), make([]byte, 1000-headerBytes)...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := mapCheckpoint(path)
	want := "model.bin: header says 60816028 bytes of weights but file has 1000 bytes (truncated?)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// FuzzCheckpointHeader checks that no header makes the loader panic or
// accept a file of the wrong size.
func FuzzCheckpointHeader(f *testing.F) {
	f.Add(header(32, 64, 2, 4, 2, 64, 32), 100)
	f.Add(header(288, 768, 6, 6, 6, -32000, 256), 0)
	f.Fuzz(func(t *testing.T, hdr []byte, extra int) {
		if extra < 0 || extra > 1<<16 {
			return
		}
		path := filepath.Join(t.TempDir(), "fuzz.bin")
		if err := os.WriteFile(path, append(hdr, make([]byte, extra)...), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := mapCheckpoint(path)
		if err == nil {
			if w.Shape.fileSize(w.Shared) != int64(len(hdr)+extra) {
				t.Errorf("accepted a file of %d bytes for %+v", len(hdr)+extra, w.Shape)
			}
			w.unmap()
		}
	})
}

func mconfig(path string) model.Config { return model.Config{Path: path, Tokenizer: path + ".tok"} }
