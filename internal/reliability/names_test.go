package reliability

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/proc"
)

// TestPluginNamesBecomeSafeLogNames starts plugins whose names (which
// name their stderr log files) try to leave the temporary directory, hold
// NUL or are too long for a file name: each starts, answers, and logs to
// a plain file in the temporary directory.
func TestPluginNamesBecomeSafeLogNames(t *testing.T) {
	for _, name := range []string{"../../x", "a\x00b", strings.Repeat("long-plugin-name-", 30), "/etc/cron.d/x", ".hidden"} {
		m, err := proc.New(proc.Config{Argv: []string{badPlugin}, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Load(context.Background()); err != nil {
			t.Errorf("plugin named %q: %v", name, err)
			continue
		}
		if _, err := m.Infer(context.Background(), model.Request{Prompt: "hi", MaxTokens: 1}); err != nil {
			t.Errorf("plugin named %q: %v", name, err)
		}
		log := m.LogPath()
		m.Close()
		base := filepath.Base(log)
		if filepath.Dir(log) != filepath.Clean(os.TempDir()) || len(base) > 160 || strings.ContainsRune(base, 0) || strings.HasPrefix(base, ".") {
			t.Errorf("plugin named %q logs to %q", name, log)
		}
		os.Remove(log)
	}
}
