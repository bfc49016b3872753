package ref

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Weights are the parameters of a model, viewed in place in a memory-mapped
// llama2.c checkpoint. Per-layer matrices are stored one layer after
// another; a matrix of r rows and c columns is row-major.
type Weights struct {
	Shape  Shape
	Shared bool // the classifier is the token embedding

	TokenEmbedding []float32 // [vocab][dim]
	RMSAtt         []float32 // [layers][dim]
	WQ             []float32 // [layers][dim][dim]
	WK             []float32 // [layers][kv_dim][dim]
	WV             []float32 // [layers][kv_dim][dim]
	WO             []float32 // [layers][dim][dim]
	RMSFFN         []float32 // [layers][dim]
	W1             []float32 // [layers][hidden][dim]
	W2             []float32 // [layers][dim][hidden]
	W3             []float32 // [layers][hidden][dim]
	RMSFinal       []float32 // [dim]
	WCls           []float32 // [vocab][dim]

	data []byte // the mapping, nil once unmapped
}

// mapCheckpoint maps the llama2.c checkpoint at path read-only, reads every
// page of it into memory and returns views of its weights.
func mapCheckpoint(path string) (*Weights, error) {
	base := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", base)
	}
	size := st.Size()
	var hdr [headerBytes]byte
	if size >= headerBytes {
		if _, err := f.ReadAt(hdr[:], 0); err != nil {
			return nil, fmt.Errorf("%s: reading header: %w", base, err)
		}
	}
	s, shared, err := checkHeader(path, hdr[:], size)
	if err != nil {
		return nil, err
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: %d bytes is too large to map", base, size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", base, err)
	}
	// MAP_POPULATE is advisory; reading one byte of every page makes sure
	// that Load has read the whole file.
	var sum byte
	for i := 0; i < len(data); i += 4096 {
		sum += data[i]
	}
	touchSink = sum

	all := unsafe.Slice((*float32)(unsafe.Pointer(&data[headerBytes])), (len(data)-headerBytes)/4)
	w := &Weights{Shape: s, Shared: shared, data: data}
	take := func(n int) []float32 {
		v := all[:n:n]
		all = all[n:]
		return v
	}
	d, h, l, kv := s.Dim, s.HiddenDim, s.Layers, s.KVDim()
	w.TokenEmbedding = take(s.Vocab * d)
	w.RMSAtt = take(l * d)
	w.WQ = take(l * d * d)
	w.WK = take(l * kv * d)
	w.WV = take(l * kv * d)
	w.WO = take(l * d * d)
	w.RMSFFN = take(l * d)
	w.W1 = take(l * h * d)
	w.W2 = take(l * d * h)
	w.W3 = take(l * h * d)
	w.RMSFinal = take(d)
	take(s.SeqLen * s.HeadSize()) // rotary tables, recomputed at load
	if shared {
		w.WCls = w.TokenEmbedding
	} else {
		w.WCls = take(s.Vocab * d)
	}
	return w, nil
}

// touchSink keeps the page-touching loop from being optimized away.
var touchSink byte

// Bytes returns the size of the weights in bytes.
func (w *Weights) Bytes() int64 { return 4 * w.Shape.Params(w.Shared) }

// unmap releases the mapping. The weight slices must not be used after.
func (w *Weights) unmap() error {
	if w.data == nil {
		return nil
	}
	err := unix.Munmap(w.data)
	*w = Weights{Shape: w.Shape, Shared: w.Shared}
	return err
}
