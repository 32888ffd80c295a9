-- Derived activity tables, maintained from the raw rows of one batch.
-- What: user_hours (platform, uid, UTC hour, first_ts, last_ts) from activity
-- events, and user_days (distinct local days per user) from user_hours.
-- Grain: user x UTC hour; user x local day. uid = the user's dense integer key (ukey,
-- assigned at ingest; it names its platform).
-- Parameters: wm_old < file_id <= wm_new selects the batch; batch rows are tagged wm_new;
-- append_hours reads the batch's events with hours_from <= event_ts < hours_to (whole UTC
-- days: refresh.py runs it once per span of days, so each user-hour is one row).
-- A UTC hour spans at most two local days, and every event of a user-hour lies between
-- first_ts and last_ts, so the local days of first_ts and last_ts are exactly its days.

-- name: append_hours
-- grain: user x UTC hour
-- reads: events
-- writes: user_hours
-- params: hours_from, hours_to, wm_new, wm_old
-- Grouped by the stored integer key: no user id string is read.
INSERT INTO user_hours
SELECT any_value(platform) AS platform, ukey AS uid, date_trunc('hour', event_ts) AS hour,
       min(event_ts) AS first_ts, max(event_ts) AS last_ts,
       getvariable('wm_new') AS batch
FROM events
WHERE file_id > getvariable('wm_old')
  AND file_id <= getvariable('wm_new')
  AND is_activity(event_type)
  AND event_ts >= getvariable('hours_from')
  AND event_ts < getvariable('hours_to')
GROUP BY ukey, date_trunc('hour', event_ts);

-- name: touched
-- grain: user
-- reads: events, signups
-- writes: touched
-- params: wm_new, wm_old
-- The batch's users (activity events or signups), by key.
CREATE OR REPLACE TEMP TABLE touched AS
SELECT ukey AS uid
FROM events
WHERE file_id > getvariable('wm_old')
  AND file_id <= getvariable('wm_new')
  AND is_activity(event_type)
UNION
SELECT ukey
FROM signups
WHERE file_id > getvariable('wm_old') AND file_id <= getvariable('wm_new');

-- name: append_days
-- grain: user x local day
-- reads: touched, tz_hours, user_days, user_hours
-- writes: user_days
-- params: wm_new
-- Most hours lie inside one local day (tz_hours.day); only an hour that straddles local
-- midnight or changes offset reads the days of its first and last event. The existing
-- rows checked are only those of the batch's users.
INSERT INTO user_days
WITH batch_hours AS (
    SELECT h.platform, h.uid, h.first_ts, h.last_ts, z.off, z.uniform, z.day
    FROM user_hours AS h
    JOIN tz_hours AS z ON z.hour = h.hour
    WHERE h.batch = getvariable('wm_new')
), batch_days AS (
    SELECT any_value(platform) AS platform, uid, day
    FROM (
        SELECT platform, uid,
               coalesce(day, CAST(local_ts(first_ts, off, uniform) AS DATE)) AS day
        FROM batch_hours
        UNION ALL
        SELECT platform, uid, CAST(local_ts(last_ts, off, uniform) AS DATE)
        FROM batch_hours
        WHERE day IS NULL
    )
    GROUP BY uid, day
), known_days AS (
    SELECT d.platform, d.uid, d.day
    FROM user_days AS d
    SEMI JOIN touched AS t ON t.uid = d.uid
)
SELECT b.platform, b.uid, b.day, getvariable('wm_new') AS batch
FROM batch_days AS b
ANTI JOIN known_days AS k ON k.uid = b.uid AND k.day = b.day;
