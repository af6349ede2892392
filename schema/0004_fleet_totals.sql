-- Fleet-wide sums of the batch counters, kept by triggers, so that stats() reads one row however
-- many batches there are. The triggers fire once per batch row written, not per task.
CREATE TABLE fleet_totals (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  batches     INTEGER NOT NULL,
  tasks       INTEGER NOT NULL,
  succeeded   INTEGER NOT NULL,
  failed      INTEGER NOT NULL,
  cancelled   INTEGER NOT NULL,
  retries     INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL
);

INSERT INTO fleet_totals
  SELECT 1, count(*), coalesce(sum(total), 0), coalesce(sum(succeeded), 0), coalesce(sum(failed), 0),
         coalesce(sum(cancelled), 0), coalesce(sum(retries), 0), coalesce(sum(duration_ms), 0)
  FROM batches;

CREATE TRIGGER fleet_totals_batch_inserted AFTER INSERT ON batches BEGIN
  UPDATE fleet_totals SET batches = batches + 1, tasks = tasks + NEW.total,
    succeeded = succeeded + NEW.succeeded, failed = failed + NEW.failed,
    cancelled = cancelled + NEW.cancelled, retries = retries + NEW.retries,
    duration_ms = duration_ms + NEW.duration_ms
  WHERE id = 1;
END;

CREATE TRIGGER fleet_totals_batch_counted
AFTER UPDATE OF succeeded, failed, cancelled, retries, duration_ms ON batches BEGIN
  UPDATE fleet_totals SET succeeded = succeeded + NEW.succeeded - OLD.succeeded,
    failed = failed + NEW.failed - OLD.failed, cancelled = cancelled + NEW.cancelled - OLD.cancelled,
    retries = retries + NEW.retries - OLD.retries, duration_ms = duration_ms + NEW.duration_ms - OLD.duration_ms
  WHERE id = 1;
END;

CREATE TRIGGER fleet_totals_batch_deleted AFTER DELETE ON batches BEGIN
  UPDATE fleet_totals SET batches = batches - 1, tasks = tasks - OLD.total,
    succeeded = succeeded - OLD.succeeded, failed = failed - OLD.failed,
    cancelled = cancelled - OLD.cancelled, retries = retries - OLD.retries,
    duration_ms = duration_ms - OLD.duration_ms
  WHERE id = 1;
END;
