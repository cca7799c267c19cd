//! From a stamped JPEG to a picture on screen and the numbers about it: the browser's
//! decoder ([`decode`](self::decode)), the canvases ([`draw`](self::draw)), the
//! detections drawn over the picture ([`overlay`](self::overlay)), frame rate and latency per stage
//! ([`stats`]) and what `#stats` and the overlay text say ([`view`]).

pub(crate) mod decode;
pub(crate) mod draw;
pub(crate) mod overlay;
pub mod stats;
pub mod view;
