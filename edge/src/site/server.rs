//! The web port: HTTP/1.1 (hyper), optionally over TLS (tokio-rustls), in front of
//! [`super::respond`], guarded like the broker's door (`crate::doors`).
//!
//! hyper reads and limits the request head, keeps connections alive and writes the
//! responses; the site's logic stays an I/O-free function of the head. What the door
//! enforces here:
//! - at most `doors::files::PER_ADDRESS` connections per address, and a total that keeps
//!   descriptors for everything else (checked at accept, `doors::listen`);
//! - the TLS handshake and then each request head must arrive within
//!   [`HEADER_TIMEOUT`] (hyper's header read timeout, which also closes a keep-alive
//!   connection idle that long); one that never does is counted as `header_timeout`;
//! - a request head of at most [`MAX_HEAD`] (hyper answers 431 beyond it).
//!
//! The hand-written server this replaced kept a connection that sent one header line and
//! then nothing for ever: 1,130 of them took every descriptor of an edge with the usual
//! limit of 1,024.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    body::Incoming,
    header::{self, HeaderValue},
    server::conn::http1,
    service::service_fn,
    Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
};

use super::{accepts, basic_login, respond, Head, Reply, Site};
use crate::doors::{self, limit::ConnLimit, Door, Reason};

pub use crate::doors::HEADER_TIMEOUT;

/// Largest request head read (hyper's read buffer); browsers send well under 2 KB.
pub const MAX_HEAD: usize = 16 * 1024;

/// Serves connections from `listener` until the task is dropped; HTTPS with `tls`.
pub async fn serve(
    listener: TcpListener,
    site: Arc<Site>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limit: ConnLimit,
) {
    serve_with(listener, site, tls, limit, HEADER_TIMEOUT).await
}

/// [`serve`] with another header timeout (the tests' is short).
async fn serve_with(
    listener: TcpListener,
    site: Arc<Site>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limit: ConnLimit,
    header_timeout: Duration,
) {
    let keeper = site.keeper.clone();
    doors::listen::serve(listener, Door::Http, limit, keeper, move |stream, peer| {
        let (site, tls) = (site.clone(), tls.clone());
        async move {
            let _ = stream.set_nodelay(true);
            let ended = match tls {
                None => connection(stream, peer, &site, header_timeout).await,
                Some(tls) => match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
                    Ok(Ok(secure)) => connection(secure, peer, &site, header_timeout).await,
                    Ok(Err(e)) => Ended::Failed(e.to_string()),
                    Err(_) => Ended::HeaderTimeout,
                },
            };
            match ended {
                Ended::Closed => {}
                Ended::HeaderTimeout => site.keeper.refused.count(Door::Http, Reason::HeaderTimeout),
                Ended::Failed(error) => tracing::debug!(%peer, error, "http connection ended"),
            }
        }
    })
    .await
}

/// How a connection ended.
enum Ended {
    /// The client closed it, or it was idle after its requests.
    Closed,
    /// No request head (or TLS handshake) within the timeout: refused.
    HeaderTimeout,
    Failed(String),
}

/// One connection's requests, in turn, until it closes or stays silent too long.
async fn connection<S>(stream: S, peer: SocketAddr, site: &Arc<Site>, header_timeout: Duration) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Whether any request head arrived: a timeout after one is only an idle keep-alive.
    let asked = Arc::new(AtomicBool::new(false));
    let service = {
        let (site, asked) = (site.clone(), asked.clone());
        service_fn(move |request: Request<Incoming>| {
            let site = site.clone();
            asked.store(true, Relaxed);
            async move { Ok::<_, Infallible>(into_response(respond(&site, &head(&request, peer)).await)) }
        })
    };
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    match served {
        Ok(()) => Ended::Closed,
        Err(e) if e.is_timeout() && !asked.load(Relaxed) => Ended::HeaderTimeout,
        Err(e) if e.is_timeout() => Ended::Closed,
        Err(e) => Ended::Failed(e.to_string()),
    }
}

/// What the site reads of a request.
fn head(request: &Request<Incoming>, peer: SocketAddr) -> Head {
    let headers = request.headers();
    // A header sent several times is one list.
    let all = |name: header::HeaderName| {
        let values: Vec<&str> = headers.get_all(&name).iter().filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let encodings = all(header::ACCEPT_ENCODING).unwrap_or_default();
    Head {
        method: request.method().as_str().to_string(),
        path: request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string(),
        brotli: accepts(&encodings, "br"),
        gzip: accepts(&encodings, "gzip"),
        if_none_match: all(header::IF_NONE_MATCH),
        login: headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(basic_login),
        peer,
    }
}

/// The site's reply for hyper. A HEAD's body is left out; its `Content-Length` stays.
fn into_response(reply: Reply) -> Response<Full<Bytes>> {
    let body = if reply.head_only { Bytes::new() } else { reply.body };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        // The site's own values (types, validators, numbers): always valid.
        if let Ok(value) = HeaderValue::try_from(value) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doors::{Doorkeeper, Login};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    fn site(root: std::path::PathBuf, logins: Vec<Login>) -> Arc<Site> {
        Arc::new(Site {
            files: crate::site::Files::Dir(root),
            edge_json: "{\"a\":1}".into(),
            meters: vec![],
            cameras: Box::new(String::new),
            logins,
            keeper: Arc::new(Doorkeeper::default()),
            watchers: None,
            broker: None,
            recordings: Vec::new(),
        })
    }

    async fn start(site: Arc<Site>, header_timeout: Duration) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limit = ConnLimit::new(64, 64);
        (addr, tokio::spawn(serve_with(listener, site, None, limit, header_timeout)))
    }

    /// Reads one response (head and, unless `head_only`, a body of its Content-Length).
    async fn response(s: &mut TcpStream, head_only: bool) -> (String, Vec<u8>) {
        let mut raw = Vec::new();
        let mut b = [0u8; 4096];
        let end = loop {
            if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0, "closed before a whole head: {}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&b[..n]);
        };
        let head = String::from_utf8(raw[..end].to_vec()).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        let want = if head_only { 0 } else { len };
        let mut body = raw[end..].to_vec();
        while body.len() < want {
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0);
            body.extend_from_slice(&b[..n]);
        }
        (head, body)
    }

    #[tokio::test]
    async fn files_head_and_revalidation_over_keep_alive_as_before() {
        let dir = std::env::temp_dir().join(format!("edge-site-server-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<p>page").unwrap();
        // Larger than the read buffer and the socket's: written whole all the same.
        let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("app-0123456789abcdef_bg.wasm"), &big).unwrap();
        let (addr, server) = start(site(dir.clone(), vec![]), HEADER_TIMEOUT).await;
        let mut s = TcpStream::connect(addr).await.unwrap();

        s.write_all(b"GET /app-0123456789abcdef_bg.wasm HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (head, body) = response(&mut s, false).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("content-type: application/wasm\r\n") && head.contains("immutable"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff\r\n"), "{head}");
        assert_eq!(body, big);

        // The same connection: HEAD says the length and sends no body.
        s.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (head, body) = response(&mut s, true).await;
        assert!(head.contains("content-length: 7\r\n") && body.is_empty(), "{head}");
        let tag = head.lines().find_map(|l| l.strip_prefix("etag: ")).expect("an ETag").to_string();

        s.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: {tag}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (head, body) = response(&mut s, true).await;
        assert!(head.starts_with("HTTP/1.1 304") && !head.contains("content-length"), "{head}");
        assert!(body.is_empty());

        s.write_all(b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let (head, _) = response(&mut s, false).await;
        assert!(head.starts_with("HTTP/1.1 405"), "{head}");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "closed after Connection: close");
        server.abort();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_request_head_that_never_ends_is_dropped_and_counted_but_an_idle_keep_alive_is_not() {
        let site = site(std::env::temp_dir(), vec![]);
        let (addr, server) = start(site.clone(), Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (head, body) = response(&mut idle, false).await;
        assert!(head.starts_with("HTTP/1.1 200") && body == b"ok\n", "{head}");
        for s in [&mut half, &mut idle] {
            let mut rest = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
            assert!(read.is_ok(), "closed by the server");
        }
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(280) && took < Duration::from_secs(3), "{took:?}");
        assert_eq!(
            site.keeper.refused.get(Door::Http, Reason::HeaderTimeout),
            1,
            "the idle one is not counted"
        );
        server.abort();
    }

    #[tokio::test]
    async fn a_head_over_the_limit_is_refused() {
        let (addr, server) = start(site(std::env::temp_dir(), vec![]), HEADER_TIMEOUT).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let long = "a".repeat(MAX_HEAD + 1024);
        s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: {long}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw)).await.unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 431"), "{text}");
        server.abort();
    }

    #[tokio::test]
    async fn wrong_logins_wait_like_mqtt_ones_and_too_many_are_refused_with_retry_after() {
        use base64::Engine;
        let site = site(std::env::temp_dir(), vec![Login::new("viewer", "s3cret")]);
        let (addr, server) = start(site.clone(), HEADER_TIMEOUT).await;
        let ask = |login: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let basic = base64::engine::general_purpose::STANDARD.encode(login);
            let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic}\r\nConnection: close\r\n\r\n");
            s.write_all(request.as_bytes()).await.unwrap();
            response(&mut s, false).await.0
        };
        let started = std::time::Instant::now();
        for i in 0..6 {
            let head = ask("viewer:wrong").await;
            assert!(
                head.starts_with("HTTP/1.1 401") && head.contains("www-authenticate: Basic"),
                "{i}: {head}"
            );
        }
        // Five free, the sixth held 0.5 s after them.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(450), "{took:?}");
        assert_eq!(site.keeper.refused.get(Door::Http, Reason::WrongLogin), 6);
        // A burst queues behind them; beyond 30 s of queue, refused unchecked with 429.
        let burst: Vec<_> = (0..12).map(|_| tokio::spawn(ask("viewer:wrong"))).collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let head = ask("viewer:s3cret").await;
        assert!(head.starts_with("HTTP/1.1 429") && head.contains("retry-after: "), "{head}");
        assert!(site.keeper.refused.get(Door::Http, Reason::ThrottledLogin) >= 1);
        burst.iter().for_each(|b| b.abort());
        server.abort();
    }
}
