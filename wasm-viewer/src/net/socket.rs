//! The WebSocket to the broker: the only code that touches the socket. It opens one (or
//! adopts one already opening), hands everything that happens to it to one event sink,
//! sends bytes, and closes it when dropped. What the bytes mean is the session's job.

use std::{cell::Cell, rc::Rc};

use js_sys::Uint8Array;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::{net::session::Close, scope::now_ms};

/// What happens to the socket.
pub enum SocketEvent {
    /// It is open: the bytes sent now reach the broker.
    Open,
    /// Bytes from the broker, and when they arrived (viewer ms, read before anything else).
    Message { bytes: Uint8Array, at_ms: f64 },
    /// It closed (or never opened): how, for the session to say what that means.
    Closed(Close),
}

/// A WebSocket and the callbacks it calls; dropping it closes the socket.
pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Opens a socket speaking MQTT to `url`, or adopts `early` (a socket to it opened
    /// before this module loaded) while it is still usable. Every callback goes to
    /// `sink`. An adopted socket may be open already: it will not say so again, so ask
    /// [`Socket::is_open`]. The error says what could not be opened, for the user.
    pub fn open(
        url: &str,
        early: Option<WebSocket>,
        sink: impl Fn(SocketEvent) + 'static,
    ) -> Result<Socket, String> {
        let early = early.filter(|ws| ws.ready_state() <= WebSocket::OPEN);
        let ws = match early.map_or_else(|| WebSocket::new_with_str(url, "mqtt"), Ok) {
            Ok(ws) => ws,
            Err(e) => return Err(format!("cannot open {url}: {}", js_text(&e))),
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let sink: Rc<dyn Fn(SocketEvent)> = Rc::new(sink);
        // A socket closed before it ever opened never reached MQTT.
        let opened = Rc::new(Cell::new(ws.ready_state() == WebSocket::OPEN));
        let on_open = Closure::<dyn FnMut()>::new({
            let (sink, opened) = (sink.clone(), opened.clone());
            move || {
                opened.set(true);
                sink(SocketEvent::Open);
            }
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
            let sink = sink.clone();
            move |e: MessageEvent| {
                // First thing: this is the "received" time of whatever the message completes.
                let at_ms = now_ms();
                if let Ok(buf) = e.data().dyn_into::<js_sys::ArrayBuffer>() {
                    sink(SocketEvent::Message { bytes: Uint8Array::new(&buf), at_ms });
                }
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            sink(SocketEvent::Closed(Close { opened: opened.get(), code: e.code(), reason: e.reason() }));
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close })
    }

    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }

    /// Sends `bytes` as one message. A send on a closing socket throws, and one on a
    /// socket still connecting is lost: the close handler deals with the outcome, and
    /// what a new connection needs is sent again when it opens.
    pub fn send(&self, bytes: &[u8]) {
        let _ = self.ws.send_with_u8_array(bytes);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| v.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
        // Not `{v:?}`: JsValue's Debug links a describer into the glue and the wasm.
        .or_else(|| js_sys::JSON::stringify(v).ok()?.as_string())
        .unwrap_or_default()
}
