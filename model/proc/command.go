package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// SplitCommand turns a command line into argv the way a POSIX shell splits
// words: blanks separate words, single quotes keep everything literal,
// double quotes keep blanks (and let \" \\ \$ \` through), and a backslash
// outside quotes escapes the next character. A command that uses the
// shell beyond that (pipes, redirections, variables, ;, &&) is run by
// /bin/sh -c instead, so it works as typed.
func SplitCommand(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		shellly bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated ' quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				} else if s[i] == '$' || s[i] == '`' {
					shellly = true
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated \" quote")
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("a backslash at the end")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case strings.IndexByte("|&;<>()$`*?[", c) >= 0 || ((c == '#' || c == '~') && !inWord):
			shellly = true
			cur.WriteByte(c)
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	if shellly {
		return []string{"/bin/sh", "-c", s}, nil
	}
	return words, nil
}

// CheckCommand checks, before anything runs, that argv's program exists
// (relative to dir for a path) and, for an interpreter given a script, that
// the script exists. The error names what is missing.
func CheckCommand(argv []string, dir string) error {
	if len(argv) == 0 {
		return errors.New("empty command")
	}
	prog := argv[0]
	if strings.Contains(prog, "/") {
		p := prog
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s: no such file", prog)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s: not an executable file", prog)
		}
	} else if _, err := exec.LookPath(prog); err != nil {
		return fmt.Errorf("%s: not found on the PATH", prog)
	}
	if isInterpreter(prog) {
		for _, a := range argv[1:] {
			if strings.HasPrefix(a, "-") {
				if a == "-m" || a == "-c" {
					return nil // a module or inline code: nothing to check
				}
				continue
			}
			p := a
			if !filepath.IsAbs(p) && dir != "" {
				p = filepath.Join(dir, p)
			}
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("%s: no such file", a)
			}
			return nil
		}
	}
	return nil
}

func isInterpreter(prog string) bool {
	base := filepath.Base(prog)
	for _, p := range []string{"python", "node", "ruby", "perl", "bash", "sh", "Rscript", "julia"} {
		if base == p || strings.HasPrefix(base, p+"3") || strings.HasPrefix(base, p+"2") || strings.HasPrefix(base, p+"-") {
			return true
		}
	}
	return false
}

// defaultName names a plugin after its script (my_plugin for
// "python3 my_plugin.py") or, failing that, its program.
func defaultName(argv []string) string {
	if len(argv) >= 3 && argv[0] == "/bin/sh" && argv[1] == "-c" {
		if inner, err := SplitCommand(strings.Map(func(r rune) rune {
			if strings.ContainsRune("|&;<>()$`", r) {
				return ' '
			}
			return r
		}, argv[2])); err == nil {
			return defaultName(inner)
		}
	}
	for _, a := range argv[1:] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		ext := filepath.Ext(a)
		switch ext {
		case ".py", ".js", ".mjs", ".rb", ".pl", ".sh", ".R", ".jl", ".lua":
			return strings.TrimSuffix(filepath.Base(a), ext)
		}
	}
	if len(argv) == 0 {
		return "plugin"
	}
	return filepath.Base(argv[0])
}
