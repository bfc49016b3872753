package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/sqlite"
	"github.com/inference-pio/piobench/store/storetest"
)

func open(t *testing.T, path string, opt sqlite.Options) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "sub", "history.db"), sqlite.Options{})
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := open(t, path, sqlite.Options{})
	if err := s.SaveRun(context.Background(), storetest.MakeRun("a", time.Now(), "m", 1, "x"), store.RunMeta{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path, sqlite.Options{MustExist: true})
	defer s.Close()
	rs, err := s.Runs(context.Background(), store.RunQuery{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("after reopening: %v %v", rs, err)
	}
}

func TestMustExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.db")
	_, err := sqlite.Open(context.Background(), path, sqlite.Options{MustExist: true})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "no history database at "+path) {
		t.Errorf("err = %v", err)
	}
	if _, serr := os.Stat(path); serr == nil {
		t.Errorf("MustExist created %s", path)
	}
}

func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"garbage.db":   []byte(strings.Repeat("this is not a database\n", 200)),
		"truncated.db": nil,
	} {
		path := filepath.Join(dir, name)
		if data == nil {
			// A real database cut short.
			src := filepath.Join(dir, "src.db")
			s := open(t, src, sqlite.Options{})
			s.SaveRun(context.Background(), storetest.MakeRun("a", time.Now(), "m", 1, "x"), store.RunMeta{})
			s.Close()
			b, _ := os.ReadFile(src)
			data = b[:len(b)/3]
			if len(data) < 100 {
				data = append(b[:100:100], make([]byte, 4000)...)
			}
			copy(data[16:], []byte{0xff, 0xff, 0xff}) // a bad page size
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), path+" is not a SQLite database or is corrupt") {
			t.Errorf("%s: err = %v", name, err)
		}
		if after, _ := os.ReadFile(path); string(after) != string(data) {
			t.Errorf("%s: the file was changed", name)
		}
	}
	if _, err := sqlite.Open(context.Background(), dir, sqlite.Options{}); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}

// TestLocked holds the write lock from another connection (as another
// process would) and checks that a write fails as locked after the busy
// timeout, writing nothing.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := open(t, path, sqlite.Options{BusyTimeout: 200 * time.Millisecond})
	defer s.Close()
	if err := s.SaveRun(context.Background(), storetest.MakeRun("before", time.Now(), "m", 1, "x"), store.RunMeta{}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.SaveRun(context.Background(), storetest.MakeRun("during", time.Now(), "m", 1, "x"), store.RunMeta{})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "is locked by another process") {
		t.Fatalf("SaveRun while locked = %v", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("gave up after %v, before the busy timeout", waited)
	}
	// A second process opening the locked file fails the same way.
	if _, err := sqlite.Open(context.Background(), path, sqlite.Options{BusyTimeout: 100 * time.Millisecond}); err != nil && !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("open while locked: %v", err)
	}
	conn.ExecContext(context.Background(), "ROLLBACK")
	rs, err := s.Runs(context.Background(), store.RunQuery{})
	if err != nil || len(rs) != 1 || rs[0].ID != "before" {
		t.Errorf("after the lock: %v %v", rs, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	open(t, path, sqlite.Options{}).Close()
	db, _ := sql.Open("sqlite", path)
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "schema version 99") {
		t.Errorf("err = %v", err)
	}
}

// BenchmarkRecord10000 records one run of 10,000 results, each with ten
// samples, into a new SQLite file: the target is under 2 s. Only SaveRun
// is timed (ns/op).
func BenchmarkRecord10000(b *testing.B) {
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("bench_%05d", i)
	}
	run := storetest.MakeRun("big", time.Now(), "m", 100, names...)
	for i := range run.Results {
		xs := make([]float64, 10)
		for j := range xs {
			xs[j] = 100 + float64(j)
		}
		run.Results[i].Metadata["samples"] = xs
	}
	b.ReportAllocs()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "h.db")
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.SaveRun(context.Background(), run, store.RunMeta{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
	}
}
