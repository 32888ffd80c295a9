-- activation: share of each signup day's users with a qualifying (activity) event within
-- 24 hours and within 7 days of their own signup time.
-- Grain: platform x cohort_day (local day of signup, reporting timezone).
-- activated_24h / activated_7d are null while the window of the cohort's last signup has
-- not ended by the platform's data watermark (not observable yet, never 0).
-- Exactness from hourly rows: a user-hour holds an event in [s, s + W] exactly when
-- last_ts >= s and first_ts <= s + W (W >= 1 hour).
-- Parameters: sign.

-- name: contribution
-- grain: platform x cohort_day
-- reads: scope_hour_counts
-- writes: -
-- params: sign
-- The per-user windows are checked in signup_hours.sql (scope_hour_counts).
SELECT platform, cohort_day,
       getvariable('sign') * sum(n1) AS activated_24h,
       getvariable('sign') * sum(n2) AS activated_7d
FROM scope_hour_counts
WHERE kind = 'activation'
GROUP BY ALL;

-- name: serve
-- grain: platform x cohort_day
-- reads: c_activation, c_cohorts, platform_clock
-- writes: -
-- params: -
WITH cohorts AS (
    SELECT c.platform, CAST(local_of(c.cohort_start) AS DATE) AS cohort_day, c.users,
           k.watermark,
           -- a cohort day before the day of the platform's first usage event: unobservable
           coalesce(c.cohort_start >= utc_start(CAST(CAST(local_of(k.first_event) AS DATE)
                                                     AS TIMESTAMP)), false) AS recorded
    FROM c_cohorts AS c
    JOIN platform_clock AS k USING (platform)
    WHERE c.cohort_grain = 'day'
), windows AS (
    SELECT *, utc_start(CAST(cohort_day + 1 AS TIMESTAMP)) AS cohort_end
    FROM cohorts
)
SELECT w.platform, w.cohort_day, w.users AS signups,
       CASE WHEN w.recorded AND w.cohort_end + INTERVAL 24 HOUR <= w.watermark
            THEN coalesce(a.activated_24h, 0) END AS activated_24h,
       CASE WHEN w.recorded AND w.cohort_end + INTERVAL 7 DAY <= w.watermark
            THEN coalesce(a.activated_7d, 0) END AS activated_7d
FROM windows AS w
LEFT JOIN c_activation AS a USING (platform, cohort_day)
ORDER BY w.platform, w.cohort_day;
