-- Dead letters and replay: failed tasks are listed through their own small index, and a replayed
-- task starts a new attempt series (its history stays in attempts).
-- replay_base: attempts that counted against max_retries before the last replay.
ALTER TABLE tasks ADD COLUMN replay_base INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_failed ON tasks (seq) WHERE state = 'failed';
