-- The rows a contribution reads: scope_signups, scope_user_days, scope_events (activity
-- events: user, time), and the per-user day sequence scope_user_seq built from them.
-- What: a full rebuild reads everything; an incremental refresh reads only the users a
-- batch touched (copied once into small touched_* tables), as of a file watermark.
-- Parameters: scope_wm (rows with file_id / batch <= scope_wm; the old or the new state).

-- name: everyone
-- grain: scope_signups: user; scope_user_days: user x local day; scope_events: activity
--   event
-- reads: events, signups, tz_hours, user_days
-- writes: scope_events, scope_signups, scope_user_days
-- params: scope_wm
CREATE OR REPLACE TEMP VIEW scope_signups AS
SELECT s.platform, s.ukey AS uid, s.signup_ts,
       local_ts(s.signup_ts, z.off, z.uniform) AS local_signup, s.channel
FROM signups AS s
JOIN tz_hours AS z ON z.hour = date_trunc('hour', s.signup_ts)
WHERE s.file_id <= getvariable('scope_wm');
CREATE OR REPLACE TEMP VIEW scope_user_days AS
SELECT pid, uid, day FROM user_days WHERE batch <= getvariable('scope_wm');
CREATE OR REPLACE TEMP VIEW scope_events AS
SELECT ukey AS uid, event_ts
FROM events
WHERE file_id <= getvariable('scope_wm') AND is_activity(event_type);

-- name: touched
-- grain: as everyone, for the touched users
-- reads: events, signups, touched, tz_hours, user_days
-- writes: scope_events, scope_signups, scope_user_days, touched_events, touched_signups,
--   touched_user_days
-- params: scope_wm, wm_new
-- The touched users' rows up to the new watermark, read once: both phases (old, new)
-- filter them by scope_wm.
-- The touched users' signups are found first (materialized): joined with tz_hours first,
-- every signup would build the semi join's hash table.
CREATE OR REPLACE TEMP TABLE touched_signups AS
WITH mine AS MATERIALIZED (
    SELECT s.platform, s.ukey AS uid, s.signup_ts, s.channel, s.file_id
    FROM signups AS s
    SEMI JOIN touched AS t ON t.uid = s.ukey
    WHERE s.file_id <= getvariable('wm_new')
)
SELECT m.platform, m.uid, m.signup_ts,
       local_ts(m.signup_ts, z.off, z.uniform) AS local_signup, m.channel, m.file_id
FROM mine AS m
JOIN tz_hours AS z ON z.hour = date_trunc('hour', m.signup_ts);
CREATE OR REPLACE TEMP TABLE touched_user_days AS
SELECT d.pid, d.uid, d.day, d.batch
FROM user_days AS d
SEMI JOIN touched AS t ON t.uid = d.uid
WHERE d.batch <= getvariable('wm_new');
CREATE OR REPLACE TEMP TABLE touched_events AS
SELECT e.ukey AS uid, e.event_ts, e.file_id
FROM events AS e
SEMI JOIN touched AS t ON t.uid = e.ukey
WHERE e.file_id <= getvariable('wm_new') AND is_activity(e.event_type);
CREATE OR REPLACE TEMP VIEW scope_signups AS
SELECT platform, uid, signup_ts, local_signup, channel
FROM touched_signups
WHERE file_id <= getvariable('scope_wm');
CREATE OR REPLACE TEMP VIEW scope_user_days AS
SELECT pid, uid, day FROM touched_user_days WHERE batch <= getvariable('scope_wm');
CREATE OR REPLACE TEMP VIEW scope_events AS
SELECT uid, event_ts FROM touched_events WHERE file_id <= getvariable('scope_wm');

-- name: sequence
-- grain: user x active local day
-- reads: scope_signups, scope_user_days
-- writes: scope_user_seq
-- params: -
-- Each user's active days in order, with the previous and next active day, the user's
-- signup day and channel (null without a signup): one sort shared by active, lifecycle,
-- retention, channels and signup_hours, which then only count rows.
CREATE OR REPLACE TEMP TABLE scope_user_seq AS
WITH days AS (
    SELECT d.pid, d.uid, d.day, CAST(s.local_signup AS DATE) AS cohort_day,
           CASE WHEN s.uid IS NOT NULL THEN coalesce(s.channel, 'unknown') END AS channel
    FROM scope_user_days AS d
    LEFT JOIN scope_signups AS s ON s.uid = d.uid
)
SELECT pid, uid, day, cohort_day, channel,
       lag(day) OVER w AS prev_day,
       lead(day) OVER w AS next_day
FROM days
WINDOW w AS (PARTITION BY uid ORDER BY day);
