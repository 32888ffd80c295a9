-- signup_hours: what the signed-up users did hour by hour after their signup, counted for
-- activation and for hour-cohort retention from one join of signups with user hours.
-- Grain: kind x platform x cohort (temporary, per contribution phase):
--   activation  cohort_day x channel: users with an activity event within 24 h (n1) /
--               7 days (n2); users active on the local day 1 (n3), 7 (n4), 30 (n5) days
--               after their signup day (channels.sql)
--   retention   cohort_hour x period (0..cap_hour): users active in that local hour (n1),
--               users whose last active local hour (capped) is that period (n2)
-- Local hours: a UTC hour with one whole-hour offset is its own local hour (tz_hours.whole);
-- any other hour reads the local hour of its first and last event (every event lies between
-- them, and a UTC hour spans at most two local hours).
-- Parameters: cap_hour, unique_hours (true when each user-hour is one row and every hour is
-- whole, i.e. a full rebuild in a whole-hour timezone: then no de-duplication is needed).

-- name: counts
CREATE OR REPLACE TEMP TABLE scope_hour_counts AS
WITH cohort AS (
    SELECT platform, uid, signup_ts, CAST(local_signup AS DATE) AS cohort_day,
           date_trunc('hour', local_signup) - (local_signup - signup_ts) AS cohort_hour,
           coalesce(channel, 'unknown') AS channel
    FROM scope_signups
), joined AS (
    SELECT c.platform, c.uid, c.signup_ts, c.cohort_day, c.cohort_hour, c.channel,
           h.first_ts, h.last_ts,
           -- an hour's local days are those of its first and last event
           coalesce(z.day, CAST(local_ts(h.first_ts, z.off, z.uniform) AS DATE)) AS first_day,
           coalesce(z.day, CAST(local_ts(h.last_ts, z.off, z.uniform) AS DATE)) AS last_day,
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
), users AS (
    SELECT any_value(platform) AS platform, any_value(cohort_day) AS cohort_day,
           any_value(cohort_hour) AS cohort_hour, any_value(channel) AS channel,
           bool_or(last_ts >= signup_ts AND first_ts <= signup_ts + INTERVAL 24 HOUR)
               AS activated_24h,
           bool_or(last_ts >= signup_ts AND first_ts <= signup_ts + INTERVAL 7 DAY)
               AS activated_7d,
           bool_or(first_day = cohort_day + 1 OR last_day = cohort_day + 1) AS retained_d1,
           bool_or(first_day = cohort_day + 7 OR last_day = cohort_day + 7) AS retained_d7,
           bool_or(first_day = cohort_day + 30 OR last_day = cohort_day + 30) AS retained_d30,
           max(greatest(first_hour, last_hour))
               FILTER (WHERE greatest(first_hour, last_hour) >= cohort_hour) AS last_hour
    FROM joined
    GROUP BY uid
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
       count(*) FILTER (WHERE activated_24h) AS n1, count(*) FILTER (WHERE activated_7d) AS n2,
       count(*) FILTER (WHERE retained_d1) AS n3, count(*) FILTER (WHERE retained_d7) AS n4,
       count(*) FILTER (WHERE retained_d30) AS n5
FROM users
GROUP BY platform, cohort_day, channel
UNION ALL
SELECT 'retention', platform, NULL, cohort_hour,
       CAST((epoch_us(hour_start) - epoch_us(cohort_hour)) // 3600000000 AS INTEGER),
       NULL, count(*), 0, 0, 0, 0
FROM active_hours
GROUP BY ALL
UNION ALL
SELECT 'retention', platform, NULL, cohort_hour,
       least(
           CAST((epoch_us(last_hour) - epoch_us(cohort_hour)) // 3600000000 AS INTEGER),
           getvariable('cap_hour')
       ),
       NULL, 0, count(*), 0, 0, 0
FROM users
WHERE last_hour IS NOT NULL
GROUP BY ALL;
