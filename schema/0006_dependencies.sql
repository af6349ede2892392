-- Version 6: dependencies inside a batch (issue 21). A task may name tasks of its batch it runs
-- after ("after": [ids]); it waits in the new state `blocked` until all of them succeeded, and
-- its attempts receive their results. The edges are rows of task_deps; each task counts its
-- dependencies, those not yet succeeded (waiting_on) and its dependents, so that a task without
-- any costs the hot path nothing: the writer looks at task_deps only for a task whose counts say
-- it has edges (src/fleet/store_dependencies.cpp).
--
-- When a task succeeds, each dependent's waiting_on drops by one, and a dependent at 0 becomes
-- `pending` (not_before: that moment, for its queue wait), in the same transaction. When a task
-- fails for good or is cancelled, every task that depends on it, directly or through others,
-- ends `failed` without an attempt, its error naming the task that failed (its waiting_on stays
-- above 0: that is how a skipped task is told from one that ran and failed), counted as failed;
-- one event per cause:
--   tasks_skipped         dependents ended without an attempt because a dependency failed or
--                         was cancelled (task_id: that dependency)  {"skipped": N, "dependency": "failed"|"cancelled"}
-- Replaying a failed task replays the tasks it skipped too; a replayed task whose dependencies
-- have not all succeeded is `blocked` again.
--
-- The same rebuild gives each task the latest progress its running attempt reported
-- (`progress`, `progress_note`; task_context::progress, a pool worker's progress line), so that
-- a status can show it after the attempt's worker is gone and after a restart.
--
-- `tasks` is rebuilt as in version 2, for the new state and columns.

DROP VIEW task_history;
DROP VIEW failures_by_type;
DROP VIEW throughput_per_minute;
DROP VIEW batch_summary;

CREATE TABLE tasks_v6 (
  seq               INTEGER PRIMARY KEY,     -- submission order: FIFO within a priority
  batch_id          TEXT NOT NULL REFERENCES batches(id),
  task_id           TEXT NOT NULL,
  type              TEXT NOT NULL,
  data              TEXT NOT NULL,           -- JSON, as submitted
  priority          INTEGER NOT NULL DEFAULT 0,
  state             TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state = 'pending' OR state = 'running' OR state = 'retry_wait'
                           OR state = 'scheduled' OR state = 'blocked' OR state = 'succeeded'
                           OR state = 'failed' OR state = 'cancelled'),
  paused            INTEGER NOT NULL DEFAULT 0,  -- 1 while its batch is paused
  attempts          INTEGER NOT NULL DEFAULT 0,  -- attempts started, interrupted ones included
  interruptions     INTEGER NOT NULL DEFAULT 0,  -- attempts cut short by a crash, a shutdown or a lost node
  orphaned_attempts INTEGER NOT NULL DEFAULT 0,  -- of those, lost to a crash or a lost node (not a
                                                 -- drain); at fleet.max-interruptions the task fails
                                                 -- for good, so a task that kills fleetd cannot loop
  replay_base       INTEGER NOT NULL DEFAULT 0,  -- attempts that counted against max_retries before
                                                 -- the last replay (a replay starts a new series)
  not_before        INTEGER NOT NULL DEFAULT 0,  -- earliest start of the next attempt: the task's
                                                 -- run_at (scheduled) or its retry (retry_wait)
  result            TEXT,                    -- JSON of the successful attempt
  error             TEXT,                    -- error of the last failed attempt
  started_at        INTEGER,
  finished_at       INTEGER,
  duration_ms       INTEGER,                 -- of the attempt that finished the task
  dependencies      INTEGER NOT NULL DEFAULT 0 CHECK (dependencies >= 0), -- tasks it runs after (task_deps)
  waiting_on        INTEGER NOT NULL DEFAULT 0 CHECK (waiting_on >= 0),   -- of those, not succeeded yet: it is
                                                 -- `blocked` while above 0; a task that ended `failed`
                                                 -- with it above 0 was skipped (a dependency failed)
  dependents        INTEGER NOT NULL DEFAULT 0 CHECK (dependents >= 0),   -- tasks that run after it
  progress          REAL CHECK (progress IS NULL OR (progress >= 0 AND progress <= 1)), -- the latest
                                                 -- report of its attempt (0..1; NULL: none), stored
                                                 -- at most about once a second, not per report
  progress_note     TEXT,                    -- the note of that report
  UNIQUE (batch_id, task_id)
);
INSERT INTO tasks_v6 (seq, batch_id, task_id, type, data, priority, state, paused, attempts, interruptions,
                      orphaned_attempts, replay_base, not_before, result, error, started_at, finished_at,
                      duration_ms)
SELECT seq, batch_id, task_id, type, data, priority, state, paused, attempts, interruptions,
       orphaned_attempts, replay_base, not_before, result, error, started_at, finished_at, duration_ms
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_v6 RENAME TO tasks;

-- The indexes of versions 1 and 2, unchanged.
CREATE INDEX tasks_runnable ON tasks (priority DESC, seq) WHERE state = 'pending' AND paused = 0;
CREATE INDEX tasks_retry_due ON tasks (not_before) WHERE state = 'retry_wait';
CREATE INDEX tasks_running ON tasks (seq) WHERE state = 'running';
CREATE INDEX tasks_failed ON tasks (seq) WHERE state = 'failed';
CREATE INDEX tasks_failed_by_time ON tasks (finished_at, seq) WHERE state = 'failed';
-- The next delayed tasks that become due, fleet-wide, in the order they do.
CREATE INDEX tasks_scheduled_due ON tasks (not_before) WHERE state = 'scheduled';
-- A batch's next due delayed task, for its status, without reading its other tasks.
CREATE INDEX tasks_scheduled_by_batch ON tasks (batch_id, not_before) WHERE state = 'scheduled';


-- One row per edge: the task `task_seq` runs after the task `after_seq` (both of one batch).
-- Keyed for the writer's question "who waits on this task", with an index for "what does this
-- task wait on" (its attempts' dependency results, the graph).
CREATE TABLE task_deps (
  after_seq INTEGER NOT NULL REFERENCES tasks(seq),
  task_seq  INTEGER NOT NULL REFERENCES tasks(seq),
  PRIMARY KEY (after_seq, task_seq)
) WITHOUT ROWID;
CREATE INDEX task_deps_by_task ON task_deps (task_seq, after_seq);
-- A batch's blocked tasks, counted for its status.
CREATE INDEX tasks_blocked_by_batch ON tasks (batch_id) WHERE state = 'blocked';

-- The views of version 2, unchanged.
CREATE VIEW batch_summary AS
SELECT
  id,
  CASE
    WHEN cancelled_at IS NOT NULL THEN 'cancelled'
    WHEN succeeded + failed + cancelled >= total THEN
      CASE WHEN succeeded = total THEN 'completed' WHEN failed = total THEN 'failed' ELSE 'partial' END
    WHEN started_at IS NOT NULL THEN 'processing'
    ELSE 'pending'
  END AS status,
  paused_at IS NOT NULL AS paused,
  total,
  succeeded,
  failed,
  cancelled,
  total - succeeded - failed - cancelled AS unfinished,
  scheduled,
  retries,
  round(1.0 * min(succeeded + failed + cancelled, total) / total, 4) AS progress,
  created_at,
  started_at,
  finished_at,
  finished_at - created_at AS wall_ms,
  duration_ms AS work_ms
FROM batches;

CREATE VIEW task_history AS
SELECT
  t.batch_id,
  t.task_id,
  t.type,
  t.state AS task_state,
  a.attempt,
  coalesce(a.node, 'local') AS node,
  a.worker_id,
  a.started_at,
  a.finished_at,
  a.finished_at - a.started_at AS duration_ms,
  a.outcome,
  a.error
FROM tasks t JOIN attempts a ON a.task_seq = t.seq;

CREATE VIEW failures_by_type AS
SELECT
  t.type,
  count(DISTINCT CASE WHEN t.state = 'failed' THEN t.seq END) AS failed_tasks,
  count(*) AS failed_attempts,
  sum(a.outcome = 'timed_out') AS timed_out_attempts,
  max(a.finished_at) AS last_failure_at
FROM attempts a JOIN tasks t ON t.seq = a.task_seq
WHERE a.outcome IN ('failed', 'timed_out')
GROUP BY t.type;

CREATE VIEW throughput_per_minute AS
SELECT
  strftime('%Y-%m-%d %H:%M', finished_at / 1000, 'unixepoch') AS minute,
  count(*) AS finished,
  sum(state = 'succeeded') AS succeeded,
  sum(state = 'failed') AS failed,
  sum(state = 'cancelled') AS cancelled
FROM tasks
WHERE finished_at IS NOT NULL
GROUP BY finished_at / 60000
ORDER BY minute;
