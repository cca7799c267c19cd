//! A camera's MQTT client: its connection options from the broker URL and login, a
//! one-off probe that says why an external broker refuses the edge (each of them, when
//! there are several), and its topics.

use std::{sync::Arc, time::Duration};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, TlsConfiguration, Transport};
use wire::ack::Rendition;

use crate::{broker::MAX_PAYLOAD, config::BrokerUrl};

/// rumqttc options for a broker URL, a login and, for mqtts:// and wss://, the TLS
/// client settings (required for those).
pub fn options(
    url: &BrokerUrl,
    client_id: &str,
    login: Option<(String, String)>,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> MqttOptions {
    let tls = || TlsConfiguration::Rustls(tls.clone().expect("TLS settings for a TLS broker URL"));
    let mut opts = match url {
        BrokerUrl::Tcp { host, port, tls: secure } => {
            let mut o = MqttOptions::new(client_id, host.clone(), *port);
            if *secure {
                o.set_transport(Transport::Tls(tls()));
            }
            o
        }
        BrokerUrl::Ws { url, tls: secure } => {
            // rumqttc takes the whole URL as the host for WebSocket and ignores the port.
            let mut o = MqttOptions::new(client_id, url.clone(), 0);
            o.set_transport(if *secure { Transport::Wss(tls()) } else { Transport::Ws });
            o
        }
    };
    if let Some((username, password)) = login {
        opts.set_credentials(username, password);
    }
    // rumqttd's WebSocket listener refuses keep-alive 0; 15 s notices a dead broker soon.
    opts.set_keep_alive(Duration::from_secs(15));
    // rumqttc's default limit is 10 KiB: a frame is 100× that.
    opts.set_max_packet_size(MAX_PAYLOAD + 1024, MAX_PAYLOAD + 1024);
    opts
}

/// Why the edge cannot publish to an external broker, found at startup: each broker
/// given and why it failed, in the order given.
#[derive(Debug, thiserror::Error)]
pub struct ProbeError {
    /// The broker's address or URL (without a login), and what went wrong there.
    pub failures: Vec<(String, Refused)>,
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.failures[..] {
            [(broker, why)] => write!(f, "cannot connect to broker {broker}: {why}"),
            all => {
                write!(f, "cannot connect to any of the {} brokers:", all.len())?;
                for (i, (broker, why)) in all.iter().enumerate() {
                    write!(f, "{} {broker}: {why}", if i == 0 { "" } else { ";" })?;
                }
                Ok(())
            }
        }
    }
}

/// What went wrong with the probe's connection.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("no answer within 10 s")]
    NoAnswer,
    #[error("it refused the login: wrong --username or --password")]
    BadLogin,
    #[error("it refused the connection: not authorized (a login needed? --username/--password)")]
    NotAuthorized,
    #[error("it refused the connection: {0:?}")]
    Other(rumqttc::ConnectReturnCode),
    #[error("{0}")]
    Connection(Box<rumqttc::ConnectionError>),
}

/// The broker's address as the logs and errors show it: `host:port`, or the WebSocket
/// URL without any `user:password@` in it.
pub fn address(opts: &MqttOptions) -> String {
    let (host, port) = opts.broker_address();
    if port != 0 {
        return format!("{host}:{port}");
    }
    match host.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => host,
            }
        }
        None => host,
    }
}

/// Probes each broker in order (the same client, several URLs) and returns the index
/// of the first that accepts the edge; when none does, why each one failed.
pub async fn probe_each(brokers: &[MqttOptions]) -> Result<usize, ProbeError> {
    let mut failures = Vec::new();
    for (i, opts) in brokers.iter().enumerate() {
        match probe(opts).await {
            Ok(()) => {
                if !failures.is_empty() {
                    let skipped = ProbeError { failures };
                    tracing::warn!(broker = %address(opts), "starting on a later broker; {skipped}");
                }
                return Ok(i);
            }
            Err(e) => failures.extend(e.failures),
        }
    }
    Err(ProbeError { failures })
}

/// Connects to an external broker once, with the edge's settings, and says in one line
/// why that failed: unreachable, TLS, or a refused login.
pub async fn probe(opts: &MqttOptions) -> Result<(), ProbeError> {
    let broker = address(opts);
    let mut opts = opts.clone();
    opts.set_client_id(format!("{}-probe", opts.client_id()));
    opts.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(opts, 1);
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let why = match outcome {
        Ok(Ok(())) => {
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
            return Ok(());
        }
        Err(_) => Refused::NoAnswer,
        Ok(Err(rumqttc::ConnectionError::ConnectionRefused(code))) => match code {
            rumqttc::ConnectReturnCode::BadUserNamePassword => Refused::BadLogin,
            rumqttc::ConnectReturnCode::NotAuthorized => Refused::NotAuthorized,
            other => Refused::Other(other),
        },
        Ok(Err(e)) => Refused::Connection(Box::new(e)),
    };
    Err(ProbeError { failures: vec![(broker, why)] })
}

/// Topics one edge publishes on.
#[derive(Debug, Clone)]
pub struct Topics {
    pub prefix: String,
    pub camera: String,
    pub frame: String,
    /// The smaller renditions' topics.
    pub half: String,
    pub quarter: String,
    /// The small, slow rendition for grid tiles.
    pub preview: String,
    /// Retained online/offline status; also the last will.
    pub status: String,
}

impl Topics {
    /// A rendition's topic.
    pub fn of(&self, rendition: Rendition) -> &str {
        match rendition {
            Rendition::Full => &self.frame,
            Rendition::Half => &self.half,
            Rendition::Quarter => &self.quarter,
        }
    }

    pub fn new(prefix: &str, camera: &str) -> Self {
        Topics {
            prefix: prefix.to_string(),
            camera: camera.to_string(),
            frame: wire::topic::frame(prefix, camera),
            half: wire::topic::rendition(prefix, camera, Rendition::Half),
            quarter: wire::topic::rendition(prefix, camera, Rendition::Quarter),
            preview: wire::topic::preview(prefix, camera),
            status: wire::topic::status(prefix, camera),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_become_ws_transport() {
        let o = options(&BrokerUrl::Ws { url: "ws://h:9001/mqtt".into(), tls: false }, "id", None, None);
        assert!(matches!(o.transport(), Transport::Ws));
        assert_eq!(o.broker_address().0, "ws://h:9001/mqtt");
        let o = options(&BrokerUrl::Tcp { host: "h".into(), port: 1884, tls: false }, "id", None, None);
        assert_eq!(o.broker_address(), ("h".to_string(), 1884));
        assert!(o.credentials().is_none());
    }

    #[test]
    fn tls_urls_and_logins_reach_rumqttc() {
        let tls = Some(crate::tls::client_config(None).unwrap_or_else(|_| {
            // No system roots on this machine: any CA file will do for this check.
            let key = rcgen::KeyPair::generate().unwrap();
            let ca = rcgen::CertificateParams::new(vec!["x".into()]).unwrap().self_signed(&key).unwrap();
            let path = std::env::temp_dir().join(format!("edge-publish-test-ca-{}.pem", std::process::id()));
            std::fs::write(&path, ca.pem()).unwrap();
            crate::tls::client_config(Some(&path)).unwrap()
        }));
        let login = Some(("u".to_string(), "p".to_string()));
        let o =
            options(&BrokerUrl::Tcp { host: "h".into(), port: 8883, tls: true }, "id", login, tls.clone());
        assert!(matches!(o.transport(), Transport::Tls(TlsConfiguration::Rustls(_))));
        assert_eq!(o.credentials().map(|l| (l.username, l.password)), Some(("u".into(), "p".into())));
        let o = options(&BrokerUrl::Ws { url: "wss://h/mqtt".into(), tls: true }, "id", None, tls);
        assert!(matches!(o.transport(), Transport::Wss(TlsConfiguration::Rustls(_))));
    }

    #[test]
    fn addresses_in_logs_carry_no_login() {
        let ws = |url: &str| options(&BrokerUrl::Ws { url: url.into(), tls: false }, "id", None, None);
        assert_eq!(address(&ws("ws://u:secret@h:9001/mqtt")), "ws://h:9001/mqtt");
        assert_eq!(address(&ws("ws://h:9001/a@b")), "ws://h:9001/a@b");
        let tcp = options(&BrokerUrl::Tcp { host: "h".into(), port: 1884, tls: false }, "id", None, None);
        assert_eq!(address(&tcp), "h:1884");
    }

    #[test]
    fn a_failed_probe_of_several_brokers_names_each_in_one_line() {
        let one = ProbeError { failures: vec![("a:1".into(), Refused::NoAnswer)] };
        assert_eq!(one.to_string(), "cannot connect to broker a:1: no answer within 10 s");
        let two = ProbeError {
            failures: vec![("a:1".into(), Refused::NoAnswer), ("b:2".into(), Refused::BadLogin)],
        };
        let text = two.to_string();
        assert_eq!(
            text,
            "cannot connect to any of the 2 brokers: a:1: no answer within 10 s; \
             b:2: it refused the login: wrong --username or --password"
        );
        assert!(!text.contains('\n'));
    }
}
