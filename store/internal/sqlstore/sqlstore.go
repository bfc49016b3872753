package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
)

// A Dialect is what differs between SQL databases.
type Dialect struct {
	Name string
	// Migrations holds NNNN_name.sql files.
	Migrations fs.FS
	// Dollar placeholders ($1, $2) instead of ?.
	Dollar bool
	// MigrationLock, when set, runs first in each migration's transaction
	// (an advisory lock, so that two processes do not migrate at once).
	MigrationLock string
	// WriteLock, when set, runs first in each transaction that records
	// runs, so that writers from several processes take turns: without it
	// two that add the same new series at once collide on its key.
	WriteLock string
	// Classify turns a driver error into one that wraps a store error
	// where it means one (such as store.ErrUnavailable); nil keeps err.
	Classify func(err error, where string) error
	// Busy, when set, recognises errors that mean another process holds
	// the database for now; a transaction that fails so is retried, with
	// growing pauses, for up to RetryFor. (SQLite's own busy timeout does
	// not cover every case, such as a connection switching to WAL or
	// recovering it while another opens the file.)
	Busy     func(err error) bool
	RetryFor time.Duration
}

// DB is a store.Store over database/sql.
type DB struct {
	db    *sql.DB
	d     Dialect
	where string // the database, for messages (no password)
}

var _ store.Store = (*DB)(nil)

// New wraps db, migrating its schema. where names the database in
// messages. On error db is closed.
func New(ctx context.Context, db *sql.DB, d Dialect, where string) (*DB, error) {
	s := &DB{db: db, d: d, where: where}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// SQL returns the underlying database, for tests.
func (s *DB) SQL() *sql.DB { return s.db }

// Close implements store.Store.
func (s *DB) Close() error { return s.db.Close() }

// q rewrites ? placeholders for the dialect.
func (s *DB) q(query string) string {
	if !s.d.Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// wrap adds what was being done and classifies driver errors.
func (s *DB) wrap(err error, doing string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrNotFound) {
		return err
	}
	if s.d.Classify != nil {
		if c := s.d.Classify(err, s.where); c != nil {
			return c
		}
	}
	return fmt.Errorf("%s: %s: %w", s.where, doing, err)
}

// inTx runs fn in a transaction, retrying the whole transaction while the
// dialect says the database is busy (fn must only touch the database).
func (s *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return Retry(ctx, s.d.Busy, s.d.RetryFor, func() error { return s.tx(ctx, fn) })
}

func (s *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Retry calls fn until it succeeds, fails with an error busy does not
// recognise, ctx ends or the time is up, pausing 5 ms, 10 ms, ... up to
// 200 ms between calls. It returns fn's last error.
func Retry(ctx context.Context, busy func(error) bool, within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	pause := 5 * time.Millisecond
	for {
		err := fn()
		if err == nil || busy == nil || !busy(err) || time.Now().Add(pause).After(deadline) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// insertRows inserts rows in multi-row statements of at most chunk rows.
func (s *DB) insertRows(ctx context.Context, tx *sql.Tx, head string, cols int, rows [][]any, chunk int) error {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, chunk*cols)
	for start := 0; start < len(rows); start += chunk {
		end := min(start+chunk, len(rows))
		args = args[:0]
		for _, r := range rows[start:end] {
			args = append(args, r...)
		}
		n := end - start
		if n == chunk {
			if full == nil {
				st, err := tx.PrepareContext(ctx, s.q(head+" VALUES "+strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")))
				if err != nil {
					return err
				}
				full = st
			}
			if _, err := full.ExecContext(ctx, args...); err != nil {
				return err
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(head+" VALUES "+strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")), args...); err != nil {
			return err
		}
	}
	return nil
}

// SaveRun implements store.Store.
func (s *DB) SaveRun(ctx context.Context, run *result.Run, meta store.RunMeta) error {
	return s.SaveRuns(ctx, []*result.Run{run}, meta)
}

// runRows is a run ready to insert.
type runRows struct {
	run              *result.Run
	env, cfg         string
	finished         int64
	results, samples [][]any
}

func prepareRun(run *result.Run) (*runRows, error) {
	if run.RunID == "" {
		return nil, fmt.Errorf("%w: run without an id", store.ErrInvalid)
	}
	if err := store.CheckUnits(run); err != nil {
		return nil, err
	}
	env, err := json.Marshal(run.Environment)
	if err != nil {
		return nil, err
	}
	cfg := []byte("null")
	if run.Config != nil {
		if cfg, err = store.MetadataJSON(run.Config); err != nil {
			return nil, fmt.Errorf("%w: run config: %v", store.ErrInvalid, err)
		}
	}
	rr := &runRows{run: run, env: string(env), cfg: string(cfg)}
	for i, r := range run.Results {
		mj, err := store.MetadataJSON(r.Metadata)
		if err != nil {
			return nil, fmt.Errorf("%w: result %d (%s/%s) metadata: %v", store.ErrInvalid, i+1, r.ModelName, r.BenchmarkName, err)
		}
		var v any
		status := result.StatusOK
		if r.Failed() {
			status = result.StatusError
		} else {
			v = r.Value
		}
		rr.results = append(rr.results, []any{run.RunID, i, nanos(r.Timestamp), r.ModelName, r.BenchmarkName, v, r.Unit, r.Category, status, string(mj)})
		if xs, ok := store.Samples(r.Metadata); ok {
			for j, x := range xs {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return nil, fmt.Errorf("%w: result %d (%s/%s): sample %d is %v", store.ErrInvalid, i+1, r.ModelName, r.BenchmarkName, j+1, x)
				}
				rr.samples = append(rr.samples, []any{run.RunID, i, j, x})
			}
		}
	}
	if run.FinishedAt != nil {
		rr.finished = nanos(time.Time(*run.FinishedAt))
	}
	return rr, nil
}

// SaveRuns implements store.Store.
func (s *DB) SaveRuns(ctx context.Context, runs []*result.Run, meta store.RunMeta) error {
	if len(runs) == 0 {
		return nil
	}
	var prepared []*runRows
	ids := map[string]bool{}
	for _, run := range runs {
		rr, err := prepareRun(run)
		if err != nil {
			return err
		}
		if ids[run.RunID] {
			return fmt.Errorf("%w: run %s given twice", store.ErrExists, run.RunID)
		}
		ids[run.RunID] = true
		prepared = append(prepared, rr)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.WriteLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.WriteLock); err != nil {
				return err
			}
		}
		if err := s.checkSeries(ctx, tx, runs); err != nil {
			return err
		}
		for _, rr := range prepared {
			run := rr.run
			var one int
			err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM runs WHERE id = ?`), run.RunID).Scan(&one)
			if err == nil {
				return fmt.Errorf("%w: run %s is already in %s", store.ErrExists, run.RunID, s.where)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO runs (id, started_at, finished_at, fingerprint, source, branch, git_commit, environment, config)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				run.RunID, nanos(time.Time(run.StartedAt)), rr.finished, store.Fingerprint(run.Environment), meta.Source, meta.Branch,
				run.Environment.GitCommit, rr.env, rr.cfg); err != nil {
				return err
			}
			if err := s.insertRows(ctx, tx, `INSERT INTO results (run_id, idx, ts, model_name, benchmark_name, value, unit, category, status, metadata)`, 10, rr.results, 100); err != nil {
				return err
			}
			if err := s.insertRows(ctx, tx, `INSERT INTO samples (run_id, result_idx, idx, value)`, 4, rr.samples, 500); err != nil {
				return err
			}
		}
		return nil
	})
	what := "recording run " + runs[0].RunID
	if len(runs) > 1 {
		what = fmt.Sprintf("recording %d runs", len(runs))
	}
	return s.wrap(err, what)
}

// checkSeries makes sure every series keeps one unit, recording new
// series.
func (s *DB) checkSeries(ctx context.Context, tx *sql.Tx, runs []*result.Run) error {
	rows, err := tx.QueryContext(ctx, `SELECT model_name, benchmark_name, unit FROM series`)
	if err != nil {
		return err
	}
	known := map[[2]string]string{}
	for rows.Next() {
		var m, b, u string
		if err := rows.Scan(&m, &b, &u); err != nil {
			rows.Close()
			return err
		}
		known[[2]string{m, b}] = u
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var add [][]any
	for _, run := range runs {
		for i, r := range run.Results {
			k := [2]string{r.ModelName, r.BenchmarkName}
			u, ok := known[k]
			if ok && u != r.Unit {
				return fmt.Errorf("%w: run %s, result %d: %s/%s is in %q, but its history is in %q: mixed units in one series", store.ErrInvalid, run.RunID, i+1, r.ModelName, r.BenchmarkName, r.Unit, u)
			}
			if !ok {
				known[k] = r.Unit
				add = append(add, []any{r.ModelName, r.BenchmarkName, r.Unit})
			}
		}
	}
	return s.insertRows(ctx, tx, `INSERT INTO series (model_name, benchmark_name, unit)`, 3, add, 200)
}

const runCols = `r.seq, r.id, r.started_at, r.fingerprint, r.source, r.branch, r.git_commit`

func scanRunInfo(sc interface{ Scan(...any) error }, extra ...any) (store.RunInfo, error) {
	var ri store.RunInfo
	var started int64
	err := sc.Scan(append([]any{&ri.Seq, &ri.ID, &started, &ri.Fingerprint, &ri.Source, &ri.Branch, &ri.Commit}, extra...)...)
	ri.StartedAt = fromNanos(started)
	return ri, err
}

// Runs implements store.Store.
func (s *DB) Runs(ctx context.Context, q store.RunQuery) ([]store.RunInfo, error) {
	query := `SELECT ` + runCols + `,
		(SELECT COUNT(*) FROM results x WHERE x.run_id = r.id),
		(SELECT COUNT(*) FROM results x WHERE x.run_id = r.id AND x.status = 'error')
		FROM runs r`
	var args []any
	if q.Branch != "" {
		query += ` WHERE r.branch = ?`
		args = append(args, q.Branch)
	}
	query += ` ORDER BY r.started_at DESC, r.seq DESC`
	if q.Limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.wrap(err, "listing runs")
	}
	defer rows.Close()
	var out []store.RunInfo
	for rows.Next() {
		var n, f int
		ri, err := scanRunInfo(rows, &n, &f)
		if err != nil {
			return nil, s.wrap(err, "listing runs")
		}
		ri.Results, ri.Failures = n, f
		out = append(out, ri)
	}
	return out, s.wrap(rows.Err(), "listing runs")
}

// Run implements store.Store.
func (s *DB) Run(ctx context.Context, id string) (*result.Run, *store.RunInfo, error) {
	var env, cfg string
	var finished int64
	ri, err := scanRunInfo(s.db.QueryRowContext(ctx, s.q(`SELECT `+runCols+`, r.finished_at, r.environment, r.config FROM runs r WHERE r.id = ?`), id), &finished, &env, &cfg)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("%w: no run %q in %s", store.ErrNotFound, id, s.where)
	}
	if err != nil {
		return nil, nil, s.wrap(err, "reading run "+id)
	}
	run := &result.Run{SchemaVersion: result.SchemaVersion, RunID: ri.ID, StartedAt: result.Time(ri.StartedAt), Results: []result.Result{}}
	if finished != 0 {
		f := result.Time(fromNanos(finished))
		run.FinishedAt = &f
	}
	if err := json.Unmarshal([]byte(env), &run.Environment); err != nil {
		return nil, nil, fmt.Errorf("%s: run %s: environment: %w", s.where, id, err)
	}
	if cfg != "" && cfg != "null" {
		if err := json.Unmarshal([]byte(cfg), &run.Config); err != nil {
			return nil, nil, fmt.Errorf("%s: run %s: config: %w", s.where, id, err)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT ts, model_name, benchmark_name, value, unit, category, status, metadata FROM results WHERE run_id = ? ORDER BY idx`), id)
	if err != nil {
		return nil, nil, s.wrap(err, "reading run "+id)
	}
	for rows.Next() {
		var r result.Result
		var ts int64
		var v sql.NullFloat64
		var status, meta string
		if err := rows.Scan(&ts, &r.ModelName, &r.BenchmarkName, &v, &r.Unit, &r.Category, &status, &meta); err != nil {
			rows.Close()
			return nil, nil, s.wrap(err, "reading run "+id)
		}
		r.Timestamp = fromNanos(ts)
		r.Value = math.NaN()
		if v.Valid && status != result.StatusError {
			r.Value = v.Float64
		}
		if err := json.Unmarshal([]byte(meta), &r.Metadata); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("%s: run %s: metadata: %w", s.where, id, err)
		}
		if r.Metadata == nil {
			r.Metadata = map[string]any{}
		}
		run.Results = append(run.Results, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, s.wrap(err, "reading run "+id)
	}
	srows, err := s.db.QueryContext(ctx, s.q(`SELECT result_idx, value FROM samples WHERE run_id = ? ORDER BY result_idx, idx`), id)
	if err != nil {
		return nil, nil, s.wrap(err, "reading run "+id)
	}
	defer srows.Close()
	byIdx := map[int][]float64{}
	for srows.Next() {
		var i int
		var x float64
		if err := srows.Scan(&i, &x); err != nil {
			return nil, nil, s.wrap(err, "reading run "+id)
		}
		byIdx[i] = append(byIdx[i], x)
	}
	for i, xs := range byIdx {
		if i >= 0 && i < len(run.Results) {
			run.Results[i].Metadata["samples"] = xs
		}
	}
	for _, r := range run.Results {
		ri.Results++
		if r.Failed() {
			ri.Failures++
		}
	}
	return run, &ri, s.wrap(srows.Err(), "reading run "+id)
}

// History implements store.Store.
func (s *DB) History(ctx context.Context, q store.HistoryQuery) ([]store.Point, error) {
	var where, runWhere []string
	var args, runArgs []any
	if q.Model != "" {
		where, args = append(where, `x.model_name = ?`), append(args, q.Model)
	}
	if q.Benchmark != "" {
		where, args = append(where, `x.benchmark_name = ?`), append(args, q.Benchmark)
	}
	if !q.IncludeFailed {
		where = append(where, `x.status <> 'error' AND x.value IS NOT NULL`)
	}
	// Conditions on runs, written for the alias R (r, or r2 in the
	// subquery of LastRuns).
	if q.Fingerprint != "" {
		runWhere, runArgs = append(runWhere, `R.fingerprint = ?`), append(runArgs, q.Fingerprint)
	}
	if q.Branch != "" {
		runWhere, runArgs = append(runWhere, `R.branch = ?`), append(runArgs, q.Branch)
	}
	if q.Before != "" {
		var started, seq int64
		err := s.db.QueryRowContext(ctx, s.q(`SELECT started_at, seq FROM runs WHERE id = ?`), q.Before).Scan(&started, &seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: no run %q in %s", store.ErrNotFound, q.Before, s.where)
		}
		if err != nil {
			return nil, s.wrap(err, "reading history")
		}
		runWhere = append(runWhere, `(R.started_at < ? OR (R.started_at = ? AND R.seq < ?))`)
		runArgs = append(runArgs, started, started, seq)
	}
	for _, w := range runWhere {
		where = append(where, strings.ReplaceAll(w, "R.", "r."))
	}
	args = append(args, runArgs...)
	if q.LastRuns > 0 {
		sub := `r.id IN (SELECT r2.id FROM runs r2`
		if len(runWhere) > 0 {
			sub += ` WHERE ` + strings.ReplaceAll(strings.Join(runWhere, " AND "), "R.", "r2.")
		}
		sub += ` ORDER BY r2.started_at DESC, r2.seq DESC LIMIT ` + strconv.Itoa(q.LastRuns) + `)`
		where = append(where, sub)
		args = append(args, runArgs...)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	// Read in the table's order and sort here: an ORDER BY over a join
	// makes the database visit the rows in index order, page by page at
	// random, which is far slower on large histories.
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM results x JOIN runs r ON r.id = x.run_id`+cond), args...).Scan(&n); err != nil {
		return nil, s.wrap(err, "reading history")
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.id, r.seq, r.started_at, x.ts, r.fingerprint, r.branch, x.model_name, x.benchmark_name,
		x.unit, x.category, x.value, x.status, x.idx
		FROM results x JOIN runs r ON r.id = x.run_id`+cond), args...)
	if err != nil {
		return nil, s.wrap(err, "reading history")
	}
	type key struct {
		run string
		idx int
	}
	pts := make([]store.Point, 0, n)
	idxs := make([]int, 0, n)
	intern := map[string]string{}
	in := func(s *string) {
		if v, ok := intern[*s]; ok {
			*s = v
			return
		}
		intern[*s] = *s
	}
	for rows.Next() {
		var p store.Point
		var started, ts int64
		var v sql.NullFloat64
		var status string
		var idx int
		if err := rows.Scan(&p.RunID, &p.RunSeq, &started, &ts, &p.Fingerprint, &p.Branch, &p.Model, &p.Benchmark, &p.Unit, &p.Category, &v, &status, &idx); err != nil {
			rows.Close()
			return nil, s.wrap(err, "reading history")
		}
		for _, f := range []*string{&p.RunID, &p.Fingerprint, &p.Branch, &p.Model, &p.Benchmark, &p.Unit, &p.Category} {
			in(f)
		}
		p.StartedAt, p.Timestamp = fromNanos(started), fromNanos(ts)
		p.Value = math.NaN()
		p.Failed = status == result.StatusError || !v.Valid
		if !p.Failed {
			p.Value = v.Float64
		}
		pts = append(pts, p)
		idxs = append(idxs, idx)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "reading history")
	}
	order := make([]int, len(pts))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		p, q := &pts[order[a]], &pts[order[b]]
		switch {
		case p.Model != q.Model:
			return p.Model < q.Model
		case p.Benchmark != q.Benchmark:
			return p.Benchmark < q.Benchmark
		case !p.StartedAt.Equal(q.StartedAt):
			return p.StartedAt.Before(q.StartedAt)
		case p.RunSeq != q.RunSeq:
			return p.RunSeq < q.RunSeq
		}
		return idxs[order[a]] < idxs[order[b]]
	})
	sorted := make([]store.Point, len(pts))
	at := map[key]int{}
	for i, o := range order {
		sorted[i] = pts[o]
		if !q.WithoutSamples {
			at[key{pts[o].RunID, idxs[o]}] = i
		}
	}
	pts = sorted
	if len(pts) == 0 || q.WithoutSamples {
		return pts, nil
	}
	srows, err := s.db.QueryContext(ctx, s.q(`SELECT s.run_id, s.result_idx, s.value FROM samples s
		JOIN results x ON x.run_id = s.run_id AND x.idx = s.result_idx
		JOIN runs r ON r.id = s.run_id`+cond+` ORDER BY s.run_id, s.result_idx, s.idx`), args...)
	if err != nil {
		return nil, s.wrap(err, "reading history")
	}
	defer srows.Close()
	for srows.Next() {
		var k key
		var x float64
		if err := srows.Scan(&k.run, &k.idx, &x); err != nil {
			return nil, s.wrap(err, "reading history")
		}
		if i, ok := at[k]; ok {
			pts[i].Samples = append(pts[i].Samples, x)
		}
	}
	return pts, s.wrap(srows.Err(), "reading history")
}

// SaveAlerts implements store.Store.
func (s *DB) SaveAlerts(ctx context.Context, alerts []store.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	var rows [][]any
	for _, a := range alerts {
		created := a.CreatedAt
		if created.IsZero() {
			created = time.Now()
		}
		rows = append(rows, []any{a.RunID, nanos(created), a.Model, a.Benchmark, a.Unit, a.Fingerprint, a.Severity, a.Direction,
			nullable(a.ChangePct), nullable(a.PValue), nullable(a.Baseline), nullable(a.Value), a.Message})
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.insertRows(ctx, tx, `INSERT INTO alerts (run_id, created_at, model_name, benchmark_name, unit, fingerprint, severity, direction, change_pct, p_value, baseline, value, message)`, 13, rows, 50)
	})
	return s.wrap(err, "recording alerts")
}

func nullable(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

func fromNull(x sql.NullFloat64) float64 {
	if !x.Valid {
		return math.NaN()
	}
	return x.Float64
}

// Alerts implements store.Store.
func (s *DB) Alerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	query := `SELECT id, run_id, created_at, model_name, benchmark_name, unit, fingerprint, severity, direction, change_pct, p_value, baseline, value, message FROM alerts`
	var args []any
	if !q.Since.IsZero() {
		query += ` WHERE created_at >= ?`
		args = append(args, nanos(q.Since))
	}
	query += ` ORDER BY created_at DESC, id DESC`
	if q.Limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.wrap(err, "reading alerts")
	}
	defer rows.Close()
	var out []store.Alert
	for rows.Next() {
		var a store.Alert
		var created int64
		var c, p, b, v sql.NullFloat64
		if err := rows.Scan(&a.ID, &a.RunID, &created, &a.Model, &a.Benchmark, &a.Unit, &a.Fingerprint, &a.Severity, &a.Direction, &c, &p, &b, &v, &a.Message); err != nil {
			return nil, s.wrap(err, "reading alerts")
		}
		a.CreatedAt = fromNanos(created)
		a.ChangePct, a.PValue, a.Baseline, a.Value = fromNull(c), fromNull(p), fromNull(b), fromNull(v)
		out = append(out, a)
	}
	return out, s.wrap(rows.Err(), "reading alerts")
}
