-- Schema version 1, kept verbatim so tests can build a version-1 index and upgrade it.
-- Never edit: it is what existing data directories contain.
CREATE TABLE streams (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  arn TEXT NOT NULL UNIQUE,
  device_name TEXT,
  media_type TEXT,
  kms_key_id TEXT NOT NULL,
  version TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('CREATING', 'ACTIVE', 'UPDATING', 'DELETING')),
  creation_time_ms INTEGER NOT NULL,
  data_retention_hours INTEGER NOT NULL CHECK (data_retention_hours >= 0)
);

CREATE TABLE stream_tags (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (stream_id, key)
) WITHOUT ROWID;
