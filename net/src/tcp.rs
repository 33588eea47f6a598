//! Serving the broker on real TCP (tokio), as `mqtt-sim broker` does.

use std::future::Future;

use mqttsim_broker::Broker;
use tokio::net::TcpListener;

use crate::broker::{BrokerDriver, BrokerDriverConfig, EventSink};

/// Accepts connections on `listener` and serves them with `core` until `shutdown` completes.
///
/// Must run inside a `LocalSet` on a current-thread runtime. On shutdown, every connection is
/// closed (5.0 clients are told DISCONNECT 0x8B first, with a second to write it) and the
/// function returns the number of connections it accepted.
pub async fn serve_broker(
    listener: TcpListener,
    core: Broker,
    config: BrokerDriverConfig,
    sink: Option<EventSink>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let driver = BrokerDriver::new(core, config);
    if let Some(sink) = sink {
        driver.set_event_sink(sink);
    }
    let timers = tokio::task::spawn_local(driver.clone().run_timers());
    let mut accepted = 0u64;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            incoming = listener.accept() => {
                let (stream, _peer) = match incoming {
                    Ok(pair) => pair,
                    // Running out of descriptors and the like: keep serving the others.
                    Err(_) => continue,
                };
                let _ = stream.set_nodelay(true);
                if driver.spawn_connection(stream).is_some() {
                    accepted += 1;
                }
            }
        }
    }
    driver.shutdown(std::time::Duration::from_secs(1)).await;
    timers.abort();
    Ok(accepted)
}
