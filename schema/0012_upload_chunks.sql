-- An upload stages each chunk as one row instead of one indexed row per task: staging 10,000 tasks
-- is one insert, and the seal drops a few rows instead of every staged task. A task id repeated
-- across chunks is refused by the seal (tasks' UNIQUE (batch_id, task_id)), not by the chunk.
-- Operators read a staged upload with json_each:
--   SELECT c.first + t.key, t.value->>0 FROM upload_chunks c, json_each(c.body) t WHERE c.upload_id = ?
CREATE TABLE upload_chunks (
  upload_id TEXT NOT NULL REFERENCES uploads(id),
  first     INTEGER NOT NULL,           -- position of the chunk's first task in the batch
  tasks     INTEGER NOT NULL CHECK (tasks > 0),
  body      TEXT NOT NULL,              -- JSON array of [task_id, type, data (as a string), priority]
  PRIMARY KEY (upload_id, first)
);

-- Uploads staged by an older fleetd become one chunk each, in submission order.
INSERT INTO upload_chunks (upload_id, first, tasks, body)
  SELECT u.id, 0, (SELECT count(*) FROM upload_tasks WHERE upload_id = u.id),
         (SELECT json_group_array(json_array(s.task_id, s.type, s.data, s.priority))
          FROM (SELECT task_id, type, data, priority FROM upload_tasks WHERE upload_id = u.id
                ORDER BY seq) AS s)
  FROM uploads u
  WHERE EXISTS (SELECT 1 FROM upload_tasks WHERE upload_id = u.id);

DROP TABLE upload_tasks;
