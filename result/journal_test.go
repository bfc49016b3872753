package result

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJournal(t *testing.T) {
	dir := t.TempDir()
	run := sampleRun()
	path := JournalPath(dir, run)
	j, err := CreateJournal(path, run)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range run.Results {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	if _, err := CreateJournal(path, run); err == nil {
		t.Error("a second journal over the first was created")
	}
	back, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.RunID != run.RunID || len(back.Results) != 2 || !back.Results[1].Failed() || back.Results[0].Value != 321.5 {
		t.Fatalf("read back %+v", back)
	}

	// A crash in the middle of a write leaves half a line: ignored.
	data, _ := os.ReadFile(path)
	cut := filepath.Join(dir, "cut.jsonl")
	os.WriteFile(cut, data[:len(data)-20], 0o644)
	back, err = ReadJournal(cut)
	if err != nil || len(back.Results) != 1 {
		t.Errorf("torn last line: %v, %d results; want the 1 whole one", err, len(back.Results))
	}

	// Damage anywhere else is an error naming the line.
	lines := strings.SplitAfter(string(data), "\n")
	lines[1] = "{garbage\n"
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(strings.Join(lines, "")), 0o644)
	if _, err := ReadJournal(bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2:") {
		t.Errorf("damaged line: %v", err)
	}
	notJournal := filepath.Join(dir, "x.jsonl")
	os.WriteFile(notJournal, []byte(`{"type":"result","result":{"benchmark_name":"a","value":1}}`+"\n"), 0o644)
	if _, err := ReadJournal(notJournal); err == nil || !strings.Contains(err.Error(), "no run header") {
		t.Errorf("no header: %v", err)
	}
}
