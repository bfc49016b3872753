// Package store keeps the history of benchmark runs: runs, their results,
// every sample, the environment each ran in (and its fingerprint), and the
// regression alerts raised on them.
//
// Store is the one interface; store/sqlite (a file, the default) and
// store/postgres (a server, for teams) implement it, and both pass the
// conformance suite in store/storetest.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/inference-pio/piobench/result"
)

// Errors a Store returns, wrapped with details. Callers compare with
// errors.Is.
var (
	// ErrNotFound: no run with that id.
	ErrNotFound = errors.New("not found")
	// ErrExists: a run with that id is already recorded.
	ErrExists = errors.New("already recorded")
	// ErrInvalid: the data contradicts the history (such as a series whose
	// unit changes); nothing was written.
	ErrInvalid = errors.New("invalid data")
	// ErrUnavailable: the database cannot be used (locked, corrupt,
	// unreachable, or of a newer schema).
	ErrUnavailable = errors.New("history database unavailable")
)

// A Store records runs and alerts and answers questions about them. All
// writes are transactional: a call either records everything it was given
// or nothing.
type Store interface {
	// SaveRun records run, its results and their samples. A run whose id
	// is already recorded is refused with ErrExists; a result whose unit
	// differs from its series' recorded unit with ErrInvalid.
	SaveRun(ctx context.Context, run *result.Run, meta RunMeta) error
	// SaveRuns records several runs in one transaction: all or none.
	SaveRuns(ctx context.Context, runs []*result.Run, meta RunMeta) error
	// Runs lists recorded runs, newest first.
	Runs(ctx context.Context, q RunQuery) ([]RunInfo, error)
	// Run returns one recorded run with its results; samples are back in
	// each result's metadata under "samples". ErrNotFound when absent.
	Run(ctx context.Context, id string) (*result.Run, *RunInfo, error)
	// History returns the points of the series that q selects, ordered by
	// model, benchmark, then run start time (oldest first).
	History(ctx context.Context, q HistoryQuery) ([]Point, error)
	// SaveAlerts records alerts (all or none).
	SaveAlerts(ctx context.Context, alerts []Alert) error
	// Alerts returns alerts, newest first.
	Alerts(ctx context.Context, q AlertQuery) ([]Alert, error)
	// Close releases the store.
	Close() error
}

// RunMeta is what the store records about a run beyond the run itself.
type RunMeta struct {
	Source string // "run", "import", "ci", ...; free text
	Branch string // version-control branch, when known
}

// RunInfo describes a recorded run.
type RunInfo struct {
	Seq         int64 // order of recording
	ID          string
	StartedAt   time.Time
	Fingerprint string
	Source      string
	Branch      string
	Commit      string
	Results     int
	Failures    int
}

// RunQuery selects runs.
type RunQuery struct {
	Branch string // only runs of this branch, when set
	Limit  int    // at most this many (0: all)
}

// HistoryQuery selects series points. Empty fields select everything.
type HistoryQuery struct {
	Model       string
	Benchmark   string
	Fingerprint string
	Branch      string
	// Before, when set, keeps only runs that started before this run
	// (which must exist) and excludes it.
	Before string
	// IncludeFailed keeps failed results (value NaN).
	IncludeFailed bool
	// LastRuns, when above 0, keeps only the newest LastRuns runs that
	// the run conditions (Fingerprint, Branch, Before) select.
	LastRuns int
	// WithoutSamples leaves Point.Samples nil (faster, for analyses of
	// run values alone).
	WithoutSamples bool
}

// A Point is one result of a series: one benchmark on one model in one
// run.
type Point struct {
	RunID       string
	RunSeq      int64
	StartedAt   time.Time // of the run
	Timestamp   time.Time // of the result
	Fingerprint string
	Branch      string
	Model       string
	Benchmark   string
	Unit        string
	Category    string
	Value       float64   // NaN when failed
	Samples     []float64 // every measurement; nil when the result kept none
	Failed      bool
}

// An Alert records a regression (or improvement) found on a run.
type Alert struct {
	ID          int64
	RunID       string
	CreatedAt   time.Time
	Model       string
	Benchmark   string
	Unit        string
	Fingerprint string
	Severity    string // minor, major, critical
	Direction   string // regression, improvement
	ChangePct   float64
	PValue      float64
	Baseline    float64
	Value       float64
	Message     string
}

// AlertQuery selects alerts.
type AlertQuery struct {
	Since time.Time // only alerts created at or after this time
	Limit int       // 0: all
}

// Fingerprint identifies the environment a run measured, for comparing like
// with like: operating system, architecture, CPU model and count, the CPUs
// the process could use, memory (in whole GiB) and GPUs. Host names,
// versions and commits are left out, so that the same hardware on
// different days compares.
func Fingerprint(env result.Environment) string {
	type gpu struct {
		Name string `json:"name"`
		Mem  uint64 `json:"mem_gib"`
	}
	var gpus []gpu
	for _, g := range env.GPUs {
		gpus = append(gpus, gpu{g.Name, g.MemoryBytes >> 30})
	}
	sort.Slice(gpus, func(i, j int) bool { return gpus[i].Name < gpus[j].Name })
	key := struct {
		OS     string `json:"os"`
		Arch   string `json:"arch"`
		CPU    string `json:"cpu"`
		Cores  int    `json:"cores"`
		Procs  int    `json:"procs"`
		MemGiB uint64 `json:"mem_gib"`
		GPUs   []gpu  `json:"gpus"`
	}{env.OS, env.Arch, env.CPUModel, env.CPUCores, env.GoMaxProcs, (env.MemoryBytes + 1<<29) >> 30, gpus}
	if key.OS == "" && key.Arch == "" && key.CPU == "" && key.Cores == 0 {
		return "unknown"
	}
	b, _ := json.Marshal(key)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Samples returns the samples kept in a result's metadata under
// "samples" (as written by piobench's benchmarks, or read back from JSON).
func Samples(meta map[string]any) ([]float64, bool) {
	switch v := meta["samples"].(type) {
	case []float64:
		return v, true
	case []any:
		out := make([]float64, 0, len(v))
		for _, x := range v {
			f, ok := x.(float64)
			if !ok {
				return nil, false
			}
			out = append(out, f)
		}
		return out, true
	}
	return nil, false
}

// CheckUnits reports the first result of run whose unit differs from that
// of an earlier result of the same series (model and benchmark) in the
// same run, as an ErrInvalid error naming both.
func CheckUnits(run *result.Run) error {
	seen := map[[2]string]string{}
	for i, r := range run.Results {
		k := [2]string{r.ModelName, r.BenchmarkName}
		if u, ok := seen[k]; ok && u != r.Unit {
			return fmt.Errorf("%w: result %d: %s/%s is in %q here but in %q earlier: mixed units in one series", ErrInvalid, i+1, r.ModelName, r.BenchmarkName, r.Unit, u)
		}
		seen[k] = r.Unit
	}
	return nil
}

// SplitRuns splits results that hold several runs' worth of the same
// series (a history file) into runs: a result whose series already occurs
// in the current group starts the next group. Order is kept.
func SplitRuns(results []result.Result) [][]result.Result {
	var out [][]result.Result
	var cur []result.Result
	seen := map[[3]string]bool{}
	for _, r := range results {
		k := [3]string{r.ModelName, r.BenchmarkName, r.Unit}
		if seen[k] {
			out = append(out, cur)
			cur, seen = nil, map[[3]string]bool{}
		}
		seen[k] = true
		cur = append(cur, r)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// MetadataJSON encodes metadata for storage without its samples (kept
// apart); non-finite numbers become null.
func MetadataJSON(meta map[string]any) ([]byte, error) {
	m := make(map[string]any, len(meta))
	for k, v := range meta {
		if k == "samples" {
			continue
		}
		m[k] = finiteAll(v)
	}
	return json.Marshal(m)
}

func finiteAll(v any) any {
	switch t := v.(type) {
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(t)) || math.IsInf(float64(t), 0) {
			return nil
		}
	case []float64:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = finiteAll(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = finiteAll(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = finiteAll(x)
		}
		return out
	}
	return v
}

// Redact removes a password from a database address for messages.
func Redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	userinfo := dsn[scheme+3 : at]
	if u, _, ok := strings.Cut(userinfo, ":"); ok {
		return dsn[:scheme+3] + u + ":xxxxx" + dsn[at:]
	}
	return dsn
}
