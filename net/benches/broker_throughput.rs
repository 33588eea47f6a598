//! Messages per second through `mqtt-sim`'s broker and through Mosquitto, side by side.
//!
//! Both brokers run on this machine on loopback ports, under the same load: P publishers each
//! sending N messages of 64 bytes to their own topic, and S subscribers each subscribed to all
//! of them (`bench/<run>/#`), so every message is delivered S times. The figure is deliveries
//! per second, from the first publish to the last delivery. Rounds alternate between the brokers
//! and the median of each is reported, with the ratio ours / Mosquitto. Every load runs with
//! MQTT 3.1.1 clients and again with MQTT 5.0 clients (no properties: the protocol's own cost).
//!
//! Run: `cargo bench -p mqttsim-net --bench broker_throughput`. Mosquitto must be on the PATH
//! (Debian: `apt-get install mosquitto`); without it only our broker is measured.
//! Environment: `BENCH_MESSAGES` (per publisher, default 5000: the 50,000 deliveries per
//! subscriber fit both brokers' queues, so neither has to drop), `BENCH_ROUNDS` (default 3),
//! `BENCH_PROTOCOLS` (default `3.1.1,5.0`: which client versions, in that order).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqttsim_broker::{Broker, BrokerConfig, MemoryStore};
use mqttsim_codec::{
    Ack, Connect, Packet, Properties, Protocol, Publish, QoS, Subscribe, SubscribeFilter,
    SubscriptionOptions, decode, encode,
};
use mqttsim_net::BrokerDriverConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const PUBLISHERS: usize = 10;
const SUBSCRIBERS: usize = 10;
const PAYLOAD: usize = 64;
const QOS1_WINDOW: usize = 64;

fn main() {
    let messages: usize = env_or("BENCH_MESSAGES", 5_000);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let ours = start_our_broker();
    let mosquitto = Mosquitto::start();
    if mosquitto.is_none() {
        eprintln!("mosquitto not found on PATH: measuring mqtt-sim's broker alone");
    }
    println!(
        "load: {PUBLISHERS} publishers x {messages} messages of {PAYLOAD} B, \
         {SUBSCRIBERS} subscribers each receiving all; {rounds} rounds, median"
    );
    println!(
        "{:<6} {:<6} {:>22} {:>22} {:>8}",
        "mqtt", "qos", "mqtt-sim (msg/s)", "mosquitto (msg/s)", "ratio"
    );
    let protocols = std::env::var("BENCH_PROTOCOLS").unwrap_or_else(|_| "3.1.1,5.0".to_owned());
    for version in protocols.split(',') {
        let protocol = match version {
            "3.1.1" => Protocol::V311,
            "5.0" => Protocol::V5,
            other => panic!("BENCH_PROTOCOLS: unknown version {other:?} (3.1.1 or 5.0)"),
        };
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let mut ours_rates = Vec::new();
            let mut theirs_rates = Vec::new();
            for round in 0..rounds {
                let load = Load { protocol, qos, messages };
                let run = format!("{}-o{round}", protocol.level());
                ours_rates.push(run_load(ours, load, &run));
                if let Some(m) = &mosquitto {
                    let run = format!("{}-m{round}", protocol.level());
                    theirs_rates.push(run_load(m.addr, load, &run));
                }
            }
            let o = median(&mut ours_rates);
            if theirs_rates.is_empty() {
                println!("{:<6} {:<6} {:>22.0} {:>22} {:>8}", version, qos.as_u8(), o, "-", "-");
            } else {
                let t = median(&mut theirs_rates);
                println!(
                    "{:<6} {:<6} {:>22.0} {:>22.0} {:>7.2}x",
                    version,
                    qos.as_u8(),
                    o,
                    t,
                    o / t
                );
            }
        }
    }
}

/// One load: the protocol the clients speak, the QoS of publishes and subscriptions, and the
/// messages per publisher.
#[derive(Debug, Clone, Copy)]
struct Load {
    protocol: Protocol,
    qos: QoS,
    messages: usize,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Starts our broker on its own thread (one core, as Mosquitto uses one), on a free port.
fn start_our_broker() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    listener.set_nonblocking(true).expect("non-blocking listener");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            // The same limits as the Mosquitto configuration below.
            let config = BrokerConfig {
                max_inflight: 100,
                max_queued_messages: 100_000,
                ..BrokerConfig::default()
            };
            let core = Broker::new(config, Box::new(MemoryStore::volatile()));
            let _ = mqttsim_net::tcp::serve_broker(
                listener,
                core,
                // The defaults of `mqtt-sim broker`: 8 MiB waiting per connection (over 100,000
                // of these packets), 256 MiB in all.
                BrokerDriverConfig::default(),
                None,
                std::future::pending(),
            )
            .await;
        });
    });
    addr
}

struct Mosquitto {
    child: Child,
    addr: SocketAddr,
    _dir: std::path::PathBuf,
}

impl Mosquitto {
    fn start() -> Option<Mosquitto> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
            probe.local_addr().ok()?.port()
        };
        let dir = std::env::temp_dir().join(format!("mqtt-sim-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 100000\nmax_inflight_messages 100\n"
            ),
        )
        .ok()?;
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if started.elapsed() > Duration::from_secs(5) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Mosquitto { child, addr, _dir: dir })
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// One measurement: deliveries per second.
fn run_load(addr: SocketAddr, load: Load, run: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(measure(addr, load, run))
}

async fn measure(addr: SocketAddr, load: Load, run: &str) -> f64 {
    let Load { protocol, qos, messages } = load;
    let prefix = format!("bench/{run}-{}", qos.as_u8());
    let mut subscribers = Vec::new();
    for s in 0..SUBSCRIBERS {
        let mut conn = Conn::connect(addr, protocol, &format!("{prefix}-sub{s}")).await;
        conn.send(Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![SubscribeFilter {
                filter: format!("{prefix}/#"),
                options: SubscriptionOptions { qos, ..Default::default() },
            }],
            properties: Properties::new(),
        }))
        .await;
        loop {
            if let Packet::SubAck(_) = conn.recv().await {
                break;
            }
        }
        subscribers.push(conn);
    }
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        publishers.push(Conn::connect(addr, protocol, &format!("{prefix}-pub{p}")).await);
    }
    let expected = messages * PUBLISHERS;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for conn in subscribers {
        tasks.push(tokio::spawn(subscribe_until(conn, expected)));
    }
    for (p, conn) in publishers.into_iter().enumerate() {
        let topic = format!("{prefix}/p{p}");
        tokio::spawn(publish_all(conn, topic, messages, qos));
    }
    let mut delivered = 0;
    for task in tasks {
        delivered += task.await.expect("subscriber task");
    }
    let elapsed = start.elapsed();
    let wanted = expected * SUBSCRIBERS;
    if delivered < wanted {
        // A broker that drops (QoS 0 under load, or a full queue) is measured honestly: the
        // figure includes the subscribers' final wait, and the loss is printed.
        eprintln!("  {run}: {delivered} of {wanted} deliveries arrived ({qos:?})");
    }
    delivered as f64 / elapsed.as_secs_f64()
}

async fn publish_all(mut conn: Conn, topic: String, messages: usize, qos: QoS) {
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let topic = bytestring::ByteString::from(topic);
    let mut outstanding = 0usize;
    let mut next_id: u16 = 0;
    for _ in 0..messages {
        if qos == QoS::AtLeastOnce {
            if outstanding >= QOS1_WINDOW {
                conn.flush().await;
            }
            while outstanding >= QOS1_WINDOW {
                if let Packet::PubAck(_) = conn.recv().await {
                    outstanding -= 1;
                }
            }
            next_id = next_id % 65_000 + 1;
            outstanding += 1;
        }
        conn.queue(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.clone(),
            packet_id: if qos == QoS::AtMostOnce { 0 } else { next_id },
            payload: payload.clone(),
            properties: Properties::new(),
        }));
        if conn.out.len() >= 16 * 1024 {
            conn.flush().await;
        }
    }
    conn.flush().await;
    while outstanding > 0 {
        if let Packet::PubAck(_) = conn.recv().await {
            outstanding -= 1;
        }
    }
    // Keep the connection open until the subscribers are done.
    std::future::pending::<()>().await;
}

async fn subscribe_until(mut conn: Conn, expected: usize) -> usize {
    let mut received = 0;
    while received < expected {
        let packet = match tokio::time::timeout(Duration::from_secs(3), conn.recv_opt()).await {
            Ok(Some(packet)) => packet,
            // QoS 0 may be dropped by a broker under load: count what arrived.
            _ => break,
        };
        if let Packet::Publish(publish) = packet {
            received += 1;
            if publish.qos == QoS::AtLeastOnce {
                conn.queue(&Packet::PubAck(Ack::new(publish.packet_id)));
                if conn.out.len() >= 4096 {
                    conn.flush().await;
                }
            }
        }
        if conn.inbound.is_empty() {
            conn.flush().await;
        }
    }
    received
}

struct Conn {
    protocol: Protocol,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    inbound: BytesMut,
    out: BytesMut,
}

impl Conn {
    async fn connect(addr: SocketAddr, protocol: Protocol, client_id: &str) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect to broker");
        stream.set_nodelay(true).expect("nodelay");
        let (reader, writer) = stream.into_split();
        let mut conn = Conn {
            protocol,
            reader,
            writer,
            inbound: BytesMut::with_capacity(64 * 1024),
            out: BytesMut::new(),
        };
        conn.send(Packet::Connect(Connect {
            protocol,
            clean_start: true,
            keep_alive: 0,
            client_id: client_id.to_string(),
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        }))
        .await;
        match conn.recv().await {
            Packet::ConnAck(ack) if !ack.reason_code.is_error() => conn,
            other => panic!("broker refused the benchmark client: {other:?}"),
        }
    }

    fn queue(&mut self, packet: &Packet) {
        encode(packet, self.protocol, &mut self.out).expect("benchmark packets encode");
    }

    async fn flush(&mut self) {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await.expect("write to broker");
            self.out.clear();
        }
    }

    async fn send(&mut self, packet: Packet) {
        self.queue(&packet);
        self.flush().await;
    }

    async fn recv(&mut self) -> Packet {
        self.recv_opt().await.expect("broker closed the benchmark connection")
    }

    async fn recv_opt(&mut self) -> Option<Packet> {
        loop {
            if let Some(packet) =
                decode(&mut self.inbound, self.protocol, 1 << 20).expect("broker sent valid MQTT")
            {
                return Some(packet);
            }
            match self.reader.read_buf(&mut self.inbound).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}
