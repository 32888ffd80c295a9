-- channels: signups by acquisition channel, with day-N retention and activation per channel.
-- Grain: platform x grain (day, week; reporting timezone, weeks start on week_start) x
-- bucket_start (UTC instant of the local bucket start) x channel. A NULL channel is shown
-- as 'unknown'. Series are dense per channel from the platform's first signup bucket to the
-- watermark's bucket, so the channels of a bucket sum to its signups (signups table).
-- The bucket is also a signup cohort: its users' own signup day counts (windows per user):
--   retained_d1/_d7/_d30  users active on the local day 1 / 7 / 30 days after their own
--                         signup day; null (blank) until that day has ended for the
--                         bucket's last signup day (observable_dN false)
--   activated_24h / _7d   users with an activity event within 24 hours / 7 days of their own
--                         signup time; null until the window of the bucket's last possible
--                         signup has ended (as in activation)
--   complete              the bucket has ended by the platform's data watermark
-- Counts kept per local signup day in c_channels; weeks are sums of their days.
-- Parameters: sign, tz, week_start.

-- name: contribution
-- grain: platform x cohort_day x channel
-- reads: platform_ids, scope_hour_counts, scope_signups, scope_user_seq
-- writes: -
-- params: sign
-- Activation per user is checked in signup_hours.sql (scope_hour_counts); day-N retention
-- reads each user's active days (scope_user_seq: one row per user and active day).
WITH counted AS (
    SELECT platform, CAST(local_signup AS DATE) AS cohort_day,
           coalesce(channel, 'unknown') AS channel,
           count(*) AS signups, 0 AS retained_d1, 0 AS retained_d7, 0 AS retained_d30,
           0 AS activated_24h, 0 AS activated_7d
    FROM scope_signups
    GROUP BY ALL
    UNION ALL
    SELECT p.platform, s.cohort_day, s.channel, 0,
           count(*) FILTER (WHERE s.day = s.cohort_day + 1),
           count(*) FILTER (WHERE s.day = s.cohort_day + 7),
           count(*) FILTER (WHERE s.day = s.cohort_day + 30), 0, 0
    FROM scope_user_seq AS s
    JOIN platform_ids AS p ON p.pid = s.pid
    WHERE s.day IN (s.cohort_day + 1, s.cohort_day + 7, s.cohort_day + 30)
    GROUP BY ALL
    UNION ALL
    SELECT platform, cohort_day, channel, 0, 0, 0, 0, n1, n2
    FROM scope_hour_counts
    WHERE kind = 'activation'
)
SELECT platform, cohort_day, channel,
       getvariable('sign') * sum(signups) AS signups,
       getvariable('sign') * sum(retained_d1) AS retained_d1,
       getvariable('sign') * sum(retained_d7) AS retained_d7,
       getvariable('sign') * sum(retained_d30) AS retained_d30,
       getvariable('sign') * sum(activated_24h) AS activated_24h,
       getvariable('sign') * sum(activated_7d) AS activated_7d
FROM counted
GROUP BY ALL;

-- name: serve
-- grain: platform x grain x bucket_start x channel
-- reads: c_channels, platform_clock
-- writes: -
-- params: -
WITH bounds AS (
    SELECT c.platform, min(c.cohort_day) AS first_day,
           CAST(local_of(k.watermark) AS DATE) AS last_day, k.watermark
    FROM c_channels AS c
    JOIN platform_clock AS k USING (platform)
    GROUP BY ALL
), calendar AS (
    SELECT platform, grain, watermark,
           CAST(unnest(generate_series(
               CASE grain WHEN 'week' THEN week_of(first_day) ELSE first_day END,
               CASE grain WHEN 'week' THEN week_of(last_day) ELSE last_day END,
               CASE grain WHEN 'week' THEN INTERVAL 7 DAY ELSE INTERVAL 1 DAY END
           )) AS DATE) AS bucket
    FROM bounds, (VALUES ('day'), ('week')) AS g(grain)
), channels AS (
    SELECT DISTINCT platform, channel FROM c_channels
), by_bucket AS (
    SELECT platform, grain, bucket, channel, sum(signups) AS signups,
           sum(retained_d1) AS retained_d1, sum(retained_d7) AS retained_d7,
           sum(retained_d30) AS retained_d30, sum(activated_24h) AS activated_24h,
           sum(activated_7d) AS activated_7d
    FROM (
        SELECT *, 'day' AS grain, cohort_day AS bucket FROM c_channels
        UNION ALL
        SELECT *, 'week', week_of(cohort_day) FROM c_channels
    )
    GROUP BY ALL
), cells AS (
    SELECT k.platform, k.grain, k.bucket, h.channel, k.watermark,
           k.bucket + CASE k.grain WHEN 'week' THEN 6 ELSE 0 END AS last_day,
           coalesce(b.signups, 0) AS signups,
           coalesce(b.retained_d1, 0) AS retained_d1,
           coalesce(b.retained_d7, 0) AS retained_d7,
           coalesce(b.retained_d30, 0) AS retained_d30,
           coalesce(b.activated_24h, 0) AS activated_24h,
           coalesce(b.activated_7d, 0) AS activated_7d
    FROM calendar AS k
    JOIN channels AS h USING (platform)
    LEFT JOIN by_bucket AS b USING (platform, grain, bucket, channel)
), timed AS (
    SELECT *,
           utc_start(CAST(bucket AS TIMESTAMP)) AS bucket_start,
           utc_start(CAST(last_day + 1 AS TIMESTAMP)) AS bucket_end,
           utc_start(CAST(last_day + 2 AS TIMESTAMP)) <= watermark AS observable_d1,
           utc_start(CAST(last_day + 8 AS TIMESTAMP)) <= watermark AS observable_d7,
           utc_start(CAST(last_day + 31 AS TIMESTAMP)) <= watermark AS observable_d30
    FROM cells
)
SELECT platform, grain, bucket_start, channel, signups,
       sum(signups) OVER (
           PARTITION BY platform, grain, channel ORDER BY bucket_start
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
       ) AS cumulative,
       bucket_end <= watermark AS complete,
       CASE WHEN observable_d1 THEN retained_d1 END AS retained_d1,
       CASE WHEN observable_d7 THEN retained_d7 END AS retained_d7,
       CASE WHEN observable_d30 THEN retained_d30 END AS retained_d30,
       observable_d1, observable_d7, observable_d30,
       CASE WHEN bucket_end + INTERVAL 24 HOUR <= watermark THEN activated_24h END AS activated_24h,
       CASE WHEN bucket_end + INTERVAL 7 DAY <= watermark THEN activated_7d END AS activated_7d
FROM timed
WHERE bucket_start <= watermark
ORDER BY platform, grain, bucket_start, channel;
