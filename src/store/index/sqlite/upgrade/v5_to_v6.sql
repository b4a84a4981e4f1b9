-- Version 6: web UI users and sessions (src/store/index/sqlite/users.rs, src/auth/users.rs,
-- src/auth/ui_session.rs).
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
