//! The turmoil performance spike: steps per wall second for one broker host and N site hosts,
//! with 0, 1,000 or 10,000 mostly idle TCP connections sending a small message every 30 s.
//!
//! Run with `cargo bench -p mqttsim-sim --bench turmoil`. Environment variables narrow it:
//! `SITES=2,5,10`, `CONNS=0,1000,10000`, `TICKS_MS=1,5,10`, `LINK=0|1` (through our link
//! adapter or raw turmoil streams), `MEASURE_S=30` (simulated seconds measured after setup),
//! `REPEAT=1` (the best of this many runs is reported: the machine is noisy).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mqttsim_sim::link::{DeviceLink, Latency, LinkConfig, LinkModel, LinkOptions};
use mqttsim_sim::rng::{Purpose, Seeds};
use mqttsim_sim::world::{self, BROKER_HOST, WorldConfig, site_host};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

fn list(var: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').map(|x| x.trim().parse().expect("a number")).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

const SETUP: Duration = Duration::from_secs(35);
const PERIOD: Duration = Duration::from_secs(30);

/// One device: connect at a random time in the first 5 s, then every 30 s send 20 bytes and
/// read the echo.
async fn device<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    phase: Duration,
    done: Rc<Cell<u64>>,
) {
    tokio::time::sleep(phase).await;
    let mut buf = [0u8; 20];
    loop {
        if stream.write_all(&[7u8; 20]).await.is_err() || stream.read_exact(&mut buf).await.is_err()
        {
            return;
        }
        done.set(done.get() + 1);
        tokio::time::sleep(PERIOD).await;
    }
}

struct Outcome {
    steps_per_s: f64,
    setup_wall: Duration,
    echoes: u64,
    rss: u64,
}

fn run(sites: u64, conns: u64, tick: Duration, through_link: bool, measure: Duration) -> Outcome {
    let mut sim = world::build_sim(&WorldConfig {
        seed: 1,
        tick,
        duration: Duration::from_secs(100_000),
        ..WorldConfig::default()
    });
    sim.host(BROKER_HOST, || async {
        let listener = turmoil::net::TcpListener::bind("0.0.0.0:1883").await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::task::spawn_local(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let seeds = Seeds::new(1);
    let echoes = Rc::new(Cell::new(0u64));
    let per_site = conns / sites.max(1);
    for s in 0..sites {
        let echoes = echoes.clone();
        sim.client(site_host(&s.to_string()), async move {
            for i in 0..per_site {
                let id = s * per_site + i;
                let mut rng = seeds.stream(Purpose::DEVICE, id);
                let start = Duration::from_millis(rng.random_range(0..5_000));
                let phase = Duration::from_millis(rng.random_range(0..30_000));
                let echoes = echoes.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(start).await;
                    if through_link {
                        let config = LinkConfig {
                            latency: Latency::Fixed(Duration::from_millis(30)),
                            loss: 0.01,
                            ..LinkConfig::default()
                        };
                        let model = LinkModel::new(config, &seeds, id).unwrap();
                        let link = DeviceLink::new(model, LinkOptions::default());
                        if let Ok((stream, conn)) = link.connect("broker:1883").await {
                            device(stream, phase, echoes).await;
                            drop(conn);
                        }
                    } else if let Ok(stream) = turmoil::net::TcpStream::connect("broker:1883").await
                    {
                        device(stream, phase, echoes).await;
                    }
                });
            }
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    let wall = Instant::now();
    while sim.elapsed() < SETUP {
        sim.step().unwrap();
    }
    let setup_wall = wall.elapsed();
    let before = echoes.get();
    let steps = (measure.as_nanos() / tick.as_nanos()) as u64;
    let wall = Instant::now();
    for _ in 0..steps {
        sim.step().unwrap();
    }
    let took = wall.elapsed();
    Outcome {
        steps_per_s: steps as f64 / took.as_secs_f64(),
        setup_wall,
        echoes: echoes.get() - before,
        rss: rss_mib(),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not: skip the spike then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sites = list("SITES", &[2, 5, 10]);
    let conns = list("CONNS", &[0, 1000, 10000]);
    let ticks = list("TICKS_MS", &[1, 5, 10]);
    let through_link = std::env::var("LINK").is_ok_and(|v| v == "1");
    let measure = Duration::from_secs(list("MEASURE_S", &[30])[0]);
    let repeat = list("REPEAT", &[1])[0].max(1);
    println!(
        "link={through_link} measure={measure:?} (simulated, after {SETUP:?} of setup)\n\
         sites  conns  tick_ms  steps/s  sim_s/wall_s  wall_for_1h_s  setup_wall_s  echoes  rss_mib"
    );
    for &s in &sites {
        for &c in &conns {
            for &t in &ticks {
                let tick = Duration::from_millis(t);
                let o = (0..repeat)
                    .map(|_| run(s, c, tick, through_link, measure))
                    .max_by(|a, b| a.steps_per_s.total_cmp(&b.steps_per_s))
                    .expect("at least one run");
                let speed = o.steps_per_s * tick.as_secs_f64();
                println!(
                    "{s:>5}  {c:>5}  {t:>7}  {:>7.0}  {speed:>12.1}  {:>13.1}  {:>12.2}  {:>6}  {:>7}",
                    o.steps_per_s,
                    3600.0 / speed,
                    o.setup_wall.as_secs_f64(),
                    o.echoes,
                    o.rss
                );
            }
        }
    }
}
