// Package proc runs a model plugin as a subprocess and talks to it in JSON
// lines over its stdin and stdout, so that a model written in any language
// (a Python class with load_model() and infer(), typically) is benchmarked
// exactly like a model in this process. The protocol is described in
// docs/plugin-protocol.md; plugins/python/piobench_plugin.py implements it
// for Python.
//
// The plugin runs in a process group of its own; every way out (Close, a
// failed load, a crash, a timeout, garbage on stdout, cancellation) ends
// the whole group, so no process is left behind. Its stderr goes to a log
// file, and the tail of it comes with every error.
package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/sysmon"
)

// Config says how to start and talk to a plugin.
type Config struct {
	// Command is the command line that starts the plugin, such as
	// "python3 my_plugin.py" (see SplitCommand). Argv, when set, is used
	// instead.
	Command string
	Argv    []string
	// Name names the model in results (default: the script's name).
	Name string
	// Dir is the plugin's working directory (default: piobench's).
	Dir string
	// Env holds KEY=VALUE pairs added to the plugin's environment.
	Env []string
	// Log is the file the plugin's stderr is appended to (default: a new
	// temporary file for each start).
	Log string
	// LoadOptions are passed to the plugin's load call.
	LoadOptions map[string]any
	// Timeouts per call (defaults: 2 minutes for the handshake, which
	// includes the plugin's imports; 10 minutes for load; 10 minutes for
	// infer and infer_batch; 1 minute for the others).
	HandshakeTimeout time.Duration
	LoadTimeout      time.Duration
	CallTimeout      time.Duration
	// OnWarning, when set, receives problems that are not errors of a
	// call, such as processes a plugin left behind at Close.
	OnWarning func(error)
}

func (c *Config) defaults() error {
	if len(c.Argv) == 0 {
		if strings.TrimSpace(c.Command) == "" {
			return errors.New("proc: no command (want --command \"python3 my_plugin.py\")")
		}
		argv, err := SplitCommand(c.Command)
		if err != nil {
			return fmt.Errorf("proc: command %q: %v", c.Command, err)
		}
		c.Argv = argv
	}
	if c.Command == "" {
		c.Command = strings.Join(c.Argv, " ")
	}
	if c.Name == "" {
		c.Name = defaultName(c.Argv)
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 2 * time.Minute
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = 10 * time.Minute
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Minute
	}
	return nil
}

// A Model is a plugin subprocess seen as a model.Model. Load starts the
// plugin (spawn, handshake, load); Close ends it. Calls are made one at a
// time.
type Model struct {
	cfg Config

	callMu sync.Mutex // one conversation at a time

	mu     sync.Mutex // guards the fields below
	p      *process
	hi     hello
	broken error // why the running plugin can no longer be used
}

var (
	_ model.Streamer       = (*Model)(nil)
	_ model.BatchChecker   = (*Model)(nil)
	_ model.MemoryReporter = (*Model)(nil)
	_ model.Describer      = (*Model)(nil)
	_ model.Reloader       = (*Model)(nil)
	_ model.ProcessOwner   = (*Model)(nil)
)

// New returns an unloaded plugin model; nothing runs until Load.
func New(cfg Config) (*Model, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Model{cfg: cfg}, nil
}

// Name returns the plugin's name.
func (m *Model) Name() string { return m.cfg.Name }

func init() {
	model.Register(model.Driver{
		Name: "proc",
		Doc:  "a plugin in any language, run as a subprocess speaking JSON lines (--command \"python3 my_plugin.py\")",
		Open: func(cfg model.Config) (model.Model, error) {
			c, err := ConfigFromOptions(cfg.Options)
			if err != nil {
				return nil, err
			}
			if cfg.Name != "" {
				c.Name = cfg.Name
			}
			if cfg.Path != "" {
				if c.LoadOptions == nil {
					c.LoadOptions = map[string]any{}
				}
				c.LoadOptions["model_path"] = cfg.Path
			}
			return New(c)
		},
	})
}

// ConfigFromOptions reads a Config from a driver's string options:
// command, name, workdir, log, env (KEY=VALUE lines), handshake_timeout,
// load_timeout, call_timeout (Go durations), and load.KEY=VALUE for each
// load option.
func ConfigFromOptions(opts map[string]string) (Config, error) {
	c := Config{Command: opts["command"], Name: opts["name"], Dir: opts["workdir"], Log: opts["log"]}
	if e := opts["env"]; e != "" {
		for _, kv := range strings.Split(e, "\n") {
			if kv = strings.TrimSpace(kv); kv == "" {
				continue
			}
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return Config{}, fmt.Errorf("proc: env %q: want KEY=VALUE", kv)
			}
			c.Env = append(c.Env, kv)
		}
	}
	for key, dst := range map[string]*time.Duration{"handshake_timeout": &c.HandshakeTimeout, "load_timeout": &c.LoadTimeout, "call_timeout": &c.CallTimeout} {
		if s := opts[key]; s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return Config{}, fmt.Errorf("proc: %s %q: want a positive duration such as 30s", key, s)
			}
			*dst = d
		}
	}
	for k, v := range opts {
		if name, ok := strings.CutPrefix(k, "load."); ok {
			if c.LoadOptions == nil {
				c.LoadOptions = map[string]any{}
			}
			c.LoadOptions[name] = optionValue(v)
		}
	}
	return c, nil
}

// optionValue passes numbers and booleans to the plugin as JSON numbers
// and booleans, and anything else as a string.
func optionValue(s string) any {
	if s == "true" || s == "false" {
		return s == "true"
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

// running returns the live plugin, or an error saying why there is none.
func (m *Model) running(step string) (*process, hello, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken != nil {
		return nil, hello{}, fmt.Errorf("plugin %q: %s: the plugin is no longer running (%w)", m.cfg.Name, step, m.broken)
	}
	if m.p == nil {
		return nil, hello{}, fmt.Errorf("plugin %q: %s: not loaded (call Load first)", m.cfg.Name, step)
	}
	return m.p, m.hi, nil
}

// fail handles the error of a call: errors that leave the plugin unusable
// (it exited, hung, or broke the protocol) end its process group and mark
// the model broken. It returns err with the step and stderr attached.
func (m *Model) fail(p *process, step string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if _, isStep := err.(*StepError); !isStep {
			return err
		}
	}
	var pe *PluginError
	if errors.As(err, &pe) {
		return p.stepError(step, err)
	}
	if errors.Is(err, ErrExited) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrProtocol) {
		p.kill()
		se := p.stepError(step, err)
		m.mu.Lock()
		if m.p == p && m.broken == nil {
			m.broken = se
		}
		m.mu.Unlock()
		return se
	}
	return p.stepError(step, err)
}

// Load starts the plugin and loads the model: spawn, handshake, load.
// On any failure the plugin's process group is ended.
func (m *Model) Load(ctx context.Context) error {
	m.callMu.Lock()
	defer m.callMu.Unlock()
	m.mu.Lock()
	old := m.p
	m.p, m.broken = nil, nil
	m.mu.Unlock()
	if old != nil {
		old.kill()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := spawn(m.cfg.Name, spawnOptions{argv: m.cfg.Argv, dir: m.cfg.Dir, env: m.cfg.Env, logPath: m.cfg.Log})
	if err != nil {
		return &StepError{Plugin: m.cfg.Name, Step: "spawn", Err: err}
	}
	hi, err := m.handshake(ctx, p)
	if err != nil {
		p.kill()
		return m.fail(p, "handshake", err)
	}
	m.mu.Lock()
	m.p, m.hi = p, hi
	m.mu.Unlock()
	if err := m.load(ctx, p, hi); err != nil {
		p.kill()
		m.mu.Lock()
		if m.p == p {
			m.p = nil
		}
		m.mu.Unlock()
		return err
	}
	return nil
}

func (m *Model) handshake(ctx context.Context, p *process) (hello, error) {
	raw, _, err := p.call(ctx, "handshake", map[string]any{"protocol": ProtocolVersion, "client": "piobench"}, m.cfg.HandshakeTimeout, false, nil)
	if err != nil {
		return hello{}, err
	}
	var hi hello
	if err := json.Unmarshal(raw, &hi); err != nil {
		return hello{}, fmt.Errorf("%w: the handshake answer is not an object: %v", ErrProtocol, err)
	}
	if hi.Protocol == nil {
		return hello{}, fmt.Errorf("%w: the handshake answer has no protocol version (piobench speaks %d)", ErrProtocol, ProtocolVersion)
	}
	if *hi.Protocol != ProtocolVersion {
		return hello{}, fmt.Errorf("%w: the plugin speaks protocol version %d; piobench speaks %d", ErrProtocol, *hi.Protocol, ProtocolVersion)
	}
	return hi, nil
}

func (m *Model) load(ctx context.Context, p *process, hi hello) error {
	opts := m.cfg.LoadOptions
	if opts == nil {
		opts = map[string]any{}
	}
	_, _, err := p.call(ctx, "load", map[string]any{"options": opts}, m.cfg.LoadTimeout, hi.has(CapCancel), nil)
	if err != nil {
		return m.fail(p, "load", err)
	}
	return nil
}

// Reload unloads the model and loads it again in the running plugin (a
// warm reload: no new process, imports already done).
func (m *Model) Reload(ctx context.Context) error {
	m.callMu.Lock()
	defer m.callMu.Unlock()
	p, hi, err := m.running("unload")
	if err != nil {
		return err
	}
	if !hi.has(CapUnload) {
		return fmt.Errorf("plugin %q: unload: the plugin cannot unload (no %q capability)", m.cfg.Name, CapUnload)
	}
	if _, _, err := p.call(ctx, "unload", nil, time.Minute, hi.has(CapCancel), nil); err != nil {
		return m.fail(p, "unload", err)
	}
	return m.load(ctx, p, hi)
}

// Infer implements model.Model. When the plugin streams, tokens are
// stamped as they arrive, so the response carries the time to first token
// and the time of every token.
func (m *Model) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	return m.InferStream(ctx, req, nil)
}

// InferStream implements model.Streamer. A plugin that does not stream
// delivers its whole text as one chunk when it is done.
func (m *Model) InferStream(ctx context.Context, req model.Request, fn func(model.Token) error) (model.Response, error) {
	if err := ctx.Err(); err != nil {
		return model.Response{}, err
	}
	m.callMu.Lock()
	defer m.callMu.Unlock()
	p, hi, err := m.running("infer")
	if err != nil {
		return model.Response{}, err
	}
	stream := hi.has(CapStream)
	params := inferParams{Prompt: req.Prompt, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, Seed: req.Seed, Stop: req.Stop, Stream: stream}
	var (
		resp     = model.Response{}
		text     strings.Builder
		events   int
		eventErr error
	)
	resp.Start = time.Now()
	onEvent := func(msg Message) error {
		if msg.Event != "token" {
			return nil // other events are for future versions
		}
		var ev tokenEvent
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			eventErr = fmt.Errorf("%w: token event %s: %v", ErrProtocol, quote(msg.Data), err)
			return eventErr
		}
		n := 1
		if ev.N != nil {
			n = *ev.N
		}
		if n < 0 {
			eventErr = fmt.Errorf("%w: token event with a negative token count (n = %d)", ErrProtocol, n)
			return eventErr
		}
		at := msg.At.Sub(resp.Start)
		for i := 0; i < n; i++ {
			resp.TokenTimes = append(resp.TokenTimes, at)
		}
		if resp.FirstToken == 0 && ev.Text != "" {
			resp.FirstToken = at
		}
		events++
		text.WriteString(ev.Text)
		if fn != nil {
			id := -1
			if ev.ID != nil {
				id = *ev.ID
			}
			return fn(model.Token{ID: id, Text: ev.Text, At: at})
		}
		return nil
	}
	raw, end, err := p.call(ctx, "infer", params, m.cfg.CallTimeout, hi.has(CapCancel), onEvent)
	if err != nil {
		if eventErr != nil && errors.Is(err, eventErr) {
			// The plugin sent a bad event: it cannot be trusted further.
			p.kill()
			return model.Response{}, m.fail(p, "infer", fmt.Errorf("%w: %v", ErrExited, eventErr))
		}
		var pe *PluginError
		if !errors.As(err, &pe) && !errors.Is(err, ErrExited) && !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrProtocol) {
			return model.Response{}, err // the callback's error, or ctx's
		}
		return model.Response{}, m.fail(p, "infer", err)
	}
	var res inferResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return model.Response{}, p.stepError("infer", fmt.Errorf("%w: the infer result is not an object: %v", ErrProtocol, err))
	}
	resp.Duration = end.Sub(resp.Start)
	if err := fillCounts(&resp, res, len(resp.TokenTimes)); err != nil {
		return model.Response{}, p.stepError("infer", err)
	}
	resp.Text = res.Text
	if resp.Text == "" && events > 0 {
		resp.Text = text.String()
	}
	resp.FinishReason = res.FinishReason
	if len(resp.TokenTimes) != resp.OutputTokens {
		// The chunks did not count the tokens: keep the first token's time,
		// which is still right, and drop the rest.
		resp.TokenTimes = nil
	}
	if resp.FirstToken == 0 || resp.FirstToken > resp.Duration {
		// Nothing streamed: the first token reached piobench with the last.
		resp.FirstToken = resp.Duration
	}
	if !stream && fn != nil && resp.OutputTokens > 0 {
		if err := fn(model.Token{ID: -1, Text: resp.Text, At: resp.Duration}); err != nil {
			return model.Response{}, err
		}
	}
	return resp, nil
}

// fillCounts copies the token counts of a result into resp, checking them.
// streamed is the number of tokens that came as events.
func fillCounts(resp *model.Response, res inferResult, streamed int) error {
	if res.PromptTokens != nil {
		if *res.PromptTokens < 0 {
			return fmt.Errorf("%w: negative token count: prompt_tokens = %d", ErrProtocol, *res.PromptTokens)
		}
		resp.PromptTokens = *res.PromptTokens
	}
	switch {
	case res.OutputTokens != nil && *res.OutputTokens < 0:
		return fmt.Errorf("%w: negative token count: output_tokens = %d", ErrProtocol, *res.OutputTokens)
	case res.OutputTokens != nil:
		resp.OutputTokens = *res.OutputTokens
	default:
		resp.OutputTokens = streamed
	}
	return nil
}

// InferBatch implements model.BatchInferer: the requests go to the plugin
// in one infer_batch call. Every response carries the batch's time.
func (m *Model) InferBatch(ctx context.Context, reqs []model.Request) ([]model.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.callMu.Lock()
	defer m.callMu.Unlock()
	p, hi, err := m.running("infer_batch")
	if err != nil {
		return nil, err
	}
	params := make([]inferParams, len(reqs))
	for i, r := range reqs {
		params[i] = inferParams{Prompt: r.Prompt, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, Seed: r.Seed, Stop: r.Stop}
	}
	start := time.Now()
	raw, end, err := p.call(ctx, "infer_batch", map[string]any{"requests": params}, m.cfg.CallTimeout, hi.has(CapCancel), nil)
	if err != nil {
		var pe *PluginError
		if !errors.As(err, &pe) && !errors.Is(err, ErrExited) && !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrProtocol) {
			return nil, err
		}
		return nil, m.fail(p, "infer_batch", err)
	}
	var br batchResult
	if err := json.Unmarshal(raw, &br); err != nil {
		return nil, p.stepError("infer_batch", fmt.Errorf("%w: the infer_batch result is not {\"responses\": [...]}: %v", ErrProtocol, err))
	}
	if len(br.Responses) != len(reqs) {
		return nil, p.stepError("infer_batch", fmt.Errorf("%w: %d requests, %d responses", ErrProtocol, len(reqs), len(br.Responses)))
	}
	d := end.Sub(start)
	out := make([]model.Response, len(reqs))
	for i, res := range br.Responses {
		r := model.Response{Text: res.Text, Start: start, Duration: d, FirstToken: d, FinishReason: res.FinishReason}
		if err := fillCounts(&r, res, 0); err != nil {
			return nil, p.stepError("infer_batch", fmt.Errorf("response %d: %w", i, err))
		}
		out[i] = r
	}
	return out, nil
}

// TrueBatching implements model.BatchChecker: whether the plugin announced
// real batching.
func (m *Model) TrueBatching() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hi.has(CapBatch)
}

// MemoryStats implements model.MemoryReporter with the plugin's own
// report (for a PyTorch plugin: torch.cuda's allocator statistics).
func (m *Model) MemoryStats(ctx context.Context) (model.MemoryStats, error) {
	m.callMu.Lock()
	defer m.callMu.Unlock()
	p, hi, err := m.running("stats")
	if err != nil {
		return model.MemoryStats{}, err
	}
	if !hi.has(CapStats) {
		return model.MemoryStats{}, fmt.Errorf("plugin %q: stats: the plugin does not report stats", m.cfg.Name)
	}
	raw, _, err := p.call(ctx, "stats", nil, time.Minute, hi.has(CapCancel), nil)
	if err != nil {
		return model.MemoryStats{}, m.fail(p, "stats", err)
	}
	nums, err := statsResult(raw)
	if err != nil {
		return model.MemoryStats{}, p.stepError("stats", fmt.Errorf("%w: %v", ErrProtocol, err))
	}
	var ms model.MemoryStats
	for k, v := range nums {
		if v < 0 {
			return model.MemoryStats{}, p.stepError("stats", fmt.Errorf("%w: negative %s = %v", ErrProtocol, k, v))
		}
		switch k {
		case "weight_bytes":
			ms.WeightBytes = int64(v)
		case "cache_bytes":
			ms.CacheBytes = int64(v)
		case "device_bytes":
			ms.DeviceBytes = int64(v)
		case "peak_device_bytes":
			ms.PeakDeviceBytes = int64(v)
		default:
			if ms.Extra == nil {
				ms.Extra = map[string]int64{}
			}
			ms.Extra[k] = int64(v)
		}
	}
	return ms, nil
}

// PID implements model.ProcessOwner: the plugin's process, or 0.
func (m *Model) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil || m.broken != nil {
		return 0
	}
	return m.p.pid
}

// Info implements model.Describer. After Load it includes what the plugin
// said about itself in the handshake.
func (m *Model) Info() model.Info {
	m.mu.Lock()
	hi := m.hi
	m.mu.Unlock()
	params := map[string]any{
		"command":  m.cfg.Command,
		"protocol": ProtocolVersion,
	}
	for k, v := range hi.Info {
		params[k] = v
	}
	if hi.Capabilities != nil {
		params["capabilities"] = hi.Capabilities
	}
	if hi.Runtime != "" {
		params["plugin_runtime"] = hi.Runtime
	}
	notes := append([]string(nil), hi.Notes...)
	return model.Info{Name: m.cfg.Name, Driver: "proc", Params: params, Notes: notes}
}

// NotRunning returns why the plugin is not running (not loaded, or broken
// by an earlier error), or nil when it is.
func (m *Model) NotRunning(step string) error {
	_, _, err := m.running(step)
	return err
}

// LogPath returns the stderr log of the running plugin, or "".
func (m *Model) LogPath() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil {
		return ""
	}
	return m.p.log.path
}

// Close asks the plugin to shut down, gives it a few seconds, then ends
// its process group. Processes of the group still alive after the plugin
// has gone are killed and reported as an error (and to OnWarning). Close
// is safe to call more than once.
func (m *Model) Close() error {
	// A call in progress would block a graceful shutdown: end the plugin
	// under it instead.
	graceful := m.callMu.TryLock()
	if graceful {
		defer m.callMu.Unlock()
	}
	m.mu.Lock()
	p := m.p
	m.p, m.broken, m.hi = nil, nil, hello{}
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	err := m.stop(p, graceful)
	if err != nil && m.cfg.OnWarning != nil {
		m.cfg.OnWarning(err)
	}
	return err
}

func (m *Model) stop(p *process, graceful bool) error {
	const grace = 5 * time.Second
	if graceful {
		p.nextID++
		if p.send(p.nextID, "shutdown", nil, time.Second) == nil {
			p.stdinMu.Lock()
			p.stdin.Close()
			p.stdinMu.Unlock()
		}
	} else {
		termGroup(p.pid)
	}
	exited := false
	select {
	case <-p.exited:
		exited = true
	case <-time.After(grace):
	}
	// What is left of the group once the plugin itself has gone (or is
	// a zombie that leftover processes keep from being waited for).
	left := groupMembers(p.pid, p.pid)
	leaderGone := exited || sysmon.Zombie(p.pid)
	p.kill()
	select {
	case <-p.exited:
	case <-time.After(grace):
	}
	switch {
	case leaderGone && len(left) > 0:
		return &StepError{Plugin: m.cfg.Name, Step: "close", Err: fmt.Errorf("the plugin left %d process(es) running after it exited (pids %v); piobench killed them", len(left), left), Tail: p.log.tail(), Log: p.log.path}
	case !leaderGone && graceful:
		return &StepError{Plugin: m.cfg.Name, Step: "close", Err: fmt.Errorf("the plugin did not exit within %v of shutdown; piobench killed its process group", grace), Tail: p.log.tail(), Log: p.log.path}
	}
	return nil
}
