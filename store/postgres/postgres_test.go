package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/postgres"
	"github.com/inference-pio/piobench/store/storetest"
)

// serverDSN returns the test server's address or skips the test.
func serverDSN(t testing.TB) string {
	dsn := os.Getenv("PIOBENCH_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("PostgreSQL tests need a server: set PIOBENCH_TEST_POSTGRES=postgres://USER@127.0.0.1:PORT/postgres?sslmode=disable (scripts/start-postgres.sh starts one and prints the line)")
	}
	return dsn
}

// freshDatabase creates an empty database on the test server, dropped when
// the test ends, and returns its address.
func freshDatabase(t testing.TB) string {
	admin := serverDSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PIOBENCH_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "piobench_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestConformance(t *testing.T) {
	serverDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), freshDatabase(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMigrateTwiceConcurrently opens the same new database from several
// goroutines at once: the advisory lock lets one migrate, the others see
// the schema done.
func TestMigrateTwiceConcurrently(t *testing.T) {
	dsn := freshDatabase(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	// Nothing listens on port 1 of the loopback address.
	start := time.Now()
	_, err := postgres.Open(context.Background(), "postgres://bob:secret@127.0.0.1:1/history?sslmode=disable", postgres.Options{ConnectTimeout: 2 * time.Second})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot connect to PostgreSQL at 127.0.0.1:1/history") || strings.Contains(msg, "secret") || strings.Contains(msg, "\n") {
		t.Errorf("message %q: want one line naming host, port and database, without the password", msg)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if _, err := postgres.Open(context.Background(), "postgres://127.0.0.1:notaport/x", postgres.Options{}); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "bad PostgreSQL address") {
		t.Errorf("bad address: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://bob:secret@db:5432/x": "postgres://bob:xxxxx@db:5432/x",
		"postgres://bob@db/x":             "postgres://bob@db/x",
		"history.db":                      "history.db",
	} {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
