// Package ref is the embedded reference model: a pure-Go, float32
// transformer of the Llama family that runs llama2.c checkpoints, or
// synthetic models of a named shape, in this process.
//
// The forward pass follows llama2.c's run.c: RMSNorm, rotary embeddings,
// multi-head or grouped-query attention with a key-value cache, a SwiGLU
// feed-forward layer and a classifier.
//
// Decoding one token is bound by reading the weights from memory, so the
// checkpoint is mapped (not copied), with huge pages where the kernel and
// file system allow, and the matrix-vector products are split over a pool
// of goroutines, one per GOMAXPROCS, that lives from Load to Close, with
// AVX2+FMA (and AVX-512) kernels where the CPU has them and portable Go
// elsewhere. Batches of sequences, and the positions of a prompt, go
// through the model together, so each step reads every weight once for all
// of them.
package ref

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/inference-pio/piobench/model"
	"golang.org/x/sys/unix"
)

// DriverName is the name of the driver in model.Default.
const DriverName = "ref"

// presetVersion changes whenever the synthetic weights or tokenizer of the
// presets change, so that stale cache files are not reused.
const presetVersion = "v1"

func init() {
	model.Register(model.Driver{
		Name:    DriverName,
		Doc:     "embedded pure-Go Llama-family model: llama2.c checkpoints, or synthetic untrained presets",
		Presets: []string{"15m", "110m"},
		Open: func(cfg model.Config) (model.Model, error) {
			return Open(cfg)
		},
	})
}

// A Model is a Llama-family transformer run in this process. It
// implements model.Model, model.Streamer, model.BatchInferer,
// model.MemoryReporter, model.Describer and model.CacheDropper.
//
// A Model is safe for concurrent use. Each request has its own key-value
// cache; the forward passes of concurrent requests take turns, one step
// (one token, or one chunk of a prompt) at a time, since each step already
// uses every core.
type Model struct {
	name      string
	preset    string
	ckptPath  string
	tokPath   string // "" for the built-in byte-level tokenizer
	shape     Shape
	shared    bool
	threads   int
	synthetic bool

	// step serializes forward passes and guards the fields below it.
	step   sync.Mutex
	w      *weights
	tok    *Tokenizer
	eng    *engine
	loaded bool

	cacheMu sync.Mutex
	free    []*kvCache
	kvLive  int // caches handed out or free
}

// Compile-time checks of the abilities a Model has.
var (
	_ model.Streamer       = (*Model)(nil)
	_ model.BatchInferer   = (*Model)(nil)
	_ model.MemoryReporter = (*Model)(nil)
	_ model.Describer      = (*Model)(nil)
	_ model.CacheDropper   = (*Model)(nil)
)

// Open returns a model for cfg without loading it. cfg.Preset names a
// synthetic model from Presets, whose files are written once to the cache
// directory (PIOBENCH_CACHE_DIR, else the user cache directory) when
// missing; otherwise cfg.Path is a llama2.c checkpoint and cfg.Tokenizer
// its tokenizer.bin, by default the tokenizer.bin beside the checkpoint,
// else the byte-level tokenizer when the vocabulary is large enough.
// cfg.Options["threads"] sets the number of goroutines that share the work
// of a forward pass (default GOMAXPROCS).
func Open(cfg model.Config) (*Model, error) {
	m := &Model{threads: runtime.GOMAXPROCS(0)}
	if v, ok := cfg.Options["threads"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("ref: option threads=%q: want a positive integer", v)
		}
		m.threads = n
	}
	switch {
	case cfg.Preset != "":
		s, ok := Presets[cfg.Preset]
		if !ok {
			return nil, fmt.Errorf("ref: %w preset %q (have 15m, 110m)", model.ErrUnknown, cfg.Preset)
		}
		ckpt, tok, err := presetFiles(cfg.Preset, s)
		if err != nil {
			return nil, fmt.Errorf("ref:%s: %w", cfg.Preset, err)
		}
		m.name, m.preset, m.synthetic = DriverName+":"+cfg.Preset, cfg.Preset, true
		m.ckptPath, m.tokPath = ckpt, tok
	case cfg.Path != "":
		m.ckptPath = cfg.Path
		m.name = strings.TrimSuffix(filepath.Base(cfg.Path), filepath.Ext(cfg.Path))
		m.tokPath = cfg.Tokenizer
	default:
		return nil, errors.New("ref: need a preset or the path of a llama2.c checkpoint")
	}
	s, shared, err := readHeader(m.ckptPath)
	if err != nil {
		return nil, err
	}
	m.shape, m.shared = s, shared
	if m.tokPath == "" {
		beside := filepath.Join(filepath.Dir(m.ckptPath), "tokenizer.bin")
		if _, err := os.Stat(beside); err == nil {
			m.tokPath = beside
		} else if s.Vocab < byteBase+256 {
			return nil, fmt.Errorf("%s: no tokenizer given, none beside the checkpoint, and vocab_size %d is too small for the byte-level tokenizer",
				filepath.Base(m.ckptPath), s.Vocab)
		}
	}
	if cfg.Name != "" {
		m.name = cfg.Name
	}
	return m, nil
}

// readHeader reads and checks the header of the checkpoint at path.
func readHeader(path string) (Shape, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return Shape{}, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Shape{}, false, err
	}
	var hdr [headerBytes]byte
	if st.Size() >= headerBytes {
		if _, err := f.ReadAt(hdr[:], 0); err != nil {
			return Shape{}, false, fmt.Errorf("%s: reading header: %w", filepath.Base(path), err)
		}
	}
	return checkHeader(path, hdr[:], st.Size())
}

// presetFiles returns the checkpoint and tokenizer of a preset, writing
// them when they are missing or have the wrong size.
func presetFiles(name string, s Shape) (ckpt, tok string, err error) {
	dir := os.Getenv("PIOBENCH_CACHE_DIR")
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return "", "", fmt.Errorf("no cache directory (set PIOBENCH_CACHE_DIR): %w", err)
		}
		dir = filepath.Join(d, "piobench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	prefix := filepath.Join(dir, "ref-"+name+"-"+presetVersion)
	ckpt, tok = prefix+".bin", prefix+".tokenizer.bin"
	if st, err := os.Stat(ckpt); err != nil || st.Size() != s.fileSize(true) {
		h := fnv.New64a()
		h.Write([]byte("ref-" + name))
		if err := WriteCheckpoint(ckpt, s, h.Sum64(), true); err != nil {
			return "", "", err
		}
	}
	if st, err := os.Stat(tok); err != nil || st.Size() != byteTokenizerSize(s.Vocab) {
		if err := WriteByteTokenizer(tok, s.Vocab); err != nil {
			return "", "", err
		}
	}
	return ckpt, tok, nil
}

// byteTokenizerSize returns the size of the file WriteByteTokenizer writes.
func byteTokenizerSize(vocab int) int64 {
	pieces, _, err := byteVocab(vocab)
	if err != nil {
		return -1
	}
	n := int64(4)
	for _, p := range pieces {
		n += 8 + int64(len(p))
	}
	return n
}

// Load maps the checkpoint, reading all of it, reads the tokenizer and
// starts the worker goroutines. Loading a loaded model does nothing.
func (m *Model) Load(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.step.Lock()
	defer m.step.Unlock()
	if m.loaded {
		return nil
	}
	w, err := mapCheckpoint(m.ckptPath)
	if err != nil {
		return err
	}
	if w.Shape != m.shape || w.Shared != m.shared {
		w.unmap()
		return fmt.Errorf("%s: checkpoint changed since it was opened", filepath.Base(m.ckptPath))
	}
	var tok *Tokenizer
	if m.tokPath != "" {
		tok, err = LoadTokenizer(m.tokPath, w.Shape.Vocab)
	} else {
		tok, err = NewByteTokenizer(w.Shape.Vocab)
	}
	if err != nil {
		w.unmap()
		return err
	}
	m.w, m.tok, m.eng, m.loaded = w, tok, newEngine(w, m.threads), true
	return nil
}

// Close stops the workers and unmaps the weights. A closed model can be
// loaded again.
func (m *Model) Close() error {
	m.step.Lock()
	defer m.step.Unlock()
	if !m.loaded {
		return nil
	}
	m.eng.close()
	err := m.w.unmap()
	m.w, m.tok, m.eng, m.loaded = nil, nil, nil, false
	m.cacheMu.Lock()
	m.free, m.kvLive = nil, 0
	m.cacheMu.Unlock()
	return err
}

// Shape returns the shape of the model.
func (m *Model) Shape() Shape { return m.shape }

// Tokenizer returns the tokenizer of a loaded model, or nil.
func (m *Model) Tokenizer() *Tokenizer {
	m.step.Lock()
	defer m.step.Unlock()
	return m.tok
}

// Info describes the model.
func (m *Model) Info() model.Info {
	s := m.shape
	info := model.Info{
		Name:   m.name,
		Driver: DriverName,
		Path:   m.ckptPath,
		Params: map[string]any{
			"dim": s.Dim, "hidden_dim": s.HiddenDim, "n_layers": s.Layers, "n_heads": s.Heads,
			"n_kv_heads": s.KVHeads, "vocab_size": s.Vocab, "seq_len": s.SeqLen,
			"param_count": s.Params(m.shared), "weight_bytes": 4 * s.Params(m.shared),
			"shared_classifier": m.shared,
		},
		Labels: map[string]string{
			"kernel":  kernelName,
			"threads": strconv.Itoa(m.threads),
			"dtype":   "float32",
		},
	}
	m.step.Lock()
	if m.loaded {
		info.Labels["huge_page_bytes"] = strconv.FormatInt(m.w.HugeBytes, 10)
	}
	m.step.Unlock()
	if m.synthetic {
		info.Notes = append(info.Notes, "synthetic untrained weights: outputs are not meaningful; accuracy ≈ 0 is expected")
	}
	if m.tokPath == "" {
		info.Notes = append(info.Notes, "no tokenizer file: using the built-in byte-level tokenizer")
	} else {
		info.Labels["tokenizer"] = m.tokPath
	}
	return info
}

// MemoryStats reports the size of the weights, and of the key-value caches
// and buffers the model holds.
func (m *Model) MemoryStats(ctx context.Context) (model.MemoryStats, error) {
	st := model.MemoryStats{WeightBytes: 4 * m.shape.Params(m.shared)}
	m.step.Lock()
	if m.loaded {
		st.CacheBytes = m.eng.bytes()
	}
	m.step.Unlock()
	m.cacheMu.Lock()
	st.CacheBytes += int64(m.kvLive) * kvBytes(m.shape)
	m.cacheMu.Unlock()
	return st, nil
}

// DropCache asks the kernel to evict the checkpoint and tokenizer from the
// page cache (posix_fadvise DONTNEED), so that the next Load reads them from
// disk, and returns an error if more than a tenth of a file is still cached
// afterwards. Pages of a loaded model are mapped and cannot be evicted, so
// it is an error to call DropCache between Load and Close.
func (m *Model) DropCache() error {
	m.step.Lock()
	loaded := m.loaded
	m.step.Unlock()
	if loaded {
		return fmt.Errorf("%s: cannot drop the page cache of a loaded model; Close it first", m.name)
	}
	var errs []error
	for _, p := range []string{m.ckptPath, m.tokPath} {
		if p == "" {
			continue
		}
		if err := dropFile(p); err != nil {
			errs = append(errs, fmt.Errorf("drop page cache of %s: %w", filepath.Base(p), err))
		}
	}
	return errors.Join(errs...)
}

// dropFile evicts the file at path from the page cache and checks, with
// mincore, that at most a tenth of it is still cached. Dirty pages cannot
// be evicted, so it writes them back first. On file systems that keep files
// only in memory (tmpfs) eviction cannot work, and the check says so.
func dropFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	f.Sync() // a file written moments ago may still be dirty; best effort
	if err := dropPageCache(int(f.Fd())); err != nil {
		return err
	}
	resident, total, err := residentPages(f)
	if err != nil {
		return nil // the advice was taken; the check is not possible here
	}
	if resident*10 > total {
		return fmt.Errorf("%d of %d pages still in the page cache (tmpfs, or in use by another process?)", resident, total)
	}
	return nil
}

// residentPages returns how many pages of f are in the page cache.
func residentPages(f *os.File) (resident, total int, err error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, 0, err
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Munmap(data)
	pg := os.Getpagesize()
	vec := make([]byte, (len(data)+pg-1)/pg)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return 0, 0, errno
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, len(vec), nil
}

// getCache returns a key-value cache for one sequence.
func (m *Model) getCache() *kvCache {
	m.cacheMu.Lock()
	defer m.cacheMu.Unlock()
	if n := len(m.free); n > 0 {
		c := m.free[n-1]
		m.free = m.free[:n-1]
		return c
	}
	m.kvLive++
	return newKVCache(m.shape)
}

// maxFreeCacheBytes bounds the memory of the caches kept for reuse between
// requests; one cache is always kept.
const maxFreeCacheBytes = 256 << 20

func (m *Model) putCache(c *kvCache) {
	m.cacheMu.Lock()
	defer m.cacheMu.Unlock()
	if len(m.free) == 0 || int64(len(m.free)+1)*kvBytes(m.shape) <= maxFreeCacheBytes {
		m.free = append(m.free, c)
	} else {
		m.kvLive--
	}
}
