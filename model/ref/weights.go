package ref

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// weights are the parameters of a model, viewed in place in a memory-mapped
// llama2.c checkpoint. Per-layer matrices are stored one layer after
// another; a matrix of r rows and c columns is row-major.
type weights struct {
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

	// HugeBytes is how much of the mapping the kernel maps with huge
	// pages, as /proc/self/smaps says right after loading (0 if unknown).
	HugeBytes int64

	data []byte // the mapping, nil once unmapped
}

// mapCheckpoint maps the llama2.c checkpoint at path read-only, reads every
// page of it into memory and returns views of its weights.
func mapCheckpoint(path string) (*weights, error) {
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
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, fmt.Errorf("%s: cannot map little-endian weights on a big-endian host", base)
	}
	s, shared, err := checkHeader(path, hdr[:], size)
	if err != nil {
		return nil, err
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: %d bytes is too large to map", base, size)
	}
	data, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", base, err)
	}

	all := unsafe.Slice((*float32)(unsafe.Pointer(&data[headerBytes])), (len(data)-headerBytes)/4)
	w := &weights{Shape: s, Shared: shared, data: data, HugeBytes: pmdMapped(data)}
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

// hugePage is the size of a transparent huge page on amd64 and arm64.
const hugePage = 2 << 20

// mapFile maps the first size bytes of f read-only at an address aligned to
// a huge page, asks for huge pages, and reads every page in. Where the file
// system keeps the file in large folios (ext4 and xfs on recent Linux), the
// kernel then maps the weights with 2 MiB pages, which spares the forward
// pass thousands of TLB misses per token; elsewhere it costs nothing.
func mapFile(f *os.File, size int) ([]byte, error) {
	// Reserve an aligned range, then map the file over its start.
	res, err := unix.MmapPtr(-1, 0, nil, uintptr(size+hugePage), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, err
	}
	head := (hugePage - uintptr(res)%hugePage) % hugePage
	aligned := unsafe.Add(res, head)
	p, err := unix.MmapPtr(int(f.Fd()), 0, aligned, uintptr(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil {
		unix.MunmapPtr(res, uintptr(size+hugePage))
		return nil, err
	}
	// Give back the reserved pages around the mapping.
	if head > 0 {
		unix.MunmapPtr(res, head)
	}
	if tail := hugePage - head; tail > 0 {
		pg := uintptr(os.Getpagesize())
		mapped := (uintptr(size) + pg - 1) / pg * pg
		unix.MunmapPtr(unsafe.Add(aligned, mapped), tail)
	}
	data := unsafe.Slice((*byte)(p), size)
	adviseHugePages(data)
	if err := populate(data); err != nil {
		// Kernels before 5.14: fault every page in by reading it.
		var sum byte
		for i := 0; i < len(data); i += 4096 {
			sum += data[i]
		}
		touchSink = sum
	}
	return data, nil
}

// touchSink keeps the page-touching loop from being optimized away.
var touchSink byte

// bytes returns the size of the weights in bytes.
func (w *weights) bytes() int64 { return 4 * w.Shape.Params(w.Shared) }

// unmap releases the mapping. The weight slices must not be used after.
func (w *weights) unmap() error {
	if w.data == nil {
		return nil
	}
	err := unix.MunmapPtr(unsafe.Pointer(&w.data[0]), uintptr(len(w.data)))
	*w = weights{Shape: w.Shape, Shared: w.Shared}
	return err
}

// pmdMapped returns the bytes of the file mapping data that are mapped
// with huge pages, from the FilePmdMapped line of its entry in
// /proc/self/smaps, or 0.
func pmdMapped(data []byte) int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	start := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&data[0])))
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, start) {
			in = true
			continue
		}
		if !in {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "FilePmdMapped:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
		if strings.HasPrefix(line, "VmFlags:") {
			return 0
		}
	}
	return 0
}
