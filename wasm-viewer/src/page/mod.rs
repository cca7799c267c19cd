//! The page around the picture: start-up (`ui`), what it starts from and works out
//! (`plan`: target, grid or camera, login; the engine's worker works it out too), the grid and the
//! camera view with their controls (`screen`), the camera's recordings with their
//! timeline (`recordings`), what is shown ([`deck`]), which broker
//! and topic ([`target`]), and the messages between the page and the engine's worker
//! ([`worker`]). Beside them, so that none of them reaches into another: the DOM
//! helpers (`dom`), the handle on the engine wherever it runs (`handle`), the badge
//! and notice over the picture (`badge`), the choices kept in this browser (`prefs`,
//! `link`) and the tab's login (`login`), the snapshot and fullscreen buttons
//! (`actions`) and the download of an exported clip (`export`).

pub(crate) mod actions;
pub(crate) mod badge;
pub mod deck;
pub(crate) mod dom;
pub(crate) mod export;
pub(crate) mod handle;
pub(crate) mod link;
pub(crate) mod login;
pub(crate) mod plan;
pub(crate) mod prefs;
pub(crate) mod recordings;
pub(crate) mod screen;
pub mod target;
pub(crate) mod ui;
pub mod worker;
