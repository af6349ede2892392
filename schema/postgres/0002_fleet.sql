-- fleetd on PostgreSQL (issue 24), version 2: the fleet's tables, the same concepts and columns as
-- the SQLite schema's latest version (schema/0001_init.sql through 0012, as tests/data/schema.sql
-- shows it), so that an auditor's queries read the same on both. postgres_tests checks that every
-- SQLite table and column exists here, and that the audit views answer alike for the same rows.
--
-- Where PostgreSQL differs:
-- - Times stay milliseconds since the Unix epoch (BIGINT), as in SQLite: the store binds the same
--   values on both. The views add nothing a cast cannot: to_timestamp(ms / 1000.0).
-- - `seq` has no default: the active manager assigns it in submission order (one past the largest
--   at the start of its term), so a batch's tasks have consecutive seqs as on SQLite.
-- - Each attempt names the term (leader_lease.epoch) of the manager that started it: after a
--   failover, the audit shows which attempts each leader ran.
-- - The append-only events may be deleted only by retention, which says so for its transaction
--   (SET LOCAL fleetd.pruning = 'on'), where SQLite asks a function fleetd registers.
-- - Released with fleetd: a change to these tables is a new numbered file, never an edit here.

CREATE TABLE batches (
  id           TEXT PRIMARY KEY,
  created_at   BIGINT NOT NULL,
  started_at   BIGINT,                       -- first attempt of any task
  finished_at  BIGINT,                       -- every task succeeded, failed or cancelled
  cancelled_at BIGINT,                       -- cancel_batch accepted it
  paused_at    BIGINT,                       -- NULL unless paused: no new attempt starts
  total        BIGINT NOT NULL CHECK (total > 0),
  succeeded    BIGINT NOT NULL DEFAULT 0,    -- the seed API calls this count "completed"
  failed       BIGINT NOT NULL DEFAULT 0,
  cancelled    BIGINT NOT NULL DEFAULT 0,
  retries      BIGINT NOT NULL DEFAULT 0,    -- failed attempts that were scheduled again
  duration_ms  BIGINT NOT NULL DEFAULT 0,    -- sum over succeeded and failed tasks
  first_seq    BIGINT,                       -- the seq range of its tasks: results are paged by
  last_seq     BIGINT,                       -- seq within it
  client_key   TEXT,                         -- the client's idempotency key, if it sent one
  scheduled    BIGINT NOT NULL DEFAULT 0,    -- its tasks in state `scheduled` (waiting for run_at)
  CHECK (succeeded + failed + cancelled <= total)
);
CREATE INDEX batches_unfinished ON batches (created_at) WHERE finished_at IS NULL;
CREATE INDEX batches_finished ON batches (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX batches_by_client_key ON batches (client_key) WHERE client_key IS NOT NULL;
-- The newest batches first (the page, recent_batches): SQLite walks its rowid backwards; here the
-- tasks' seq range, assigned in submission order, stands for it.
CREATE INDEX batches_by_first_seq ON batches (first_seq);

CREATE TABLE tasks (
  seq               BIGINT PRIMARY KEY,      -- submission order: FIFO within a priority
  batch_id          TEXT NOT NULL REFERENCES batches(id),
  task_id           TEXT NOT NULL,
  type              TEXT NOT NULL,
  data              TEXT NOT NULL,           -- JSON, as submitted
  priority          INTEGER NOT NULL DEFAULT 0,
  state             TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'running', 'retry_wait', 'scheduled', 'blocked',
                                     'succeeded', 'failed', 'cancelled')),
  paused            INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)), -- 1 while its batch is paused
  attempts          INTEGER NOT NULL DEFAULT 0,  -- attempts started, interrupted ones included
  interruptions     INTEGER NOT NULL DEFAULT 0,  -- attempts cut short by a crash, a shutdown, a lost
                                                 -- node or a failover
  orphaned_attempts INTEGER NOT NULL DEFAULT 0,  -- of those, lost (not a drain); at
                                                 -- fleet.max-interruptions the task fails for good
  replay_base       INTEGER NOT NULL DEFAULT 0,  -- attempts that counted against max_retries before
                                                 -- the last replay
  not_before        BIGINT NOT NULL DEFAULT 0,   -- earliest start of the next attempt
  result            TEXT,                    -- JSON of the successful attempt
  error             TEXT,                    -- error of the last failed attempt
  started_at        BIGINT,
  finished_at       BIGINT,
  duration_ms       BIGINT,                  -- of the attempt that finished the task
  dependencies      INTEGER NOT NULL DEFAULT 0 CHECK (dependencies >= 0), -- tasks it runs after
  waiting_on        INTEGER NOT NULL DEFAULT 0 CHECK (waiting_on >= 0),   -- of those, not succeeded yet
  dependents        INTEGER NOT NULL DEFAULT 0 CHECK (dependents >= 0),   -- tasks that run after it
  progress          DOUBLE PRECISION CHECK (progress IS NULL OR (progress >= 0 AND progress <= 1)),
  progress_note     TEXT,                    -- the note of the latest stored progress report
  queue             TEXT NOT NULL DEFAULT 'default',
  task_group        TEXT,
  UNIQUE (batch_id, task_id)
);
CREATE INDEX tasks_runnable ON tasks (queue, priority DESC, seq, task_group) WHERE state = 'pending' AND paused = 0;
CREATE INDEX tasks_retry_due ON tasks (not_before) WHERE state = 'retry_wait';
CREATE INDEX tasks_running ON tasks (seq) WHERE state = 'running';
CREATE INDEX tasks_failed ON tasks (seq) WHERE state = 'failed';
CREATE INDEX tasks_failed_by_time ON tasks (finished_at, seq) WHERE state = 'failed';
CREATE INDEX tasks_scheduled_due ON tasks (not_before) WHERE state = 'scheduled';
CREATE INDEX tasks_scheduled_by_batch ON tasks (batch_id, not_before) WHERE state = 'scheduled';
CREATE INDEX tasks_blocked_by_batch ON tasks (batch_id) WHERE state = 'blocked';

CREATE TABLE attempts (
  task_seq    BIGINT NOT NULL REFERENCES tasks(seq),
  attempt     INTEGER NOT NULL,              -- 1-based, in start order
  worker_id   TEXT NOT NULL,
  node        TEXT,                          -- the fleet-node that ran it; NULL: fleetd's own workers
  started_at  BIGINT NOT NULL,
  finished_at BIGINT,                        -- NULL while it runs
  outcome     TEXT CHECK (outcome IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted')),
  error       TEXT,
  epoch       BIGINT NOT NULL,               -- the term of the manager that started it (leader_terms)
  PRIMARY KEY (task_seq, attempt)
);

CREATE TABLE task_deps (
  after_seq BIGINT NOT NULL REFERENCES tasks(seq),
  task_seq  BIGINT NOT NULL REFERENCES tasks(seq),
  PRIMARY KEY (after_seq, task_seq)
);
CREATE INDEX task_deps_by_task ON task_deps (task_seq, after_seq);

CREATE TABLE task_policies (
  task_seq    BIGINT PRIMARY KEY REFERENCES tasks(seq),
  timeout_ms  BIGINT CHECK (timeout_ms IS NULL OR timeout_ms >= 1),
  max_retries INTEGER CHECK (max_retries IS NULL OR max_retries >= 0),
  backoff_ms  BIGINT CHECK (backoff_ms IS NULL OR backoff_ms >= 0),
  retry       INTEGER CHECK (retry IS NULL OR retry IN (0, 1))
);

-- The audit log; `kind` and `detail` as in schema/0001_init.sql.
CREATE TABLE events (
  id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           BIGINT NOT NULL,
  kind         TEXT NOT NULL,
  batch_id     TEXT,
  task_id      TEXT,
  detail       TEXT,
  requested_by TEXT
);
CREATE INDEX events_by_batch ON events (batch_id, id);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('fleetd.pruning', true) = 'on' THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'events are append-only: only fleetd''s pruner deletes old ones (fleet.retain-events)';
  END IF;
  RAISE EXCEPTION 'events are append-only';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TABLE uploads (
  id         TEXT PRIMARY KEY,
  created_at BIGINT NOT NULL,
  tasks      BIGINT NOT NULL DEFAULT 0       -- tasks staged so far
);
CREATE TABLE upload_parts (
  upload_id TEXT NOT NULL REFERENCES uploads(id),
  first     BIGINT NOT NULL,                 -- position of the part's first task in the batch
  tasks     BIGINT NOT NULL CHECK (tasks > 0),
  body      BYTEA NOT NULL,
  PRIMARY KEY (upload_id, first)
);

CREATE TABLE config_overrides (
  name       TEXT PRIMARY KEY,
  value      NUMERIC NOT NULL,               -- an integer or a real, by field
  updated_at BIGINT NOT NULL
);

CREATE TABLE fleet_pause (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  paused_at BIGINT NOT NULL
);

-- Sums over all batches, kept by triggers, so that stats() reads one row.
CREATE TABLE fleet_totals (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  batches     BIGINT NOT NULL,
  tasks       BIGINT NOT NULL,
  succeeded   BIGINT NOT NULL,
  failed      BIGINT NOT NULL,
  cancelled   BIGINT NOT NULL,
  retries     BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  scheduled   BIGINT NOT NULL DEFAULT 0
);
INSERT INTO fleet_totals VALUES (1, 0, 0, 0, 0, 0, 0, 0, 0);

CREATE FUNCTION fleet_totals_follow_batches() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE fleet_totals SET batches = batches + 1, tasks = tasks + NEW.total,
      succeeded = succeeded + NEW.succeeded, failed = failed + NEW.failed,
      cancelled = cancelled + NEW.cancelled, retries = retries + NEW.retries,
      duration_ms = duration_ms + NEW.duration_ms, scheduled = scheduled + NEW.scheduled
    WHERE id = 1;
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE fleet_totals SET succeeded = succeeded + NEW.succeeded - OLD.succeeded,
      failed = failed + NEW.failed - OLD.failed, cancelled = cancelled + NEW.cancelled - OLD.cancelled,
      retries = retries + NEW.retries - OLD.retries, duration_ms = duration_ms + NEW.duration_ms - OLD.duration_ms,
      scheduled = scheduled + NEW.scheduled - OLD.scheduled
    WHERE id = 1;
    RETURN NEW;
  END IF;
  UPDATE fleet_totals SET batches = batches - 1, tasks = tasks - OLD.total,
    succeeded = succeeded - OLD.succeeded, failed = failed - OLD.failed,
    cancelled = cancelled - OLD.cancelled, retries = retries - OLD.retries,
    duration_ms = duration_ms - OLD.duration_ms, scheduled = scheduled - OLD.scheduled
  WHERE id = 1;
  RETURN OLD;
END $$;
CREATE TRIGGER fleet_totals_batch_inserted AFTER INSERT ON batches
FOR EACH ROW EXECUTE FUNCTION fleet_totals_follow_batches();
CREATE TRIGGER fleet_totals_batch_counted
AFTER UPDATE OF succeeded, failed, cancelled, retries, duration_ms, scheduled ON batches
FOR EACH ROW EXECUTE FUNCTION fleet_totals_follow_batches();
CREATE TRIGGER fleet_totals_batch_deleted AFTER DELETE ON batches
FOR EACH ROW EXECUTE FUNCTION fleet_totals_follow_batches();

-- Each fleetd process that ran on this database; `holder` is its name in the lease's terms.
CREATE TABLE fleetd_runs (
  id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at    BIGINT NOT NULL,
  pid           BIGINT NOT NULL,
  version       TEXT NOT NULL,
  stopped_at    BIGINT,                   -- a clean stop; NULL while it runs or if it died
  found_dead_at BIGINT,                   -- a later start found it had not stopped cleanly
  holder        TEXT                      -- host:pid:start of the process (leader_lease.holder)
);
CREATE INDEX fleetd_runs_open ON fleetd_runs (id) WHERE stopped_at IS NULL AND found_dead_at IS NULL;

CREATE TABLE queues (
  name              TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
  max_workers       INTEGER CHECK (max_workers BETWEEN 0 AND 100000),
  rate_count        INTEGER CHECK (rate_count BETWEEN 0 AND 1000000),
  rate_interval_ms  BIGINT CHECK (rate_interval_ms BETWEEN 0 AND 86400000),
  weight            INTEGER CHECK (weight BETWEEN 1 AND 1000),
  group_max_workers INTEGER CHECK (group_max_workers BETWEEN 0 AND 100000),
  paused            INTEGER CHECK (paused IN (0, 1)),
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL,
  CHECK ((rate_count IS NULL) = (rate_interval_ms IS NULL))
);

CREATE TABLE schedules (
  name          TEXT PRIMARY KEY,
  cron          TEXT,                     -- 5 fields, macros expanded; NULL for an interval
  time_zone     TEXT,                     -- IANA name the cron expression is read in; NULL: UTC
  every_ms      BIGINT CHECK (every_ms IS NULL OR every_ms >= 1000),
  tasks         TEXT NOT NULL,            -- the batch template: a JSON array of task objects
  missed        TEXT NOT NULL DEFAULT 'skip' CHECK (missed IN ('skip', 'once')),
  overlap       INTEGER NOT NULL DEFAULT 1 CHECK (overlap IN (0, 1)),
  paused_at     BIGINT,                   -- NULL unless paused
  source        TEXT NOT NULL CHECK (source IN ('runtime', 'config')),
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  handled_until BIGINT NOT NULL,          -- every slot up to this time fired, was skipped or missed
  last_slot     BIGINT,                   -- the slot of the last firing
  last_batch_id TEXT,                     -- the batch of the last firing or run (may be pruned since)
  fired         BIGINT NOT NULL DEFAULT 0,
  skipped       BIGINT NOT NULL DEFAULT 0,
  missed_slots  BIGINT NOT NULL DEFAULT 0,
  CHECK ((cron IS NULL) <> (every_ms IS NULL))
);

-- A dependency's result as the JSON a dependent's attempt receives: the stored JSON, or the text as
-- a JSON string when it is not JSON (SQLite: CASE WHEN json_valid(x) THEN json(x) ELSE x END).
CREATE FUNCTION fleetd_json_or_text(x TEXT) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN x::jsonb;
EXCEPTION WHEN others THEN
  RETURN to_jsonb(x);
END $$;

-- The audit views of schema/0001_init.sql, column for column.
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
  round(least(succeeded + failed + cancelled, total)::numeric / total, 4) AS progress,
  created_at,
  started_at,
  finished_at,
  finished_at - created_at AS wall_ms,
  duration_ms AS work_ms
FROM batches;

CREATE VIEW failures_by_type AS
SELECT
  t.type,
  count(DISTINCT CASE WHEN t.state = 'failed' THEN t.seq END) AS failed_tasks,
  count(*) AS failed_attempts,
  count(*) FILTER (WHERE a.outcome = 'timed_out') AS timed_out_attempts,
  max(a.finished_at) AS last_failure_at
FROM attempts a JOIN tasks t ON t.seq = a.task_seq
WHERE a.outcome IN ('failed', 'timed_out')
GROUP BY t.type;

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
  a.error,
  a.epoch
FROM tasks t JOIN attempts a ON a.task_seq = t.seq;

CREATE VIEW throughput_per_minute AS
SELECT
  to_char(to_timestamp(min(finished_at) / 60000 * 60) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS minute,
  count(*) AS finished,
  count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
  count(*) FILTER (WHERE state = 'failed') AS failed,
  count(*) FILTER (WHERE state = 'cancelled') AS cancelled
FROM tasks
WHERE finished_at IS NOT NULL
GROUP BY finished_at / 60000
ORDER BY minute;
