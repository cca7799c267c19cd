//! A network camera's URL: parsed and checked once, when the source is made (an
//! [`HttpError`] says what to change), then turned into each request's line and its
//! `Host` and `Authorization` headers.
//!
//! Its own file because it is string work without I/O, with its own tests, and because
//! it is the only place that sees a camera's password: everything after it shows the URL
//! with the password as `***` (its `Display` and `Debug`).

use std::fmt;

use base64::Engine as _;

/// Why a camera URL cannot be used. Checked when the source is made, before any I/O.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("https cameras are not supported yet; use http:// on the LAN")]
    Https,
    #[error("a camera URL must start with http:// (this one starts with {0}://)")]
    NotHttp(String),
    #[error("a camera URL must start with http://")]
    NoScheme,
    #[error("camera URL {0} has no host")]
    NoHost(String),
    #[error("camera URL {0} has a bad port (a number from 1 to 65535 after the host)")]
    BadPort(String),
    #[error("camera URL {0} contains spaces or control characters; percent-encode them")]
    BadCharacter(String),
    #[error(
        "a camera URL's login must have '/', '?' and '#' percent-encoded (%2F, %3F, %23); \
         if it has no login, write '@' as %40"
    )]
    LoginNeedsEscape,
    #[error("camera URL {0} has a login with a bad %-escape (use %XX with two hex digits)")]
    BadEscape(String),
}

/// A parsed `http://[user[:password]@]host[:port][/path][?query]` URL.
pub(super) struct Url {
    /// Without brackets for IPv6 literals: this is what is connected to.
    pub(super) host: String,
    pub(super) port: u16,
    /// The `Host` header: as written in the URL, port included when it is not 80.
    authority: String,
    /// Path and query, as written (already percent-encoded); `/` when empty.
    target: String,
    /// The `Authorization` header value, if the URL has a login.
    pub(super) authorization: Option<String>,
    /// The URL as shown to people: the password replaced by `***`.
    shown: String,
}

impl Url {
    pub(super) fn parse(url: &str) -> Result<Url, HttpError> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(HttpError::NoScheme);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" => {}
            "https" => return Err(HttpError::Https),
            // Shown only if it looks like a scheme: whatever else it is might be a login.
            s if !s.is_empty()
                && s.len() <= 16
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
            {
                return Err(HttpError::NotHttp(scheme.to_string()))
            }
            _ => return Err(HttpError::NoScheme),
        }
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        // `user:pa/ss@cam` would end the host at the `/`, and every message would then
        // show the rest of the password: refuse it without showing the URL.
        if !authority.contains('@') && rest.split_once('@').is_some_and(|(before, _)| before.contains(':')) {
            return Err(HttpError::LoginNeedsEscape);
        }
        let target = target.split('#').next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let shown_login = userinfo.map(|u| match u.split_once(':') {
            Some((user, _)) => format!("{user}:***@"),
            None => format!("{u}@"),
        });
        let shown = format!("http://{}{hostport}{target}", shown_login.unwrap_or_default());
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(HttpError::BadCharacter(shown));
        }

        // `written`: the host as in the URL (brackets kept), for the Host header.
        let (host, written, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| HttpError::NoHost(shown.clone()))?;
            (host, &hostport[..host.len() + 2], after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, h, Some(p)),
                None => (hostport, hostport, None),
            }
        };
        if host.is_empty() {
            return Err(HttpError::NoHost(shown));
        }
        let port = match port {
            None | Some("") => 80,
            Some(p) => p.parse().ok().filter(|&p| p != 0).ok_or_else(|| HttpError::BadPort(shown.clone()))?,
        };
        let authorization = match userinfo {
            None => None,
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                let decode = |s| percent_decode(s).ok_or_else(|| HttpError::BadEscape(shown.clone()));
                let login = format!("{}:{}", decode(user)?, decode(password)?);
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(login)))
            }
        };
        let target = match target {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        let authority = if port == 80 { written.to_string() } else { format!("{written}:{port}") };
        Ok(Url { host: host.to_string(), port, authority, target, authorization, shown })
    }

    /// The request for this URL.
    pub(super) fn get_request(&self) -> String {
        let mut req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mqcam-edge\r\nAccept: */*\r\n",
            self.target, self.authority
        );
        if let Some(auth) = &self.authorization {
            req.push_str(&format!("Authorization: {auth}\r\n"));
        }
        req.push_str("\r\n");
        req
    }
}

/// Never the password: a `Url` may end up in a log through `{:?}`.
impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `%XX` escapes decoded; `None` if one is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_plain_url_gets_port_80_and_path_slash() {
        let u = url("http://cam.local");
        assert_eq!((u.host.as_str(), u.port, u.target.as_str()), ("cam.local", 80, "/"));
        assert_eq!(u.authority, "cam.local");
        assert!(u.authorization.is_none());
        assert_eq!(u.shown, "http://cam.local");
    }

    #[test]
    fn port_path_and_query_are_kept_as_written() {
        let u = url("HTTP://192.168.1.20:8080/video.cgi?resolution=640x480&x=%20y#frag");
        assert_eq!((u.host.as_str(), u.port), ("192.168.1.20", 8080));
        assert_eq!(u.target, "/video.cgi?resolution=640x480&x=%20y");
        assert_eq!(u.authority, "192.168.1.20:8080");
        assert_eq!(url("http://cam?action=stream").target, "/?action=stream");
        assert_eq!(url("http://cam:80/").authority, "cam");
    }

    #[test]
    fn an_ipv6_literal_is_connected_to_without_brackets() {
        let u = url("http://[fe80::1]:81/stream");
        assert_eq!((u.host.as_str(), u.port, u.authority.as_str()), ("fe80::1", 81, "[fe80::1]:81"));
        assert_eq!(url("http://[::1]/").port, 80);
    }

    #[test]
    fn a_login_becomes_basic_authorization_and_is_never_shown() {
        let u = url("http://admin:p%40ss%3Aword@cam:8081/mjpg");
        // base64("admin:p@ss:word")
        assert_eq!(u.authorization.as_deref(), Some("Basic YWRtaW46cEBzczp3b3Jk"));
        assert_eq!(u.shown, "http://admin:***@cam:8081/mjpg");
        assert_eq!(format!("{u:?}"), u.shown);
        assert_eq!(u.host, "cam");
        let request = u.get_request();
        assert!(request.starts_with("GET /mjpg HTTP/1.1\r\nHost: cam:8081\r\n"));
        assert!(request.contains("User-Agent: mqcam-edge\r\n"));
        assert!(request.contains("Authorization: Basic YWRtaW46cEBzczp3b3Jk\r\n"));
        assert!(request.ends_with("\r\n\r\n"));
        assert!(!url("http://cam/").get_request().contains("Authorization"));
        // A user with no password still logs in, with an empty one.
        assert_eq!(url("http://viewer@cam/").authorization.as_deref(), Some("Basic dmlld2VyOg=="));
    }

    #[test]
    fn an_at_sign_in_the_password_is_fine_if_the_last_one_ends_the_login() {
        let u = url("http://admin:a@b@cam/");
        assert_eq!(u.host, "cam");
        assert_eq!(u.shown, "http://admin:***@cam/");
    }

    #[test]
    fn bad_urls_are_refused_with_reasons_that_do_not_show_the_password() {
        let err = |s: &str| Url::parse(s).expect_err("must fail");
        assert_eq!(
            err("https://cam/").to_string(),
            "https cameras are not supported yet; use http:// on the LAN"
        );
        assert_eq!(err("rtsp://admin:secret@cam/"), HttpError::NotHttp("rtsp".into()));
        assert_eq!(err("cam.local/video"), HttpError::NoScheme);
        assert_eq!(err("http://admin:secret@/video"), HttpError::NoHost("http://admin:***@/video".into()));
        assert_eq!(
            err("http://admin:secret@cam:99999/"),
            HttpError::BadPort("http://admin:***@cam:99999/".into())
        );
        assert!(matches!(err("http://cam:0/"), HttpError::BadPort(_)));
        assert!(matches!(err("http://cam/a b"), HttpError::BadCharacter(_)));
        assert_eq!(err("http://admin:se%zzcret@cam/"), HttpError::BadEscape("http://admin:***@cam/".into()));
        assert_eq!(err("admin:secret@cam://x"), HttpError::NoScheme);
        for url in ["http://admin:se/cret@cam/", "http://admin:se?cret@cam/", "http://admin:se#cret@cam/"] {
            assert_eq!(err(url), HttpError::LoginNeedsEscape, "{url}");
        }
        assert_eq!(url("http://cam/a@b").target, "/a@b");
        for e in [
            err("http://admin:secret@/x"),
            err("http://admin:secret@cam:x/"),
            err("http://admin:secret@cam/ x"),
        ] {
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }

    #[test]
    fn percent_decoding_handles_escapes_and_rejects_bad_ones() {
        assert_eq!(percent_decode("a%20b%C3%A9").as_deref(), Some("a bé"));
        assert_eq!(percent_decode("plain"), Some("plain".into()));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%g0"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
