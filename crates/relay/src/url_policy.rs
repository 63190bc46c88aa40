//! Which relay URLs named by other users may be contacted: `ws://`/`wss://` only, and
//! no local, private or otherwise special-purpose addresses unless allowed.
//!
//! A hostile user can list any URL in a kind-10051 or kind-10002 event; without this
//! policy, a client that fetches from "their" relays can be made to connect to its own
//! machine or its local network (server-side request forgery). The check looks at the
//! URL only: a DNS name that resolves to a private address is NOT caught here (this
//! layer has no resolver; a resolver-level or connect-time check would be needed).

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::url::RelayUrl;

/// Why a relay URL was not contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlRefusal {
    /// Not a usable `ws://`/`wss://` URL (the parser's explanation).
    Malformed(String),
    /// `localhost`, `*.localhost`, or a name reserved for local networks (`*.local`,
    /// `*.home.arpa`, `*.internal`).
    LocalName,
    /// A host that is neither a DNS name nor a canonical IP literal but that resolvers
    /// read as a number (`2130706433`, `0x7f.1`, `127.1`, `0177.0.0.1`).
    NumericHost,
    /// 127.0.0.0/8 or ::1.
    Loopback,
    /// RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (or deprecated IPv6
    /// site-local fec0::/10).
    Private,
    /// 169.254.0.0/16 or fe80::/10.
    LinkLocal,
    /// IPv6 unique-local fc00::/7.
    UniqueLocal,
    /// Shared address space for carrier-grade NAT, 100.64.0.0/10.
    SharedAddress,
    /// 0.0.0.0/8 or :: (connecting to 0.0.0.0 reaches the local machine on Linux).
    Unspecified,
    /// 224.0.0.0/4 or ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240.0.0.0/4 (reserved for future use).
    Reserved,
    /// The URL was valid but the relay limit was already reached.
    OverLimit {
        /// The limit.
        max: usize,
    },
    /// Not one of the pool's relays (for [`crate::Pool::fetch`] with a relay subset).
    NotInPool,
}

impl fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlRefusal::Malformed(r) => write!(f, "malformed: {r}"),
            UrlRefusal::LocalName => f.write_str("a local host name"),
            UrlRefusal::NumericHost => f.write_str("a numeric host that is not a canonical IP"),
            UrlRefusal::Loopback => f.write_str("a loopback address"),
            UrlRefusal::Private => f.write_str("a private-network address"),
            UrlRefusal::LinkLocal => f.write_str("a link-local address"),
            UrlRefusal::UniqueLocal => f.write_str("a unique-local IPv6 address"),
            UrlRefusal::SharedAddress => f.write_str("a carrier-grade NAT address"),
            UrlRefusal::Unspecified => f.write_str("an unspecified address"),
            UrlRefusal::Multicast => f.write_str("a multicast address"),
            UrlRefusal::Broadcast => f.write_str("the broadcast address"),
            UrlRefusal::Reserved => f.write_str("a reserved address"),
            UrlRefusal::OverLimit { max } => write!(f, "over the limit of {max} relays"),
            UrlRefusal::NotInPool => f.write_str("not one of the pool's relays"),
        }
    }
}

/// Parses `url` and applies the policy: with `allow_private` false, local names and IP
/// literals in special-purpose ranges are refused. See the module docs for what is not
/// caught (DNS names resolving to private addresses).
///
/// # Errors
/// The [`UrlRefusal`] that applies.
pub fn check_relay_url(url: &str, allow_private: bool) -> Result<RelayUrl, UrlRefusal> {
    let parsed = RelayUrl::parse(url).map_err(|e| UrlRefusal::Malformed(e.to_string()))?;
    if allow_private {
        return Ok(parsed);
    }
    match classify_host(parsed.host()) {
        Some(refusal) => Err(refusal),
        None => Ok(parsed),
    }
}

/// The refusal that applies to a host as it appears in a URL (lowercase; IPv6 in
/// brackets), or `None` for a public DNS name or a global IP address.
pub(crate) fn classify_host(host: &str) -> Option<UrlRefusal> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(ip) => classify_ip(IpAddr::V6(ip)),
            Err(_) => Some(UrlRefusal::Malformed("invalid IPv6 literal".to_owned())),
        };
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return classify_ip(IpAddr::V4(ip));
    }
    if is_local_name(name) {
        return Some(UrlRefusal::LocalName);
    }
    // A resolver (inet_aton) reads `127.1`, `2130706433` or `0x7f.0.0.1` as IPv4. No DNS
    // name has a numeric last label, so any such host is refused outright.
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.is_empty() || last.bytes().all(|b| b.is_ascii_digit()) || is_hex_number(last) {
        return Some(UrlRefusal::NumericHost);
    }
    None
}

fn is_local_name(name: &str) -> bool {
    const LOCAL: [&str; 4] = ["localhost", "local", "home.arpa", "internal"];
    LOCAL.iter().any(|suffix| {
        name == *suffix
            || name
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

fn is_hex_number(label: &str) -> bool {
    label
        .strip_prefix("0x")
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn classify_ip(ip: IpAddr) -> Option<UrlRefusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<UrlRefusal> {
    let [a, b, _, _] = ip.octets();
    Some(match (a, b) {
        (0, _) => UrlRefusal::Unspecified,
        (127, _) => UrlRefusal::Loopback,
        (10, _) | (192, 168) => UrlRefusal::Private,
        (172, 16..=31) => UrlRefusal::Private,
        (169, 254) => UrlRefusal::LinkLocal,
        (100, 64..=127) => UrlRefusal::SharedAddress,
        (224..=239, _) => UrlRefusal::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => UrlRefusal::Broadcast,
        (240..=255, _) => UrlRefusal::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<UrlRefusal> {
    // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses reach the IPv4
    // address they embed.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    Some(if ip.is_unspecified() {
        UrlRefusal::Unspecified
    } else if ip.is_loopback() {
        UrlRefusal::Loopback
    } else if s[0] & 0xfe00 == 0xfc00 {
        UrlRefusal::UniqueLocal
    } else if s[0] & 0xffc0 == 0xfe80 {
        UrlRefusal::LinkLocal
    } else if s[0] & 0xffc0 == 0xfec0 {
        UrlRefusal::Private
    } else if s[0] & 0xff00 == 0xff00 {
        UrlRefusal::Multicast
    } else {
        return None;
    })
}

/// The key under which two URLs name the same relay: default ports and an empty path
/// are normalized away (`wss://r.example` = `wss://r.example:443/`).
pub(crate) fn dedup_key(url: &RelayUrl) -> String {
    let default_port = if url.is_tls() { ":443" } else { ":80" };
    let scheme = if url.is_tls() { "wss://" } else { "ws://" };
    let rest = url.as_str().strip_prefix(scheme).unwrap_or(url.as_str());
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    let path = if path.is_empty() { "/" } else { path };
    format!("{scheme}{authority}{path}")
}

/// Applies the policy to `urls` in order: refuses what the policy refuses, merges
/// duplicates (the first spelling is kept), and refuses everything past `max` distinct
/// relays.
pub(crate) fn select_urls<S: AsRef<str>>(
    urls: &[S],
    allow_private: bool,
    max: usize,
) -> (Vec<RelayUrl>, Vec<(String, UrlRefusal)>) {
    let mut chosen: Vec<RelayUrl> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut refused = Vec::new();
    for raw in urls {
        let raw = raw.as_ref();
        match check_relay_url(raw, allow_private) {
            Err(reason) => refused.push((raw.to_owned(), reason)),
            Ok(url) => {
                let key = dedup_key(&url);
                if keys.contains(&key) {
                    continue;
                }
                if chosen.len() >= max {
                    refused.push((raw.to_owned(), UrlRefusal::OverLimit { max }));
                    continue;
                }
                keys.push(key);
                chosen.push(url);
            }
        }
    }
    (chosen, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_table_refuses_local_and_special_hosts_and_allows_public_ones() {
        use UrlRefusal::*;
        let refused: &[(&str, UrlRefusal)] = &[
            ("ws://localhost:7777", LocalName),
            ("wss://LOCALHOST", LocalName),
            ("wss://localhost.", LocalName),
            ("wss://relay.localhost", LocalName),
            ("wss://a.b.localhost/x", LocalName),
            ("wss://printer.local", LocalName),
            ("wss://nas.home.arpa", LocalName),
            ("wss://db.internal", LocalName),
            ("ws://127.0.0.1:7777", Loopback),
            ("ws://127.255.255.254", Loopback),
            ("ws://[::1]:7777", Loopback),
            ("ws://[::ffff:127.0.0.1]", Loopback),
            ("ws://[::ffff:7f00:1]", Loopback),
            ("ws://[64:ff9b::a00:1]", Private),
            ("ws://10.0.0.1", Private),
            ("ws://10.255.255.255", Private),
            ("ws://172.16.0.1", Private),
            ("ws://172.31.255.255", Private),
            ("ws://192.168.1.1", Private),
            ("ws://[fec0::1]", Private),
            ("ws://169.254.169.254/latest", LinkLocal),
            ("ws://[fe80::1]", LinkLocal),
            ("ws://[febf::1]", LinkLocal),
            ("ws://[fc00::1]", UniqueLocal),
            ("ws://[fd12:3456::1]", UniqueLocal),
            ("ws://100.64.0.1", SharedAddress),
            ("ws://100.127.255.255", SharedAddress),
            ("ws://0.0.0.0:7777", Unspecified),
            ("ws://0.1.2.3", Unspecified),
            ("ws://[::]", Unspecified),
            ("ws://224.0.0.1", Multicast),
            ("ws://239.255.255.250", Multicast),
            ("ws://[ff02::1]", Multicast),
            ("ws://255.255.255.255", Broadcast),
            ("ws://240.0.0.1", Reserved),
            ("ws://2130706433", NumericHost),
            ("ws://0x7f000001", NumericHost),
            ("ws://0x7f.1", NumericHost),
            ("ws://127.1", NumericHost),
            ("ws://0177.0.0.1", NumericHost),
            ("ws://127.0.0.1.:7777", Loopback),
        ];
        for (url, want) in refused {
            let got = check_relay_url(url, false);
            assert_eq!(got.as_ref().err(), Some(want), "{url}");
            // Every one of them is allowed with `allow_private`.
            assert!(
                check_relay_url(url, true).is_ok(),
                "{url} with allow_private"
            );
        }
        for url in [
            "wss://relay.example.com",
            "wss://relay.example.com:4443/nostr?x=1",
            "ws://8.8.8.8:7777",
            "ws://100.63.255.255",
            "ws://100.128.0.1",
            "ws://172.15.255.255",
            "ws://172.32.0.1",
            "ws://169.253.0.1",
            "ws://[2001:db8::1]",
            "ws://[2606:4700::1111]",
            "wss://localhost.example.com",
            "wss://mylocalhost",
            "wss://local.example",
            "wss://123.example.com",
            "ws://8.8.8.8.",
        ] {
            assert!(check_relay_url(url, false).is_ok(), "{url}");
        }
        for url in [
            "http://relay.example.com",
            "relay.example.com",
            "wss://u@h",
            "",
        ] {
            assert!(
                matches!(check_relay_url(url, true), Err(Malformed(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn duplicates_merge_and_the_limit_refuses_the_rest_in_order() {
        let urls = [
            "wss://a.example",
            "wss://A.example/",
            "wss://a.example:443",
            "ws://127.0.0.1:1",
            "wss://b.example",
            "wss://c.example",
            "wss://d.example",
            "not a url",
        ];
        let (chosen, refused) = select_urls(&urls, false, 2);
        let chosen: Vec<&str> = chosen.iter().map(RelayUrl::as_str).collect();
        assert_eq!(chosen, ["wss://a.example", "wss://b.example"]);
        let refused: Vec<(&str, &UrlRefusal)> =
            refused.iter().map(|(u, r)| (u.as_str(), r)).collect();
        assert_eq!(refused[0], ("ws://127.0.0.1:1", &UrlRefusal::Loopback));
        assert_eq!(
            refused[1..3],
            [
                ("wss://c.example", &UrlRefusal::OverLimit { max: 2 }),
                ("wss://d.example", &UrlRefusal::OverLimit { max: 2 }),
            ]
        );
        assert!(matches!(
            refused[3],
            ("not a url", UrlRefusal::Malformed(_))
        ));
        assert_eq!(refused.len(), 4);
    }

    #[test]
    fn dedup_keys_ignore_default_ports_and_an_empty_path() {
        let k = |s: &str| dedup_key(&RelayUrl::parse(s).unwrap());
        assert_eq!(k("wss://r.example"), k("wss://r.example:443/"));
        assert_eq!(k("ws://r.example"), k("ws://r.example:80"));
        assert_ne!(k("ws://r.example"), k("wss://r.example"));
        assert_ne!(k("wss://r.example:444"), k("wss://r.example"));
        assert_ne!(k("wss://r.example/a"), k("wss://r.example/b"));
    }
}
