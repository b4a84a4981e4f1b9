//! The `access_keys` table: the access keys that sign requests (issue 14).

use tokio_postgres::Row;

use super::{Client, col, corrupt, db, is_unique_violation};
use crate::store::StoreError;
use crate::store::index::{AccessKeyRow, AccessKeyStatus};

const COLUMNS: &str = "access_key_id, name, secret_sealed, status, policy, created_ms, \
     expires_ms, session_token_sha256, created_by";

fn from_row(row: &Row) -> Result<AccessKeyRow, StoreError> {
    let status: String = col(row, 3)?;
    let token: Option<Vec<u8>> = col(row, 7)?;
    let session_token_sha256 = token
        .map(|t| <[u8; 32]>::try_from(t.as_slice()))
        .transpose()
        .map_err(|_| corrupt("session token hash", "not 32 bytes"))?;
    Ok(AccessKeyRow {
        access_key_id: col(row, 0)?,
        name: col(row, 1)?,
        sealed_secret: col(row, 2)?,
        status: AccessKeyStatus::parse(&status)
            .ok_or_else(|| corrupt("access key status", &status))?,
        policy: col(row, 4)?,
        created_ms: col(row, 5)?,
        expires_ms: col(row, 6)?,
        session_token_sha256,
        created_by: col(row, 8)?,
    })
}

/// [`Index::insert_access_key`](crate::store::index::Index::insert_access_key).
pub(super) async fn insert(client: &Client, k: AccessKeyRow) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO access_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .await
        .map_err(db)?;
    let token: Option<&[u8]> = k.session_token_sha256.as_ref().map(|h| &h[..]);
    let inserted = client
        .execute(
            &stmt,
            &[
                &k.access_key_id,
                &k.name,
                &k.sealed_secret,
                &k.status.as_str(),
                &k.policy,
                &k.created_ms,
                &k.expires_ms,
                &token,
                &k.created_by,
            ],
        )
        .await;
    let e = match inserted {
        Ok(_) => return Ok(()),
        Err(e) if is_unique_violation(&e) => e,
        Err(e) => return Err(db(e)),
    };
    // Two unique columns: say which one, the name first as the SQLite backend does (the failed
    // statement ended its implicit transaction, so this is a new one). If the other key went
    // in the meantime, the violated constraint tells.
    let stmt = client
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM access_keys WHERE name = $1)")
        .await
        .map_err(db)?;
    let name_taken: bool = col(&client.query_one(&stmt, &[&k.name]).await.map_err(db)?, 0)?;
    let name_constraint = e
        .as_db_error()
        .and_then(|d| d.constraint())
        .is_some_and(|c| c == "access_keys_name_key");
    Err(if name_taken || name_constraint {
        StoreError::AccessKeyNameTaken(k.name)
    } else {
        StoreError::AccessKeyExists(k.access_key_id)
    })
}

/// [`Index::access_key`](crate::store::index::Index::access_key).
pub(super) async fn get(client: &Client, id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM access_keys WHERE access_key_id = $1"
        ))
        .await
        .map_err(db)?;
    let row = client.query_opt(&stmt, &[&id]).await.map_err(db)?;
    row.as_ref().map(from_row).transpose()
}

/// [`Index::list_access_keys`](crate::store::index::Index::list_access_keys).
pub(super) async fn list(client: &Client) -> Result<Vec<AccessKeyRow>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM access_keys ORDER BY name"))
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[]).await.map_err(db)?;
    rows.iter().map(from_row).collect()
}

/// [`Index::set_access_key_status`](crate::store::index::Index::set_access_key_status).
pub(super) async fn set_status(
    client: &Client,
    id: &str,
    status: AccessKeyStatus,
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached("UPDATE access_keys SET status = $2 WHERE access_key_id = $1")
        .await
        .map_err(db)?;
    let n = client
        .execute(&stmt, &[&id, &status.as_str()])
        .await
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::AccessKeyNotFound(id.to_owned()));
    }
    Ok(())
}

/// [`Index::delete_access_key`](crate::store::index::Index::delete_access_key).
pub(super) async fn delete(client: &Client, id: &str) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached("DELETE FROM access_keys WHERE access_key_id = $1")
        .await
        .map_err(db)?;
    let n = client.execute(&stmt, &[&id]).await.map_err(db)?;
    if n == 0 {
        return Err(StoreError::AccessKeyNotFound(id.to_owned()));
    }
    Ok(())
}

/// [`Index::delete_expired_access_keys`](crate::store::index::Index::delete_expired_access_keys):
/// one statement.
pub(super) async fn delete_expired(
    client: &Client,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let stmt = client
        .prepare_cached(
            "DELETE FROM access_keys WHERE expires_ms IS NOT NULL AND expires_ms <= $1
             RETURNING access_key_id",
        )
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[&now_ms]).await.map_err(db)?;
    let mut ids = rows
        .iter()
        .map(|r| col::<String>(r, 0))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    Ok(ids)
}
