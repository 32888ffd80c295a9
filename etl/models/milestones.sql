-- milestones: the exact time of the N-th signup of each platform.
-- Grain: platform x milestone. users lists the configured milestones up to the platform's
-- total plus the next one above it; reached_at is the N-th smallest signup_ts (exact, not
-- bucketed), null when not reached (censored, never 0); elapsed_s = reached_at - t0.
-- The minute counts locate the minute of the N-th signup, so only signups of that minute
-- are ranked rather than sorting every signup.
-- Parameters: milestones (BIGINT[]).

-- name: serve
-- grain: platform x milestone
-- reads: c_signups, m_platforms, signups
-- writes: -
-- params: milestones, wm_new
WITH wanted AS (
    SELECT platform, t0, signups AS total, unnest(getvariable('milestones')) AS users
    FROM m_platforms
), listed AS (
    SELECT platform, t0, users
    FROM wanted
    QUALIFY users <= total
         OR users = min(users) FILTER (WHERE users > total) OVER (PARTITION BY platform)
), minutes AS (
    SELECT platform, bucket_start, signups,
           sum(signups) OVER (
               PARTITION BY platform ORDER BY bucket_start
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS cumulative
    FROM c_signups
    WHERE grain = 'minute'
), located AS (
    SELECT l.platform, l.users, m.bucket_start, l.users - (m.cumulative - m.signups) AS nth
    FROM listed AS l
    JOIN minutes AS m
      ON m.platform = l.platform
     AND l.users > m.cumulative - m.signups
     AND l.users <= m.cumulative
), reached AS (
    SELECT o.platform, o.users, s.signup_ts AS reached_at
    FROM located AS o
    JOIN signups AS s
      ON s.platform = o.platform AND date_trunc('minute', s.signup_ts) = o.bucket_start
    WHERE s.file_id <= getvariable('wm_new')
    QUALIFY row_number() OVER (
        PARTITION BY o.platform, o.users ORDER BY s.signup_ts, s.user_id
    ) = o.nth
)
SELECT l.platform, l.users, r.reached_at,
       (epoch_us(r.reached_at) - epoch_us(l.t0)) / 1e6 AS elapsed_s
FROM listed AS l
LEFT JOIN reached AS r USING (platform, users)
ORDER BY l.platform, l.users;
