//! Which reverse proxies are believed, and the client address and scheme they report.
//!
//! Behind a load balancer the TCP peer is the proxy; the client's address is in
//! `X-Forwarded-For`, which anyone can also send. The header is believed only when the
//! peer is a proxy the operator named, and then only as far as the chain of named proxies
//! goes: walking the list from the right (each proxy appends the address it saw), the
//! first address that is not a trusted proxy is the client, as nginx's `real_ip_recursive`
//! and Rails' `RemoteIp` do. Everything to its left was written by that client and is
//! ignored. `X-Forwarded-Proto` and `X-Forwarded-Host` are believed from the same peers.
//! Pure: no I/O, no HTTP types, so the rules are unit-tested here.

use std::net::IpAddr;

use crate::outbound::{Cidr, parse_list};

/// The operator's word on proxies (`server.trusted_proxies`, `server.trust_forwarded_for`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TrustedProxies {
    /// No proxy: the TCP peer is the client and forwarding headers are ignored.
    #[default]
    None,
    /// `server.trust_forwarded_for = true`: whatever the peer, it is one proxy, and the
    /// last `X-Forwarded-For` entry (the one it added) is the client.
    LastHop,
    /// `server.trusted_proxies`: peers in these networks are proxies; the chain is
    /// walked through every address in them.
    Networks(Vec<Cidr>),
}

impl TrustedProxies {
    /// Parses `server.trusted_proxies`: addresses or CIDR networks separated by commas
    /// or spaces (the syntax of `mail.allowed_networks`). `Err` says which entry is wrong.
    pub fn parse_networks(text: &str) -> Result<Self, String> {
        let networks = parse_list(text)?;
        Ok(if networks.is_empty() { Self::None } else { Self::Networks(networks) })
    }

    fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match self {
            Self::None => false,
            Self::LastHop => true,
            Self::Networks(networks) => networks.iter().any(|n| n.contains(address)),
        }
    }

    /// Whether `peer`'s forwarding headers (`X-Forwarded-Proto`, `-Host`) are believed.
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        match self {
            Self::None => false,
            Self::LastHop => true,
            Self::Networks(_) => peer.is_some_and(|p| self.contains(p)),
        }
    }

    /// The client's address: `peer` unless it is a trusted proxy, in which case the
    /// `X-Forwarded-For` chain (`forwarded`, every header value in order) is walked from
    /// the right past trusted proxies. An entry that is not an address ends the walk at
    /// the hop to its right, which is a trusted proxy: nothing further left can be
    /// believed.
    pub fn client_address<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded: impl IntoIterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        if !self.trusts(peer) {
            return peer;
        }
        let mut chain: Vec<&str> = forwarded.into_iter().flat_map(|v| v.split(',')).map(str::trim).collect();
        if let Self::LastHop = self {
            // One proxy, whatever its address: only what it appended counts.
            chain = chain.split_off(chain.len().saturating_sub(1));
        }
        let mut client = peer;
        for entry in chain.iter().rev() {
            let Some(address) = parse_entry(entry) else { break };
            client = Some(address);
            if !matches!(self, Self::Networks(_)) || !self.contains(address) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), as some proxies write it.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    entry.parse::<std::net::SocketAddr>().ok().map(|s| canonical(s.ip()))
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports for an
/// IPv4 peer) is the IPv4 address, as [`Cidr::contains`] sees it too.
fn canonical(address: IpAddr) -> IpAddr {
    address.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(s: &str) -> TrustedProxies {
        TrustedProxies::parse_networks(s).unwrap()
    }

    #[test]
    fn parsing_takes_addresses_and_networks_and_names_a_bad_entry() {
        let parsed = nets("10.0.0.0/8, 192.168.1.7 ::1,fd00::/8");
        let TrustedProxies::Networks(list) = &parsed else { panic!("{parsed:?}") };
        assert_eq!(list.len(), 4);
        assert_eq!(nets(" , "), TrustedProxies::None);
        let e = TrustedProxies::parse_networks("10.0.0.0/8, proxy.example").unwrap_err();
        assert!(e.contains("`proxy.example`"), "{e}");
        assert!(TrustedProxies::parse_networks("10.0.0.0/33").unwrap_err().contains("`10.0.0.0/33`"));
        // A network written with host bits set means the network.
        assert!(nets("10.1.2.3/8").trusts(Some(ip("10.200.0.1"))));
    }

    #[test]
    fn without_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let none = TrustedProxies::None;
        assert_eq!(none.client_address(Some(ip("203.0.113.9")), ["198.51.100.1"]), Some(ip("203.0.113.9")));
        assert!(!none.trusts(Some(ip("127.0.0.1"))));
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_an_address() {
        let proxies = nets("10.0.0.0/8");
        let peer = Some(ip("203.0.113.9"));
        assert_eq!(proxies.client_address(peer, ["10.0.0.5"]), peer);
        assert!(!proxies.trusts(peer));
        assert!(!proxies.trusts(None));
    }

    #[test]
    fn the_chain_is_walked_past_trusted_proxies_only() {
        let proxies = nets("10.0.0.0/8, 192.168.0.0/16");
        let peer = Some(ip("10.0.0.2"));
        // The client forged its first entry; the load balancer and an inner proxy appended theirs.
        let chain = ["6.6.6.6, 198.51.100.7", "192.168.3.4"];
        assert_eq!(proxies.client_address(peer, chain), Some(ip("198.51.100.7")));
        // Only trusted hops: the leftmost is the best there is.
        assert_eq!(proxies.client_address(peer, ["192.168.1.1, 10.9.9.9"]), Some(ip("192.168.1.1")));
        // No header: the proxy itself.
        assert_eq!(proxies.client_address(peer, []), peer);
        // Garbage written by a trusted hop's client stops the walk at that hop.
        assert_eq!(proxies.client_address(peer, ["not-an-ip, 192.168.3.4"]), Some(ip("192.168.3.4")));
        // Ports, as some proxies write them, and IPv6.
        assert_eq!(proxies.client_address(peer, ["[2001:db8::1]:443"]), Some(ip("2001:db8::1")));
        assert_eq!(proxies.client_address(peer, ["198.51.100.7:5678"]), Some(ip("198.51.100.7")));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let proxies = nets("127.0.0.1");
        assert!(proxies.trusts(Some(ip("::ffff:127.0.0.1"))));
        assert_eq!(
            proxies.client_address(Some(ip("::ffff:127.0.0.1")), ["::ffff:198.51.100.7"]),
            Some(ip("198.51.100.7"))
        );
    }

    #[test]
    fn last_hop_takes_only_the_last_entry() {
        let last = TrustedProxies::LastHop;
        let peer = Some(ip("172.16.0.1"));
        assert_eq!(last.client_address(peer, ["6.6.6.6", "198.51.100.7"]), Some(ip("198.51.100.7")));
        assert_eq!(last.client_address(peer, ["garbage"]), peer);
        assert!(last.trusts(None));
    }
}
