package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inference-pio/piobench/store"
)

// TestUpgradeFromVersion1 makes a database of schema version 1 with a run
// in it, opens it (which migrates it to the newest version) and reads the
// run back with its samples.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := fs.ReadFile(migrations, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
		string(v1),
		`INSERT INTO schema_migrations VALUES (1, 'init', 0)`,
		`INSERT INTO runs (id, started_at, fingerprint, environment, config) VALUES ('old', 1, 'f', '{}', 'null')`,
		`INSERT INTO series VALUES ('m', 'b', 'ms')`,
		`INSERT INTO results VALUES ('old', 0, 1, 'm', 'b', 2.5, 'ms', 'performance', 'ok', '{}')`,
		`INSERT INTO samples VALUES ('old', 0, 0, 2.0), ('old', 0, 1, 2.5), ('old', 0, 2, 3.0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(context.Background(), path, Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run, _, err := s.Run(context.Background(), "old")
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := store.Samples(run.Results[0].Metadata)
	if run.Results[0].Value != 2.5 || len(xs) != 3 || xs[2] != 3.0 {
		t.Errorf("after the upgrade: %+v", run.Results[0])
	}
	var v int
	var without string
	raw := s.(interface{ SQL() *sql.DB }).SQL()
	raw.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	raw.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'samples'`).Scan(&without)
	if v != 2 || !strings.Contains(strings.ToUpper(without), "WITHOUT ROWID") {
		t.Errorf("schema version %d, samples table %q", v, without)
	}
}
