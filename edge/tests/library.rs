//! The edge in-process, through the library: `edge::start` says where it listens, so a
//! caller needs no banner to scrape, and `stop` says goodbye on the bus.

use clap::Parser;
use rumqttc::MqttOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::{check_frames, collect, wait_for_message, LOOPBACK_ANY_PORTS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_says_where_the_edge_listens_and_stop_says_goodbye() {
    let args =
        [&["edge"][..], &LOOPBACK_ANY_PORTS, &["--no-login", "--camera", "lib=pattern", "--size", "160x120"]]
            .concat();
    let edge = edge::start(edge::config::Config::try_parse_from(args).unwrap()).await.unwrap();
    let running = edge.running().clone();
    assert_eq!(running.frame_topics, ["mqcam/lib/frame"]);
    assert!(!running.tls && running.site.port() != 0 && running.ws.is_some_and(|ws| ws.port() != 0));
    let mqtt = running.mqtt.expect("the embedded broker listens");
    let opts = |id: &str| MqttOptions::new(id, mqtt.ip().to_string(), mqtt.port());
    check_frames(&collect(opts("lib-frames"), "mqcam/lib/frame", 3).await, 160, 120);

    let mut site = tokio::net::TcpStream::connect(running.site).await.unwrap();
    site.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    site.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    edge.stop().await;
    // The embedded broker outlives the edge's tasks in this process: it still has the
    // camera's goodbye.
    wait_for_message(opts("lib-status"), "mqcam/lib/status", "edge stopped").await;
}
