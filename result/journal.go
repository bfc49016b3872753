package result

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// A Journal is an append-only log of a run in progress: a header line with
// the run (id, start time, environment, configuration) and then one line per
// finished result, each synced to disk before Append returns. After a crash
// the journal holds every result that finished, so the run can be resumed.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// journalLine is one line of a journal.
type journalLine struct {
	Type   string  `json:"type"` // "run" or "result"
	Run    *Run    `json:"run,omitempty"`
	Result *Result `json:"result,omitempty"`
}

// JournalPath returns the journal's path for run in dir: the same base name
// as the final files, with the extension .jsonl.
func JournalPath(dir string, run *Run) string {
	return filepath.Join(dir, BaseName(run)+".jsonl")
}

// CreateJournal starts a journal for run (its results are not written;
// append them). An existing file is an error, so two runs never share one.
func CreateJournal(path string, run *Run) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	j := &Journal{f: f, path: path}
	head := *run
	head.Results = nil
	if err := j.write(journalLine{Type: "run", Run: &head}); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return j, nil
}

// OpenJournal reopens an existing journal to append more results.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return &Journal{f: f, path: path}, nil
}

// Path returns where the journal is.
func (j *Journal) Path() string { return j.path }

// Append writes r and syncs it to disk.
func (j *Journal) Append(r Result) error {
	return j.write(journalLine{Type: "result", Result: &r})
}

func (j *Journal) write(l journalLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal is closed")
	}
	if _, err := j.f.Write(b); err != nil {
		return err
	}
	return j.f.Sync()
}

// Close closes the journal file. It is safe to call more than once.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// ReadJournal reads a journal back into a run holding the results that
// finished. A last line cut short by a crash is ignored; any other bad line
// is an error naming the file and line.
func ReadJournal(path string) (*Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeJournal(bytes.NewReader(data), path)
}

// DecodeJournal reads a journal from r; name is used in errors.
func DecodeJournal(r io.Reader, name string) (*Run, error) {
	br := bufio.NewReader(r)
	var run *Run
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, &SyntaxError{File: name, Line: line, Msg: err.Error()}
		}
		complete := len(b) > 0 && b[len(b)-1] == '\n'
		if len(bytes.TrimSpace(b)) > 0 {
			var l journalLine
			if jerr := json.Unmarshal(b, &l); jerr != nil {
				if !complete && err == io.EOF {
					break // the write in progress when the process died
				}
				return nil, &SyntaxError{File: name, Line: line, Msg: "bad journal line: " + jerr.Error()}
			}
			switch {
			case run == nil && l.Type == "run" && l.Run != nil:
				run = l.Run
				run.Results = nil
			case run == nil:
				return nil, &SyntaxError{File: name, Line: line, Msg: "not a piobench journal (no run header)"}
			case l.Type == "result" && l.Result != nil:
				run.Results = append(run.Results, *l.Result)
			default:
				return nil, &SyntaxError{File: name, Line: line, Msg: fmt.Sprintf("unexpected journal entry %q", l.Type)}
			}
		}
		if err == io.EOF {
			break
		}
	}
	if run == nil {
		return nil, &SyntaxError{File: name, Msg: "empty journal"}
	}
	return run, nil
}
