//! The viewer site over HTTP: static files plus `/edge.json`, which tells the page where
//! the broker is so it connects without any query parameters, and `/stats.json`, the
//! edge's counters for monitoring and benchmarks.
//!
//! A deliberately small HTTP/1.1 server (GET and HEAD, keep-alive, no directory
//! listings): it only ever serves a handful of files to a handful of browsers, and the
//! site stays an ordinary static directory any other web server can host instead.

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// What the site serves.
pub struct Site {
    pub root: PathBuf,
    /// Body of `/edge.json`.
    pub edge_json: String,
    /// Source of `/stats.json`.
    /// Each camera's counters (by name).
    pub meters: Vec<(String, std::sync::Arc<crate::meter::Meter>)>,
}

/// Largest request head accepted; browsers send well under 2 KB.
const MAX_HEAD: usize = 16 * 1024;
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(30);

/// Serves connections from `listener` until the task is dropped; HTTPS with `tls`.
pub async fn serve(listener: TcpListener, site: Arc<Site>, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let (site, tls) = (site.clone(), tls.clone());
                tokio::spawn(async move {
                    let served = match tls {
                        None => connection(stream, &site).await,
                        Some(tls) => match tokio::time::timeout(IDLE, tls.accept(stream)).await {
                            Ok(Ok(secure)) => connection(secure, &site).await,
                            Ok(Err(e)) => Err(e),
                            Err(_) => Ok(()),
                        },
                    };
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "http connection ended");
                    }
                });
            }
            Err(e) => {
                // Usually EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection<S>(stream: S, site: &Site) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    loop {
        let Ok(head) = tokio::time::timeout(IDLE, read_head(&mut read)).await else {
            return Ok(());
        };
        let Some(head) = head? else { return Ok(()) };
        let response = respond(site, &head).await;
        write.write_all(&response).await?;
        if head.close {
            // Over TLS this sends close_notify, so the client sees a clean end.
            return write.shutdown().await;
        }
    }
}

struct Head {
    method: String,
    path: String,
    close: bool,
}

/// Reads one request head; `None` at a clean end of stream.
async fn read_head<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Head>> {
    let mut line = String::new();
    let mut total = 0;
    let mut request_line = None;
    let mut close = false;
    loop {
        line.clear();
        let n = r.read_line(&mut line).await?;
        if n == 0 {
            return Ok(None);
        }
        total += n;
        if total > MAX_HEAD {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "request head too large"));
        }
        let l = line.trim_end();
        if request_line.is_none() {
            request_line = Some(l.to_string());
            continue;
        }
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    let request_line = request_line.unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    if parts.next() == Some("HTTP/1.0") {
        close = true;
    }
    Ok(Some(Head { method, path, close }))
}

async fn respond(site: &Site, head: &Head) -> Vec<u8> {
    let head_only = head.method == "HEAD";
    if head.method != "GET" && !head_only {
        return response(405, "text/plain; charset=utf-8", b"method not allowed\n".to_vec(), head_only);
    }
    let path = head.path.split(['?', '#']).next().unwrap_or("/");
    if path == "/edge.json" {
        return response(200, "application/json", site.edge_json.clone().into_bytes(), head_only);
    }
    if path == "/stats.json" && !site.meters.is_empty() {
        let json = crate::meter::cameras_json(&site.meters);
        return response(200, "application/json", json.into_bytes(), head_only);
    }
    let Some(file) = resolve(&site.root, path) else {
        return response(404, "text/plain; charset=utf-8", b"not found\n".to_vec(), head_only);
    };
    match tokio::fs::read(&file).await {
        Ok(body) => response(200, content_type(&file), body, head_only),
        Err(_) if path == "/" || path == "/index.html" => {
            response(200, "text/html; charset=utf-8", not_built(&site.root).into_bytes(), head_only)
        }
        Err(_) => response(404, "text/plain; charset=utf-8", b"not found\n".to_vec(), head_only),
    }
}

/// Maps a URL path to a file under `root`, refusing anything that could leave it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = url_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    if rel.contains(['%', '\\', '\0']) {
        return None;
    }
    let rel = Path::new(rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(s) if !s.to_string_lossy().starts_with('.'))) {
        return None;
    }
    Some(root.join(rel))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        // Browsers compile streamed wasm only with this exact type.
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn response(status: u16, ctype: &str, body: Vec<u8>, head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    // The site is small and changes with every build: always revalidate.
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(&body);
    }
    out
}

fn not_built(root: &Path) -> String {
    format!(
        "<!doctype html><meta name=viewport content='width=device-width'><title>viewer not built</title>\
         <p>The edge is streaming, but the viewer site was not found in <code>{}</code>.\
         <p>Build it with <code>trunk build --release</code> (or run <code>./run.sh</code>), \
         or point the edge at it with <code>--site DIR</code>.",
        root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv/site");
        assert_eq!(resolve(root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(root, "/app-1.wasm"), Some(root.join("app-1.wasm")));
        for bad in ["/../etc/passwd", "/a/../../x", "/.git/config", "/%2e%2e/x", "/a\\b"] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn wasm_gets_the_type_browsers_need_for_streaming_compile() {
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
    }

    #[tokio::test]
    async fn serves_files_json_and_refuses_other_methods() {
        let dir = std::env::temp_dir().join(format!("edge-site-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<p>hi").unwrap();
        let meter = std::sync::Arc::new(crate::meter::Meter::default());
        meter.published.store(7, std::sync::atomic::Ordering::Relaxed);
        let site =
            Site { root: dir.clone(), edge_json: "{\"a\":1}".into(), meters: vec![("door".into(), meter)] };
        let get = |path: &str| Head { method: "GET".into(), path: path.into(), close: false };
        let r = String::from_utf8(respond(&site, &get("/?broker=x")).await).unwrap();
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("<p>hi"), "{r}");
        let r = String::from_utf8(respond(&site, &get("/edge.json")).await).unwrap();
        assert!(r.contains("application/json") && r.ends_with("{\"a\":1}"));
        let r = String::from_utf8(respond(&site, &get("/stats.json")).await).unwrap();
        assert!(r.contains("\"published\":7"), "{r}");
        let r = String::from_utf8(respond(&site, &get("/missing.js")).await).unwrap();
        assert!(r.starts_with("HTTP/1.1 404"));
        let post = Head { method: "POST".into(), path: "/".into(), close: false };
        assert!(String::from_utf8(respond(&site, &post).await).unwrap().starts_with("HTTP/1.1 405"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
