-- lifecycle: growth accounting per day and per week (reporting timezone).
-- Grain: platform x grain (day, week) x bucket, dense from the first active bucket to the
-- watermark's bucket. For each bucket t:
--   new          active in t, never active before (its first active bucket)
--   returning    active in t and in t-1
--   resurrected  active in t, not in t-1, active some time before
--   dormant      active in t-1, not in t; stored as a NEGATIVE number
--   active       new + returning + resurrected
-- With dormant negative: returning(t) = active(t-1) + dormant(t)
-- (i.e. active(t-1) - |dormant(t)|, DESIGN.md's identity with dormant as a magnitude).
-- Parameters: sign, week_start.

-- name: contribution
-- grain: platform x grain x bucket
-- reads: platform_ids, scope_user_seq
-- writes: -
-- params: sign
-- Reads each user's active-day sequence (scope_user_seq). A day is its own bucket; a week's
-- sequence is read off the days: the user's first day in a week opens it (its previous
-- active week is that of prev_day) and the last day in a week closes it (the next active
-- week is that of next_day).
WITH weeks AS (
    SELECT pid, week_of(day) AS week, week_of(prev_day) AS prev_week,
           week_of(next_day) AS next_week
    FROM scope_user_seq
), counted AS (
    SELECT pid, 'day' AS grain, day AS bucket,
           count(*) FILTER (WHERE prev_day IS NULL) AS new,
           count(*) FILTER (WHERE prev_day = day - 1) AS "returning",
           count(*) FILTER (WHERE prev_day < day - 1) AS resurrected,
           0 AS dormant
    FROM scope_user_seq
    GROUP BY ALL
    UNION ALL
    SELECT pid, 'day', day + 1, 0, 0, 0, -count(*)
    FROM scope_user_seq
    WHERE next_day IS NULL OR next_day > day + 1
    GROUP BY ALL
    UNION ALL
    SELECT pid, 'week', week,
           count(*) FILTER (WHERE prev_week IS NULL),
           count(*) FILTER (WHERE prev_week = week - 7),
           count(*) FILTER (WHERE prev_week < week - 7),
           0
    FROM weeks
    WHERE prev_week IS NULL OR prev_week < week
    GROUP BY ALL
    UNION ALL
    SELECT pid, 'week', week + 7, 0, 0, 0, -count(*)
    FROM weeks
    WHERE next_week IS NULL OR next_week > week + 7
    GROUP BY ALL
)
SELECT p.platform, c.grain, c.bucket,
       getvariable('sign') * sum(c.new) AS new,
       getvariable('sign') * sum(c."returning") AS "returning",
       getvariable('sign') * sum(c.resurrected) AS resurrected,
       getvariable('sign') * sum(c.dormant) AS dormant
FROM counted AS c
JOIN platform_ids AS p ON p.pid = c.pid
GROUP BY ALL;

-- name: serve
-- grain: platform x grain x bucket
-- reads: c_lifecycle, platform_clock
-- writes: -
-- params: -
WITH bounds AS (
    SELECT c.platform, c.grain, min(c.bucket) AS first_bucket,
           CAST(local_of(k.watermark) AS DATE) AS last_day
    FROM c_lifecycle AS c
    JOIN platform_clock AS k USING (platform)
    GROUP BY ALL
), calendar AS (
    SELECT platform, grain,
           CAST(unnest(generate_series(
               first_bucket,
               CASE grain WHEN 'week' THEN week_of(last_day) ELSE last_day END,
               CASE grain WHEN 'week' THEN INTERVAL 7 DAY ELSE INTERVAL 1 DAY END
           )) AS DATE) AS bucket
    FROM bounds
)
SELECT k.platform, k.grain, utc_start(CAST(k.bucket AS TIMESTAMP)) AS bucket_start,
       coalesce(c.new, 0) AS new,
       coalesce(c."returning", 0) AS "returning",
       coalesce(c.resurrected, 0) AS resurrected,
       coalesce(c.dormant, 0) AS dormant,
       coalesce(c.new + c."returning" + c.resurrected, 0) AS active
FROM calendar AS k
LEFT JOIN c_lifecycle AS c USING (platform, grain, bucket)
ORDER BY k.platform, k.grain, k.bucket;
