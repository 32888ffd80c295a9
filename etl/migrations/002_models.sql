-- Metric models (etl/refresh.py, etl/models/*.sql): derived activity tables, additive
-- count tables maintained incrementally, and the serving tables that publish copies.
-- Timestamps are UTC (naive TIMESTAMP); DATE columns are calendar days of the reporting
-- timezone. No keys on the large tables: they are only appended to or rebuilt set-wise.

-- Refresh state: the raw-file watermark already folded into the models, the metric
-- definitions they were built with (a change forces a full rebuild), the last refresh.
CREATE TABLE model_state (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- User activity by UTC hour, from activity events. Appended per batch, so a late event
-- may add a second row for the same (platform, user_id, hour): readers sum or union.
-- first_ts/last_ts make day, hour and "within 24 h" membership exact in any timezone.
CREATE TABLE user_hours (
    platform VARCHAR   NOT NULL,
    user_id  VARCHAR   NOT NULL,
    hour     TIMESTAMP NOT NULL,
    events   BIGINT    NOT NULL,
    first_ts TIMESTAMP NOT NULL,
    last_ts  TIMESTAMP NOT NULL,
    batch    BIGINT    NOT NULL   -- file watermark of the refresh that added the row
);

-- Distinct active days per user, in the reporting timezone (unique rows).
CREATE TABLE user_days (
    platform VARCHAR NOT NULL,
    user_id  VARCHAR NOT NULL,
    day      DATE    NOT NULL,
    batch    BIGINT  NOT NULL
);

-- Raw-table aggregates per platform, merged monotonically from each batch.
CREATE TABLE c_platform (
    platform     VARCHAR NOT NULL,
    first_signup TIMESTAMP,
    last_signup  TIMESTAMP,
    first_event  TIMESTAMP,
    last_event   TIMESTAMP,
    signups      BIGINT NOT NULL,
    deletions    BIGINT NOT NULL
);

-- Additive counts: a refresh subtracts the old contribution of the users a batch touches
-- and adds their new one, so only those users' history is read again.
CREATE TABLE c_signups (
    platform     VARCHAR   NOT NULL,
    grain        VARCHAR   NOT NULL,
    bucket_start TIMESTAMP NOT NULL,
    signups      BIGINT    NOT NULL
);

CREATE TABLE c_cohorts (
    platform     VARCHAR   NOT NULL,
    cohort_grain VARCHAR   NOT NULL,
    cohort_start TIMESTAMP NOT NULL,
    users        BIGINT    NOT NULL
);

-- dau per day; wau_delta/mau_delta are difference arrays (running sum = WAU/MAU).
CREATE TABLE c_active (
    platform  VARCHAR NOT NULL,
    day       DATE    NOT NULL,
    dau       BIGINT  NOT NULL,
    wau_delta BIGINT  NOT NULL,
    mau_delta BIGINT  NOT NULL
);

-- retained: users active in the period; last_here: users whose last period (capped) is
-- this one (suffix sum = retained_or_after).
CREATE TABLE c_retention (
    platform     VARCHAR   NOT NULL,
    cohort_grain VARCHAR   NOT NULL,
    cohort_start TIMESTAMP NOT NULL,
    period       INTEGER   NOT NULL,
    retained     BIGINT    NOT NULL,
    last_here    BIGINT    NOT NULL
);

-- bucket: first local day of the day or week.
CREATE TABLE c_lifecycle (
    platform     VARCHAR   NOT NULL,
    grain        VARCHAR   NOT NULL,
    bucket       DATE      NOT NULL,
    new          BIGINT    NOT NULL,
    "returning"  BIGINT    NOT NULL,
    resurrected  BIGINT    NOT NULL,
    dormant      BIGINT    NOT NULL
);

CREATE TABLE c_activation (
    platform      VARCHAR NOT NULL,
    cohort_day    DATE    NOT NULL,
    activated_24h BIGINT  NOT NULL,
    activated_7d  BIGINT  NOT NULL
);

-- Serving tables: the columns of DESIGN.md's "Serving snapshot contract".
CREATE TABLE m_platforms (
    platform     VARCHAR NOT NULL,
    t0           TIMESTAMP,
    first_signup TIMESTAMP,
    last_event   TIMESTAMP,
    signups      BIGINT NOT NULL,
    deletions    BIGINT NOT NULL,
    net_users    BIGINT NOT NULL
);

CREATE TABLE m_signups (
    platform     VARCHAR   NOT NULL,
    grain        VARCHAR   NOT NULL,
    bucket_start TIMESTAMP NOT NULL,
    elapsed_s    DOUBLE,
    signups      BIGINT    NOT NULL,
    cumulative   BIGINT    NOT NULL,
    complete     BOOLEAN   NOT NULL
);

CREATE TABLE m_milestones (
    platform   VARCHAR NOT NULL,
    users      BIGINT  NOT NULL,
    reached_at TIMESTAMP,
    elapsed_s  DOUBLE
);

CREATE TABLE m_active (
    platform   VARCHAR NOT NULL,
    day        DATE    NOT NULL,
    dau        BIGINT  NOT NULL,
    wau        BIGINT  NOT NULL,
    mau        BIGINT  NOT NULL,
    stickiness DOUBLE,
    warming_up BOOLEAN NOT NULL
);

CREATE TABLE m_retention (
    platform          VARCHAR   NOT NULL,
    cohort_grain      VARCHAR   NOT NULL,
    cohort_start      TIMESTAMP NOT NULL,
    cohort_size       BIGINT    NOT NULL,
    period            INTEGER   NOT NULL,
    retained          BIGINT,
    retained_or_after BIGINT,
    observable        BOOLEAN   NOT NULL
);

CREATE TABLE m_lifecycle (
    platform     VARCHAR   NOT NULL,
    grain        VARCHAR   NOT NULL,
    bucket_start TIMESTAMP NOT NULL,
    new          BIGINT    NOT NULL,
    "returning"  BIGINT    NOT NULL,
    resurrected  BIGINT    NOT NULL,
    dormant      BIGINT    NOT NULL,
    active       BIGINT    NOT NULL
);

CREATE TABLE m_activation (
    platform      VARCHAR NOT NULL,
    cohort_day    DATE    NOT NULL,
    signups       BIGINT  NOT NULL,
    activated_24h BIGINT,
    activated_7d  BIGINT
);
