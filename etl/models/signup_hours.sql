-- signup_hours: what the signed-up users did in their first hours and days, counted for
-- activation and for hour-cohort retention from one join of signups with their activity
-- events, grouped by user.
-- Grain: kind x platform x cohort (temporary, per contribution phase):
--   activation  cohort_day x channel: users with an activity event within 24 h (n1) /
--               7 days (n2) of their signup
--   retention   cohort_hour x period (0..cap_hour): users active in that local hour (n1),
--               users whose last active local hour (capped) is that period (n2)
-- Per user: the first event at or after the signup (activated within W exactly when it is
-- no later than signup + W), the set of hour periods 0..cap_hour holding an event (a bit
-- mask: each user-hour counts once, without a distinct over user-hours), and the latest
-- period (capped).
-- Local hours: an event in a UTC hour with one whole-hour offset (tz_hours.whole) is in
-- that hour; otherwise its own local hour start is converted back to UTC, so a period is
-- the number of local hours from the cohort hour, across offset changes too.
-- Raw events compacted by keep_raw_days keep each user-hour's first and last event per
-- type: every count here stays exact (the first and last event of a UTC hour lie in each
-- local hour it spans that holds an event; the first event at or after the signup moves
-- by less than an hour inside the signup's own hour only).
-- Parameters: cap_hour (at most 62: the periods are bits of a BIGINT), whole_hours (every
-- hour of tz_hours is whole), parts and part: counts reads the users whose key hashes to
-- `part` modulo `parts` (refresh.py runs it once per part, so each part's join and grouping
-- fit in memory; every count of a user is in one part, and the readers sum the parts).

-- name: table
-- grain: kind x platform x cohort x period or channel
-- reads: -
-- writes: scope_hour_counts
-- params: -
CREATE OR REPLACE TEMP TABLE scope_hour_counts (
    kind        VARCHAR,
    platform    VARCHAR,
    cohort_day  DATE,
    cohort_hour TIMESTAMP,
    period      INTEGER,
    channel     VARCHAR,
    n1          BIGINT,
    n2          BIGINT
);

-- name: counts
-- grain: kind x platform x cohort x period or channel
-- reads: scope_events, scope_signups, tz_hours
-- writes: scope_hour_counts
-- params: cap_hour, part, parts, whole_hours
INSERT INTO scope_hour_counts
WITH cohort AS (
    SELECT platform, uid, signup_ts, CAST(local_signup AS DATE) AS cohort_day,
           date_trunc('hour', local_signup) - (local_signup - signup_ts) AS cohort_hour,
           coalesce(channel, 'unknown') AS channel
    FROM scope_signups
    WHERE hash(uid) % getvariable('parts') = getvariable('part')
), events AS (
    SELECT uid, event_ts
    FROM scope_events
    WHERE hash(uid) % getvariable('parts') = getvariable('part')
), local_hours AS (
    -- each event's local hour, as the UTC instant it starts: the UTC hour itself when every
    -- hour of the data is whole (no offset needed, no join)
    SELECT c.uid, c.signup_ts, c.cohort_hour, e.event_ts,
           date_trunc('hour', e.event_ts) AS local_hour
    FROM cohort AS c
    JOIN events AS e ON e.uid = c.uid
    WHERE getvariable('whole_hours')
    UNION ALL
    SELECT c.uid, c.signup_ts, c.cohort_hour, e.event_ts,
           CASE WHEN z.whole THEN z.hour
                ELSE date_trunc('hour', local_ts(e.event_ts, z.off, z.uniform))
                     - (local_ts(e.event_ts, z.off, z.uniform) - e.event_ts)
           END
    FROM cohort AS c
    JOIN events AS e ON e.uid = c.uid
    JOIN tz_hours AS z ON z.hour = date_trunc('hour', e.event_ts)
    WHERE NOT getvariable('whole_hours')
), timed AS (
    SELECT uid, signup_ts, event_ts,
           CAST((epoch_us(local_hour) - epoch_us(cohort_hour)) // 3600000000 AS INTEGER)
               AS period
    FROM local_hours
), users AS (
    SELECT uid,
           min(event_ts) FILTER (WHERE event_ts >= signup_ts) AS first_after,
           bit_or(CASE WHEN period BETWEEN 0 AND getvariable('cap_hour')
                       THEN CAST(1 AS BIGINT) << period END) AS periods,
           max(period) AS last_period
    FROM timed
    GROUP BY uid
), per_user AS (
    SELECT c.platform, c.cohort_day, c.cohort_hour, c.channel,
           u.first_after <= c.signup_ts + INTERVAL 24 HOUR AS activated_24h,
           u.first_after <= c.signup_ts + INTERVAL 7 DAY AS activated_7d,
           u.periods,
           CASE WHEN u.last_period >= 0
                THEN least(u.last_period, getvariable('cap_hour'))
           END AS last_period
    FROM users AS u
    JOIN cohort AS c ON c.uid = u.uid
), masks AS (
    -- users per distinct set of active periods: far fewer rows to expand into periods
    SELECT platform, cohort_hour, periods, count(*) AS users
    FROM per_user
    WHERE periods <> 0
    GROUP BY ALL
), active_hours AS (
    SELECT platform, cohort_hour, users, periods,
           CAST(unnest(range(0, getvariable('cap_hour') + 1)) AS INTEGER) AS period
    FROM masks
)
SELECT 'activation' AS kind, platform, cohort_day, NULL::TIMESTAMP AS cohort_hour,
       NULL::INTEGER AS period, channel,
       count(*) FILTER (WHERE activated_24h) AS n1, count(*) AS n2
FROM per_user
WHERE activated_7d
GROUP BY platform, cohort_day, channel
UNION ALL
SELECT 'retention', platform, NULL, cohort_hour, period, NULL, CAST(sum(users) AS BIGINT), 0
FROM active_hours
WHERE (periods >> period) & 1 = 1
GROUP BY platform, cohort_hour, period
UNION ALL
SELECT 'retention', platform, NULL, cohort_hour, last_period, NULL, 0, count(*)
FROM per_user
WHERE last_period IS NOT NULL
GROUP BY ALL;
