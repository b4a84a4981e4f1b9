//! Where webhooks may go. A webhook URL comes from an API caller
//! (UpdateImageGenerationConfiguration), and the server POSTs to it from inside its network, so
//! an unchecked URL would let a caller make the server reach what only the server can reach
//! (server-side request forgery). The classic target is the cloud instance-metadata service at
//! a link-local address (`169.254.169.254`, `fd00:ec2::254`), which hands out credentials.
//!
//! The policy, from `[hook] webhook_allowed_hosts`:
//! - empty (the default): any host, except link-local addresses (`169.254.0.0/16`, `fe80::/10`,
//!   `fd00:ec2::254`); LAN and loopback consumers, the usual self-hosted case, work;
//! - non-empty: only those host names or IP literals (case-insensitive), link-local included
//!   if listed.
//!
//! It is enforced three times: on the URL when the configuration is set (a clear
//! `InvalidArgument`), on every address a host name resolves to when connecting (so a name
//! that resolves to a link-local address, or changes to one later, is refused), and by not
//! following redirects (a redirect is a new URL the caller chose).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is never a webhook target unless its host is listed.
pub fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => {
                let s = v6.segments();
                (s[0] & 0xffc0) == 0xfe80 || s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254]
            }
        },
    }
}

/// Whether a webhook may go to `host` (a URL's host: a name or an IP literal, IPv6 in
/// brackets) under the allow-list; the error says why not.
pub fn check_host(host: &str, allowed: &[String]) -> Result<(), String> {
    let listed = allowed.iter().any(|a| a.eq_ignore_ascii_case(host));
    if !allowed.is_empty() && !listed {
        return Err(format!(
            "webhook host `{host}` is not in this server's [hook] webhook_allowed_hosts"
        ));
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>()
        && link_local(ip)
        && !listed
    {
        return Err(format!(
            "webhook host `{host}` is a link-local address (such as a cloud metadata service); list it in [hook] webhook_allowed_hosts to allow it"
        ));
    }
    Ok(())
}

/// Resolves with the system resolver, then drops link-local addresses of hosts that are not
/// listed.
struct Resolver {
    allowed: Arc<[String]>,
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = Arc::clone(&self.allowed);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let listed = allowed.iter().any(|a| a.eq_ignore_ascii_case(&host));
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| listed || !link_local(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "webhook host `{host}` resolves to no allowed address (link-local addresses are refused unless listed in [hook] webhook_allowed_hosts)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for webhooks: `timeout` per request, the address filter above, no
/// redirects.
pub fn client(timeout: Duration, allowed: &[String]) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(Resolver {
            allowed: allowed.iter().map(|h| h.to_ascii_lowercase()).collect(),
        }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn link_local_addresses_need_a_listing() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.1.1",
        ] {
            assert!(link_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.0.0.5",
            "192.168.1.2",
            "::1",
            "fd00::1",
            "8.8.8.8",
        ] {
            assert!(!link_local(ip.parse().unwrap()), "{ip}");
        }
        assert!(check_host("hooks.example", &[]).is_ok());
        assert!(check_host("127.0.0.1", &[]).is_ok());
        assert!(check_host("169.254.169.254", &[]).is_err());
        assert!(check_host("[fd00:ec2::254]", &[]).is_err());
        let list = vec!["Hooks.Example".to_owned(), "169.254.10.10".to_owned()];
        assert!(check_host("hooks.example", &list).is_ok());
        assert!(check_host("169.254.10.10", &list).is_ok());
        let e = check_host("other.example", &list).unwrap_err();
        assert!(e.contains("webhook_allowed_hosts"), "{e}");
    }

    /// A name resolving only to link-local addresses is refused at connect time; a listed one
    /// is not filtered. (`localhost` stands in for a name: it resolves to loopback, which
    /// passes; the filter itself is checked on the addresses above.)
    #[tokio::test]
    async fn resolver_keeps_allowed_addresses() {
        let r = Resolver {
            allowed: Arc::from(Vec::<String>::new()),
        };
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = r.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert!(!addrs.is_empty());
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
        let c = client(Duration::from_secs(5), &[]).unwrap();
        let r = c
            .post(format!("http://{addr}/hook"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302);
    }
}
