-- The status page's "recent failures" are the tasks that failed last, not the failed tasks that
-- were submitted last: read backwards through this index, newest failure first, with no sort.
-- It holds failed tasks only, so the hot path pays for it only when a task fails for good.
CREATE INDEX tasks_failed_by_time ON tasks (finished_at, seq) WHERE state = 'failed';
