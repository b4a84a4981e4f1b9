//! Access key ids, secrets, session tokens and key names: their formats and how they are made.
//!
//! An access key id is 20 characters like AWS's (`AKIA` + 16 of base32 `A–Z2–7`), with our own
//! prefixes so that a leaked id tells what it is: [`ROOT_PREFIX`] (`VSRK`, the root key),
//! [`LONG_TERM_PREFIX`] (`VSAK`) and [`TEMPORARY_PREFIX`] (`VSTK`). Its 16 random characters
//! carry 80 bits. A secret access key is 40 characters of base64url (240 bits); a temporary
//! key's session token is `VSST` + 64 characters of base64url (384 bits); a web UI session id
//! or CSRF token is 43 characters of base64url (256 bits). All come from the OS random
//! generator.

use base64::Engine;
use rand::TryRngCore;
use zeroize::Zeroizing;

/// Prefix of the root key's id.
pub const ROOT_PREFIX: &str = "VSRK";
/// Prefix of long-term keys' ids.
pub const LONG_TERM_PREFIX: &str = "VSAK";
/// Prefix of temporary keys' ids (they come with a session token).
pub const TEMPORARY_PREFIX: &str = "VSTK";
/// Prefix of session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "VSST";
/// Length of a generated access key id.
pub const ACCESS_KEY_ID_LEN: usize = 20;
/// Length of a generated secret access key.
pub const SECRET_LEN: usize = 40;
/// Longest key name.
pub const MAX_NAME_LEN: usize = 128;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// What kind of key an id names, by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `VSRK…`: the root key.
    Root,
    /// `VSAK…`: a long-term key.
    LongTerm,
    /// `VSTK…`: a temporary key, used with its session token.
    Temporary,
}

impl KeyKind {
    /// The kind of a well-formed generated id (prefix, 20 characters of `A–Z2–7`); `None` for
    /// anything else, including configured root ids of another shape.
    pub fn of(id: &str) -> Option<KeyKind> {
        if id.len() != ACCESS_KEY_ID_LEN || !id.bytes().all(|b| BASE32.contains(&b)) {
            return None;
        }
        match &id[..4] {
            ROOT_PREFIX => Some(KeyKind::Root),
            LONG_TERM_PREFIX => Some(KeyKind::LongTerm),
            TEMPORARY_PREFIX => Some(KeyKind::Temporary),
            _ => None,
        }
    }

    /// The id prefix of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Root => ROOT_PREFIX,
            KeyKind::LongTerm => LONG_TERM_PREFIX,
            KeyKind::Temporary => TEMPORARY_PREFIX,
        }
    }
}

/// The OS random generator failed (it practically never does once the system has booted).
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed: {0}")]
pub struct RandomError(String);

fn os_random<const N: usize>() -> Result<Zeroizing<[u8; N]>, RandomError> {
    let mut buf = Zeroizing::new([0u8; N]);
    rand::rngs::OsRng
        .try_fill_bytes(&mut buf[..])
        .map_err(|e| RandomError(e.to_string()))?;
    Ok(buf)
}

/// A new access key id of this kind.
pub fn new_access_key_id(kind: KeyKind) -> Result<String, RandomError> {
    let bytes = os_random::<10>()?;
    let mut id = String::with_capacity(ACCESS_KEY_ID_LEN);
    id.push_str(kind.prefix());
    // 10 bytes = 80 bits = 16 base32 characters, 5 bits each.
    let mut acc: u128 = 0;
    for b in bytes.iter() {
        acc = (acc << 8) | u128::from(*b);
    }
    for i in (0..16).rev() {
        id.push(char::from(BASE32[((acc >> (i * 5)) & 31) as usize]));
    }
    debug_assert_eq!(KeyKind::of(&id), Some(kind));
    Ok(id)
}

/// A new secret access key: 40 characters of base64url.
pub fn new_secret() -> Result<Zeroizing<String>, RandomError> {
    let bytes = os_random::<30>()?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]);
    debug_assert_eq!(secret.len(), SECRET_LEN);
    Ok(Zeroizing::new(secret))
}

/// A new session token: `VSST` + 64 characters of base64url.
pub fn new_session_token() -> Result<Zeroizing<String>, RandomError> {
    let bytes = os_random::<48>()?;
    let mut token = Zeroizing::new(String::with_capacity(68));
    token.push_str(SESSION_TOKEN_PREFIX);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&bytes[..], &mut token);
    Ok(token)
}

/// Length of a web UI session id or CSRF token ([`new_ui_token`]).
pub const UI_TOKEN_LEN: usize = 43;

/// A new web UI session id or CSRF token: 43 characters of base64url (256 bits).
pub fn new_ui_token() -> Result<Zeroizing<String>, RandomError> {
    let bytes = os_random::<32>()?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]);
    debug_assert_eq!(token.len(), UI_TOKEN_LEN);
    Ok(Zeroizing::new(token))
}

/// Checks a key name: 1–128 characters of `A–Z a–z 0–9 _ . @ -`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(ok) {
        return Err(format!(
            "key name `{}` is invalid; use 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . @ -",
            name.chars().take(MAX_NAME_LEN + 1).collect::<String>()
        ));
    }
    Ok(())
}

/// Checks a configured access key id: 16–128 characters of `A–Z 0–9` (AWS's rule), so that a
/// configured root key may also look like an AWS key.
pub fn check_configured_id(id: &str) -> Result<(), String> {
    if !(16..=128).contains(&id.len())
        || !id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(
            "root_access_key_id must be 16 to 128 characters of A-Z and 0-9 (e.g. VSRK + 16)"
                .into(),
        );
    }
    Ok(())
}

/// Checks a configured secret access key: 16–128 printable ASCII characters, no spaces. The
/// message never contains the secret.
pub fn check_configured_secret(secret: &str) -> Result<(), String> {
    if !(16..=128).contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "root_secret_access_key must be 16 to 128 printable ASCII characters without spaces"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_secrets_and_tokens_have_their_shapes() {
        for kind in [KeyKind::Root, KeyKind::LongTerm, KeyKind::Temporary] {
            let id = new_access_key_id(kind).unwrap();
            assert_eq!(id.len(), 20, "{id}");
            assert!(id.starts_with(kind.prefix()), "{id}");
            assert_eq!(KeyKind::of(&id), Some(kind));
            check_configured_id(&id).unwrap();
        }
        let a = new_access_key_id(KeyKind::LongTerm).unwrap();
        let b = new_access_key_id(KeyKind::LongTerm).unwrap();
        assert_ne!(a, b);
        let s = new_secret().unwrap();
        assert_eq!(s.len(), 40);
        assert!(
            s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        check_configured_secret(&s).unwrap();
        let t = new_session_token().unwrap();
        assert_eq!(t.len(), 68);
        assert!(t.starts_with("VSST"));
    }

    #[test]
    fn kinds_by_prefix() {
        let table = [
            ("VSRKABCDEFGHIJKLMNOP", Some(KeyKind::Root)),
            ("VSAKABCDEFGHIJKLMN23", Some(KeyKind::LongTerm)),
            ("VSTK7777777777777777", Some(KeyKind::Temporary)),
            ("AKIAABCDEFGHIJKLMNOP", None),
            ("VSAKABCDEFGHIJKLMNO", None),   // 19
            ("VSAKABCDEFGHIJKLMNOPQ", None), // 21
            ("VSAKabcdefghijklmnop", None),  // lower case
            ("VSAKABCDEFGHIJKLMN01", None),  // 0 and 1 are not base32
            ("VSAKABCDEFGHIJKLMNO\u{e9}", None),
            ("", None),
        ];
        for (id, want) in table {
            assert_eq!(KeyKind::of(id), want, "{id}");
        }
    }

    #[test]
    fn names() {
        for ok in [
            "a",
            "ci-bot",
            "cam.lobby_1",
            "ops@example.com",
            &"x".repeat(128),
        ] {
            check_name(ok).unwrap();
        }
        for bad in ["", "has space", "slash/", "ünï", "a:b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn configured_values() {
        check_configured_id("AKIAIOSFODNN7EXAMPLE").unwrap();
        assert!(check_configured_id("short").is_err());
        assert!(check_configured_id("akiaiosfodnn7example").is_err());
        check_configured_secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").unwrap();
        let e = check_configured_secret("has a space in it, long enough").unwrap_err();
        assert!(!e.contains("space in it"));
        assert!(check_configured_secret("short").is_err());
    }
}
