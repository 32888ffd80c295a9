-- User ids live once, in the user dictionary (user_keys). An event row carries its user's
-- id only until the user has a key: the load stores it for the few users it cannot key as
-- it inserts (events before any signup), keys them before the run commits and clears the
-- id. Writing every event's id string was a third of the cost of storing the events.
-- `events_with_ids` is the events with their users' ids, for anyone who reads them.
ALTER TABLE events ALTER COLUMN user_id DROP NOT NULL;
UPDATE events SET user_id = NULL WHERE ukey IS NOT NULL;
CREATE VIEW events_with_ids AS
SELECT e.platform, coalesce(e.user_id, k.user_id) AS user_id, e.event_ts, e.event_type,
       e.event_id, e.dedupe_key, e.file_id, e.ukey
FROM events AS e
LEFT JOIN user_keys AS k ON k.ukey = e.ukey;
