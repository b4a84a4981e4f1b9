//! The catalog of actions a policy can name: the real KVS IAM action names (`kinesisvideo:*`,
//! from the AWS Service Authorization Reference, "Actions defined by Amazon Kinesis Video
//! Streams"), so a policy written for AWS works unchanged, and vidstream's own surfaces
//! (`vidstream:*`).
//!
//! A policy may only name actions listed here (patterns must match at least one), which catches
//! typos at the moment a policy is saved instead of at the first refused request. Each action says
//! which kind of resource its requests are checked against ([`ResourceKind`]); actions on no
//! particular resource (the lists, the web UI) are checked against `*`, as IAM does.

/// The catalog has to fit the `u128` bitsets statements keep of the actions they match.
const _: () = assert!(Action::ALL.len() <= 128);

/// What a request of an action is evaluated against (the constructors are in
/// [`super::resource`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A stream ARN, [`super::resource::stream`]. For CreateStream, the ARN the new stream will
    /// have.
    Stream,
    /// A signaling channel ARN (`arn:aws:kinesisvideo:REGION:ACCOUNT:channel/NAME/CREATION_MS`);
    /// vidstream has no signaling channels yet.
    Channel,
    /// The ARN named by the request's `ResourceARN` (a stream or a channel).
    Tagged,
    /// A camera, [`super::resource::camera`].
    Camera,
    /// An access key, [`super::resource::key`].
    Key,
    /// A web UI user, [`super::resource::user`] (for CreateKey: the user the key is for).
    User,
    /// No particular resource: evaluated against [`super::resource::ANY`] (`*`).
    Any,
}

macro_rules! catalog {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal on $kind:ident, )*) => {
        /// One action of the catalog. `Action::X.as_str()` is the name policies use.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $( $(#[$doc])* $variant, )*
        }

        impl Action {
            /// Every action, in catalog order (`Action::ALL[a as usize] == a`).
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            /// The name policies use, e.g. `kinesisvideo:PutMedia`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// The action named exactly (same case) `name`, e.g. `kinesisvideo:PutMedia`.
            /// Policies match action names case-insensitively; this lookup is the exact fast
            /// path of [`super::Policy::decide`].
            pub fn from_name(name: &str) -> Option<Action> {
                match name {
                    $($name => Some(Action::$variant),)*
                    _ => None,
                }
            }

            /// What a request of this action is evaluated against.
            pub const fn resource_kind(self) -> ResourceKind {
                match self {
                    $(Action::$variant => ResourceKind::$kind,)*
                }
            }
        }
    };
}

catalog! {
    // kinesisvideo: control plane (botocore `kinesisvideo`).
    /// CreateStream.
    CreateStream = "kinesisvideo:CreateStream" on Stream,
    /// DeleteStream.
    DeleteStream = "kinesisvideo:DeleteStream" on Stream,
    /// DescribeStream.
    DescribeStream = "kinesisvideo:DescribeStream" on Stream,
    /// ListStreams.
    ListStreams = "kinesisvideo:ListStreams" on Any,
    /// UpdateStream.
    UpdateStream = "kinesisvideo:UpdateStream" on Stream,
    /// UpdateDataRetention.
    UpdateDataRetention = "kinesisvideo:UpdateDataRetention" on Stream,
    /// TagStream.
    TagStream = "kinesisvideo:TagStream" on Stream,
    /// UntagStream.
    UntagStream = "kinesisvideo:UntagStream" on Stream,
    /// ListTagsForStream.
    ListTagsForStream = "kinesisvideo:ListTagsForStream" on Stream,
    /// TagResource (by `ResourceARN`).
    TagResource = "kinesisvideo:TagResource" on Tagged,
    /// UntagResource (by `ResourceARN`).
    UntagResource = "kinesisvideo:UntagResource" on Tagged,
    /// ListTagsForResource (by `ResourceARN`).
    ListTagsForResource = "kinesisvideo:ListTagsForResource" on Tagged,
    /// GetDataEndpoint.
    GetDataEndpoint = "kinesisvideo:GetDataEndpoint" on Stream,
    /// DescribeImageGenerationConfiguration.
    DescribeImageGenerationConfiguration =
        "kinesisvideo:DescribeImageGenerationConfiguration" on Stream,
    /// UpdateImageGenerationConfiguration.
    UpdateImageGenerationConfiguration =
        "kinesisvideo:UpdateImageGenerationConfiguration" on Stream,
    /// DescribeNotificationConfiguration.
    DescribeNotificationConfiguration =
        "kinesisvideo:DescribeNotificationConfiguration" on Stream,
    /// UpdateNotificationConfiguration.
    UpdateNotificationConfiguration = "kinesisvideo:UpdateNotificationConfiguration" on Stream,
    /// DescribeStreamStorageConfiguration.
    DescribeStreamStorageConfiguration =
        "kinesisvideo:DescribeStreamStorageConfiguration" on Stream,
    /// UpdateStreamStorageConfiguration.
    UpdateStreamStorageConfiguration = "kinesisvideo:UpdateStreamStorageConfiguration" on Stream,
    /// DescribeMediaStorageConfiguration (a channel's link to a stream).
    DescribeMediaStorageConfiguration =
        "kinesisvideo:DescribeMediaStorageConfiguration" on Channel,
    /// UpdateMediaStorageConfiguration (a channel's link to a stream).
    UpdateMediaStorageConfiguration = "kinesisvideo:UpdateMediaStorageConfiguration" on Channel,
    /// DescribeMappedResourceConfiguration.
    DescribeMappedResourceConfiguration =
        "kinesisvideo:DescribeMappedResourceConfiguration" on Stream,
    /// DescribeEdgeConfiguration.
    DescribeEdgeConfiguration = "kinesisvideo:DescribeEdgeConfiguration" on Stream,
    /// StartEdgeConfigurationUpdate.
    StartEdgeConfigurationUpdate = "kinesisvideo:StartEdgeConfigurationUpdate" on Stream,
    /// DeleteEdgeConfiguration.
    DeleteEdgeConfiguration = "kinesisvideo:DeleteEdgeConfiguration" on Stream,
    /// ListEdgeAgentConfigurations.
    ListEdgeAgentConfigurations = "kinesisvideo:ListEdgeAgentConfigurations" on Any,

    // kinesisvideo: media plane (`kinesis-video-media`).
    /// PutMedia.
    PutMedia = "kinesisvideo:PutMedia" on Stream,
    /// GetMedia.
    GetMedia = "kinesisvideo:GetMedia" on Stream,

    // kinesisvideo: archived media (`kinesis-video-archived-media`) and its playback URLs.
    /// ListFragments.
    ListFragments = "kinesisvideo:ListFragments" on Stream,
    /// GetMediaForFragmentList.
    GetMediaForFragmentList = "kinesisvideo:GetMediaForFragmentList" on Stream,
    /// GetClip.
    GetClip = "kinesisvideo:GetClip" on Stream,
    /// GetImages.
    GetImages = "kinesisvideo:GetImages" on Stream,
    /// GetHLSStreamingSessionURL.
    GetHLSStreamingSessionURL = "kinesisvideo:GetHLSStreamingSessionURL" on Stream,
    /// GetHLSMasterPlaylist (a URL of an HLS session).
    GetHLSMasterPlaylist = "kinesisvideo:GetHLSMasterPlaylist" on Stream,
    /// GetHLSMediaPlaylist (a URL of an HLS session).
    GetHLSMediaPlaylist = "kinesisvideo:GetHLSMediaPlaylist" on Stream,
    /// GetMP4InitFragment (a URL of an HLS or DASH session).
    GetMP4InitFragment = "kinesisvideo:GetMP4InitFragment" on Stream,
    /// GetMP4MediaFragment (a URL of an HLS or DASH session).
    GetMP4MediaFragment = "kinesisvideo:GetMP4MediaFragment" on Stream,
    /// GetTSFragment (a URL of an HLS session).
    GetTSFragment = "kinesisvideo:GetTSFragment" on Stream,
    /// GetDASHStreamingSessionURL.
    GetDASHStreamingSessionURL = "kinesisvideo:GetDASHStreamingSessionURL" on Stream,
    /// GetDASHManifest (a URL of a DASH session).
    GetDASHManifest = "kinesisvideo:GetDASHManifest" on Stream,

    // kinesisvideo: signaling channels (WebRTC; none in vidstream yet, named so AWS policies
    // that mention them still parse).
    /// CreateSignalingChannel.
    CreateSignalingChannel = "kinesisvideo:CreateSignalingChannel" on Channel,
    /// DeleteSignalingChannel.
    DeleteSignalingChannel = "kinesisvideo:DeleteSignalingChannel" on Channel,
    /// DescribeSignalingChannel.
    DescribeSignalingChannel = "kinesisvideo:DescribeSignalingChannel" on Channel,
    /// ListSignalingChannels.
    ListSignalingChannels = "kinesisvideo:ListSignalingChannels" on Any,
    /// UpdateSignalingChannel.
    UpdateSignalingChannel = "kinesisvideo:UpdateSignalingChannel" on Channel,
    /// GetSignalingChannelEndpoint.
    GetSignalingChannelEndpoint = "kinesisvideo:GetSignalingChannelEndpoint" on Channel,
    /// ConnectAsMaster.
    ConnectAsMaster = "kinesisvideo:ConnectAsMaster" on Channel,
    /// ConnectAsViewer.
    ConnectAsViewer = "kinesisvideo:ConnectAsViewer" on Channel,
    /// GetIceServerConfig.
    GetIceServerConfig = "kinesisvideo:GetIceServerConfig" on Channel,
    /// SendAlexaOfferToMaster.
    SendAlexaOfferToMaster = "kinesisvideo:SendAlexaOfferToMaster" on Channel,
    /// JoinStorageSession (WebRTC ingestion into a stream).
    JoinStorageSession = "kinesisvideo:JoinStorageSession" on Channel,
    /// JoinStorageSessionAsViewer (WebRTC ingestion into a stream).
    JoinStorageSessionAsViewer = "kinesisvideo:JoinStorageSessionAsViewer" on Channel,

    // vidstream: cameras pulled over RTSP.
    /// List the cameras (`GET /v1/cameras`).
    ListCameras = "vidstream:ListCameras" on Any,
    /// Show one camera (never its credentials).
    DescribeCamera = "vidstream:DescribeCamera" on Camera,
    /// Add or change a camera (its URL and credentials included).
    PutCamera = "vidstream:PutCamera" on Camera,
    /// Remove a camera.
    DeleteCamera = "vidstream:DeleteCamera" on Camera,

    // vidstream: frames for ML consumers.
    /// Open the WebSocket frame feed of a stream.
    GetFrameFeed = "vidstream:GetFrameFeed" on Stream,
    /// Commit a consumer's checkpoint on a stream.
    PutConsumerCheckpoint = "vidstream:PutConsumerCheckpoint" on Stream,
    /// Read a consumer's checkpoint on a stream.
    GetConsumerCheckpoint = "vidstream:GetConsumerCheckpoint" on Stream,
    /// List a stream's consumers and their lag.
    ListConsumers = "vidstream:ListConsumers" on Stream,
    /// Forget a consumer's checkpoint on a stream.
    DeleteConsumer = "vidstream:DeleteConsumer" on Stream,

    // vidstream: the web UI's reads.
    /// A stream's summary and recorded coverage (the archive timeline).
    GetTimeline = "vidstream:GetTimeline" on Stream,
    /// Load the web UI.
    UseWebUI = "vidstream:UseWebUI" on Any,

    // vidstream: administration.
    /// List access keys.
    ListKeys = "vidstream:ListKeys" on Any,
    /// Create an access key (evaluated against the user it is for).
    CreateKey = "vidstream:CreateKey" on User,
    /// Change an access key (enable, disable, attach policies).
    UpdateKey = "vidstream:UpdateKey" on Key,
    /// Delete an access key.
    DeleteKey = "vidstream:DeleteKey" on Key,
    /// Rotate the key that signs web UI sessions and playback tokens.
    RotateSessionKey = "vidstream:RotateSessionKey" on Any,
    /// List web UI users.
    ListUsers = "vidstream:ListUsers" on Any,
    /// Create a web UI user.
    CreateUser = "vidstream:CreateUser" on User,
    /// Change a web UI user (password, policies).
    UpdateUser = "vidstream:UpdateUser" on User,
    /// Delete a web UI user.
    DeleteUser = "vidstream:DeleteUser" on User,
    /// Read the audit log.
    GetAuditLog = "vidstream:GetAuditLog" on Any,
}

impl Action {
    /// The name without its service prefix, e.g. `PutMedia`.
    pub fn short_name(self) -> &'static str {
        let s = self.as_str();
        s.split_once(':').map_or(s, |(_, name)| name)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_consistent() {
        for (i, &a) in Action::ALL.iter().enumerate() {
            assert_eq!(a as usize, i, "{a}");
            assert_eq!(Action::from_name(a.as_str()), Some(a));
            let (service, name) = a.as_str().split_once(':').expect("service:name");
            assert!(service == "kinesisvideo" || service == "vidstream", "{a}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
            assert_eq!(a.short_name(), name);
            // Case-insensitive names must stay distinct, or matching would merge them.
            for b in &Action::ALL[..i] {
                assert!(!a.as_str().eq_ignore_ascii_case(b.as_str()), "{a} and {b}");
            }
        }
    }

    #[test]
    fn exact_lookup_only() {
        assert_eq!(
            Action::from_name("kinesisvideo:GetMedia"),
            Some(Action::GetMedia)
        );
        assert_eq!(Action::from_name("kinesisvideo:getmedia"), None);
        assert_eq!(Action::from_name("GetMedia"), None);
        assert_eq!(Action::from_name(""), None);
    }

    #[test]
    fn lists_are_on_any_resource() {
        for a in [
            Action::ListStreams,
            Action::ListCameras,
            Action::ListKeys,
            Action::ListUsers,
            Action::UseWebUI,
            Action::GetAuditLog,
        ] {
            assert_eq!(a.resource_kind(), ResourceKind::Any, "{a}");
        }
        assert_eq!(Action::PutMedia.resource_kind(), ResourceKind::Stream);
        assert_eq!(Action::PutCamera.resource_kind(), ResourceKind::Camera);
    }
}
