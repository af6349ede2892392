-- Version 5: per-task policies (issue 21). A task may run under its own timeout, retry budget and
-- backoff instead of the fleet's configuration (update_config). Most tasks have none, so the
-- policy lives beside the task, one row for each task that has one: a task without a row
-- follows the fleet's configuration, as every task did before, and the hot path of a task without
-- a policy writes nothing more. A NULL field follows the fleet's configuration too.
--
-- The row is written with its task, in the same transaction, and deleted with it by retention.
-- What the fields mean: include/fleetd/task.hpp (task_policy); what the fleet does with them:
-- src/fleet/retry_policy.cpp (effective_config).

CREATE TABLE task_policies (
  task_seq    INTEGER PRIMARY KEY REFERENCES tasks(seq),
  timeout_ms  INTEGER CHECK (timeout_ms IS NULL OR timeout_ms >= 1),      -- each attempt's deadline
  max_retries INTEGER CHECK (max_retries IS NULL OR max_retries >= 0),    -- retries after the first attempt
  backoff_ms  INTEGER CHECK (backoff_ms IS NULL OR backoff_ms >= 0),      -- the first retry's backoff
  retry       INTEGER CHECK (retry IS NULL OR retry = 0 OR retry = 1)     -- 0: never retried; 1: retried
                                                                          -- even with retry_failed_tasks off
);
