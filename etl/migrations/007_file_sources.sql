-- What `uptake ingest --replace` needs from the file ledger: the path the user
-- gave (source_path: the export an adapter or a mapping converted, or the file itself) and
-- the options it was loaded with (load_options, JSON: platform, format, map, tz, adapter),
-- so a later load can find the file's earlier rows and say how it was loaded before.
-- Rows recorded before this migration have neither: they are found by content hash.
ALTER TABLE files ADD COLUMN source_path VARCHAR;
ALTER TABLE files ADD COLUMN load_options VARCHAR;

-- Platforms whose signups are derived from usage (`--signups first-seen`): each
-- user's signup is their first event, or the time in a named column of the events (e.g.
-- Amplitude's user_creation_time). Recorded by the ingest that asked for it, so later
-- passes keep deriving new users' signups the same way; published in the manifest.
CREATE TABLE signup_sources (
    platform VARCHAR PRIMARY KEY,
    source   VARCHAR NOT NULL      -- first-seen | first-seen:<column>
);
