-- The refresh reads activity events directly where it read user_hours (the signups x
-- events join for activation and hour cohorts, user_days, migration's recent activity):
-- grouping every event into user-hours cost more than the reads it saved, since most
-- user-hours hold one or two events.
-- user_days carries a small platform number (platform_ids) instead of the platform's
-- name: the per-user sort and the counts over user-days then move and group no strings.
-- Both are derived: models version 5 rebuilds them on the next refresh.
DROP TABLE IF EXISTS user_hours;
DROP TABLE user_days;
CREATE TABLE platform_ids (
    platform VARCHAR  NOT NULL PRIMARY KEY,
    pid      SMALLINT NOT NULL UNIQUE
);
CREATE TABLE user_days (
    pid   SMALLINT NOT NULL,
    uid   INTEGER  NOT NULL,
    day   DATE     NOT NULL,
    batch BIGINT   NOT NULL
);
