-- Calendar helpers shared by every model (temporary, per refresh).
-- What: macros that place UTC instants in the reporting timezone, and tz_hours, the UTC
-- offset of every UTC hour the data spans.
-- Why: ICU conversions cost ~200 ns a row and ICU date_trunc('hour') merges the repeated
-- hour when clocks fall back; adding the hour's offset is exact and cheap, and the rare
-- hour whose offset changes inside it (`uniform` false) falls back to ICU per row.
-- user_key: a fixed-width key of a string id in a namespace: the 128-bit MD5 of namespace,
-- 0x1f, id. Only person ids use it (overlap.sql): accounts carry their dense integer key
-- `ukey` from ingest (the user dictionary, migration 006), which the derived table
-- user_days and the per-user sort use as `uid`.
-- is_activity: an event counts as activity when its type is in activity_types (all but
-- account_deleted when empty) and not in inactive_types (rows that are not people acting,
-- e.g. Amplitude's "Daily Ad Metrics").
-- Parameters (DuckDB variables): tz, week_start (ISO 1=Mon..7=Sun), activity_types, inactive_types,
-- range_start, range_end (UTC hours covered by tz_hours).

-- name: macros
-- grain: - (macros)
-- reads: -
-- writes: is_activity, local_of, local_ts, period_cap, user_key, utc_start, week_of
-- params: activity_types, cap_day, cap_hour, cap_week, inactive_types, tz, week_start
CREATE OR REPLACE TEMP MACRO local_of(ts) AS
    timezone(getvariable('tz'), timezone('UTC', ts));
CREATE OR REPLACE TEMP MACRO local_ts(ts, off, uniform) AS
    CASE WHEN uniform THEN ts + off ELSE local_of(ts) END;
CREATE OR REPLACE TEMP MACRO utc_start(local_start) AS
    timezone('UTC', timezone(getvariable('tz'), local_start));
CREATE OR REPLACE TEMP MACRO week_of(d) AS
    d - CAST((isodow(d) - getvariable('week_start') + 7) % 7 AS INTEGER);
CREATE OR REPLACE TEMP MACRO is_activity(event_type) AS
    CASE
        WHEN len(getvariable('activity_types')) = 0 THEN event_type <> 'account_deleted'
        ELSE list_contains(getvariable('activity_types'), event_type)
    END
    AND NOT list_contains(getvariable('inactive_types'), event_type);
CREATE OR REPLACE TEMP MACRO user_key(platform, user_id) AS
    md5_number(platform || chr(31) || user_id);
CREATE OR REPLACE TEMP MACRO period_cap(grain) AS
    CASE grain
        WHEN 'hour' THEN getvariable('cap_hour')
        WHEN 'day' THEN getvariable('cap_day')
        ELSE getvariable('cap_week')
    END;

-- name: tz_hours
-- grain: UTC hour
-- reads: -
-- writes: tz_hours
-- params: range_end, range_start
-- whole: the hour has one offset, a whole number of hours, so it is exactly one local hour
-- (local hour start = the UTC hour); day: its local day when the whole hour falls on one
-- local day (null otherwise: read the day of each event edge instead).
CREATE OR REPLACE TEMP TABLE tz_hours AS
WITH hours AS (
    SELECT unnest(generate_series(
        getvariable('range_start'), getvariable('range_end'), INTERVAL 1 HOUR
    )) AS hour
), offsets AS (
    SELECT
        hour,
        local_of(hour) - hour AS off,
        local_of(hour + INTERVAL 3599999999 MICROSECOND)
            - (hour + INTERVAL 3599999999 MICROSECOND) = local_of(hour) - hour AS uniform
    FROM hours
)
SELECT
    hour,
    off,
    uniform,
    uniform AND date_trunc('hour', hour + off) = hour + off AS whole,
    CASE
        WHEN uniform AND CAST(hour + off AS DATE)
            = CAST(hour + off + INTERVAL 3599999999 MICROSECOND AS DATE)
        THEN CAST(hour + off AS DATE)
    END AS day
FROM offsets;
