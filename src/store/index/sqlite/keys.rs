//! The `access_keys` table: the access keys that sign requests (issue 14). Blocking functions
//! over the connection; `mod.rs` runs them on the blocking pool.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{corrupt, db, is_unique_violation};
use crate::store::StoreError;
use crate::store::index::{AccessKeyRow, AccessKeyStatus};

const COLUMNS: &str = "access_key_id, name, secret_sealed, status, policy, created_ms, \
     expires_ms, session_token_sha256, created_by";

fn from_row(row: &Row<'_>) -> rusqlite::Result<AccessKeyRow> {
    let status: String = row.get(3)?;
    let token: Option<Vec<u8>> = row.get(7)?;
    let session_token_sha256 = token
        .map(|t| <[u8; 32]>::try_from(t.as_slice()))
        .transpose()
        .map_err(|_| corrupt("session token hash", "not 32 bytes"))?;
    Ok(AccessKeyRow {
        access_key_id: row.get(0)?,
        name: row.get(1)?,
        sealed_secret: row.get(2)?,
        status: AccessKeyStatus::parse(&status)
            .ok_or_else(|| corrupt("access key status", &status))?,
        policy: row.get(4)?,
        created_ms: row.get(5)?,
        expires_ms: row.get(6)?,
        session_token_sha256,
        created_by: row.get(8)?,
    })
}

/// [`Index::insert_access_key`](crate::store::index::Index::insert_access_key).
pub(super) fn insert(conn: &mut Connection, k: AccessKeyRow) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(db)?;
    let inserted = tx.execute(
        &format!("INSERT INTO access_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            k.access_key_id,
            k.name,
            k.sealed_secret,
            k.status.as_str(),
            k.policy,
            k.created_ms,
            k.expires_ms,
            k.session_token_sha256.as_ref().map(|h| &h[..]),
            k.created_by,
        ],
    );
    match inserted {
        Ok(_) => tx.commit().map_err(db),
        Err(e) if is_unique_violation(&e) => {
            // Two unique columns: say which one (the transaction sees a consistent state).
            let name_taken: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM access_keys WHERE name = ?1)",
                    params![k.name],
                    |r| r.get(0),
                )
                .map_err(db)?;
            Err(if name_taken {
                StoreError::AccessKeyNameTaken(k.name)
            } else {
                StoreError::AccessKeyExists(k.access_key_id)
            })
        }
        Err(e) => Err(db(e)),
    }
}

/// [`Index::access_key`](crate::store::index::Index::access_key).
pub(super) fn get(conn: &mut Connection, id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM access_keys WHERE access_key_id = ?1"
    ))
    .map_err(db)?
    .query_row(params![id], from_row)
    .optional()
    .map_err(db)
}

/// [`Index::list_access_keys`](crate::store::index::Index::list_access_keys).
pub(super) fn list(conn: &mut Connection) -> Result<Vec<AccessKeyRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM access_keys ORDER BY name"))
        .map_err(db)?;
    let rows = stmt
        .query_map([], from_row)
        .map_err(db)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db)?;
    Ok(rows)
}

/// [`Index::set_access_key_status`](crate::store::index::Index::set_access_key_status).
pub(super) fn set_status(
    conn: &mut Connection,
    id: &str,
    status: AccessKeyStatus,
) -> Result<(), StoreError> {
    let n = conn
        .execute(
            "UPDATE access_keys SET status = ?2 WHERE access_key_id = ?1",
            params![id, status.as_str()],
        )
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::AccessKeyNotFound(id.to_owned()));
    }
    Ok(())
}

/// [`Index::delete_access_key`](crate::store::index::Index::delete_access_key).
pub(super) fn delete(conn: &mut Connection, id: &str) -> Result<(), StoreError> {
    let n = conn
        .execute(
            "DELETE FROM access_keys WHERE access_key_id = ?1",
            params![id],
        )
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::AccessKeyNotFound(id.to_owned()));
    }
    Ok(())
}

/// [`Index::delete_expired_access_keys`](crate::store::index::Index::delete_expired_access_keys).
pub(super) fn delete_expired(
    conn: &mut Connection,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let tx = conn.transaction().map_err(db)?;
    let ids = {
        let mut stmt = tx
            .prepare_cached(
                "DELETE FROM access_keys WHERE expires_ms IS NOT NULL AND expires_ms <= ?1
                 RETURNING access_key_id",
            )
            .map_err(db)?;
        let mut ids = stmt
            .query_map(params![now_ms], |r| r.get::<_, String>(0))
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        ids.sort();
        ids
    };
    tx.commit().map_err(db)?;
    Ok(ids)
}
