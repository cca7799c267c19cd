//! From a stamped JPEG to a picture on screen and the numbers about it: the frame
//! handed over by its source ([`frame`]), what is decoded, drawn and counted
//! ([`present`], no I/O), the browser's decoder (`decode`), the canvases (`draw`), the
//! detections drawn over the picture (`overlay`), frame rate and latency per stage
//! ([`stats`]), the steps to the page's first picture ([`startup`]) and what `#stats`
//! and the overlay text say ([`view`]).

pub(crate) mod decode;
pub(crate) mod draw;
pub mod frame;
pub(crate) mod overlay;
pub mod present;
pub mod startup;
pub mod stats;
pub mod view;
