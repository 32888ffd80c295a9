-- signup_hours: what the signed-up users did in their first hours and days, counted for
-- activation and for hour-cohort retention from one join of signups with user hours.
-- Grain: kind x platform x cohort (temporary, per contribution phase):
--   activation  cohort_day x channel: users with an activity event within 24 h (n1) /
--               7 days (n2) of their signup
--   retention   cohort_hour x period (0..cap_hour): users active in that local hour (n1),
--               users whose last active local hour (capped) is that period (n2)
-- Only user-hours from an hour before the cohort hour to 8 days after it are joined: the
-- 7-day activation window and the cap_hour (47) hour periods lie inside. A user's last
-- active hour is outside only for users whose last active local day (scope_user_seq) is 3
-- or more days after their signup day; that day starts at least 48 hours after the cohort
-- hour (49 local hours, at most one offset change), so their last period is the cap.
-- Local hours: a UTC hour with one whole-hour offset is its own local hour (tz_hours.whole);
-- any other hour reads the local hour of its first and last event (every event lies between
-- them, and a UTC hour spans at most two local hours).
-- Parameters: cap_hour, unique_hours (true when each user-hour is one row and every hour is
-- whole, i.e. a full rebuild in a whole-hour timezone: then no de-duplication is needed).

-- name: counts
-- grain: kind x platform x cohort x period or channel
-- reads: scope_signups, scope_user_hours, scope_user_seq, tz_hours
-- writes: scope_hour_counts
-- params: cap_hour, unique_hours
CREATE OR REPLACE TEMP TABLE scope_hour_counts AS
WITH cohort AS (
    SELECT platform, uid, signup_ts, CAST(local_signup AS DATE) AS cohort_day,
           date_trunc('hour', local_signup) - (local_signup - signup_ts) AS cohort_hour,
           coalesce(channel, 'unknown') AS channel
    FROM scope_signups
), joined AS (
    SELECT c.platform, c.uid, c.signup_ts, c.cohort_hour, h.first_ts, h.last_ts,
           CASE WHEN z.whole THEN h.hour
                ELSE date_trunc('hour', local_ts(h.first_ts, z.off, z.uniform))
                     - (local_ts(h.first_ts, z.off, z.uniform) - h.first_ts)
           END AS first_hour,
           CASE WHEN z.whole THEN h.hour
                ELSE date_trunc('hour', local_ts(h.last_ts, z.off, z.uniform))
                     - (local_ts(h.last_ts, z.off, z.uniform) - h.last_ts)
           END AS last_hour
    FROM cohort AS c
    JOIN scope_user_hours AS h ON h.uid = c.uid
    JOIN tz_hours AS z ON z.hour = h.hour
    WHERE h.hour >= c.cohort_hour - INTERVAL 1 HOUR
      AND h.hour < c.cohort_hour + INTERVAL 8 DAY
), users AS (
    SELECT uid,
           bool_or(last_ts >= signup_ts AND first_ts <= signup_ts + INTERVAL 24 HOUR)
               AS activated_24h,
           bool_or(last_ts >= signup_ts AND first_ts <= signup_ts + INTERVAL 7 DAY)
               AS activated_7d,
           max(greatest(first_hour, last_hour))
               FILTER (WHERE greatest(first_hour, last_hour) >= cohort_hour) AS last_hour
    FROM joined
    GROUP BY uid
), far AS (
    SELECT uid FROM scope_user_seq WHERE next_day IS NULL AND day >= cohort_day + 3
), per_user AS (
    SELECT c.platform, c.cohort_day, c.cohort_hour, c.channel, u.activated_24h,
           u.activated_7d,
           CASE WHEN f.uid IS NOT NULL THEN getvariable('cap_hour')
                -- least() skips nulls: users with no active hour since signup stay null
                WHEN u.last_hour IS NOT NULL THEN least(
                    CAST((epoch_us(u.last_hour) - epoch_us(c.cohort_hour)) // 3600000000
                         AS INTEGER),
                    getvariable('cap_hour')
                )
           END AS last_period
    FROM cohort AS c
    LEFT JOIN users AS u ON u.uid = c.uid
    LEFT JOIN far AS f ON f.uid = c.uid
), edges AS (
    SELECT platform, uid, cohort_hour, first_hour AS hour_start
    FROM joined
    WHERE first_hour >= cohort_hour
      AND first_hour < cohort_hour + to_hours(getvariable('cap_hour') + 1)
    UNION ALL
    SELECT platform, uid, cohort_hour, last_hour
    FROM joined
    WHERE last_hour <> first_hour
      AND last_hour >= cohort_hour
      AND last_hour < cohort_hour + to_hours(getvariable('cap_hour') + 1)
), active_hours AS (
    SELECT platform, cohort_hour, hour_start FROM edges WHERE getvariable('unique_hours')
    UNION ALL
    SELECT platform, cohort_hour, hour_start
    FROM (SELECT DISTINCT * FROM edges WHERE NOT getvariable('unique_hours'))
)
SELECT 'activation' AS kind, platform, cohort_day, NULL::TIMESTAMP AS cohort_hour,
       NULL::INTEGER AS period, channel,
       count(*) FILTER (WHERE activated_24h) AS n1, count(*) FILTER (WHERE activated_7d) AS n2
FROM per_user
WHERE activated_7d
GROUP BY platform, cohort_day, channel
UNION ALL
SELECT 'retention', platform, NULL, cohort_hour,
       CAST((epoch_us(hour_start) - epoch_us(cohort_hour)) // 3600000000 AS INTEGER),
       NULL, count(*), 0
FROM active_hours
GROUP BY ALL
UNION ALL
SELECT 'retention', platform, NULL, cohort_hour, last_period, NULL, 0, count(*)
FROM per_user
WHERE last_period IS NOT NULL
GROUP BY ALL;
