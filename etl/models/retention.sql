-- retention: signup cohorts and the share of each still active N periods later.
-- Grain: platform x cohort_grain (hour, day, week; cut in the reporting timezone) x
-- cohort_start (UTC) x period (0 = the signup bucket). Periods run 0..cap (cap_hour,
-- cap_day, cap_week); hour cohorts are served for the first hour_cohort_days after t0.
--   retained           users of the cohort active in that period ("on")
--   retained_or_after  users active in that period or any later one ("on or after")
--   observable         the period has ended by the platform's data watermark; when false
--                      both counts are null (blank, not 0)
-- Counts kept: retained per period and last_here, the number of users whose last active
-- period (capped) is this one; retained_or_after is its suffix sum.
-- Parameters: sign, cap_hour, cap_day, cap_week, hour_cohort_days, week_start.

-- name: cohorts
WITH located AS (
    SELECT platform, signup_ts, local_signup, CAST(local_signup AS DATE) AS signup_day
    FROM scope_signups
)
SELECT platform, cohort_grain, cohort_start, getvariable('sign') * count(*) AS users
FROM (
    SELECT platform, 'hour' AS cohort_grain,
           date_trunc('hour', local_signup) - (local_signup - signup_ts) AS cohort_start
    FROM located
    UNION ALL
    SELECT platform, 'day', utc_start(CAST(signup_day AS TIMESTAMP)) FROM located
    UNION ALL
    SELECT platform, 'week', utc_start(CAST(week_of(signup_day) AS TIMESTAMP)) FROM located
)
GROUP BY ALL;

-- name: contribution
WITH cohort AS (
    SELECT platform, user_id,
           CAST(local_signup AS DATE) AS cohort_day,
           week_of(CAST(local_signup AS DATE)) AS cohort_week,
           date_trunc('hour', local_signup) - (local_signup - signup_ts) AS cohort_hour
    FROM scope_signups
), active_days AS (
    SELECT c.platform, c.user_id, c.cohort_day, c.cohort_week, d.day
    FROM cohort AS c
    JOIN scope_user_days AS d ON d.platform = c.platform AND d.user_id = c.user_id
    WHERE d.day >= c.cohort_day
), active_hours AS (
    SELECT c.platform, c.user_id, c.cohort_hour,
           date_trunc('hour', local_ts(edge.ts, z.off, z.uniform))
               - (local_ts(edge.ts, z.off, z.uniform) - edge.ts) AS hour_start
    FROM cohort AS c
    JOIN scope_user_hours AS h ON h.platform = c.platform AND h.user_id = c.user_id
    JOIN tz_hours AS z ON z.hour = h.hour
    CROSS JOIN LATERAL (SELECT unnest([h.first_ts, h.last_ts]) AS ts) AS edge
    WHERE h.hour >= c.cohort_hour - INTERVAL 1 HOUR
), periods AS (
    SELECT platform, user_id, 'day' AS grain, CAST(cohort_day AS TIMESTAMP) AS cohort,
           CAST(day - cohort_day AS INTEGER) AS period
    FROM active_days
    UNION ALL
    SELECT DISTINCT platform, user_id, 'week', CAST(cohort_week AS TIMESTAMP),
           CAST((week_of(day) - cohort_week) // 7 AS INTEGER)
    FROM active_days
    UNION ALL
    SELECT DISTINCT platform, user_id, 'hour', cohort_hour,
           CAST((epoch_us(hour_start) - epoch_us(cohort_hour)) // 3600000000 AS INTEGER)
    FROM active_hours
    WHERE hour_start >= cohort_hour
), counted AS (
    SELECT platform, grain, cohort, period, count(*) AS retained, 0 AS last_here
    FROM periods
    WHERE period <= period_cap(grain)
    GROUP BY ALL
    UNION ALL
    SELECT platform, grain, cohort, least(max(period), period_cap(grain)) AS period,
           0, 1
    FROM periods
    GROUP BY platform, grain, cohort, user_id
)
SELECT platform, grain AS cohort_grain,
       CASE grain WHEN 'hour' THEN cohort ELSE utc_start(cohort) END AS cohort_start,
       period,
       getvariable('sign') * sum(retained) AS retained,
       getvariable('sign') * sum(last_here) AS last_here
FROM counted
GROUP BY platform, grain, cohort, period;

-- name: serve
WITH cohorts AS (
    SELECT c.platform, c.cohort_grain, c.cohort_start, c.users, k.watermark,
           CAST(local_of(c.cohort_start) AS DATE) AS cohort_day
    FROM c_cohorts AS c
    JOIN platform_clock AS k USING (platform)
    WHERE c.cohort_grain <> 'hour'
       OR c.cohort_start < k.t0 + to_days(CAST(getvariable('hour_cohort_days') AS INTEGER))
), cells AS (
    SELECT *, CAST(unnest(range(0, period_cap(cohort_grain) + 1)) AS INTEGER) AS period
    FROM cohorts
), timed AS (
    SELECT *,
           CASE cohort_grain
               WHEN 'hour' THEN cohort_start + to_hours(period)
               WHEN 'day' THEN utc_start(CAST(cohort_day + period AS TIMESTAMP))
               ELSE utc_start(CAST(cohort_day + 7 * period AS TIMESTAMP))
           END AS period_start,
           CASE cohort_grain
               WHEN 'hour' THEN cohort_start + to_hours(period + 1)
               WHEN 'day' THEN utc_start(CAST(cohort_day + period + 1 AS TIMESTAMP))
               ELSE utc_start(CAST(cohort_day + 7 * (period + 1) AS TIMESTAMP))
           END AS period_end
    FROM cells
), started AS (
    SELECT t.*, coalesce(r.retained, 0) AS retained, coalesce(r.last_here, 0) AS last_here
    FROM timed AS t
    LEFT JOIN c_retention AS r USING (platform, cohort_grain, cohort_start, period)
    WHERE t.period_start <= t.watermark
), summed AS (
    SELECT *,
           sum(last_here) OVER (
               PARTITION BY platform, cohort_grain, cohort_start ORDER BY period DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS or_after
    FROM started
)
SELECT platform, cohort_grain, cohort_start, users AS cohort_size, period,
       CASE WHEN period_end <= watermark THEN retained END AS retained,
       CASE WHEN period_end <= watermark THEN or_after END AS retained_or_after,
       period_end <= watermark AS observable
FROM summed
ORDER BY platform, cohort_grain, cohort_start, period;
