-- overlap: people on two platforms, linked by person_id (a pseudonymous key of the same
-- person across platforms; signups without one are left out).
-- Grain: ordered pair of platforms (platform, other_platform), every pair of platforms with
-- data (people 0 when none are shared). A person's time on a platform is their earliest
-- signup there (two accounts of one person on one platform count once).
--   people             persons with a signup on both platforms
--   first_on_platform  of those, signed up on `platform` strictly before `other_platform`
--   first_on_other     signed up on `other_platform` strictly first
--   same_time          both signups at the same instant
--   lag_median_s, lag_p90_s  seconds from the signup on `platform` to the later signup on
--                      `other_platform`, over first_on_platform people: exact quantiles with
--                      linear interpolation (quantile_cont); null when there are none
-- Recomputed in full on every refresh from the signups that carry a person_id (small next
-- to the raw streams), so an incremental refresh equals a full one by construction.
-- Parameters: wm_new.

-- name: people
-- grain: person_users: person x account; person_signups: person x platform
-- reads: signups
-- writes: person_signups, person_users
-- params: wm_new
-- person_users: the accounts of people on two or more platforms (one person may hold
-- several on a platform); person_signups: each such person's earliest signup per platform.
-- `person` is the person_id's fixed-width key (user_key) and `uid` the account's stored
-- integer key (ukey), so the joins here and in migration.sql and migrant_activity.sql
-- compare numbers, not text.
CREATE OR REPLACE TEMP TABLE person_users AS
WITH linked AS (
    SELECT person_id
    FROM signups
    WHERE person_id IS NOT NULL AND file_id <= getvariable('wm_new')
    GROUP BY person_id
    HAVING min(platform) < max(platform)  -- two platforms or more
)
SELECT user_key('person', s.person_id) AS person, s.platform,
       s.ukey AS uid, s.signup_ts
FROM signups AS s
JOIN linked AS l USING (person_id)
WHERE s.file_id <= getvariable('wm_new');
CREATE OR REPLACE TEMP TABLE person_signups AS
SELECT person, platform, min(signup_ts) AS signup_ts
FROM person_users
GROUP BY ALL;

-- name: serve
-- grain: platform x other_platform
-- reads: m_platforms, person_signups
-- writes: -
-- params: -
WITH pairs AS (
    SELECT a.platform, b.platform AS other_platform
    FROM m_platforms AS a, m_platforms AS b
    WHERE a.platform <> b.platform
), shared AS (
    SELECT a.platform, b.platform AS other_platform,
           count(*) AS people,
           count(*) FILTER (WHERE a.signup_ts < b.signup_ts) AS first_on_platform,
           count(*) FILTER (WHERE b.signup_ts < a.signup_ts) AS first_on_other,
           count(*) FILTER (WHERE a.signup_ts = b.signup_ts) AS same_time,
           quantile_cont((epoch_us(b.signup_ts) - epoch_us(a.signup_ts)) / 1e6, 0.5)
               FILTER (WHERE a.signup_ts < b.signup_ts) AS lag_median_s,
           quantile_cont((epoch_us(b.signup_ts) - epoch_us(a.signup_ts)) / 1e6, 0.9)
               FILTER (WHERE a.signup_ts < b.signup_ts) AS lag_p90_s
    FROM person_signups AS a
    JOIN person_signups AS b ON b.person = a.person AND b.platform <> a.platform
    GROUP BY ALL
)
SELECT p.platform, p.other_platform,
       coalesce(s.people, 0) AS people,
       coalesce(s.first_on_platform, 0) AS first_on_platform,
       coalesce(s.first_on_other, 0) AS first_on_other,
       coalesce(s.same_time, 0) AS same_time,
       s.lag_median_s, s.lag_p90_s
FROM pairs AS p
LEFT JOIN shared AS s USING (platform, other_platform)
ORDER BY p.platform, p.other_platform;
