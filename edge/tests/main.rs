//! The edge's integration tests, one binary (helpers compiled once, in [`util`]). Most
//! start the `edge` binary on free loopback ports and talk to it as viewers, cameras
//! and other publishers would; `library` runs it in-process through `edge::start`.

mod cameras;
mod fanout;
mod http_camera;
mod integration;
mod library;
mod monitoring;
mod mosquitto;
mod motion;
mod record;
mod renditions;
mod rtsp;
mod security;
mod util;
