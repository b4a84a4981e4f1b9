-- vidstream index schema, current version (see SCHEMA_VERSION in mod.rs).
-- A fresh index is created from this file; an older one is brought here by upgrade/*.sql,
-- and a test checks that both paths give the same tables, columns and indexes.

-- One row per stream, including streams being deleted (their name stays reserved until the
-- media is gone).
CREATE TABLE streams (
  -- AUTOINCREMENT: ids are never reused, so fragment numbers and media/<id>/ stay unique
  id INTEGER PRIMARY KEY AUTOINCREMENT,
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

-- The MKV Tracks a stream's fragments were produced under. A new row only when a producer
-- connects with different tracks; fragments point at it.
CREATE TABLE track_headers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  -- nanoseconds per MKV timecode unit of the stored clusters
  timecode_scale INTEGER NOT NULL,
  -- the Tracks element, MKV-encoded
  tracks BLOB NOT NULL
);
CREATE INDEX track_headers_stream ON track_headers (stream_id, id);

-- One row per persisted fragment. Fragment number = f(stream_id, seq), see store/fragment.rs.
-- The bytes live in media/<stream_id>/<segment>.seg at [offset, offset + cluster_len +
-- trailer_len): a normalized MKV Cluster followed by the frame table and producer tags.
CREATE TABLE fragments (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  producer_ms INTEGER NOT NULL,
  server_ms INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  track_header_id INTEGER NOT NULL,
  -- seq of the segment file's first fragment (its file name)
  segment INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  cluster_len INTEGER NOT NULL,
  trailer_len INTEGER NOT NULL,
  PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;
CREATE INDEX fragments_producer ON fragments (stream_id, producer_ms);
CREATE INDEX fragments_server ON fragments (stream_id, server_ms);

-- One row per segment file that holds indexed fragments: a running summary kept by the same
-- transactions that add fragment rows (append) and remove them (retention, phase 1), so that
-- retention reads O(segments) rows per pass instead of scanning every fragment.
CREATE TABLE segments (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  segment INTEGER NOT NULL,
  -- server_ms of the segment's first fragment (the writer rotates by its age)
  first_server_ms INTEGER NOT NULL,
  -- the newest server_ms in the segment: it is expired once this is
  last_server_ms INTEGER NOT NULL,
  -- seq of its last fragment and its fragment count: retention marks a segment only if both
  -- are what it saw when it decided
  last_seq INTEGER NOT NULL,
  fragments INTEGER NOT NULL,
  -- sum of cluster_len + trailer_len
  bytes INTEGER NOT NULL,
  -- server time (epoch ms) its bytes were confirmed in object storage; NULL = local disk only
  uploaded_ms INTEGER,
  PRIMARY KEY (stream_id, segment)
) WITHOUT ROWID;

-- Retention phase 1 done, phase 2 pending: the segment's fragment rows are gone, its file is
-- deleted once no reader holds it and the row is older than the grace period, then the row goes.
-- No fragment row may be added to a segment listed here.
CREATE TABLE garbage (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  segment INTEGER NOT NULL,
  -- server time (epoch ms) of phase 1
  marked_ms INTEGER NOT NULL,
  PRIMARY KEY (stream_id, segment)
) WITHOUT ROWID;

-- RTSP cameras the server pulls (a vidstream extension; see src/cameras). The server must replay
-- a camera's password, so it is kept sealed (AES-256-GCM under the master key, purpose
-- `camera-password`, bound to the camera's name: src/auth/seal.rs) in `password_sealed`; the API
-- never returns it. `password` is the clear text that schema versions up to 6 kept: the camera
-- supervisor seals such a value at start-up and sets it to NULL, and nothing writes it since.
-- `stream_name` is a name, not an id: a camera keeps targeting a stream that is deleted and
-- created again.
CREATE TABLE cameras (
  name TEXT PRIMARY KEY,
  -- rtsp:// or rtsps:// URL without userinfo
  url TEXT NOT NULL,
  username TEXT,
  -- legacy clear text (schema <= 6); NULL once sealed
  password TEXT,
  stream_name TEXT NOT NULL,
  transport TEXT NOT NULL CHECK (transport IN ('tcp', 'udp')),
  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  -- the sealed password (version byte, nonce, ciphertext and tag), NULL = none
  password_sealed BLOB
) WITHOUT ROWID;

-- Per-stream image generation configuration (UpdateImageGenerationConfiguration; the frame hook,
-- src/frames/hook). The index keeps it as opaque, already validated KVS JSON: its meaning
-- belongs to the hook, and the store does not depend on `frames`.
CREATE TABLE image_generation (
  stream_id INTEGER PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
  -- the validated ImageGenerationConfiguration, as KVS JSON
  config TEXT NOT NULL,
  -- server time (epoch ms) of the last update
  updated_ms INTEGER NOT NULL
);
-- Frame-feed consumers (a vidstream extension; see src/api/feed.rs): per stream and consumer
-- name, the position of the last frame the consumer processed (fragment seq + the frame's
-- producer timestamp, epoch ms) and when it committed it (server epoch ms).
CREATE TABLE consumers (
  stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  fragment_seq INTEGER NOT NULL,
  producer_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (stream_id, name)
) WITHOUT ROWID;

-- Access keys (issue 14; src/auth/keys.rs): the pairs that sign requests with SigV4, besides the
-- root key, which lives in the config or DATA_DIR/root-credentials and never here. The secret
-- half is stored sealed with AES-256-GCM under the master key, bound to the key's id (so a row's
-- secret cannot be pasted onto another row); the policy is IAM-style JSON that only src/auth
-- interprets. A temporary key also has a session token, of which only the SHA-256 is kept.
CREATE TABLE access_keys (
  -- VSAK... (long-term) or VSTK... (temporary), 20 characters
  access_key_id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  -- version byte, 96-bit nonce, ciphertext and tag (src/auth/seal.rs)
  secret_sealed BLOB NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
  policy TEXT NOT NULL,
  -- server epoch ms
  created_ms INTEGER NOT NULL,
  -- server epoch ms after which the key is refused; NULL = never
  expires_ms INTEGER,
  -- SHA-256 of a temporary key's session token; NULL for long-term keys
  session_token_sha256 BLOB CHECK (session_token_sha256 IS NULL OR length(session_token_sha256) = 32),
  -- who made the key: an access key id, a UI user, or `root`
  created_by TEXT NOT NULL
) WITHOUT ROWID;
-- Expired temporary keys are purged by expiry.
CREATE INDEX access_keys_expires ON access_keys (expires_ms) WHERE expires_ms IS NOT NULL;
-- Web UI users (issue 14; src/auth/users.rs): who may log in to the browser UI, with what
-- policy (IAM-style JSON that only src/auth interprets). Passwords are kept as argon2id hashes
-- (PHC strings, which carry their salt and parameters). Failed logins are counted here so that
-- every node sharing the index counts together: at [auth] login_max_failures in a row the user
-- is locked until locked_until_ms, and the count starts again.
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  -- $argon2id$v=19$m=...,t=...,p=...$salt$hash
  password_hash TEXT NOT NULL,
  policy TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
  -- server epoch ms
  created_ms INTEGER NOT NULL,
  -- consecutive failed logins since the last success or lock
  failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
  -- server epoch ms until which logins are refused; NULL = not locked
  locked_until_ms INTEGER
) WITHOUT ROWID;

-- Web UI sessions (src/auth/ui_session.rs): one row per logged-in browser. The session id is
-- the cookie's value; only its SHA-256 is kept, so a copy of the index holds no live session.
-- The CSRF token is the one state-changing requests must echo in x-csrf-token. A session ends at
-- expires_ms (absolute), after [auth] ui_session_idle_secs without use (last_seen_ms is written
-- back at most once a minute), at logout, and with its user (deletion, password change,
-- disabling).
CREATE TABLE ui_sessions (
  id_sha256 BLOB PRIMARY KEY CHECK (length(id_sha256) = 32),
  user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  -- server epoch ms
  created_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- A user's sessions end with them; expired sessions are purged by expiry.
CREATE INDEX ui_sessions_user ON ui_sessions (user_name);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_ms);
