//! The page around the picture: start-up, target and login ([`ui`](self::ui)), the grid
//! and the camera view with their controls ([`screen`](self::screen)), what is shown
//! ([`deck`]), which broker and topic ([`target`]), and the messages between the page
//! and the engine's worker ([`worker`]).

pub(crate) mod actions;
pub(crate) mod badge;
pub mod deck;
pub(crate) mod dom;
pub(crate) mod handle;
pub(crate) mod link;
pub(crate) mod prefs;
pub(crate) mod screen;
pub mod target;
pub(crate) mod ui;
pub mod worker;
