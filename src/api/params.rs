//! Parsing the parameters many operations share: stream references, versions, tokens, and the
//! query string of playback URLs.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::ApiError;
use crate::model::{Arn, Invalid, StreamName, Version};
use crate::store::StreamRef;

/// A request's query string as a map: `application/x-www-form-urlencoded` (`+` is a space,
/// `%XX` a byte, invalid UTF-8 replaced), the last value of a repeated key wins, a key without
/// `=` has an empty value; never fails, as `Query<HashMap<String, String>>`. It exists for
/// speed: every playback request (each segment) carries a long session token, and a query
/// without escapes (tokens are URL-safe base64) is split without decoding.
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(QueryMap(parse_query(parts.uri.query().unwrap_or(""))))
    }
}

/// See [`QueryMap`].
pub fn parse_query(query: &str) -> HashMap<String, String> {
    if query.bytes().any(|b| b == b'%' || b == b'+') {
        return form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    }
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// `StreamName` and/or `StreamARN` → a reference; at least one is required.
pub fn stream_ref(name: Option<&str>, arn: Option<&str>) -> Result<StreamRef, ApiError> {
    match (name, arn) {
        (Some(n), None) => Ok(StreamRef::Name(StreamName::parse(n)?)),
        (None, Some(a)) => Ok(StreamRef::Arn(Arn::parse(a)?)),
        (Some(n), Some(a)) => Ok(StreamRef::Both(StreamName::parse(n)?, Arn::parse(a)?)),
        (None, None) => Err(ApiError::invalid(
            "specify the stream with StreamName or StreamARN",
        )),
    }
}

/// A required `CurrentVersion`.
pub fn version(v: &str) -> Result<Version, ApiError> {
    Ok(Version::parse(v)?)
}

/// Checks an integer against an inclusive range, naming the field in the error.
pub fn in_range(field: &str, v: i64, min: i64, max: i64) -> Result<i64, Invalid> {
    if v < min || v > max {
        return Err(Invalid(format!(
            "{field} must be between {min} and {max}, got {v}"
        )));
    }
    Ok(v)
}

/// ListStreams' opaque page token: the base64 of the last name returned.
pub fn encode_list_token(last: &StreamName) -> String {
    STANDARD.encode(format!("v1:{last}"))
}

/// Decodes a token made by [`encode_list_token`].
pub fn decode_list_token(token: &str) -> Result<StreamName, Invalid> {
    let bad = || {
        Invalid(format!(
            "NextToken `{}` was not issued by this server; pass the NextToken of the previous response",
            token.chars().take(64).collect::<String>()
        ))
    };
    if token.len() > 1024 {
        return Err(bad());
    }
    let bytes = STANDARD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let name = text.strip_prefix("v1:").ok_or_else(bad)?;
    StreamName::parse(name).map_err(|_| bad())
}

/// Tag listings fit in one page (at most 50 tags), so no token is ever issued; any non-empty
/// token is stale or forged.
pub fn reject_tag_token(token: Option<&str>) -> Result<(), Invalid> {
    match token {
        None | Some("") => Ok(()),
        Some(t) => Err(Invalid(format!(
            "NextToken `{}` was not issued by this server; tag listings have a single page",
            t.chars().take(64).collect::<String>()
        ))),
    }
}

/// The policy a request asks for (a built-in's name scoped to the streams matching `streams`,
/// or an IAM policy document), validated, as the JSON text to store with a key or a user.
pub fn policy_text(policy: &serde_json::Value, streams: Option<&str>) -> Result<String, ApiError> {
    use crate::auth::policy::{self, Policy};
    let parsed = match policy {
        serde_json::Value::String(name) => policy::builtin(name, streams.unwrap_or("*"))?,
        serde_json::Value::Object(_) => {
            if streams.is_some() {
                return Err(ApiError::invalid(
                    "`streams` scopes a built-in policy; write the stream ARNs into a policy document's Resource instead",
                ));
            }
            Policy::parse(&policy.to_string())?
        }
        _ => {
            return Err(ApiError::invalid(
                "`policy` is a built-in policy's name (admin, producer, viewer, ml-consumer) or an IAM policy document",
            ));
        }
    };
    Ok(parsed.json().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast split and the decoding path agree with serde_urlencoded (what
    /// `Query<HashMap<String, String>>` used) on plain and escaped queries alike.
    #[test]
    fn query_maps_match_serde_urlencoded() {
        for q in [
            "",
            "SessionToken=eyJhIjoxfQ.c2ln_-x&FragmentNumber=91343852333181432392682062",
            "a=1&a=2&b",
            "&&x=&=y&z=1",
            "Name=a%20b+c&Bad=%FF%&Plus=%2B",
            "k=v=w",
        ] {
            let ours = parse_query(q);
            let theirs: HashMap<String, String> = serde_urlencoded::from_str(q).unwrap();
            assert_eq!(ours, theirs, "{q}");
        }
    }

    #[test]
    fn list_tokens_round_trip_and_reject_garbage() {
        let n = StreamName::parse("cam_1.a-b").unwrap();
        let t = encode_list_token(&n);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
        );
        assert_eq!(decode_list_token(&t).unwrap(), n);
        for bad in [
            "",
            "!!!",
            "bm90YXRva2Vu",
            &STANDARD.encode("v1:bad name"),
            &"A".repeat(2000),
        ] {
            assert!(decode_list_token(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stream_refs() {
        assert!(matches!(
            stream_ref(Some("a"), None),
            Ok(StreamRef::Name(_))
        ));
        assert!(stream_ref(None, None).is_err());
        assert!(stream_ref(Some("bad name"), None).is_err());
        assert!(stream_ref(None, Some("arn:nope")).is_err());
        assert!(matches!(
            stream_ref(
                Some("a"),
                Some("arn:aws:kinesisvideo:us-east-1:1:stream/a/1")
            ),
            Ok(StreamRef::Both(..))
        ));
    }
}
