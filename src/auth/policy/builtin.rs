//! The built-in policies (table in the module doc): ordinary documents rendered from a stream-name
//! pattern, so they are shown, stored and edited like any other policy.

use serde::Serialize;

use super::actions::Action;
use super::document::shown;
use super::resource::{camera_pattern, stream_pattern};
use super::{Policy, PolicyError};

/// The names [`builtin`] knows.
pub const BUILTIN_NAMES: &[&str] = &["admin", "producer", "viewer", "ml-consumer"];

/// Longest stream-name pattern: a stream name's limit (botocore `StreamName`).
const MAX_PATTERN_CHARS: usize = 256;

/// What kvssink calls (KVS-API.md §1.8), and the tags it may set.
const PRODUCER: &[Action] = &[
    Action::PutMedia,
    Action::GetDataEndpoint,
    Action::DescribeStream,
    Action::CreateStream,
    Action::TagStream,
    Action::ListTagsForStream,
];

/// Reads and playback of a stream, as the web UI and players do them.
const VIEWER_STREAMS: &[Action] = &[
    Action::DescribeStream,
    Action::GetDataEndpoint,
    Action::GetMedia,
    Action::ListFragments,
    Action::GetMediaForFragmentList,
    Action::GetClip,
    Action::GetImages,
    Action::GetHLSStreamingSessionURL,
    Action::GetHLSMasterPlaylist,
    Action::GetHLSMediaPlaylist,
    Action::GetMP4InitFragment,
    Action::GetMP4MediaFragment,
    Action::GetTSFragment,
    Action::GetDASHStreamingSessionURL,
    Action::GetDASHManifest,
    Action::DescribeImageGenerationConfiguration,
    Action::ListTagsForStream,
    Action::ListTagsForResource,
    Action::GetTimeline,
];

/// The lists and the web UI (on `*`: IAM has no resource for a list).
const VIEWER_ANY: &[Action] = &[Action::ListStreams, Action::ListCameras, Action::UseWebUI];

/// Frames and media for a model, with its own checkpoints. GetMediaForFragmentList goes with
/// ListFragments (the archived-media way of reading what ListFragments found).
const ML_CONSUMER: &[Action] = &[
    Action::GetFrameFeed,
    Action::GetConsumerCheckpoint,
    Action::PutConsumerCheckpoint,
    Action::ListConsumers,
    Action::GetImages,
    Action::GetMedia,
    Action::ListFragments,
    Action::GetMediaForFragmentList,
    Action::DescribeStream,
    Action::GetDataEndpoint,
];

/// A document as rendered: a struct, so the members come out in the order people write them
/// (Version, then Sid, Effect, Action, Resource), whatever serde_json's map ordering.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    version: &'a str,
    statement: Vec<StatementText<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatementText<'a> {
    sid: &'a str,
    effect: &'a str,
    action: OneOrMany,
    resource: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OneOrMany {
    One(&'static str),
    Many(Vec<&'static str>),
}

fn statement<'a>(sid: &'a str, actions: &[Action], resource: String) -> StatementText<'a> {
    StatementText {
        sid,
        effect: "Allow",
        action: OneOrMany::Many(actions.iter().map(|a| a.as_str()).collect()),
        resource,
    }
}

/// The built-in policy `name` (one of [`BUILTIN_NAMES`]) for the streams whose names match
/// `streams` (`*` for all; `admin` takes only `*`), rendered as a document and parsed.
pub fn builtin(name: &str, streams: &str) -> Result<Policy, PolicyError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '?');
    if streams.is_empty()
        || streams.chars().count() > MAX_PATTERN_CHARS
        || !streams.chars().all(valid)
    {
        return Err(PolicyError::StreamPattern(shown(streams)));
    }
    let on_streams = stream_pattern(streams);
    let statement = match name {
        "admin" => {
            if streams != "*" {
                return Err(PolicyError::Invalid {
                    at: "built-in policy `admin`".to_owned(),
                    problem: format!(
                        "covers every action on every resource, so its stream pattern must be `*`, not `{}`; for fewer streams use producer, viewer or ml-consumer",
                        shown(streams)
                    ),
                });
            }
            vec![StatementText {
                sid: "Admin",
                effect: "Allow",
                action: OneOrMany::One("*"),
                resource: "*".to_owned(),
            }]
        }
        "producer" => vec![statement("ProduceToStreams", PRODUCER, on_streams)],
        "viewer" => vec![
            statement("WatchStreams", VIEWER_STREAMS, on_streams),
            statement(
                "SeeCameras",
                &[Action::DescribeCamera],
                camera_pattern(streams),
            ),
            statement("ListAndUseWebUI", VIEWER_ANY, "*".to_owned()),
        ],
        "ml-consumer" => vec![statement("ConsumeStreams", ML_CONSUMER, on_streams)],
        _ => return Err(PolicyError::UnknownBuiltin(shown(name))),
    };
    let document = Document {
        version: "2012-10-17",
        statement,
    };
    let text =
        serde_json::to_string_pretty(&document).map_err(|e| PolicyError::Json(e.to_string()))?;
    Policy::parse(&text)
}

#[cfg(test)]
mod tests {
    use super::super::resource::{self, ANY};
    use super::super::{Decision, MAX_POLICY_BYTES};
    use super::*;

    fn stream(name: &str) -> String {
        resource::stream("us-east-1", "123456789012", name, 1_700_000_000_000)
    }

    fn camera(name: &str) -> String {
        resource::camera("us-east-1", "123456789012", name)
    }

    fn allows(p: &Policy, action: Action, resource: &str) -> bool {
        p.decide(action.as_str(), resource) == Decision::Allow
    }

    /// Every action of the catalog on `resource`, allowed or not, against the expected set.
    fn only(p: &Policy, resource: &str, allowed: &[Action]) {
        for &a in Action::ALL {
            assert_eq!(
                allows(p, a, resource),
                allowed.contains(&a),
                "{a} on {resource}"
            );
        }
    }

    #[test]
    fn every_builtin_parses_and_fits_even_with_the_longest_pattern() {
        let longest = "a".repeat(MAX_PATTERN_CHARS);
        for name in BUILTIN_NAMES {
            let streams = if *name == "admin" {
                "*"
            } else {
                longest.as_str()
            };
            let p = builtin(name, streams).unwrap();
            p.check_invariants();
            assert!(p.json().len() <= MAX_POLICY_BYTES);
            // What is shown is what is evaluated: the text parses to the same decisions.
            let again = Policy::parse(p.json()).unwrap();
            for &a in Action::ALL {
                for r in [stream(&longest), stream("x"), ANY.to_owned()] {
                    assert_eq!(p.decide(a.as_str(), &r), again.decide(a.as_str(), &r));
                }
            }
        }
    }

    #[test]
    fn admin_may_do_everything() {
        let p = builtin("admin", "*").unwrap();
        for r in [stream("lobby"), camera("door"), ANY.to_owned()] {
            only(&p, &r, Action::ALL);
        }
        let err = builtin("admin", "cam-*").unwrap_err();
        assert!(err.to_string().contains("must be `*`"), "{err}");
    }

    #[test]
    fn producer_on_some_streams() {
        let p = builtin("producer", "cam-*").unwrap();
        only(&p, &stream("cam-1"), PRODUCER);
        only(&p, &stream("lobby"), &[]);
        only(&p, ANY, &[]);
        assert!(allows(&p, Action::PutMedia, &stream("cam-1")));
        assert!(!allows(&p, Action::PutMedia, &stream("lobby")));
        assert!(!allows(&p, Action::DeleteStream, &stream("cam-1")));
        assert!(!allows(&p, Action::GetMedia, &stream("cam-1")));
    }

    #[test]
    fn viewer_reads_but_never_writes() {
        let p = builtin("viewer", "cam-*").unwrap();
        // The lists' `*` covers any resource string too (IAM semantics), harmlessly: a list
        // request is only ever evaluated against `*`.
        let with_lists = |actions: &[Action]| [actions, VIEWER_ANY].concat();
        only(&p, &stream("cam-1"), &with_lists(VIEWER_STREAMS));
        only(&p, &stream("lobby"), VIEWER_ANY);
        only(
            &p,
            &camera("cam-door"),
            &with_lists(&[Action::DescribeCamera]),
        );
        only(&p, &camera("lobby"), VIEWER_ANY);
        only(&p, ANY, VIEWER_ANY);
        for denied in [
            Action::PutMedia,
            Action::DeleteStream,
            Action::PutCamera,
            Action::CreateKey,
            Action::GetFrameFeed,
        ] {
            assert!(!allows(&p, denied, &stream("cam-1")), "{denied}");
            assert!(!allows(&p, denied, &camera("cam-door")), "{denied}");
        }
        assert!(allows(&p, Action::GetMedia, &stream("cam-1")));
        assert!(allows(&p, Action::UseWebUI, ANY));
    }

    #[test]
    fn ml_consumer_reads_frames_and_keeps_checkpoints() {
        let p = builtin("ml-consumer", "*").unwrap();
        only(&p, &stream("anything"), ML_CONSUMER);
        only(&p, ANY, &[]);
        assert!(!allows(&p, Action::DeleteConsumer, &stream("a")));
        assert!(!allows(&p, Action::PutMedia, &stream("a")));
    }

    #[test]
    fn producer_document_is_exactly_this() {
        // The rendered text is what the admin API shows: pinned so a change is deliberate.
        let p = builtin("producer", "cam-*").unwrap();
        assert_eq!(
            p.json(),
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ProduceToStreams",
      "Effect": "Allow",
      "Action": [
        "kinesisvideo:PutMedia",
        "kinesisvideo:GetDataEndpoint",
        "kinesisvideo:DescribeStream",
        "kinesisvideo:CreateStream",
        "kinesisvideo:TagStream",
        "kinesisvideo:ListTagsForStream"
      ],
      "Resource": "arn:aws:kinesisvideo:*:*:stream/cam-*/*"
    }
  ]
}"#
        );
    }

    #[test]
    fn bad_names_and_patterns() {
        assert_eq!(
            builtin("root", "*").unwrap_err(),
            PolicyError::UnknownBuiltin("root".to_owned())
        );
        for bad in [
            "",
            "a/b",
            "a\"b",
            "cam *",
            "é",
            &"a".repeat(MAX_PATTERN_CHARS + 1),
        ] {
            assert!(
                matches!(builtin("viewer", bad), Err(PolicyError::StreamPattern(_))),
                "{bad:?}"
            );
        }
        assert!(builtin("viewer", "cam-?.x_y").is_ok());
    }
}
