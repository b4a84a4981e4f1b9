//! IAM-style policy documents and their evaluation: may this principal do this action on this
//! resource?
//!
//! This module only decides; it knows nothing of HTTP, keys or users. The API maps each route to
//! an [`Action`] and a resource string ([`resource`]), and asks [`evaluate`] with the policies
//! attached to the caller.
//!
//! # Documents
//! The subset of the AWS IAM policy grammar that vidstream can honour exactly:
//!
//! ```json
//! {
//!   "Version": "2012-10-17",
//!   "Statement": [
//!     { "Sid": "Cameras", "Effect": "Allow",
//!       "Action": ["kinesisvideo:PutMedia", "kinesisvideo:Describe*"],
//!       "Resource": "arn:aws:kinesisvideo:*:*:stream/cam-*/*" },
//!     { "Effect": "Deny", "NotAction": "kinesisvideo:Get*", "Resource": "*" }
//!   ]
//! }
//! ```
//!
//! - `Version` is `2012-10-17` or `2008-10-17`, or absent; `Id` is allowed and ignored.
//! - `Statement` is one statement object or a list of 1 to [`MAX_STATEMENTS`].
//! - A statement has an optional `Sid` (unique in the document), `Effect` (`Allow` or `Deny`),
//!   exactly one of `Action`/`NotAction` and exactly one of `Resource`/`NotResource`, each a
//!   string or a list of 1 to [`MAX_PATTERNS`] strings.
//! - `Condition`, `Principal` and `NotPrincipal` are refused, not ignored: a condition skipped
//!   would grant more than its author meant, and policies here attach to users and keys, so there
//!   is no principal to name.
//! - Action names must be in the catalog ([`Action`]); a pattern with `*`/`?` must match at least
//!   one of them. A typo is an error when the policy is saved, not a silent refusal later.
//! - Resources are `*` or ARN patterns (`arn:` and at least five `:`-separated fields). Policy
//!   variables (`${aws:username}`) are refused under `2012-10-17`, where IAM would substitute them.
//! - At most [`MAX_POLICY_BYTES`] bytes (IAM's managed-policy limit). Unknown or repeated
//!   elements are errors, and every error names the element, e.g. ``Statement[2].Action[0]
//!   `kinesisvideo:GetMedai` is not a known action; did you mean `kinesisvideo:GetMedia`?``.
//!
//! The document's text is kept as written ([`Policy::json`]), for the admin API to show back.
//!
//! # Evaluation (IAM's, for identity policies)
//! - Action patterns match case-insensitively, resource patterns case-sensitively; `*` matches
//!   any run of characters (`/` and `:` too), `?` one character.
//! - A statement applies when an `Action` pattern matches (for `NotAction`: none matches) and a
//!   `Resource` pattern matches (for `NotResource`: none matches).
//! - An applicable `Deny` anywhere wins; otherwise an applicable `Allow` allows; otherwise the
//!   request is denied by default ([`Decision::NotMatched`]).
//! - Requests on no particular resource (ListStreams, ListCameras...) are evaluated against
//!   [`resource::ANY`] (`*`), which only `*`-like resource patterns match.
//!
//! Cost: parsing records, per statement, which catalog actions it matches (a `u128` bitset), and
//! puts Deny statements first. [`Policy::decide`] then looks the action up once (an exact-name
//! `match`), tests a bit per statement, matches resources with an allocation-free two-pointer
//! glob (`glob.rs`), and returns at the first statement that applies. An action name outside the
//! catalog (or not in its canonical case) takes the same decision through the glob.
//!
//! # Built-in policies
//! [`builtin`]`(name, streams)` renders an ordinary document (shown and editable like any other)
//! where `{s}` is the stream-name pattern `streams` (`*` for all):
//!
//! | name | actions | on |
//! |---|---|---|
//! | `admin` | `*` | `*` (`streams` must be `*`) |
//! | `producer` | PutMedia, GetDataEndpoint, DescribeStream, CreateStream, TagStream, ListTagsForStream (what kvssink calls) | `arn:aws:kinesisvideo:*:*:stream/{s}/*` |
//! | `viewer` | DescribeStream, GetDataEndpoint, GetMedia, ListFragments, GetMediaForFragmentList, GetClip, GetImages, GetHLSStreamingSessionURL, GetHLSMasterPlaylist, GetHLSMediaPlaylist, GetMP4InitFragment, GetMP4MediaFragment, GetTSFragment, GetDASHStreamingSessionURL, GetDASHManifest, DescribeImageGenerationConfiguration, ListTagsForStream, ListTagsForResource, vidstream:GetTimeline | `arn:aws:kinesisvideo:*:*:stream/{s}/*` |
//! | | vidstream:DescribeCamera | `arn:vidstream:*:*:camera/{s}` (cameras named like their streams) |
//! | | ListStreams, vidstream:ListCameras, vidstream:UseWebUI | `*` |
//! | `ml-consumer` | vidstream:GetFrameFeed, vidstream:GetConsumerCheckpoint, vidstream:PutConsumerCheckpoint, vidstream:ListConsumers, GetImages, GetMedia, ListFragments, GetMediaForFragmentList, DescribeStream, GetDataEndpoint | `arn:aws:kinesisvideo:*:*:stream/{s}/*` |
//!
//! Unprefixed names are `kinesisvideo:`. A viewer sees the camera list but never changes cameras
//! (PutCamera), keys or users; camera views never carry credentials anyway. Only `admin` may
//! change streams, cameras, keys or users, read the audit log or delete consumers.

mod actions;
mod builtin;
mod document;
mod glob;
pub mod resource;
#[cfg(test)]
mod tests;

pub use actions::{Action, ResourceKind};
pub use builtin::{BUILTIN_NAMES, builtin};

use crate::error::ErrorKind;
use glob::Pattern;

/// Longest policy document accepted, in bytes: IAM's limit for a managed policy.
pub const MAX_POLICY_BYTES: usize = 6144;
/// Most statements in one document.
pub const MAX_STATEMENTS: usize = 100;
/// Most patterns in one `Action`, `NotAction`, `Resource` or `NotResource` element.
pub const MAX_PATTERNS: usize = 100;

/// A policy document is unusable; the message says where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Longer than [`MAX_POLICY_BYTES`].
    #[error(
        "policy document is {len} bytes; the limit is {MAX_POLICY_BYTES} (IAM's managed-policy limit): split it into several policies"
    )]
    TooLarge {
        /// The document's length in bytes.
        len: usize,
    },
    /// Not JSON at all (the message has serde_json's line and column).
    #[error("policy document is not valid JSON: {0}")]
    Json(String),
    /// JSON, but outside the grammar (see the module doc).
    #[error("{at} {problem}")]
    Invalid {
        /// Where, e.g. `Statement[2].Action[0]`, or `policy document`.
        at: String,
        /// What is wrong and what to write instead.
        problem: String,
    },
    /// [`builtin`] was asked for a name it does not have.
    #[error(
        "there is no built-in policy `{0}`; the built-ins are admin, producer, viewer and ml-consumer"
    )]
    UnknownBuiltin(String),
    /// [`builtin`] was given a stream-name pattern that is not one.
    #[error(
        "stream pattern `{0}` is invalid: write a stream name (letters, digits, `_`, `.`, `-`; 1 to 256 characters) with `*` and `?` wildcards, e.g. `cam-*`"
    )]
    StreamPattern(String),
}

impl PolicyError {
    /// Always [`ErrorKind::InvalidArgument`]: the document is the caller's to fix.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// The outcome of evaluating a request against policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// An applicable statement allows it, and none denies it.
    Allow,
    /// An applicable statement denies it (explicit deny: no other policy can allow it).
    Deny,
    /// No statement applies: denied by default.
    NotMatched,
}

impl Decision {
    /// Whether the request may proceed (only [`Decision::Allow`]).
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// A parsed policy document: its statements ready for evaluation and its original text.
#[derive(Debug, Clone)]
pub struct Policy {
    json: String,
    /// Deny statements first (see [`Policy::decide`]); otherwise in document order.
    statements: Box<[Statement]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// `NotAction` rather than `Action`.
    not_action: bool,
    actions: Box<[Pattern]>,
    /// Bit `a as usize` is set when a pattern of `actions` matches catalog action `a`.
    action_bits: u128,
    /// `NotResource` rather than `Resource`.
    not_resource: bool,
    resources: Box<[Pattern]>,
}

/// The action of a request: a catalog action found by exact name (the fast path), or any other
/// string, matched through the patterns.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    Known(Action),
    Named(&'a str),
}

impl<'a> Subject<'a> {
    #[inline]
    fn new(action: &'a str) -> Self {
        Action::from_name(action).map_or(Subject::Named(action), Subject::Known)
    }
}

fn bit(action: Action) -> u128 {
    1u128 << (action as u32)
}

impl Statement {
    #[inline]
    fn action_matches(&self, action: Subject<'_>) -> bool {
        let hit = match action {
            Subject::Known(a) => self.action_bits & bit(a) != 0,
            Subject::Named(name) => self.actions.iter().any(|p| p.matches::<true>(name)),
        };
        hit != self.not_action
    }

    #[inline]
    fn resource_matches(&self, resource: &str) -> bool {
        self.resources.iter().any(|p| p.matches::<false>(resource)) != self.not_resource
    }

    /// The catalog actions `actions` match (what `action_bits` must hold).
    fn catalog_bits(actions: &[Pattern]) -> u128 {
        Action::ALL
            .iter()
            .filter(|a| actions.iter().any(|p| p.matches::<true>(a.as_str())))
            .fold(0, |bits, &a| bits | bit(a))
    }
}

impl AsRef<Policy> for Policy {
    fn as_ref(&self) -> &Policy {
        self
    }
}

impl Policy {
    /// Parses and checks a policy document (grammar and limits in the module doc). Never panics,
    /// whatever the input.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        let mut statements = document::parse(json)?;
        // Stable: Deny statements first, each group in document order.
        statements.sort_by_key(|s| s.effect == Effect::Allow);
        Ok(Policy {
            json: json.to_owned(),
            statements: statements.into_boxed_slice(),
        })
    }

    /// The policy that allows nothing (no statement): what an unreadable stored policy grants.
    pub fn deny_all() -> Policy {
        Policy {
            json: r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned(),
            statements: Box::new([]),
        }
    }

    /// The document exactly as it was given to [`Policy::parse`].
    pub fn json(&self) -> &str {
        &self.json
    }

    /// How many statements the document has.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// This policy's decision on `action` (e.g. `Action::PutMedia.as_str()`) on `resource` (a
    /// [`resource`] string, `*` for none). Allocation-free.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        self.decide_subject(Subject::new(action), resource)
    }

    /// Deny statements come first, so the first statement that applies decides: a Deny is an
    /// explicit deny, and an Allow means no Deny applied.
    fn decide_subject(&self, action: Subject<'_>, resource: &str) -> Decision {
        for s in &self.statements {
            if s.action_matches(action) && s.resource_matches(resource) {
                return match s.effect {
                    Effect::Deny => Decision::Deny,
                    Effect::Allow => Decision::Allow,
                };
            }
        }
        Decision::NotMatched
    }

    /// Asserts the evaluation structures agree with the patterns: Deny statements first, and
    /// every statement's action bitset equal to what its patterns match. For tests and fuzzing
    /// (hidden, not API).
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        assert!(self.json.len() <= MAX_POLICY_BYTES);
        assert!(!self.statements.is_empty() && self.statements.len() <= MAX_STATEMENTS);
        let first_allow = self
            .statements
            .iter()
            .position(|s| s.effect == Effect::Allow)
            .unwrap_or(self.statements.len());
        assert!(
            self.statements[first_allow..]
                .iter()
                .all(|s| s.effect == Effect::Allow),
            "deny statements must come first"
        );
        for s in &self.statements {
            assert!(!s.actions.is_empty() && s.actions.len() <= MAX_PATTERNS);
            assert!(!s.resources.is_empty() && s.resources.len() <= MAX_PATTERNS);
            assert_eq!(s.action_bits, Statement::catalog_bits(&s.actions));
        }
    }
}

/// The decision of a set of policies (those attached to one caller): [`Decision::Deny`] if any
/// policy denies, else [`Decision::Allow`] if any allows, else [`Decision::NotMatched`] (denied by
/// default). No policies: `NotMatched`. Allocation-free.
pub fn evaluate<P: AsRef<Policy>>(
    policies: impl IntoIterator<Item = P>,
    action: &str,
    resource: &str,
) -> Decision {
    let action = Subject::new(action);
    let mut decision = Decision::NotMatched;
    for policy in policies {
        match policy.as_ref().decide_subject(action, resource) {
            Decision::Deny => return Decision::Deny,
            Decision::Allow => decision = Decision::Allow,
            Decision::NotMatched => {}
        }
    }
    decision
}

/// Whether `policies` allow `action` on `resource`: [`evaluate`] is [`Decision::Allow`].
pub fn is_allowed<P: AsRef<Policy>>(
    policies: impl IntoIterator<Item = P>,
    action: &str,
    resource: &str,
) -> bool {
    evaluate(policies, action, resource).is_allowed()
}
