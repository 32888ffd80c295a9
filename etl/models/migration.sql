-- migration: people who signed up on a platform after being active on another one.
-- Grain: platform (B, the destination) x from_platform (A) x day (local day of the signup
-- on B, reporting timezone), dense from the later of B's first signup day and A's first
-- data day (its first signup or usage event) to B's watermark day, for every ordered pair.
-- A migrant from A to B is a person (person_id, see overlap.sql) whose first signup on B
-- came after they were active on A: they signed up on A strictly before, or had a usage
-- (activity) event on A in the 30 days before their signup on B (an account on A is known
-- only through a signup on A that carries the same person_id).
--   signups               B's signups that day (all of them, with a person_id or not)
--   migrants              migrants from A among them; share = migrants / signups (null
--                         when there were no signups)
--   recently_active       migrants with an activity event on A in the 30 days (720 hours)
--                         before their signup on B; recently_active_share of signups
--   complete              the day has ended by B's data watermark
-- Exact from the activity events: see the migrants section. Recomputed in full on every refresh;
-- the cost follows the people on two platforms and their accounts' rows.
-- Parameters: tz, wm_new.

-- name: migrants
-- grain: migrant (person) x pair of platforms
-- reads: c_platform, events, person_signups, person_users
-- writes: migrants
-- params: -
-- One row per migrant and pair: joined = their first signup on B, join_day its local day.
-- recent: activity events joined on the account key alone (a hash join on uid; the 30-day
-- window is a filter, not an OR of ranges in the join). A pair that joined B no later than
-- A's first event cannot have one: its accounts are not joined at all (e.g. a launch's
-- people who joined the incumbent years before).
CREATE OR REPLACE TEMP TABLE migrants AS
WITH pairs AS (
    SELECT a.person, a.platform AS from_platform, b.platform, a.signup_ts AS from_signup,
           b.signup_ts AS joined
    FROM person_signups AS a
    JOIN person_signups AS b ON b.person = a.person AND b.platform <> a.platform
), recent AS (
    SELECT DISTINCT p.person, p.from_platform, p.platform
    FROM pairs AS p
    JOIN c_platform AS f ON f.platform = p.from_platform AND f.first_event < p.joined
    JOIN person_users AS u ON u.person = p.person AND u.platform = p.from_platform
    JOIN events AS e ON e.ukey = u.uid
    WHERE e.event_ts < p.joined AND e.event_ts >= p.joined - INTERVAL 30 DAY
      AND is_activity(e.event_type)
)
SELECT p.person, p.from_platform, p.platform, p.joined,
       CAST(local_of(p.joined) AS DATE) AS join_day,
       r.person IS NOT NULL AS recently_active
FROM pairs AS p
LEFT JOIN recent AS r USING (person, from_platform, platform)
WHERE p.from_signup < p.joined OR r.person IS NOT NULL;

-- name: serve
-- grain: platform x from_platform x day
-- reads: c_channels, c_platform, migrants, platform_clock
-- writes: -
-- params: -
WITH starts AS (
    SELECT platform, CAST(local_of(least(first_signup, first_event)) AS DATE) AS first_day
    FROM c_platform
), bounds AS (
    SELECT b.platform, a.platform AS from_platform, k.watermark,
           greatest(b.first_day, a.first_day) AS first_day,
           CAST(local_of(k.watermark) AS DATE) AS last_day
    FROM starts AS b
    JOIN starts AS a ON a.platform <> b.platform
    JOIN platform_clock AS k ON k.platform = b.platform
), days AS (
    SELECT platform, from_platform, watermark,
           CAST(unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS DATE) AS day
    FROM bounds
    WHERE first_day <= last_day
), signed AS (
    SELECT platform, cohort_day AS day, sum(signups) AS signups
    FROM c_channels
    GROUP BY ALL
), moved AS (
    SELECT platform, from_platform, join_day AS day, count(*) AS migrants,
           count(*) FILTER (WHERE recently_active) AS recently_active
    FROM migrants
    GROUP BY ALL
)
SELECT d.platform, d.from_platform, d.day,
       coalesce(s.signups, 0) AS signups,
       coalesce(m.migrants, 0) AS migrants,
       coalesce(m.migrants, 0) / nullif(s.signups, 0) AS share,
       coalesce(m.recently_active, 0) AS recently_active,
       coalesce(m.recently_active, 0) / nullif(s.signups, 0) AS recently_active_share,
       utc_start(CAST(d.day + 1 AS TIMESTAMP)) <= d.watermark AS complete
FROM days AS d
LEFT JOIN signed AS s USING (platform, day)
LEFT JOIN moved AS m USING (platform, from_platform, day)
ORDER BY d.platform, d.from_platform, d.day;
