-- Version 7: queues with their own limits, and groups within them (issue 21). Every task runs in
-- a queue (`queue`, "default" unless it names another); a queue bounds its attempts at once
-- (max_workers), its attempt starts per interval (a token bucket: rate_count per
-- rate_interval_ms), its share of free workers when several queues have work (weight), the
-- attempts at once of each group (a task's `task_group`, e.g. a tenant: group_max_workers), and
-- may be paused. Zero is no limit.
--
-- Queues are declared in the config file ([queue.NAME]) or at runtime (fleetctl queue set). A
-- row of `queues` holds what was set at runtime, field by field: NULL where the config file's
-- value (or the default) applies, so that a runtime change wins over the file after a restart,
-- as config_overrides does for the fleet. Each runtime change writes an event:
--   queue_changed         a queue's limits were set at runtime (batch_id, task_id: NULL)
--                         {"queue": NAME, "set": {the fields given}, "limits": {all in force}}
--
-- The runnable index is per queue now, with one per group for the tasks that have one: the
-- manager reads each queue's next tasks, and a group's next tasks when the group frees a slot.

CREATE TABLE queues (
  name              TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
  max_workers       INTEGER CHECK (max_workers BETWEEN 0 AND 100000),
  rate_count        INTEGER CHECK (rate_count BETWEEN 0 AND 1000000),
  rate_interval_ms  INTEGER CHECK (rate_interval_ms BETWEEN 0 AND 86400000),
  weight            INTEGER CHECK (weight BETWEEN 1 AND 1000),
  group_max_workers INTEGER CHECK (group_max_workers BETWEEN 0 AND 100000),
  paused            INTEGER CHECK (paused IN (0, 1)),
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  CHECK ((rate_count IS NULL) = (rate_interval_ms IS NULL))
) WITHOUT ROWID;

ALTER TABLE tasks ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tasks ADD COLUMN task_group TEXT;

DROP INDEX tasks_runnable;
CREATE INDEX tasks_runnable ON tasks (queue, priority DESC, seq) WHERE state = 'pending' AND paused = 0;
CREATE INDEX tasks_runnable_by_group ON tasks (queue, task_group, priority DESC, seq)
  WHERE state = 'pending' AND paused = 0 AND task_group IS NOT NULL;
