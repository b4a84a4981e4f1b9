//! Resource tags: keys 1–128 and values 0–256 characters from `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, at most
//! 50 per resource; the `aws:` key prefix is reserved.

use std::collections::BTreeMap;

use super::Invalid;

/// KVS allows at most 50 tags on a stream.
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

/// Letters, separators, numbers and `_.:/=+-@`, the botocore `TagKey`/`TagValue` class.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
        || is_unicode_separator(c)
}

/// Unicode category Z (space, line and paragraph separators), i.e. `\p{Z}`.
fn is_unicode_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// A validated tag key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TagKey(String);

/// A validated tag value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TagValue(String);

impl TagKey {
    /// Validates a tag key.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let n = s.chars().count();
        if !(1..=128).contains(&n) {
            return Err(Invalid(format!(
                "tag key must be 1 to 128 characters long, got {n}"
            )));
        }
        if !s.chars().all(is_tag_char) {
            return Err(Invalid(format!(
                "tag key `{s}` is invalid: use letters, digits, spaces and _.:/=+-@"
            )));
        }
        if s.as_bytes()
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"aws:"))
        {
            return Err(Invalid(format!(
                "tag key `{s}` is invalid: the aws: prefix is reserved"
            )));
        }
        Ok(TagKey(s.to_owned()))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TagValue {
    /// Validates a tag value.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let n = s.chars().count();
        if n > 256 {
            return Err(Invalid(format!(
                "tag value must be at most 256 characters long, got {n}"
            )));
        }
        if !s.chars().all(is_tag_char) {
            return Err(Invalid(format!(
                "tag value `{s}` is invalid: use letters, digits, spaces and _.:/=+-@"
            )));
        }
        Ok(TagValue(s.to_owned()))
    }

    /// The value text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated set of tags (at most [`MAX_TAGS_PER_RESOURCE`] in one request).
pub type Tags = BTreeMap<TagKey, TagValue>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let cases: &[(&str, bool)] = &[
            ("site", true),
            ("Site Name", true),
            ("owner@corp", true),
            ("a:b/c=d+e-f_g.h", true),
            ("日本", true),
            ("", false),
            ("bad#key", false),
            ("aws:reserved", false),
            ("AWS:reserved", false),
            (&"k".repeat(128), true),
            (&"k".repeat(129), false),
        ];
        for (s, ok) in cases {
            assert_eq!(TagKey::parse(s).is_ok(), *ok, "{s:?}");
        }
    }

    #[test]
    fn values() {
        assert!(TagValue::parse("").is_ok());
        assert!(TagValue::parse("lobby 2").is_ok());
        assert!(TagValue::parse(&"v".repeat(256)).is_ok());
        assert!(TagValue::parse(&"v".repeat(257)).is_err());
        assert!(TagValue::parse("semi;colon").is_err());
    }
}
