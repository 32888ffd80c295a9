-- runs: the run ledger as served to the dashboard.
-- Grain: one row per ETL pass. No parameters; read at publish time so the snapshot
-- carries the run that produced it.

-- name: serve
-- grain: ETL pass
-- reads: runs
-- writes: -
-- params: -
SELECT run_id, started_at, finished_at, status, files, rows_read, rows_loaded,
       rows_duplicate, rows_quarantined, error
FROM runs
ORDER BY run_id;
