-- Idempotent submit: a key the client chose for a batch. Submitting again with the same key
-- returns the batch that has it and stores nothing.
ALTER TABLE batches ADD COLUMN client_key TEXT;
CREATE UNIQUE INDEX batches_by_client_key ON batches (client_key) WHERE client_key IS NOT NULL;
