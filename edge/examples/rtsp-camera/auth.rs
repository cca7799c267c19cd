//! Logins as IP cameras check them: HTTP Basic, or Digest with MD5 (RFC 2617, and RFC 7616
//! which keeps MD5 and the same formulas), `qop` absent or `auth`.
//!
//! Most cameras send no `qop` in their challenge (clients then answer without one), so the
//! challenge has none; a client that adds `qop=auth` anyway is checked with the qop formula.

use base64::Engine;
use md5::{Digest, Md5};

/// The realm in every challenge.
pub const REALM: &str = "mqcam-test-camera";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    None,
    Basic,
    Digest,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Mode::None),
            "basic" => Ok(Mode::Basic),
            "digest" => Ok(Mode::Digest),
            _ => Err(format!("auth must be none, basic or digest, not {s:?}")),
        }
    }
}

/// What logins are accepted right now (stdin commands change it).
#[derive(Debug, Clone)]
pub struct Login {
    pub mode: Mode,
    pub user: String,
    pub password: String,
}

impl Login {
    /// The `WWW-Authenticate` value of a 401, or `None` when no login is needed.
    pub fn challenge(&self, nonce: &str) -> Option<String> {
        match self.mode {
            Mode::None => None,
            Mode::Basic => Some(format!("Basic realm=\"{REALM}\"")),
            Mode::Digest => Some(format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\"")),
        }
    }

    /// Whether `authorization` (the header, if any) lets `method` through.
    pub fn accepts(&self, method: &str, authorization: Option<&str>, nonce: &str) -> bool {
        let Some(header) = authorization else { return self.mode == Mode::None };
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        match self.mode {
            Mode::None => true,
            Mode::Basic if scheme.eq_ignore_ascii_case("Basic") => {
                let expected = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", self.user, self.password));
                rest.trim() == expected
            }
            Mode::Digest if scheme.eq_ignore_ascii_case("Digest") => self.digest_ok(method, rest, nonce),
            _ => false,
        }
    }

    fn digest_ok(&self, method: &str, params: &str, nonce: &str) -> bool {
        let p = parse_params(params);
        let get = |k: &str| p.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str());
        let (Some(user), Some(realm), Some(their_nonce), Some(uri), Some(response)) =
            (get("username"), get("realm"), get("nonce"), get("uri"), get("response"))
        else {
            return false;
        };
        if user != self.user || realm != REALM || their_nonce != nonce {
            return false;
        }
        if get("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("MD5")) {
            return false;
        }
        let expected = match get("qop") {
            None => digest_response(&self.user, &self.password, method, uri, nonce, None),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (get("nc"), get("cnonce")) else { return false };
                digest_response(&self.user, &self.password, method, uri, nonce, Some((nc, cnonce)))
            }
            Some(_) => return false,
        };
        expected.eq_ignore_ascii_case(response)
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `response` a client must send (RFC 2617 §3.2.2.1): MD5 of HA1, nonce, [nc, cnonce,
/// "auth",] HA2, with HA1 = MD5(user:realm:password) and HA2 = MD5(method:uri).
pub fn digest_response(
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha1 = md5_hex(&format!("{user}:{REALM}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop {
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        Some((nc, cnonce)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
    }
}

/// `k=v, k="v, with commas"` pairs of an auth header.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            value = quoted[..end].to_string();
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(mode: Mode) -> Login {
        Login { mode, user: "Mufasa".into(), password: "Circle Of Life".into() }
    }

    #[test]
    fn md5_matches_rfc_2617_example() {
        // RFC 2617 §3.5 (realm there is testrealm@host.com; recompute HA1 the same way).
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = md5_hex("GET:/dir/index.html");
        let r = md5_hex(&format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"));
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn digest_with_and_without_qop() {
        let l = login(Mode::Digest);
        let uri = "rtsp://127.0.0.1:8554/";
        let r = digest_response("Mufasa", "Circle Of Life", "DESCRIBE", uri, "n1", None);
        let h = format!(
            "Digest username=\"Mufasa\", realm=\"{REALM}\", nonce=\"n1\", uri=\"{uri}\", response=\"{r}\""
        );
        assert!(l.accepts("DESCRIBE", Some(&h), "n1"));
        assert!(!l.accepts("SETUP", Some(&h), "n1"), "method is in HA2");
        assert!(!l.accepts("DESCRIBE", Some(&h), "n2"), "stale nonce");
        assert!(!l.accepts("DESCRIBE", None, "n1"));
        let r = digest_response("Mufasa", "Circle Of Life", "PLAY", uri, "n1", Some(("00000001", "c,x")));
        let h = format!(
            "Digest username=\"Mufasa\",realm=\"{REALM}\",nonce=\"n1\",uri=\"{uri}\",qop=auth,nc=00000001,cnonce=\"c,x\",response=\"{r}\",algorithm=MD5"
        );
        assert!(l.accepts("PLAY", Some(&h), "n1"));
        let wrong = Login { password: "other".into(), ..l.clone() };
        assert!(!wrong.accepts("PLAY", Some(&h), "n1"));
        assert!(!l.accepts("PLAY", Some("Basic TXVmYXNhOkNpcmNsZSBPZiBMaWZl"), "n1"), "basic is not digest");
        assert!(l.challenge("n1").unwrap().starts_with("Digest realm="));
    }

    #[test]
    fn basic_and_none() {
        let l = login(Mode::Basic);
        assert!(l.accepts("DESCRIBE", Some("Basic TXVmYXNhOkNpcmNsZSBPZiBMaWZl"), ""));
        assert!(!l.accepts("DESCRIBE", Some("Basic TXVmYXNhOnd"), ""));
        assert!(!l.accepts("DESCRIBE", None, ""));
        assert_eq!(l.challenge("x").unwrap(), format!("Basic realm=\"{REALM}\""));
        let n = login(Mode::None);
        assert!(n.accepts("DESCRIBE", None, "") && n.challenge("x").is_none());
    }
}
