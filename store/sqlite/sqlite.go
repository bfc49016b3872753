// Package sqlite is the history store in one SQLite file (the default,
// benchmark_results/history.db), through a pure-Go driver: no cgo. The
// file is in WAL mode, so readers never wait for a writer, and a writer
// waits up to the busy timeout for another.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite"

	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open.
type Options struct {
	// BusyTimeout is how long a write waits for another process's write
	// to finish before failing as locked (default 5s).
	BusyTimeout time.Duration
	// MustExist refuses to create a new file (for commands that only
	// read).
	MustExist bool
}

// Open opens (creating if needed, with its directory) the SQLite history
// at path and brings its schema up to date.
func Open(ctx context.Context, path string, opt Options) (store.Store, error) {
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = 5 * time.Second
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("%w: %s is a directory, not a history database", store.ErrUnavailable, path)
	case errors.Is(err, fs.ErrNotExist) && opt.MustExist:
		return nil, fmt.Errorf("%w: no history database at %s (record one with piobench run or piobench history import, or give --db)", store.ErrUnavailable, path)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("%w: %s: cannot create its directory: %v", store.ErrUnavailable, path, errors.Unwrap(err))
		}
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v", store.ErrUnavailable, path, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opt.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// A page cache of up to 64 MiB and memory-mapped reads: whole
	// histories are read in one go.
	q.Add("_pragma", "cache_size(-65536)")
	q.Add("_pragma", "mmap_size(268435456)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", store.ErrUnavailable, path, err)
	}
	db.SetMaxOpenConns(1)
	sub, _ := fs.Sub(migrations, "migrations")
	d := sqlstore.Dialect{Name: "sqlite", Migrations: sub, Classify: classify(opt.BusyTimeout), Busy: busy, RetryFor: opt.BusyTimeout}
	if err := sqlstore.Retry(ctx, busy, opt.BusyTimeout, func() error { return db.PingContext(ctx) }); err != nil {
		db.Close()
		return nil, classify(opt.BusyTimeout)(err, path)
	}
	return sqlstore.New(ctx, db, d, path)
}

// busy reports whether err means another connection holds the database
// for now (SQLITE_BUSY or SQLITE_LOCKED).
func busy(err error) bool {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == 5 || c == 6
	}
	return strings.Contains(err.Error(), "database is locked")
}

// classify turns SQLite's errors into store errors with a plain message.
func classify(busy time.Duration) func(err error, where string) error {
	return func(err error, where string) error {
		var se *sqlite3.Error
		if !errors.As(err, &se) {
			if strings.Contains(err.Error(), "database is locked") {
				return fmt.Errorf("%w: %s is locked by another process (waited %v)", store.ErrUnavailable, where, busy)
			}
			return nil
		}
		switch se.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return fmt.Errorf("%w: %s is locked by another process (waited %v)", store.ErrUnavailable, where, busy)
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return fmt.Errorf("%w: %s is not a SQLite database or is corrupt", store.ErrUnavailable, where)
		case 14: // SQLITE_CANTOPEN
			return fmt.Errorf("%w: %s cannot be opened", store.ErrUnavailable, where)
		case 8: // SQLITE_READONLY
			return fmt.Errorf("%w: %s is read-only", store.ErrUnavailable, where)
		case 13: // SQLITE_FULL
			return fmt.Errorf("%w: %s: the disk is full", store.ErrUnavailable, where)
		case 10: // SQLITE_IOERR
			return fmt.Errorf("%w: %s: I/O error: %v", store.ErrUnavailable, where, se)
		}
		return nil
	}
}
