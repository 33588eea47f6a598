//! `mqtt-sim broker`: the reference broker on real TCP.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mqttsim_broker::{Broker, BrokerConfig, Event, MemoryStore, PasswordFile};
use mqttsim_net::BrokerDriverConfig;

use crate::Failure;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim broker                                   # 127.0.0.1:1883
  mqtt-sim broker --listen 127.0.0.1:1884 --max-connections 100
  mqtt-sim broker --password-file users.txt         # lines of user:password

Logs one line per connect and disconnect on stdout. Ctrl-C closes every connection and exits 0.")]
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
    /// File of `user:password` lines; without it every client is allowed in.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Log nothing per connection.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: BrokerArgs) -> Result<u8, Failure> {
    let mut config = BrokerConfig::default();
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
        println!("mqtt-sim broker listening on {addr} (MQTT 3.1.1); Ctrl-C to stop");
        let sink: Option<mqttsim_net::EventSink> =
            if args.quiet { None } else { Some(Box::new(log_event)) };
        let core = Broker::new(config, Box::new(MemoryStore::volatile()));
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let accepted =
            mqttsim_net::tcp::serve_broker(listener, core, driver_config, sink, shutdown)
                .await
                .map_err(Failure::environment)?;
        println!("mqtt-sim broker stopped after {accepted} connections");
        Ok(0)
    })
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
        _ => {}
    }
}
