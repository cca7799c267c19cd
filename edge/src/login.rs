//! `edge login`: the viewer's link with its login in it, and the QR code of that link,
//! for the edge that the same options (`--config`, `--state-dir`, …) describe.
//!
//! An edge run as a service never prints its password into the log (the banner says
//! only which file keeps it), so whoever installed it needs another way to the link:
//! this command reads the password the running edge made and prints what the banner
//! would on a terminal. It never makes a password: one made here would be owned by
//! whoever ran it, and the service could not read it. It also says whether anything
//! answers on the edge's web port, since the most likely reason for a missing password
//! is an edge that never started.

use std::{
    io::ErrorKind,
    net::{IpAddr, SocketAddr, TcpStream},
    time::Duration,
};

use crate::{banner, config::Config, secret};

/// The login as this command finds it.
#[derive(Debug, PartialEq)]
pub enum Found {
    /// The generated password, read from the state directory.
    Password(String),
    /// `--password` (and `--username`) in the options: not printed, only named.
    Configured { username: String },
    /// `--no-login`, or an external broker whose logins are its own.
    Open { why: &'static str },
}

/// Why there is no link to print.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(
        "no viewer password in {dir} yet: the edge makes one when it first starts. Is it running? \
         (`systemctl status mqcam`, or start it once)"
    )]
    NotMadeYet { dir: String },
    #[error("cannot read {file}: permission denied (the service's user owns it: run this with sudo)")]
    NotYours { file: String },
    #[error("no state directory (HOME is not set): give --state-dir")]
    NoStateDir,
    #[error(transparent)]
    Secret(secret::SecretError),
}

/// The login the options describe, read as [`crate::access::Access`] would, without
/// making anything.
pub fn find(config: &Config) -> Result<Found, LoginError> {
    if !config.broker.is_empty() {
        return Ok(Found::Open { why: "the edge publishes to an external broker, whose logins are its own" });
    }
    if config.no_login {
        return Ok(Found::Open { why: "no login (--no-login): anyone who can reach this machine can watch" });
    }
    if config.password.is_some() {
        let username = config.username.clone().unwrap_or_else(|| secret::USERNAME.to_string());
        return Ok(Found::Configured { username });
    }
    let dir = config.state_dir.clone().or_else(secret::default_state_dir).ok_or(LoginError::NoStateDir)?;
    match secret::load(&dir) {
        Ok(password) => Ok(Found::Password(password)),
        Err(secret::SecretError::Io { source, path, .. }) => match source.kind() {
            ErrorKind::NotFound => Err(LoginError::NotMadeYet { dir: dir.display().to_string() }),
            ErrorKind::PermissionDenied => Err(LoginError::NotYours { file: path.display().to_string() }),
            _ => Err(LoginError::Secret(secret::SecretError::Io { what: "cannot read", path, source })),
        },
        Err(e) => Err(LoginError::Secret(e)),
    }
}

/// What the command prints: the links, the login, whether the edge answers, and the
/// QR code. `lan` is this machine's LAN address (when the site listens on every
/// interface), `answers` whether something accepted a connection on the web port.
pub fn text(config: &Config, found: &Found, lan: Option<IpAddr>, answers: bool) -> String {
    let http = SocketAddr::new(config.bind, config.http_port);
    let https = config.tls_cert.is_some();
    let password = match found {
        Found::Password(p) => Some(p.as_str()),
        _ => None,
    };
    let lan = lan.filter(|_| config.bind.is_unspecified());
    let public = config.public_url.as_ref().map(|u| match u.contains('#') {
        true => u.clone(),
        false => format!("{u}{}", banner::fragment(password)),
    });
    let (local, lan) = banner::viewer_urls(http, https, lan, password);
    let mut out = format!("  viewer:     {local}\n");
    if let Some(lan) = &lan {
        out += &format!("  on the LAN: {lan}\n");
    }
    if let Some(public) = &public {
        out += &format!("  public:     {public}\n");
    }
    out += &match found {
        Found::Password(_) => {
            format!("  login:      user {:?}, password in the links above\n", secret::USERNAME)
        }
        Found::Configured { username } => {
            format!("  login:      user {username:?}, the password given in the options (not shown)\n")
        }
        Found::Open { why } => format!("  login:      {why}\n"),
    };
    if config.http_port == 0 {
        out += "  note:       --http-port 0 picks a free port at each start; see the edge's banner\n";
    } else if !answers {
        out += &format!(
            "  note:       nothing answers on port {} now: is the edge running? (`systemctl status mqcam`)\n",
            config.http_port
        );
    }
    if password.is_some() || matches!(found, Found::Open { .. }) {
        out += &banner::scan(public.as_deref().or(lan.as_deref()).unwrap_or(&local));
    }
    out
}

/// `edge login`: prints the links, or says in one line why it cannot.
pub fn run(config: &Config) -> Result<String, LoginError> {
    let found = find(config)?;
    let lan = banner::lan_ip();
    let port = config.http_port;
    let target = match config.bind {
        ip if ip.is_unspecified() => SocketAddr::new(crate::broker::reachable(ip), port),
        ip => SocketAddr::new(ip, port),
    };
    let answers = port != 0 && TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_ok();
    Ok(text(config, &found, lan, answers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("edge").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_link_carries_the_password_the_edge_made_and_never_makes_one() {
        let dir = std::env::temp_dir().join(format!("edge-login-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = config(&["login", "--state-dir", dir.to_str().unwrap(), "--http-port", "8080"]);
        let err = find(&c).unwrap_err().to_string();
        assert!(err.contains("no viewer password") && err.contains("systemctl status mqcam"), "{err}");
        assert!(!dir.exists(), "nothing is made");

        let (made, _) = secret::load_or_create(&dir).unwrap();
        let found = find(&c).unwrap();
        assert_eq!(found, Found::Password(made.clone()));
        let lan = Some("192.168.1.20".parse().unwrap());
        let out = text(&c, &found, lan, true);
        assert!(out.contains(&format!("  on the LAN: http://192.168.1.20:8080/#password={made}\n")), "{out}");
        assert!(out.contains(&format!("  viewer:     http://127.0.0.1:8080/#password={made}\n")), "{out}");
        assert!(out.contains("Scan with a phone") && !out.contains("nothing answers"), "{out}");
        let out = text(&c, &found, lan, false);
        assert!(out.contains("nothing answers on port 8080"), "{out}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_configured_password_is_named_never_printed_and_an_open_edge_says_so() {
        let c = config(&["login", "--password", "hunter2-long-enough", "--tls-cert", "c", "--tls-key", "k"]);
        let found = find(&c).unwrap();
        let out = text(&c, &found, None, true);
        assert!(
            !out.contains("hunter2") && out.contains("user \"viewer\"") && out.contains("https://"),
            "{out}"
        );
        assert!(!out.contains("Scan"), "no QR code of a link without its login: {out}");
        let c = config(&["login", "--no-login", "--bind", "192.168.1.5"]);
        let out = text(&c, &find(&c).unwrap(), Some("10.0.0.1".parse().unwrap()), true);
        assert!(out.contains("http://192.168.1.5:8080/\n") && !out.contains("10.0.0.1"), "{out}");
        assert!(out.contains("--no-login") && out.contains("Scan"), "{out}");
    }
}
