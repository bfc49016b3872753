// Package python holds piobench's Python plugin helper,
// piobench_plugin.py, so that the piobench binary can hand it to the
// plugins it starts: a plugin can `import piobench_plugin` without a copy
// of its own.
package python

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Helper is the source of piobench_plugin.py.
//
//go:embed piobench_plugin.py
var Helper []byte

// HelperDir writes piobench_plugin.py into a directory of its own under
// the temporary directory (once per version of the helper) and returns
// that directory, for PYTHONPATH.
func HelperDir() (string, error) {
	sum := sha256.Sum256(Helper)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("piobench-python-%d-%s", os.Getuid(), hex.EncodeToString(sum[:6])))
	path := filepath.Join(dir, "piobench_plugin.py")
	if b, err := os.ReadFile(path); err == nil && string(b) == string(Helper) {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".piobench_plugin-*.py")
	if err != nil {
		return "", err
	}
	if _, err := tmp.Write(Helper); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return dir, nil
}
