//! `rtsps://`: RTSP over TLS (UniFi Protect and some newer cameras). retina speaks RTSP
//! over plain TCP only, so the session is given a loopback port of ours, and this relays
//! what it sends to the camera over TLS, and back. RTP comes interleaved on the same
//! connection, so it is encrypted too (UDP does not apply).
//!
//! The TLS connection is made first, before the session starts: a certificate the edge
//! does not trust is then one clear line, not a session that ends for no stated reason.

use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};

/// Port of `rtsps://` when the URL names none (RFC 2326).
const RTSPS_PORT: u16 = 322;

/// Why the TLS connection failed, and whether it is the certificate.
pub struct Failed {
    pub why: String,
    pub certificate: bool,
}

/// Connects to the camera at `camera` (an `rtsps://` URL) over TLS, checking its
/// certificate against the system's roots unless `verify` is off, and returns the
/// `rtsp://127.0.0.1:PORT/…` URL the session should use instead.
pub async fn relay(camera: &url::Url, verify: bool) -> Result<url::Url, Failed> {
    let plain = |why: String| Failed { why, certificate: false };
    let host = camera.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
    let port = camera.port().unwrap_or(RTSPS_PORT);
    let config = match verify {
        true => crate::tls::client_config(None),
        false => crate::tls::client_config_unverified(),
    }
    .map_err(|e| plain(e.to_string()))?;
    let name = ServerName::try_from(host.clone()).map_err(|e| plain(format!("{host}: {e}")))?;
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| plain(format!("cannot connect to {host}:{port}: {e}")))?;
    let mut tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| {
        let certificate = e.to_string().contains("certificate");
        let why = match (certificate, verify) {
            (true, true) => format!(
                "the camera's TLS certificate is not trusted ({e}); a camera with a \
                 certificate of its own (most are) needs tls_verify=no: still encrypted, \
                 but not checked"
            ),
            _ => format!("TLS with the camera failed: {e}"),
        };
        Failed { why, certificate }
    })?;
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| plain(e.to_string()))?;
    let local = listener.local_addr().map_err(|e| plain(e.to_string()))?;
    tokio::spawn(async move {
        // The session connects at once; the port takes one connection and closes.
        let Ok(Ok((mut session, _))) = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await
        else {
            return;
        };
        drop(listener);
        let _ = tokio::io::copy_bidirectional(&mut session, &mut tls).await;
    });
    let mut url = camera.clone();
    let _ = url.set_scheme("rtsp");
    let _ = url.set_host(Some("127.0.0.1"));
    let _ = url.set_port(Some(local.port()));
    Ok(url)
}
