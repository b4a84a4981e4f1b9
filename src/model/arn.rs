//! KVS resource ARNs: `arn:PARTITION:kinesisvideo:REGION:ACCOUNT:TYPE/NAME/CREATION_MS`.

use std::fmt;

use super::{Invalid, StreamName};
use crate::time::ServerTime;

/// The resource types an ARN can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `stream/...`
    Stream,
    /// `channel/...` (signaling channels; vidstream has none yet).
    Channel,
    /// Any other lowercase word: well-formed, never found.
    Other,
}

/// A parsed, well-formed KVS ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    /// `aws`, `aws-cn`, ...
    pub partition: String,
    /// e.g. `us-east-1`.
    pub region: String,
    /// Digits.
    pub account: String,
    /// Kind of resource.
    pub resource_type: ResourceType,
    /// The resource name (a stream name for streams).
    pub name: String,
    /// Creation time in ms, which makes ARNs of re-created streams differ.
    pub creation_ms: u64,
}

impl Arn {
    /// The ARN of a stream created at `creation`.
    pub fn stream(region: &str, account: &str, name: &StreamName, creation: ServerTime) -> Self {
        Arn {
            partition: "aws".to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource_type: ResourceType::Stream,
            name: name.as_str().to_owned(),
            creation_ms: creation.millis().max(0) as u64,
        }
    }

    /// Parses an ARN against the botocore `ResourceARN` pattern.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid(format!(
                "ARN `{}` is invalid: expected arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/NUMBER",
                s.chars().take(200).collect::<String>()
            ))
        };
        if s.is_empty() || s.len() > 1024 {
            return Err(bad());
        }
        let mut parts = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("kinesisvideo"),
            Some(region),
            Some(account),
            Some(rest),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(bad());
        };
        let lower_digit_dash = |x: &str| {
            !x.is_empty()
                && x.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !lower_digit_dash(partition)
            || !lower_digit_dash(region)
            || account.is_empty()
            || !account.chars().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let mut res = rest.splitn(3, '/');
        let (Some(ty), Some(name), Some(num)) = (res.next(), res.next(), res.next()) else {
            return Err(bad());
        };
        if ty.is_empty() || !ty.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(bad());
        }
        if StreamName::parse(name).is_err() {
            return Err(bad());
        }
        if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let creation_ms = num.parse::<u64>().map_err(|_| bad())?;
        let resource_type = match ty {
            "stream" => ResourceType::Stream,
            "channel" => ResourceType::Channel,
            _ => ResourceType::Other,
        };
        Ok(Arn {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource_type,
            name: name.to_owned(),
            creation_ms,
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ty = match self.resource_type {
            ResourceType::Stream => "stream",
            ResourceType::Channel => "channel",
            ResourceType::Other => "resource",
        };
        write!(
            f,
            "arn:{}:kinesisvideo:{}:{}:{}/{}/{}",
            self.partition, self.region, self.account, ty, self.name, self.creation_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let name = StreamName::parse("cam1").unwrap();
        let arn = Arn::stream(
            "us-east-1",
            "123456789012",
            &name,
            ServerTime(1_700_000_000_123),
        );
        let s = arn.to_string();
        assert_eq!(
            s,
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam1/1700000000123"
        );
        assert_eq!(Arn::parse(&s).unwrap(), arn);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "arn",
            "arn:aws:kinesis:us-east-1:1:stream/a/1",
            "arn:aws:kinesisvideo:us-east-1:12a:stream/a/1",
            "arn:aws:kinesisvideo:US-EAST-1:1:stream/a/1",
            "arn:aws:kinesisvideo:us-east-1:1:stream/a",
            "arn:aws:kinesisvideo:us-east-1:1:stream/a b/1",
            "arn:aws:kinesisvideo:us-east-1:1:stream/a/1x",
            "arn:aws:kinesisvideo:us-east-1:1:Stream/a/1",
            "arn:aws:kinesisvideo:us-east-1:1:stream/a/99999999999999999999999",
        ] {
            assert!(Arn::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn channel_arns_are_well_formed() {
        let a = Arn::parse("arn:aws:kinesisvideo:us-west-2:1:channel/ch/5").unwrap();
        assert_eq!(a.resource_type, ResourceType::Channel);
    }
}
