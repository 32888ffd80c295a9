-- Dense integer user keys, assigned once at ingest.
-- user_keys is the per-platform user dictionary: one row per (platform, user_id) seen in
-- signups or usage events, with ukey, an INTEGER unique across platforms (so a key names
-- its platform). New users get the next keys; a key never changes while its user exists
-- (erasure deletes the user's row). Signups and events carry the key of their user, so
-- the refresh groups, sorts and joins 4-byte integers and never hashes a user id string
-- again (it hashed every user-hour's id to a 128-bit MD5 on every pass before).
-- Deletions need no key: they are counted by user id per platform only.
CREATE TABLE user_keys (
    platform VARCHAR NOT NULL,
    user_id  VARCHAR NOT NULL,
    ukey     INTEGER NOT NULL
);

ALTER TABLE signups ADD COLUMN ukey INTEGER;
ALTER TABLE events ADD COLUMN ukey INTEGER;

-- An existing warehouse: every stored user gets a key now (in a fixed order, so the same
-- warehouse always gets the same keys), and the stored rows get their user's key.
INSERT INTO user_keys (platform, user_id, ukey)
SELECT platform, user_id, CAST(row_number() OVER (ORDER BY platform, user_id) AS INTEGER)
FROM (
    SELECT platform, user_id FROM signups
    UNION
    SELECT platform, user_id FROM events
);
UPDATE signups SET ukey = k.ukey
FROM user_keys AS k
WHERE k.platform = signups.platform AND k.user_id = signups.user_id;
UPDATE events SET ukey = k.ukey
FROM user_keys AS k
WHERE k.platform = events.platform AND k.user_id = events.user_id;

-- The derived activity tables are keyed by ukey (INTEGER) instead of the MD5 number of the
-- user id (UHUGEINT). They are derived: the next refresh rebuilds them (models version 4
-- forces a full rebuild), so the old rows are dropped, not converted.
DROP TABLE user_hours;
CREATE TABLE user_hours (
    platform VARCHAR   NOT NULL,
    uid      INTEGER   NOT NULL,
    hour     TIMESTAMP NOT NULL,
    first_ts TIMESTAMP NOT NULL,
    last_ts  TIMESTAMP NOT NULL,
    batch    BIGINT    NOT NULL   -- file watermark of the refresh that added the row
);

DROP TABLE user_days;
CREATE TABLE user_days (
    platform VARCHAR NOT NULL,
    uid      INTEGER NOT NULL,
    day      DATE    NOT NULL,
    batch    BIGINT  NOT NULL
);
