//! What the web UI shows a user: their policy evaluated for the actions behind the UI's
//! controls, so the UI can hide what would be refused (the server still refuses it: this is
//! presentation, not access control).
//!
//! Actions on no particular resource are evaluated on `*`. Stream and camera actions are
//! evaluated on each stream's ARN and camera's resource string (at most [`MAX_RESOURCES`] of
//! each; beyond that [`UiPermissions::truncated`] is set and the UI goes by `allowed`), and
//! `allowed[action]` is true when the action is allowed on `*` or on any of them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::policy::Policy;

/// Most streams (and cameras) evaluated one by one.
pub const MAX_RESOURCES: usize = 1000;

/// Actions the UI has controls for that apply to no particular resource.
pub const ANY_ACTIONS: &[&str] = &[
    "kinesisvideo:ListStreams",
    "kinesisvideo:CreateStream",
    "vidstream:ListCameras",
    "vidstream:PutCamera",
    "vidstream:ListUsers",
    "vidstream:CreateUser",
    "vidstream:ListKeys",
    "vidstream:CreateKey",
];

/// Actions the UI has controls for on one stream.
pub const STREAM_ACTIONS: &[&str] = &[
    "kinesisvideo:DescribeStream",
    "kinesisvideo:DeleteStream",
    "kinesisvideo:UpdateDataRetention",
    "kinesisvideo:GetHLSStreamingSessionURL",
    "kinesisvideo:GetDASHStreamingSessionURL",
    "kinesisvideo:GetClip",
    "kinesisvideo:GetImages",
    "kinesisvideo:ListFragments",
    "kinesisvideo:GetMedia",
    "vidstream:GetTimeline",
    "vidstream:GetFrameFeed",
    "vidstream:ListConsumers",
];

/// Actions the UI has controls for on one camera.
pub const CAMERA_ACTIONS: &[&str] = &[
    "vidstream:DescribeCamera",
    "vidstream:PutCamera",
    "vidstream:DeleteCamera",
];

/// The UI's view of a policy (the JSON `whoami` answers with, camelCase).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiPermissions {
    /// Every UI action: allowed on `*` or on some listed resource.
    pub allowed: BTreeMap<&'static str, bool>,
    /// Per stream name, the stream actions allowed on it.
    pub streams: BTreeMap<String, Vec<&'static str>>,
    /// Per camera name, the camera actions allowed on it.
    pub cameras: BTreeMap<String, Vec<&'static str>>,
    /// More than [`MAX_RESOURCES`] streams or cameras: the maps are incomplete.
    pub truncated: bool,
}

/// Evaluates `policy` for the UI over `streams` (name, ARN) and `cameras` (name, resource).
pub fn ui_permissions(
    policy: &Policy,
    streams: &[(String, String)],
    cameras: &[(String, String)],
) -> UiPermissions {
    let allows = |action: &str, resource: &str| policy.decide(action, resource).is_allowed();
    let mut out = UiPermissions {
        truncated: streams.len() > MAX_RESOURCES || cameras.len() > MAX_RESOURCES,
        ..Default::default()
    };
    for &a in ANY_ACTIONS
        .iter()
        .chain(STREAM_ACTIONS)
        .chain(CAMERA_ACTIONS)
    {
        out.allowed.insert(a, allows(a, "*"));
    }
    let mut per = |list: &[(String, String)], actions: &[&'static str]| {
        let mut map = BTreeMap::new();
        for (name, resource) in list.iter().take(MAX_RESOURCES) {
            let ok: Vec<&'static str> = actions
                .iter()
                .copied()
                .filter(|a| allows(a, resource))
                .collect();
            for a in &ok {
                out.allowed.insert(a, true);
            }
            map.insert(name.clone(), ok);
        }
        map
    };
    let s = per(streams, STREAM_ACTIONS);
    let c = per(cameras, CAMERA_ACTIONS);
    out.streams = s;
    out.cameras = c;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::builtin;

    fn arn(name: &str) -> (String, String) {
        (
            name.to_owned(),
            format!("arn:aws:kinesisvideo:us-east-1:1:stream/{name}/5"),
        )
    }

    #[test]
    fn a_viewer_sees_its_streams_and_no_admin_controls() {
        let viewer = builtin("viewer", "cam-*").unwrap();
        let streams = [arn("cam-1"), arn("yard")];
        let cameras = [(
            "cam-1".to_owned(),
            "arn:vidstream:us-east-1:1:camera/cam-1".to_owned(),
        )];
        let p = ui_permissions(&viewer, &streams, &cameras);
        assert!(p.allowed["kinesisvideo:ListStreams"]);
        assert!(p.allowed["kinesisvideo:GetClip"], "on cam-1");
        for admin in [
            "kinesisvideo:CreateStream",
            "kinesisvideo:DeleteStream",
            "vidstream:PutCamera",
            "vidstream:DeleteCamera",
            "vidstream:CreateUser",
        ] {
            assert!(!p.allowed[admin], "{admin}");
        }
        assert!(p.streams["cam-1"].contains(&"kinesisvideo:GetClip"));
        assert!(p.streams["yard"].is_empty(), "{:?}", p.streams);
        assert_eq!(p.cameras["cam-1"], vec!["vidstream:DescribeCamera"]);
        assert!(!p.truncated);
    }

    #[test]
    fn an_admin_may_do_everything() {
        let admin = builtin("admin", "*").unwrap();
        let p = ui_permissions(&admin, &[arn("a")], &[]);
        assert!(p.allowed.values().all(|&v| v), "{:?}", p.allowed);
        assert_eq!(p.streams["a"].len(), STREAM_ACTIONS.len());
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["allowed"]["vidstream:PutCamera"], true);
        assert_eq!(json["truncated"], false);
    }
}
