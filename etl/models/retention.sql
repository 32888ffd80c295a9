-- retention: signup cohorts and the share of each still active N periods later.
-- Grain: platform x cohort_grain (hour, day, week; cut in the reporting timezone) x
-- cohort_start (UTC) x period (0 = the signup bucket). Periods run 0..cap (cap_hour,
-- cap_day, cap_week); hour cohorts are served for the first hour_cohort_days after t0.
--   retained           users of the cohort active in that period ("on")
--   retained_or_after  users active in that period or any later one ("on or after")
--   observable         the period has ended by the platform's data watermark and starts
--                      no earlier than the bucket (of the cohort grain) holding the
--                      platform's first usage event (before it activity was not recorded:
--                      left-censored); when false both counts are null (blank, not 0)
-- Counts kept: retained per period and last_here, the number of users whose last active
-- period (capped) is this one; retained_or_after is its suffix sum.
-- Parameters: sign, cap_hour, cap_day, cap_week, hour_cohort_days, week_start.

-- name: cohorts
-- grain: platform x cohort_grain x cohort_start
-- reads: scope_signups
-- writes: -
-- params: sign
-- Signups are counted per local hour first, so the ICU conversion of a day or week start
-- runs once per bucket, not once per signup.
WITH by_hour AS (
    SELECT platform,
           date_trunc('hour', local_signup) - (local_signup - signup_ts) AS cohort_hour,
           CAST(local_signup AS DATE) AS signup_day,
           count(*) AS users
    FROM scope_signups
    GROUP BY ALL
)
SELECT platform, cohort_grain, cohort_start, getvariable('sign') * sum(users) AS users
FROM (
    SELECT platform, 'hour' AS cohort_grain, cohort_hour AS cohort_start, users FROM by_hour
    UNION ALL
    SELECT platform, 'day', utc_start(CAST(signup_day AS TIMESTAMP)), users
    FROM (SELECT platform, signup_day, sum(users) AS users FROM by_hour GROUP BY ALL)
    UNION ALL
    SELECT platform, 'week', utc_start(CAST(week AS TIMESTAMP)), users
    FROM (SELECT platform, week_of(signup_day) AS week, sum(users) AS users
          FROM by_hour GROUP BY ALL)
)
GROUP BY ALL;

-- name: contribution
-- grain: platform x cohort_grain x cohort_start x period
-- reads: platform_ids, scope_hour_counts, scope_user_seq
-- writes: -
-- params: cap_day, cap_week, sign
-- Day and week periods come from each user's active-day sequence (scope_user_seq): a day
-- opens a week period when the previous active day is before the cohort or in an earlier
-- week, and the user's last period is that of the last active day. Hour periods come from
-- scope_hour_counts (signup_hours.sql). Groups whose counts are all 0 are dropped on merge.
WITH days AS (
    SELECT pid, cohort_day, week_of(cohort_day) AS cohort_week,
           CAST(day - cohort_day AS INTEGER) AS day_period,
           week_of(day) AS week,
           prev_day IS NULL OR prev_day < cohort_day OR week_of(prev_day) < week_of(day)
               AS opens_week,
           next_day IS NULL AS is_last
    FROM scope_user_seq
    WHERE day >= cohort_day
), by_pid AS (
    SELECT pid, 'day' AS grain, CAST(cohort_day AS TIMESTAMP) AS cohort,
           least(day_period, getvariable('cap_day')) AS period,
           count(*) FILTER (WHERE day_period <= getvariable('cap_day')) AS retained,
           count(*) FILTER (WHERE is_last) AS last_here
    FROM days
    GROUP BY ALL
    UNION ALL
    SELECT pid, 'week', CAST(cohort_week AS TIMESTAMP),
           least(CAST((week - cohort_week) // 7 AS INTEGER), getvariable('cap_week')),
           count(*) FILTER (
               WHERE opens_week AND (week - cohort_week) // 7 <= getvariable('cap_week')
           ),
           count(*) FILTER (WHERE is_last)
    FROM days
    GROUP BY ALL
), counted AS (
    SELECT p.platform, b.grain, b.cohort, b.period, b.retained, b.last_here
    FROM by_pid AS b
    JOIN platform_ids AS p ON p.pid = b.pid
    UNION ALL
    SELECT platform, 'hour', cohort_hour, period, n1, n2
    FROM scope_hour_counts
    WHERE kind = 'retention'
)
SELECT platform, grain AS cohort_grain,
       CASE grain WHEN 'hour' THEN cohort ELSE utc_start(cohort) END AS cohort_start,
       period,
       getvariable('sign') * sum(retained) AS retained,
       getvariable('sign') * sum(last_here) AS last_here
FROM counted
GROUP BY platform, grain, cohort, period;

-- name: serve
-- grain: platform x cohort_grain x cohort_start x period
-- reads: c_cohorts, c_retention, platform_clock
-- writes: -
-- params: hour_cohort_days
WITH cohorts AS (
    SELECT c.platform, c.cohort_grain, c.cohort_start, c.users, k.watermark,
           CAST(local_of(c.cohort_start) AS DATE) AS cohort_day,
           CASE c.cohort_grain
               WHEN 'hour' THEN utc_start(date_trunc('hour', local_of(k.first_event)))
               WHEN 'day' THEN utc_start(CAST(CAST(local_of(k.first_event) AS DATE) AS TIMESTAMP))
               ELSE utc_start(CAST(week_of(CAST(local_of(k.first_event) AS DATE)) AS TIMESTAMP))
           END AS usage_start
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
       CASE WHEN observable THEN retained END AS retained,
       CASE WHEN observable THEN or_after END AS retained_or_after,
       observable
FROM (
    SELECT *,
           period_end <= watermark AND coalesce(period_start >= usage_start, false)
               AS observable
    FROM summed
)
ORDER BY platform, cohort_grain, cohort_start, period;
