-- Poison tasks (issue 16): how many of a task's attempts were lost to a crash of fleetd or to the
-- loss of the node that ran them. Interrupted attempts never count against max_retries, so a task
-- whose attempts keep taking fleetd down would run forever; once this count reaches
-- fleet.max-interruptions the task fails for good instead. A drain at shutdown does not count:
-- fleetd stopped those attempts in order, whatever the task did. A replay sets it back to 0.
ALTER TABLE tasks ADD COLUMN orphaned_attempts INTEGER NOT NULL DEFAULT 0;
