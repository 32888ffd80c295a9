-- active: daily active users and rolling weekly/monthly actives.
-- Grain: platform x local day (reporting timezone), dense from the first active day to the
-- watermark's day. dau = distinct users active that day; wau/mau = distinct users active
-- in the trailing 7/30 days ending that day (exact distinct counts, never sums of DAU);
-- stickiness = dau / mau; warming_up when the 30-day window starts before t0.
-- How: each user-day keeps its user "in the window" from that day until the user's next
-- active day or the window's end; the contribution stores where those intervals start
-- (+1) and end (-1), and the running sum of the changes is WAU/MAU: exact and linear.
-- Parameters: sign.

-- name: contribution
-- grain: platform x day
-- reads: platform_ids, scope_user_seq
-- writes: -
-- params: sign
-- Reads each user's active-day sequence (scope_user_seq: prev_day, next_day), counted by
-- platform number; names are joined to the counts.
WITH changes AS (
    SELECT pid, day,
           count(*) AS dau,
           count(*) FILTER (WHERE prev_day IS NULL OR day > prev_day + 7) AS wau_delta,
           count(*) FILTER (WHERE prev_day IS NULL OR day > prev_day + 30) AS mau_delta
    FROM scope_user_seq
    GROUP BY ALL
    UNION ALL
    SELECT pid, day + 7, 0, -count(*), 0
    FROM scope_user_seq
    WHERE next_day IS NULL OR next_day > day + 7
    GROUP BY ALL
    UNION ALL
    SELECT pid, day + 30, 0, 0, -count(*)
    FROM scope_user_seq
    WHERE next_day IS NULL OR next_day > day + 30
    GROUP BY ALL
)
SELECT p.platform, c.day,
       getvariable('sign') * sum(c.dau) AS dau,
       getvariable('sign') * sum(c.wau_delta) AS wau_delta,
       getvariable('sign') * sum(c.mau_delta) AS mau_delta
FROM changes AS c
JOIN platform_ids AS p ON p.pid = c.pid
GROUP BY ALL;

-- name: serve
-- grain: platform x day
-- reads: c_active, platform_clock
-- writes: -
-- params: -
WITH bounds AS (
    SELECT c.platform, k.t0, min(c.day) AS first_day, CAST(local_of(k.watermark) AS DATE) AS last_day
    FROM c_active AS c
    JOIN platform_clock AS k USING (platform)
    GROUP BY ALL
), days AS (
    SELECT platform, t0,
           CAST(unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS DATE) AS day
    FROM bounds
), filled AS (
    SELECT d.platform, d.t0, d.day, coalesce(c.dau, 0) AS dau,
           sum(coalesce(c.wau_delta, 0)) OVER running AS wau,
           sum(coalesce(c.mau_delta, 0)) OVER running AS mau
    FROM days AS d
    LEFT JOIN c_active AS c USING (platform, day)
    WINDOW running AS (
        PARTITION BY d.platform ORDER BY d.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
)
SELECT platform, day, dau, wau, mau,
       dau / nullif(mau, 0) AS stickiness,
       coalesce(utc_start(CAST(day - 29 AS TIMESTAMP)) < t0, false) AS warming_up
FROM filled
ORDER BY platform, day;
