//! The WebSocket listener's handshake: MQTT over WebSocket as a byte stream.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::broker::origin::Origins;

/// The server half of the WebSocket handshake, as a byte stream of binary messages:
/// refuses pages of other websites (403, telling `refused` the page's origin), and
/// chooses the `mqtt` subprotocol when the client offers it (browsers fail the handshake
/// otherwise). The handshake must finish within `timeout`.
pub(super) async fn accept<S>(
    stream: S,
    origins: &Origins,
    refused: &(dyn Fn(&str) + Sync),
    timeout: Duration,
) -> std::io::Result<impl AsyncRead + AsyncWrite + Unpin + Send>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    // The error type is tungstenite's callback signature, not ours to shrink.
    #[allow(clippy::result_large_err)]
    let choose_mqtt = |request: &Request, mut response: Response| {
        let header = |name| request.headers().get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let origin = header("origin");
        if !origins.allows(origin, header("host")) {
            refused(origin.unwrap_or_default());
            let mut refusal =
                ErrorResponse::new(Some("this page's origin may not open the camera's broker\n".into()));
            *refusal.status_mut() = async_tungstenite::tungstenite::http::StatusCode::FORBIDDEN;
            return Err(refusal);
        }
        let offered = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("mqtt"));
        if offered {
            response.headers_mut().insert("sec-websocket-protocol", "mqtt".parse().expect("static header"));
        }
        Ok(response)
    };
    let ws = tokio::time::timeout(timeout, async_tungstenite::tokio::accept_hdr_async(stream, choose_mqtt))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "WebSocket handshake timed out"))?
        .map_err(std::io::Error::other)?;
    Ok(ws_stream_tungstenite::WsStream::new(ws))
}
