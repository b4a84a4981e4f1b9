-- vidstream index schema, current version (see SCHEMA_VERSION in mod.rs).
-- A fresh index is created from this file; an older one is brought here by upgrade/*.sql,
-- and a test checks that both paths give the same tables, columns and indexes.

-- One row per stream, including streams being deleted (their name stays reserved until the
-- media is gone).
CREATE TABLE streams (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  arn TEXT NOT NULL UNIQUE,
  device_name TEXT,
  media_type TEXT,
  kms_key_id TEXT NOT NULL,
  -- opaque token, changes on every update (optimistic concurrency)
  version TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('CREATING', 'ACTIVE', 'UPDATING', 'DELETING')),
  -- epoch milliseconds
  creation_time_ms INTEGER NOT NULL,
  data_retention_hours INTEGER NOT NULL CHECK (data_retention_hours >= 0),
  storage_tier TEXT NOT NULL DEFAULT 'HOT' CHECK (storage_tier IN ('HOT', 'WARM'))
);

CREATE TABLE stream_tags (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (stream_id, key)
) WITHOUT ROWID;
