//! The viewer site over HTTP: static files plus `/edge.json`, which tells the page where
//! the broker is so it connects without any query parameters; for monitoring,
//! `/stats.json` (the edge's counters as JSON), `/metrics` (the same for Prometheus) and
//! `/api/cameras` (the cameras and their renditions), `/snapshot/<camera>.jpg` (the
//! camera's newest frame) and `/export/<camera>.avi|.jpg` (a recorded clip or frame), which take the broker's logins (HTTP Basic) when it has any;
//! and `/healthz`, open, which says only that it runs.
//!
//! A snapshot is the newest full-size frame the camera published, served as published:
//! a plain JPEG whose stamp (sequence, capture time) is an APP9 segment every decoder
//! skips, so nothing is copied or rewritten to strip it, and whoever wants the capture
//! time can still read it. A camera nobody watches makes no full-size frames
//! (on-demand): then the request watches it, as a `watch` message would, for a few
//! seconds, and waits for the next frame.
//!
//! GET and HEAD only, no directory listings: the site stays an ordinary static
//! directory any other web server can host instead. This file is the server's I/O-free
//! half: a request's head in ([`Head`]), the response out ([`Reply`]); `server` is the
//! adapter that speaks HTTP/1.1 (hyper, optionally over TLS) and guards the door like
//! the broker's (`crate::doors`): connections capped per address, a request head that
//! does not arrive within 10 s dropped, and HTTP Basic logins throttled with MQTT's.
//!
//! A phone on a slow link should not download the viewer again on every visit, nor
//! uncompressed on the first: the build leaves a `.br` and a `.gz` beside each file
//! (`scripts/compress.mjs`), served to browsers that accept them; files whose names
//! carry Trunk's content hash are cached as immutable for a year, and the rest
//! (`index.html`, `manifest.webmanifest`) carry an `ETag` and are revalidated (304 when unchanged).

pub mod server;

use std::{
    net::SocketAddr,
    path::{Component, Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;

use crate::doors::{keeper::one_of, Door, Doorkeeper, Login, Reason};

/// Makes the body of `/api/cameras` when asked.
pub type Cameras = Box<dyn Fn() -> String + Send + Sync>;

/// What the site serves.
pub struct Site {
    /// The viewer's files: built into the binary, or a directory (`--site`).
    pub files: Files,
    /// Body of `/edge.json`.
    pub edge_json: String,
    /// Source of `/stats.json` and `/metrics`: each camera's counters (by name).
    pub meters: Vec<(String, std::sync::Arc<crate::meter::Meter>)>,
    /// `/api/cameras`: the cameras as the bus's directory lists them now (JSON).
    pub cameras: Cameras,
    /// Who may read the monitoring endpoints: the broker's logins. Empty: anyone (a
    /// broker without logins shows its cameras to anyone anyway).
    pub logins: Vec<Login>,
    /// The login throttle every door shares, and the doors' refusal counters.
    pub keeper: Arc<Doorkeeper>,
    /// Who watches which camera: `/metrics` shows it, and a snapshot of a camera nobody
    /// watches watches it for a moment.
    pub watchers: Option<Arc<crate::watch::Watchers>>,
    /// The embedded broker's gate counters, for `/metrics`; `None` with an external broker.
    pub broker: Option<Arc<crate::meter::BrokerMeter>>,
    /// The cameras that record, for their counters in `/metrics`.
    pub recordings: Vec<Arc<crate::record::recorder::Camera>>,
}

/// A snapshot is the frame published last if it is at most this old...
const SNAPSHOT_FRESH: Duration = Duration::from_secs(2);
/// ... else the next one, if it comes within this long (the camera watched meanwhile).
const SNAPSHOT_WAIT: Duration = Duration::from_secs(3);

/// What the site needs of a request: its head, read by the adapter.
pub struct Head {
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    /// Whether the browser takes brotli / gzip (`Accept-Encoding`).
    pub brotli: bool,
    pub gzip: bool,
    /// `If-None-Match`: the validators the browser has.
    pub if_none_match: Option<String>,
    /// `Authorization: Basic …`, decoded: (user, password).
    pub login: Option<(String, String)>,
    /// Who asks: logins are throttled per address.
    pub peer: SocketAddr,
}

impl Head {
    #[cfg(test)]
    fn get(path: &str) -> Head {
        Head {
            method: "GET".into(),
            path: path.into(),
            brotli: false,
            gzip: false,
            if_none_match: None,
            login: None,
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        }
    }
}

/// A response: status, headers in the order sent, and the body (not sent for HEAD,
/// whose `Content-Length` still says how long it would be).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    pub head_only: bool,
}

impl Reply {
    /// The response as HTTP/1.1 writes it (Title-Case names; hyper sends them
    /// lowercase, which means the same): what the unit tests read.
    #[cfg(test)]
    fn to_http1(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason_phrase(self.status));
        for (k, v) in &self.headers {
            out += &format!("{k}: {v}\r\n");
        }
        out += "\r\n";
        let mut out = out.into_bytes();
        if !self.head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

#[cfg(test)]
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Method Not Allowed",
    }
}

/// The user and password of an `Authorization: Basic …` value.
fn basic_login(value: &str) -> Option<(String, String)> {
    use base64::Engine;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Whether `head` may read the monitoring endpoints: no logins configured, or one of
/// them given. Else the answer: 401 asks for the login, 429 when the address has
/// guessed too often. The same check as the broker's gate (`crate::doors::keeper`): an
/// attempt with a password waits as the address's failures at every door say, and is
/// compared in constant time; asking without one (a browser's first try) is no attempt.
async fn check_login(site: &Site, head: &Head) -> Result<(), Reply> {
    if site.logins.is_empty() {
        return Ok(());
    }
    let unauthorized = || {
        let body = b"this edge needs its login (HTTP Basic: the viewer's or the publisher's)\n".to_vec();
        let challenge = [("WWW-Authenticate", "Basic realm=\"mqcam\", charset=\"UTF-8\"".to_string())];
        response_with(401, "text/plain; charset=utf-8", body, head.method == "HEAD", &challenge)
    };
    let Some((user, password)) = &head.login else { return Err(unauthorized()) };
    if let Err(throttled) = site.keeper.admit(Door::Http, head.peer).await {
        let why = throttled.to_string();
        site.keeper.refused_login(Door::Http, head.peer, Some(Reason::ThrottledLogin), &why);
        let retry = [("Retry-After", throttled.retry_in.as_secs().max(1).to_string()), no_store()];
        return Err(response_with(
            429,
            "text/plain; charset=utf-8",
            format!("{why}\n").into_bytes(),
            head.method == "HEAD",
            &retry,
        ));
    }
    if one_of(&site.logins, user.as_bytes(), password.as_bytes()) {
        site.keeper.succeeded(head.peer.ip());
        return Ok(());
    }
    site.keeper.refused_login(
        Door::Http,
        head.peer,
        Some(Reason::WrongLogin),
        "wrong username or password (HTTP Basic)",
    );
    Err(unauthorized())
}

/// Whether an `Accept-Encoding` value takes `coding` (listed, and not with `q=0`).
fn accepts(header: &str, coding: &str) -> bool {
    header.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        parts.next().is_some_and(|c| c.eq_ignore_ascii_case(coding))
            && !parts.any(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0))
    })
}

/// Whether a file name carries Trunk's content hash (`name-0123456789abcdef.js`,
/// `…_bg.wasm`): its content never changes under that name. Trunk writes the 64-bit hash
/// without leading zeros, so one build in sixteen has 15 digits or fewer (seen: a
/// 13-digit name revalidated on every visit); fewer than 12 is too rare to matter and
/// too likely to be a date or a number in a name of the user's.
fn hashed(name: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(_, tail)| {
        let digits = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        (12..=16).contains(&digits) && matches!(tail.as_bytes().get(digits), Some(b'.' | b'_'))
    })
}

/// A strong validator from the file's content (FNV-1a, 64 bits), unquoted.
fn etag(body: &[u8]) -> String {
    let hash = body
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{:x}-{hash:016x}", body.len())
}

/// Whether `If-None-Match` names `tag` (or `*`).
fn matches_tag(if_none_match: &str, tag: &str) -> bool {
    if_none_match.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == tag || t == "*")
}

/// The response to a request: the site's whole logic, without the connection.
pub async fn respond(site: &Site, head: &Head) -> Reply {
    let head_only = head.method == "HEAD";
    if head.method != "GET" && !head_only {
        return response(405, "text/plain; charset=utf-8", b"method not allowed\n".to_vec(), head_only);
    }
    let path = head.path.split(['?', '#']).next().unwrap_or("/");
    if path == "/edge.json" {
        return response(200, "application/json", site.edge_json.clone().into_bytes(), head_only);
    }
    if path == "/healthz" {
        return response(200, "text/plain; charset=utf-8", b"ok\n".to_vec(), head_only);
    }
    if matches!(path, "/stats.json" | "/metrics" | "/api/cameras")
        || path.starts_with("/snapshot/")
        || path.starts_with("/export/")
    {
        if let Err(refusal) = check_login(site, head).await {
            return refusal;
        }
        if let Some(name) = path.strip_prefix("/export/") {
            let query = head.path.split_once('?').map_or("", |(_, q)| q);
            return export(site, name, query, head_only).await;
        }
        if let Some(name) = path.strip_prefix("/snapshot/") {
            return snapshot(site, name, head_only).await;
        }
        let (ctype, body) = match path {
            "/metrics" => {
                let seen = crate::meter::Seen {
                    watchers: site.watchers.as_deref(),
                    broker: site.broker.as_deref(),
                    doors: Some(&site.keeper.refused),
                };
                (
                    "text/plain; version=0.0.4; charset=utf-8",
                    crate::meter::prometheus(&site.meters, seen)
                        + &crate::record::recorder::prometheus(&site.recordings),
                )
            }
            "/api/cameras" => ("application/json", (site.cameras)()),
            _ => ("application/json", crate::meter::cameras_json(&site.meters)),
        };
        return response(200, ctype, body.into_bytes(), head_only);
    }
    let Some(file) = resolve(path) else {
        return response(404, "text/plain; charset=utf-8", b"not found\n".to_vec(), head_only);
    };
    let body = match site.files.read(&file).await {
        Some(body) => body,
        None if path == "/" || path == "/index.html" => {
            return response(200, "text/html; charset=utf-8", not_built(&site.files).into_bytes(), head_only)
        }
        None => return response(404, "text/plain; charset=utf-8", b"not found\n".to_vec(), head_only),
    };
    let name = file.rsplit('/').next().unwrap_or_default();
    // The page gets `/edge.json` inside it: one round trip less before the first picture
    // (80 ms on a phone's link). Then it is not the build's file, nor its compressed copies.
    let (body, as_built) = match inline_edge_json(name, &body, &site.edge_json) {
        Some(page) => (Bytes::from(page), false),
        None => (body, true),
    };
    // The compressed copy the browser takes, if the build made one.
    let mut encoding = None;
    for (takes, coding, ext) in [(head.brotli, "br", "br"), (head.gzip, "gzip", "gz")] {
        if takes && as_built && encoding.is_none() {
            if let Some(packed) = site.files.read(&format!("{file}.{ext}")).await {
                encoding = Some((coding, packed));
            }
        }
    }
    // Each encoding is its own representation, with its own validator.
    let tag = match &encoding {
        Some((coding, _)) => format!("\"{}-{coding}\"", etag(&body)),
        None => format!("\"{}\"", etag(&body)),
    };
    let cache = if hashed(name) { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut headers =
        vec![("Cache-Control", cache.to_string()), ("ETag", tag.clone()), ("Vary", "Accept-Encoding".into())];
    if head.if_none_match.as_deref().is_some_and(|inm| matches_tag(inm, &tag)) {
        return response_with(304, content_type(&file), Vec::new(), true, &headers);
    }
    let body = match encoding {
        Some((coding, packed)) => {
            headers.push(("Content-Encoding", coding.to_string()));
            packed
        }
        None => body,
    };
    response_with(200, content_type(&file), body, head_only, &headers)
}

/// `/snapshot/<name>`: the camera's newest full-size frame (see the module's doc).
async fn snapshot(site: &Site, name: &str, head_only: bool) -> Reply {
    let not_found = || response(404, "text/plain; charset=utf-8", b"no such camera\n".to_vec(), head_only);
    // Only a camera's exact name: nothing that could name a path.
    let Some(camera) =
        name.strip_suffix(".jpg").filter(|c| !c.is_empty() && !c.contains(['/', '\\', '%']) && *c != "..")
    else {
        return not_found();
    };
    let Some((_, meter)) = site.meters.iter().find(|(n, _)| n == camera) else {
        return not_found();
    };
    let frame = match meter.newest.fresh(SNAPSHOT_FRESH) {
        Some(frame) => Some(frame),
        None => {
            if let Some(w) = &site.watchers {
                w.seen(camera, crate::clock::now_us(), SNAPSHOT_WAIT.as_micros() as u64);
            }
            meter.newest.next(SNAPSHOT_WAIT).await
        }
    };
    match frame {
        Some(jpeg) => response(200, "image/jpeg", jpeg, head_only),
        None => {
            let body = format!(
                "camera {camera:?} published no frame within {} s: is its source online?\n",
                SNAPSHOT_WAIT.as_secs()
            );
            response(503, "text/plain; charset=utf-8", body.into_bytes(), head_only)
        }
    }
}

/// `/export/<camera>.avi?from=<µs>&to=<µs>[&track=full|preview]`: a recorded stretch as a
/// Motion-JPEG AVI clip; `/export/<camera>.jpg?at=<µs>`: the recorded frame at a time.
async fn export(site: &Site, name: &str, query: &str, head_only: bool) -> Reply {
    use crate::record::export::{self, ExportError};
    let text = |status: u16, body: String| {
        response(status, "text/plain; charset=utf-8", body.into_bytes(), head_only)
    };
    let (camera, avi) = match (name.strip_suffix(".avi"), name.strip_suffix(".jpg")) {
        (Some(c), _) => (c, true),
        (_, Some(c)) => (c, false),
        _ => return text(404, "exports are <camera>.avi or <camera>.jpg\n".into()),
    };
    let Some(recorded) = site.recordings.iter().find(|c| c.name == camera).cloned() else {
        return text(404, format!("camera {camera:?} is not recorded\n"));
    };
    let arg = |key: &str| {
        query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse::<u64>().ok())
    };
    let track = query.split('&').find_map(|kv| match kv {
        "track=full" => Some(true),
        "track=preview" => Some(false),
        _ => None,
    });
    // One clip at a time: each may hold up to its cap in memory.
    static CLIPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let made = match (avi, arg("from"), arg("to"), arg("at")) {
        (true, Some(from), Some(to), _) if from < to => {
            let Ok(_one) = CLIPS.try_acquire() else {
                return text(429, "another clip is being exported; try again when it is done\n".into());
            };
            tokio::task::spawn_blocking(move || export::clip(&recorded, from, to, track)).await
        }
        (false, _, _, Some(at)) => tokio::task::spawn_blocking(move || export::frame(&recorded, at)).await,
        (true, ..) => {
            return text(
                400,
                "a clip needs from=<µs> and to=<µs> (µs since the epoch), from before to\n".into(),
            )
        }
        (false, ..) => return text(400, "a frame needs at=<µs> (µs since the epoch)\n".into()),
    };
    match made {
        Ok(Ok(body)) => {
            let stamp = arg(if avi { "from" } else { "at" }).unwrap_or(0) / 1_000_000;
            let file = format!("{camera}-{stamp}.{}", if avi { "avi" } else { "jpg" });
            let ctype = if avi { "video/x-msvideo" } else { "image/jpeg" };
            let headers = [no_store(), ("Content-Disposition", format!("attachment; filename=\"{file}\""))];
            response_with(200, ctype, body, head_only, &headers)
        }
        Ok(Err(ExportError::Nothing)) => text(404, "nothing was recorded then\n".into()),
        Ok(Err(ExportError::TooLong(bytes))) => text(
            413,
            format!(
                "that clip would be {} MB; export at most {} MB at a time\n",
                bytes >> 20,
                export::MAX_CLIP_BYTES >> 20
            ),
        ),
        Ok(Err(ExportError::Unreadable(e))) => {
            text(500, format!("a recorded frame could not be read: {e}\n"))
        }
        Err(_) => text(500, "export failed\n".into()),
    }
}

/// Where the viewer's page wants `/edge.json`, the edge puts it. (A preload there made
/// every static host that has none log a 404 in the console.)
const EDGE_JSON_MARKER: &[u8] = b"<!-- edge.json -->";

/// `index.html` with `edge_json` in place of its marker; `None` for other files.
fn inline_edge_json(name: &str, body: &[u8], edge_json: &str) -> Option<Vec<u8>> {
    if name != "index.html" {
        return None;
    }
    let at = body.windows(EDGE_JSON_MARKER.len()).position(|w| w == EDGE_JSON_MARKER)?;
    // Inside <script> only "</" could end it early.
    let json = edge_json.replace("</", "<\\/");
    let mut page = body[..at].to_vec();
    page.extend_from_slice(
        format!("<script id=\"edge-json\" type=\"application/json\">{json}</script>").as_bytes(),
    );
    page.extend_from_slice(&body[at + EDGE_JSON_MARKER.len()..]);
    Some(page)
}

/// Maps a URL path to a file's path inside the site (`/` separated, no leading `/`),
/// refusing anything that could leave it or name a dot file.
fn resolve(url_path: &str) -> Option<String> {
    let rel = url_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    if rel.contains(['%', '\\', '\0']) {
        return None;
    }
    if !Path::new(rel)
        .components()
        .all(|c| matches!(c, Component::Normal(s) if !s.to_string_lossy().starts_with('.')))
    {
        return None;
    }
    Some(rel.to_string())
}

/// Where the viewer's files come from.
pub enum Files {
    /// Built into the binary (`build.rs`): (file name, bytes), sorted by name.
    Embedded(&'static [(&'static str, &'static [u8])]),
    /// A directory on disk, read at each request (a page being worked on, or a
    /// customised one).
    Dir(PathBuf),
}

impl Files {
    /// `--site DIR` when given; else the site built into this binary; else `dist` in
    /// the working directory (a development build, which carries no site).
    pub fn choose(site: Option<&Path>) -> Files {
        match site {
            Some(dir) => Files::Dir(dir.to_path_buf()),
            None if !embedded::FILES.is_empty() => Files::Embedded(embedded::FILES),
            None => Files::Dir(PathBuf::from("dist")),
        }
    }

    /// A file's bytes (`rel` as [`resolve`] makes it); `None` when there is no such file.
    async fn read(&self, rel: &str) -> Option<Bytes> {
        match self {
            Files::Embedded(files) => files
                .binary_search_by(|(name, _)| (*name).cmp(rel))
                .ok()
                .map(|i| Bytes::from_static(files[i].1)),
            Files::Dir(root) => tokio::fs::read(root.join(rel)).await.ok().map(Bytes::from),
        }
    }

    /// Whether there is a page to serve at all.
    pub fn has_page(&self) -> bool {
        match self {
            Files::Embedded(files) => files.iter().any(|(name, _)| *name == "index.html"),
            Files::Dir(root) => root.join("index.html").is_file(),
        }
    }

    /// Where the files come from, for the log: `built in (N files, K KB)` or the directory.
    pub fn describe(&self) -> String {
        match self {
            Files::Embedded(files) => {
                let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
                format!("built in ({} files, {} KB)", files.len(), bytes.div_ceil(1000))
            }
            Files::Dir(root) => root.display().to_string(),
        }
    }
}

/// The site `build.rs` put into this binary (empty when built without `MQCAM_SITE_DIR`).
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/site.rs"));
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, ext)| ext) {
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

fn no_store() -> (&'static str, String) {
    ("Cache-Control", "no-store".into())
}

/// A response that is never cached: the JSON (live numbers) and errors.
fn response(status: u16, ctype: &str, body: impl Into<Bytes>, head_only: bool) -> Reply {
    response_with(status, ctype, body, head_only, &[no_store()])
}

fn response_with(
    status: u16,
    ctype: &str,
    body: impl Into<Bytes>,
    head_only: bool,
    extra: &[(&'static str, String)],
) -> Reply {
    let body = body.into();
    let mut headers = vec![("Content-Type", ctype.to_string())];
    // A 304 has no body and must not say how long the body is not.
    if status != 304 {
        headers.push(("Content-Length", body.len().to_string()));
    }
    headers.extend(extra.iter().cloned());
    headers.push(("X-Content-Type-Options", "nosniff".into()));
    Reply { status, headers, body, head_only }
}

fn not_built(files: &Files) -> String {
    format!(
        "<!doctype html><meta name=viewport content='width=device-width'><title>viewer not built</title>\
         <p>The edge is streaming, but the viewer site was not found in <code>{}</code>.\
         <p>Build it with <code>trunk build --release</code> (or run <code>./run.sh</code>), \
         or point the edge at it with <code>--site DIR</code>.",
        files.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The response as it goes out on HTTP/1.1.
    async fn respond(site: &Site, head: &Head) -> Vec<u8> {
        super::respond(site, head).await.to_http1()
    }

    /// A site of files and `/edge.json` only: no cameras, no logins.
    fn files_only(files: Files, edge_json: &str) -> Site {
        Site {
            files,
            edge_json: edge_json.into(),
            meters: vec![],
            cameras: Box::new(String::new),
            logins: Vec::new(),
            keeper: Default::default(),
            watchers: None,
            broker: None,
            recordings: Vec::new(),
        }
    }

    #[test]
    fn paths_stay_inside_the_root() {
        assert_eq!(resolve("/").as_deref(), Some("index.html"));
        assert_eq!(resolve("/app-1.wasm").as_deref(), Some("app-1.wasm"));
        for bad in ["/../etc/passwd", "/a/../../x", "/.git/config", "/%2e%2e/x", "/a\\b"] {
            assert_eq!(resolve(bad), None, "{bad}");
        }
    }

    #[test]
    fn wasm_gets_the_type_browsers_need_for_streaming_compile() {
        assert_eq!(content_type("x.wasm"), "application/wasm");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    /// The same bytes built in and in a directory make the same responses: the same
    /// encodings, validators and caching, so an installed edge and a development one
    /// behave alike.
    #[tokio::test]
    async fn the_built_in_site_answers_as_its_directory_does() {
        static FILES: &[(&str, &[u8])] = &[
            ("app-0123456789abcdef_bg.wasm", b"wasm bytes"),
            ("app-0123456789abcdef_bg.wasm.br", b"BR"),
            ("index.html", b"<p>page<!-- edge.json -->"),
            ("index.html.gz", b"GZ"),
            ("manifest.webmanifest", b"{}"),
        ];
        let dir = std::env::temp_dir().join(format!("edge-site-built-in-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in FILES {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let site = |files| files_only(files, "{\"broker\":1}");
        let (built_in, on_disk) = (site(Files::Embedded(FILES)), site(Files::Dir(dir.clone())));
        assert!(built_in.files.has_page() && built_in.files.describe().starts_with("built in (5 files"));
        let wasm = "/app-0123456789abcdef_bg.wasm";
        let heads = [
            Head::get("/"),
            Head { gzip: true, ..Head::get("/index.html") },
            Head { brotli: true, gzip: true, ..Head::get(wasm) },
            Head { gzip: true, ..Head::get(wasm) },
            Head { method: "HEAD".into(), ..Head::get("/manifest.webmanifest") },
            Head { if_none_match: Some("\"a-0000000000000000\"".into()), ..Head::get(wasm) },
            Head::get("/missing.js"),
            Head::get("/index.html.gz/../x"),
            Head::get("/apps"),
        ];
        for head in &heads {
            let (a, b) = (respond(&built_in, head).await, respond(&on_disk, head).await);
            assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{}", head.path);
        }
        let page = String::from_utf8(respond(&built_in, &Head::get("/")).await).unwrap();
        assert!(page.contains("{\"broker\":1}") && page.contains("ETag: "), "{page}");
        let etag = |r: Vec<u8>| {
            String::from_utf8(r).unwrap().lines().find_map(|l| l.strip_prefix("ETag: ").map(String::from))
        };
        let tag = etag(respond(&built_in, &Head { brotli: true, ..Head::get(wasm) }).await).unwrap();
        let again = Head { brotli: true, if_none_match: Some(tag), ..Head::get(wasm) };
        assert!(String::from_utf8(respond(&built_in, &again).await).unwrap().starts_with("HTTP/1.1 304"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn serves_files_json_and_refuses_other_methods() {
        let dir = std::env::temp_dir().join(format!("edge-site-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<p>hi").unwrap();
        let meter = std::sync::Arc::new(crate::meter::Meter::default());
        meter.published.store(7, std::sync::atomic::Ordering::Relaxed);
        let site = Site {
            files: Files::Dir(dir.clone()),
            edge_json: "{\"a\":1}".into(),
            meters: vec![("door".into(), meter)],
            cameras: Box::new(|| "{\"cameras\":[]}".into()),
            logins: Vec::new(),
            keeper: Default::default(),
            watchers: None,
            broker: None,
            recordings: Vec::new(),
        };
        let get = Head::get;
        let r = String::from_utf8(respond(&site, &get("/?broker=x")).await).unwrap();
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("<p>hi"), "{r}");
        let r = String::from_utf8(respond(&site, &get("/edge.json")).await).unwrap();
        assert!(r.contains("application/json") && r.ends_with("{\"a\":1}"));
        let r = String::from_utf8(respond(&site, &get("/stats.json")).await).unwrap();
        assert!(r.contains("\"published\":7"), "{r}");
        let r = String::from_utf8(respond(&site, &get("/missing.js")).await).unwrap();
        assert!(r.starts_with("HTTP/1.1 404"));
        let post = Head { method: "POST".into(), ..Head::get("/") };
        assert!(String::from_utf8(respond(&site, &post).await).unwrap().starts_with("HTTP/1.1 405"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn monitoring_takes_a_login_when_the_edge_has_one_and_health_never_does() {
        let meter = std::sync::Arc::new(crate::meter::Meter::default());
        let site = Site {
            files: Files::Dir(std::env::temp_dir()),
            edge_json: "{}".into(),
            meters: vec![("door".into(), meter)],
            cameras: Box::new(|| "{\"cameras\":[{\"name\":\"door\"}]}".into()),
            logins: vec![Login::new("viewer", "s3cret"), Login::new("detector", "pub:pw")],
            keeper: Default::default(),
            watchers: None,
            broker: None,
            recordings: Vec::new(),
        };
        use base64::Engine;
        let basic =
            |login: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(login));
        let with = |path: &str, login: Option<&str>| Head {
            login: login.and_then(|l| basic_login(&basic(l))),
            ..Head::get(path)
        };
        for path in ["/metrics", "/api/cameras", "/stats.json"] {
            for login in [None, Some("viewer:wrong"), Some("nobody:s3cret"), Some("viewer:s3cret2")] {
                let r = String::from_utf8(respond(&site, &with(path, login)).await).unwrap();
                assert!(
                    r.starts_with("HTTP/1.1 401") && r.contains("WWW-Authenticate: Basic"),
                    "{path} {login:?}: {r}"
                );
            }
            for login in ["viewer:s3cret", "detector:pub:pw"] {
                let r = String::from_utf8(respond(&site, &with(path, Some(login))).await).unwrap();
                assert!(r.starts_with("HTTP/1.1 200"), "{path} {login}: {r}");
            }
        }
        let r = String::from_utf8(respond(&site, &with("/metrics", Some("viewer:s3cret"))).await).unwrap();
        assert!(
            r.contains("text/plain; version=0.0.4")
                && r.contains("mqcam_frames_captured_total{camera=\"door\"} 0")
        );
        let r =
            String::from_utf8(respond(&site, &with("/api/cameras", Some("viewer:s3cret"))).await).unwrap();
        assert!(r.ends_with("{\"cameras\":[{\"name\":\"door\"}]}"), "{r}");
        let r = String::from_utf8(respond(&site, &Head::get("/healthz")).await).unwrap();
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("ok\n"), "{r}");
        assert_eq!(basic_login("Bearer abc"), None);
        assert_eq!(basic_login("Basic !!!"), None);
    }

    #[tokio::test]
    async fn compressed_copies_hashed_names_cached_for_good_and_the_page_revalidated() {
        let dir = std::env::temp_dir().join(format!("edge-site-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<p>page").unwrap();
        std::fs::write(dir.join("app-0123456789abcdef_bg.wasm"), "wasm bytes").unwrap();
        std::fs::write(dir.join("app-0123456789abcdef_bg.wasm.br"), "BR").unwrap();
        std::fs::write(dir.join("app-0123456789abcdef_bg.wasm.gz"), "GZ").unwrap();
        let site = files_only(Files::Dir(dir.clone()), "{}");
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        let wasm = Head { brotli: true, gzip: true, ..Head::get("/app-0123456789abcdef_bg.wasm") };
        let r = text(respond(&site, &wasm).await);
        assert!(r.contains("Content-Encoding: br\r\n") && r.ends_with("\r\n\r\nBR"), "{r}");
        assert!(r.contains("immutable") && r.contains("Vary: Accept-Encoding"), "{r}");
        let r = text(respond(&site, &Head { brotli: false, ..wasm }).await);
        assert!(r.contains("Content-Encoding: gzip\r\n") && r.ends_with("GZ"), "{r}");
        let r = text(respond(&site, &Head::get("/app-0123456789abcdef_bg.wasm")).await);
        assert!(!r.contains("Content-Encoding") && r.ends_with("wasm bytes"), "{r}");

        let r = text(respond(&site, &Head::get("/")).await);
        assert!(r.contains("Cache-Control: no-cache") && !r.contains("immutable"), "{r}");
        let tag =
            r.lines().find_map(|l| l.strip_prefix("ETag: ")).expect("index.html has an ETag").to_string();
        let again = Head { if_none_match: Some(tag.clone()), ..Head::get("/") };
        let r = text(respond(&site, &again).await);
        assert!(
            r.starts_with("HTTP/1.1 304") && r.ends_with("\r\n\r\n") && !r.contains("Content-Length"),
            "{r}"
        );
        std::fs::write(dir.join("index.html"), "<p>new page").unwrap();
        let r = text(respond(&site, &again).await);
        assert!(
            r.starts_with("HTTP/1.1 200") && r.ends_with("new page"),
            "a changed page is sent again: {r}"
        );
        let r = text(respond(&site, &Head::get("/edge.json")).await);
        assert!(r.contains("Cache-Control: no-store"), "{r}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_snapshot_is_the_newest_frame_or_the_next_one_of_a_camera_it_watches() {
        let meter = Arc::new(crate::meter::Meter::default());
        let watchers = Arc::new(crate::watch::Watchers::new("mqcam"));
        let site = Arc::new(Site {
            files: Files::Dir(std::env::temp_dir()),
            edge_json: "{}".into(),
            meters: vec![("door".into(), meter.clone())],
            cameras: Box::new(String::new),
            logins: Vec::new(),
            keeper: Default::default(),
            watchers: Some(watchers.clone()),
            broker: None,
            recordings: Vec::new(),
        });
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        for bad in
            ["/snapshot/yard.jpg", "/snapshot/../x", "/snapshot/..", "/snapshot/door", "/snapshot/a/door.jpg"]
        {
            assert!(text(respond(&site, &Head::get(bad)).await).starts_with("HTTP/1.1 404"), "{bad}");
        }
        // Nobody watches and no frame: the request watches the camera and waits.
        let asked = {
            let site = site.clone();
            tokio::spawn(async move { respond(&site, &Head::get("/snapshot/door.jpg")).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(watchers.watched("door", crate::clock::now_us()), "the snapshot watches the camera");
        meter.newest.keep(bytes::Bytes::from_static(b"\xff\xd8jpeg"));
        let r = text(asked.await.unwrap());
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("\u{fffd}\u{fffd}jpeg"), "{r}");
        assert!(r.contains("Content-Type: image/jpeg") && r.contains("Cache-Control: no-store"), "{r}");
        // Fresh: served at once.
        let r =
            text(respond(&site, &Head { method: "HEAD".into(), ..Head::get("/snapshot/door.jpg") }).await);
        assert!(
            r.starts_with("HTTP/1.1 200") && r.contains("Content-Length: 6\r\n") && r.ends_with("\r\n\r\n"),
            "{r}"
        );
    }

    #[test]
    fn the_page_carries_edge_json_in_place_of_asking_for_it() {
        let page = b"<head><!-- edge.json --></head>";
        let out = inline_edge_json("index.html", page, "{\"a\":\"</script>\"}").unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out, "<head><script id=\"edge-json\" type=\"application/json\">{\"a\":\"<\\/script>\"}</script></head>");
        assert_eq!(inline_edge_json("other.html", page, "{}"), None);
        assert_eq!(inline_edge_json("index.html", b"<p>no marker", "{}"), None);
    }

    #[test]
    fn encodings_names_and_validators_are_read_as_browsers_send_them() {
        assert!(accepts("gzip, deflate, br, zstd", "br") && accepts("gzip, deflate, br", "gzip"));
        assert!(
            !accepts("gzip, deflate", "br") && !accepts("br;q=0, gzip", "br") && accepts("br;q=0.5", "br")
        );
        assert!(hashed("wasm-viewer-c27feab9593177a9_bg.wasm") && hashed("style-cbcb86106cf80f55.css"));
        assert!(hashed("wasm-viewer-2426cd8862bba.js") && hashed("wasm-viewer-2426cd8862bba_bg.wasm"));
        assert!(!hashed("worker.js") && !hashed("index.html") && !hashed("my-camera.js"));
        assert!(!hashed("photo-20261130.jpg") && !hashed("x-0123456789abcdef0.js"));
        assert!(
            matches_tag("W/\"a\", \"b\"", "\"b\"")
                && matches_tag("*", "\"x\"")
                && !matches_tag("\"a\"", "\"b\"")
        );
    }
}
