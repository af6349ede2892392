-- Version 8: a group's next tasks are read through the queue's runnable index (issue 21).
--
-- tasks_runnable_by_group cost every start of a task with a group one more index page written,
-- at a page per start when groups interleave, whether or not a group cap ever binds: a third of
-- the throughput with 10,000 groups. The manager now remembers where each group at its cap was
-- left out of the window and reads on from there through tasks_runnable, which carries the group
-- so that the tasks of other groups are passed over in the index, without reading their rows.

DROP INDEX tasks_runnable_by_group;
DROP INDEX tasks_runnable;
CREATE INDEX tasks_runnable ON tasks (queue, priority DESC, seq, task_group) WHERE state = 'pending' AND paused = 0;
