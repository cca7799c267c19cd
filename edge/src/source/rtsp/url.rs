//! An RTSP camera's URL, checked when the camera is configured: `rtsp://` or `rtsps://`
//! (over TLS), a host, and the login taken out of it (percent-decoded: camera passwords often hold
//! `@`, `:` or `#`, which must be written `%40`, `%3A`, `%23`), so that the URL that is
//! sent, logged and shown never carries the password.

use retina::client::Credentials;

/// A camera URL without its login, and the login.
#[derive(Clone, PartialEq, Eq)]
pub struct RtspUrl {
    /// What is requested: no user or password in it.
    pub url: url::Url,
    pub login: Option<Credentials>,
}

// By hand: the password must not reach a log through `{:?}`.
impl std::fmt::Debug for RtspUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RtspUrl({:?})", self.to_string())
    }
}

/// The URL as printed: the user, never the password, nor a query value that looks like
/// one (some cameras take `?user=…&password=…`).
impl std::fmt::Display for RtspUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.url.clone();
        if let Some(l) = &self.login {
            let _ = shown.set_username(&l.username);
            let _ = shown.set_password(Some("***"));
        }
        if shown.query().is_some() {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(k, v)| {
                    let secret = ["pass", "pwd", "token", "key", "auth", "secret"]
                        .iter()
                        .any(|s| k.to_ascii_lowercase().contains(s));
                    (k.into_owned(), if secret { "***".to_string() } else { v.into_owned() })
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        write!(f, "{shown}")
    }
}

impl RtspUrl {
    /// Checks `text`; the error says what is wrong without repeating the password.
    pub fn parse(text: &str) -> Result<RtspUrl, String> {
        // Errors never repeat `text`: it may hold the password.
        let mut url =
            url::Url::parse(text).map_err(|e| format!("the camera's rtsp:// URL cannot be read: {e}"))?;
        if !matches!(url.scheme(), "rtsp" | "rtsps") {
            return Err(format!("{}: an RTSP camera's URL starts rtsp:// or rtsps://", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the camera's rtsp:// URL has no host".into());
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let login = (!url.username().is_empty() || url.password().is_some()).then(|| Credentials {
            username: decode(url.username()),
            password: decode(url.password().unwrap_or_default()),
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(RtspUrl { url, login })
    }

    /// RTSP over TLS (`rtsps://`).
    pub fn tls(&self) -> bool {
        self.url.scheme() == "rtsps"
    }

    /// `host:port/path`, for a short description.
    pub fn place(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(p) => format!("{host}:{p}{}", self.url.path()),
            None => format!("{host}{}", self.url.path()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_comes_out_decoded_and_never_shows() {
        let u = RtspUrl::parse("rtsp://admin:p%40ss%3Aw0rd@192.168.1.64:554/Streaming/Channels/101").unwrap();
        let login = u.login.as_ref().unwrap();
        assert_eq!((login.username.as_str(), login.password.as_str()), ("admin", "p@ss:w0rd"));
        assert_eq!(u.url.as_str(), "rtsp://192.168.1.64:554/Streaming/Channels/101");
        assert_eq!(u.to_string(), "rtsp://admin:***@192.168.1.64:554/Streaming/Channels/101");
        assert!(!format!("{u:?}").contains("w0rd"));
        assert_eq!(u.place(), "192.168.1.64:554/Streaming/Channels/101");
    }

    #[test]
    fn secrets_in_the_query_never_show() {
        let u = RtspUrl::parse("rtsp://cam/live?channel=1&user=admin&password=hunter2&token=abc").unwrap();
        assert_eq!(u.url.as_str(), "rtsp://cam/live?channel=1&user=admin&password=hunter2&token=abc");
        assert_eq!(u.to_string(), "rtsp://cam/live?channel=1&user=admin&password=***&token=***");
        assert_eq!(u.place(), "cam/live");
    }

    #[test]
    fn queries_and_plus_signs_survive() {
        let u = RtspUrl::parse("rtsp://u:a+b@cam/cam/realmonitor?channel=1&subtype=1").unwrap();
        assert_eq!(u.login.unwrap().password, "a+b");
        assert_eq!(u.url.as_str(), "rtsp://cam/cam/realmonitor?channel=1&subtype=1");
        let plain = RtspUrl::parse("rtsp://cam:8554/x").unwrap();
        assert!(plain.login.is_none() && !plain.tls());
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        assert!(RtspUrl::parse("rtsps://u:secret@cam:7441/x").unwrap().tls());
        let e = RtspUrl::parse("http://u:secret@cam/x").unwrap_err();
        assert!(e.contains("rtsp://"), "{e}");
        let e = RtspUrl::parse("rtsp://u:secret@/x").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(RtspUrl::parse("rtsp://").is_err());
    }
}
