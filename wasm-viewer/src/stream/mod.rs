//! What is watched and how fast it may come: the rendition chosen from what the link
//! delivers ([`adapt`]), the flow-control window asked of the edge ([`flow`]) and when
//! each acknowledgement and clock request goes ([`pace`]), and the offset between this
//! viewer's and the edge's clocks ([`clock`]). Plain Rust, fed times and sizes, tested
//! natively; the engine's live stream puts them to work.

pub mod adapt;
pub mod clock;
pub mod flow;
pub mod pace;
