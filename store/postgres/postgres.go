// Package postgres is the history store on a PostgreSQL server, for teams
// that share one history (piobench --db postgres://... or PIOBENCH_DB),
// through jackc/pgx.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// IsDSN reports whether s names a PostgreSQL database rather than a file.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Options tune Open.
type Options struct {
	// ConnectTimeout bounds the first connection (default 5s).
	ConnectTimeout time.Duration
}

// Open connects to the database at dsn (a postgres:// URL) and brings its
// schema up to date. An unreachable server is an error wrapping
// store.ErrUnavailable that names host and port (never the password).
func Open(ctx context.Context, dsn string, opt Options) (store.Store, error) {
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = 5 * time.Second
	}
	where := store.Redact(dsn)
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: bad PostgreSQL address: %v", store.ErrUnavailable, where, errors.Unwrap(err))
	}
	where = fmt.Sprintf("PostgreSQL at %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	ccfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: bad PostgreSQL address: %v", store.ErrUnavailable, where, errors.Unwrap(err))
	}
	ccfg.ConnectTimeout = opt.ConnectTimeout
	db := stdlib.OpenDB(*ccfg)
	db.SetMaxOpenConns(4)
	pctx, cancel := context.WithTimeout(ctx, opt.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: cannot connect to %s: %s", store.ErrUnavailable, where, short(err))
	}
	sub, _ := fs.Sub(migrations, "migrations")
	d := sqlstore.Dialect{
		Name:       "postgres",
		Migrations: sub,
		Dollar:     true,
		// One migrator at a time across processes.
		MigrationLock: `SELECT pg_advisory_xact_lock(7270143605)`,
		// Recording runs takes turns across processes (series are
		// checked, then added).
		WriteLock: `LOCK TABLE series IN SHARE ROW EXCLUSIVE MODE`,
		Classify:  classify,
	}
	return sqlstore.New(ctx, db, d, where)
}

// classify reports lost connections as the database being unavailable.
func classify(err error, where string) error {
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %s: %s", store.ErrUnavailable, where, short(err))
	}
	return nil
}

// short keeps the last part of pgx's long connection messages.
func short(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "failed to connect") {
		return strings.TrimSpace(s[i+2:])
	}
	return s
}
