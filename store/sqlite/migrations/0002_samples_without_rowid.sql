-- Samples are many small rows keyed by (run_id, result_idx, idx): kept in
-- the primary key's own b-tree (WITHOUT ROWID) instead of a table plus an
-- index, which halves the work of recording them.
CREATE TABLE samples_by_key (
	run_id     TEXT NOT NULL,
	result_idx INTEGER NOT NULL,
	idx        INTEGER NOT NULL,
	value      DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (run_id, result_idx, idx),
	FOREIGN KEY (run_id, result_idx) REFERENCES results (run_id, idx) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO samples_by_key (run_id, result_idx, idx, value) SELECT run_id, result_idx, idx, value FROM samples;
DROP TABLE samples;
ALTER TABLE samples_by_key RENAME TO samples;
