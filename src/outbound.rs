//! The guard on connections Madang opens on a user's behalf (linked mail servers; later feed
//! URLs): against server-side request forgery, a user-given host name may not reach loopback,
//! private, link-local or other internal addresses unless an administrator allowed them.
//!
//! The name is resolved once, here, and the caller connects to the addresses returned, never to
//! the name again: a second resolution could answer differently (DNS rebinding). TLS still
//! verifies the certificate against the name.
//!
//! A foundation (`../shared/LAYERS.md`): no store, no HTTP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An IP network, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an IP address or network"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("`{s}`: prefix 0–{max}"))?,
        };
        Ok(Cidr { net: canonical(net), prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Parses `a, b/24, …` (commas or spaces); empty is none.
pub fn parse_list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split([',', ' ']).filter(|s| !s.trim().is_empty()).map(Cidr::from_str).collect()
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is an address a user-given host may not reach by default: anything but the
/// public unicast Internet.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT (RFC 6598): often a provider's internal network.
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 (RFC 6890 protocol assignments) and 198.18.0.0/15 (benchmarking).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        // 240.0.0.0/4, reserved.
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // 64:ff9b::/96 (NAT64) reaches whatever IPv4 address it embeds.
        || (first == 0x0064 && ip.segments()[1] == 0xff9b && {
            let [.., a, b, c, d] = ip.octets();
            internal_v4(Ipv4Addr::new(a, b, c, d))
        })
}

/// Why a host may not be connected to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("the name `{0}` could not be resolved: {1}")]
    Dns(String, String),
    #[error("`{host}` resolves to {ip}, an internal address; an administrator can allow it in `mail.allowed_networks`")]
    Internal { host: String, ip: IpAddr },
}

/// Which internal networks an administrator opened (`mail.allowed_networks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    pub allowed: Vec<Cidr>,
}

impl OutboundPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allowed.iter().any(|net| net.contains(ip))
    }

    /// The addresses `host:port` may be reached at, resolved once (see the module comment).
    /// Addresses the policy refuses are left out; none left is an error naming the first.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| OutboundError::Dns(host.to_string(), e.to_string()))?
                .collect(),
        };
        let Some(first) = found.first().copied() else {
            return Err(OutboundError::Dns(host.to_string(), "no address".into()));
        };
        let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| self.permits(a.ip())).collect();
        if allowed.is_empty() {
            return Err(OutboundError::Internal { host: host.to_string(), ip: first.ip() });
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    #[test]
    fn networks_parse_and_match() {
        let nets = parse_list("127.0.0.1, 10.0.0.0/8 fd00::/8").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[0].contains(ip("127.0.0.1")) && !nets[0].contains(ip("127.0.0.2")));
        assert!(nets[1].contains(ip("10.200.1.1")) && !nets[1].contains(ip("11.0.0.1")));
        assert!(nets[1].contains(ip("::ffff:10.0.0.1")), "mapped addresses match their IPv4 network");
        assert!(nets[2].contains(ip("fd12::1")) && !nets[2].contains(ip("fe80::1")));
        assert!(Cidr::from_str("0.0.0.0/0").unwrap().contains(ip("1.2.3.4")));
        for bad in ["10.0.0.0/33", "example.com", "10.0.0.0/x", "::/129"] {
            assert!(Cidr::from_str(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_list("").unwrap(), vec![]);
    }

    #[tokio::test]
    async fn resolve_refuses_internal_targets_unless_allowed() {
        let closed = OutboundPolicy::default();
        assert!(matches!(closed.resolve("127.0.0.1", 993).await, Err(OutboundError::Internal { .. })));
        assert!(matches!(closed.resolve("localhost", 993).await, Err(OutboundError::Internal { .. })));
        assert!(matches!(closed.resolve("[::1]", 993).await, Err(OutboundError::Internal { .. })));
        let open = OutboundPolicy { allowed: parse_list("127.0.0.1").unwrap() };
        assert_eq!(open.resolve("127.0.0.1", 993).await.unwrap(), vec!["127.0.0.1:993".parse().unwrap()]);
        assert!(matches!(open.resolve("no-such-host.invalid", 993).await, Err(OutboundError::Dns(..))));
    }
}
