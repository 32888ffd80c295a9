-- platforms: one row per platform with data.
-- Grain: platform. Columns: t0 (declared in settings, else the first signup),
-- first_signup, last_event (any usage event), signups, deletions (distinct deleted
-- users), net_users = signups - deletions.
-- Parameters: wm_old < file_id <= wm_new is the batch merged into c_platform (raw rows are
-- only appended between full rebuilds, so min/max/sum merges are exact).

-- name: batch_stats
-- grain: platform
-- reads: deletions, events, signups
-- writes: batch_platform
-- params: wm_new, wm_old
CREATE OR REPLACE TEMP TABLE batch_platform AS
WITH new_signups AS (
    SELECT platform, min(signup_ts) AS first_signup, max(signup_ts) AS last_signup,
           count(*) AS signups
    FROM signups
    WHERE file_id > getvariable('wm_old') AND file_id <= getvariable('wm_new')
    GROUP BY platform
), new_events AS (
    SELECT platform, min(event_ts) AS first_event, max(event_ts) AS last_event
    FROM events
    WHERE file_id > getvariable('wm_old') AND file_id <= getvariable('wm_new')
    GROUP BY platform
), new_deletions AS (
    SELECT n.platform, count(DISTINCT n.user_id) AS deletions
    FROM deletions AS n
    WHERE n.file_id > getvariable('wm_old') AND n.file_id <= getvariable('wm_new')
      AND NOT EXISTS (
          SELECT 1 FROM deletions AS o
          WHERE o.platform = n.platform AND o.user_id = n.user_id
            AND o.file_id <= getvariable('wm_old')
      )
    GROUP BY n.platform
), touched_platforms AS (
    SELECT platform FROM new_signups
    UNION SELECT platform FROM new_events
    UNION SELECT platform FROM new_deletions
)
SELECT p.platform, s.first_signup, s.last_signup, e.first_event, e.last_event,
       coalesce(s.signups, 0) AS signups, coalesce(d.deletions, 0) AS deletions
FROM touched_platforms AS p
LEFT JOIN new_signups AS s USING (platform)
LEFT JOIN new_events AS e USING (platform)
LEFT JOIN new_deletions AS d USING (platform);

-- name: merge_stats
-- grain: platform
-- reads: batch_platform, c_platform
-- writes: c_platform, merged_platform
-- params: -
CREATE OR REPLACE TEMP TABLE merged_platform AS
SELECT platform, min(first_signup), max(last_signup), min(first_event), max(last_event),
       sum(signups), sum(deletions)
FROM (SELECT * FROM c_platform UNION ALL SELECT * FROM batch_platform)
GROUP BY platform;
DELETE FROM c_platform;
INSERT INTO c_platform SELECT * FROM merged_platform;

-- name: ids
-- grain: platform
-- reads: batch_platform, platform_ids
-- writes: platform_ids
-- params: -
-- A small number per platform for user_days and the per-user sort, which then move and
-- group no names; a new platform gets the next number (a full rebuild numbers afresh).
INSERT INTO platform_ids
SELECT b.platform,
       CAST((SELECT coalesce(max(pid), 0) FROM platform_ids)
            + row_number() OVER (ORDER BY b.platform) AS SMALLINT) AS pid
FROM batch_platform AS b
ANTI JOIN platform_ids AS p ON p.platform = b.platform;

-- name: serve
-- grain: platform
-- reads: c_platform, declared_t0
-- writes: -
-- params: -
SELECT c.platform, coalesce(d.t0, c.first_signup) AS t0, c.first_signup, c.last_event,
       c.signups, c.deletions, c.signups - c.deletions AS net_users
FROM c_platform AS c
LEFT JOIN declared_t0 AS d USING (platform)
ORDER BY c.platform;

-- name: clock
-- grain: platform
-- reads: c_platform, m_platforms
-- writes: platform_clock
-- params: -
-- The data watermark of each platform: its latest signup or event. Buckets and periods
-- that end after it are incomplete. first_event: the platform's first usage event; before
-- it, nobody's activity was recorded (a long history whose usage export starts later), so
-- retention and activation there are unobservable, not 0.
CREATE OR REPLACE TEMP TABLE platform_clock AS
SELECT p.platform, p.t0, greatest(c.last_signup, c.last_event) AS watermark, c.first_event
FROM m_platforms AS p
JOIN c_platform AS c USING (platform);
