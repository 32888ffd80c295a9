-- Initial warehouse schema: raw streams, ledgers and quarantine.
-- All timestamps are UTC (naive TIMESTAMP). No primary keys on the large tables:
-- dedupe is done set-wise at ingest (see etl/ingest.py), which is far cheaper than
-- maintaining an index over tens of millions of rows.

CREATE SEQUENCE IF NOT EXISTS run_id_seq START 1;
CREATE SEQUENCE IF NOT EXISTS file_id_seq START 1;

-- One row per user and platform: the user's earliest signup.
CREATE TABLE signups (
    platform    VARCHAR   NOT NULL,
    user_id     VARCHAR   NOT NULL,
    signup_ts   TIMESTAMP NOT NULL,
    channel     VARCHAR,
    country     VARCHAR,
    person_id   VARCHAR,
    event_id    VARCHAR,
    file_id     BIGINT    NOT NULL
);

-- Usage events (every type but account deletions). dedupe_key is a 64-bit hash of the
-- event's identity (event_id when given, else the natural key); it finds candidate
-- duplicates fast, and candidates are confirmed on the full key.
CREATE TABLE events (
    platform    VARCHAR   NOT NULL,
    user_id     VARCHAR   NOT NULL,
    event_ts    TIMESTAMP NOT NULL,
    event_type  VARCHAR   NOT NULL,
    event_id    VARCHAR,
    dedupe_key  UBIGINT   NOT NULL,
    file_id     BIGINT    NOT NULL
);

-- Account deletions (usage events of type 'account_deleted').
CREATE TABLE deletions (
    platform    VARCHAR   NOT NULL,
    user_id     VARCHAR   NOT NULL,
    deleted_ts  TIMESTAMP NOT NULL,
    event_id    VARCHAR,
    dedupe_key  UBIGINT   NOT NULL,
    file_id     BIGINT    NOT NULL
);

-- The run ledger: one row per ETL pass that committed or failed.
CREATE TABLE runs (
    run_id           BIGINT PRIMARY KEY,
    started_at       TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP,
    status           VARCHAR NOT NULL,   -- ok | rejected_input | failed | noop
    trigger          VARCHAR NOT NULL,   -- ingest | run | schedule
    files            INTEGER NOT NULL DEFAULT 0,
    rows_read        BIGINT NOT NULL DEFAULT 0,
    rows_loaded      BIGINT NOT NULL DEFAULT 0,
    rows_duplicate   BIGINT NOT NULL DEFAULT 0,
    rows_quarantined BIGINT NOT NULL DEFAULT 0,
    error            VARCHAR,
    steps            VARCHAR             -- JSON: seconds per step
);

-- The file ledger: one row per file seen by a run.
CREATE TABLE files (
    file_id          BIGINT PRIMARY KEY,
    run_id           BIGINT NOT NULL,
    path             VARCHAR NOT NULL,
    content_hash     VARCHAR NOT NULL,
    size_bytes       BIGINT NOT NULL,
    format           VARCHAR,
    stream           VARCHAR,            -- signups | events
    rows_read        BIGINT NOT NULL DEFAULT 0,
    rows_loaded      BIGINT NOT NULL DEFAULT 0,
    rows_duplicate   BIGINT NOT NULL DEFAULT 0,
    rows_quarantined BIGINT NOT NULL DEFAULT 0,
    outcome          VARCHAR NOT NULL,   -- loaded | already_loaded | rejected
    reason           VARCHAR,
    recorded_at      TIMESTAMP NOT NULL
);

-- Rows that could not be loaded, with the reason and the row as it was read.
CREATE TABLE quarantine (
    file_id      BIGINT NOT NULL,
    run_id       BIGINT NOT NULL,
    source_file  VARCHAR NOT NULL,
    row_number   BIGINT NOT NULL,        -- 1-based position of the row in its file
    reason       VARCHAR NOT NULL,
    raw          VARCHAR NOT NULL        -- the row as JSON
);
