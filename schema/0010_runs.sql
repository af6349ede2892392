-- Version 10: fleetd's own starts and stops (issue 22). One row per fleetd process that opened
-- the database; a row whose run ended without a clean stop (kill -9, power cut, a crash) is found
-- at the next start and marked so. Each start and each stop is also an event:
--   fleetd_started        fleetd started (batch_id, task_id: NULL)
--                         {"run": N, "version": ..., "pid": N, "options": {the daemon's options in
--                          force}, "config": {every fleet setting in force, by option name},
--                         "overrides": {the settings stored at runtime, which win over the file}}
--   fleetd_stopped        a run ended: {"run": N, "clean": true, "uptime_ms": N, "running": attempts
--                         left to the next start} when it stopped cleanly, written as it stopped;
--                         {"run": N, "clean": false, "started_at": ms} for a run found dead at the
--                         next start (when exactly it died is not known)

CREATE TABLE fleetd_runs (
  id            INTEGER PRIMARY KEY,
  started_at    INTEGER NOT NULL,
  pid           INTEGER NOT NULL,
  version       TEXT NOT NULL,
  stopped_at    INTEGER,                   -- a clean stop; NULL while it runs or if it died
  found_dead_at INTEGER                    -- the next start found it had not stopped cleanly
);
CREATE INDEX fleetd_runs_open ON fleetd_runs (id) WHERE stopped_at IS NULL AND found_dead_at IS NULL;
