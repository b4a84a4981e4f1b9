//! `[tls] redirect_http_listen`: a plain-HTTP listener that sends every request to the same
//! path on the HTTPS listener (308, so methods and bodies are kept).

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// Where redirects point: a fixed origin (the configured https public URL), or the request's
/// own host with the TLS port.
#[derive(Debug, Clone)]
pub enum Target {
    /// `https://host[:port]`, no trailing slash.
    Origin(String),
    /// The HTTPS listener's port (left out of the URL when 443).
    Port(u16),
}

/// The redirect app.
pub fn app(target: Target) -> axum::Router {
    axum::Router::new().fallback(move |headers: HeaderMap, uri: Uri| {
        let target = target.clone();
        async move { redirect(&target, &headers, &uri) }
    })
}

fn redirect(target: &Target, headers: &HeaderMap, uri: &Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let origin = match target {
        Target::Origin(o) => o.clone(),
        Target::Port(port) => {
            let Some(host) = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(host_without_port)
            else {
                return (StatusCode::BAD_REQUEST, "use https:// (no Host header)\n")
                    .into_response();
            };
            if *port == 443 {
                format!("https://{host}")
            } else {
                format!("https://{host}:{port}")
            }
        }
    };
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, format!("{origin}{path}"))],
    )
        .into_response()
}

/// The host of a Host header value, without its port; `None` when it is not a plain host name
/// or address (so no header value is echoed into `Location` unchecked).
fn host_without_port(value: &str) -> Option<&str> {
    let host = if value.starts_with('[') {
        &value[..=value.find(']')?]
    } else {
        value.rsplit_once(':').map_or(value, |(h, _)| h)
    };
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(target: Target, host: Option<&str>, uri: &str) -> (u16, Option<String>) {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(header::HOST, h.parse().unwrap());
        }
        let r = redirect(&target, &headers, &uri.parse().unwrap());
        (
            r.status().as_u16(),
            r.headers()
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
        )
    }

    #[test]
    fn redirects_keep_path_and_query() {
        assert_eq!(
            location(Target::Port(8443), Some("cams.example:8080"), "/a/b?x=1"),
            (308, Some("https://cams.example:8443/a/b?x=1".into()))
        );
        assert_eq!(
            location(Target::Port(443), Some("[::1]:80"), "/"),
            (308, Some("https://[::1]/".into()))
        );
        assert_eq!(
            location(Target::Origin("https://v.example".into()), None, "/hls"),
            (308, Some("https://v.example/hls".into()))
        );
    }

    #[test]
    fn odd_hosts_are_refused() {
        assert_eq!(location(Target::Port(443), None, "/").0, 400);
        assert_eq!(location(Target::Port(443), Some("a/b@evil"), "/").0, 400);
        assert_eq!(location(Target::Port(443), Some(""), "/").0, 400);
    }
}
