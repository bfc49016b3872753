package result

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the guide's CSV header, written and required exactly.
var CSVHeader = []string{"model_name", "benchmark_name", "value", "unit", "category", "timestamp"}

// A SyntaxError is a problem at a place in an input file.
type SyntaxError struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// EncodeJSON writes run as indented JSON.
func EncodeJSON(w io.Writer, run *Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(run)
}

// EncodeCSV writes run's results in the guide's CSV format. A failed
// result's value is empty.
func EncodeCSV(w io.Writer, run *Run) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range run.Results {
		v := ""
		if !r.Failed() {
			v = strconv.FormatFloat(r.Value, 'g', -1, 64)
		}
		if err := cw.Write([]string{r.ModelName, r.BenchmarkName, v, r.Unit, r.Category, FormatTime(r.Timestamp)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// DecodeJSON reads a run written by EncodeJSON. name is used in errors.
// A file holding a single result or an array of results in the guide's
// format is also accepted; it becomes a run without id or environment.
func DecodeJSON(r io.Reader, name string) (*Run, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &SyntaxError{File: name, Msg: err.Error()}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, &SyntaxError{File: name, Msg: "empty file"}
	}
	var run Run
	switch trimmed[0] {
	case '[':
		if err := json.Unmarshal(trimmed, &run.Results); err != nil {
			return nil, jsonError(name, data, err)
		}
	case '{':
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &probe); err != nil {
			return nil, jsonError(name, data, err)
		}
		if _, ok := probe["results"]; !ok {
			var one Result
			if err := json.Unmarshal(trimmed, &one); err != nil {
				return nil, jsonError(name, data, err)
			}
			run.Results = []Result{one}
			break
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&run); err != nil {
			return nil, jsonError(name, data, err)
		}
		if run.SchemaVersion > SchemaVersion {
			return nil, &SyntaxError{File: name, Msg: fmt.Sprintf("schema_version %d is newer than this piobench reads (%d)", run.SchemaVersion, SchemaVersion)}
		}
	default:
		return nil, &SyntaxError{File: name, Line: 1, Msg: "not JSON: want an object or an array"}
	}
	return &run, nil
}

// jsonError turns a decoding error into a SyntaxError with a line number
// where the decoder gives an offset.
func jsonError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if off >= 0 {
		return &SyntaxError{File: name, Line: 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n")), Msg: msg}
	}
	return &SyntaxError{File: name, Msg: msg}
}

// DecodeCSV reads results in the guide's CSV format. The header must be
// exactly CSVHeader. An empty value is a failed result.
func DecodeCSV(r io.Reader, name string) (*Run, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = len(CSVHeader)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &SyntaxError{File: name, Msg: "empty file"}
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	if strings.Join(header, ",") != strings.Join(CSVHeader, ",") {
		return nil, &SyntaxError{File: name, Line: 1, Msg: fmt.Sprintf("header is %q, want %q", strings.Join(header, ","), strings.Join(CSVHeader, ","))}
	}
	run := &Run{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		res := Result{ModelName: rec[0], BenchmarkName: rec[1], Unit: rec[3], Category: rec[4], Metadata: map[string]any{}}
		if res.BenchmarkName == "" {
			return nil, &SyntaxError{File: name, Line: line, Msg: "empty benchmark_name"}
		}
		if rec[2] == "" {
			res.Value = math.NaN()
			res.Metadata["status"] = StatusError
		} else {
			v, err := strconv.ParseFloat(rec[2], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, &SyntaxError{File: name, Line: line, Msg: fmt.Sprintf("value %q is not a finite number", rec[2])}
			}
			res.Value = v
		}
		ts, err := ParseTime(rec[5])
		if err != nil {
			return nil, &SyntaxError{File: name, Line: line, Msg: err.Error()}
		}
		res.Timestamp = ts
		run.Results = append(run.Results, res)
	}
	return run, nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &SyntaxError{File: name, Line: pe.Line, Msg: pe.Err.Error()}
	}
	return &SyntaxError{File: name, Msg: err.Error()}
}

// ReadFile reads a run from a .json or .csv file, chosen by extension.
func ReadFile(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		return DecodeCSV(f, path)
	}
	return DecodeJSON(f, path)
}

// BaseName returns the file name (without extension) for a run: its UTC
// start time and its id, such as "20261127T110023Z_1f3a9c2e". An id read
// from a file that is not safe as a file name is made safe (SafeFileName).
func BaseName(run *Run) string {
	return time.Time(run.StartedAt).UTC().Format("20060102T150405Z") + "_" + SafeFileName(run.RunID)
}

// WriteFiles writes run as JSON and CSV into dir, creating dir if needed.
// Each file is written to a temporary file and renamed, so a reader never
// sees half a file. It returns the two paths.
func WriteFiles(dir string, run *Run) (jsonPath, csvPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("output directory: %w", err)
	}
	base := filepath.Join(dir, BaseName(run))
	jsonPath, csvPath = base+".json", base+".csv"
	var jb, cb bytes.Buffer
	if err := EncodeJSON(&jb, run); err != nil {
		return "", "", err
	}
	if err := EncodeCSV(&cb, run); err != nil {
		return "", "", err
	}
	if err := WriteAtomic(jsonPath, jb.Bytes()); err != nil {
		return "", "", err
	}
	if err := WriteAtomic(csvPath, cb.Bytes()); err != nil {
		os.Remove(jsonPath)
		return "", "", err
	}
	return jsonPath, csvPath, nil
}

// WriteAtomic writes data to path through a temporary file in the same
// directory, synced and renamed into place.
func WriteAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o644) // CreateTemp makes files only their owner can read
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
