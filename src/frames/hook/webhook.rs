//! How webhooks are reached, under the egress guard. A webhook URL comes from an API caller
//! (UpdateImageGenerationConfiguration) and the server POSTs to it from inside its network, so
//! every connection goes through the `[hook]` webhook policy ([`crate::egress`]; by default the
//! public internet only, never the cloud metadata services):
//!
//! - when the configuration is set, the URL is checked ([`check_literal`] for an IP literal,
//!   [`check_url`] resolves a name): a clear `InvalidArgumentException` early;
//! - at every connection, host names are resolved by the client's resolver (`Resolver`), which
//!   hands reqwest only checked addresses (every address of the answer must pass) and reqwest
//!   connects to those without a second lookup, so a DNS answer that changes after the check
//!   (rebinding) is checked again rather than trusted;
//! - reqwest does not ask a resolver about IP-literal URLs, so [`check_literal`] runs before
//!   each request too;
//! - redirects are not followed (a redirect is a new URL nobody checked), and proxies from the
//!   environment are not used (a proxy would resolve and connect on its own).
//!
//! Errors an API caller sees (DeliveryStatus `LastError`) do not tell a refused connection from
//! a timeout, a reset or a peer that does not speak HTTP: all read "could not connect to the
//! webhook at HOST:PORT", so the hook is no port scanner ([`describe_error`]); the log keeps
//! the detail. HTTP answers (statuses) and refusals by the guard are shown as they are.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::egress::{EgressError, Policy};

/// Checks a URL whose host is an IP literal (a name passes: it is checked when resolved).
pub fn check_literal(policy: &Policy, url: &Url) -> Result<(), EgressError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    policy.check_ip(url.host_str().unwrap_or_default(), ip)
}

/// The configuration-time check of a webhook URL: the literal, or what the name resolves to
/// now (a name that does not resolve passes: it is checked at each connection).
pub async fn check_url(policy: &Policy, url: &Url) -> Result<(), EgressError> {
    check_literal(policy, url)?;
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => policy.precheck(host, port).await,
        _ => Ok(()),
    }
}

/// `host:port` of a URL, for messages.
fn host_port(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => url.to_owned(),
    }
}

/// What a failed request (no HTTP answer) says to an API caller: the guard's refusal as it is,
/// anything else as one message. The detail goes to the log.
pub fn describe_error(url: &str, e: &reqwest::Error) -> String {
    let mut chain = e.to_string();
    let mut refusal = None;
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        chain.push_str(": ");
        chain.push_str(&x.to_string());
        if let Some(g) = x.downcast_ref::<EgressError>() {
            refusal.get_or_insert_with(|| g.to_string());
        }
        src = x.source();
    }
    tracing::debug!(url, error = %chain, "hook: webhook request failed");
    match refusal {
        Some(r) => format!("webhook {url}: {r}"),
        None => format!("could not connect to the webhook at {}", host_port(url)),
    }
}

/// Resolves with the system resolver and returns the addresses only if the policy allows them
/// all (see [`Policy::lookup`]).
struct Resolver {
    policy: Arc<Policy>,
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let ips = policy.lookup(name.as_str()).await?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The HTTP client for webhooks: `timeout` per request, names resolved under `policy`, no
/// redirects, no proxy.
pub fn client(timeout: Duration, policy: Arc<Policy>) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(Resolver { policy }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HookSettings;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn policy(networks: &[&str], hosts: &[&str]) -> Arc<Policy> {
        let settings = HookSettings {
            webhook_allowed_networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
            webhook_allowed_hosts: hosts.iter().map(|h| h.parse().unwrap()).collect(),
            ..HookSettings::default()
        };
        Arc::new(settings.webhook_policy())
    }

    #[test]
    fn literals_are_checked() {
        let public = policy(&["public"], &[]);
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(check_literal(&public, &url("https://8.8.8.8/in")).is_ok());
        assert!(check_literal(&public, &url("https://hooks.example/in")).is_ok());
        for bad in [
            "http://127.0.0.1/in",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/", // 127.0.0.1 as a number: the URL parser makes it a literal
            "http://10.0.0.1:8080/",
        ] {
            let e = check_literal(&public, &url(bad)).unwrap_err();
            assert!(e.to_string().contains("allowed"), "{bad}: {e}");
        }
        let lan = policy(&["public", "127.0.0.0/8"], &[]);
        assert!(check_literal(&lan, &url("http://127.0.0.1:9/")).is_ok());
        assert!(check_literal(&lan, &url("http://169.254.169.254/")).is_err());
    }

    /// A name is refused when it resolves outside the policy; a listed one is not.
    #[tokio::test]
    async fn the_resolver_returns_only_checked_addresses() {
        let name = || -> Name { "localhost".parse().unwrap() };
        let refused = Resolver {
            policy: policy(&["public"], &[]),
        };
        let e = refused.resolve(name()).await.err().expect("refused");
        assert!(
            e.to_string().contains("[hook] webhook_allowed_networks"),
            "{e}"
        );
        let listed = Resolver {
            policy: policy(&["public"], &["localhost"]),
        };
        let addrs: Vec<SocketAddr> = listed.resolve(name()).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
    }

    /// A request to a name the guard refuses says so; any other failure without an HTTP answer
    /// reads the same whether the port is closed or silent.
    #[tokio::test]
    async fn errors_tell_refusals_but_not_ports() {
        let c = client(Duration::from_millis(500), policy(&["public"], &[])).unwrap();
        let url = "http://localhost:9/hook";
        let e = c.post(url).body("x").send().await.unwrap_err();
        let text = describe_error(url, &e);
        assert!(text.contains("webhook_allowed_networks"), "{text}");

        let c = client(Duration::from_millis(500), policy(&["127.0.0.0/8"], &[])).unwrap();
        let closed = format!("http://127.0.0.1:{}/hook", free_port());
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s); // accepted, never answered
            }
        });
        let mut texts = Vec::new();
        for u in [&closed, &silent_url] {
            let e = c.post(u.as_str()).body("x").send().await.unwrap_err();
            let port = Url::parse(u).unwrap().port().unwrap();
            texts.push(describe_error(u, &e).replace(&port.to_string(), "PORT"));
        }
        assert_eq!(texts[0], texts[1]);
        assert_eq!(
            texts[0],
            "could not connect to the webhook at 127.0.0.1:PORT"
        );
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// A webhook answering with a redirect to the metadata address is not followed: the 302
    /// is the answer.
    #[tokio::test]
    async fn redirects_are_not_followed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(
                    b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        });
        let c = client(Duration::from_secs(5), policy(&["127.0.0.0/8"], &[])).unwrap();
        let r = c
            .post(format!("http://{addr}/hook"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302);
    }
}
