//! The egress guard: the one place that decides whether the server may open a connection to a
//! destination an API caller chose: a camera's RTSP URL, a webhook URL.
//!
//! # Why
//! The server connects from inside its network, with its own reach and, for S3, its own
//! credentials. An unchecked destination lets any caller who may add a camera or set an image
//! destination make the server reach what only the server can reach (server-side request
//! forgery): loopback services, the LAN, and above all the cloud instance-metadata services
//! (`169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`, `metadata.google.internal`), which
//! hand out credentials.
//!
//! # The rule
//! A [`Policy`] is what an admin allowed for one kind of destination: networks ([`Network`]:
//! CIDRs, single addresses, or `public`), host names ([`HostPattern`]: exact, or `*.suffix`), and
//! optionally ports. A destination is allowed when:
//! 1. its port is listed (an empty port list allows any port);
//! 2. it is not an always-denied name (`metadata.google.internal`, `metadata.goog`);
//! 3. *every* address it resolves to (an IP literal is its own single address) is outside
//!    the always-denied networks ([`always_denied`]: cloud metadata addresses, all of link-local,
//!    unspecified, multicast, broadcast), which no allow overrides; and
//! 4. every address is in an allowed network, or the host name is listed (a listed name is
//!    allowed whatever it resolves to, except rule 3: the admin vouched for the name).
//!
//! Addresses are judged in canonical form: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) and a
//! NAT64 well-known-prefix address (`64:ff9b::a.b.c.d`, RFC 6052) are judged as the IPv4 address
//! they reach.
//!
//! # Check, then connect to what was checked
//! [`Policy::resolve`] resolves a name once and returns the checked socket addresses; callers
//! connect to those and never resolve the name again, so a DNS answer that changes between the
//! check and the connection (DNS rebinding) cannot slip through. The camera client rewrites the
//! URL's host to the checked address (`cameras::pull`); the webhook client resolves through
//! [`Policy::lookup`] (`frames::hook::webhook`).
//!
//! Configuration-time checks ([`Policy::precheck`]) use the same rule for an early, clear error;
//! they are not what protects: a name's answer can change, so every connection checks again.
//!
//! What this module does not do: open connections, know about cameras or webhooks, or read the
//! configuration (the config builds policies with the key names its messages should cite).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;

/// Longest a name lookup may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix))
}

const fn v6(s: [u16; 8], prefix: u8) -> IpNet {
    let [a, b, c, d, e, f, g, h] = s;
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(a, b, c, d, e, f, g, h),
        prefix,
    ))
}

const LINK_LOCAL: &str = "a link-local address (where cloud metadata services live)";
const METADATA: &str = "a cloud metadata service address";

/// Never a destination, whatever the configuration: (network, what it is). The specific
/// entries come first so that messages name them.
const ALWAYS_DENIED: &[(IpNet, &str)] = &[
    (v4(169, 254, 169, 254, 32), METADATA), // AWS, GCP, Azure, OpenStack...
    (v4(100, 100, 100, 200, 32), METADATA), // Alibaba Cloud (inside CGNAT 100.64/10)
    (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128), METADATA), // AWS over IPv6 (inside ULA)
    (v4(169, 254, 0, 0, 16), LINK_LOCAL),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), LINK_LOCAL),
    // 0.0.0.0 reaches the local host on Linux; 0/8 is "this network" (RFC 1122).
    (v4(0, 0, 0, 0, 8), "an unspecified address"),
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "an unspecified address"),
    (v4(224, 0, 0, 0, 4), "a multicast address"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "a multicast address"),
    (v4(255, 255, 255, 255, 32), "the broadcast address"),
];

/// Host names that are never a destination (their addresses are in [`ALWAYS_DENIED`] anyway;
/// refusing the names too keeps a proxy or an odd resolver from mattering).
const DENIED_NAMES: &[&str] = &["metadata.google.internal", "metadata.goog"];

/// The private ranges: RFC 1918, shared address space (CGNAT, RFC 6598), unique local IPv6
/// (RFC 4193). Cameras live here.
pub const PRIVATE: &[IpNet] = &[
    v4(10, 0, 0, 0, 8),
    v4(172, 16, 0, 0, 12),
    v4(192, 168, 0, 0, 16),
    v4(100, 64, 0, 0, 10),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
];

/// Loopback: `127.0.0.0/8` and `::1`.
pub const LOOPBACK: &[IpNet] = &[v4(127, 0, 0, 0, 8), v6([0, 0, 0, 0, 0, 0, 0, 1], 128)];

/// IPv4 addresses that are not on the public internet (special-purpose registry, RFC 6890 and
/// successors): what [`Network::Public`] excludes.
const NOT_PUBLIC_V4: &[IpNet] = &[
    v4(0, 0, 0, 0, 8),
    v4(10, 0, 0, 0, 8),
    v4(100, 64, 0, 0, 10),
    v4(127, 0, 0, 0, 8),
    v4(169, 254, 0, 0, 16),
    v4(172, 16, 0, 0, 12),
    v4(192, 0, 0, 0, 24),
    v4(192, 0, 2, 0, 24),
    v4(192, 88, 99, 0, 24),
    v4(192, 168, 0, 0, 16),
    v4(198, 18, 0, 0, 15),
    v4(198, 51, 100, 0, 24),
    v4(203, 0, 113, 0, 24),
    v4(224, 0, 0, 0, 4),
    v4(240, 0, 0, 0, 4),
];

/// Public IPv6 is global unicast (`2000::/3`) except these: Teredo and 6to4 (tunnels that
/// carry IPv4 addresses inside) and documentation.
const GLOBAL_UNICAST_V6: IpNet = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);
const NOT_PUBLIC_V6: &[IpNet] = &[
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),
];

/// NAT64 well-known prefix (RFC 6052): `64:ff9b::a.b.c.d` reaches `a.b.c.d` through a NAT64
/// gateway.
const NAT64: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);

/// The address as judged: IPv4-mapped and NAT64 IPv6 addresses become the IPv4 address they
/// reach.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None if NAT64.contains(&v6) => {
                let [.., a, b, c, d] = v6.octets();
                IpAddr::V4(Ipv4Addr::new(a, b, c, d))
            }
            None => ip,
        },
    }
}

/// What `ip` is if no configuration may allow it: cloud metadata addresses, link-local,
/// unspecified, multicast, broadcast.
pub fn always_denied(ip: IpAddr) -> Option<&'static str> {
    let ip = canonical(ip);
    ALWAYS_DENIED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, what)| *what)
}

/// Whether `ip` is on the public internet: not private, loopback, link-local, CGNAT, ULA,
/// documentation, multicast or otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        ip @ IpAddr::V4(_) => !NOT_PUBLIC_V4.iter().any(|n| n.contains(&ip)),
        ip @ IpAddr::V6(_) => {
            GLOBAL_UNICAST_V6.contains(&ip) && !NOT_PUBLIC_V6.iter().any(|n| n.contains(&ip))
        }
    }
}

/// One entry of an `*allowed_networks` list: a CIDR network (`192.168.1.0/24`), a single
/// address (`10.0.0.5`), or `public` (every address [`is_public`] accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Network {
    /// The public internet.
    Public,
    /// A network (IPv4-mapped IPv6 networks are stored as IPv4).
    Net(IpNet),
}

impl Network {
    /// Whether the network holds `ip` (canonical form, see [`canonical`]).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match self {
            Network::Public => is_public(ip),
            Network::Net(n) => n.contains(&canonical(ip)),
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("public") {
            return Ok(Network::Public);
        }
        let bad = || {
            format!(
                "`{s}` is not a network: use a CIDR network such as 192.168.1.0/24, a single address, or `public`"
            )
        };
        let net = match s.parse::<IpNet>() {
            Ok(n) if n.trunc() != n => {
                return Err(format!(
                    "`{s}` has host bits set: did you mean {}?",
                    n.trunc()
                ));
            }
            Ok(n) => n,
            Err(_) => IpNet::from(s.parse::<IpAddr>().map_err(|_| bad())?),
        };
        Ok(Network::Net(match net {
            IpNet::V6(n) if n.prefix_len() >= 96 && n.network().to_ipv4_mapped().is_some() => {
                let v4 = n.network().to_ipv4_mapped().expect("checked just above");
                IpNet::V4(Ipv4Net::new_assert(v4, n.prefix_len() - 96))
            }
            n => n,
        }))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::Public => f.write_str("public"),
            Network::Net(n) => n.fmt(f),
        }
    }
}

impl TryFrom<String> for Network {
    type Error = String;
    fn try_from(s: String) -> Result<Network, String> {
        s.parse()
    }
}

impl From<Network> for String {
    fn from(n: Network) -> String {
        n.to_string()
    }
}

/// Networks for a list of [`IpNet`]s (for defaults).
pub fn networks(nets: &[IpNet]) -> Vec<Network> {
    nets.iter().copied().map(Network::Net).collect()
}

/// One entry of an `*allowed_hosts` list: an exact host name (`nvr.example.com`) or every name
/// under a suffix (`*.cams.example.com`, which does not match `cams.example.com` itself).
/// Case-insensitive; a trailing dot is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HostPattern {
    /// This name.
    Exact(String),
    /// Names ending in `.` + this suffix.
    Suffix(String),
}

impl HostPattern {
    /// Whether `name` (already [`normalize`]d) matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            HostPattern::Exact(n) => n == name,
            HostPattern::Suffix(s) => name
                .strip_suffix(s.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

/// A host name as compared: lower case, without a trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<HostPattern, String> {
        let name = normalize(s.trim());
        if strip_brackets(&name).parse::<IpAddr>().is_ok() {
            return Err(format!(
                "`{s}` is an address, not a host name: list addresses in the matching allowed_networks key (e.g. {}/32)",
                strip_brackets(&name)
            ));
        }
        let (pattern, rest) = match name.strip_prefix("*.") {
            Some(suffix) => (HostPattern::Suffix(suffix.to_owned()), suffix),
            None => (HostPattern::Exact(name.clone()), name.as_str()),
        };
        if !valid_name(rest) {
            return Err(format!(
                "`{s}` is not a host name: use a name such as nvr.example.com, or *.example.com for every name under it"
            ));
        }
        Ok(pattern)
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(n) => f.write_str(n),
            HostPattern::Suffix(s) => write!(f, "*.{s}"),
        }
    }
}

impl TryFrom<String> for HostPattern {
    type Error = String;
    fn try_from(s: String) -> Result<HostPattern, String> {
        s.parse()
    }
}

impl From<HostPattern> for String {
    fn from(h: HostPattern) -> String {
        h.to_string()
    }
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The configuration keys a policy comes from, so that a refusal says what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys {
    /// The networks key, e.g. `[cameras] allowed_networks`.
    pub networks: &'static str,
    /// The host names key.
    pub hosts: &'static str,
    /// The ports key; empty when the policy has no port list.
    pub ports: &'static str,
}

/// Why a destination was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// An address in the always-denied list (what it is).
    AlwaysDenied(&'static str),
    /// An always-denied host name.
    DeniedName,
    /// An address outside the allowed networks, for a host that is not listed.
    NotAllowed,
    /// A port that is not listed.
    Port(u16),
}

/// A refused or unresolvable destination.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The policy refuses the destination. The message names the configuration key to change
    /// but not the address a name resolved to (an API caller should not learn internal DNS);
    /// the log has it.
    #[error("{}", denied_message(host, reason, keys))]
    Denied {
        /// The host as given (a name or an IP literal).
        host: String,
        /// Why.
        reason: Reason,
        /// Where the policy came from.
        keys: Keys,
        /// The refused address, when the reason is an address.
        addr: Option<IpAddr>,
    },
    /// The name could not be resolved (or resolved to nothing).
    #[error("could not resolve host `{host}`: {source}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
}

impl EgressError {
    /// The KVS error kind: a refusal is the caller's to fix; resolution may work later.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EgressError::Denied { .. } => ErrorKind::InvalidArgument,
            EgressError::Resolve { .. } => ErrorKind::Unavailable,
        }
    }
}

fn denied_message(host: &str, reason: &Reason, keys: &Keys) -> String {
    let literal = strip_brackets(host).parse::<IpAddr>().is_ok();
    match (reason, literal) {
        (Reason::AlwaysDenied(what), true) => {
            format!("`{host}` is {what} and is never allowed, whatever the configuration")
        }
        (Reason::AlwaysDenied(what), false) => format!(
            "host `{host}` resolves to {what}, which is never allowed, whatever the configuration"
        ),
        (Reason::DeniedName, _) => format!(
            "host `{host}` is a cloud metadata service and is never allowed, whatever the configuration"
        ),
        (Reason::NotAllowed, true) => format!(
            "`{host}` is not in {}; add its network there to allow it",
            keys.networks
        ),
        (Reason::NotAllowed, false) => format!(
            "host `{host}` resolves to an address outside {}; add that network there, or the host name to {}",
            keys.networks, keys.hosts
        ),
        (Reason::Port(p), _) => format!(
            "port {p} of `{host}` is not in {}; add it there to allow it",
            keys.ports
        ),
    }
}

/// Where one kind of destination may go (see the module doc for the rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    networks: Vec<Network>,
    hosts: Vec<HostPattern>,
    ports: Vec<u16>,
    keys: Keys,
}

impl Policy {
    /// A policy; an empty `ports` allows any port.
    pub fn new(
        networks: Vec<Network>,
        hosts: Vec<HostPattern>,
        ports: Vec<u16>,
        keys: Keys,
    ) -> Policy {
        Policy {
            networks,
            hosts,
            ports,
            keys,
        }
    }

    fn denied(&self, host: &str, reason: Reason, addr: Option<IpAddr>) -> EgressError {
        tracing::warn!(host, addr = ?addr, ?reason, "egress refused");
        EgressError::Denied {
            host: host.to_owned(),
            reason,
            keys: self.keys,
            addr,
        }
    }

    /// Whether the (normalized) name is in the host list.
    fn listed(&self, name: &str) -> bool {
        self.hosts.iter().any(|h| h.matches(name))
    }

    /// The rule for one address of a host that is (or is not) listed.
    fn judge(&self, listed: bool, ip: IpAddr) -> Result<(), Reason> {
        if let Some(what) = always_denied(ip) {
            return Err(Reason::AlwaysDenied(what));
        }
        if listed || self.networks.iter().any(|n| n.contains(ip)) {
            Ok(())
        } else {
            Err(Reason::NotAllowed)
        }
    }

    /// Checks the port (an empty port list allows any).
    pub fn check_port(&self, host: &str, port: u16) -> Result<(), EgressError> {
        if self.ports.is_empty() || self.ports.contains(&port) {
            Ok(())
        } else {
            Err(self.denied(host, Reason::Port(port), None))
        }
    }

    /// Checks one address `host` stands for: the host itself when it is an IP literal, or an
    /// address a name gave (e.g. the UDP source an RTSP camera names).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), EgressError> {
        let bare = strip_brackets(host);
        let listed = bare.parse::<IpAddr>().is_err() && self.listed(&normalize(bare));
        self.judge(listed, ip)
            .map_err(|reason| self.denied(host, reason, Some(ip)))
    }

    /// Checks a name and the whole answer its lookup gave: every address must pass.
    pub fn check_answer(&self, name: &str, addrs: &[IpAddr]) -> Result<(), EgressError> {
        let name = normalize(name);
        if DENIED_NAMES.contains(&name.as_str()) {
            return Err(self.denied(&name, Reason::DeniedName, None));
        }
        if addrs.is_empty() {
            return Err(EgressError::Resolve {
                host: name,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            });
        }
        let listed = self.listed(&name);
        for &ip in addrs {
            self.judge(listed, ip)
                .map_err(|reason| self.denied(&name, reason, Some(ip)))?;
        }
        Ok(())
    }

    /// The checked addresses of `host` (a name, or an IP literal, IPv6 in brackets or not):
    /// resolved once; connect to these, never to the name. Ports are not checked here (see
    /// [`Policy::resolve`]).
    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, EgressError> {
        let bare = strip_brackets(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_ip(host, ip)?;
            return Ok(vec![ip]);
        }
        let name = normalize(bare);
        if DENIED_NAMES.contains(&name.as_str()) {
            return Err(self.denied(&name, Reason::DeniedName, None));
        }
        let resolve_error = |source| EgressError::Resolve {
            host: name.clone(),
            source,
        };
        let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((&*name, 0)))
            .await
            .map_err(|_| {
                resolve_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the lookup timed out",
                ))
            })?
            .map_err(resolve_error)?;
        let mut addrs: Vec<IpAddr> = Vec::new();
        for a in found {
            if !addrs.contains(&a.ip()) {
                addrs.push(a.ip());
            }
        }
        self.check_answer(&name, &addrs)?;
        Ok(addrs)
    }

    /// The checked socket addresses of `host:port` (see [`Policy::lookup`]).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        self.check_port(host, port)?;
        let addrs = self.lookup(host).await?;
        Ok(addrs
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// The configuration-time check: like [`Policy::resolve`], but a name that does not
    /// resolve now passes (a camera may be offline; the connection checks again).
    pub async fn precheck(&self, host: &str, port: u16) -> Result<(), EgressError> {
        match self.resolve(host, port).await {
            Ok(_) => Ok(()),
            Err(EgressError::Resolve { host, source }) => {
                tracing::info!(host, error = %source, "destination does not resolve now; it is checked again at each connection");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
