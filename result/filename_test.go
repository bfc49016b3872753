package result

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSafeFileName(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		in       string
		want     string // exact, when not ""
		prefix   string // else: the name starts with this
		mustDiff string // and differs from this
	}{
		{in: "ref_15m", want: "ref_15m"},
		{in: "1f3a9c2e", want: "1f3a9c2e"},
		{in: "llama-3.1-8b", want: "llama-3.1-8b"},
		{in: "../../x", prefix: "_._.._x-"},
		{in: "a/b", prefix: "a_b-", mustDiff: "a_b"},
		{in: "a\x00b", prefix: "a_b-"},
		{in: "..", prefix: "_-"},
		{in: ".", prefix: "_-"},
		{in: ".hidden", prefix: "_hidden-"},
		{in: "", prefix: "unnamed-"},
		{in: "C:\\Windows\\x", prefix: "C__Windows_x-"},
		{in: "ref:15m", prefix: "ref_15m-"},
		{in: "name.", prefix: "name-"},
		{in: "\xff\xfe", prefix: "__-"},
		{in: "модель", prefix: "______-"},
		{in: long, prefix: strings.Repeat("x", 91) + "-"},
	}
	seen := map[string]string{}
	for _, c := range cases {
		got := SafeFileName(c.in)
		if c.want != "" && got != c.want {
			t.Errorf("SafeFileName(%q) = %q, want %q", c.in, got, c.want)
		}
		if c.prefix != "" && !strings.HasPrefix(got, c.prefix) {
			t.Errorf("SafeFileName(%q) = %q, want it to start with %q", c.in, got, c.prefix)
		}
		if c.mustDiff != "" && got == SafeFileName(c.mustDiff) {
			t.Errorf("SafeFileName(%q) = SafeFileName(%q) = %q", c.in, c.mustDiff, got)
		}
		if len(got) == 0 || len(got) > 100 || strings.ContainsAny(got, "/\\\x00:") || got[0] == '.' || got != filepath.Base(got) {
			t.Errorf("SafeFileName(%q) = %q: not a safe path element", c.in, got)
		}
		if other, ok := seen[got]; ok && other != c.in {
			t.Errorf("%q and %q both became %q", other, c.in, got)
		}
		seen[got] = c.in
	}
}

// TestWriteFilesStaysInDir writes runs whose ids came from a crafted file:
// every file lands inside the directory, with a usable name.
func TestWriteFilesStaysInDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	for _, id := range []string{"../../escape", "a/b", "nul\x00id", strings.Repeat("long", 100), "..", ""} {
		run := &Run{SchemaVersion: SchemaVersion, RunID: id, StartedAt: Time(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), Results: []Result{}}
		jp, cp, err := WriteFiles(dir, run)
		if err != nil {
			t.Fatalf("run id %q: %v", id, err)
		}
		for _, p := range []string{jp, cp, JournalPath(dir, run)} {
			if filepath.Dir(p) != dir {
				t.Errorf("run id %q: file %s is outside %s", id, p, dir)
			}
			if len(filepath.Base(p)) > 200 {
				t.Errorf("run id %q: file name of %d bytes", id, len(filepath.Base(p)))
			}
		}
		back, err := ReadFile(jp)
		if err != nil {
			t.Fatal(err)
		}
		if back.RunID != id && !(id == "" || strings.ContainsRune(id, 0)) {
			t.Errorf("run id %q read back as %q", id, back.RunID)
		}
	}
	// Nothing was written outside out/.
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 {
		t.Errorf("%s holds %d entries, want only out/", root, len(ents))
	}
}
