//! Which web pages may open the embedded broker's WebSocket: the `Origin` check.
//!
//! A browser lets any page it shows open a WebSocket to any address, and it sends the
//! viewer's cookies and network position along (cross-site WebSocket hijacking): without
//! this check, any website someone on the LAN opens could subscribe to the camera and
//! send the frames anywhere. The browser cannot lie about `Origin`, so the gate answers
//! a WebSocket upgrade with 403 unless the page that asks is:
//! - the edge's own site: the site's scheme and port, on the host name the request was
//!   addressed to (`Host`) or on a loopback address, so every name and address the page
//!   is served on works (LAN address, `localhost`, `camera.local`, a DNS name);
//! - an origin given with `--allow-origin` (the viewer hosted on another static host),
//!   or any origin with `--allow-origin '*'`;
//! - or no browser at all: a request without `Origin` (native MQTT clients).
//!
//! Not covered: DNS rebinding (a site that points its own name at the camera's address
//! looks like the edge's own site); the login, on by default, is what stops that.
//! I/O-free: the gate passes in the two headers.

use std::net::IpAddr;

/// A web origin: scheme, host and port (defaults made explicit), all lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]`, as in an `Origin` header (no path, no user info).
    pub fn parse(s: &str) -> Result<Origin, String> {
        let bad =
            |why: &str| format!("origin {s:?} {why}: use scheme://host[:port], e.g. https://cams.example");
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("has no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("is not http:// or https://")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("is not just a scheme, host and port"));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| bad("has a bad port"))?;
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        Ok(Origin { scheme, host, port: port.unwrap_or(default_port) })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "{}://{host}:{}", self.scheme, self.port)
    }
}

/// `host[:port]` or `[v6]:port` → lowercase host without brackets, and the port if any;
/// `None` for a port that is not a number.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = match s.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?)),
            }
        }
        None => match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        },
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// An `--allow-origin` value: an origin, `*` (any) or `null` (pages from `file://` and
/// sandboxed frames, which send the literal origin `null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Any,
    Null,
    Exactly(Origin),
}

impl std::str::FromStr for Allowed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "*" => Ok(Allowed::Any),
            "null" => Ok(Allowed::Null),
            s => Origin::parse(s).map(Allowed::Exactly),
        }
    }
}

/// The WebSocket origin policy.
#[derive(Debug, Clone)]
pub struct Origins {
    /// `http` or `https`: how the edge serves its site.
    pub site_scheme: &'static str,
    /// The port the site is served on.
    pub site_port: u16,
    pub allowed: Vec<Allowed>,
}

impl Origins {
    /// Whether a WebSocket upgrade with these `Origin` and `Host` headers may proceed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin.map(str::trim) else { return true };
        if self.allowed.contains(&Allowed::Any) {
            return true;
        }
        if origin == "null" {
            return self.allowed.contains(&Allowed::Null);
        }
        let Ok(origin) = Origin::parse(origin) else { return false };
        if self.allowed.iter().any(|a| matches!(a, Allowed::Exactly(o) if *o == origin)) {
            return true;
        }
        if origin.scheme != self.site_scheme || origin.port != self.site_port {
            return false;
        }
        // The site's port on the very host the socket was opened to is the edge's site
        // (the edge owns that port on every address of the machine); so is loopback.
        let addressed = host.and_then(split_host_port).map(|(h, _)| h);
        addressed.as_deref() == Some(origin.host.as_str())
            || origin.host == "localhost"
            || origin.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(allowed: &[&str]) -> Origins {
        Origins {
            site_scheme: "http",
            site_port: 8080,
            allowed: allowed.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn the_edges_own_site_may_connect_by_any_name_it_was_reached_by() {
        let o = site(&[]);
        assert!(o.allows(Some("http://192.168.1.20:8080"), Some("192.168.1.20:9001")));
        assert!(o.allows(Some("http://Camera.Local:8080"), Some("camera.local:9001")));
        assert!(o.allows(Some("http://[fe80::1]:8080"), Some("[FE80::1]:9001")));
        assert!(o.allows(Some("http://localhost:8080"), Some("127.0.0.1:9001")));
        assert!(o.allows(Some("http://127.0.0.1:8080"), Some("192.168.1.20:9001")));
    }

    #[test]
    fn other_sites_are_refused() {
        let o = site(&[]);
        assert!(!o.allows(Some("http://evil.example"), Some("192.168.1.20:9001")));
        assert!(!o.allows(Some("http://evil.example:8080"), Some("192.168.1.20:9001")));
        // Same host, another port or scheme: another site.
        assert!(!o.allows(Some("http://192.168.1.20:8081"), Some("192.168.1.20:9001")));
        assert!(!o.allows(Some("https://192.168.1.20:8080"), Some("192.168.1.20:9001")));
        assert!(!o.allows(Some("http://127.0.0.1:3000"), Some("127.0.0.1:9001")));
        assert!(!o.allows(Some("null"), Some("127.0.0.1:9001")));
        assert!(!o.allows(Some("garbage"), Some("127.0.0.1:9001")));
        assert!(!o.allows(Some("http://192.168.1.20:8080"), None), "no Host: nothing to match");
    }

    #[test]
    fn requests_without_origin_are_not_from_a_browser_page() {
        assert!(site(&[]).allows(None, None));
    }

    #[test]
    fn allowed_origins_are_matched_exactly_with_default_ports() {
        let o = site(&["https://cams.example", "http://10.0.0.5:3000/"]);
        assert!(o.allows(Some("https://cams.example"), Some("cam:9001")));
        assert!(o.allows(Some("https://CAMS.example:443"), Some("cam:9001")));
        assert!(o.allows(Some("http://10.0.0.5:3000"), Some("cam:9001")));
        assert!(!o.allows(Some("http://cams.example"), Some("cam:9001")));
        assert!(!o.allows(Some("https://cams.example.evil.example"), Some("cam:9001")));
        assert!(site(&["*"]).allows(Some("http://anything.example"), None));
        assert!(site(&["null"]).allows(Some("null"), None));
    }

    #[test]
    fn bad_allow_origin_values_say_what_is_expected() {
        for bad in ["cams.example", "ftp://x", "https://x/path", "https://x:port", "https://", "https://u@x"]
        {
            let err = bad.parse::<Allowed>().unwrap_err();
            assert!(err.contains("scheme://host"), "{bad}: {err}");
        }
        assert_eq!(Origin::parse("https://[::1]:8443").unwrap().to_string(), "https://[::1]:8443");
    }
}
