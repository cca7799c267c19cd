//! How to reach a broker: a [`BrokerUrl`], parsed from `--broker` and `--viewer-broker`
//! (and the file's `broker`), shown again in logs and the banner.
//!
//! A file of its own because the publishers, the banner and the wiring all read it, and
//! none of them needs the rest of the options to do so.

use std::str::FromStr;

/// How to reach a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerUrl {
    /// MQTT over TCP, over TLS if `tls` (mqtts://).
    Tcp { host: String, port: u16, tls: bool },
    /// MQTT over WebSocket; `url` is the whole `ws://` or `wss://` URL.
    Ws { url: String, tls: bool },
}

impl FromStr for BrokerUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("broker URL {s:?} needs a scheme: mqtt://host:1883 or ws://host:9001/mqtt")
        })?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(format!("broker URL {s:?} has no host"));
        }
        let bad_port = |p: &str| format!("broker URL {s:?} has a bad port {p:?}");
        let (host, port) = match authority.strip_prefix('[') {
            // [v6-address]:port
            Some(v6) => {
                let (h, after) =
                    v6.split_once(']').ok_or_else(|| format!("broker URL {s:?} has an unclosed '['"))?;
                let port = match after.strip_prefix(':') {
                    Some(p) => Some(p.parse::<u16>().map_err(|_| bad_port(p))?),
                    None if after.is_empty() => None,
                    None => return Err(bad_port(after)),
                };
                (h.to_string(), port)
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.parse::<u16>().map_err(|_| bad_port(p))?)),
                None => (authority.to_string(), None),
            },
        };
        if host.is_empty() {
            return Err(format!("broker URL {s:?} has no host"));
        }
        match scheme {
            "mqtt" | "tcp" => Ok(BrokerUrl::Tcp { host, port: port.unwrap_or(1883), tls: false }),
            "mqtts" | "ssl" => Ok(BrokerUrl::Tcp { host, port: port.unwrap_or(8883), tls: true }),
            "ws" => Ok(BrokerUrl::Ws { url: s.to_string(), tls: false }),
            "wss" => Ok(BrokerUrl::Ws { url: s.to_string(), tls: true }),
            other => Err(format!(
                "broker URL scheme {other:?} is not supported: use mqtt://, mqtts://, ws:// or wss://"
            )),
        }
    }
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrokerUrl::Tcp { host, port, tls } => {
                let scheme = if *tls { "mqtts" } else { "mqtt" };
                match host.contains(':') {
                    true => write!(f, "{scheme}://[{host}]:{port}"),
                    false => write!(f, "{scheme}://{host}:{port}"),
                }
            }
            BrokerUrl::Ws { url, .. } => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_by_scheme() {
        assert_eq!(
            "mqtt://broker.local".parse::<BrokerUrl>().unwrap(),
            BrokerUrl::Tcp { host: "broker.local".into(), port: 1883, tls: false }
        );
        assert_eq!(
            "tcp://10.0.0.2:1884".parse::<BrokerUrl>().unwrap(),
            BrokerUrl::Tcp { host: "10.0.0.2".into(), port: 1884, tls: false }
        );
        assert_eq!(
            "mqtt://[::1]:1883".parse::<BrokerUrl>().unwrap(),
            BrokerUrl::Tcp { host: "::1".into(), port: 1883, tls: false }
        );
        assert_eq!(
            "ws://h:9001/mqtt".parse::<BrokerUrl>().unwrap(),
            BrokerUrl::Ws { url: "ws://h:9001/mqtt".into(), tls: false }
        );
        assert_eq!(
            "mqtts://h".parse::<BrokerUrl>().unwrap(),
            BrokerUrl::Tcp { host: "h".into(), port: 8883, tls: true }
        );
        assert_eq!(
            "wss://h/mqtt".parse::<BrokerUrl>().unwrap(),
            BrokerUrl::Ws { url: "wss://h/mqtt".into(), tls: true }
        );
        assert_eq!("mqtts://h:8884".parse::<BrokerUrl>().unwrap().to_string(), "mqtts://h:8884");
        assert!("http://h".parse::<BrokerUrl>().is_err());
        assert!("h:1883".parse::<BrokerUrl>().is_err());
        assert!("mqtt://h:notaport".parse::<BrokerUrl>().is_err());
        assert!("mqtt://".parse::<BrokerUrl>().is_err());
    }
}
