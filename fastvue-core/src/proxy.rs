//! Which peers may report the client's address (`TRUSTED_PROXIES`), and the client
//! address of a request given its peer and its `X-Forwarded-For` header.
//!
//! Behind a reverse proxy every connection comes from the proxy, so per-client controls
//! (the failed-login limit, the audit log's IP) would see one client. The proxy appends
//! the address it saw to `X-Forwarded-For`; only a trusted peer's header is believed, and
//! only as far as the chain of trusted proxies goes, so a client cannot pick its own
//! address by sending the header itself.
use std::net::{IpAddr, SocketAddr};

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `::1/128`), over the
/// `ipnet` crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet(ipnet::IpNet);

impl IpNet {
    /// Parses `a.b.c.d/n`, `x::y/n`, or a lone address (a /32 or /128). `None` for
    /// anything else, including a prefix longer than the address.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.contains('/') {
            text.parse::<ipnet::IpNet>().ok().map(Self)
        } else {
            text.parse::<IpAddr>()
                .ok()
                .map(|a| Self(ipnet::IpNet::from(a)))
        }
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

/// The proxies trusted to report the client's address. Empty (the default) trusts no
/// one: the client is always the connection's peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trusts the peers inside `nets`.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client's address. The peer itself unless it is trusted; then, walking
    /// `forwarded_for` (the `X-Forwarded-For` values, in header order) from the right,
    /// the first address that is not a trusted proxy. When every hop is trusted the
    /// leftmost one is the client; an entry that is not an address ends the walk at
    /// the last trusted hop (which reported it).
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| IpNet::parse(n).unwrap()).collect())
    }

    #[test]
    fn networks_parse_and_contain_addresses() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.200.1.2")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(
            IpNet::parse("127.0.0.1")
                .unwrap()
                .contains(ip("::ffff:127.0.0.1"))
        );
        assert!(IpNet::parse("::1").unwrap().contains(ip("::1")));
        assert!(IpNet::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!IpNet::parse("fd00::/8").unwrap().contains(ip("10.0.0.1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "nope",
            "10.0.0.0/x",
            "1.2.3.4/",
        ] {
            assert_eq!(IpNet::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let p = proxies(&["127.0.0.1"]);
        assert_eq!(
            p.client_ip(ip("203.0.113.9"), ["1.1.1.1"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client_ip(ip("127.0.0.1"), ["1.1.1.1"]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_trusted_peer_reports_the_rightmost_untrusted_hop() {
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        // The client forged the first entry; the proxy chain appended the real one.
        let xff = ["6.6.6.6, 198.51.100.7", "10.1.2.3"];
        assert_eq!(p.client_ip(ip("127.0.0.1"), xff), ip("198.51.100.7"));
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), ["198.51.100.7:4431"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), ["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn a_chain_of_trusted_hops_or_garbage_stops_at_the_last_known_address() {
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), ["10.0.0.5, 10.0.0.6"]),
            ip("10.0.0.5")
        );
        assert_eq!(p.client_ip(ip("127.0.0.1"), ["not-an-ip"]), ip("127.0.0.1"));
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), ["1.2.3.4, junk, 10.0.0.9"]),
            ip("10.0.0.9")
        );
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), std::iter::empty()),
            ip("127.0.0.1")
        );
    }
}
