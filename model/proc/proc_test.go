package proc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/modeltest"
	"github.com/inference-pio/piobench/sysmon"
)

// goPlugin is the test plugin built from testdata/goplugin by TestMain.
var goPlugin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "piobench-proc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goPlugin = filepath.Join(dir, "goplugin")
	out, err := exec.Command("go", "build", "-o", goPlugin, "./testdata/goplugin").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the Go test plugin: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// marker tags every process a test starts (children inherit it), so that
// leftovers can be found afterwards.
func marker(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "PIOBENCH_TEST_MARK=" + hex.EncodeToString(b)
}

// leftovers returns the live processes whose environment holds mark.
func leftovers(mark string) []int {
	if runtime.GOOS != "linux" {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, []byte(mark)) {
			continue
		}
		if sysmon.Zombie(pid) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// checkNoLeftovers waits briefly for the plugin's processes to go, then
// fails if any remain (and kills them).
func checkNoLeftovers(t *testing.T, mark string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := leftovers(mark)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				killGroup(p)
			}
			t.Fatalf("processes left behind: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newGo(t testing.TB, mode string, mark string, edit func(*Config)) *Model {
	t.Helper()
	cfg := Config{Argv: []string{goPlugin}, Name: "goplugin", Env: []string{mark}, Log: filepath.Join(t.TempDir(), "plugin.log")}
	if mode != "" {
		cfg.Argv = append(cfg.Argv, "-mode="+mode)
	}
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	pythonOnce sync.Once
	pythonExe  string
)

// needPython returns the Python 3 interpreter itself (not a version
// manager's shim, which can take seconds to start), or skips the test.
func needPython(t testing.TB) string {
	t.Helper()
	pythonOnce.Do(func() {
		p, err := exec.LookPath("python3")
		if err != nil {
			return
		}
		out, err := exec.Command(p, "-c", "import sys; print(sys.executable)").Output()
		if exe := strings.TrimSpace(string(out)); err == nil && exe != "" {
			p = exe
		}
		pythonExe = p
	})
	if pythonExe == "" {
		t.Skip("python3 not found: skipping the tests of Python plugins")
	}
	return pythonExe
}

func pluginPath(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "plugins", "python", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newPython(t testing.TB, mode string, mark string, edit func(*Config)) *Model {
	t.Helper()
	py := needPython(t)
	cfg := Config{Argv: []string{py, pluginPath(t, "fake_plugin.py")}, Env: []string{mark, "FAKE_PLUGIN_MODE=" + mode}, Log: filepath.Join(t.TempDir(), "plugin.log")}
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConformanceGoPlugin(t *testing.T) {
	mark := marker(t)
	modeltest.Run(t, func(t *testing.T) model.Model { return newGo(t, "", mark, nil) }, modeltest.Options{ExactLength: true})
	checkNoLeftovers(t, mark)
}

func TestConformancePythonPlugin(t *testing.T) {
	mark := marker(t)
	modeltest.Run(t, func(t *testing.T) model.Model { return newPython(t, "", mark, nil) }, modeltest.Options{ExactLength: true})
	checkNoLeftovers(t, mark)
}

func TestConformanceExamplePlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	py := needPython(t)
	mark := marker(t)
	modeltest.Run(t, func(t *testing.T) model.Model {
		m, err := New(Config{Argv: []string{py, pluginPath(t, "example_plugin.py")}, Env: []string{mark}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, modeltest.Options{ExactLength: true})
	checkNoLeftovers(t, mark)
}

func TestStreamingIsStampedOnArrival(t *testing.T) {
	py := needPython(t)
	mark := marker(t)
	// The example plugin takes at least 1 ms per token.
	m, err := New(Config{Argv: []string{py, pluginPath(t, "example_plugin.py")}, Env: []string{mark}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	resp, err := m.Infer(ctx, model.Request{Prompt: "the model", MaxTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputTokens != 20 || len(resp.TokenTimes) != 20 {
		t.Fatalf("%d tokens, %d token times", resp.OutputTokens, len(resp.TokenTimes))
	}
	if resp.FirstToken != resp.TokenTimes[0] || resp.FirstToken <= 0 {
		t.Errorf("first token %v, token times start %v", resp.FirstToken, resp.TokenTimes[0])
	}
	// 19 more tokens of >= 1 ms each came after the first one.
	if spread := resp.TokenTimes[19] - resp.TokenTimes[0]; spread < 19*time.Millisecond {
		t.Errorf("tokens spread over %v, want >= 19ms: not stamped as they arrived", spread)
	}
	if resp.Duration < resp.TokenTimes[19] {
		t.Errorf("duration %v before the last token %v", resp.Duration, resp.TokenTimes[19])
	}
	if resp.PromptTokens != 2 {
		t.Errorf("prompt tokens %d, want 2", resp.PromptTokens)
	}
	if !strings.HasPrefix(m.Info().Name, "example_plugin") {
		t.Errorf("name %q", m.Info().Name)
	}
	if m.Info().Params["vocabulary"] == nil {
		t.Errorf("the plugin's info is not in Info: %v", m.Info().Params)
	}
}

func TestCancelMidStream(t *testing.T) {
	py := needPython(t)
	mark := marker(t)
	m, err := New(Config{Argv: []string{py, pluginPath(t, "example_plugin.py")}, Env: []string{mark}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pid := m.PID()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	start := time.Now()
	_, err = m.InferStream(ctx, model.Request{Prompt: "a", MaxTokens: 100000}, func(model.Token) error {
		n++
		if n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled stream: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancellation took %v", d)
	}
	// The plugin honoured the cancel: it is still the same process, and
	// answers the next call at once.
	if m.PID() != pid {
		t.Errorf("plugin restarted or ended: pid %d, was %d", m.PID(), pid)
	}
	resp, err := m.Infer(context.Background(), model.Request{Prompt: "a", MaxTokens: 3})
	if err != nil || resp.OutputTokens != 3 {
		t.Fatalf("after cancel: %v, %d tokens", err, resp.OutputTokens)
	}
}

func TestReloadKeepsProcess(t *testing.T) {
	mark := marker(t)
	m := newPython(t, "", mark, nil)
	ctx := context.Background()
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pid := m.PID()
	if pid <= 0 {
		t.Fatal("no pid")
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if m.PID() != pid {
		t.Errorf("reload started a new process")
	}
	if _, err := m.Infer(ctx, model.Request{Prompt: "x", MaxTokens: 2}); err != nil {
		t.Fatal(err)
	}
	rss, err := sysmon.TreeProbe(m.PID)()
	if err != nil || rss < 1<<20 {
		t.Errorf("tree RSS %d, %v", rss, err)
	}
	log, err := os.ReadFile(m.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	// The plugin printed this to stdout; it must land in the log.
	if !bytes.Contains(log, []byte("fake_plugin: loading with options")) {
		t.Errorf("stderr log lacks the plugin's print: %q", log)
	}
	ms, err := m.MemoryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ms.WeightBytes != 1<<20 || ms.Extra["max_rss_bytes"] <= 0 {
		t.Errorf("stats %+v", ms)
	}
}

func TestTrueBatching(t *testing.T) {
	mark := marker(t)
	m := newGo(t, "no-stream", mark, nil)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.TrueBatching() {
		t.Error("a plugin without the batch capability says it batches")
	}
	resps, err := m.InferBatch(context.Background(), []model.Request{{Prompt: "a", MaxTokens: 2}, {Prompt: "b", MaxTokens: 3}})
	if err != nil || len(resps) != 2 || resps[1].OutputTokens != 3 {
		t.Fatalf("%v %+v", err, resps)
	}
	// Without streaming, the text arrives as one chunk, at the end.
	var chunks []model.Token
	resp, err := m.InferStream(context.Background(), model.Request{Prompt: "a", MaxTokens: 4}, func(tok model.Token) error {
		chunks = append(chunks, tok)
		return nil
	})
	if err != nil || len(chunks) != 1 || chunks[0].Text != resp.Text || resp.FirstToken != resp.Duration {
		t.Errorf("non-streaming plugin: %v, chunks %+v, first token %v of %v", err, chunks, resp.FirstToken, resp.Duration)
	}
}

// TestBadPlugins checks that each way a plugin can go wrong becomes an
// error naming the plugin and the step, with what the plugin said, and
// leaves no process behind.
func TestBadPlugins(t *testing.T) {
	type tc struct {
		name   string
		model  func(t *testing.T, mark string) *Model
		step   string   // where it fails: load (Load) or infer
		want   []string // in the error
		closeE []string // Close's error, when it must have one
	}
	goMode := func(mode string, edit func(*Config)) func(t *testing.T, mark string) *Model {
		return func(t *testing.T, mark string) *Model { return newGo(t, mode, mark, edit) }
	}
	pyMode := func(mode string) func(t *testing.T, mark string) *Model {
		return func(t *testing.T, mark string) *Model { return newPython(t, mode, mark, nil) }
	}
	cases := []tc{
		{"command does not exist", func(t *testing.T, mark string) *Model {
			m, err := New(Config{Command: "no-such-plugin-command --x", Env: []string{mark}})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}, "load", []string{`plugin "no-such-plugin-command": spawn:`, "executable file not found"}, nil},
		{"wrong protocol version", goMode("wrong-protocol", nil), "load", []string{`plugin "goplugin": handshake:`, "protocol version 99; piobench speaks 1"}, nil},
		{"never answers the handshake", goMode("silent", func(c *Config) { c.HandshakeTimeout = time.Second }), "load",
			[]string{`plugin "goplugin": handshake:`, "did not answer within 1s", "thinking about the handshake"}, nil},
		{"non-JSON on stdout", goMode("garbage", nil), "infer", []string{`plugin "goplugin": infer:`, "stdout line 3", "not a JSON object", "Loading checkpoint shards"}, nil},
		{"crashes in load", goMode("crash-load", nil), "load", []string{`plugin "goplugin": load:`, "exited with status 3", "out of memory while loading weights"}, nil},
		{"fails in load", goMode("load-error", nil), "load", []string{`plugin "goplugin": load:`, "FileNotFoundError: weights file not found"}, nil},
		{"crashes mid-stream", goMode("crash-stream", nil), "infer", []string{`plugin "goplugin": infer:`, "exited with status 11", "segmentation fault in decode step 2"}, nil},
		{"negative token count", goMode("negative", nil), "infer", []string{`plugin "goplugin": infer:`, "negative token count: output_tokens = -1"}, nil},
		{"hangs in infer", goMode("hang-infer", func(c *Config) { c.CallTimeout = time.Second }), "infer", []string{`plugin "goplugin": infer:`, "did not answer within 1s"}, nil},
		{"leaks a child process", goMode("leak", nil), "", nil, []string{`plugin "goplugin": close:`, "left 1 process(es) running"}},
		{"python: load raises", pyMode("load_error"), "load", []string{`plugin "fake_plugin": load:`, "FileNotFoundError: weights.bin not found"}, nil},
		{"python: exits in load", pyMode("exit_in_load"), "load", []string{`plugin "fake_plugin": load:`, "exited with status 3", "giving up"}, nil},
		{"python: crashes mid-stream", pyMode("crash_mid_stream"), "infer", []string{`plugin "fake_plugin": infer:`, "exited with status 7", "illegal memory access"}, nil},
		{"python: negative token count", pyMode("negative"), "infer", []string{`plugin "fake_plugin": infer:`, "output_tokens = -3"}, nil},
		{"python: script missing", func(t *testing.T, mark string) *Model {
			m, err := New(Config{Argv: []string{needPython(t), "/nonexistent/plugin.py"}, Env: []string{mark}})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}, "load", []string{`plugin "plugin": handshake:`, "exited with status 2", "can't open file"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mark := marker(t)
			m := c.model(t, mark)
			ctx := context.Background()
			err := m.Load(ctx)
			if c.step == "load" {
				check(t, err, c.want)
			} else if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.step == "infer" {
				_, err := m.Infer(ctx, model.Request{Prompt: "hello there", MaxTokens: 5})
				check(t, err, c.want)
				// Once broken, always broken, with the reason.
				if !strings.Contains(c.name, "negative") {
					_, err2 := m.Infer(ctx, model.Request{Prompt: "again", MaxTokens: 1})
					if err2 == nil || !strings.Contains(err2.Error(), "no longer running") {
						t.Errorf("second call after a broken plugin: %v", err2)
					}
				}
			}
			cerr := m.Close()
			if c.closeE != nil {
				check(t, cerr, c.closeE)
			} else if cerr != nil && c.step == "" {
				t.Errorf("Close: %v", cerr)
			}
			checkNoLeftovers(t, mark)
		})
	}
}

func check(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\n  lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "goroutine ") {
		t.Errorf("error holds a stack trace: %v", err)
	}
}

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"python3 my_plugin.py":             {"python3", "my_plugin.py"},
		`python3 "my plugin.py" --x='a b'`: {"python3", "my plugin.py", "--x=a b"},
		`  node   server.js  `:             {"node", "server.js"},
		`a\ b c`:                           {"a b", "c"},
		`python3 x.py | tee log`:           {"/bin/sh", "-c", `python3 x.py | tee log`},
		`FOO=1 python3 x.py && echo`:       {"/bin/sh", "-c", `FOO=1 python3 x.py && echo`},
		`python3 "$HOME/x.py"`:             {"/bin/sh", "-c", `python3 "$HOME/x.py"`},
		`python3 'keep $HOME literal'`:     {"python3", "keep $HOME literal"},
		`python3 -m my.plugin --name=a~b`:  {"python3", "-m", "my.plugin", "--name=a~b"},
	} {
		got, err := SplitCommand(in)
		if err != nil || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "   ", `python3 "x.py`, `python3 'x.py`, `x\`} {
		if _, err := SplitCommand(in); err == nil {
			t.Errorf("SplitCommand(%q) succeeded", in)
		}
	}
	for argv, want := range map[string]string{
		"python3 my_plugin.py":          "my_plugin",
		"python3 -u /a/b/llm.py --flag": "llm",
		"./server --port 1":             "server",
		"node index.mjs | cat":          "index",
	} {
		a, _ := SplitCommand(argv)
		if got := defaultName(a); got != want {
			t.Errorf("defaultName(%q) = %q, want %q", argv, got, want)
		}
	}
}

func TestCheckCommand(t *testing.T) {
	if err := CheckCommand([]string{"no-such-program-xyz"}, ""); err == nil || !strings.Contains(err.Error(), "no-such-program-xyz: not found on the PATH") {
		t.Errorf("missing program: %v", err)
	}
	if err := CheckCommand([]string{"./nope"}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v", err)
	}
	if _, err := exec.LookPath("python3"); err == nil {
		if err := CheckCommand([]string{"python3", "-u", "missing_plugin.py"}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "missing_plugin.py: no such file") {
			t.Errorf("missing script: %v", err)
		}
		if err := CheckCommand([]string{"python3", "-m", "pkg.plugin"}, ""); err != nil {
			t.Errorf("module: %v", err)
		}
	}
	if err := CheckCommand([]string{goPlugin, "-mode=x"}, ""); err != nil {
		t.Errorf("existing program: %v", err)
	}
}

func TestConfigFromOptions(t *testing.T) {
	c, err := ConfigFromOptions(map[string]string{"command": "python3 p.py", "env": "A=1\nB=two", "call_timeout": "3s", "load.dtype": "bf16", "load.layers": "4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Env) != 2 || c.CallTimeout != 3*time.Second || c.LoadOptions["dtype"] != "bf16" || c.LoadOptions["layers"] != int64(4) {
		t.Errorf("%+v", c)
	}
	for _, bad := range []map[string]string{{"env": "NOEQUALS"}, {"call_timeout": "soon"}, {"load_timeout": "-1s"}} {
		if _, err := ConfigFromOptions(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without a command succeeded")
	}
}

func TestParseMessage(t *testing.T) {
	good := map[string]Message{
		`{"id":1,"result":{"a":1}}`:                      {ID: 1, Result: []byte(`{"a":1}`)},
		`{"id":2,"event":"token","data":{"text":"x"}}`:   {ID: 2, Event: "token", Data: []byte(`{"text":"x"}`)},
		`{"id":3,"error":{"message":"boom","type":"E"}}`: {ID: 3, Error: &WireError{Message: "boom", Type: "E"}},
		`{"id":4,"error":"plain"}`:                       {ID: 4, Error: &WireError{Message: "plain"}},
		`  {"id":5,"result":null}  `:                     {ID: 5, Result: []byte("null")},
	}
	for in, want := range good {
		got, err := ParseMessage([]byte(in))
		if err != nil {
			t.Errorf("ParseMessage(%s): %v", in, err)
			continue
		}
		if got.ID != want.ID || string(got.Result) != string(want.Result) || got.Event != want.Event || (got.Error == nil) != (want.Error == nil) || (got.Error != nil && *got.Error != *want.Error) {
			t.Errorf("ParseMessage(%s) = %+v, want %+v", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"hello":                            "not a JSON object",
		`{"id":1,"result":{}`:              "not valid JSON",
		`{"result":{}}`:                    "without an id",
		`{"id":1}`:                         "none of result, error and event",
		`{"id":1,"result":{},"event":"t"}`: "more than one",
		`{"id":1,"event":""}`:              "empty event",
		`{"id":1,"result":1} {"id":2}`:     "more than one JSON value",
		`{"id":"x","result":1}`:            "not valid JSON",
		`{"id":1,"error":5}`:               "neither an object nor a string",
	} {
		_, err := ParseMessage([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMessage(%s) = %v, want an error with %q", in, err, want)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{`{"id":1,"result":{}}`, `{"id":2,"event":"token","data":{"text":"x","n":2}}`, `{"id":3,"error":"x"}`, "garbage", `{"id":1e3,"result":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		kinds := 0
		if m.Result != nil {
			kinds++
		}
		if m.Error != nil {
			kinds++
			if m.Error.Message == "" {
				t.Fatal("error without a message")
			}
		}
		if m.Event != "" {
			kinds++
		}
		if kinds != 1 {
			t.Fatalf("%q parsed into %d kinds", b, kinds)
		}
	})
}

func TestDriverRegistered(t *testing.T) {
	m, err := model.Default.Open("proc", model.Config{Options: map[string]string{"command": goPlugin, "name": "viaregistry"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.(model.Describer).Info().Name != "viaregistry" {
		t.Errorf("name %q", m.(model.Describer).Info().Name)
	}
	if _, err := model.Default.Open("proc", model.Config{}); err == nil {
		t.Error("proc without a command opened")
	}
}
