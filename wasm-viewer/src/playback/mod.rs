//! Recorded footage, played back through the same picture as live: what the viewer asks
//! the edge that records a camera and what it makes of the replies ([`player`]), and the
//! timeline's geometry ([`timeline`]) and what an export downloads ([`clip`]). Plain
//! Rust, tested natively; the engine's `recorded` source and the page's timeline put
//! them to work.

pub mod clip;
pub mod player;
pub mod timeline;
