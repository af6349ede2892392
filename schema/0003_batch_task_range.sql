-- The seq range of each batch's tasks (inserted together, by one writer): results are paged by
-- seq within it, with no extra index on the hot insert path.
ALTER TABLE batches ADD COLUMN first_seq INTEGER;
ALTER TABLE batches ADD COLUMN last_seq INTEGER;
UPDATE batches SET
  first_seq = (SELECT min(seq) FROM tasks WHERE tasks.batch_id = batches.id),
  last_seq = (SELECT max(seq) FROM tasks WHERE tasks.batch_id = batches.id);
