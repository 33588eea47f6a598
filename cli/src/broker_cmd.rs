//! `mqtt-sim broker`: the reference broker on real TCP.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mqttsim_broker::{Broker, BrokerConfig, Event, MemoryStore, PasswordFile};
use mqttsim_codec::{PacketType, ReasonCode};
use mqttsim_net::BrokerDriverConfig;

use crate::Failure;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim broker                                   # 127.0.0.1:1883
  mqtt-sim broker --listen 127.0.0.1:1884 --max-connections 100
  mqtt-sim broker --password-file users.txt         # lines of user:password
  mqtt-sim broker --server-keep-alive 30 --max-session-expiry 3600

Speaks MQTT 3.1.1 and 5.0 on the same port. Logs one line per connect and disconnect on
stdout, and every MQTT 5.0 reason code as it is sent (CONNACK, DISCONNECT, and PUBACK, PUBREC,
SUBACK and UNSUBACK codes other than success). Ctrl-C or SIGTERM closes every connection (5.0
clients get DISCONNECT 0x8B, server shutting down) and exits 0.")]
pub struct BrokerArgs {
    /// Address to listen on. Loopback by default; anything else must be asked for.
    #[arg(long, default_value = "127.0.0.1:1883")]
    listen: SocketAddr,
    /// Most connections open at once; further ones are closed on arrival.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Largest packet accepted from a client, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_packet_size: usize,
    /// MQTT 5.0: a keepalive in seconds imposed on 5.0 clients (Server Keep Alive).
    #[arg(long, value_name = "SECONDS")]
    server_keep_alive: Option<u16>,
    /// MQTT 5.0: the longest Session Expiry Interval granted, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = u32::MAX)]
    max_session_expiry: u32,
    /// MQTT 5.0: topic aliases a 5.0 client may use towards the broker (0 refuses them).
    #[arg(long, default_value_t = 10)]
    topic_alias_maximum: u16,
    /// File of `user:password` lines; without it every client is allowed in.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Log nothing per connection.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: BrokerArgs) -> Result<u8, Failure> {
    let mut config = BrokerConfig {
        max_packet_size: u32::try_from(args.max_packet_size).unwrap_or(u32::MAX),
        server_keep_alive: args.server_keep_alive,
        max_session_expiry_interval: args.max_session_expiry,
        topic_alias_maximum: args.topic_alias_maximum,
        ..BrokerConfig::default()
    };
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading password file {}", path.display()))
            .map_err(Failure::input)?;
        let file = PasswordFile::parse(&text)
            .with_context(|| format!("in password file {}", path.display()))
            .map_err(Failure::input)?;
        config.authenticator = std::sync::Arc::new(file);
    }
    let driver_config = BrokerDriverConfig {
        max_packet_size: args.max_packet_size,
        max_connections: args.max_connections,
        ..BrokerDriverConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
        .map_err(Failure::environment)?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))
            .map_err(Failure::environment)?;
        let addr = listener.local_addr().map_err(Failure::environment)?;
        println!("mqtt-sim broker listening on {addr} (MQTT 3.1.1 and 5.0); Ctrl-C to stop");
        let sink: Option<mqttsim_net::EventSink> =
            if args.quiet { None } else { Some(Box::new(log_event)) };
        let core = Broker::new(config, Box::new(MemoryStore::volatile()));
        let shutdown = shutdown_signal();
        let accepted =
            mqttsim_net::tcp::serve_broker(listener, core, driver_config, sink, shutdown)
                .await
                .map_err(Failure::environment)?;
        println!("mqtt-sim broker stopped after {accepted} connections");
        Ok(0)
    })
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    biased;
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn log_event(now: std::time::Duration, event: &Event) {
    let t = now.as_secs_f64();
    match event {
        Event::ClientConnected { conn, client_id, clean_session, session_present } => println!(
            "{t:10.3}s connect    {conn} client_id={client_id:?} clean_session={clean_session} \
             session_present={session_present}"
        ),
        Event::ClientDisconnected { conn, client_id, reason } => {
            println!("{t:10.3}s disconnect {conn} client_id={client_id:?} reason={reason:?}")
        }
        Event::ConnectionRefused { conn, client_id, reason_code } => {
            println!("{t:10.3}s refuse     {conn} client_id={client_id:?} code={reason_code:?}")
        }
        Event::Subscribed { client_id, filter, granted } => {
            println!(
                "{t:10.3}s subscribe  client_id={client_id:?} filter={filter:?} granted={granted:?}"
            )
        }
        Event::WillPublished { client_id, topic, qos, retain } => println!(
            "{t:10.3}s will       client_id={client_id:?} topic={topic:?} qos={} retain={retain}",
            qos.as_u8()
        ),
        Event::ReasonCodeSent { conn, client_id, packet, reason_code } => println!(
            "{t:10.3}s sent       {conn} client_id={client_id:?} {} reason=0x{:02X} ({})",
            packet_name(*packet),
            reason_code.0,
            reason_name(*reason_code, *packet)
        ),
        Event::SessionExpired { client_id } => {
            println!("{t:10.3}s expired    client_id={client_id:?} (Session Expiry Interval)")
        }
        _ => {}
    }
}

fn packet_name(packet: PacketType) -> &'static str {
    match packet {
        PacketType::ConnAck => "CONNACK",
        PacketType::Disconnect => "DISCONNECT",
        PacketType::PubAck => "PUBACK",
        PacketType::PubRec => "PUBREC",
        PacketType::PubComp => "PUBCOMP",
        PacketType::SubAck => "SUBACK",
        PacketType::UnsubAck => "UNSUBACK",
        _ => "packet",
    }
}

/// The standard's name of a reason code as the broker sends it.
fn reason_name(code: ReasonCode, packet: PacketType) -> &'static str {
    match code.0 {
        0x00 if packet == PacketType::Disconnect => "normal disconnection",
        0x00 => "success",
        0x04 => "disconnect with Will message",
        0x10 => "no matching subscribers",
        0x11 => "no subscription existed",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x84 => "unsupported protocol version",
        0x85 => "client identifier not valid",
        0x86 => "bad user name or password",
        0x87 => "not authorized",
        0x8B => "server shutting down",
        0x8C => "bad authentication method",
        0x8D => "keep alive timeout",
        0x8E => "session taken over",
        0x8F => "topic filter invalid",
        0x90 => "topic name invalid",
        0x92 => "packet identifier not found",
        0x93 => "receive maximum exceeded",
        0x94 => "topic alias invalid",
        0x95 => "packet too large",
        0x97 => "quota exceeded",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9E => "shared subscriptions not supported",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => "other",
    }
}
