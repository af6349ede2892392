-- Upload chunks are staged in a binary encoding (src/fleet/upload_chunk.hpp) instead of a JSON
-- array: the seal reads it through fleetd's table-valued function upload_rows(body) in about half
-- the time json_each and ->> took, and the seal is the part of a submit that nothing overlaps.
-- Parts staged as JSON before this version are copied as they are; upload_rows reads both.
-- Only fleetd's connections know upload_rows: operators see each part's position and size.
CREATE TABLE upload_chunks_14 (
  upload_id TEXT NOT NULL REFERENCES uploads(id),
  first     INTEGER NOT NULL,           -- position of the chunk's first task in the batch
  tasks     INTEGER NOT NULL CHECK (tasks > 0),
  body      BLOB NOT NULL,              -- its tasks, binary (or a JSON array staged by schema 12)
  PRIMARY KEY (upload_id, first)
);
INSERT INTO upload_chunks_14 (upload_id, first, tasks, body)
  SELECT upload_id, first, tasks, body FROM upload_chunks;
DROP TABLE upload_chunks;
ALTER TABLE upload_chunks_14 RENAME TO upload_chunks;
