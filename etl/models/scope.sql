-- The rows a contribution reads: scope_signups, scope_user_days, scope_user_hours.
-- What: a full rebuild reads everything (views); an incremental phase reads only the users
-- a batch touched (small tables), as of a file watermark.
-- Parameters: scope_wm (rows with file_id / batch <= scope_wm; the old or the new state).

-- name: everyone
CREATE OR REPLACE TEMP VIEW scope_signups AS
SELECT s.platform, s.user_id, s.signup_ts, local_ts(s.signup_ts, z.off, z.uniform) AS local_signup
FROM signups AS s
JOIN tz_hours AS z ON z.hour = date_trunc('hour', s.signup_ts)
WHERE s.file_id <= getvariable('scope_wm');
CREATE OR REPLACE TEMP VIEW scope_user_days AS
SELECT platform, user_id, day FROM user_days WHERE batch <= getvariable('scope_wm');
CREATE OR REPLACE TEMP VIEW scope_user_hours AS
SELECT platform, user_id, hour, first_ts, last_ts
FROM user_hours
WHERE batch <= getvariable('scope_wm');

-- name: touched
CREATE OR REPLACE TEMP TABLE scope_signups AS
SELECT s.platform, s.user_id, s.signup_ts, local_ts(s.signup_ts, z.off, z.uniform) AS local_signup
FROM signups AS s
SEMI JOIN touched AS t ON t.platform = s.platform AND t.user_id = s.user_id
JOIN tz_hours AS z ON z.hour = date_trunc('hour', s.signup_ts)
WHERE s.file_id <= getvariable('scope_wm');
CREATE OR REPLACE TEMP TABLE scope_user_days AS
SELECT d.platform, d.user_id, d.day
FROM user_days AS d
SEMI JOIN touched AS t ON t.platform = d.platform AND t.user_id = d.user_id
WHERE d.batch <= getvariable('scope_wm');
CREATE OR REPLACE TEMP TABLE scope_user_hours AS
SELECT h.platform, h.user_id, h.hour, h.first_ts, h.last_ts
FROM user_hours AS h
SEMI JOIN touched AS t ON t.platform = h.platform AND t.user_id = h.user_id
WHERE h.batch <= getvariable('scope_wm');
