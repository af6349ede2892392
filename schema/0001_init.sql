-- fleetd schema, version 1. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE batches (
  id           TEXT PRIMARY KEY,
  created_at   INTEGER NOT NULL,
  started_at   INTEGER,                 -- first attempt of any task
  finished_at  INTEGER,                 -- every task terminal
  cancelled_at INTEGER,
  total        INTEGER NOT NULL CHECK (total > 0),
  succeeded    INTEGER NOT NULL DEFAULT 0,
  failed       INTEGER NOT NULL DEFAULT 0,
  cancelled    INTEGER NOT NULL DEFAULT 0,
  retries      INTEGER NOT NULL DEFAULT 0,  -- failed attempts that were scheduled again
  duration_ms  INTEGER NOT NULL DEFAULT 0,  -- sum over succeeded and failed tasks
  CHECK (succeeded + failed + cancelled <= total)
);

CREATE TABLE tasks (
  seq           INTEGER PRIMARY KEY,    -- submission order: FIFO within a priority
  batch_id      TEXT NOT NULL REFERENCES batches(id),
  task_id       TEXT NOT NULL,
  type          TEXT NOT NULL,
  data          TEXT NOT NULL,          -- JSON
  priority      INTEGER NOT NULL DEFAULT 0,
  state         TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending','running','retry_wait','succeeded','failed','cancelled')),
  attempts      INTEGER NOT NULL DEFAULT 0,  -- attempts started, interrupted ones included
  interruptions INTEGER NOT NULL DEFAULT 0,  -- attempts cut short by a crash or shutdown
  not_before    INTEGER NOT NULL DEFAULT 0,  -- earliest start of the next attempt (retry_wait)
  result        TEXT,                   -- JSON of the successful attempt
  error         TEXT,                   -- error of the last failed attempt
  started_at    INTEGER,
  finished_at   INTEGER,
  duration_ms   INTEGER,                -- of the attempt that finished the task
  UNIQUE (batch_id, task_id)
);
-- Next runnable task: highest priority first, then submission order.
CREATE INDEX tasks_runnable ON tasks (priority DESC, seq) WHERE state = 'pending';
-- Next retry that becomes due.
CREATE INDEX tasks_retry_due ON tasks (not_before) WHERE state = 'retry_wait';
-- Tasks left running by a process that died.
CREATE INDEX tasks_running ON tasks (seq) WHERE state = 'running';

CREATE TABLE attempts (
  task_seq    INTEGER NOT NULL REFERENCES tasks(seq),
  attempt     INTEGER NOT NULL,         -- 1-based, in start order
  worker_id   TEXT NOT NULL,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  outcome     TEXT CHECK (outcome IN ('succeeded','failed','timed_out','cancelled','interrupted')),
  error       TEXT,
  PRIMARY KEY (task_seq, attempt)
) WITHOUT ROWID;

-- The persisted fleet configuration: one row, written by update_config and scale_workers.
CREATE TABLE fleet_config (
  id                     INTEGER PRIMARY KEY CHECK (id = 1),
  max_concurrent_workers INTEGER NOT NULL,
  worker_timeout_ms      INTEGER NOT NULL,
  retry_failed_tasks     INTEGER NOT NULL,
  max_retries            INTEGER NOT NULL,
  backoff_base_ms        INTEGER NOT NULL,
  backoff_factor         REAL NOT NULL,
  backoff_cap_ms         INTEGER NOT NULL,
  updated_at             INTEGER NOT NULL
);

-- Append-only audit trail of every state change.
CREATE TABLE events (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  kind     TEXT NOT NULL,
  batch_id TEXT,
  task_id  TEXT,
  detail   TEXT                         -- JSON, may be NULL
);
CREATE INDEX events_by_batch ON events (batch_id, id);

CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
