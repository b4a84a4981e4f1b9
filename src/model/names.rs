//! Validated names and small string values of the KVS API.

use std::fmt;

use super::Invalid;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// `\w` in the Java-style regexes of the botocore model, plus `-`, `.` and `+` (MediaType).
fn is_media_type_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+')
}

fn check_len(what: &str, s: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(Invalid(format!(
            "{what} must be {min} to {max} characters long, got {n}"
        )));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A stream name: 1–256 characters from `[a-zA-Z0-9_.-]`.
    StreamName
);
string_newtype!(
    /// A device name: 1–128 characters from `[a-zA-Z0-9_.-]`.
    DeviceName
);
string_newtype!(
    /// Comma-separated MIME types, `type/subtype(,type/subtype)*`, 1–128 characters.
    MediaType
);
string_newtype!(
    /// A KMS key id: 1–2048 characters.
    KmsKeyId
);
string_newtype!(
    /// A stream version token: 1–64 characters from `[a-zA-Z0-9]`.
    Version
);

impl StreamName {
    /// Validates a stream name.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_len("stream name", s, 1, 256)?;
        if !s.chars().all(is_name_char) {
            return Err(Invalid(format!(
                "stream name `{s}` is invalid: use only letters, digits, `_`, `.` and `-`"
            )));
        }
        Ok(StreamName(s.to_owned()))
    }
}

impl DeviceName {
    /// Validates a device name.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_len("device name", s, 1, 128)?;
        if !s.chars().all(is_name_char) {
            return Err(Invalid(format!(
                "device name `{s}` is invalid: use only letters, digits, `_`, `.` and `-`"
            )));
        }
        Ok(DeviceName(s.to_owned()))
    }
}

impl MediaType {
    /// Validates a media type list such as `video/h264,audio/aac`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_len("media type", s, 1, 128)?;
        let ok = s.split(',').all(|one| {
            let mut parts = one.splitn(2, '/');
            let (ty, sub) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            !ty.is_empty()
                && !sub.is_empty()
                && ty.chars().all(is_media_type_char)
                && sub.chars().all(is_media_type_char)
        });
        if !ok {
            return Err(Invalid(format!(
                "media type `{s}` is invalid: use type/subtype pairs separated by commas, e.g. video/h264,audio/aac"
            )));
        }
        Ok(MediaType(s.to_owned()))
    }
}

impl KmsKeyId {
    /// The key id KVS reports when none was given.
    pub fn aws_default() -> Self {
        KmsKeyId("aws/kinesisvideo".to_owned())
    }

    /// Validates a KMS key id.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_len("KMS key id", s, 1, 2048)?;
        if s.contains(['\n', '\r']) {
            return Err(Invalid("KMS key id must be a single line".to_owned()));
        }
        Ok(KmsKeyId(s.to_owned()))
    }
}

impl Version {
    /// Validates a version token from a request.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_len("version", s, 1, 64)?;
        if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Invalid(format!(
                "version `{s}` is invalid: use the Version that DescribeStream returned"
            )));
        }
        Ok(Version(s.to_owned()))
    }

    /// A fresh random version token of 20 alphanumeric characters.
    pub fn random() -> Self {
        use rand::Rng;
        use rand::distr::Alphanumeric;
        let s: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        Version(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        let cases: &[(&str, bool)] = &[
            ("cam1", true),
            ("a", true),
            ("A-b_c.9", true),
            (&"x".repeat(256), true),
            (&"x".repeat(257), false),
            ("", false),
            ("bad name", false),
            ("bad/name", false),
            ("é", false),
            ("name!", false),
        ];
        for (s, ok) in cases {
            assert_eq!(StreamName::parse(s).is_ok(), *ok, "{s:?}");
        }
    }

    #[test]
    fn media_types() {
        let cases: &[(&str, bool)] = &[
            ("video/h264", true),
            ("video/h264,audio/aac", true),
            ("video/x-matroska+v1.0", true),
            ("video", false),
            ("video/", false),
            ("/h264", false),
            ("video/h264,", false),
            ("video/h 264", false),
            ("video/h264/x", false),
        ];
        for (s, ok) in cases {
            assert_eq!(MediaType::parse(s).is_ok(), *ok, "{s:?}");
        }
    }

    #[test]
    fn versions() {
        assert!(Version::parse("abc123XYZ").is_ok());
        assert!(Version::parse("").is_err());
        assert!(Version::parse("a-b").is_err());
        assert!(Version::parse(&"a".repeat(65)).is_err());
        let v = Version::random();
        assert_eq!(v.as_str().len(), 20);
        assert!(Version::parse(v.as_str()).is_ok());
        assert_ne!(Version::random(), Version::random());
    }

    #[test]
    fn device_names() {
        assert!(DeviceName::parse("front-door.cam_1").is_ok());
        assert!(DeviceName::parse(&"d".repeat(129)).is_err());
        assert!(DeviceName::parse("front door").is_err());
    }
}
