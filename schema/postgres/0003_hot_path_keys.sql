-- fleetd on PostgreSQL, version 3: the two foreign keys on the path of every task go (issue 24).
--
-- PostgreSQL checks a foreign key with a trigger per row: a query of the parent for each task a
-- submit COPYs (tasks.batch_id -> batches) and for each attempt a group commit inserts
-- (attempts.task_seq -> tasks). Measured on a no-op run of 100,000 tasks, those two checks cost
-- 0.4-0.5 s of the submit and about as much of the run: 15% of the throughput (docs/BENCHMARKS.md).
-- A statement-level check over transition tables instead kept only a third of the gain.
--
-- fleetd writes a batch's row and its tasks in one transaction, an attempt only for a task it
-- holds, and retention deletes attempts, then tasks, then the batch, so what the keys guarded
-- holds by construction; the test suites check it after every scenario on PostgreSQL, and
-- docs/AUDIT-POSTGRES.md has the query that finds a row without its parent. The colder keys
-- (dependencies, per-task policies, upload parts) stay.

ALTER TABLE tasks DROP CONSTRAINT tasks_batch_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_task_seq_fkey;
