//! The link adapter on turmoil, against an echo server on the broker host.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mqttsim_sim::link::{
    Connection, DeviceLink, Directions, Latency, LinkConfig, LinkEvent, LinkModel, LinkOptions,
    LinkStream, Window,
};
use mqttsim_sim::rng::Seeds;
use mqttsim_sim::world::{self, BROKER_HOST, WorldConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Lines = Vec<(Duration, String)>;
type Log = Rc<RefCell<Lines>>;

fn now() -> Duration {
    world::sim_now().unwrap()
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

/// Sleeps until simulated time `t` since the start of the simulation.
async fn sleep_until(t: Duration) {
    tokio::time::sleep(t.saturating_sub(now())).await;
}

fn log(log: &Log, what: impl Into<String>) {
    log.borrow_mut().push((now(), what.into()));
}

/// What the server on the broker host does with each connection.
#[derive(Debug, Clone, Copy)]
struct Server {
    /// Echo what it reads (otherwise it only counts).
    echo: bool,
    /// Close a connection that has been silent this long (a broker's keepalive).
    idle_close: Option<Duration>,
}

fn add_server(sim: &mut turmoil::Sim<'_>, server: Server, server_log: &Log) {
    let server_log = server_log.clone();
    sim.host(BROKER_HOST, move || {
        let server_log = server_log.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:1883").await?;
            loop {
                let (mut stream, _) = listener.accept().await?;
                let server_log = server_log.clone();
                log(&server_log, "accept");
                tokio::task::spawn_local(async move {
                    let mut buf = [0u8; 4096];
                    let mut total = 0usize;
                    loop {
                        let read = match server.idle_close {
                            Some(idle) => {
                                match tokio::time::timeout(idle, stream.read(&mut buf)).await {
                                    Ok(r) => r,
                                    Err(_) => {
                                        log(&server_log, format!("idle close after {total} bytes"));
                                        return;
                                    }
                                }
                            }
                            None => stream.read(&mut buf).await,
                        };
                        match read {
                            Ok(0) => {
                                log(&server_log, format!("eof after {total} bytes"));
                                return;
                            }
                            Ok(n) => {
                                total += n;
                                if server.echo && stream.write_all(&buf[..n]).await.is_err() {
                                    log(&server_log, "write error");
                                    return;
                                }
                            }
                            Err(e) => {
                                log(
                                    &server_log,
                                    format!("error {:?} after {total} bytes", e.kind()),
                                );
                                return;
                            }
                        }
                    }
                });
            }
        }
    });
}

fn sim<'a>(seed: u64, tick: Duration) -> turmoil::Sim<'a> {
    world::build_sim(&WorldConfig { seed, tick, duration: secs(3600), ..WorldConfig::default() })
}

fn link(config: LinkConfig, seed: u64, device: u64) -> DeviceLink {
    let model = LinkModel::new(config, &Seeds::new(seed), device).unwrap();
    DeviceLink::new(model, LinkOptions { record_events: true, ..LinkOptions::default() })
}

fn fixed(loss: f64) -> LinkConfig {
    LinkConfig { latency: Latency::Fixed(ms(20)), loss, ..LinkConfig::default() }
}

async fn connect(link: &DeviceLink) -> (LinkStream, Connection) {
    link.connect("broker:1883").await.unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn bytes_arrive_intact_and_in_order_under_20_percent_loss() {
    let mut sim = sim(1, ms(1));
    let server_log = Log::default();
    add_server(&mut sim, Server { echo: true, idle_close: None }, &server_log);
    let device = link(fixed(0.2), 1, 0);
    let events = device.clone();
    sim.client("site-a", async move {
        let (stream, _conn) = connect(&device).await;
        let (mut r, mut w) = tokio::io::split(stream);
        let sent = pattern(200_000);
        let to_send = sent.clone();
        let writer = tokio::task::spawn_local(async move {
            for chunk in to_send.chunks(1000) {
                w.write_all(chunk).await.unwrap();
                tokio::time::sleep(ms(5)).await;
            }
            w
        });
        let mut got = vec![0u8; sent.len()];
        r.read_exact(&mut got).await.unwrap();
        let _w = writer.await.unwrap();
        assert!(got == sent, "echoed bytes differ from the bytes sent");
        Ok(())
    });
    sim.run().unwrap();
    let events = events.take_events();
    let retransmitted = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                mqttsim_sim::link::LinkEventKind::Segment {
                    fate: mqttsim_sim::link::Fate::Delivered { transmissions: 2.., .. },
                    ..
                }
            )
        })
        .count();
    let segments = events
        .iter()
        .filter(|e| matches!(e.kind, mqttsim_sim::link::LinkEventKind::Segment { .. }))
        .count();
    assert!(segments > 300, "{segments} segments");
    // Roughly 20% of the segments needed a retransmission; none was reset.
    let share = retransmitted as f64 / segments as f64;
    assert!((0.12..0.28).contains(&share), "retransmitted share {share}");
}

/// Runs one device against a counting server; `device_body` gets the stream and handle.
fn run_one<F, Fut>(
    config: LinkConfig,
    server: Server,
    tick: Duration,
    tail: Duration,
    setup: impl FnOnce(&DeviceLink),
    device_body: F,
) -> (Lines, Lines, Vec<LinkEvent>)
where
    F: FnOnce(LinkStream, Connection, Log) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let mut sim = sim(3, tick);
    let server_log = Log::default();
    let device_log = Log::default();
    add_server(&mut sim, server, &server_log);
    let device = link(config, 3, 0);
    setup(&device);
    let events = device.clone();
    let dl = device_log.clone();
    sim.client("site-a", async move {
        let (stream, conn) = connect(&device).await;
        device_body(stream, conn, dl).await;
        // Let the world run on so late effects on the server are observed.
        tokio::time::sleep(tail).await;
        Ok(())
    });
    sim.run().unwrap();
    let s = server_log.borrow().clone();
    let d = device_log.borrow().clone();
    (s, d, events.take_events())
}

fn at(log: &[(Duration, String)], prefix: &str) -> Duration {
    log.iter()
        .find(|(_, w)| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {log:?}"))
        .0
}

#[test]
fn long_blackout_resets_the_device_and_tells_the_server_only_when_it_ends() {
    let (server, device, _) = run_one(
        fixed(0.0),
        Server { echo: false, idle_close: None },
        ms(10),
        secs(400),
        |d| d.with_model(|m| m.add_blackout(Window::new(secs(1), secs(300)), Directions::Both)),
        |mut stream, _conn, dl| async move {
            stream.write_all(b"hello").await.unwrap();
            sleep_until(secs(2)).await;
            // Sent during the blackout: 9 transmissions, then the sender gives up.
            let sent_at = now();
            stream.write_all(b"lost in the dark").await.unwrap();
            let mut buf = [0u8; 16];
            let err = stream.read(&mut buf).await.unwrap_err();
            log(&dl, format!("{:?} after {:?}", err.kind(), now() - sent_at));
        },
    );
    assert_eq!(device.len(), 1, "{device:?}");
    assert_eq!(device[0].1, "ConnectionReset after 102.2s");
    // The server got the first 5 bytes, then nothing until the blackout ended.
    let eof = at(&server, "eof after 5 bytes");
    assert!(eof >= secs(300) && eof <= secs(300) + ms(60), "server told at {eof:?}");
}

#[test]
fn short_blackout_is_only_delay() {
    let (server, device, _) = run_one(
        fixed(0.0),
        Server { echo: true, idle_close: None },
        ms(1),
        secs(5),
        |d| d.with_model(|m| m.add_blackout(Window::new(secs(1), secs(4)), Directions::Both)),
        |mut stream, _conn, dl| async move {
            sleep_until(secs(2)).await;
            stream.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            log(&dl, format!("echo {:?}", std::str::from_utf8(&buf).unwrap()));
            stream.shutdown().await.unwrap();
        },
    );
    // Transmissions at 2.0, 2.2, 2.6, 3.4 are lost; the one at 5.0 s arrives at 5.02 s.
    let echo = at(&device, "echo \"ping\"");
    assert!(echo >= ms(5_040) && echo <= ms(5_045), "echo at {echo:?}");
    assert!(at(&server, "eof after 4 bytes") >= ms(5_040));
}

#[test]
fn power_loss_leaves_the_server_stream_open_until_the_server_closes_it() {
    let (server, _, _) = run_one(
        fixed(0.0),
        Server { echo: false, idle_close: Some(secs(60)) },
        ms(10),
        secs(10),
        |_| {},
        |mut stream, conn, _dl| async move {
            stream.write_all(b"hello").await.unwrap();
            sleep_until(secs(1)).await;
            conn.power_loss();
            drop(stream);
            tokio::time::sleep(secs(100)).await;
            assert!(conn.is_broker_side_closed());
        },
    );
    assert_eq!(server.len(), 2, "{server:?}");
    // No EOF, no error: the server's own keepalive (60 s idle) closes it.
    let closed = at(&server, "idle close after 5 bytes");
    assert!(closed >= secs(60) && closed <= secs(61), "closed at {closed:?}");
}

#[test]
fn crash_gives_the_server_eof_after_the_latency() {
    let (server, _, _) = run_one(
        fixed(0.0),
        Server { echo: false, idle_close: None },
        ms(1),
        secs(2),
        |_| {},
        |mut stream, conn, _dl| async move {
            stream.write_all(b"hello").await.unwrap();
            sleep_until(secs(1)).await;
            conn.crash();
        },
    );
    let eof = at(&server, "eof after 5 bytes");
    assert!(eof >= ms(1_020) && eof <= ms(1_025), "eof at {eof:?}");
}

#[test]
fn crash_during_a_blackout_reaches_the_server_after_it() {
    let (server, _, _) = run_one(
        fixed(0.0),
        Server { echo: false, idle_close: None },
        ms(1),
        secs(2),
        |d| d.with_model(|m| m.add_blackout(Window::new(secs(1), secs(2)), Directions::ToBroker)),
        |mut stream, _conn, _dl| async move {
            stream.write_all(b"hello").await.unwrap();
            sleep_until(ms(1_500)).await;
            // Dropping the stream is a crash too.
            drop(stream);
        },
    );
    // FIN sent at 1.5 s, lost at 1.5 and 1.7, delivered on the try at 2.1 s.
    let eof = at(&server, "eof after 5 bytes");
    assert!(eof >= ms(2_120) && eof <= ms(2_125), "eof at {eof:?}");
}

#[test]
fn one_way_blackout_delays_only_its_direction() {
    let mut sim = sim(5, ms(1));
    let device_log = Log::default();
    let dl = device_log.clone();
    sim.host(BROKER_HOST, || async {
        let listener = turmoil::net::TcpListener::bind("0.0.0.0:1883").await?;
        let (mut stream, _) = listener.accept().await?;
        // Push at 2 s, during the device's upstream blackout.
        sleep_until(secs(2)).await;
        stream.write_all(b"down").await?;
        let mut buf = [0u8; 2];
        stream.read_exact(&mut buf).await?;
        stream.write_all(b"ok").await?;
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await?;
        Ok(())
    });
    let device = link(fixed(0.0), 5, 0);
    device.with_model(|m| m.add_blackout(Window::new(secs(1), secs(20)), Directions::ToBroker));
    sim.client("site-a", async move {
        let (mut stream, _conn) = connect(&device).await;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        log(&dl, "down");
        stream.write_all(b"up").await.unwrap();
        let mut ok = [0u8; 2];
        stream.read_exact(&mut ok).await.unwrap();
        log(&dl, "ok");
        Ok(())
    });
    sim.run().unwrap();
    let log = device_log.borrow();
    // Broker → device is unaffected: 2 s + 20 ms.
    let down = at(&log, "down");
    assert!(down >= ms(2_020) && down <= ms(2_022), "down at {down:?}");
    // Device → broker sent at ~2.02 s is retransmitted at +0.2, +0.6, +1.4, +3.0, +6.2,
    // +12.6, +25.4 s: the first try after 20 s is at 27.42 s; the reply comes 40 ms later.
    let ok = at(&log, "ok");
    assert!(ok >= ms(27_460) && ok <= ms(27_470), "ok at {ok:?}");
}

#[test]
fn graceful_close_delivers_everything_then_eof_both_ways() {
    let (server, device, _) = run_one(
        fixed(0.05),
        Server { echo: true, idle_close: None },
        ms(1),
        secs(1),
        |_| {},
        |mut stream, _conn, dl| async move {
            let data = pattern(50_000);
            stream.write_all(&data).await.unwrap();
            stream.shutdown().await.unwrap();
            let mut back = Vec::new();
            stream.read_to_end(&mut back).await.unwrap();
            log(&dl, format!("eof, echo intact: {}", back == data));
        },
    );
    assert_eq!(device[0].1, "eof, echo intact: true");
    at(&server, "eof after 50000 bytes");
}

#[test]
fn a_failed_handshake_times_out() {
    let mut sim = sim(6, ms(10));
    add_server(&mut sim, Server { echo: true, idle_close: None }, &Log::default());
    let device = link(fixed(1.0), 6, 0);
    sim.client("site-a", async move {
        let err = device.connect("broker:1883").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(now(), ms(102_200));
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn bytes_in_flight_are_capped_in_both_directions() {
    const CAP: usize = 10_000;
    let mut sim = sim(7, ms(1));
    let server_log = Log::default();
    let sl = server_log.clone();
    sim.host(BROKER_HOST, move || {
        let sl = sl.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:1883").await?;
            let (mut stream, _) = listener.accept().await?;
            // Push to a device that does not read: the writes must start waiting.
            let mut pushed = 0usize;
            let chunk = [1u8; 1000];
            while let Ok(Ok(())) = tokio::time::timeout(secs(1), stream.write_all(&chunk)).await {
                pushed += chunk.len();
                if pushed > 100_000_000 {
                    break;
                }
            }
            log(&sl, format!("pushed {pushed}"));
            Ok(())
        }
    });
    let device = DeviceLink::new(
        LinkModel::new(fixed(0.0), &Seeds::new(7), 0).unwrap(),
        LinkOptions { max_in_flight: CAP, record_events: false },
    );
    device.with_model(|m| m.add_blackout(Window::new(ms(100), secs(30)), Directions::ToBroker));
    let device_log = Log::default();
    let dl = device_log.clone();
    sim.client("site-a", async move {
        let (mut stream, _conn) = connect(&device).await;
        sleep_until(ms(200)).await;
        // Write into the upstream blackout: accepted bytes stop at the cap.
        let mut accepted = 0usize;
        let chunk = [2u8; 500];
        while let Ok(Ok(n)) = tokio::time::timeout(secs(1), stream.write(&chunk)).await {
            accepted += n;
        }
        log(&dl, format!("accepted {accepted}"));
        sleep_until(secs(5)).await;
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(device_log.borrow()[0].1, format!("accepted {CAP}"));
    let pushed = &server_log.borrow()[0].1;
    let pushed: usize = pushed.trim_start_matches("pushed ").parse().unwrap();
    // The adapter holds at most CAP bytes (plus one read); the rest waits in turmoil's
    // per-stream buffer, which is bounded by its segment capacity.
    // turmoil buffers up to `tcp_capacity` writes (of 1000 bytes here) per stream.
    let turmoil_buffer = WorldConfig::default().tcp_capacity * 1000;
    let bound = CAP + mqttsim_sim::link::adapter::SEGMENT_SIZE + turmoil_buffer;
    assert!(pushed >= CAP && pushed <= bound, "pushed {pushed}, bound {bound}");
}

#[test]
fn broker_sending_into_a_long_blackout_loses_its_stream_and_the_device_learns_later() {
    let mut sim = sim(8, ms(10));
    let server_log = Log::default();
    let sl = server_log.clone();
    sim.host(BROKER_HOST, move || {
        let sl = sl.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:1883").await?;
            let (mut stream, _) = listener.accept().await?;
            sleep_until(secs(2)).await;
            stream.write_all(b"into the dark").await?;
            let mut buf = [0u8; 8];
            let read = stream.read(&mut buf).await;
            log(&sl, format!("read {read:?}"));
            Ok(())
        }
    });
    let device = link(fixed(0.0), 8, 0);
    device.with_model(|m| m.add_blackout(Window::new(secs(1), secs(200)), Directions::Both));
    let device_log = Log::default();
    let dl = device_log.clone();
    sim.client("site-a", async move {
        let (mut stream, _conn) = connect(&device).await;
        let mut buf = [0u8; 16];
        let err = stream.read(&mut buf).await.unwrap_err();
        log(&dl, format!("{:?}", err.kind()));
        sleep_until(secs(210)).await;
        Ok(())
    });
    sim.run().unwrap();
    // The broker's sender gives up 102.2 s after its write at 2 s: its stream ends then.
    let closed = at(&server_log.borrow(), "read Ok(0)");
    assert!(closed >= ms(104_200) && closed <= ms(104_230), "closed at {closed:?}");
    // The reset reaches the device only when the blackout ends (plus 20 ms).
    let told = at(&device_log.borrow(), "ConnectionReset");
    assert!(told >= ms(200_020) && told <= ms(200_040), "told at {told:?}");
}

#[test]
fn endless_blackout_holds_the_server_stream_until_the_server_closes_it() {
    let (server, device, _) = run_one(
        fixed(0.0),
        Server { echo: false, idle_close: Some(secs(150)) },
        ms(10),
        secs(100),
        |d| d.with_model(|m| m.add_blackout(Window::forever_from(secs(1)), Directions::Both)),
        |mut stream, conn, dl| async move {
            stream.write_all(b"hello").await.unwrap();
            sleep_until(secs(2)).await;
            stream.write_all(b"never").await.unwrap();
            let mut buf = [0u8; 4];
            let err = stream.read(&mut buf).await.unwrap_err();
            log(&dl, format!("{:?} closed {}", err.kind(), conn.is_broker_side_closed()));
        },
    );
    let told = at(&device, "ConnectionReset closed false");
    assert_eq!(told, ms(104_200));
    // No EOF ever reaches the server: its own idle timeout closes the stream.
    let closed = at(&server, "idle close after 5 bytes");
    assert!(closed >= secs(150) && closed <= secs(151), "closed at {closed:?}");
}
