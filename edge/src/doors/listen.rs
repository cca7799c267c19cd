//! A door's accept loop, the same for the web port and the gate's two listeners: each
//! connection is counted against the listener's [`ConnLimit`] as it is accepted, before
//! anything it sends is read; one over the cap is closed at once. Accept errors (out of
//! descriptors, mostly) are backed off from rather than retried at once, so a full
//! process does not spin a core logging them.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::{TcpListener, TcpStream};

use super::{
    keeper::Doorkeeper,
    limit::{ConnLimit, Full},
    refusals::{Door, Reason},
};

/// Accepts connections on `listener` until the task is dropped, and runs `handle` on
/// its own task for each one the limit admits, holding its place until it returns.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    door: Door,
    limit: ConnLimit,
    keeper: Arc<Doorkeeper>,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut failures = 0u32;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 {
                    tracing::warn!(%door, error = %e, "accept failed; backing off until it works again");
                }
                tokio::time::sleep(accept_backoff(failures)).await;
                continue;
            }
        };
        if failures > 0 {
            tracing::info!(%door, failed = failures, "accepting connections again");
            failures = 0;
        }
        match limit.admit(peer.ip()) {
            Ok(ticket) => {
                let handled = handle(stream, peer);
                tokio::spawn(async move {
                    handled.await;
                    drop(ticket);
                });
            }
            Err(full) => {
                // Dropped unread: closed at once, its descriptor free again.
                drop(stream);
                let (per_address, total) = limit.caps();
                let (reason, first) = match full {
                    Full::PerAddress { first } => (Reason::PerAddressCap, first),
                    Full::Total { first } => (Reason::TotalCap, first),
                };
                keeper.refused.count(door, reason);
                if first {
                    tracing::warn!(
                        %peer,
                        %door,
                        reason = reason.name(),
                        per_address,
                        total,
                        "refusing connections: too many open (counted in /metrics from now on)"
                    );
                }
            }
        }
    }
}

/// How long to wait after the `failures`th accept error in a row: 10 ms, doubling, at
/// most 1 s. Descriptors come free when connections close, usually within
/// milliseconds; a second is short enough for a person opening the page not to notice.
pub fn accept_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(7);
    Duration::from_millis(10 << doublings).min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_up_to_a_second() {
        let ms: Vec<u128> = (1..=10).map(|n| accept_backoff(n).as_millis()).collect();
        assert_eq!(ms, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert_eq!(accept_backoff(u32::MAX), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed_at_once_and_counted() {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let keeper = Arc::new(Doorkeeper::default());
        let limit = ConnLimit::new(2, 100);
        let (held_tx, mut held_rx) = tokio::sync::mpsc::unbounded_channel();
        let serving =
            tokio::spawn(serve(listener, Door::Http, limit.clone(), keeper.clone(), move |s, _| {
                let held_tx = held_tx.clone();
                // Held open until the test lets go.
                async move {
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let _ = held_tx.send(tx);
                    let _ = rx.await;
                    drop(s);
                }
            }));
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut release = vec![held_rx.recv().await.unwrap(), held_rx.recv().await.unwrap()];
        // The third and fourth are closed without a byte.
        for c in &mut clients[2..] {
            let mut b = [0u8; 1];
            let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await.unwrap();
            assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        }
        assert_eq!(keeper.refused.get(Door::Http, Reason::PerAddressCap), 2);
        assert_eq!(limit.open(), 2);
        // One closes: its place is free for the next.
        let _ = release.pop().unwrap().send(());
        for _ in 0..100 {
            if limit.open() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(limit.open(), 1);
        let _next = TcpStream::connect(addr).await.unwrap();
        let _held = held_rx.recv().await.unwrap();
        assert_eq!(limit.open(), 2);
        serving.abort();
    }
}
