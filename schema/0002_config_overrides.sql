-- Configuration changed at runtime (update_config, scale_workers), one row per field. On restart
-- these values win over the config file; fields never changed at runtime follow the file, so that
-- editing the file keeps working.
CREATE TABLE config_overrides (
  name       TEXT PRIMARY KEY,
  value      NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Schema 1 stored the whole configuration: keep every field, so that such a database behaves
-- exactly as before.
INSERT INTO config_overrides (name, value, updated_at)
  SELECT 'max_concurrent_workers', max_concurrent_workers, updated_at FROM fleet_config
  UNION ALL SELECT 'worker_timeout_ms', worker_timeout_ms, updated_at FROM fleet_config
  UNION ALL SELECT 'retry_failed_tasks', retry_failed_tasks, updated_at FROM fleet_config
  UNION ALL SELECT 'max_retries', max_retries, updated_at FROM fleet_config
  UNION ALL SELECT 'backoff_base_ms', backoff_base_ms, updated_at FROM fleet_config
  UNION ALL SELECT 'backoff_factor', backoff_factor, updated_at FROM fleet_config
  UNION ALL SELECT 'backoff_cap_ms', backoff_cap_ms, updated_at FROM fleet_config;

DROP TABLE fleet_config;
