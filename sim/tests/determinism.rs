//! Same seed, same run: a small fleet on turmoil through lossy, flapping links.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mqttsim_sim::link::{
    DeviceLink, Flap, Latency, LinkConfig, LinkModel, LinkOptions, Retransmit,
};
use mqttsim_sim::rng::{Purpose, Seeds};
use mqttsim_sim::world::{self, BROKER_HOST, WorldConfig, site_host};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Log = Rc<RefCell<Vec<String>>>;

fn now() -> Duration {
    world::sim_now().unwrap()
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Runs 6 devices on 2 sites for 2 simulated minutes and returns everything that happened.
fn run(seed: u64) -> Vec<String> {
    let seeds = Seeds::new(seed);
    let mut sim = world::build_sim(&WorldConfig {
        seed,
        tick: ms(5),
        duration: Duration::from_secs(600),
        ..WorldConfig::default()
    });
    let log = Log::default();
    let server_log = log.clone();
    sim.host(BROKER_HOST, move || {
        let server_log = server_log.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:1883").await?;
            loop {
                let (mut stream, peer) = listener.accept().await?;
                let server_log = server_log.clone();
                tokio::task::spawn_local(async move {
                    let mut buf = [0u8; 256];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => {
                                let line = format!("{:?} server: {peer} closed", now());
                                server_log.borrow_mut().push(line);
                                return;
                            }
                            Ok(n) => {
                                let line = format!("{:?} server: {n} bytes from {peer}", now());
                                server_log.borrow_mut().push(line);
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        }
    });
    let config = LinkConfig {
        latency: Latency::LogNormal { median: ms(60), sigma: 0.8 },
        jitter: ms(10),
        loss: 0.1,
        flapping: Some(Flap {
            mean_up: Duration::from_secs(40),
            mean_down: Duration::from_secs(8),
        }),
        // Give up after about 6 s of silence, so that flapping causes resets.
        retransmit: Retransmit { max_retransmissions: 4, ..Retransmit::default() },
    };
    let mut links = Vec::new();
    for site in ["a", "b"] {
        let site_devices: Vec<(u64, DeviceLink)> = (0..3u64)
            .map(|i| {
                let id = links.len() as u64 + i;
                let model = LinkModel::new(config, &seeds, id).unwrap();
                let options = LinkOptions { record_events: true, ..LinkOptions::default() };
                (id, DeviceLink::new(model, options))
            })
            .collect();
        links.extend(site_devices.iter().map(|(id, l)| (*id, l.clone())));
        let device_log = log.clone();
        sim.client(site_host(site), async move {
            let mut tasks = Vec::new();
            for (id, link) in site_devices {
                let log = device_log.clone();
                let mut rng = seeds.stream(Purpose::DEVICE, id);
                tasks.push(tokio::task::spawn_local(async move {
                    while now() < Duration::from_secs(120) {
                        let Ok((mut stream, _conn)) = link.connect("broker:1883").await else {
                            continue;
                        };
                        loop {
                            let pause = ms(rng.random_range(500..5_000));
                            tokio::time::sleep(pause).await;
                            if now() >= Duration::from_secs(120) {
                                let _ = stream.shutdown().await;
                                break;
                            }
                            let msg = [id as u8; 40];
                            let mut back = [0u8; 40];
                            let ok = stream.write_all(&msg).await.is_ok()
                                && stream.read_exact(&mut back).await.is_ok();
                            let line = format!("{:?} device {id}: echo ok {ok}", now());
                            log.borrow_mut().push(line);
                            if !ok {
                                break;
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            Ok(())
        });
    }
    sim.run().unwrap();
    let mut out = log.borrow().clone();
    for (id, link) in links {
        out.extend(
            link.take_events()
                .into_iter()
                .map(|e| format!("{:?} link {id}/{}: {:?}", e.at, e.conn, e.kind)),
        );
    }
    out
}

#[test]
fn same_seed_same_events_different_seed_different_events() {
    let first = run(2024);
    assert!(first.len() > 200, "only {} events", first.len());
    // Something interesting happened: retransmissions and resets.
    assert!(first.iter().any(|l| l.contains("transmissions: 2")));
    assert!(first.iter().any(|l| l.contains("echo ok false") || l.contains("DeviceReset")));
    assert_eq!(first, run(2024));
    assert_ne!(first, run(2025));
}
