-- Version 3: retention (issue 20). fleetd deletes finished batches older than
-- fleet.retain-finished, with their tasks and attempts, and events older than
-- fleet.retain-events, in small transactions (src/fleet/store_retention.cpp). Each pruned batch
-- leaves one `batch_pruned` event with its counts:
--   batch_pruned          retention deleted a finished batch  {"tasks", "succeeded", "failed",
--                                                              "cancelled", "finished_at"}

-- The finished batches oldest first, for the pruner; unfinished batches are never in it.
CREATE INDEX batches_finished ON batches (finished_at) WHERE finished_at IS NOT NULL;

-- Events stay append-only for everyone but fleetd's pruner: fleet_pruning() exists only on
-- fleetd's own connection and is true only while the pruner deletes events older than
-- fleet.retain-events. Anywhere else the delete is refused (by this trigger, or because the
-- function does not exist there).
DROP TRIGGER events_append_only_delete;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events WHEN NOT fleet_pruning()
BEGIN SELECT RAISE(ABORT, 'events are append-only: only fleetd''s pruner deletes old ones (fleet.retain-events)'); END;
