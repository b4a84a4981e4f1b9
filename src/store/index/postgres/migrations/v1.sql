-- vidstream PostgreSQL index schema, version 1: the SQLite schema (sqlite/schema.sql, its
-- version 7) translated. Never edit a migration once released: add the next file and list it in
-- open.rs (MIGRATIONS). Applied in one transaction under the migration lock (open.rs).
--
-- Translation rules: INTEGER -> BIGINT (Rust i64 and u32 both fit; tokio-postgres binds i64 as
-- INT8), BLOB -> BYTEA, ids that must never be reused -> BIGINT GENERATED ALWAYS AS IDENTITY
-- (a sequence: never hands a value out twice, even after a rollback or a crash), 0/1 flags ->
-- BOOLEAN. Text that the index orders or compares by range is COLLATE "C": byte-wise, the way
-- SQLite compares TEXT, whatever the database's locale. `offset` is reserved in PostgreSQL: the
-- column is `byte_offset`.

-- One row per stream, including streams being deleted (their name stays reserved until the
-- media is gone).
CREATE TABLE streams (
  -- identity: ids are never reused, so fragment numbers and media/<id>/ stay unique
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  arn TEXT COLLATE "C" NOT NULL UNIQUE,
  device_name TEXT,
  media_type TEXT,
  kms_key_id TEXT NOT NULL,
  -- opaque token, changes on every update (optimistic concurrency)
  version TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('CREATING', 'ACTIVE', 'UPDATING', 'DELETING')),
  -- epoch milliseconds
  creation_time_ms BIGINT NOT NULL,
  data_retention_hours BIGINT NOT NULL CHECK (data_retention_hours >= 0),
  storage_tier TEXT NOT NULL DEFAULT 'HOT' CHECK (storage_tier IN ('HOT', 'WARM'))
);

CREATE TABLE stream_tags (
  stream_id BIGINT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  key TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (stream_id, key)
);

-- The MKV Tracks a stream's fragments were produced under. A new row only when a producer
-- connects with different tracks; fragments point at it.
CREATE TABLE track_headers (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream_id BIGINT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  -- nanoseconds per MKV timecode unit of the stored clusters
  timecode_scale BIGINT NOT NULL,
  -- the Tracks element, MKV-encoded
  tracks BYTEA NOT NULL
);
CREATE INDEX track_headers_stream ON track_headers (stream_id, id);

-- One row per persisted fragment. Fragment number = f(stream_id, seq), see store/fragment.rs.
-- The bytes live in media/<stream_id>/<segment>.seg at [byte_offset, byte_offset + cluster_len
-- + trailer_len): a normalized MKV Cluster followed by the frame table and producer tags.
CREATE TABLE fragments (
  stream_id BIGINT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  producer_ms BIGINT NOT NULL,
  server_ms BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  track_header_id BIGINT NOT NULL,
  -- seq of the segment file's first fragment (its file name)
  segment BIGINT NOT NULL,
  byte_offset BIGINT NOT NULL,
  cluster_len BIGINT NOT NULL,
  trailer_len BIGINT NOT NULL,
  PRIMARY KEY (stream_id, seq)
);
CREATE INDEX fragments_producer ON fragments (stream_id, producer_ms);
CREATE INDEX fragments_server ON fragments (stream_id, server_ms);

-- One row per segment file that holds indexed fragments: a running summary kept by the same
-- transactions that add fragment rows (append) and remove them (retention, phase 1), so that
-- retention reads O(segments) rows per pass instead of scanning every fragment.
CREATE TABLE segments (
  stream_id BIGINT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  segment BIGINT NOT NULL,
  -- server_ms of the segment's first fragment (the writer rotates by its age)
  first_server_ms BIGINT NOT NULL,
  -- the newest server_ms in the segment: it is expired once this is
  last_server_ms BIGINT NOT NULL,
  -- seq of its last fragment and its fragment count: retention marks a segment only if both
  -- are what it saw when it decided
  last_seq BIGINT NOT NULL,
  fragments BIGINT NOT NULL,
  -- sum of cluster_len + trailer_len
  bytes BIGINT NOT NULL,
  PRIMARY KEY (stream_id, segment)
);

-- Retention phase 1 done, phase 2 pending: the segment's fragment rows are gone, its file is
-- deleted once no reader holds it and the row is older than the grace period, then the row goes.
-- No fragment row may be added to a segment listed here.
CREATE TABLE garbage (
  stream_id BIGINT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  segment BIGINT NOT NULL,
  -- server time (epoch ms) of phase 1
  marked_ms BIGINT NOT NULL,
  PRIMARY KEY (stream_id, segment)
);

-- RTSP cameras the server pulls (a vidstream extension; see src/cameras). The server must replay
-- a camera's password, so it is kept sealed (AES-256-GCM under the master key, purpose
-- `camera-password`, bound to the camera's name: src/auth/seal.rs) in `password_sealed`; the API
-- never returns it. `password` is the clear text that SQLite schema versions up to 6 kept (kept
-- here so that the two backends hold the same rows): the camera supervisor seals such a value at
-- start-up and sets it to NULL. `stream_name` is a name, not an id: a camera keeps targeting a
-- stream that is deleted and created again.
CREATE TABLE cameras (
  name TEXT COLLATE "C" PRIMARY KEY,
  -- rtsp:// or rtsps:// URL without userinfo
  url TEXT NOT NULL,
  username TEXT,
  -- legacy clear text; NULL once sealed
  password TEXT,
  stream_name TEXT NOT NULL,
  transport TEXT NOT NULL CHECK (transport IN ('tcp', 'udp')),
  enabled BOOLEAN NOT NULL,
  -- the sealed password (version byte, nonce, ciphertext and tag), NULL = none
  password_sealed BYTEA
);

-- Per-stream image generation configuration (UpdateImageGenerationConfiguration; the frame hook,
-- src/frames/hook). The index keeps it as opaque, already validated KVS JSON: its meaning
-- belongs to the hook, and the store does not depend on `frames`.
CREATE TABLE image_generation (
  stream_id BIGINT PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
  -- the validated ImageGenerationConfiguration, as KVS JSON
  config TEXT NOT NULL,
  -- server time (epoch ms) of the last update
  updated_ms BIGINT NOT NULL
);

-- Frame-feed consumers (a vidstream extension; see src/api/feed.rs): per stream and consumer
-- name, the position of the last frame the consumer processed (fragment seq + the frame's
-- producer timestamp, epoch ms) and when it committed it (server epoch ms).
CREATE TABLE consumers (
  stream_id BIGINT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  name TEXT COLLATE "C" NOT NULL,
  fragment_seq BIGINT NOT NULL,
  producer_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (stream_id, name)
);

-- Access keys (issue 14; src/auth/keys.rs): the pairs that sign requests with SigV4, besides the
-- root key, which lives in the config or DATA_DIR/root-credentials and never here. The secret
-- half is stored sealed with AES-256-GCM under the master key, bound to the key's id (so a row's
-- secret cannot be pasted onto another row); the policy is IAM-style JSON that only src/auth
-- interprets. A temporary key also has a session token, of which only the SHA-256 is kept.
CREATE TABLE access_keys (
  -- VSAK... (long-term) or VSTK... (temporary), 20 characters
  access_key_id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  -- version byte, 96-bit nonce, ciphertext and tag (src/auth/seal.rs)
  secret_sealed BYTEA NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
  policy TEXT NOT NULL,
  -- server epoch ms
  created_ms BIGINT NOT NULL,
  -- server epoch ms after which the key is refused; NULL = never
  expires_ms BIGINT,
  -- SHA-256 of a temporary key's session token; NULL for long-term keys
  session_token_sha256 BYTEA
    CHECK (session_token_sha256 IS NULL OR octet_length(session_token_sha256) = 32),
  -- who made the key: an access key id, a UI user, or `root`
  created_by TEXT NOT NULL
);
-- Expired temporary keys are purged by expiry.
CREATE INDEX access_keys_expires ON access_keys (expires_ms) WHERE expires_ms IS NOT NULL;

-- Web UI users (issue 14; src/auth/users.rs): who may log in to the browser UI, with what
-- policy (IAM-style JSON that only src/auth interprets). Passwords are kept as argon2id hashes
-- (PHC strings, which carry their salt and parameters). Failed logins are counted here so that
-- every node sharing the index counts together: at [auth] login_max_failures in a row the user
-- is locked until locked_until_ms, and the count starts again.
CREATE TABLE users (
  name TEXT COLLATE "C" PRIMARY KEY,
  -- $argon2id$v=19$m=...,t=...,p=...$salt$hash
  password_hash TEXT NOT NULL,
  policy TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
  -- server epoch ms
  created_ms BIGINT NOT NULL,
  -- consecutive failed logins since the last success or lock
  failed_logins BIGINT NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
  -- server epoch ms until which logins are refused; NULL = not locked
  locked_until_ms BIGINT
);

-- Web UI sessions (src/auth/ui_session.rs): one row per logged-in browser. The session id is
-- the cookie's value; only its SHA-256 is kept, so a copy of the index holds no live session.
-- The CSRF token is the one state-changing requests must echo in x-csrf-token. A session ends at
-- expires_ms (absolute), after [auth] ui_session_idle_secs without use (last_seen_ms is written
-- back at most once a minute), at logout, and with its user (deletion, password change,
-- disabling).
CREATE TABLE ui_sessions (
  id_sha256 BYTEA PRIMARY KEY CHECK (octet_length(id_sha256) = 32),
  user_name TEXT COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  -- server epoch ms
  created_ms BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL
);
-- A user's sessions end with them; expired sessions are purged by expiry.
CREATE INDEX ui_sessions_user ON ui_sessions (user_name);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_ms);
