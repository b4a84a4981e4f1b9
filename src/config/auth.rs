//! `[auth]` settings, and [`ConfigSecret`], the type of every secret in the config.

use serde::{Deserialize, Serialize};

/// A secret from the config (a key, a password): used as a `&str`, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfigSecret(String);

impl ConfigSecret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ConfigSecret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ConfigSecret {
    fn from(s: &str) -> Self {
        ConfigSecret(s.to_owned())
    }
}

impl From<String> for ConfigSecret {
    fn from(s: String) -> Self {
        ConfigSecret(s)
    }
}

impl std::fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("<redacted>")
        }
    }
}

/// `[auth]`: access control (issue 14). Keys and web UI users themselves live in the index
/// (`auth::keys`, `auth::users`); these settings say where the root key and the master key come
/// from, how strict SigV4 is, how long web UI sessions last and when failed logins lock a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The root access key's id (16–128 of `A–Z 0–9`); with `root_secret_access_key`, or
    /// neither. Unset: a root key is generated on first start into `DATA_DIR/root-credentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_access_key_id: Option<String>,
    /// The root access key's secret (16–128 printable characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_secret_access_key: Option<ConfigSecret>,
    /// The master key sealing stored secrets: base64 of 32 bytes (`openssl rand -base64 32`).
    /// Unset: `DATA_DIR/master.key`, made on first start. Nodes sharing an index must share it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<ConfigSecret>,
    /// Largest difference accepted between a signed request's time and the server's, seconds.
    pub clock_skew_secs: u64,
    /// Accept signatures only for this region (the credential scope's); unset = any region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Host names the server answers to, besides IP addresses, `localhost` and the host of
    /// `public_url` (a defence against DNS rebinding): exact names or `*.suffix`; `["*"]`
    /// accepts any name.
    pub allowed_hosts: Vec<String>,
    /// Origins whose pages may call the API from a browser (CORS), e.g.
    /// `["https://console.example"]`; `["*"]` any origin. Empty (the default): no cross-origin
    /// API calls. Playback URLs (HLS/DASH), which carry their own token, answer any origin
    /// (`[playback] cors_allowed_origins`).
    pub cors_allowed_origins: Vec<String>,
    /// A web UI session unused this long ends, seconds.
    pub ui_session_idle_secs: u64,
    /// A web UI session ends this long after its login however busy, seconds.
    pub ui_session_max_secs: u64,
    /// Consecutive failed logins that lock a web UI user.
    pub login_max_failures: u32,
    /// How long such a lock lasts, seconds.
    pub login_lockout_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            root_access_key_id: None,
            root_secret_access_key: None,
            master_key: None,
            clock_skew_secs: 300,
            region: None,
            allowed_hosts: Vec::new(),
            cors_allowed_origins: Vec::new(),
            ui_session_idle_secs: 30 * 60,
            ui_session_max_secs: 12 * 3600,
            login_max_failures: 5,
            login_lockout_secs: 900,
        }
    }
}

impl AuthSettings {
    /// The key store's options: the configured root and master keys, checked. Errors never
    /// contain a secret.
    pub fn key_store_options(&self) -> Result<crate::auth::keys::KeyStoreOptions, String> {
        let root = match (&self.root_access_key_id, &self.root_secret_access_key) {
            (None, None) => None,
            (Some(id), Some(secret)) => Some(
                crate::auth::root::RootKey::new(id, secret).map_err(|e| format!("auth: {e}"))?,
            ),
            _ => {
                return Err(
                    "auth: set both root_access_key_id and root_secret_access_key, or neither"
                        .into(),
                );
            }
        };
        let master_key = self
            .master_key
            .as_ref()
            .map(|k| crate::auth::seal::MasterKey::from_base64(k))
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(crate::auth::keys::KeyStoreOptions {
            root,
            master_key,
            ..Default::default()
        })
    }

    /// The accepted clock skew.
    pub fn clock_skew(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.clock_skew_secs)
    }

    /// The user store's login limits (hash parameters and per-address limits are built in).
    pub fn user_store_options(&self) -> crate::auth::users::UserStoreOptions {
        crate::auth::users::UserStoreOptions {
            max_failures: self.login_max_failures,
            lockout: std::time::Duration::from_secs(self.login_lockout_secs),
            ..Default::default()
        }
    }

    /// The web UI sessions' lifetimes; `secure_cookies` when the UI is reached over TLS.
    pub fn ui_session_options(
        &self,
        secure_cookies: bool,
    ) -> crate::auth::ui_session::UiSessionOptions {
        crate::auth::ui_session::UiSessionOptions {
            idle: std::time::Duration::from_secs(self.ui_session_idle_secs),
            max_age: std::time::Duration::from_secs(self.ui_session_max_secs),
            secure_cookies,
        }
    }

    /// Checks every key.
    pub(super) fn validate(&self) -> Result<(), String> {
        self.key_store_options()?;
        if self.clock_skew_secs == 0 || self.clock_skew_secs > 86_400 {
            return Err("auth.clock_skew_secs must be 1 to 86400".into());
        }
        if !(60..=30 * 86_400).contains(&self.ui_session_max_secs) {
            return Err("auth.ui_session_max_secs must be 60 to 2592000 (30 days)".into());
        }
        if !(60..=self.ui_session_max_secs).contains(&self.ui_session_idle_secs) {
            return Err("auth.ui_session_idle_secs must be 60 to auth.ui_session_max_secs".into());
        }
        if !(1..=100).contains(&self.login_max_failures) {
            return Err("auth.login_max_failures must be 1 to 100".into());
        }
        if !(1..=86_400).contains(&self.login_lockout_secs) {
            return Err("auth.login_lockout_secs must be 1 to 86400".into());
        }
        if let Some(r) = &self.region
            && (r.is_empty()
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        {
            return Err(format!(
                "auth.region `{r}` is not a region name such as us-east-1"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, tests::env};
    use super::*;

    #[test]
    fn auth_settings_from_file_and_environment() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.auth, AuthSettings::default());
        assert_eq!(c.auth.clock_skew_secs, 300);
        let o = c.auth.key_store_options().unwrap();
        assert!(o.root.is_none() && o.master_key.is_none());

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.toml");
        std::fs::write(
            &f,
            "[auth]\nroot_access_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nclock_skew_secs = 60\n",
        )
        .unwrap();
        let master = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let c = Config::load(
            Some(&f),
            env(&[
                ("VIDSTREAM_AUTH__ROOT_SECRET_ACCESS_KEY", secret),
                ("VIDSTREAM_AUTH__MASTER_KEY", master),
                ("VIDSTREAM_AUTH__REGION", "eu-west-1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.auth.clock_skew(), std::time::Duration::from_secs(60));
        let ui = c.auth.ui_session_options(false);
        assert_eq!(ui.idle, std::time::Duration::from_secs(1800));
        assert_eq!(ui.max_age, std::time::Duration::from_secs(43_200));
        let u = c.auth.user_store_options();
        assert_eq!((u.max_failures, u.lockout.as_secs()), (5, 900));
        assert_eq!(c.auth.region.as_deref(), Some("eu-west-1"));
        let o = c.auth.key_store_options().unwrap();
        let root = o.root.expect("configured root");
        assert_eq!(root.access_key_id(), "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(root.secret().expose(), secret);
        assert!(o.master_key.is_some());
        // No secret in Debug (config dumps and logs).
        let shown = format!("{c:?}");
        assert!(
            !shown.contains(secret) && !shown.contains(master),
            "{shown}"
        );
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"));
    }

    #[test]
    fn auth_settings_are_checked_without_echoing_secrets() {
        let bad = |pairs: &[(&str, &str)]| Config::load(None, env(pairs)).unwrap_err().to_string();
        let e = bad(&[("VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")]);
        assert!(e.contains("both") && e.contains("VIDSTREAM_AUTH"), "{e}");
        let e = bad(&[
            ("VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("VIDSTREAM_AUTH__ROOT_SECRET_ACCESS_KEY", "tooshort"),
        ]);
        assert!(
            e.contains("root_secret_access_key") && !e.contains("tooshort"),
            "{e}"
        );
        let e = bad(&[("VIDSTREAM_AUTH__MASTER_KEY", "c2hvcnQ=")]);
        assert!(e.contains("5 bytes") && !e.contains("c2hvcnQ="), "{e}");
        let e = bad(&[("VIDSTREAM_AUTH__MASTER_KEY", "%%%secret%%%")]);
        assert!(e.contains("not base64") && !e.contains("secret%"), "{e}");
        let e = bad(&[("VIDSTREAM_AUTH__CLOCK_SKEW_SECS", "0")]);
        assert!(e.contains("clock_skew_secs"), "{e}");
        let e = bad(&[("VIDSTREAM_AUTH__REGION", "US East")]);
        assert!(e.contains("auth.region"), "{e}");
        let e = bad(&[("VIDSTREAM_AUTH__UI_SESSION_IDLE_SECS", "50000")]);
        assert!(e.contains("ui_session_idle_secs"), "{e}");
        let e = bad(&[("VIDSTREAM_AUTH__UI_SESSION_MAX_SECS", "10")]);
        assert!(e.contains("ui_session_max_secs"), "{e}");
        let e = bad(&[("VIDSTREAM_AUTH__LOGIN_MAX_FAILURES", "0")]);
        assert!(e.contains("login_max_failures"), "{e}");
        let e = bad(&[("VIDSTREAM_AUTH__LOGIN_LOCKOUT_SECS", "0")]);
        assert!(e.contains("login_lockout_secs"), "{e}");
        let e = bad(&[("VIDSTREAM_AUTH__NOPE", "1")]);
        assert!(e.contains("VIDSTREAM_AUTH__NOPE"), "{e}");
    }
}
