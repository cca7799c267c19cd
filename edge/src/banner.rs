//! What the edge prints at start: where to look, and how to log in.
//!
//! On stdout, one `key: value` item per line with the topic line last, so scripts can
//! pick the URLs out. With a generated password (and a terminal, or `--print-login
//! always`) the viewer URLs carry it in the fragment (`#password=…`, which browsers never
//! send to a server) and a QR code of the LAN URL follows, so a phone opens the camera
//! by scanning it. Otherwise the password is never printed: only where it lives.

use std::net::{IpAddr, SocketAddr};

use crate::{access::Access, broker, config::BrokerUrl};

/// One camera as the banner shows it.
pub struct Camera {
    pub name: String,
    /// What its source is ("test pattern 640x480 @ 30 fps"), passwords hidden.
    pub source: String,
    pub quality: u8,
    pub frame_topic: String,
}

/// Everything the banner shows.
pub struct Banner<'a> {
    /// At least one.
    pub cameras: &'a [Camera],
    /// The site's listener.
    pub http: SocketAddr,
    pub https: bool,
    /// This machine's LAN address, when the site listens on every interface.
    pub lan: Option<IpAddr>,
    pub embedded: Option<&'a broker::EmbeddedBroker>,
    pub publish_to: &'a BrokerUrl,
    /// The other external brokers, in the order tried after `publish_to`.
    pub failover: &'a [BrokerUrl],
    pub access: &'a Access,
    /// Whether a generated password may be printed (a terminal, or asked for).
    pub show_password: bool,
    /// What is recorded and where (`continuous: cam1 → DIR`), if anything.
    pub recording: Option<String>,
}

impl Banner<'_> {
    /// The banner's text, QR code included.
    pub fn text(&self) -> String {
        let (ws, mqtt) = if self.https { ("wss", "mqtts") } else { ("ws", "mqtt") };
        let shown = |addr: SocketAddr| SocketAddr::new(broker::reachable(addr.ip()), addr.port());
        let printed_password = match self.access {
            Access::Generated { password, .. } if self.show_password => Some(password.as_str()),
            _ => None,
        };
        let (local, lan) = viewer_urls(self.http, self.https, self.lan, printed_password);

        let mut out = String::new();
        for c in self.cameras {
            out += &format!("edge: camera {:?}: {}, JPEG quality {}\n", c.name, c.source, c.quality);
        }
        out += &format!("  viewer:     {local}\n");
        if let Some(lan) = &lan {
            out += &format!("  on the LAN: {lan}\n");
        }
        match self.embedded {
            Some(b) => {
                out += &format!("  mqtt-ws:    {ws}://{}/mqtt\n", shown(b.ws));
                out += &format!("  mqtt-tcp:   {mqtt}://{}\n", shown(b.tcp));
                out += &format!("  login:      {}\n", self.login_line());
            }
            None => {
                out += &format!("  broker:     {} (external)\n", self.publish_to);
                if !self.failover.is_empty() {
                    let others: Vec<String> = self.failover.iter().map(|b| b.to_string()).collect();
                    out += &format!("  failover:   {}\n", others.join(" "));
                }
            }
        }
        if self.cameras.len() > 1 {
            let names: Vec<&str> = self.cameras.iter().map(|c| c.name.as_str()).collect();
            out += &format!("  cameras:    {} (open one with ?camera=NAME)\n", names.join(" "));
        }
        if let Some(recording) = &self.recording {
            out += &format!("  record:     {recording}\n");
        }
        // The first camera's: the one the viewer shows when the URL names none.
        let first = self.cameras.first().map_or("", |c| c.frame_topic.as_str());
        out += &format!("  topic:      {first}\n");
        if printed_password.is_some() && self.embedded.is_some() {
            out += &scan(lan.as_deref().unwrap_or(&local));
        }
        out
    }

    fn login_line(&self) -> String {
        match self.access {
            Access::Open => {
                "NONE (--no-login): anyone who can reach this machine can watch the camera".into()
            }
            Access::Configured { username } => {
                format!("user {username:?}, password from --password / EDGE_PASSWORD")
            }
            Access::Generated { file, made, .. } => {
                let when = if *made { "made now" } else { "made on first start" };
                let (shown, hint) = match self.show_password {
                    true => ("in the URLs above, ", String::new()),
                    // Under the name it was started by: `mqcam-edge` when packaged.
                    false => ("", format!("; `{} login` prints the link with it", program())),
                };
                format!(
                    "user \"viewer\", password {shown}kept in {} ({when}; delete the file for a new one{hint})",
                    file.display()
                )
            }
        }
    }

    /// Prints the banner on stdout.
    pub fn print(&self) {
        use std::io::Write;
        print!("{}", self.text());
        let _ = std::io::stdout().flush();
    }
}

/// The viewer's URLs, on this machine and on the LAN (when the site listens on every
/// interface and a LAN address was found), with `password` in the fragment, which
/// browsers never send to a server.
pub fn viewer_urls(
    http: SocketAddr,
    https: bool,
    lan: Option<IpAddr>,
    password: Option<&str>,
) -> (String, Option<String>) {
    let web = if https { "https" } else { "http" };
    let fragment = fragment(password);
    let local = format!("{web}://{}/{fragment}", SocketAddr::new(broker::reachable(http.ip()), http.port()));
    let lan = lan.map(|ip| format!("{web}://{}/{fragment}", SocketAddr::new(ip, http.port())));
    (local, lan)
}

/// This program's file name, as whoever started it would type it again.
fn program() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "edge".into())
}

/// `#password=…` for a viewer URL, or nothing.
pub fn fragment(password: Option<&str>) -> String {
    password.map(|p| format!("#password={}", escape(p))).unwrap_or_default()
}

/// `url` as a QR code under a line that says what it is, for a phone to scan.
pub fn scan(url: &str) -> String {
    match qr(url) {
        Some(qr) => format!("\nScan with a phone to watch (the login is in the link):\n{qr}"),
        None => String::new(),
    }
}

/// A password for a URL fragment that `URLSearchParams` reads back unchanged.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `url` as a QR code drawn with half blocks, two modules per character, light on dark
/// (terminals are mostly dark; phone scanners read either way round).
fn qr(url: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::L).ok()?;
    let art = code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).build();
    Some(art.lines().map(|l| format!("  {l}\n")).collect())
}

/// The viewer page's address as other machines reach it, without any login: on the LAN
/// address (`lan`) when the site listens on every interface (the banner's "on the LAN"
/// URL), else on the address it listens on; `None` when that is loopback, or every
/// interface but no LAN address was found: only this machine could open it.
pub fn reachable_url(http: SocketAddr, https: bool, lan: Option<IpAddr>) -> Option<String> {
    let ip = match http.ip() {
        ip if ip.is_unspecified() => lan?,
        ip if ip.is_loopback() => return None,
        ip => ip,
    };
    let web = if https { "https" } else { "http" };
    Some(format!("{web}://{}/", SocketAddr::new(ip, http.port())))
}

/// The address other machines on the LAN most likely reach this one at: the source
/// address of the default route (a UDP "connect" sends nothing).
pub fn lan_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banner<'a>(
        access: &'a Access,
        show: bool,
        b: &'a broker::EmbeddedBroker,
        to: &'a BrokerUrl,
    ) -> String {
        let cameras = [Camera {
            name: "cam1".into(),
            quality: 75,
            source: "test pattern".into(),
            frame_topic: "mqcam/cam1/frame".into(),
        }];
        Banner {
            cameras: &cameras,
            http: "0.0.0.0:8080".parse().unwrap(),
            https: false,
            lan: Some("192.168.1.20".parse().unwrap()),
            embedded: Some(b),
            publish_to: to,
            failover: &[],
            access,
            show_password: show,
            recording: None,
        }
        .text()
    }

    fn embedded() -> broker::EmbeddedBroker {
        broker::EmbeddedBroker {
            tcp: "0.0.0.0:1883".parse().unwrap(),
            ws: "0.0.0.0:9001".parse().unwrap(),
            internal: "127.0.0.1:40000".parse().unwrap(),
            tls: false,
        }
    }

    #[test]
    fn a_generated_password_is_in_the_urls_and_the_qr_code_on_a_terminal_only() {
        let access =
            Access::Generated { password: "abcd-2345".into(), file: "/s/viewer-password".into(), made: true };
        let (b, to) = (embedded(), BrokerUrl::Tcp { host: "127.0.0.1".into(), port: 1, tls: false });
        let shown = banner(&access, true, &b, &to);
        assert!(shown.contains("  viewer:     http://127.0.0.1:8080/#password=abcd-2345\n"), "{shown}");
        assert!(shown.contains("  on the LAN: http://192.168.1.20:8080/#password=abcd-2345\n"));
        assert!(shown.contains("Scan with a phone") && shown.contains('▀'), "{shown}");
        let hidden = banner(&access, false, &b, &to);
        assert!(!hidden.contains("abcd-2345") && !hidden.contains('▀'), "{hidden}");
        assert!(hidden.contains("/s/viewer-password") && hidden.contains(" login` prints the link with it"));
        // The topic line comes before the QR code: scripts read up to it.
        assert!(shown.find("topic:").unwrap() < shown.find("Scan").unwrap());
    }

    #[test]
    fn what_is_recorded_and_where_is_said_before_the_topic() {
        let (b, to) = (embedded(), BrokerUrl::Tcp { host: "127.0.0.1".into(), port: 1, tls: false });
        let cameras =
            [Camera { name: "cam1".into(), quality: 75, source: "x".into(), frame_topic: "t".into() }];
        let shown = Banner {
            cameras: &cameras,
            http: "127.0.0.1:8080".parse().unwrap(),
            https: false,
            lan: None,
            embedded: Some(&b),
            publish_to: &to,
            failover: &[],
            access: &Access::Open,
            show_password: false,
            recording: Some("cam1 continuous → /var/lib/mqcam/recordings".into()),
        }
        .text();
        assert!(
            shown.contains("  record:     cam1 continuous → /var/lib/mqcam/recordings\n  topic:      t\n"),
            "{shown}"
        );
    }

    #[test]
    fn an_open_camera_says_so_and_a_configured_password_is_never_printed() {
        let (b, to) = (embedded(), BrokerUrl::Tcp { host: "127.0.0.1".into(), port: 1, tls: false });
        let open = banner(&Access::Open, true, &b, &to);
        assert!(open.contains("NONE (--no-login): anyone who can reach this machine can watch"), "{open}");
        let configured = banner(&Access::Configured { username: "family".into() }, true, &b, &to);
        assert!(configured.contains("user \"family\"") && !configured.contains("#password"), "{configured}");
    }

    #[test]
    fn the_reachable_url_is_the_lan_one_or_the_bound_address_but_never_loopback() {
        let lan: Option<IpAddr> = Some("192.168.1.20".parse().unwrap());
        let at = |addr: &str| addr.parse::<SocketAddr>().unwrap();
        assert_eq!(
            reachable_url(at("0.0.0.0:8080"), false, lan).as_deref(),
            Some("http://192.168.1.20:8080/")
        );
        assert_eq!(
            reachable_url(at("0.0.0.0:8443"), true, lan).as_deref(),
            Some("https://192.168.1.20:8443/")
        );
        assert_eq!(reachable_url(at("0.0.0.0:8080"), false, None), None, "no LAN address found");
        assert_eq!(reachable_url(at("10.0.0.5:8080"), false, None).as_deref(), Some("http://10.0.0.5:8080/"));
        assert_eq!(
            reachable_url(at("[fd00::5]:8080"), false, None).as_deref(),
            Some("http://[fd00::5]:8080/")
        );
        assert_eq!(
            reachable_url(at("127.0.0.1:8080"), false, lan),
            None,
            "bound to loopback: this machine only"
        );
        assert_eq!(reachable_url(at("[::1]:8080"), false, lan), None);
    }

    #[test]
    fn passwords_of_ones_own_are_escaped_for_the_fragment() {
        assert_eq!(escape("a b+c&d=é"), "a%20b%2Bc%26d%3D%C3%A9");
    }
}
