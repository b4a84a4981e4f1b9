-- Version 4: frame-feed consumers and their checkpoints (src/store/index/sqlite/consumers.rs).
CREATE TABLE consumers (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  fragment_seq INTEGER NOT NULL,
  producer_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (stream_id, name)
) WITHOUT ROWID;
