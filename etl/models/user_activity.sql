-- Derived activity tables, maintained from the raw rows of one batch.
-- What: user_hours (platform, uid, UTC hour, first_ts, last_ts) from activity
-- events, and user_days (distinct local days per user) from user_hours.
-- Grain: user x UTC hour; user x local day. uid = user_key(platform, user_id).
-- Parameters: wm_old < file_id <= wm_new selects the batch; batch rows are tagged wm_new.
-- A UTC hour spans at most two local days, and every event of a user-hour lies between
-- first_ts and last_ts, so the local days of first_ts and last_ts are exactly its days.

-- name: append_hours
-- Grouped by the user id string first: keying the (fewer) user-hours costs less than
-- keying every event.
INSERT INTO user_hours
SELECT platform, user_key(platform, user_id) AS uid, hour, first_ts, last_ts,
       getvariable('wm_new') AS batch
FROM (
    SELECT
        platform,
        user_id,
        date_trunc('hour', event_ts) AS hour,
        min(event_ts) AS first_ts,
        max(event_ts) AS last_ts
    FROM events
    WHERE file_id > getvariable('wm_old')
      AND file_id <= getvariable('wm_new')
      AND is_activity(event_type)
    GROUP BY ALL
);

-- name: touched
-- The batch's users (activity events or signups), with their key.
CREATE OR REPLACE TEMP TABLE touched AS
SELECT platform, user_id, user_key(platform, user_id) AS uid
FROM (
    SELECT platform, user_id
    FROM events
    WHERE file_id > getvariable('wm_old')
      AND file_id <= getvariable('wm_new')
      AND is_activity(event_type)
    UNION
    SELECT platform, user_id
    FROM signups
    WHERE file_id > getvariable('wm_old') AND file_id <= getvariable('wm_new')
);

-- name: append_days
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
