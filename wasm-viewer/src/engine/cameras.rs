//! The bus's messages about every camera, as they change the camera list: previews
//! (waiting for their decoder), status, alarms and the edges' directories.

use wire::topic::Bus;

use crate::{
    bus::{
        cameras::{self, Cam},
        json,
    },
    engine::live::Live,
    picture::frame::Frame,
};

/// What one batch of the socket's messages did to the camera list.
#[derive(Default)]
pub struct Heard {
    /// A camera came, or its state or alarm changed: the page hears at once.
    pub cameras_changed: bool,
    /// Cameras with a new preview waiting for the decoder.
    pub previews: Vec<String>,
    /// Something on the bus that is not what its topic says (warned, never fatal).
    pub bad: Option<&'static str>,
}

/// A message on `topic` (one of the bus's), arrived at `at` in the switch `generation`.
/// `shown`: the camera shown, whose status and offer the live stream follows.
#[allow(clippy::too_many_arguments)]
pub fn message(
    topic: Bus<'_>,
    payload: Vec<u8>,
    retained: bool,
    at: f64,
    generation: u32,
    cams: &mut Vec<Cam>,
    shown: Option<&str>,
    live: &mut Live,
    heard: &mut Heard,
) {
    match topic {
        Bus::Preview(camera) => match Frame::preview(payload, at, retained, generation) {
            Some(f) => {
                let known = cams.len();
                let i = cameras::index(cams, camera);
                heard.cameras_changed |= cams.len() > known;
                cams[i].pending = Some(f);
                if !heard.previews.iter().any(|c| c == camera) {
                    heard.previews.push(camera.to_string());
                }
            }
            None => heard.bad = Some("a preview is not a frame"),
        },
        Bus::Status(camera) => {
            let status = json::status(&payload);
            let i = cameras::index(cams, camera);
            if shown == Some(camera) {
                live.camera = status.clone();
            }
            cams[i].status = status;
            heard.cameras_changed = true;
        }
        Bus::Alarm(camera) => {
            let i = cameras::index(cams, camera);
            match json::alarm(&payload) {
                Ok(alarm) => cams[i].alarm = alarm,
                Err(()) => heard.bad = Some("an alarm message is not the alarm JSON"),
            }
            heard.cameras_changed = true;
        }
        Bus::Directory => {
            for listed in json::directory(&payload) {
                let i = cameras::index(cams, &listed.name);
                if shown == Some(listed.name.as_str()) {
                    live.adapt.offer(&listed.offered, listed.fps);
                }
                let cam = &mut cams[i];
                (cam.offered, cam.fps, cam.full_bytes) = (listed.offered, listed.fps, listed.full_bytes);
                cam.recording = listed.recording;
            }
            heard.cameras_changed = true;
        }
    }
}
