-- Batches uploaded in chunks (submit_batch of very large batches): tasks wait here until the
-- upload is sealed, then move to `tasks` in one transaction, so a batch is never half visible.
-- An upload survives a restart: the client may go on with the same upload id.
CREATE TABLE uploads (
  id         TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  tasks      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE upload_tasks (
  seq       INTEGER PRIMARY KEY,
  upload_id TEXT NOT NULL REFERENCES uploads(id),
  task_id   TEXT NOT NULL,
  type      TEXT NOT NULL,
  data      TEXT NOT NULL,
  priority  INTEGER NOT NULL,
  UNIQUE (upload_id, task_id)
);
