-- Views for the questions operators ask most (docs/AUDIT.md). Read-only conveniences: fleetd
-- itself never reads them.

-- One row per batch, with the status batch_status reports (the same rules as derive_state).
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
  total,
  succeeded,
  failed,
  cancelled,
  total - succeeded - failed - cancelled AS unfinished,
  retries,
  round(1.0 * min(succeeded + failed + cancelled, total) / total, 4) AS progress,
  created_at,
  started_at,
  finished_at,
  finished_at - created_at AS wall_ms,
  duration_ms AS work_ms
FROM batches;

-- Every attempt of every task, oldest first within a task.
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

-- Per task type: tasks that ended failed, and attempts that failed or timed out (retried or not).
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

-- Tasks finished per minute (UTC), by outcome.
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
