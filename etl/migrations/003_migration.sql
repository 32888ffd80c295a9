-- Channels and cross-platform migration: an additive count table per signup
-- channel and the serving tables channels, overlap, migration and migrant_activity.
-- Timestamps are UTC (naive TIMESTAMP); DATE columns are days of the reporting timezone.

-- Per platform, local signup day and channel (NULL channel stored as 'unknown'): signups,
-- users active on the local day 1 / 7 / 30 days after their signup day, and users with an
-- activity event within 24 hours / 7 days of their signup time.
CREATE TABLE c_channels (
    platform      VARCHAR NOT NULL,
    cohort_day    DATE    NOT NULL,
    channel       VARCHAR NOT NULL,
    signups       BIGINT  NOT NULL,
    retained_d1   BIGINT  NOT NULL,
    retained_d7   BIGINT  NOT NULL,
    retained_d30  BIGINT  NOT NULL,
    activated_24h BIGINT  NOT NULL,
    activated_7d  BIGINT  NOT NULL
);

CREATE TABLE m_channels (
    platform      VARCHAR   NOT NULL,
    grain         VARCHAR   NOT NULL,
    bucket_start  TIMESTAMP NOT NULL,
    channel       VARCHAR   NOT NULL,
    signups       BIGINT    NOT NULL,
    cumulative    BIGINT    NOT NULL,
    complete      BOOLEAN   NOT NULL,
    retained_d1   BIGINT,
    retained_d7   BIGINT,
    retained_d30  BIGINT,
    observable_d1  BOOLEAN  NOT NULL,
    observable_d7  BOOLEAN  NOT NULL,
    observable_d30 BOOLEAN  NOT NULL,
    activated_24h BIGINT,
    activated_7d  BIGINT
);

CREATE TABLE m_overlap (
    platform          VARCHAR NOT NULL,
    other_platform    VARCHAR NOT NULL,
    people            BIGINT  NOT NULL,
    first_on_platform BIGINT  NOT NULL,
    first_on_other    BIGINT  NOT NULL,
    same_time         BIGINT  NOT NULL,
    lag_median_s      DOUBLE,
    lag_p90_s         DOUBLE
);

CREATE TABLE m_migration (
    platform          VARCHAR NOT NULL,
    from_platform     VARCHAR NOT NULL,
    day               DATE    NOT NULL,
    signups           BIGINT  NOT NULL,
    migrants          BIGINT  NOT NULL,
    share             DOUBLE,
    recently_active   BIGINT  NOT NULL,
    recently_active_share DOUBLE,
    complete          BOOLEAN NOT NULL
);

CREATE TABLE m_migrant_activity (
    platform        VARCHAR NOT NULL,
    from_platform   VARCHAR NOT NULL,
    day             INTEGER NOT NULL,
    migrants        BIGINT  NOT NULL,
    from_only       BIGINT,
    to_only         BIGINT,
    "both"          BIGINT,
    neither         BIGINT,
    share_from_only DOUBLE,
    share_to_only   DOUBLE,
    share_both      DOUBLE,
    share_neither   DOUBLE
);
