package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/postgres"
)

// Recording: every `piobench run` records its run in the history database
// (history.db in the --out directory, or --db, or PIOBENCH_DB) unless
// --no-history. A database that exists (or a server) is opened before
// anything runs, so that a locked, corrupt or unreachable one stops the run
// at once (exit 2); a new SQLite file is created only when the run is
// recorded. Interrupted runs are not recorded (resuming them records them).

const historyHook = "history"

type historyState struct {
	noHistory bool
	db        string
	where     string
	st        store.Store
}

// runCapture, in a run's context, asks the history hook to hand the run
// over instead of recording it (piobench ci records after comparing).
type runCapture struct {
	run   *result.Run
	files []string
}

type runCaptureKey struct{}

func withRunCapture(ctx context.Context, c *runCapture) context.Context {
	return context.WithValue(ctx, runCaptureKey{}, c)
}

func captureOf(ctx context.Context) *runCapture {
	c, _ := ctx.Value(runCaptureKey{}).(*runCapture)
	return c
}

func init() {
	addRunHook(runHook{
		name: historyHook,
		addFlags: func(fl *pflag.FlagSet, f *runFlags) {
			st := &historyState{}
			f.ext[historyHook] = st
			fl.BoolVar(&st.noHistory, "no-history", false, "do not record this run in the history database")
			fl.StringVar(&st.db, "db", "", "history database: a SQLite file or postgres://... (default $PIOBENCH_DB or history.db in --out)")
		},
		check: func(_ Config, f *runFlags) error {
			st := historyOf(f)
			if st != nil && st.noHistory && st.db != "" {
				return fmt.Errorf("--db and --no-history cannot be used together")
			}
			return nil
		},
		begin: beginHistory,
		end:   endHistory,
	})
}

func historyOf(f *runFlags) *historyState {
	st, _ := f.ext[historyHook].(*historyState)
	return st
}

func beginHistory(ctx context.Context, _ Config, f *runFlags, _ *result.Run) error {
	st := historyOf(f)
	if st == nil || st.noHistory || captureOf(ctx) != nil {
		return nil
	}
	st.where = st.db
	if st.where == "" {
		st.where = defaultDB(f.out)
	}
	if !postgres.IsDSN(st.where) {
		if _, err := os.Stat(st.where); errors.Is(err, fs.ErrNotExist) {
			return nil // created when the run is recorded
		}
	}
	s, err := openStore(ctx, st.where, false)
	if err != nil {
		return err
	}
	st.st = s
	return nil
}

func endHistory(ctx context.Context, _ Config, f *runFlags, run *result.Run, files []string, stdout, _ io.Writer) error {
	if c := captureOf(ctx); c != nil {
		c.run, c.files = run, files
		return nil
	}
	st := historyOf(f)
	if st == nil || st.noHistory {
		return nil
	}
	if run.Config["interrupted"] == true {
		if st.st != nil {
			st.st.Close()
		}
		fmt.Fprintf(stdout, "not recorded in the history: the run was interrupted (resume it to record it)\n")
		return nil
	}
	if st.st == nil {
		s, err := openStore(ctx, st.where, false)
		if err != nil {
			return err
		}
		st.st = s
	}
	defer st.st.Close()
	err := st.st.SaveRun(ctx, run, store.RunMeta{Source: "run", Branch: currentBranch(ctx)})
	if errors.Is(err, store.ErrExists) {
		fmt.Fprintf(stdout, "run %s is already in the history %s\n", run.RunID, store.Redact(st.where))
		return nil
	}
	if err != nil {
		return storeUsage(fmt.Errorf("the results are in the files above, but %w", err))
	}
	fmt.Fprintf(stdout, "recorded run %s in %s\n", run.RunID, store.Redact(st.where))
	return nil
}
