-- Derived activity table, maintained from the raw rows of one batch.
-- What: user_days (distinct local days per user) from activity events.
-- Grain: user x local day. uid = the user's dense integer key (ukey, assigned at ingest; it
-- names its platform); pid = the platform's number (platform_ids).
-- Parameters: wm_old < file_id <= wm_new selects the batch; batch rows are tagged wm_new;
-- append_days reads the batch's events with span_from <= event_ts < span_to, bounds at
-- local midnights (refresh.py runs it once per span of local days, so each user-day is
-- one row and each span's hash table fits in memory).

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
-- reads: events, platform_ids, touched, tz_hours, user_days
-- writes: user_days
-- params: span_from, span_to, wm_new, wm_old
-- An event's local day is its UTC hour's (tz_hours.day) unless that hour straddles local
-- midnight or changes offset; only then is the event's own time converted. The existing
-- rows checked are only those of the batch's users.
INSERT INTO user_days
WITH batch_days AS (
    SELECT any_value(p.pid) AS pid, e.ukey AS uid,
           coalesce(z.day, CAST(local_ts(e.event_ts, z.off, z.uniform) AS DATE)) AS day
    FROM events AS e
    JOIN platform_ids AS p ON p.platform = e.platform
    JOIN tz_hours AS z ON z.hour = date_trunc('hour', e.event_ts)
    WHERE e.file_id > getvariable('wm_old')
      AND e.file_id <= getvariable('wm_new')
      AND is_activity(e.event_type)
      AND e.event_ts >= getvariable('span_from')
      AND e.event_ts < getvariable('span_to')
    GROUP BY e.ukey, coalesce(z.day, CAST(local_ts(e.event_ts, z.off, z.uniform) AS DATE))
), known_days AS (
    SELECT d.uid, d.day
    FROM user_days AS d
    SEMI JOIN touched AS t ON t.uid = d.uid
)
SELECT b.pid, b.uid, b.day, getvariable('wm_new') AS batch
FROM batch_days AS b
ANTI JOIN known_days AS k ON k.uid = b.uid AND k.day = b.day;

-- name: day_events
-- grain: local day (one row per local day holding batch events)
-- reads: events, tz_hours
-- writes: -
-- params: wm_new, wm_old
-- The batch's activity events per local day, with the UTC instant the day starts (null for
-- events before the first midnight in tz_hours): refresh.py cuts the batch into spans of
-- whole local days from these. A midnight inside an hour whose offset changes is not a
-- cut: its two days count as one. An hour holding a midnight counts with its first day
-- (the counts only size the spans; the cuts are exact).
WITH cuts AS (
    SELECT cut
    FROM (
        SELECT hour, CAST(CAST(hour + off AS DATE) + 1 AS TIMESTAMP) - off AS cut
        FROM tz_hours
        WHERE uniform
    )
    WHERE cut > hour AND cut <= hour + INTERVAL 1 HOUR
), hours AS (
    SELECT date_trunc('hour', event_ts) AS hour, count(*) AS events
    FROM events
    WHERE file_id > getvariable('wm_old')
      AND file_id <= getvariable('wm_new')
      AND is_activity(event_type)
    GROUP BY ALL
)
SELECT c.cut AS day_start, sum(h.events) AS events
FROM hours AS h
ASOF LEFT JOIN cuts AS c ON h.hour >= c.cut
GROUP BY ALL
ORDER BY day_start NULLS FIRST;
