//! Reaching a camera under the egress guard (`[cameras] allowed_*`, see [`crate::egress`]).
//!
//! - **Check, then connect to what was checked.** The URL's host is resolved once and every
//!   address must pass the camera policy. retina takes a URL and connects to its host itself
//!   (it cannot be handed an address or a socket), so the URL given to retina carries the
//!   checked address as its host: retina then connects exactly there, with no lookup of its
//!   own, and a DNS answer that changes after the check (rebinding) cannot redirect it. The
//!   cost is that RTSP request URIs name the address instead of the host name; RTSP has no
//!   Host header and cameras serve their paths whatever host the URI names.
//! - **No port scanner.** Until the camera has answered an RTSP request, every failure (the
//!   name does not resolve, connection refused, timed out, reset, a peer that is not an RTSP
//!   server) reads the same: "could not connect to the camera at HOST:PORT". Otherwise the
//!   status an API caller sees would tell closed ports from open ones. The log keeps the
//!   detail. Errors in an RTSP answer (401, 404, an unsupported codec, an answer whose status
//!   line came but which outgrew `[cameras] max_rtsp_message_bytes`...) stay specific.
//!   What remains is timing: a refused port fails at once, a silent one after the stall
//!   timeout, and the status shows when an attempt failed. The network allow-list is the fence;
//!   the single message only keeps the status text from being an oracle.
//! - **UDP sources.** With UDP transport the camera names the address RTP comes from
//!   (`Transport: source=`), and retina sends two fixed hole-punching datagrams there during
//!   SETUP. Right after SETUP that address must be the one the RTSP connection went to, or an
//!   address in the allowed networks (a listed host name does not vouch for it), or the
//!   connection is refused; the two datagrams have left by then (retina offers no hook before
//!   it sends them), which is the one thing a camera on an allowed network can still point
//!   elsewhere.

use std::net::IpAddr;

use retina::client::{Described, Session, SessionOptions};
use url::Url;

use super::PullFailure;
use crate::egress::{EgressError, Policy, canonical};

/// The host (as written, IPv6 in brackets) and port (default 554 for `rtsp`, 322 for `rtsps`)
/// of a camera URL.
pub fn host_port(url: &Url) -> Option<(String, u16)> {
    let default = if url.scheme() == "rtsps" { 322 } else { 554 };
    Some((url.host_str()?.to_owned(), url.port().unwrap_or(default)))
}

/// `HOST:PORT` of a camera URL, for messages.
pub fn target(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| host_port(&u))
        .map_or_else(|| url.to_owned(), |(h, p)| format!("{h}:{p}"))
}

/// Resolves and checks the camera's host, then sends DESCRIBE to the checked addresses in
/// turn until one answers RTSP; returns the session and the address that answered. `options`
/// makes the session options of each try, whose message size limit is `max_message_bytes`.
pub(super) async fn describe(
    url: &Url,
    egress: &Policy,
    max_message_bytes: usize,
    options: impl Fn() -> SessionOptions,
) -> Result<(Session<Described>, IpAddr), PullFailure> {
    let (host, port) =
        host_port(url).ok_or_else(|| PullFailure::BadUrl(format!("{url}: no host")))?;
    let cannot_connect = || PullFailure::CannotConnect(format!("{host}:{port}"));
    let addrs = match egress.resolve(&host, port).await {
        Ok(a) => a,
        Err(e @ EgressError::Denied { .. }) => return Err(PullFailure::NotAllowed(e.to_string())),
        Err(e) => {
            tracing::info!(error = %e, "camera host does not resolve");
            return Err(cannot_connect());
        }
    };
    for addr in addrs {
        let mut at = url.clone();
        if at.set_ip_host(addr.ip()).is_err() || at.set_port(Some(port)).is_err() {
            return Err(PullFailure::BadUrl(format!("{url}: cannot address {addr}")));
        }
        match Session::describe(at, options()).await {
            Ok(session) => return Ok((session, addr.ip())),
            // An RTSP answer: the camera is there; its error is worth telling.
            Err(e) if e.status_code().is_some() => {
                return Err(PullFailure::from_retina(&e, max_message_bytes));
            }
            // An answer that began as RTSP (a status line) and outgrew the limit: telling it
            // says no more than an RTSP answer does. A first line that never ends within the
            // limit stays "could not connect" below.
            Err(e) if super::oversized(&e.to_string()) == Some(true) => {
                tracing::info!(%addr, error = %e, "the camera's rtsp answer is too large");
                return Err(PullFailure::MessageTooLarge(max_message_bytes));
            }
            Err(e) => {
                let detail = e.to_string();
                tracing::info!(%addr, error = %detail, "no rtsp answer from the camera");
            }
        }
    }
    Err(cannot_connect())
}

/// The address a UDP stream's RTP comes from, read from retina's stream context (retina keeps
/// it private and shows it only as `local:p-p(me) -> peer:p-p`). None when the text is not in
/// that form.
fn udp_peer(ctx: &retina::StreamContext) -> Option<IpAddr> {
    let text = ctx.to_string();
    let (_, peer) = text.split_once(" -> ")?;
    let (ip, _ports) = peer.rsplit_once(':')?;
    ip.parse().ok()
}

/// After a UDP SETUP: the source the camera named must be `peer` (the checked address the
/// RTSP connection went to) or pass the camera policy as an address. Fails closed when retina's
/// context cannot be read.
pub(super) fn check_udp_source(
    ctx: Option<&retina::StreamContext>,
    peer: IpAddr,
    egress: &Policy,
) -> Result<(), PullFailure> {
    let Some(ip) = ctx.and_then(udp_peer) else {
        return Err(PullFailure::Protocol(
            "the camera's UDP source address could not be verified; use tcp transport".into(),
        ));
    };
    if canonical(ip) == canonical(peer) {
        return Ok(());
    }
    egress
        .check_ip(&ip.to_string(), ip)
        .map_err(|e| PullFailure::NotAllowed(format!("the camera's UDP source: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_have_default_ports() {
        assert_eq!(target("rtsp://cam.lan/x"), "cam.lan:554");
        assert_eq!(target("rtsps://cam.lan/x"), "cam.lan:322");
        assert_eq!(target("rtsp://10.0.0.5:8554/x"), "10.0.0.5:8554");
        assert_eq!(target("rtsp://[fd00::5]:10554/x"), "[fd00::5]:10554");
    }

    #[test]
    fn an_unreadable_udp_context_fails_closed() {
        let policy = crate::config::CameraSettings::default().egress_policy();
        let dummy = retina::StreamContext::dummy();
        assert!(udp_peer(&dummy).is_none());
        let peer = "192.168.1.5".parse().unwrap();
        assert!(check_udp_source(Some(&dummy), peer, &policy).is_err());
        assert!(check_udp_source(None, peer, &policy).is_err());
    }
}
