//! The `users` and `ui_sessions` tables: web UI users and their sessions (issue 14), the
//! PostgreSQL [`UserIndex`].

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{Client, PgIndex, col, corrupt, db, is_foreign_key_violation, is_unique_violation};
use crate::store::StoreError;
use crate::store::index::{
    LoginFailures, UiSessionRow, UserChanges, UserIndex, UserRow, UserStatus,
};

const USER_COLUMNS: &str =
    "name, password_hash, policy, status, created_ms, failed_logins, locked_until_ms";

const SESSION_COLUMNS: &str =
    "id_sha256, user_name, csrf_token, created_ms, last_seen_ms, expires_ms";

fn failed_logins(row: &Row, idx: usize) -> Result<u32, StoreError> {
    let failed: i64 = col(row, idx)?;
    u32::try_from(failed).map_err(|e| corrupt("failed login count", e))
}

fn user_from_row(row: &Row) -> Result<UserRow, StoreError> {
    let status: String = col(row, 3)?;
    Ok(UserRow {
        name: col(row, 0)?,
        password_hash: col(row, 1)?,
        policy: col(row, 2)?,
        status: UserStatus::parse(&status).ok_or_else(|| corrupt("user status", &status))?,
        created_ms: col(row, 4)?,
        failed_logins: failed_logins(row, 5)?,
        locked_until_ms: col(row, 6)?,
    })
}

fn session_from_row(row: &Row) -> Result<UiSessionRow, StoreError> {
    let id: Vec<u8> = col(row, 0)?;
    Ok(UiSessionRow {
        id_sha256: <[u8; 32]>::try_from(id.as_slice())
            .map_err(|_| corrupt("session id hash", "not 32 bytes"))?,
        user: col(row, 1)?,
        csrf_token: col(row, 2)?,
        created_ms: col(row, 3)?,
        last_seen_ms: col(row, 4)?,
        expires_ms: col(row, 5)?,
    })
}

async fn insert_user(client: &Client, u: UserRow) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .await
        .map_err(db)?;
    let inserted = client
        .execute(
            &stmt,
            &[
                &u.name,
                &u.password_hash,
                &u.policy,
                &u.status.as_str(),
                &u.created_ms,
                &i64::from(u.failed_logins),
                &u.locked_until_ms,
            ],
        )
        .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::UserExists(u.name)),
        Err(e) => Err(db(e)),
    }
}

async fn get_user(client: &Client, name: &str) -> Result<Option<UserRow>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
        .await
        .map_err(db)?;
    let row = client.query_opt(&stmt, &[&name]).await.map_err(db)?;
    row.as_ref().map(user_from_row).transpose()
}

async fn list_users(client: &Client) -> Result<Vec<UserRow>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[]).await.map_err(db)?;
    rows.iter().map(user_from_row).collect()
}

async fn update_user(
    client: &mut Client,
    name: &str,
    c: UserChanges,
) -> Result<UserRow, StoreError> {
    let tx = client.transaction().await.map_err(db)?;
    // COALESCE keeps a column whose change is NULL (not asked for).
    let stmt = tx
        .prepare_cached(&format!(
            "UPDATE users SET
               password_hash = coalesce($2, password_hash),
               policy = coalesce($3, policy),
               status = coalesce($4, status),
               failed_logins = CASE WHEN $5 THEN 0 ELSE failed_logins END,
               locked_until_ms = CASE WHEN $5 THEN NULL ELSE locked_until_ms END
             WHERE name = $1
             RETURNING {USER_COLUMNS}"
        ))
        .await
        .map_err(db)?;
    let row = tx
        .query_opt(
            &stmt,
            &[
                &name,
                &c.password_hash,
                &c.policy,
                &c.status.map(UserStatus::as_str),
                &c.reset_failures,
            ],
        )
        .await
        .map_err(db)?;
    let Some(row) = row else {
        return Err(StoreError::UserNotFound(name.to_owned()));
    };
    let user = user_from_row(&row)?;
    if c.end_sessions {
        let stmt = tx
            .prepare_cached("DELETE FROM ui_sessions WHERE user_name = $1")
            .await
            .map_err(db)?;
        tx.execute(&stmt, &[&name]).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(user)
}

async fn delete_user(client: &Client, name: &str) -> Result<(), StoreError> {
    // The sessions go by ON DELETE CASCADE.
    let stmt = client
        .prepare_cached("DELETE FROM users WHERE name = $1")
        .await
        .map_err(db)?;
    let n = client.execute(&stmt, &[&name]).await.map_err(db)?;
    if n == 0 {
        return Err(StoreError::UserNotFound(name.to_owned()));
    }
    Ok(())
}

async fn record_login_failure(
    client: &Client,
    name: &str,
    max_failures: u32,
    lock_until_ms: i64,
) -> Result<Option<LoginFailures>, StoreError> {
    // One statement, so concurrent failures (other nodes) each count: an UPDATE that finds the
    // row changed by a transaction that committed meanwhile starts again from the new version.
    // Every right-hand side reads the row as it was before this update.
    let stmt = client
        .prepare_cached(
            "UPDATE users SET
               failed_logins = CASE WHEN failed_logins + 1 >= $2::bigint THEN 0
                                    ELSE failed_logins + 1 END,
               locked_until_ms = CASE WHEN failed_logins + 1 >= $2::bigint THEN $3::bigint
                                      ELSE locked_until_ms END
             WHERE name = $1
             RETURNING failed_logins, locked_until_ms",
        )
        .await
        .map_err(db)?;
    let row = client
        .query_opt(&stmt, &[&name, &i64::from(max_failures), &lock_until_ms])
        .await
        .map_err(db)?;
    row.map(|r| {
        Ok(LoginFailures {
            failed_logins: failed_logins(&r, 0)?,
            locked_until_ms: col(&r, 1)?,
        })
    })
    .transpose()
}

async fn insert_session(client: &Client, s: UiSessionRow) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO ui_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .await
        .map_err(db)?;
    let id: &[u8] = &s.id_sha256;
    let inserted = client
        .execute(
            &stmt,
            &[
                &id,
                &s.user,
                &s.csrf_token,
                &s.created_ms,
                &s.last_seen_ms,
                &s.expires_ms,
            ],
        )
        .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_foreign_key_violation(&e) => Err(StoreError::UserNotFound(s.user)),
        Err(e) => Err(db(e)),
    }
}

async fn get_session(client: &Client, id: [u8; 32]) -> Result<Option<UiSessionRow>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {SESSION_COLUMNS} FROM ui_sessions WHERE id_sha256 = $1"
        ))
        .await
        .map_err(db)?;
    let row = client.query_opt(&stmt, &[&&id[..]]).await.map_err(db)?;
    row.as_ref().map(session_from_row).transpose()
}

async fn touch_session(
    client: &Client,
    id: [u8; 32],
    last_seen_ms: i64,
) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached("UPDATE ui_sessions SET last_seen_ms = $2 WHERE id_sha256 = $1")
        .await
        .map_err(db)?;
    let n = client
        .execute(&stmt, &[&&id[..], &last_seen_ms])
        .await
        .map_err(db)?;
    Ok(n > 0)
}

async fn delete_session(client: &Client, id: [u8; 32]) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached("DELETE FROM ui_sessions WHERE id_sha256 = $1")
        .await
        .map_err(db)?;
    let n = client.execute(&stmt, &[&&id[..]]).await.map_err(db)?;
    Ok(n > 0)
}

async fn delete_expired_sessions(
    client: &Client,
    now_ms: i64,
    idle_cutoff_ms: i64,
) -> Result<u64, StoreError> {
    let stmt = client
        .prepare_cached("DELETE FROM ui_sessions WHERE expires_ms <= $1 OR last_seen_ms <= $2")
        .await
        .map_err(db)?;
    client
        .execute(&stmt, &[&now_ms, &idle_cutoff_ms])
        .await
        .map_err(db)
}

#[async_trait]
impl UserIndex for PgIndex {
    async fn insert_user(&self, user: UserRow) -> Result<(), StoreError> {
        insert_user(&self.client().await?, user).await
    }

    async fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        get_user(&self.client().await?, name).await
    }

    async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        list_users(&self.client().await?).await
    }

    async fn update_user(&self, name: &str, changes: UserChanges) -> Result<UserRow, StoreError> {
        update_user(&mut self.client().await?, name, changes).await
    }

    async fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        delete_user(&self.client().await?, name).await
    }

    async fn record_login_failure(
        &self,
        name: &str,
        max_failures: u32,
        lock_until_ms: i64,
    ) -> Result<Option<LoginFailures>, StoreError> {
        let client = self.client().await?;
        record_login_failure(&client, name, max_failures, lock_until_ms).await
    }

    async fn insert_ui_session(&self, session: UiSessionRow) -> Result<(), StoreError> {
        insert_session(&self.client().await?, session).await
    }

    async fn ui_session(&self, id_sha256: [u8; 32]) -> Result<Option<UiSessionRow>, StoreError> {
        get_session(&self.client().await?, id_sha256).await
    }

    async fn touch_ui_session(
        &self,
        id_sha256: [u8; 32],
        last_seen_ms: i64,
    ) -> Result<bool, StoreError> {
        touch_session(&self.client().await?, id_sha256, last_seen_ms).await
    }

    async fn delete_ui_session(&self, id_sha256: [u8; 32]) -> Result<bool, StoreError> {
        delete_session(&self.client().await?, id_sha256).await
    }

    async fn delete_expired_ui_sessions(
        &self,
        now_ms: i64,
        idle_cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        delete_expired_sessions(&self.client().await?, now_ms, idle_cutoff_ms).await
    }
}
