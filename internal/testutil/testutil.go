// Package testutil holds checks that tests of several packages share.
package testutil

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NoLeaks fails the test if goroutines started during it are still
// running shortly after it (and its other cleanups) finished.
func NoLeaks(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf)
		}
	})
}

// PostgresEnv names the variable that points tests at a PostgreSQL server.
const PostgresEnv = "PIOBENCH_TEST_POSTGRES"

// TempPostgres creates a new, empty database on the server named by
// PIOBENCH_TEST_POSTGRES, drops it when the test ends, and returns its
// URL. Without the variable the test is skipped with one line saying how
// to enable it.
func TempPostgres(t testing.TB, prefix string) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		t.Skip("needs " + PostgresEnv + "=postgres://USER@127.0.0.1:PORT/postgres?sslmode=disable (scripts/start-postgres.sh starts a server and prints the line)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
