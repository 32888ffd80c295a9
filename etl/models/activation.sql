-- activation: share of each signup day's users with a qualifying (activity) event within
-- 24 hours and within 7 days of their own signup time.
-- Grain: platform x cohort_day (local day of signup, reporting timezone).
-- activated_24h / activated_7d are null while the window of the cohort's last signup has
-- not ended by the platform's data watermark (not observable yet, never 0).
-- Exactness from hourly rows: a user-hour holds an event in [s, s + W] exactly when
-- last_ts >= s and first_ts <= s + W (W >= 1 hour).
-- Parameters: sign.

-- name: contribution
WITH signed_up AS (
    SELECT platform, user_id, signup_ts, CAST(local_signup AS DATE) AS cohort_day
    FROM scope_signups
), activated AS (
    SELECT u.platform, u.user_id, u.cohort_day,
           bool_or(h.first_ts <= u.signup_ts + INTERVAL 24 HOUR) AS within_24h
    FROM signed_up AS u
    JOIN scope_user_hours AS h ON h.platform = u.platform AND h.user_id = u.user_id
    WHERE h.last_ts >= u.signup_ts AND h.first_ts <= u.signup_ts + INTERVAL 7 DAY
    GROUP BY ALL
)
SELECT platform, cohort_day,
       getvariable('sign') * count(*) FILTER (WHERE within_24h) AS activated_24h,
       getvariable('sign') * count(*) AS activated_7d
FROM activated
GROUP BY ALL;

-- name: serve
WITH cohorts AS (
    SELECT c.platform, CAST(local_of(c.cohort_start) AS DATE) AS cohort_day, c.users,
           k.watermark
    FROM c_cohorts AS c
    JOIN platform_clock AS k USING (platform)
    WHERE c.cohort_grain = 'day'
), windows AS (
    SELECT *, utc_start(CAST(cohort_day + 1 AS TIMESTAMP)) AS cohort_end
    FROM cohorts
)
SELECT w.platform, w.cohort_day, w.users AS signups,
       CASE WHEN w.cohort_end + INTERVAL 24 HOUR <= w.watermark
            THEN coalesce(a.activated_24h, 0) END AS activated_24h,
       CASE WHEN w.cohort_end + INTERVAL 7 DAY <= w.watermark
            THEN coalesce(a.activated_7d, 0) END AS activated_7d
FROM windows AS w
LEFT JOIN c_activation AS a USING (platform, cohort_day)
ORDER BY w.platform, w.cohort_day;
