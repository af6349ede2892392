-- Version 4: recurring schedules (issue 20). A schedule submits a batch of its template at each
-- slot of its timing (a cron expression in a time zone, or an interval); the batch's client key
-- names the schedule and the slot ("schedule:NAME@2026-12-02T03:00:00.000Z"), and the firing,
-- the batch and the schedule's `handled_until` are one transaction, so a slot fires at most once
-- across crashes, restarts and clock jumps (src/fleet/schedule.hpp, actors/fleet_manager_schedules.cpp).
-- Events (batch_id: the batch a firing made; detail always has "schedule"):
--   schedule_added        a schedule was created               {"schedule", "source", "cron"|"every", "tz"}
--   schedule_updated      its definition changed               {"schedule", "source", "changes"}
--   schedule_paused       no slot fires until resumed          {"schedule"}
--   schedule_resumed      slots fire again (from now on)       {"schedule"}
--   schedule_removed      the schedule was deleted             {"schedule"}
--   schedule_fired        a slot (or `schedule run`) made a batch  {"schedule", "slot" (null for run), "key"}
--   schedule_skipped      a slot did not fire                  {"schedule", "slot", "reason"}
--   schedule_missed       slots passed while fleetd was down   {"schedule", "slots", "first", "last"}

CREATE TABLE schedules (
  name          TEXT PRIMARY KEY,
  cron          TEXT,                     -- 5 fields, macros expanded; NULL for an interval
  time_zone     TEXT,                     -- IANA name the cron expression is read in; NULL: UTC
  every_ms      INTEGER CHECK (every_ms IS NULL OR every_ms >= 1000),
  tasks         TEXT NOT NULL,            -- the batch template: a JSON array of task objects
  missed        TEXT NOT NULL DEFAULT 'skip' CHECK (missed = 'skip' OR missed = 'once'),
  overlap       INTEGER NOT NULL DEFAULT 1 CHECK (overlap = 0 OR overlap = 1),
  paused_at     INTEGER,                  -- NULL unless paused
  source        TEXT NOT NULL CHECK (source = 'runtime' OR source = 'config'),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  handled_until INTEGER NOT NULL,         -- every slot up to this time fired, was skipped or missed
  last_slot     INTEGER,                  -- the slot of the last firing
  last_batch_id TEXT,                     -- the batch of the last firing or run (may be pruned since)
  fired         INTEGER NOT NULL DEFAULT 0,
  skipped       INTEGER NOT NULL DEFAULT 0, -- overlap=false, or the submit was refused (a limit)
  missed_slots  INTEGER NOT NULL DEFAULT 0, -- passed while fleetd was down, not run
  CHECK ((cron IS NULL) <> (every_ms IS NULL))
);
