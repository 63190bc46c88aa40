//! Relay URLs.

use core::fmt;
use std::sync::Arc;

use tokio_tungstenite::tungstenite::http::Uri;

use crate::error::{Error, Result};

/// A checked `ws://` or `wss://` relay URL. Cheap to clone.
///
/// The scheme and host are lowercased; everything else is kept as given, because NIP-42
/// `relay` tags and relay lists compare URLs as strings.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelayUrl(Arc<str>);

impl RelayUrl {
    /// Parses and checks a relay URL.
    ///
    /// # Errors
    /// [`Error::Url`] unless it is an absolute `ws://` or `wss://` URL with a host and no
    /// whitespace, user info or fragment.
    pub fn parse(url: &str) -> Result<RelayUrl> {
        let bad = |reason| Error::Url {
            url: url.to_owned(),
            reason,
        };
        if url.len() > 2048 {
            return Err(bad("longer than 2048 bytes"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        if url.contains('#') {
            return Err(bad("a fragment is not allowed"));
        }
        let uri: Uri = url.parse().map_err(|_| bad("not a valid URI"))?;
        let scheme = uri
            .scheme_str()
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| bad("missing scheme"))?;
        if scheme != "ws" && scheme != "wss" {
            return Err(bad("the scheme must be ws or wss"));
        }
        let authority = uri.authority().ok_or_else(|| bad("missing host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user info is not allowed"));
        }
        if authority.host().is_empty() {
            return Err(bad("missing host"));
        }
        let host = authority.host().to_ascii_lowercase();
        let port = authority
            .port()
            .map(|p| format!(":{}", p.as_str()))
            .unwrap_or_default();
        let path = uri.path_and_query().map_or("", |p| p.as_str());
        // `Uri` reports "/" for an empty path; keep what the caller wrote.
        let path = if path == "/" && !url.ends_with('/') {
            ""
        } else {
            path
        };
        Ok(RelayUrl(Arc::from(format!(
            "{scheme}://{host}{port}{path}"
        ))))
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host as written in the URL, lowercase; an IPv6 literal keeps its brackets.
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or(&*self.0, |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        if authority.starts_with('[') {
            return authority
                .find(']')
                .and_then(|i| authority.get(..=i))
                .unwrap_or(authority);
        }
        authority.split(':').next().unwrap_or(authority)
    }

    /// Whether the URL uses TLS (`wss://`).
    pub fn is_tls(&self) -> bool {
        self.0.starts_with("wss://")
    }
}

impl fmt::Display for RelayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelayUrl({})", self.0)
    }
}

impl core::str::FromStr for RelayUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        RelayUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ws_and_wss() {
        assert_eq!(
            RelayUrl::parse("ws://127.0.0.1:7777").unwrap().as_str(),
            "ws://127.0.0.1:7777"
        );
        assert_eq!(
            RelayUrl::parse("ws://127.0.0.1:7777/").unwrap().as_str(),
            "ws://127.0.0.1:7777/"
        );
        let u = RelayUrl::parse("WSS://Relay.Example.com/nostr?x=1").unwrap();
        assert_eq!(u.as_str(), "wss://relay.example.com/nostr?x=1");
        assert!(u.is_tls());
        assert_eq!(u.host(), "relay.example.com");
        assert_eq!(RelayUrl::parse("ws://[::1]:7/x").unwrap().host(), "[::1]");
        assert_eq!(RelayUrl::parse("ws://h:7?q").unwrap().host(), "h");
    }

    #[test]
    fn rejects_other_urls() {
        for bad in [
            "http://relay.example.com",
            "relay.example.com",
            "ws://",
            "ws://user@host",
            "ws://host/#frag",
            "ws://ho st",
            "",
        ] {
            let e = RelayUrl::parse(bad).unwrap_err();
            assert_eq!(e.kind().as_str(), "malformed", "{bad}");
        }
    }
}
