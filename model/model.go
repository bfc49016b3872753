// Package model defines what piobench benchmarks: a Model that loads and
// answers inference requests, the optional abilities a model may have
// (streaming, batching, self-reported memory), and a Registry of drivers
// that open models by name.
//
// Every driver, whether it runs a model in this process, in a subprocess or
// behind an HTTP server, implements the same small interface, so every
// benchmark measures every model the same way.
package model

import (
	"context"
	"time"
)

// A Model is a loaded (or loadable) inference model.
//
// Load prepares the model for inference; it is called once before the first
// Infer. Infer answers one request. Close releases everything Load acquired;
// it is safe to call more than once and on a model that never loaded.
type Model interface {
	Load(ctx context.Context) error
	Infer(ctx context.Context, req Request) (Response, error)
	Close() error
}

// A Request asks a model to continue a prompt.
type Request struct {
	Prompt      string   `json:"prompt"`
	MaxTokens   int      `json:"max_tokens"`
	Temperature float64  `json:"temperature"` // 0 means greedy decoding
	TopP        float64  `json:"top_p"`       // 0 or 1 means no nucleus truncation
	Seed        int64    `json:"seed"`
	Stop        []string `json:"stop,omitempty"`
	// System and Messages carry a chat conversation. A driver that speaks
	// a chat API sends System (when set) as a system message, then
	// Messages (when set; otherwise Prompt as one user message). A driver
	// that takes plain text reads only Prompt, where the caller has already
	// written the whole conversation, system prompt included, as text.
	System   string    `json:"system,omitempty"`
	Messages []Message `json:"messages,omitempty"`
	// IgnoreEOS asks the model to generate MaxTokens tokens even past its
	// end-of-sequence token, where the driver can (servers such as vLLM
	// accept it); drivers that cannot ignore it.
	IgnoreEOS bool `json:"ignore_eos,omitempty"`
}

// A Response is a model's answer to one Request, with the timing of every
// generated token.
//
// Times are offsets from Start, which is taken from the monotonic clock when
// the request was handed to the model (or sent, for remote models). A model
// that cannot observe individual tokens leaves TokenTimes empty and sets
// FirstToken to its best knowledge (or zero when unknown).
type Response struct {
	Text         string          `json:"text"`
	PromptTokens int             `json:"prompt_tokens"`
	OutputTokens int             `json:"output_tokens"`
	Start        time.Time       `json:"start"`
	FirstToken   time.Duration   `json:"first_token_ns"` // time to first token
	TokenTimes   []time.Duration `json:"token_times_ns,omitempty"`
	Duration     time.Duration   `json:"duration_ns"` // end to end
	FinishReason string          `json:"finish_reason,omitempty"`

	// For models behind a server: ChunkTimes holds the arrival time of
	// every streamed chunk that carried content (a chunk may hold more than
	// one token; offsets from Start), ServerOutputTokens the output tokens
	// the server reported (its usage), and ClientOutputTokens those the
	// driver counted itself. Zero when unknown. OutputTokens is the
	// server's count when it gave one, else the driver's.
	ChunkTimes         []time.Duration `json:"chunk_times_ns,omitempty"`
	ServerOutputTokens int             `json:"server_output_tokens,omitempty"`
	ClientOutputTokens int             `json:"client_output_tokens,omitempty"`
}

// PrefillRate returns prompt tokens per second over the time to first token,
// and false when it cannot be known.
func (r Response) PrefillRate() (float64, bool) {
	if r.PromptTokens <= 0 || r.FirstToken <= 0 {
		return 0, false
	}
	return float64(r.PromptTokens) / r.FirstToken.Seconds(), true
}

// DecodeRate returns generated tokens per second after the first one, the
// rate of the decode phase, and false when it cannot be known.
func (r Response) DecodeRate() (float64, bool) {
	d := r.Duration - r.FirstToken
	if r.OutputTokens < 2 || r.FirstToken <= 0 || d <= 0 {
		return 0, false
	}
	return float64(r.OutputTokens-1) / d.Seconds(), true
}

// A Message is one turn of a chat conversation. Role is "system",
// "user" or "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// A Token is one generated token, passed to a Streamer's callback as soon as
// it exists.
type Token struct {
	ID   int           // token id, or -1 when the model does not expose ids
	Text string        // decoded text of this token
	At   time.Duration // offset from Response.Start
}

// A Streamer is a Model that reports each token as it is generated. A
// non-nil error from fn stops generation and is returned.
type Streamer interface {
	Model
	InferStream(ctx context.Context, req Request, fn func(Token) error) (Response, error)
}

// A BatchInferer is a Model that answers several requests in one pass
// (true batching), sharing work between them.
type BatchInferer interface {
	Model
	InferBatch(ctx context.Context, reqs []Request) ([]Response, error)
}

// A ConcurrentInferer is a Model that answers many requests at once from
// separate goroutines, such as a model behind an inference server. Load
// benchmarks (scalability) measure only models that have this ability.
type ConcurrentInferer interface {
	Model
	// MaxConcurrency is the most requests worth having in flight at once;
	// 0 means no limit is known.
	MaxConcurrency() int
}

// MemoryStats is what a model says about its own memory. Zero fields are
// unknown.
type MemoryStats struct {
	WeightBytes     int64 `json:"weight_bytes,omitempty"`
	CacheBytes      int64 `json:"cache_bytes,omitempty"` // KV cache and scratch buffers
	DeviceBytes     int64 `json:"device_bytes,omitempty"`
	PeakDeviceBytes int64 `json:"peak_device_bytes,omitempty"`
	// Extra holds other figures the model reports, in bytes, by name (for
	// example a plugin's torch.cuda.max_memory_allocated).
	Extra map[string]int64 `json:"extra,omitempty"`
}

// A MemoryReporter is a Model that reports its own memory use.
type MemoryReporter interface {
	Model
	MemoryStats(ctx context.Context) (MemoryStats, error)
}

// Info describes a model for results and reports.
type Info struct {
	Name   string            `json:"name"`
	Driver string            `json:"driver"`
	Path   string            `json:"path,omitempty"` // weights on disk, when any
	Params map[string]any    `json:"params,omitempty"`
	Notes  []string          `json:"notes,omitempty"` // plain remarks, e.g. "weights are untrained"
	Labels map[string]string `json:"labels,omitempty"`
}

// A Describer is a Model that describes itself.
type Describer interface {
	Model
	Info() Info
}

// A CacheDropper is a Model whose weights live in files that it can evict
// from the operating system's page cache, so that the next Load reads them
// from disk (a cold load).
type CacheDropper interface {
	Model
	DropCache() error
}

// A Reloader is a Model that can unload and load again in place, keeping
// its process (or connection), so that a warm reload can be timed apart
// from a cold start. Reload is only called on a loaded model.
type Reloader interface {
	Model
	Reload(ctx context.Context) error
}

// A ProcessOwner is a Model that runs in a process of its own. PID returns
// that process's id, or 0 when none is running; its children count as part
// of the model (their memory, CPU and GPU use are the model's).
type ProcessOwner interface {
	Model
	PID() int
}

// A BatchChecker is a BatchInferer that can tell, once loaded, whether its
// InferBatch really batches. False means it answers the requests one after
// another, and benchmarks report the batch as sequential.
type BatchChecker interface {
	BatchInferer
	TrueBatching() bool
}
