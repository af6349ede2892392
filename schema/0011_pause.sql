-- Pause and resume, of one batch or of the whole fleet. A paused batch's tasks leave the runnable
-- index (tasks.paused), so that the tasks behind them run; running attempts finish.
ALTER TABLE tasks ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN paused_at INTEGER;
DROP INDEX tasks_runnable;
CREATE INDEX tasks_runnable ON tasks (priority DESC, seq) WHERE state = 'pending' AND paused = 0;
-- One row while the whole fleet is paused: no attempt starts.
CREATE TABLE fleet_pause (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  paused_at INTEGER NOT NULL
);
