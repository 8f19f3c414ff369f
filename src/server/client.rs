//! Who is on the other end of a request: the client's address and whether it
//! reached the server over HTTPS.
//!
//! A connection's peer is the client itself unless the peer is a trusted
//! proxy (`--trusted-proxy`). Only then are `X-Forwarded-For` and
//! `X-Forwarded-Proto` read; from anyone else they are ignored, since any
//! client can send them. Every per-address decision (throttles, connection
//! caps, the Socket.IO handshake limiter, guest departures) asks
//! [`client_address`], so they all agree on who the client is.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode};

use super::AppState;
use super::api::ApiError;

/// A range of addresses in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or a
/// single address (`127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error)]
#[error("not an address or CIDR range: {0:?} (expected e.g. 10.0.0.0/8, fd00::/8 or 127.0.0.1)")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || CidrError(text.to_owned());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let address = address.to_canonical();
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().filter(|p| *p <= width).ok_or_else(invalid)?,
            None => width,
        };
        Ok(Self { network: mask(address, prefix), prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        address.is_ipv4() == self.network.is_ipv4() && mask(address, self.prefix) == self.network
    }
}

/// `address` with all but its first `prefix` bits cleared.
fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 { 0 } else { bits & (u32::MAX << (32 - u32::from(prefix))) };
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 { 0 } else { bits & (u128::MAX << (128 - u32::from(prefix))) };
            IpAddr::V6(kept.into())
        }
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub(super) struct TrustedProxies(Arc<[Cidr]>);

impl TrustedProxies {
    pub(super) fn new(ranges: &[Cidr]) -> Self {
        Self(ranges.into())
    }

    pub(super) fn trusts(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(peer))
    }

    /// The client behind a request that arrived from `peer`: the peer itself,
    /// or, when the peer is a trusted proxy, the right-most address in
    /// `X-Forwarded-For` that is not itself a trusted proxy. (Each proxy
    /// appends the address it was reached from; everything left of the first
    /// untrusted hop was written by someone who may lie.)
    pub(super) fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        // Split on bytes, not on a `to_str` of the whole value: a client may
        // put non-ASCII bytes in its part, and that must not cost the hops
        // the proxies appended after it.
        let forwarded: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
            .collect();
        for hop in forwarded.iter().rev() {
            // A hop that is no address where a trusted proxy's should be
            // means the header cannot be read: the client counts as unknown
            // (one shared key), never as the proxy itself.
            let Some(address) = parse_hop(hop) else { return UNKNOWN_CLIENT };
            client = address.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }

    /// Whether a request from `peer` reached the front of the deployment over
    /// HTTPS: only a trusted proxy can say so, with `X-Forwarded-Proto`
    /// (natter itself serves plain HTTP).
    pub(super) fn is_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        self.trusts(peer.to_canonical())
            && headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                // A chain of proxies may list several; the first is the client's.
                .and_then(|value| value.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }
}

/// The address that clients whose forwarding header cannot be read count
/// under, all together.
const UNKNOWN_CLIENT: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

/// One `X-Forwarded-For` hop: an address, or an address and port as some
/// proxies write it (`203.0.113.9:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?.trim();
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

/// The client address of a request, from its connection's peer (in the
/// request's extensions) and its headers. `None` only for a request that
/// did not come through `serve` (which records every connection's peer).
pub(super) fn client_address(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(state.trusted_proxies.client_address(peer, headers))
}

/// Whether the request reached the deployment over HTTPS (see
/// [`TrustedProxies::is_https`]).
pub(super) fn is_https(state: &AppState, extensions: &Extensions, headers: &HeaderMap) -> bool {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|peer| state.trusted_proxies.is_https(peer.0.ip(), headers))
}

/// The client address as a handler argument.
pub(super) struct ClientAddress(pub(super) IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        client_address(state, &parts.extensions, &parts.headers).map(ClientAddress).ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the client address is unknown")
        })
    }
}

/// Whether the request reached the deployment over HTTPS, as a handler
/// argument.
pub(super) struct ReachedOverHttps(pub(super) bool);

impl FromRequestParts<AppState> for ReachedOverHttps {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(is_https(state, &parts.extensions, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(&ranges.iter().map(|r| r.parse().unwrap()).collect::<Vec<Cidr>>())
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_ranges_and_single_addresses() {
        let range: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(range.to_string(), "10.0.0.0/8");
        assert!(range.contains(ip("10.200.0.1")));
        assert!(!range.contains(ip("11.0.0.1")));
        assert!(range.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped peers match IPv4 ranges");
        let single: Cidr = "127.0.0.1".parse().unwrap();
        assert!(single.contains(ip("127.0.0.1")) && !single.contains(ip("127.0.0.2")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("1.2.3.4")));
        for bad in ["10.0.0.0/33", "example.com", "10.0.0.0/", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(trusted.client_address(ip("10.0.0.2"), &headers), ip("203.0.113.7"));
        assert_eq!(trusted.client_address(ip("198.51.100.1"), &headers), ip("198.51.100.1"), "spoofed");
        assert_eq!(proxies(&[]).client_address(ip("10.0.0.2"), &headers), ip("10.0.0.2"));
        // A trusted proxy that sent no header is the client.
        assert_eq!(trusted.client_address(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxy appended the real one.
        let headers = forwarded(&["1.1.1.1, 203.0.113.7", "10.0.0.9"]);
        assert_eq!(trusted.client_address(ip("10.0.0.2"), &headers), ip("203.0.113.7"));
        // Garbage where a trusted proxy's hop should be: the client is
        // unknown (one shared key), never a trusted proxy's address.
        let headers = forwarded(&["203.0.113.7, not-an-address, 10.0.0.9"]);
        assert_eq!(trusted.client_address(ip("10.0.0.2"), &headers), UNKNOWN_CLIENT);
    }

    #[test]
    fn odd_bytes_and_ports_in_forwarded_for_never_make_the_proxy_the_client() {
        let trusted = proxies(&["127.0.0.1"]);
        let proxy = ip("127.0.0.1");
        // A client's non-ASCII junk must not cost the hop nginx appended.
        let mut junk = HeaderMap::new();
        junk.append("x-forwarded-for", HeaderValue::from_bytes(b"\xe9, 203.0.113.9").unwrap());
        assert_eq!(trusted.client_address(proxy, &junk), ip("203.0.113.9"));
        // Hops with ports, as some balancers write them.
        assert_eq!(trusted.client_address(proxy, &forwarded(&["203.0.113.9:4711"])), ip("203.0.113.9"));
        assert_eq!(trusted.client_address(proxy, &forwarded(&["[2001:db8::1]:4711"])), ip("2001:db8::1"));
        // An unreadable right-most hop: unknown, never the proxy's own address.
        assert_eq!(trusted.client_address(proxy, &forwarded(&["not-an-address"])), UNKNOWN_CLIENT);
    }

    #[test]
    fn https_is_believed_only_from_trusted_proxies() {
        let trusted = proxies(&["127.0.0.1"]);
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(trusted.is_https(ip("127.0.0.1"), &headers));
        assert!(!trusted.is_https(ip("127.0.0.2"), &headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!trusted.is_https(ip("127.0.0.1"), &headers));
    }
}
