-- fleetd on PostgreSQL (issue 24), version 1: the schema's mark and the leader lease.
--
-- Several fleetd processes may point at one database; one of them is the active manager and the
-- others wait as standbys. The active one holds the lease: it renews it every second and loses it
-- when it stops renewing for fleet.failover-timeout. Times are the database's clock
-- (clock_timestamp()), never a fleetd's, so fleetd machines whose clocks disagree agree on the
-- lease.

-- The schema's mark (SQLite's application_id and user_version): what is not fleetd's, or newer
-- than this fleetd, is refused before anything is written.
CREATE TABLE fleetd_schema (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  application TEXT NOT NULL,
  version     INTEGER NOT NULL
);

-- One row. `epoch` counts the terms: every takeover raises it, and every write of the active
-- manager checks in its own transaction that the epoch is still its own (fencing: a fleetd that was
-- paused past its lease can never write after another took over).
CREATE TABLE leader_lease (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  holder      TEXT,                              -- the active fleetd; NULL: never held or released
  epoch       BIGINT NOT NULL DEFAULT 0,
  acquired_at TIMESTAMPTZ,
  renewed_at  TIMESTAMPTZ,
  expires_at  TIMESTAMPTZ NOT NULL DEFAULT 'epoch' -- free from this moment on
);
INSERT INTO leader_lease (id) VALUES (1);

-- Every term, for the audit: who was the active manager from when. A term that ended cleanly has
-- released_at; one whose holder vanished ends where the next term begins.
CREATE TABLE leader_terms (
  epoch       BIGINT PRIMARY KEY,
  holder      TEXT NOT NULL,
  acquired_at TIMESTAMPTZ NOT NULL,
  released_at TIMESTAMPTZ
);
