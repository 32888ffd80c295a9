-- The last fits of each platform, kept to be reused while their input is unchanged: the
-- key hashes the platform's series of complete buckets, the milestones ahead, the seed
-- and the fits' code (etl/fits/cache.py). `fits` and `forecasts` are that platform's rows
-- of the two snapshot tables, as Arrow IPC streams. Aggregates only: no user is in them.
CREATE TABLE fit_cache (
    platform VARCHAR PRIMARY KEY,
    input_key VARCHAR NOT NULL,
    fits BLOB NOT NULL,
    forecasts BLOB NOT NULL
);
