//! The `users` and `ui_sessions` tables: web UI users and their sessions (issue 14), the
//! SQLite [`UserIndex`]. Blocking functions over the connection, run on the blocking pool by
//! [`SqliteIndex::call`].

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteIndex, corrupt, db, is_unique_violation};
use crate::store::StoreError;
use crate::store::index::{
    LoginFailures, UiSessionRow, UserChanges, UserIndex, UserRow, UserStatus,
};

const USER_COLUMNS: &str =
    "name, password_hash, policy, status, created_ms, failed_logins, locked_until_ms";

const SESSION_COLUMNS: &str =
    "id_sha256, user_name, csrf_token, created_ms, last_seen_ms, expires_ms";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRow> {
    let status: String = row.get(3)?;
    let failed: i64 = row.get(5)?;
    Ok(UserRow {
        name: row.get(0)?,
        password_hash: row.get(1)?,
        policy: row.get(2)?,
        status: UserStatus::parse(&status).ok_or_else(|| corrupt("user status", &status))?,
        created_ms: row.get(4)?,
        failed_logins: u32::try_from(failed).map_err(|e| corrupt("failed login count", e))?,
        locked_until_ms: row.get(6)?,
    })
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<UiSessionRow> {
    let id: Vec<u8> = row.get(0)?;
    Ok(UiSessionRow {
        id_sha256: <[u8; 32]>::try_from(id.as_slice())
            .map_err(|_| corrupt("session id hash", "not 32 bytes"))?,
        user: row.get(1)?,
        csrf_token: row.get(2)?,
        created_ms: row.get(3)?,
        last_seen_ms: row.get(4)?,
        expires_ms: row.get(5)?,
    })
}

fn get_user(conn: &Connection, name: &str) -> Result<Option<UserRow>, StoreError> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"))
        .map_err(db)?
        .query_row(params![name], user_from_row)
        .optional()
        .map_err(db)
}

fn insert_user(conn: &mut Connection, u: UserRow) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            u.name,
            u.password_hash,
            u.policy,
            u.status.as_str(),
            u.created_ms,
            i64::from(u.failed_logins),
            u.locked_until_ms,
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::UserExists(u.name.clone())
        } else {
            db(e)
        }
    })?;
    Ok(())
}

fn list_users(conn: &mut Connection) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
        .map_err(db)?;
    let rows = stmt
        .query_map([], user_from_row)
        .map_err(db)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db)?;
    Ok(rows)
}

fn update_user(conn: &mut Connection, name: &str, c: UserChanges) -> Result<UserRow, StoreError> {
    let tx = conn.transaction().map_err(db)?;
    // COALESCE keeps a column whose change is NULL (not asked for).
    let n = tx
        .execute(
            "UPDATE users SET
               password_hash = COALESCE(?2, password_hash),
               policy = COALESCE(?3, policy),
               status = COALESCE(?4, status),
               failed_logins = CASE WHEN ?5 THEN 0 ELSE failed_logins END,
               locked_until_ms = CASE WHEN ?5 THEN NULL ELSE locked_until_ms END
             WHERE name = ?1",
            params![
                name,
                c.password_hash,
                c.policy,
                c.status.map(UserStatus::as_str),
                c.reset_failures,
            ],
        )
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::UserNotFound(name.to_owned()));
    }
    if c.end_sessions {
        tx.execute(
            "DELETE FROM ui_sessions WHERE user_name = ?1",
            params![name],
        )
        .map_err(db)?;
    }
    let row = get_user(&tx, name)?
        .ok_or_else(|| StoreError::internal("an updated user vanished inside its transaction"))?;
    tx.commit().map_err(db)?;
    Ok(row)
}

fn delete_user(conn: &mut Connection, name: &str) -> Result<(), StoreError> {
    // The sessions go by ON DELETE CASCADE (foreign keys are on, see `open::configure`).
    let n = conn
        .execute("DELETE FROM users WHERE name = ?1", params![name])
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::UserNotFound(name.to_owned()));
    }
    Ok(())
}

fn record_login_failure(
    conn: &mut Connection,
    name: &str,
    max_failures: u32,
    lock_until_ms: i64,
) -> Result<Option<LoginFailures>, StoreError> {
    // One statement, so concurrent failures (other nodes) each count. Every right-hand side
    // reads the row as it was before the update.
    conn.prepare_cached(
        "UPDATE users SET
           failed_logins = CASE WHEN failed_logins + 1 >= ?2 THEN 0 ELSE failed_logins + 1 END,
           locked_until_ms = CASE WHEN failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until_ms END
         WHERE name = ?1
         RETURNING failed_logins, locked_until_ms",
    )
    .map_err(db)?
    .query_row(params![name, i64::from(max_failures), lock_until_ms], |r| {
        let failed: i64 = r.get(0)?;
        Ok(LoginFailures {
            failed_logins: u32::try_from(failed).map_err(|e| corrupt("failed login count", e))?,
            locked_until_ms: r.get(1)?,
        })
    })
    .optional()
    .map_err(db)
}

fn insert_session(conn: &mut Connection, s: UiSessionRow) -> Result<(), StoreError> {
    let inserted = conn.execute(
        &format!("INSERT INTO ui_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            &s.id_sha256[..],
            s.user,
            s.csrf_token,
            s.created_ms,
            s.last_seen_ms,
            s.expires_ms,
        ],
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            Err(StoreError::UserNotFound(s.user))
        }
        Err(e) => Err(db(e)),
    }
}

fn get_session(conn: &mut Connection, id: [u8; 32]) -> Result<Option<UiSessionRow>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM ui_sessions WHERE id_sha256 = ?1"
    ))
    .map_err(db)?
    .query_row(params![&id[..]], session_from_row)
    .optional()
    .map_err(db)
}

fn touch_session(
    conn: &mut Connection,
    id: [u8; 32],
    last_seen_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("UPDATE ui_sessions SET last_seen_ms = ?2 WHERE id_sha256 = ?1")
        .map_err(db)?
        .execute(params![&id[..], last_seen_ms])
        .map_err(db)?;
    Ok(n > 0)
}

fn delete_session(conn: &mut Connection, id: [u8; 32]) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM ui_sessions WHERE id_sha256 = ?1",
            params![&id[..]],
        )
        .map_err(db)?;
    Ok(n > 0)
}

fn delete_expired_sessions(
    conn: &mut Connection,
    now_ms: i64,
    idle_cutoff_ms: i64,
) -> Result<u64, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM ui_sessions WHERE expires_ms <= ?1 OR last_seen_ms <= ?2",
            params![now_ms, idle_cutoff_ms],
        )
        .map_err(db)?;
    Ok(n as u64)
}

#[async_trait]
impl UserIndex for SqliteIndex {
    async fn insert_user(&self, user: UserRow) -> Result<(), StoreError> {
        self.call(move |c| insert_user(c, user)).await
    }

    async fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        let name = name.to_owned();
        self.call(move |c| get_user(c, &name)).await
    }

    async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        self.call(list_users).await
    }

    async fn update_user(&self, name: &str, changes: UserChanges) -> Result<UserRow, StoreError> {
        let name = name.to_owned();
        self.call(move |c| update_user(c, &name, changes)).await
    }

    async fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.call(move |c| delete_user(c, &name)).await
    }

    async fn record_login_failure(
        &self,
        name: &str,
        max_failures: u32,
        lock_until_ms: i64,
    ) -> Result<Option<LoginFailures>, StoreError> {
        let name = name.to_owned();
        self.call(move |c| record_login_failure(c, &name, max_failures, lock_until_ms))
            .await
    }

    async fn insert_ui_session(&self, session: UiSessionRow) -> Result<(), StoreError> {
        self.call(move |c| insert_session(c, session)).await
    }

    async fn ui_session(&self, id_sha256: [u8; 32]) -> Result<Option<UiSessionRow>, StoreError> {
        self.call(move |c| get_session(c, id_sha256)).await
    }

    async fn touch_ui_session(
        &self,
        id_sha256: [u8; 32],
        last_seen_ms: i64,
    ) -> Result<bool, StoreError> {
        self.call(move |c| touch_session(c, id_sha256, last_seen_ms))
            .await
    }

    async fn delete_ui_session(&self, id_sha256: [u8; 32]) -> Result<bool, StoreError> {
        self.call(move |c| delete_session(c, id_sha256)).await
    }

    async fn delete_expired_ui_sessions(
        &self,
        now_ms: i64,
        idle_cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        self.call(move |c| delete_expired_sessions(c, now_ms, idle_cutoff_ms))
            .await
    }
}
