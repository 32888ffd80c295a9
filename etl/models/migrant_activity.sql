-- migrant_activity: did migrants keep using the platform they came from, split their time,
-- or switch? Activity of migrants (migration.sql) on both platforms around their signup.
-- Grain: platform (B, the destination) x from_platform (A) x day, the local day relative to
-- the migrant's signup day on B (reporting timezone): -30..-1 the 30 days before, 0 the
-- signup day, 1..30 the days after; pairs with at least one migrant.
-- A migrant is active on a platform on a day when any of their accounts there (same
-- person_id) has an activity event that local day (user_days).
--   migrants    migrants for whom the day is observable: it has ended by both platforms'
--               data watermarks, and on each platform it is on or after the day of the
--               first usage event or wholly before t0 (nobody is active before a launch,
--               but activity between t0 and the first recorded event is unknown)
--   from_only, to_only, both, neither  active on A only, on B only, on both, on neither
--               (they sum to migrants); share_* = count / migrants (they sum to 1)
-- All counts and shares are null (blank, not 0) where no migrant has reached the day.
-- Parameters: tz.

-- name: serve
-- grain: platform x from_platform x day
-- reads: c_platform, migrants, person_users, platform_clock, user_days
-- writes: -
-- params: -
WITH coverage AS (
    SELECT c.platform, CAST(local_of(c.first_event) AS DATE) AS first_day, k.t0, k.watermark
    FROM c_platform AS c
    JOIN platform_clock AS k USING (platform)
), cohorts AS (
    SELECT platform, from_platform, join_day, count(*) AS migrants
    FROM migrants
    GROUP BY ALL
), cells AS (
    SELECT c.platform, c.from_platform, c.join_day, c.migrants,
           CAST(unnest(range(-30, 31)) AS INTEGER) AS day
    FROM cohorts AS c
), observed AS (
    SELECT c.platform, c.from_platform, c.join_day, c.day, c.migrants
    FROM cells AS c
    JOIN coverage AS a ON a.platform = c.from_platform
    JOIN coverage AS b ON b.platform = c.platform
    WHERE (c.join_day + c.day >= a.first_day
           OR utc_start(CAST(c.join_day + c.day + 1 AS TIMESTAMP)) <= a.t0)
      AND (c.join_day + c.day >= b.first_day
           OR utc_start(CAST(c.join_day + c.day + 1 AS TIMESTAMP)) <= b.t0)
      AND utc_start(CAST(c.join_day + c.day + 1 AS TIMESTAMP)) <= least(a.watermark, b.watermark)
), accounts AS (
    SELECT m.platform, m.from_platform, m.person, m.join_day, u.uid,
           u.platform = m.from_platform AS on_from
    FROM migrants AS m
    JOIN person_users AS u
      ON u.person = m.person AND u.platform IN (m.platform, m.from_platform)
), active AS (
    -- A pair's two platforms differ: an account not on A is on B.
    SELECT a.platform, a.from_platform, a.person, a.join_day,
           CAST(d.day - a.join_day AS INTEGER) AS day,
           bool_or(a.on_from) AS on_from,
           bool_or(NOT a.on_from) AS on_to
    FROM accounts AS a
    JOIN user_days AS d ON d.uid = a.uid
    WHERE d.day BETWEEN a.join_day - 30 AND a.join_day + 30
    GROUP BY ALL
), active_counts AS (
    SELECT platform, from_platform, join_day, day,
           count(*) FILTER (WHERE on_from AND NOT on_to) AS from_only,
           count(*) FILTER (WHERE on_to AND NOT on_from) AS to_only,
           count(*) FILTER (WHERE on_from AND on_to) AS "both"
    FROM active
    GROUP BY ALL
), summed AS (
    SELECT o.platform, o.from_platform, o.day,
           sum(o.migrants) AS migrants,
           sum(coalesce(a.from_only, 0)) AS from_only,
           sum(coalesce(a.to_only, 0)) AS to_only,
           sum(coalesce(a."both", 0)) AS "both"
    FROM observed AS o
    LEFT JOIN active_counts AS a USING (platform, from_platform, join_day, day)
    GROUP BY ALL
), grid AS (
    SELECT DISTINCT platform, from_platform, CAST(unnest(range(-30, 31)) AS INTEGER) AS day
    FROM cohorts
), counted AS (
    SELECT g.platform, g.from_platform, g.day,
           coalesce(s.migrants, 0) AS migrants, s.from_only, s.to_only, s."both",
           s.migrants - s.from_only - s.to_only - s."both" AS neither
    FROM grid AS g
    LEFT JOIN summed AS s USING (platform, from_platform, day)
)
SELECT platform, from_platform, day, migrants, from_only, to_only, "both", neither,
       from_only / migrants AS share_from_only,
       to_only / migrants AS share_to_only,
       "both" / migrants AS share_both,
       neither / migrants AS share_neither
FROM counted
ORDER BY platform, from_platform, day;
