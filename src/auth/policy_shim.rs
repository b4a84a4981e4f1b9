//! **Stand-in for `auth::policy` until it lands on `main`; delete this file at the merge** (and
//! the `#[path]` line in `auth/mod.rs`): the real module (branch `h-policy`) has the same API.
//!
//! Only what the web UI users need, with the real module's names and signatures:
//! [`Policy::parse`], [`Policy::json`], [`Policy::decide`], [`Policy::deny_all`], [`Decision`],
//! [`builtin`] and [`BUILTIN_NAMES`], [`PolicyError`] and [`resource`]. Evaluation is IAM's for
//! `Effect`/`Action`/`NotAction`/`Resource`/`NotResource` with `*`/`?` globs (actions matched
//! without case); the real module adds the action catalog check, limits and better errors.

use serde_json::Value;

use crate::error::ErrorKind;

/// The names [`builtin`] knows.
pub const BUILTIN_NAMES: &[&str] = &["admin", "producer", "viewer", "ml-consumer"];

/// A policy document is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON.
    #[error("policy document is not valid JSON: {0}")]
    Json(String),
    /// JSON, but not a policy.
    #[error("{0}")]
    Invalid(String),
    /// No such built-in.
    #[error(
        "there is no built-in policy `{0}`; the built-ins are admin, producer, viewer and ml-consumer"
    )]
    UnknownBuiltin(String),
    /// Not a stream-name pattern.
    #[error(
        "stream pattern `{0}` is invalid: write a stream name (letters, digits, `_`, `.`, `-`; 1 to 256 characters) with `*` and `?` wildcards, e.g. `cam-*`"
    )]
    StreamPattern(String),
}

impl PolicyError {
    /// Always [`ErrorKind::InvalidArgument`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// The outcome of evaluating a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Allowed, and not denied.
    Allow,
    /// Explicitly denied.
    Deny,
    /// Denied by default.
    NotMatched,
}

impl Decision {
    /// Only [`Decision::Allow`].
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    not_action: bool,
    actions: Vec<String>,
    not_resource: bool,
    resources: Vec<String>,
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    json: String,
    statements: Vec<Statement>,
}

fn strings(v: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    let invalid = || PolicyError::Invalid(format!("{at} must be a string or a list of strings"));
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect(),
        _ => Err(invalid()),
    }
}

impl Policy {
    /// Parses and checks a document.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        let doc: Value =
            serde_json::from_str(json).map_err(|e| PolicyError::Json(e.to_string()))?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(a)) if !a.is_empty() => a.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            _ => {
                return Err(PolicyError::Invalid(
                    "policy document needs a Statement: one statement or a list of them".into(),
                ));
            }
        };
        let mut out = Vec::new();
        for (i, s) in statements.iter().enumerate() {
            let at = format!("Statement[{i}]");
            let allow = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => {
                    return Err(PolicyError::Invalid(format!(
                        "{at}.Effect must be Allow or Deny"
                    )));
                }
            };
            let (not_action, actions) = match (s.get("Action"), s.get("NotAction")) {
                (Some(a), None) => (false, strings(a, &format!("{at}.Action"))?),
                (None, Some(a)) => (true, strings(a, &format!("{at}.NotAction"))?),
                _ => {
                    return Err(PolicyError::Invalid(format!(
                        "{at} needs exactly one of Action and NotAction"
                    )));
                }
            };
            let (not_resource, resources) = match (s.get("Resource"), s.get("NotResource")) {
                (Some(r), None) => (false, strings(r, &format!("{at}.Resource"))?),
                (None, Some(r)) => (true, strings(r, &format!("{at}.NotResource"))?),
                _ => {
                    return Err(PolicyError::Invalid(format!(
                        "{at} needs exactly one of Resource and NotResource"
                    )));
                }
            };
            out.push(Statement {
                allow,
                not_action,
                actions,
                not_resource,
                resources,
            });
        }
        Ok(Policy {
            json: json.to_owned(),
            statements: out,
        })
    }

    /// A policy that allows nothing.
    pub fn deny_all() -> Policy {
        Policy {
            json: r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned(),
            statements: Vec::new(),
        }
    }

    /// The document as written.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// IAM's decision for `action` on `resource`: an applicable Deny wins, then an Allow, else
    /// denied by default.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            let a = s
                .actions
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
            let r = s.resources.iter().any(|p| glob(p, resource));
            if a != s.not_action && r != s.not_resource {
                if !s.allow {
                    return Decision::Deny;
                }
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotMatched
        }
    }
}

/// `*` matches any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A built-in policy (the real module's table) scoped to the streams matching `streams`.
pub fn builtin(name: &str, streams: &str) -> Result<Policy, PolicyError> {
    let ok = !streams.is_empty()
        && streams.len() <= 256
        && streams
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-*?".contains(&b));
    if !ok {
        return Err(PolicyError::StreamPattern(streams.to_owned()));
    }
    let on = |actions: &[&str], resource: String| serde_json::json!({"Effect": "Allow", "Action": actions, "Resource": resource});
    let stream = resource::stream_pattern(streams);
    let statements = match name {
        "admin" if streams == "*" => vec![on(&["*"], "*".into())],
        "admin" => {
            return Err(PolicyError::Invalid(
                "the admin policy is for every stream: leave `streams` at `*`".into(),
            ));
        }
        "producer" => vec![on(
            &[
                "kinesisvideo:PutMedia",
                "kinesisvideo:GetDataEndpoint",
                "kinesisvideo:DescribeStream",
                "kinesisvideo:CreateStream",
                "kinesisvideo:TagStream",
                "kinesisvideo:ListTagsForStream",
            ],
            stream,
        )],
        "viewer" => vec![
            on(
                &[
                    "kinesisvideo:DescribeStream",
                    "kinesisvideo:GetDataEndpoint",
                    "kinesisvideo:GetMedia",
                    "kinesisvideo:ListFragments",
                    "kinesisvideo:GetMediaForFragmentList",
                    "kinesisvideo:GetClip",
                    "kinesisvideo:GetImages",
                    "kinesisvideo:GetHLSStreamingSessionURL",
                    "kinesisvideo:GetHLSMasterPlaylist",
                    "kinesisvideo:GetHLSMediaPlaylist",
                    "kinesisvideo:GetMP4InitFragment",
                    "kinesisvideo:GetMP4MediaFragment",
                    "kinesisvideo:GetTSFragment",
                    "kinesisvideo:GetDASHStreamingSessionURL",
                    "kinesisvideo:GetDASHManifest",
                    "kinesisvideo:DescribeImageGenerationConfiguration",
                    "kinesisvideo:ListTagsForStream",
                    "kinesisvideo:ListTagsForResource",
                    "vidstream:GetTimeline",
                ],
                stream,
            ),
            on(
                &["vidstream:DescribeCamera"],
                format!("arn:vidstream:*:*:camera/{streams}"),
            ),
            on(
                &[
                    "kinesisvideo:ListStreams",
                    "vidstream:ListCameras",
                    "vidstream:UseWebUI",
                ],
                "*".into(),
            ),
        ],
        "ml-consumer" => vec![on(
            &[
                "vidstream:GetFrameFeed",
                "vidstream:GetConsumerCheckpoint",
                "vidstream:PutConsumerCheckpoint",
                "vidstream:ListConsumers",
                "kinesisvideo:GetImages",
                "kinesisvideo:GetMedia",
                "kinesisvideo:ListFragments",
                "kinesisvideo:GetMediaForFragmentList",
                "kinesisvideo:DescribeStream",
                "kinesisvideo:GetDataEndpoint",
            ],
            stream,
        )],
        other => return Err(PolicyError::UnknownBuiltin(other.to_owned())),
    };
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    Policy::parse(&doc.to_string())
}

/// The resource strings requests are evaluated against.
pub mod resource {
    /// The resource of operations on no particular resource.
    pub const ANY: &str = "*";

    /// A camera's resource string.
    pub fn camera(region: &str, account: &str, name: &str) -> String {
        format!("arn:vidstream:{region}:{account}:camera/{name}")
    }

    /// A web UI user's resource string.
    pub fn user(region: &str, account: &str, name: &str) -> String {
        format!("arn:vidstream:{region}:{account}:user/{name}")
    }

    /// The policy pattern of the streams whose names match `name_pattern`.
    pub fn stream_pattern(name_pattern: &str) -> String {
        format!("arn:aws:kinesisvideo:*:*:stream/{name_pattern}/*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_decide_like_the_table() {
        let cam = "arn:aws:kinesisvideo:us-east-1:1:stream/cam-1/5";
        let v = builtin("viewer", "cam-*").unwrap();
        assert!(v.decide("kinesisvideo:GetClip", cam).is_allowed());
        assert!(
            !v.decide(
                "kinesisvideo:GetClip",
                "arn:aws:kinesisvideo:us-east-1:1:stream/x/5"
            )
            .is_allowed()
        );
        assert!(v.decide("vidstream:UseWebUI", "*").is_allowed());
        assert!(!v.decide("vidstream:PutCamera", "*").is_allowed());
        assert!(
            builtin("admin", "*")
                .unwrap()
                .decide("vidstream:PutCamera", "*")
                .is_allowed()
        );
        let deny = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
               {"Effect":"Deny","Action":"kinesisvideo:Get*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_eq!(deny.decide("kinesisvideo:getclip", cam), Decision::Deny);
        assert!(Policy::parse("{}").is_err());
        assert!(builtin("nope", "*").is_err());
    }
}
