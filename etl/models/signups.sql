-- signups: signups per bucket with the running total and elapsed time since t0.
-- Grain: platform x grain (minute, hour, day, week) x bucket. Buckets are cut in the
-- reporting timezone (tz; weeks start on ISO day week_start) and stored as UTC instants.
-- Hour, day and week series are dense from the first signup's bucket to the watermark's
-- (zeros included); minute buckets are listed only when they hold signups (a dense minute
-- series over years would be millions of empty rows).
-- complete is false for a bucket that ends after the platform's data watermark.
-- Parameters: sign (+1 / -1: add or remove a contribution), tz, week_start.

-- name: contribution
-- grain: platform x grain x bucket_start
-- reads: scope_signups
-- writes: -
-- params: sign
WITH by_minute AS (
    SELECT platform, date_trunc('minute', signup_ts) AS minute, local_signup - signup_ts AS off,
           count(*) AS n
    FROM scope_signups
    GROUP BY ALL
), by_local_day AS (
    SELECT platform, CAST(minute + off AS DATE) AS day, sum(n) AS n
    FROM by_minute
    GROUP BY ALL
), buckets AS (
    SELECT platform, 'minute' AS grain, minute AS bucket_start, n FROM by_minute
    UNION ALL
    SELECT platform, 'hour', date_trunc('hour', minute + off) - off, n FROM by_minute
    UNION ALL
    SELECT platform, 'day', utc_start(CAST(day AS TIMESTAMP)), n FROM by_local_day
    UNION ALL
    SELECT platform, 'week', utc_start(CAST(week_of(day) AS TIMESTAMP)), n FROM by_local_day
)
SELECT platform, grain, bucket_start, getvariable('sign') * sum(n) AS signups
FROM buckets
GROUP BY ALL;

-- name: serve
-- grain: platform x grain x bucket
-- reads: c_signups, platform_clock
-- writes: -
-- params: -
WITH firsts AS (
    SELECT c.platform, c.grain, min(c.bucket_start) AS first_bucket, k.watermark
    FROM c_signups AS c
    JOIN platform_clock AS k USING (platform)
    WHERE c.grain <> 'minute'
    GROUP BY ALL
), hour_series AS (
    SELECT platform, grain,
           unnest(generate_series(first_bucket, watermark, INTERVAL 1 HOUR)) AS bucket_start
    FROM firsts
    WHERE grain = 'hour'
), local_series AS (
    SELECT platform, grain,
           CAST(unnest(generate_series(
               CAST(local_of(first_bucket) AS DATE),
               CAST(local_of(watermark) AS DATE) + 7,
               CASE grain WHEN 'day' THEN INTERVAL 1 DAY ELSE INTERVAL 7 DAY END
           )) AS DATE) AS local_day
    FROM firsts
    WHERE grain IN ('day', 'week')
), calendar AS (
    SELECT platform, grain, bucket_start, bucket_start + INTERVAL 1 HOUR AS bucket_end
    FROM hour_series
    UNION ALL
    SELECT platform, grain, utc_start(CAST(local_day AS TIMESTAMP)),
           utc_start(CAST(local_day + CASE grain WHEN 'day' THEN 1 ELSE 7 END AS TIMESTAMP))
    FROM local_series
    UNION ALL
    SELECT platform, grain, bucket_start, bucket_start + INTERVAL 1 MINUTE
    FROM c_signups
    WHERE grain = 'minute'
), counted AS (
    SELECT k.platform, k.grain, k.bucket_start, k.bucket_end, coalesce(c.signups, 0) AS signups
    FROM calendar AS k
    LEFT JOIN c_signups AS c USING (platform, grain, bucket_start)
)
SELECT n.platform, n.grain, n.bucket_start,
       (epoch_us(n.bucket_start) - epoch_us(p.t0)) / 1e6 AS elapsed_s,
       n.signups,
       sum(n.signups) OVER (
           PARTITION BY n.platform, n.grain ORDER BY n.bucket_start
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
       ) AS cumulative,
       n.bucket_end <= p.watermark AS complete
FROM counted AS n
JOIN platform_clock AS p USING (platform)
WHERE n.bucket_start <= p.watermark
ORDER BY n.platform, n.grain, n.bucket_start;
