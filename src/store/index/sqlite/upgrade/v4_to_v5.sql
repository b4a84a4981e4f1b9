-- Version 5: access keys (src/store/index/sqlite/keys.rs, src/auth/keys.rs).
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
