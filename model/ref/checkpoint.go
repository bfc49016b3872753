package ref

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// A Shape is the size of a Llama-family transformer, as in the header of a
// llama2.c checkpoint.
type Shape struct {
	Dim       int // width of the residual stream
	HiddenDim int // width of the feed-forward layer
	Layers    int
	Heads     int // query heads
	KVHeads   int // key and value heads; Heads is a multiple of it
	Vocab     int
	SeqLen    int // longest context
}

// Presets holds the shapes of the synthetic models that the driver builds
// without a checkpoint, by name.
var Presets = map[string]Shape{
	"15m":  {Dim: 288, HiddenDim: 768, Layers: 6, Heads: 6, KVHeads: 6, Vocab: 32000, SeqLen: 256},
	"110m": {Dim: 768, HiddenDim: 2048, Layers: 12, Heads: 12, KVHeads: 12, Vocab: 32000, SeqLen: 1024},
}

const headerBytes = 7 * 4

// maxDim bounds each header field, so that sizes computed from a corrupt
// header cannot overflow.
const maxDim = 1 << 24

// Validate reports what is wrong with s, or nil.
func (s Shape) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"dim", s.Dim}, {"hidden_dim", s.HiddenDim}, {"n_layers", s.Layers}, {"n_heads", s.Heads},
		{"n_kv_heads", s.KVHeads}, {"vocab_size", s.Vocab}, {"seq_len", s.SeqLen}} {
		if f.v <= 0 {
			return fmt.Errorf("%s is %d, want > 0", f.name, f.v)
		}
		if f.v > maxDim {
			return fmt.Errorf("%s is %d, want <= %d", f.name, f.v, maxDim)
		}
	}
	if s.Dim%s.Heads != 0 {
		return fmt.Errorf("dim %d is not divisible by n_heads %d", s.Dim, s.Heads)
	}
	if s.Heads%s.KVHeads != 0 {
		return fmt.Errorf("n_heads %d is not divisible by n_kv_heads %d", s.Heads, s.KVHeads)
	}
	if s.HeadSize()%2 != 0 {
		return fmt.Errorf("head size %d is odd; rotary embedding needs pairs", s.HeadSize())
	}
	return nil
}

// HeadSize returns the width of one attention head.
func (s Shape) HeadSize() int { return s.Dim / s.Heads }

// KVDim returns the width of the keys and values of one position.
func (s Shape) KVDim() int { return s.Dim / s.Heads * s.KVHeads }

// Params returns the number of weights, counting a shared classifier once.
func (s Shape) Params(shared bool) int64 {
	d, h, l, kv, v := int64(s.Dim), int64(s.HiddenDim), int64(s.Layers), int64(s.KVDim()), int64(s.Vocab)
	n := v*d + // token embedding
		l*d + l*d*d + 2*l*d*kv + l*d*d + // attention norm, wq, wk, wv, wo
		l*d + 3*l*h*d + // ffn norm, w1, w2, w3
		d // final norm
	if !shared {
		n += v * d
	}
	return n
}

// fileFloats returns the number of float32 values after the header of a
// checkpoint of shape s, including the unused rotary tables.
func (s Shape) fileFloats(shared bool) int64 {
	return s.Params(shared) + int64(s.SeqLen)*int64(s.HeadSize())
}

// fileSize returns the size in bytes of a checkpoint of shape s.
func (s Shape) fileSize(shared bool) int64 {
	return headerBytes + 4*s.fileFloats(shared)
}

// parseHeader decodes a checkpoint header. shared reports whether the
// classifier is the token embedding.
func parseHeader(b []byte) (s Shape, shared bool) {
	var v [7]int32
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	s = Shape{int(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), int(v[5]), int(v[6])}
	shared = s.Vocab > 0
	if s.Vocab < 0 {
		s.Vocab = -s.Vocab
	}
	return s, shared
}

// checkHeader validates the header of the checkpoint file name of the given
// size and returns its shape.
func checkHeader(name string, hdr []byte, size int64) (Shape, bool, error) {
	base := filepath.Base(name)
	if size < headerBytes {
		return Shape{}, false, fmt.Errorf("%s: file has %d bytes, shorter than the %d-byte llama2.c header", base, size, headerBytes)
	}
	s, shared := parseHeader(hdr)
	if err := s.Validate(); err != nil {
		return Shape{}, false, fmt.Errorf("%s: bad header: %w", base, err)
	}
	if want := s.fileSize(shared); size != want {
		what := "truncated?"
		if size > want {
			what = "extra bytes at the end; wrong format?"
		}
		return Shape{}, false, fmt.Errorf("%s: header says %d bytes of weights but file has %d bytes (%s)",
			base, want, size, what)
	}
	return s, shared, nil
}

// WriteCheckpoint writes a llama2.c checkpoint of shape s with weights
// drawn from a generator seeded with seed, uniform with standard deviation
// 0.02 (norm weights are 1). When shared is false the file holds a separate
// classifier. The file is written to a temporary name beside path and
// renamed into place, so readers never see part of it; memory use does not
// grow with the size of the model.
func WriteCheckpoint(path string, s Shape, seed uint64, shared bool) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return writeAtomic(path, func(w *bufio.Writer) error {
		vocab := int32(s.Vocab)
		if !shared {
			vocab = -vocab
		}
		hdr := []int32{int32(s.Dim), int32(s.HiddenDim), int32(s.Layers), int32(s.Heads), int32(s.KVHeads), vocab, int32(s.SeqLen)}
		if err := binary.Write(w, binary.LittleEndian, hdr); err != nil {
			return err
		}
		g := newWeightGen(seed)
		d, h, l, kv := s.Dim, s.HiddenDim, s.Layers, s.KVDim()
		g.random(w, s.Vocab*d) // token embedding
		g.ones(w, l*d)         // rms_att
		g.random(w, l*d*d)     // wq
		g.random(w, l*d*kv)    // wk
		g.random(w, l*d*kv)    // wv
		g.random(w, l*d*d)     // wo
		g.ones(w, l*d)         // rms_ffn
		g.random(w, l*h*d)     // w1
		g.random(w, l*d*h)     // w2
		g.random(w, l*h*d)     // w3
		g.ones(w, d)           // rms_final
		hs := s.HeadSize()
		for _, f := range []func(float64) float64{math.Cos, math.Sin} {
			for p := 0; p < s.SeqLen; p++ {
				for i := 0; i < hs/2; i++ {
					freq := 1 / math.Pow(10000, float64(2*i)/float64(hs))
					g.put(w, float32(f(float64(p)*freq)))
				}
			}
		}
		if !shared {
			g.random(w, s.Vocab*d)
		}
		return g.err
	})
}

// A weightGen writes seeded weights, remembering the first write error.
type weightGen struct {
	r   *rand.Rand
	buf [4]byte
	err error
}

func newWeightGen(seed uint64) *weightGen {
	return &weightGen{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// weightScale makes uniform weights in [-weightScale, weightScale] have a
// standard deviation of 0.02.
var weightScale = float32(0.02 * math.Sqrt(3))

func (g *weightGen) put(w *bufio.Writer, f float32) {
	if g.err != nil {
		return
	}
	binary.LittleEndian.PutUint32(g.buf[:], math.Float32bits(f))
	_, g.err = w.Write(g.buf[:])
}

func (g *weightGen) random(w *bufio.Writer, n int) {
	for i := 0; i < n && g.err == nil; i++ {
		g.put(w, (2*g.r.Float32()-1)*weightScale)
	}
}

func (g *weightGen) ones(w *bufio.Writer, n int) {
	for i := 0; i < n && g.err == nil; i++ {
		g.put(w, 1)
	}
}

// writeAtomic writes a file through fill into a temporary file beside path
// and renames it to path.
func writeAtomic(path string, fill func(*bufio.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", base, err)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err = fill(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// errClosed is returned by methods of a closed or unloaded model.
var errClosed = errors.New("model is not loaded")
