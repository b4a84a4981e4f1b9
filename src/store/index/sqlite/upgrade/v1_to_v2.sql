-- Version 2: streams record their KVS storage tier (CreateStream's StreamStorageConfiguration).
ALTER TABLE streams
  ADD COLUMN storage_tier TEXT NOT NULL DEFAULT 'HOT' CHECK (storage_tier IN ('HOT', 'WARM'));

-- Version 2 also adds the fragment index (track headers and fragments).
CREATE TABLE track_headers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  timecode_scale INTEGER NOT NULL,
  tracks BLOB NOT NULL
);
CREATE INDEX track_headers_stream ON track_headers (stream_id, id);

CREATE TABLE fragments (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  producer_ms INTEGER NOT NULL,
  server_ms INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  track_header_id INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  cluster_len INTEGER NOT NULL,
  trailer_len INTEGER NOT NULL,
  PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;
CREATE INDEX fragments_producer ON fragments (stream_id, producer_ms);
CREATE INDEX fragments_server ON fragments (stream_id, server_ms);

-- Version 2 also adds retention's tables: the per-segment summary and the garbage list.
CREATE TABLE segments (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  segment INTEGER NOT NULL,
  first_server_ms INTEGER NOT NULL,
  last_server_ms INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  fragments INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (stream_id, segment)
) WITHOUT ROWID;

CREATE TABLE garbage (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  segment INTEGER NOT NULL,
  marked_ms INTEGER NOT NULL,
  PRIMARY KEY (stream_id, segment)
) WITHOUT ROWID;

-- Version 2 also adds the RTSP cameras the server pulls.
CREATE TABLE cameras (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  username TEXT,
  password TEXT,
  stream_name TEXT NOT NULL,
  transport TEXT NOT NULL CHECK (transport IN ('tcp', 'udp')),
  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1))
) WITHOUT ROWID;
