//! What each route needs: the one table from a request's method and path to the policy action
//! it performs, where its resource is named, and the denial error its API models.
//!
//! [`classify`] answers for every route the router serves. A route missing here is refused
//! before its handler runs (`UnknownOperationException`), so none can be reached unguarded.
//! Actions are the IAM names (`kinesisvideo:*`, and `vidstream:*` for our own surfaces, see
//! [`crate::auth::policy`]).

use axum::http::Method;

use crate::error::ErrorKind;

/// How a request is let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the health check, the web UI's files, the login endpoints.
    Public,
    /// A playback URL: it carries its own session token, which the handler checks (KVS's HLS
    /// and DASH URLs are not signed, so players on any site can use them).
    PlaybackToken,
    /// An operation: a principal whose policy allows [`Op::action`] on the resource.
    Op(Op),
}

/// An operation a principal performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// The IAM action, e.g. `kinesisvideo:GetMedia`.
    pub action: &'static str,
    /// Where the request names its resource.
    pub resource: ResourceOf,
    /// The error a denial answers: what botocore's model lists for the operation.
    pub denial: ErrorKind,
    /// What its body is.
    pub body: BodyKind,
}

impl Op {
    /// Whether the operation changes what the server holds, so that the gate records it in the
    /// audit log once its handler has answered. Reads (`Describe*`, `List*`, `Get*`) do not
    /// change anything; neither PutMedia (media) nor PutConsumerCheckpoint (a consumer's
    /// progress) is administration, and each comes many times a minute, so they are left out.
    pub fn changes_state(&self) -> bool {
        let name = self.action.split_once(':').map_or(self.action, |(_, n)| n);
        let read = ["Describe", "List", "Get"]
            .iter()
            .any(|p| name.starts_with(p));
        !read && !matches!(name, "PutMedia" | "PutConsumerCheckpoint")
    }
}

/// Where a request names the resource its action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceOf {
    /// No resource: the action is evaluated on `*` (ListStreams, ListCameras, ...).
    Any,
    /// `StreamName`/`StreamARN` in the JSON body.
    StreamInBody,
    /// `ResourceARN` in the JSON body (TagResource and friends).
    ArnInBody,
    /// `x-amzn-stream-name`/`x-amzn-stream-arn` headers (PutMedia).
    StreamInHeaders,
    /// `StreamName`/`StreamARN` in the query string.
    StreamInQuery,
    /// The stream name is the path's third segment (`/v1/streams/{name}...`).
    StreamInPath,
    /// The camera name is the path's third segment (`/v1/cameras/{name}`).
    CameraInPath,
    /// The access key id is the path's third segment (`/v1/keys/{id}`).
    KeyInPath,
    /// The user name is the path's third segment (`/v1/users/{name}`).
    UserInPath,
}

/// What a request's body is, for hashing it against its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// A JSON document, read whole (bounded) and hashed.
    Json,
    /// A media stream (PutMedia): signed as if empty (KVS-API.md §0), never buffered.
    Streaming,
    /// No body (GET, DELETE, WebSocket upgrades).
    Empty,
}

const NA: ErrorKind = ErrorKind::NotAuthorized;
const AD: ErrorKind = ErrorKind::AccessDenied;

const fn json(action: &'static str, resource: ResourceOf, denial: ErrorKind) -> Access {
    Access::Op(Op {
        action,
        resource,
        denial,
        body: BodyKind::Json,
    })
}

const fn empty(action: &'static str, resource: ResourceOf) -> Access {
    Access::Op(Op {
        action,
        resource,
        denial: ErrorKind::AccessDenied,
        body: BodyKind::Empty,
    })
}

/// The KVS operations (all `POST /<operation>` with a JSON body), with the denial error each
/// lists in botocore's models (`NotAuthorizedException` or `AccessDeniedException`; the two
/// that list neither answer `AccessDeniedException`, as AWS does).
const KVS: &[(&str, Access)] = {
    use ResourceOf::*;
    &[
        (
            "/createStream",
            json("kinesisvideo:CreateStream", StreamInBody, AD),
        ),
        (
            "/describeStream",
            json("kinesisvideo:DescribeStream", StreamInBody, NA),
        ),
        ("/listStreams", json("kinesisvideo:ListStreams", Any, AD)),
        (
            "/updateStream",
            json("kinesisvideo:UpdateStream", StreamInBody, NA),
        ),
        (
            "/updateDataRetention",
            json("kinesisvideo:UpdateDataRetention", StreamInBody, NA),
        ),
        (
            "/updateStreamStorageConfiguration",
            json(
                "kinesisvideo:UpdateStreamStorageConfiguration",
                StreamInBody,
                AD,
            ),
        ),
        (
            "/describeStreamStorageConfiguration",
            json(
                "kinesisvideo:DescribeStreamStorageConfiguration",
                StreamInBody,
                AD,
            ),
        ),
        (
            "/deleteStream",
            json("kinesisvideo:DeleteStream", StreamInBody, NA),
        ),
        (
            "/getDataEndpoint",
            json("kinesisvideo:GetDataEndpoint", StreamInBody, NA),
        ),
        (
            "/tagStream",
            json("kinesisvideo:TagStream", StreamInBody, NA),
        ),
        (
            "/untagStream",
            json("kinesisvideo:UntagStream", StreamInBody, NA),
        ),
        (
            "/listTagsForStream",
            json("kinesisvideo:ListTagsForStream", StreamInBody, NA),
        ),
        (
            "/TagResource",
            json("kinesisvideo:TagResource", ArnInBody, AD),
        ),
        (
            "/UntagResource",
            json("kinesisvideo:UntagResource", ArnInBody, AD),
        ),
        (
            "/ListTagsForResource",
            json("kinesisvideo:ListTagsForResource", ArnInBody, AD),
        ),
        (
            "/updateImageGenerationConfiguration",
            json(
                "kinesisvideo:UpdateImageGenerationConfiguration",
                StreamInBody,
                AD,
            ),
        ),
        (
            "/describeImageGenerationConfiguration",
            json(
                "kinesisvideo:DescribeImageGenerationConfiguration",
                StreamInBody,
                AD,
            ),
        ),
        (
            "/putMedia",
            Access::Op(Op {
                action: "kinesisvideo:PutMedia",
                resource: StreamInHeaders,
                denial: NA,
                body: BodyKind::Streaming,
            }),
        ),
        ("/getMedia", json("kinesisvideo:GetMedia", StreamInBody, NA)),
        (
            "/listFragments",
            json("kinesisvideo:ListFragments", StreamInBody, NA),
        ),
        (
            "/getMediaForFragmentList",
            json("kinesisvideo:GetMediaForFragmentList", StreamInBody, NA),
        ),
        ("/getClip", json("kinesisvideo:GetClip", StreamInBody, NA)),
        (
            "/getImages",
            json("kinesisvideo:GetImages", StreamInBody, NA),
        ),
        (
            "/getHLSStreamingSessionURL",
            json("kinesisvideo:GetHLSStreamingSessionURL", StreamInBody, NA),
        ),
        (
            "/getDASHStreamingSessionURL",
            json("kinesisvideo:GetDASHStreamingSessionURL", StreamInBody, NA),
        ),
    ]
};

/// KVS operations this build does not serve yet, with their IAM actions: they answer `501
/// NotImplementedException` (rather than `UnknownOperationException`), so a client can tell
/// "not yet" from "no such thing".
pub const NOT_YET: &[(&str, &str)] = &[
    (
        "/updateNotificationConfiguration",
        "kinesisvideo:UpdateNotificationConfiguration",
    ),
    (
        "/describeNotificationConfiguration",
        "kinesisvideo:DescribeNotificationConfiguration",
    ),
    (
        "/updateMediaStorageConfiguration",
        "kinesisvideo:UpdateMediaStorageConfiguration",
    ),
    (
        "/describeMediaStorageConfiguration",
        "kinesisvideo:DescribeMediaStorageConfiguration",
    ),
    (
        "/describeMappedResourceConfiguration",
        "kinesisvideo:DescribeMappedResourceConfiguration",
    ),
    (
        "/startEdgeConfigurationUpdate",
        "kinesisvideo:StartEdgeConfigurationUpdate",
    ),
    (
        "/describeEdgeConfiguration",
        "kinesisvideo:DescribeEdgeConfiguration",
    ),
    (
        "/deleteEdgeConfiguration",
        "kinesisvideo:DeleteEdgeConfiguration",
    ),
    (
        "/listEdgeAgentConfigurations",
        "kinesisvideo:ListEdgeAgentConfigurations",
    ),
    (
        "/createSignalingChannel",
        "kinesisvideo:CreateSignalingChannel",
    ),
    (
        "/deleteSignalingChannel",
        "kinesisvideo:DeleteSignalingChannel",
    ),
    (
        "/describeSignalingChannel",
        "kinesisvideo:DescribeSignalingChannel",
    ),
    (
        "/listSignalingChannels",
        "kinesisvideo:ListSignalingChannels",
    ),
    (
        "/updateSignalingChannel",
        "kinesisvideo:UpdateSignalingChannel",
    ),
    (
        "/getSignalingChannelEndpoint",
        "kinesisvideo:GetSignalingChannelEndpoint",
    ),
];

/// What `method path` needs; `None` for a route this table does not know (refused).
pub fn classify(method: &Method, path: &str) -> Option<Access> {
    use ResourceOf::*;
    if path == "/healthz" || path == "/" || path == "/ui" || path.starts_with("/ui/") {
        return Some(Access::Public);
    }
    // The web UI's login: its handlers check the password, the session cookie and (logout) the
    // CSRF token themselves.
    if matches!(
        (method, path),
        (&Method::POST, "/v1/login") | (&Method::POST, "/v1/logout") | (&Method::GET, "/v1/whoami")
    ) {
        return Some(Access::Public);
    }
    if path.starts_with("/hls/v1/") || path.starts_with("/dash/v1/") {
        return Some(Access::PlaybackToken);
    }
    if *method == Method::POST {
        if let Some((_, access)) = KVS.iter().find(|(p, _)| *p == path) {
            return Some(*access);
        }
        // KVS operations not built yet: a principal allowed them learns they are not
        // implemented; everyone else is refused first.
        if let Some((_, action)) = NOT_YET.iter().find(|(p, _)| *p == path) {
            return Some(json(action, Any, AD));
        }
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let m = method;
    let access = match segments.as_slice() {
        ["v1", "streams"] if m == Method::GET => empty("kinesisvideo:ListStreams", Any),
        ["v1", "streams", _] if m == Method::GET => {
            empty("kinesisvideo:DescribeStream", StreamInPath)
        }
        ["v1", "streams", _, "coverage"] if m == Method::GET => {
            empty("vidstream:GetTimeline", StreamInPath)
        }
        ["v1", "cameras"] if m == Method::GET => empty("vidstream:ListCameras", Any),
        ["v1", "cameras"] if m == Method::POST => json("vidstream:PutCamera", Any, AD),
        ["v1", "cameras", _] if m == Method::GET => empty("vidstream:DescribeCamera", CameraInPath),
        ["v1", "cameras", _] if m == Method::PUT => json("vidstream:PutCamera", CameraInPath, AD),
        ["v1", "cameras", _] if m == Method::DELETE => {
            empty("vidstream:DeleteCamera", CameraInPath)
        }
        ["v1", "frames", "feed"] if m == Method::GET => {
            empty("vidstream:GetFrameFeed", StreamInQuery)
        }
        ["v1", "frames", "consumers"] if m == Method::GET => {
            empty("vidstream:ListConsumers", StreamInQuery)
        }
        ["v1", "frames", "consumers"] if m == Method::DELETE => {
            empty("vidstream:DeleteConsumer", StreamInQuery)
        }
        ["v1", "frames", "consumers", "checkpoint"] if m == Method::POST => {
            json("vidstream:PutConsumerCheckpoint", StreamInBody, AD)
        }
        ["v1", "keys"] if m == Method::GET => empty("vidstream:ListKeys", Any),
        ["v1", "keys"] if m == Method::POST => json("vidstream:CreateKey", Any, AD),
        ["v1", "keys", "rotate-session-key"] if m == Method::POST => {
            json("vidstream:RotateSessionKey", Any, AD)
        }
        ["v1", "keys", _] if m == Method::GET => empty("vidstream:ListKeys", KeyInPath),
        ["v1", "keys", _] if m == Method::PUT => json("vidstream:UpdateKey", KeyInPath, AD),
        ["v1", "keys", _] if m == Method::DELETE => empty("vidstream:DeleteKey", KeyInPath),
        ["v1", "users"] if m == Method::GET => empty("vidstream:ListUsers", Any),
        ["v1", "users"] if m == Method::POST => json("vidstream:CreateUser", Any, AD),
        ["v1", "users", _] if m == Method::GET => empty("vidstream:ListUsers", UserInPath),
        ["v1", "users", _] if m == Method::PUT => json("vidstream:UpdateUser", UserInPath, AD),
        ["v1", "users", _] if m == Method::DELETE => empty("vidstream:DeleteUser", UserInPath),
        ["v1", "audit"] if m == Method::GET => empty("vidstream:GetAuditLog", Any),
        _ => return None,
    };
    Some(access)
}

/// Every action [`classify`] can name (for the test that checks them against the catalog).
#[cfg(test)]
fn actions() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = KVS
        .iter()
        .filter_map(|(_, a)| match a {
            Access::Op(op) => Some(op.action),
            _ => None,
        })
        .collect();
    for (m, p) in [
        (Method::GET, "/v1/streams"),
        (Method::GET, "/v1/streams/x"),
        (Method::GET, "/v1/streams/x/coverage"),
        (Method::GET, "/v1/cameras"),
        (Method::POST, "/v1/cameras"),
        (Method::GET, "/v1/cameras/x"),
        (Method::PUT, "/v1/cameras/x"),
        (Method::DELETE, "/v1/cameras/x"),
        (Method::GET, "/v1/frames/feed"),
        (Method::GET, "/v1/frames/consumers"),
        (Method::DELETE, "/v1/frames/consumers"),
        (Method::POST, "/v1/frames/consumers/checkpoint"),
        (Method::GET, "/v1/keys"),
        (Method::POST, "/v1/keys"),
        (Method::POST, "/v1/keys/rotate-session-key"),
        (Method::PUT, "/v1/keys/x"),
        (Method::DELETE, "/v1/keys/x"),
        (Method::GET, "/v1/users"),
        (Method::POST, "/v1/users"),
        (Method::PUT, "/v1/users/x"),
        (Method::DELETE, "/v1/users/x"),
        (Method::GET, "/v1/audit"),
    ] {
        if let Some(Access::Op(op)) = classify(&m, p) {
            all.push(op.action);
        }
    }
    all.extend(NOT_YET.iter().map(|(_, a)| *a));
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_in_the_policy_catalog() {
        let all = actions();
        assert!(all.len() > 40, "{all:?}");
        for a in all {
            assert!(
                crate::auth::policy::Action::from_name(a).is_some(),
                "{a} is not a policy action"
            );
        }
    }

    #[test]
    fn routes_need_what_they_should() {
        use Access::*;
        assert_eq!(classify(&Method::GET, "/healthz"), Some(Public));
        assert_eq!(classify(&Method::GET, "/ui/js/app.js"), Some(Public));
        assert_eq!(
            classify(&Method::GET, "/hls/v1/getHLSMasterPlaylist.m3u8"),
            Some(PlaybackToken)
        );
        let op = |m: Method, p: &str| match classify(&m, p) {
            Some(Op(op)) => op,
            other => panic!("{m} {p}: {other:?}"),
        };
        assert_eq!(op(Method::POST, "/putMedia").body, BodyKind::Streaming);
        assert_eq!(
            op(Method::POST, "/deleteStream").denial,
            ErrorKind::NotAuthorized
        );
        assert_eq!(
            op(Method::POST, "/createStream").denial,
            ErrorKind::AccessDenied
        );
        assert_eq!(
            op(Method::GET, "/v1/cameras/c1").resource,
            ResourceOf::CameraInPath
        );
        assert_eq!(
            op(Method::POST, "/describeNotificationConfiguration").action,
            "kinesisvideo:DescribeNotificationConfiguration"
        );
        // Changes are audited, reads and data-plane writes are not.
        for (m, p, audited) in [
            (Method::POST, "/createStream", true),
            (Method::POST, "/deleteStream", true),
            (Method::POST, "/updateStream", true),
            (Method::POST, "/updateDataRetention", true),
            (Method::POST, "/tagStream", true),
            (Method::POST, "/UntagResource", true),
            (Method::POST, "/updateImageGenerationConfiguration", true),
            (Method::POST, "/v1/cameras", true),
            (Method::PUT, "/v1/cameras/c", true),
            (Method::DELETE, "/v1/cameras/c", true),
            (Method::POST, "/v1/keys", true),
            (Method::POST, "/v1/keys/rotate-session-key", true),
            (Method::PUT, "/v1/users/u", true),
            (Method::DELETE, "/v1/frames/consumers", true),
            (Method::POST, "/describeStream", false),
            (Method::POST, "/listStreams", false),
            (Method::POST, "/getMedia", false),
            (Method::POST, "/getHLSStreamingSessionURL", false),
            (Method::POST, "/putMedia", false),
            (Method::POST, "/v1/frames/consumers/checkpoint", false),
            (Method::GET, "/v1/keys", false),
            (Method::GET, "/v1/audit", false),
        ] {
            assert_eq!(op(m.clone(), p).changes_state(), audited, "{m} {p}");
        }
        // Unknown paths and methods are refused, never let through.
        assert_eq!(classify(&Method::GET, "/describeStream"), None);
        assert_eq!(classify(&Method::POST, "/v1/streams"), None);
        assert_eq!(classify(&Method::GET, "/nope"), None);
    }
}
