-- fleet.max-pending-batches counts the unfinished batches at every submit: a partial index keeps
-- that count proportional to the unfinished ones, not to every batch ever stored.
CREATE INDEX batches_unfinished ON batches (created_at) WHERE finished_at IS NULL;
