-- Privacy: pseudonymisation state, erasure tombstones and log, raw-event
-- retention log, and what the file ledger needs to find a user's rows in archived files.

-- Pseudonymisation on/off and the key fingerprint (never the key), decided by the first
-- load into an empty warehouse; the horizon before which raw events were compacted.
CREATE TABLE privacy_state (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- One digest per erased (platform, user): SHA-256 of platform, a 0x1f byte and the stored
-- user id (the keyed pseudonym when pseudonymisation is on, else the raw id). Ingestion
-- quarantines rows of these users with reason 'erased_user' and without the row.
CREATE TABLE tombstones (
    digest VARCHAR PRIMARY KEY
);

-- Erasures: when and how many rows were removed, never who.
CREATE TABLE erasures (
    erasure_id      BIGINT PRIMARY KEY,
    run_id          BIGINT NOT NULL,
    erased_at       TIMESTAMP NOT NULL,
    users           INTEGER NOT NULL,
    signups         BIGINT NOT NULL,
    events          BIGINT NOT NULL,
    deletions       BIGINT NOT NULL,
    quarantine      BIGINT NOT NULL,
    archived_files  INTEGER NOT NULL,
    archived_rows   BIGINT NOT NULL
);

-- Raw-event retention passes: events older than the horizon compacted to the first and
-- last event per user, UTC hour and event type (what every model reads of them).
CREATE TABLE raw_retention (
    run_id          BIGINT NOT NULL,
    ran_at          TIMESTAMP NOT NULL,
    horizon         TIMESTAMP NOT NULL,
    events_removed  BIGINT NOT NULL
);

-- Where a file's user ids and platform were: the columns read, or the --platform constant.
ALTER TABLE files ADD COLUMN user_column VARCHAR;
ALTER TABLE files ADD COLUMN platform_column VARCHAR;
ALTER TABLE files ADD COLUMN platform_constant VARCHAR;

-- Rows of erased users (and unsplittable lines under pseudonymisation) keep no raw row.
ALTER TABLE quarantine ALTER COLUMN raw DROP NOT NULL;
