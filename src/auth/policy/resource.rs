//! The resource strings requests are evaluated against, so no caller formats an ARN by hand.
//!
//! - streams: `arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION_MS`, exactly as
//!   [`crate::model::Arn`] prints them (what KVS, and so AWS policies, use);
//! - vidstream's own: `arn:vidstream:REGION:ACCOUNT:camera/NAME`, `...:key/ACCESS_KEY_ID`,
//!   `...:user/NAME` (no creation time: they are not KVS resources and no AWS policy names
//!   them);
//! - operations on no particular resource (ListStreams, ListCameras, ListKeys, UseWebUI...):
//!   [`ANY`], as IAM does.
//!
//! The `*_pattern` functions build the matching policy patterns (what the built-in policies use).

/// The resource of operations on no particular resource.
pub const ANY: &str = "*";

/// A stream's ARN. For CreateStream, pass the creation time the new stream will be given.
pub fn stream(region: &str, account: &str, name: &str, creation_ms: u64) -> String {
    format!("arn:aws:kinesisvideo:{region}:{account}:stream/{name}/{creation_ms}")
}

/// A camera's resource string.
pub fn camera(region: &str, account: &str, name: &str) -> String {
    format!("arn:vidstream:{region}:{account}:camera/{name}")
}

/// An access key's resource string, named by its access key id.
pub fn key(region: &str, account: &str, access_key_id: &str) -> String {
    format!("arn:vidstream:{region}:{account}:key/{access_key_id}")
}

/// A web UI user's resource string.
pub fn user(region: &str, account: &str, name: &str) -> String {
    format!("arn:vidstream:{region}:{account}:user/{name}")
}

/// The policy pattern of the streams whose names match `name_pattern`, in any region and
/// account: `arn:aws:kinesisvideo:*:*:stream/{name_pattern}/*`.
pub fn stream_pattern(name_pattern: &str) -> String {
    format!("arn:aws:kinesisvideo:*:*:stream/{name_pattern}/*")
}

/// The policy pattern of the cameras whose names match `name_pattern`:
/// `arn:vidstream:*:*:camera/{name_pattern}`.
pub fn camera_pattern(name_pattern: &str) -> String {
    format!("arn:vidstream:*:*:camera/{name_pattern}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arn, StreamName};
    use crate::time::ServerTime;

    #[test]
    fn stream_arns_are_the_models() {
        let name = StreamName::parse("cam-1").unwrap();
        let arn = Arn::stream(
            "eu-west-1",
            "123456789012",
            &name,
            ServerTime(1_700_000_000_123),
        );
        assert_eq!(
            stream("eu-west-1", "123456789012", "cam-1", 1_700_000_000_123),
            arn.to_string()
        );
    }

    #[test]
    fn shapes() {
        assert_eq!(
            camera("us-east-1", "1", "door"),
            "arn:vidstream:us-east-1:1:camera/door"
        );
        assert_eq!(
            key("us-east-1", "1", "AKIA1"),
            "arn:vidstream:us-east-1:1:key/AKIA1"
        );
        assert_eq!(
            user("us-east-1", "1", "ann"),
            "arn:vidstream:us-east-1:1:user/ann"
        );
        assert_eq!(
            stream_pattern("cam-*"),
            "arn:aws:kinesisvideo:*:*:stream/cam-*/*"
        );
        assert_eq!(camera_pattern("*"), "arn:vidstream:*:*:camera/*");
    }
}
