//! The connection to the broker: which broker, the socket, the MQTT session on it, and
//! the connection as the user is told about it. It opens, closes and schedules the
//! retries; what the session's events mean for the picture is the engine's business,
//! which hands it the socket's event handler.

use web_sys::WebSocket;

use crate::{
    net::{
        brokers::{Brokers, Retry},
        session::Session,
        socket::{Socket, SocketEvent},
    },
    picture::view::Link,
};

/// The username suggested when none was given (the edge's generated login's).
pub const DEFAULT_USER: &str = "viewer";

pub struct Connection {
    /// The brokers to connect to, and which one now.
    brokers: Option<Brokers>,
    /// A socket opened before the engine started, for its first connection.
    early: Option<WebSocket>,
    socket: Option<Socket>,
    /// The MQTT session: who we are, the login, what the broker's bytes mean.
    pub session: Session,
    /// The connection as the user is told about it.
    pub link: Link,
}

impl Connection {
    pub fn new(client_id: String, login: Option<(String, String)>, early: Option<WebSocket>) -> Connection {
        Connection {
            brokers: None,
            early,
            socket: None,
            session: Session::new(client_id, login),
            link: Link::Connecting,
        }
    }

    /// The brokers to use; `false` if there are none.
    pub fn set_brokers(&mut self, urls: Vec<String>) -> bool {
        self.brokers = Brokers::new(urls);
        self.brokers.is_some()
    }

    /// The broker connected to (or being connected to).
    pub fn broker(&self) -> Option<&str> {
        self.brokers.as_ref().map(Brokers::current)
    }

    pub fn is_open(&self) -> bool {
        self.socket.as_ref().is_some_and(Socket::is_open)
    }

    /// Sends what the session has to send, as one WebSocket message.
    pub fn flush(&mut self) {
        let out = self.session.take_outgoing();
        if let (Some(socket), false) = (&self.socket, out.is_empty()) {
            socket.send(&out);
        }
    }

    /// Closes the socket (its handlers go with it: no close event, no retry).
    pub fn close(&mut self) {
        self.socket = None;
        self.session.close();
    }

    /// A login typed into the page's form: from the first broker again, with it.
    pub fn log_in(&mut self, user: String, password: String) {
        self.session.log_in(user, password);
        if let Some(brokers) = &mut self.brokers {
            brokers.start_over();
        }
        self.link = Link::Connecting;
    }

    /// The tab was hidden: disconnected on purpose (unless nothing is connected or
    /// retrying anyway).
    pub fn hide(&mut self) {
        if matches!(self.link, Link::NeedLogin(_) | Link::Stopped(_)) {
            return;
        }
        self.link = Link::Paused;
        // Dropping the socket closes it; its close handler is gone, so no retry.
        self.close();
    }

    /// The tab was shown: whether to connect again (it was paused for being hidden).
    pub fn unhide(&mut self) -> bool {
        if self.link != Link::Paused {
            return false;
        }
        self.link = Link::Connecting;
        self.session.reset_backoff();
        if let Some(brokers) = &mut self.brokers {
            brokers.start_over();
        }
        true
    }

    /// Opens a socket to the current broker, its events going to `on_event`. `None`: no
    /// socket (paused, no broker, or it could not be made: the link says why); else
    /// whether it is open already (the early socket), so will not say so again.
    pub fn open(&mut self, on_event: impl Fn(SocketEvent) + 'static) -> Option<bool> {
        if self.link == Link::Paused {
            return None; // a retry timer that fired after the tab was hidden
        }
        let brokers = self.brokers.as_ref()?;
        // The socket the worker's loader opened to the first broker while this module
        // loaded, if still usable (taken by the first connection, which is to the first
        // broker).
        let socket = match Socket::open(brokers.current(), self.early.take(), on_event) {
            Ok(socket) => socket,
            Err(why) => {
                self.link = Link::Stopped(why);
                return None;
            }
        };
        // The socket replaced (if any) says nothing more: its session is over.
        self.close();
        // A retry goes on saying why the last attempt failed until this one gets
        // somewhere: set to "connecting…" here, a page that cannot reach its broker
        // (another site's page, refused for its origin) said so most of the time and the
        // reason only for the moment between two attempts.
        if !matches!(self.link, Link::Down(_)) {
            self.link = Link::Connecting;
        }
        let open_now = socket.is_open();
        self.socket = Some(socket);
        Some(open_now)
    }

    /// The broker took the login.
    pub fn live(&mut self) {
        self.link = Link::Live;
        if let Some(brokers) = &mut self.brokers {
            brokers.works();
        }
    }

    /// The connection is lost: dropped, and the wait (ms) before the next attempt, to
    /// the next broker at once or, once every broker failed in a row, after the
    /// session's backoff. `None`: no retry (stopped, paused, or waiting for a login).
    pub fn lost(&mut self, reason: String, jitter: f64) -> Option<f64> {
        self.close();
        if matches!(self.link, Link::Stopped(_) | Link::Paused | Link::NeedLogin(_)) {
            return None;
        }
        let brokers = self.brokers.as_mut()?;
        self.link = Link::Down(reason);
        Some(match brokers.failed() {
            Retry::Now => 0.0,
            Retry::AfterBackoff => self.session.retry_delay(jitter),
        })
    }

    /// Stops retrying until a login is typed: the username to suggest.
    pub fn need_login(&mut self, why: String) -> String {
        self.close();
        self.link = Link::NeedLogin(why);
        self.session.user().unwrap_or(DEFAULT_USER).to_string()
    }
}
