package discover

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxDepth bounds how deep benchmark files may be nested inside a
// unit, integration or performance folder.
const maxDepth = 8

// walker walks a models tree, refusing symlinks that lead outside it,
// symlink loops and very deep nesting.
type walker struct {
	root string // real (symlink-free) path of the tree
	errs *ErrorList
}

func (w *walker) errorf(path, format string, args ...any) {
	*w.errs = append(*w.errs, &Error{Pos: Pos{File: path}, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows path when it is a symlink and checks that the target is
// inside the tree. It returns the real path and the target's FileInfo.
func (w *walker) resolve(path string) (string, os.FileInfo, bool) {
	li, err := os.Lstat(path)
	if err != nil {
		w.errorf(path, "%v", unwrapPath(err))
		return "", nil, false
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if li.Mode()&os.ModeSymlink != 0 {
			if strings.Contains(err.Error(), "too many links") {
				w.errorf(path, "symlink loop")
			} else {
				w.errorf(path, "broken symlink: %v", unwrapPath(err))
			}
			return "", nil, false
		}
		w.errorf(path, "%v", unwrapPath(err))
		return "", nil, false
	}
	real, _ = filepath.Abs(real)
	if li.Mode()&os.ModeSymlink != 0 && !within(w.root, real) {
		target, _ := os.Readlink(path)
		w.errorf(path, "symlink points outside the models tree (to %s)", target)
		return "", nil, false
	}
	fi, err := os.Stat(real)
	if err != nil {
		w.errorf(path, "%v", unwrapPath(err))
		return "", nil, false
	}
	return real, fi, true
}

// within reports whether path is root or inside it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// entries lists a directory, sorted by name, without hidden entries.
func (w *walker) entries(dir string) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		w.errorf(dir, "%v", unwrapPath(err))
		return nil
	}
	var names []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names
}

// yamlFiles returns the YAML files under dir (already resolved to real),
// recursing into sub-folders up to maxDepth.
func (w *walker) yamlFiles(dir, real string) []string {
	var out []string
	var walk func(dir, real string, depth int, stack []string)
	walk = func(dir, real string, depth int, stack []string) {
		stack = append(stack, real)
		if depth > maxDepth {
			w.errorf(dir, "folders nested more than %d deep", maxDepth)
			return
		}
		for _, name := range w.entries(dir) {
			p := filepath.Join(dir, name)
			r, fi, ok := w.resolve(p)
			if !ok {
				continue
			}
			switch {
			case fi.IsDir() && (within(r, real) || contains(stack, r)):
				// A link to this folder, one that holds it, or one the
				// walk came through.
				w.errorf(p, "symlink loop: the link leads back to a folder already being read")
			case fi.IsDir():
				walk(p, r, depth+1, stack)
			case isYAML(name) && fi.Mode().IsRegular():
				out = append(out, p)
			case isYAML(name):
				w.errorf(p, "not a regular file")
			}
		}
	}
	walk(dir, real, 0, nil)
	return out
}

func isYAML(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// readFile reads a configuration file, refusing large ones.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// unwrapPath drops the operation and path that os errors repeat, since
// messages already start with the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
