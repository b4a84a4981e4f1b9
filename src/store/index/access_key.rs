//! The index's view of an access key: plain stored fields, no behaviour. Ids, names, secrets,
//! sealing and the lookup cache belong to `crate::auth::keys`; the store only persists what it is
//! given, the way it does for cameras.

/// Whether an access key may sign requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKeyStatus {
    /// The key is accepted.
    Active,
    /// The key is kept but refused (IAM's `Inactive`); it can be made active again.
    Inactive,
}

impl AccessKeyStatus {
    /// The stored (and IAM) spelling: `Active` or `Inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKeyStatus::Active => "Active",
            AccessKeyStatus::Inactive => "Inactive",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<AccessKeyStatus> {
        match s {
            "Active" => Some(AccessKeyStatus::Active),
            "Inactive" => Some(AccessKeyStatus::Inactive),
            _ => None,
        }
    }
}

/// One row of the `access_keys` table.
///
/// `Debug` is written by hand so that neither the sealed secret nor the session token's hash
/// reaches a log line (the first is ciphertext, the second a hash, but neither helps a reader).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRow {
    /// The public half (`VSAK…`, `VSTK…`), unique.
    pub access_key_id: String,
    /// Unique human name.
    pub name: String,
    /// The secret half, sealed under the master key for this record (`auth::seal`).
    pub sealed_secret: Vec<u8>,
    /// Active or inactive.
    pub status: AccessKeyStatus,
    /// The key's policy document (JSON text the store does not interpret).
    pub policy: String,
    /// Creation time, server epoch ms.
    pub created_ms: i64,
    /// When the key stops being accepted, server epoch ms; `None` = never.
    pub expires_ms: Option<i64>,
    /// SHA-256 of the session token of a temporary key; `None` for a long-term key.
    pub session_token_sha256: Option<[u8; 32]>,
    /// Who made the key (the access key id or user that called the API, or `root`).
    pub created_by: String,
}

impl std::fmt::Debug for AccessKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRow")
            .field("access_key_id", &self.access_key_id)
            .field("name", &self.name)
            .field(
                "sealed_secret",
                &format_args!("<{} bytes>", self.sealed_secret.len()),
            )
            .field("status", &self.status)
            .field("policy", &self.policy)
            .field("created_ms", &self.created_ms)
            .field("expires_ms", &self.expires_ms)
            .field(
                "session_token_sha256",
                &self.session_token_sha256.map(|_| "<redacted>"),
            )
            .field("created_by", &self.created_by)
            .finish()
    }
}
