-- Runs, their results and samples, series units, and alerts.
-- Times are Unix nanoseconds (UTC).
CREATE TABLE runs (
	seq         BIGSERIAL PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	started_at  BIGINT NOT NULL,
	finished_at BIGINT NOT NULL DEFAULT 0,
	fingerprint TEXT NOT NULL,
	source      TEXT NOT NULL DEFAULT '',
	branch      TEXT NOT NULL DEFAULT '',
	git_commit  TEXT NOT NULL DEFAULT '',
	environment TEXT NOT NULL,
	config      TEXT NOT NULL
);
CREATE INDEX runs_started ON runs (started_at, seq);

CREATE TABLE series (
	model_name     TEXT NOT NULL,
	benchmark_name TEXT NOT NULL,
	unit           TEXT NOT NULL,
	PRIMARY KEY (model_name, benchmark_name)
);

CREATE TABLE results (
	run_id         TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	idx            INTEGER NOT NULL,
	ts             BIGINT NOT NULL,
	model_name     TEXT NOT NULL,
	benchmark_name TEXT NOT NULL,
	value          DOUBLE PRECISION,
	unit           TEXT NOT NULL,
	category       TEXT NOT NULL,
	status         TEXT NOT NULL,
	metadata       TEXT NOT NULL,
	PRIMARY KEY (run_id, idx)
);
CREATE INDEX results_series ON results (model_name, benchmark_name);

CREATE TABLE samples (
	run_id     TEXT NOT NULL,
	result_idx INTEGER NOT NULL,
	idx        INTEGER NOT NULL,
	value      DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (run_id, result_idx, idx),
	FOREIGN KEY (run_id, result_idx) REFERENCES results (run_id, idx) ON DELETE CASCADE
);

CREATE TABLE alerts (
	id             BIGSERIAL PRIMARY KEY,
	run_id         TEXT NOT NULL,
	created_at     BIGINT NOT NULL,
	model_name     TEXT NOT NULL,
	benchmark_name TEXT NOT NULL,
	unit           TEXT NOT NULL,
	fingerprint    TEXT NOT NULL,
	severity       TEXT NOT NULL,
	direction      TEXT NOT NULL,
	change_pct     DOUBLE PRECISION,
	p_value        DOUBLE PRECISION,
	baseline       DOUBLE PRECISION,
	value          DOUBLE PRECISION,
	message        TEXT NOT NULL
);
CREATE INDEX alerts_created ON alerts (created_at);
