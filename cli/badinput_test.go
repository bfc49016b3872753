package cli

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	_ "modernc.org/sqlite" // to lock and age history files

	"github.com/inference-pio/piobench/sim"
)

// TestBadInputCatalogue is the overview of what piobench does with bad
// input: flags, files, servers, plugins and databases. Each case must
// end with its exit code (2 for usage and configuration, 1 when the input
// was accepted but every request failed), a one-line message on stderr
// that names the problem, no panic or stack trace, and — for exit 2 —
// nothing written to the results directory. Per-feature tests go deeper;
// this table is the single list.
func TestBadInputCatalogue(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodJSON := `{"schema_version":1,"run_id":"good1","started_at":"2026-01-01T00:00:00Z","environment":{},"results":[{"timestamp":"2026-01-01T00:00:00Z","model_name":"m","benchmark_name":"b","value":1,"unit":"ms","category":"performance","metadata":{}}]}`
	good := write("good.json", goodJSON)
	badJSON := write("bad.json", "{\"schema_version\": 1,\n\"results\": [,]}\n")
	badCSV := write("bad.csv", "model,bench\nm,b\n")
	csvBadValue := write("value.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,fast,ms,performance,2026-01-01T00:00:00Z\n")
	empty := write("empty.json", "")
	mixed := write("mixed.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1,ms,performance,2026-01-01T00:00:00Z\nm,b,2,s,performance,2026-01-02T00:00:00Z\n")
	notCkpt := write("weights.bin", "this is not a checkpoint")
	dataset := write("qa.jsonl", "{\"input\": \"2+2?\", \"expected\": \"4\"}\n{\"input\": \"broken\n")
	noExpected := write("noexp.jsonl", "{\"input\": \"2+2?\"}\n")
	corrupt := write("corrupt.db", strings.Repeat("not a database ", 400))
	badYAML := write("models/m/model.yaml", "driver: fake\noptions: [unclosed\n")
	unknownDriver := write("models2/m/model.yaml", "driver: nosuchdriver\n")
	outFile := write("results-is-a-file", "x")
	os.MkdirAll(filepath.Join(dir, "dbdir"), 0o755)

	// A history file held locked by another connection, and one from a
	// newer piobench.
	locked := filepath.Join(dir, "locked.db")
	if code, so, se := runMain(t, DefaultConfig(), "history", "import", "--db", locked, good); code != 0 {
		t.Fatalf("setup: %d %s %s", code, so, se)
	}
	lk, err := sql.Open("sqlite", locked)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	lconn, err := lk.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer lconn.Close()
	if _, err := lconn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer lconn.ExecContext(context.Background(), "ROLLBACK")
	newer := filepath.Join(dir, "newer.db")
	if code, so, se := runMain(t, DefaultConfig(), "history", "import", "--db", newer, good); code != 0 {
		t.Fatalf("setup: %d %s %s", code, so, se)
	}
	nd, _ := sql.Open("sqlite", newer)
	if _, err := nd.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	nd.Close()

	// Servers that answer wrongly.
	simURL := startSim(t, sim.Config{Models: []string{"a", "b"}})
	keyed := startSim(t, sim.Config{APIKey: "right-key"})
	failing := startSim(t, sim.Config{FailRate: 1})
	t.Setenv("PIOBENCH_BADINPUT_KEY", "wrong-key")
	t.Setenv("PIOBENCH_DB", "")
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>it works</html>")
	}))
	defer garbage.Close()
	refused := func() string { // a port nothing listens on
		s := httptest.NewServer(http.NotFoundHandler())
		s.Close()
		return s.URL
	}()

	type tc struct {
		name string
		args []string
		env  []string // KEY=VALUE set for the case
		code int
		want string // in the message
	}
	oa := func(endpoint string, more ...string) []string {
		return append([]string{"run", "--driver", "openai", "--endpoint", endpoint}, more...)
	}
	cases := []tc{
		// Flags.
		{"unknown command", []string{"frobnicate"}, nil, 2, `unknown command "frobnicate"`},
		{"unknown flag", []string{"run", "--turbo"}, nil, 2, "unknown flag: --turbo"},
		{"flag without its value", []string{"history", "list", "--limit"}, nil, 2, "flag needs an argument: --limit"},
		{"non-numeric iterations", []string{"run", "--iterations", "many"}, nil, 2, `invalid argument "many" for "--iterations"`},
		{"zero iterations", []string{"run", "--iterations", "0"}, nil, 2, "--iterations 0: must be at least 1"},
		{"negative warmup", []string{"run", "--warmup", "-1"}, nil, 2, "--warmup -1: must be 0 or more"},
		{"negative timeout", []string{"run", "--timeout", "-1s"}, nil, 2, "--timeout -1s: must not be negative"},
		{"unknown suite", []string{"run", "--suite", "fastest"}, nil, 2, "fastest"},
		{"unknown benchmark", []string{"run", "--benchmark", "vibes"}, nil, 2, "vibes"},
		{"model without a driver", []string{"run", "--model", "llama"}, nil, 2, `unknown model "llama": want DRIVER:PRESET`},
		{"unknown driver", []string{"run", "--model", "tpu:big"}, nil, 2, "tpu"},
		{"unknown preset", []string{"run", "--model", "ref:999m"}, nil, 2, "999m"},
		{"stray argument", []string{"run", "extra"}, nil, 2, `unknown command "extra"`},
		{"model and model path", []string{"run", "--model", "ref:15m", "--model-path", notCkpt}, nil, 2, "--model and --model-path cannot be used together"},
		{"tokenizer without model path", []string{"run", "--tokenizer", "tok.bin"}, nil, 2, "--tokenizer needs --model-path"},
		{"resume of an unknown run", []string{"run", "--resume", "nosuchrun"}, nil, 2, "--resume nosuchrun: no journal of that run"},
		{"resume with a path", []string{"run", "--resume", "../../etc"}, nil, 2, "--resume ../../etc: no journal"},
		{"db and no-history", []string{"run", "--no-history", "--db", "x.db"}, nil, 2, "--db and --no-history cannot be used together"},
		{"report format", []string{"report", "--format", "yaml", good}, nil, 2, `--format "yaml": want text or markdown`},
		{"compare needs two", []string{"report", "--compare", good}, nil, 2, "--compare needs exactly two runs"},
		{"history show without id", []string{"history", "show"}, nil, 2, "accepts 1 arg(s), received 0"},
		{"negative limit", []string{"history", "list", "--limit", "-1"}, nil, 2, "--limit -1: must be 0 (all) or more"},
		{"bad DB timeout variable", []string{"history", "list", "--db", locked}, []string{"PIOBENCH_DB_TIMEOUT=soon"}, 2, `PIOBENCH_DB_TIMEOUT="soon": want a duration`},
		{"load without endpoint", []string{"load"}, nil, 2, "--endpoint is required"},
		{"openai flag without driver", []string{"run", "--endpoint", simURL}, nil, 2, "--endpoint is for --driver openai"},
		{"openai with model flag", oa(simURL, "--model", "ref:15m"), nil, 2, "--driver openai takes --endpoint and --model-id, not --model"},
		{"unknown API", oa(simURL, "--api", "grpc"), nil, 2, `--api "grpc": want completions or chat`},
		{"zero stall timeout", oa(simURL, "--stall-timeout", "0s"), nil, 2, "--stall-timeout 0s: must be positive"},
		{"zero response cap", oa(simURL, "--max-response-bytes", "0"), nil, 2, "--max-response-bytes 0: must be positive"},
		{"endpoint not http", oa("ftp://example.com"), nil, 2, `endpoint "ftp://example.com": want an http:// or https:// URL`},
		{"key variable unset", oa(simURL, "--api-key-env", "PIOBENCH_NO_SUCH_VAR"), nil, 2, "environment variable PIOBENCH_NO_SUCH_VAR (named for the API key) is not set"},

		// Files.
		{"missing model file", []string{"run", "--model-path", filepath.Join(dir, "nope.bin")}, nil, 2, "--model-path: no such file or directory"},
		{"model file not a checkpoint", []string{"run", "--model-path", notCkpt, "--benchmark", "loading_time"}, nil, 2, "weights.bin"},
		{"missing dataset", []string{"run", "--benchmark", "accuracy", "--dataset", filepath.Join(dir, "nope.jsonl")}, nil, 2, "nope.jsonl"},
		{"dataset with a broken line", []string{"run", "--benchmark", "accuracy", "--dataset", dataset}, nil, 2, "qa.jsonl:2"},
		{"dataset line without expected", []string{"run", "--benchmark", "accuracy", "--dataset", noExpected}, nil, 2, "noexp.jsonl:1"},
		{"results directory is a file", []string{"run", "--benchmark", "loading_time", "--out", outFile}, nil, 2, "--out " + outFile + ": cannot create the directory"},
		{"save-cases into a missing directory", []string{"run", "--benchmark", "accuracy", "--save-cases", filepath.Join(dir, "no", "such", "cases.jsonl")}, nil, 2, "cases.jsonl"},
		{"import a missing file", []string{"history", "import", "--db", filepath.Join(dir, "h1.db"), filepath.Join(dir, "nope.json")}, nil, 2, "nope.json: no such file or directory"},
		{"import broken JSON", []string{"history", "import", "--db", filepath.Join(dir, "h2.db"), badJSON}, nil, 2, "bad.json:2"},
		{"import CSV with the wrong header", []string{"history", "import", "--db", filepath.Join(dir, "h3.db"), badCSV}, nil, 2, "bad.csv:1: header is"},
		{"import CSV with a word for a value", []string{"history", "import", "--db", filepath.Join(dir, "h4.db"), csvBadValue}, nil, 2, "value.csv:2"},
		{"import an empty file", []string{"history", "import", "--db", filepath.Join(dir, "h5.db"), empty}, nil, 2, "empty.json"},
		{"import mixed units", []string{"history", "import", "--db", filepath.Join(dir, "h6.db"), mixed}, nil, 2, "mixed units in one series"},
		{"report a broken file", []string{"report", badJSON}, nil, 2, "bad.json:2"},
		{"compare with a missing run", []string{"compare", good, "nope", "--db", filepath.Join(dir, "h7.db")}, nil, 2, "nope"},
		{"model folder with bad YAML", []string{"discover", "--dir", filepath.Dir(filepath.Dir(badYAML))}, nil, 2, "model.yaml:2"},
		{"model folder with an unknown driver", []string{"discover", "--dir", filepath.Dir(filepath.Dir(unknownDriver))}, nil, 2, "nosuchdriver"},

		// Servers.
		{"server refuses connections", oa(refused), nil, 2, "cannot reach"},
		{"server refuses the key", oa(keyed, "--api-key-env", "PIOBENCH_BADINPUT_KEY"), nil, 2, "endpoint refused the credentials"},
		{"server serves other models", oa(simURL, "--model-id", "c"), nil, 2, `does not serve model "c"`},
		{"server serves several models", oa(simURL), nil, 2, "serves 2 models (a, b); choose one with --model-id"},
		{"server answers HTML", oa(garbage.URL, "--model-id", "m"), nil, 2, "answer is not a model list"},
		{"every request fails", []string{"load", "--endpoint", failing, "--model-id", "sim", "--requests", "3", "--warmup", "0", "--concurrency", "1", "--max-tokens", "2"}, nil, 1, "all 3 requests failed"},

		// Plugins.
		{"plugin command missing", []string{"run", "--driver", "proc", "--command", "no-such-plugin-binary --flag"}, nil, 2, "no-such-plugin-binary"},
		{"plugin without a command", []string{"run", "--driver", "proc"}, nil, 2, "--command"},
		// A plugin is started when the run starts: its failure is the
		// run's, recorded in the results (exit 1), and the line says why.
		{"plugin prints garbage", []string{"run", "--benchmark", "loading_time", "--driver", "proc", "--command", "sh -c 'echo Loading weights; sleep 30'"}, nil, 1, `handshake: protocol error: stdout line 1: not a JSON object: "Loading weights"`},
		{"plugin colours its stderr", []string{"run", "--benchmark", "loading_time", "--driver", "proc", "--command", `sh -c 'printf "\033[2J\033[31mCUDA error: out of memory\033[0m\n" >&2; exit 3'`}, nil, 1, "CUDA error: out of memory"},
		{"plugin exits at once", []string{"run", "--benchmark", "loading_time", "--driver", "proc", "--command", "sh -c 'echo no GPU >&2; exit 3'"}, nil, 1, "handshake: plugin exited with status 3 (stderr: no GPU)"},

		// Databases.
		{"corrupt history file", []string{"history", "list", "--db", corrupt}, nil, 2, "is not a SQLite database or is corrupt"},
		{"history file locked", []string{"history", "import", "--db", locked, write("other.json", strings.Replace(goodJSON, "good1", "other1", 1))}, []string{"PIOBENCH_DB_TIMEOUT=200ms"}, 2, "is locked by another process"},
		{"history path is a directory", []string{"history", "list", "--db", filepath.Join(dir, "dbdir")}, nil, 2, "is a directory, not a history database"},
		{"no history yet", []string{"history", "list", "--db", filepath.Join(dir, "none.db")}, nil, 2, "no history database at"},
		{"history from a newer piobench", []string{"history", "list", "--db", newer}, nil, 2, "newer than this piobench knows"},
		{"unreachable PostgreSQL", []string{"history", "list", "--db", "postgres://bench@127.0.0.1:1/piobench?sslmode=disable&connect_timeout=2"}, nil, 2, "cannot connect to PostgreSQL at 127.0.0.1:1/piobench"},
		{"malformed PostgreSQL address", []string{"history", "list", "--db", "postgres://bench@127.0.0.1:notaport/x"}, nil, 2, "bad PostgreSQL address"},
		{"run records into a corrupt history", []string{"run", "--benchmark", "loading_time", "--db", corrupt}, nil, 2, "is not a SQLite database or is corrupt"},
	}
	if len(cases) < 40 {
		t.Fatalf("the catalogue has %d cases; it promises at least 40", len(cases))
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, kv := range c.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			out := filepath.Join(dir, fmt.Sprintf("out%d", i))
			args := c.args
			if (c.args[0] == "run" || c.args[0] == "load") && !contains(c.args, "--out") {
				args = append(append([]string(nil), c.args...), "--out", out)
			}
			if (c.args[0] == "run" || c.args[0] == "load") && !contains(c.args, "--quiet") {
				args = append(args, "--quiet")
			}
			var so, se bytes.Buffer
			code := MainWith(context.Background(), args, &so, &se, DefaultConfig())
			all := so.String() + se.String()
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, so.String(), se.String())
			}
			if strings.ContainsAny(se.String(), "\x00\x1b\a\r") || !utf8.ValidString(se.String()) {
				t.Errorf("stderr holds control characters or invalid UTF-8: %q", se.String())
			}
			for _, bad := range []string{"panic", "goroutine ", ".go:", "runtime."} {
				if strings.Contains(all, bad) {
					t.Errorf("output holds %q (a crash or a stack trace):\n%s", bad, all)
				}
			}
			lines := strings.Split(strings.TrimRight(se.String(), "\n"), "\n")
			if c.code == ExitUsage && len(lines) != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", len(lines), se.String())
			}
			msg := lines[len(lines)-1]
			if c.code == ExitFailed {
				msg = se.String()
			}
			if !strings.HasPrefix(lines[0], "piobench: ") {
				t.Errorf("stderr does not start with \"piobench: \": %q", se.String())
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("message %q does not name the problem (%q)", msg, c.want)
			}
			if c.code == ExitUsage {
				if ents, _ := os.ReadDir(out); len(ents) > 0 {
					t.Errorf("a usage error wrote %d files into %s", len(ents), out)
				}
			}
		})
	}
}
