//! Where a client subcommand connects and with which credentials: the flags `push`, `gen`,
//! `cameras` and `keys` share.
//!
//! Credentials are looked for as the AWS CLI looks for them: `--access-key`/`--secret-key`
//! (or `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`), else the profile
//! (`--profile`, `AWS_PROFILE`, default `default`) of a shared-credentials file
//! (`--credentials-file`, `AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`) — such
//! as the `DATA_DIR/root-credentials` file the server writes on its first start.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::auth::sigv4::{self, Credentials, Signer};
use crate::client::{Api, http::Endpoint};

/// Connection and credential flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Server endpoint.
    #[arg(
        long,
        env = "VIDSTREAM_ENDPOINT",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub endpoint: String,
    /// Signing region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1", global = true)]
    pub region: String,
    /// Access key id (else the credentials file's).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", global = true)]
    pub access_key: Option<String>,
    /// Secret access key.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<String>,
    /// Session token of temporary credentials.
    #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true, global = true)]
    pub session_token: Option<String>,
    /// An AWS shared-credentials file (INI), e.g. the server's DATA_DIR/root-credentials.
    #[arg(long, env = "AWS_SHARED_CREDENTIALS_FILE", global = true)]
    pub credentials_file: Option<PathBuf>,
    /// The profile to read from the credentials file.
    #[arg(long, env = "AWS_PROFILE", default_value = "default", global = true)]
    pub profile: String,
    /// PEM file of certificates to trust for an https:// endpoint besides the public roots:
    /// a private CA or the server's self-signed certificate (else `SSL_CERT_FILE`'s).
    #[arg(long, env = "AWS_CA_BUNDLE", global = true)]
    pub ca_file: Option<PathBuf>,
}

impl Target {
    /// The API client for these flags.
    pub fn api(&self) -> anyhow::Result<Api> {
        let endpoint = Endpoint::parse(&self.endpoint)?.trusting(self.ca_file.clone());
        Ok(Api {
            endpoint,
            signer: self.signer()?,
        })
    }

    /// The signer, when credentials are found (else requests go unsigned and the server
    /// answers `MissingAuthenticationTokenException`).
    pub fn signer(&self) -> anyhow::Result<Option<Signer>> {
        let credentials = match (&self.access_key, &self.secret_key) {
            (Some(a), Some(s)) => Some(Credentials {
                access_key: a.clone(),
                secret_key: s.clone(),
                session_token: self.session_token.clone(),
            }),
            (None, None) => self.read_credentials_file()?,
            _ => bail!("give both --access-key and --secret-key (or neither)"),
        };
        Ok(credentials.map(|credentials| Signer {
            credentials,
            region: self.region.clone(),
            service: sigv4::SERVICE.into(),
        }))
    }

    fn read_credentials_file(&self) -> anyhow::Result<Option<Credentials>> {
        let (path, explicit) = match &self.credentials_file {
            Some(p) => (p.clone(), true),
            None => match std::env::var_os("HOME") {
                Some(home) => (Path::new(&home).join(".aws/credentials"), false),
                None => return Ok(None),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", path.display()));
            }
        };
        let c = profile(&text, &self.profile).with_context(|| {
            format!(
                "{} has no profile `{}` with aws_access_key_id and aws_secret_access_key",
                path.display(),
                self.profile
            )
        })?;
        Ok(Some(c))
    }
}

/// One request of a client subcommand: the JSON of a 2xx answer, or the KVS error as an error
/// (`STATUS Type: message`). `path` is not yet percent-encoded.
pub async fn call(
    api: &Api,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    match api.rest(method, path, body).await? {
        Ok(v) => Ok(v),
        Err(f) => bail!("{} {}: {}", f.status, f.error_type, f.message),
    }
}

/// The policy flags `keys create` and `users create` share: `--policy NAME` (a built-in,
/// optionally scoped with `--streams`) or `--policy-file FILE` (a document).
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// A built-in policy: admin, producer, viewer or ml-consumer.
    #[arg(long, conflicts_with = "policy_file")]
    policy: Option<String>,
    /// The stream-name pattern a built-in policy is scoped to (`*` = every stream).
    #[arg(long, requires = "policy")]
    streams: Option<String>,
    /// An IAM-style policy document (JSON file) instead of a built-in.
    #[arg(long)]
    policy_file: Option<PathBuf>,
}

impl PolicyArgs {
    /// Adds `policy` (and `streams`) to a `/v1/keys` or `/v1/users` request body.
    pub fn add_to(self, body: &mut serde_json::Value) -> anyhow::Result<()> {
        body["policy"] = match (self.policy, self.policy_file) {
            (Some(p), None) => serde_json::Value::String(p),
            (None, Some(f)) => {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", f.display()))?
            }
            _ => bail!("give --policy NAME or --policy-file FILE"),
        };
        if let Some(s) = self.streams {
            body["streams"] = serde_json::Value::String(s);
        }
        Ok(())
    }
}

/// The credentials of `[name]` in an AWS shared-credentials (INI) file.
pub fn profile(text: &str, name: &str) -> Option<Credentials> {
    let mut in_section = false;
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = section.trim() == name;
            continue;
        }
        if !in_section {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_owned();
        match k.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => key = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    Some(Credentials {
        access_key: key?,
        secret_key: secret?,
        session_token: token,
    })
}

#[cfg(test)]
mod tests {
    use super::profile;

    #[test]
    fn shared_credentials_profiles() {
        let text = "# vidstream root credentials\n[default]\naws_access_key_id = VSRKAAAA\naws_secret_access_key = s3cr3t\n\n[cam]\naws_access_key_id=VSTKBBBB\naws_secret_access_key=x\naws_session_token = tok\n";
        let d = profile(text, "default").unwrap();
        assert_eq!(
            (d.access_key.as_str(), d.secret_key.as_str()),
            ("VSRKAAAA", "s3cr3t")
        );
        assert_eq!(d.session_token, None);
        let c = profile(text, "cam").unwrap();
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        assert!(profile(text, "other").is_none());
        assert!(profile("[default]\naws_access_key_id = x\n", "default").is_none());
    }
}
