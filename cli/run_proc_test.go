package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	goPluginOnce sync.Once
	goPluginPath string
	goPluginErr  error
)

// testGoPlugin builds model/proc's Go test plugin once per test binary.
func testGoPlugin(t *testing.T) string {
	t.Helper()
	goPluginOnce.Do(func() {
		dir, err := os.MkdirTemp("", "piobench-cli-plugin-")
		if err != nil {
			goPluginErr = err
			return
		}
		goPluginPath = filepath.Join(dir, "goplugin")
		out, err := exec.Command("go", "build", "-o", goPluginPath, "../model/proc/testdata/goplugin").CombinedOutput()
		if err != nil {
			goPluginErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if goPluginErr != nil {
		t.Fatalf("building the Go test plugin: %v", goPluginErr)
	}
	return goPluginPath
}

func TestProcUsageErrors(t *testing.T) {
	plugin := testGoPlugin(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--driver", "proc"}, "--driver proc needs --command"},
		{[]string{"--driver", "proc", "--command", "no-such-plugin-program --x"}, `--command "no-such-plugin-program --x": no-such-plugin-program: not found on the PATH`},
		{[]string{"--driver", "proc", "--command", "sh /nonexistent/plugin.sh"}, "/nonexistent/plugin.sh: no such file"},
		{[]string{"--driver", "proc", "--command", `python3 "unterminated.py`}, "unterminated \" quote"},
		{[]string{"--driver", "proc", "--command", plugin, "--env", "NOEQUALS"}, `--env "NOEQUALS": want KEY=VALUE`},
		{[]string{"--driver", "proc", "--command", plugin, "--plugin-option", "=x"}, "--plugin-option"},
		{[]string{"--driver", "proc", "--command", plugin, "--workdir", "/nonexistent-dir"}, "--workdir /nonexistent-dir: not a directory"},
		{[]string{"--driver", "proc", "--command", plugin, "--model", "ref:15m"}, "--driver proc takes --command, not --model"},
		{[]string{"--command", plugin}, "--command is for --driver proc"},
		{[]string{"--name", "x"}, "--name is for --driver proc"},
	} {
		out := filepath.Join(t.TempDir(), "results")
		args := append([]string{"run", "--no-history", "--out", out, "--benchmark", "inference_speed"}, c.args...)
		code, stdout, stderr := runMain(t, DefaultConfig(), args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2\n%s%s", c.args, code, stdout, stderr)
			continue
		}
		if !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "piobench: ") {
			t.Errorf("%v: stderr %q, want one line with %q", c.args, stderr, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: results directory written on a usage error", c.args)
		}
	}
}

func TestProcRun(t *testing.T) {
	plugin := testGoPlugin(t)
	out := t.TempDir()
	code, stdout, stderr := runMain(t, DefaultConfig(), "run", "--no-history", "-q", "--driver", "proc", "--command", plugin,
		"--name", "gp", "--out", out, "--iterations", "2",
		"--benchmark", "inference_speed", "--benchmark", "batch_processing_4", "--benchmark", "loading_time", "--benchmark", "memory_usage")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	j, _ := readRun(t, out)
	if len(j.Results) != 4 {
		t.Fatalf("%d results", len(j.Results))
	}
	byName := map[string]map[string]any{}
	for _, r := range j.Results {
		if r.Failed() || r.ModelName != "gp" {
			t.Errorf("%s: failed %v, model %q: %s", r.BenchmarkName, r.Failed(), r.ModelName, r.Err())
		}
		byName[r.BenchmarkName] = r.Metadata
	}
	if m := byName["memory_usage"]; !strings.Contains(fmt.Sprint(m["measured"]), "the plugin's process tree") {
		t.Errorf("memory_usage measured %q", m["measured"])
	}
	if m := byName["memory_usage"]; m["initial_memory"].(float64) <= 0 {
		t.Errorf("plugin RSS %v MB", m["initial_memory"])
	}
	lt := byName["loading_time"]
	if w, ok := lt["warm_reload_seconds"].([]any); !ok || len(w) != 2 {
		t.Errorf("loading_time warm reloads: %v", lt["warm_reload_seconds"])
	}
	if !strings.Contains(fmt.Sprint(lt["definition"]), "spawn") {
		t.Errorf("loading_time definition %q", lt["definition"])
	}
	if byName["batch_processing_4"]["mode"] != "batched" {
		t.Errorf("batch mode %v", byName["batch_processing_4"]["mode"])
	}
	if byName["inference_speed"]["ttft_ms_median"] == nil {
		t.Error("no TTFT from a streaming plugin")
	}
	plug, ok := j.Config["plugin"].(map[string]any)
	if !ok || plug["command"] != plugin {
		t.Errorf("run config plugin = %v", j.Config["plugin"])
	}
}

func TestProcRunBadPlugins(t *testing.T) {
	plugin := testGoPlugin(t)
	for _, c := range []struct {
		mode     string
		code     int
		inResult string // in every result's error
		inStderr string
	}{
		{"crash-load", ExitFailed, `plugin "goplugin": load: plugin exited with status 3`, "2 of 2 benchmarks failed"},
		{"wrong-protocol", ExitFailed, `plugin "goplugin": handshake:`, "2 of 2 benchmarks failed"},
		{"crash-stream", ExitFailed, `plugin "goplugin": infer:`, "benchmarks failed"},
		{"leak", ExitFailed, "", `plugin "goplugin": close: the plugin left 1 process(es) running`},
	} {
		t.Run(c.mode, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := runMain(t, DefaultConfig(), "run", "--no-history", "-q", "--driver", "proc",
				"--command", plugin+" -mode="+c.mode, "--name", "goplugin", "--out", out, "--iterations", "1",
				"--benchmark", "inference_speed", "--benchmark", "memory_usage")
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.code, stdout, stderr)
			}
			if !strings.Contains(stderr, c.inStderr) {
				t.Errorf("stderr %q lacks %q", stderr, c.inStderr)
			}
			j, _ := readRun(t, out)
			for _, r := range j.Results {
				if c.inResult != "" && (!r.Failed() || !strings.Contains(r.Err(), c.inResult)) {
					t.Errorf("%s: %q, want an error with %q", r.BenchmarkName, r.Err(), c.inResult)
				}
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stdout, "goroutine ") {
				t.Error("a stack trace")
			}
		})
	}
}

// A plugin in a directory of its own imports piobench_plugin from the copy
// piobench carries (no file of the helper beside it).
func TestProcPythonHelperFromBinary(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: skipping the Python plugin run")
	}
	if out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output(); err == nil {
		py = strings.TrimSpace(string(out)) // not a version manager's slow shim
	}
	dir := t.TempDir()
	script := `import piobench_plugin

class Echo:
    def load_model(self, greeting="hi"):
        self.greeting = greeting
    def infer(self, prompt, max_tokens=16, **params):
        return " ".join([self.greeting] * max_tokens)

piobench_plugin.serve(Echo())
`
	if err := os.WriteFile(filepath.Join(dir, "echo_plugin.py"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := runMain(t, DefaultConfig(), "run", "--no-history", "-q", "--driver", "proc",
		"--command", py+" echo_plugin.py", "--workdir", dir, "--plugin-option", "greeting=yo", "--out", out,
		"--iterations", "2", "--benchmark", "inference_speed")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	j, _ := readRun(t, out)
	r := j.Results[0]
	if r.ModelName != "echo_plugin" || r.Failed() {
		t.Errorf("%+v", r)
	}
	if tok := r.Metadata["output_tokens_total"]; tok != float64(128) && tok != 128 {
		t.Errorf("output tokens %v, want 2 x 64 (counted as words)", tok)
	}
	if !bytes.Contains([]byte(stdout), []byte("echo_plugin")) {
		t.Errorf("table lacks the model:\n%s", stdout)
	}
}
