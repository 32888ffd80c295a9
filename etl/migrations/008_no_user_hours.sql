-- The refresh reads activity events directly where it read user_hours (the signups x
-- events join for activation and hour cohorts, user_days, migration's recent activity):
-- grouping every event into user-hours cost more than the reads it saved, since most
-- user-hours hold one or two events. Models version 5 rebuilds user_days on the next
-- refresh.
DROP TABLE IF EXISTS user_hours;
