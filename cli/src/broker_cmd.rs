//! `mqtt-sim broker`: the reference broker on real TCP (and TLS, and WebSocket), and
//! `mqtt-sim passwd`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use mqttsim_broker::{AclFile, Broker, BrokerConfig, MemoryStore, OverflowPolicy, PasswordFile};
use mqttsim_net::BrokerDriverConfig;

use crate::Failure;
use crate::broker_log::Logger;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim broker                                   # 127.0.0.1:1883
  mqtt-sim broker --listen 127.0.0.1:1884 --max-connections 100
  mqtt-sim passwd users.txt alice                   # add alice (asks for the password)
  mqtt-sim broker --password-file users.txt --acl-file topics.acl
  mqtt-sim broker --tls-listen 127.0.0.1:8883 --cert server.pem --key server-key.pem
  mqtt-sim broker --ws-listen 127.0.0.1:8080        # also ws://127.0.0.1:8080/mqtt
  mqtt-sim broker --wss-listen 127.0.0.1:8443 --cert server.pem --key server-key.pem
  mqtt-sim broker --max-outbox-bytes 1MiB --max-buffered-bytes 64MiB --write-timeout 10s
  mqtt-sim broker --server-keep-alive 30 --max-session-expiry 3600

Speaks MQTT 3.1.1, 5.0 and 3.1 on the same port. MQTT over WebSocket (--ws-listen, --wss-listen)
takes binary frames on any path and needs the `mqtt` sub-protocol, as MQTT's section 6 says. Sizes take the suffixes B, KiB, MiB, GiB;
durations ms, s, m. Logs one line per connect, per close (whatever the cause), per subscription
and Will, every MQTT 5.0 reason code as it is sent (CONNACK, DISCONNECT, and PUBACK, PUBREC,
SUBACK and UNSUBACK codes other than success), and rate-limited lines when messages to a client
are dropped. SIGINT (Ctrl-C) and SIGTERM close every connection (5.0 clients get DISCONNECT
0x8B, server shutting down) and exit 0.")]
pub struct BrokerArgs {
    /// Address to listen on. Loopback by default; anything else must be asked for.
    #[arg(long, default_value = "127.0.0.1:1883")]
    listen: SocketAddr,
    /// Address for MQTT over TLS too (needs --cert and --key).
    #[arg(long, requires_all = ["cert", "key"])]
    tls_listen: Option<SocketAddr>,
    /// Address for MQTT over WebSocket too (ws://ADDR/mqtt; any path is served).
    #[arg(long, value_name = "ADDR")]
    ws_listen: Option<SocketAddr>,
    /// Address for MQTT over WebSocket over TLS too (wss://ADDR/mqtt; needs --cert and --key).
    #[arg(long, value_name = "ADDR", requires_all = ["cert", "key"])]
    wss_listen: Option<SocketAddr>,
    /// PEM certificate chain for the TLS and WSS listeners, leaf first.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Password file of `user:hash` lines (written by `mqtt-sim passwd`); without it every
    /// client is allowed in.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Accept plain-text passwords in the password file (with a warning) instead of refusing.
    #[arg(long)]
    allow_plaintext_passwords: bool,
    /// ACL file of topic rules per user, per client and by pattern; without it every client may
    /// use every topic.
    #[arg(long)]
    acl_file: Option<PathBuf>,
    /// Sockets open at once; further ones are closed on arrival.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Largest packet accepted from a client.
    #[arg(long, default_value = "1MiB", value_parser = parse_bytes)]
    max_packet_size: usize,
    /// Messages a session may queue (offline, or beyond its in-flight window).
    #[arg(long, default_value_t = 1000)]
    max_queued_messages: usize,
    /// Bytes (topic + payload) a session may queue.
    #[arg(long, default_value = "16MiB", value_parser = parse_bytes)]
    max_queued_bytes: usize,
    /// Bytes queued in all sessions together.
    #[arg(long, default_value = "512MiB", value_parser = parse_bytes)]
    max_queued_bytes_total: usize,
    /// Which message a full queue drops.
    #[arg(long, value_enum, default_value_t = Overflow::DropNewest)]
    overflow: Overflow,
    /// Queue QoS 0 messages for offline persistent sessions too (they are dropped by default).
    #[arg(long)]
    queue_qos0_offline: bool,
    /// Outgoing QoS 1 and 2 messages a session may have unacknowledged.
    #[arg(long, default_value_t = 32)]
    max_inflight: u16,
    /// Subscriptions per session; filters beyond it get SUBACK 0x80.
    #[arg(long, default_value_t = 1000)]
    max_subscriptions: usize,
    /// Retained topics kept.
    #[arg(long, default_value_t = 1_000_000)]
    max_retained_messages: usize,
    /// Bytes (topic + payload) of all retained messages.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    max_retained_bytes: usize,
    /// Encoded bytes waiting to be written to one connection; beyond it QoS 0 is dropped and
    /// anything else closes the connection as a slow consumer.
    #[arg(long, default_value = "8MiB", value_parser = parse_bytes)]
    max_outbox_bytes: usize,
    /// Encoded bytes waiting to be written to all connections together.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    max_buffered_bytes: usize,
    /// Read-buffer bytes of all connections that have no CONNACK yet.
    #[arg(long, default_value = "16MiB", value_parser = parse_bytes)]
    max_connecting_bytes: usize,
    /// A write that makes no progress for this long closes the connection.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    write_timeout: Duration,
    /// How long a new connection may take to send CONNECT.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// After a failed login from an address, its next CONNECT waits this long, doubling per
    /// failure up to 8 s; 0s turns it off.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    auth_delay: Duration,
    /// MQTT 5.0: a keepalive in seconds imposed on 5.0 clients (Server Keep Alive).
    #[arg(long, value_name = "SECONDS")]
    server_keep_alive: Option<u16>,
    /// MQTT 5.0: the longest Session Expiry Interval granted, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = u32::MAX)]
    max_session_expiry: u32,
    /// MQTT 5.0: topic aliases a 5.0 client may use towards the broker (0 refuses them).
    #[arg(long, default_value_t = 10)]
    topic_alias_maximum: u16,
    /// Log nothing per connection.
    #[arg(long, short)]
    quiet: bool,
    /// For tests only: switch on a planted bug of the reference broker (repeatable), so that a
    /// live run can show it caught (`mqtt-sim run SCENARIO --broker ...`).
    #[arg(long, value_name = "NAME", value_parser = crate::conformance_cmd::parse_bug)]
    bug: Vec<mqttsim_broker::PlantedBug>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Overflow {
    DropNewest,
    DropOldest,
}

/// `mqtt-sim passwd FILE USER`: adds or replaces a user's Argon2id hash in a password file.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mqtt-sim passwd users.txt alice                   # asks for the password on the terminal
  echo 's3cret' | mqtt-sim passwd users.txt alice --stdin
  mqtt-sim passwd users.txt alice --delete

The file is created if it does not exist; other lines are kept as they are.")]
pub struct PasswdArgs {
    /// The password file.
    file: PathBuf,
    /// The user name.
    user: String,
    /// Read the password from the first line of standard input instead of the terminal.
    #[arg(long)]
    stdin: bool,
    /// Remove the user instead.
    #[arg(long, conflicts_with = "stdin")]
    delete: bool,
}

/// A size with an optional unit: `1024`, `512KiB`, `16MiB`, `1GiB` (also `KB`, `MB`, `GB`).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().map_err(|_| format!("{text:?} is not a size"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" | "k" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}; use B, KiB, MiB or GiB")),
    };
    number.checked_mul(scale).ok_or_else(|| format!("{text:?} is too large"))
}

/// A duration: `500ms`, `30s`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" | "" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number * 60)),
        other => Err(format!("unknown duration unit {other:?}; use ms, s or m")),
    }
}

fn read(path: &Path, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading {what} {}", path.display()))
        .map_err(Failure::input)
}

pub fn run(args: BrokerArgs) -> Result<u8, Failure> {
    let mut config = BrokerConfig {
        max_queued_messages: args.max_queued_messages,
        max_queued_bytes: args.max_queued_bytes,
        max_queued_bytes_total: args.max_queued_bytes_total,
        overflow: match args.overflow {
            Overflow::DropNewest => OverflowPolicy::DropNewest,
            Overflow::DropOldest => OverflowPolicy::DropOldest,
        },
        queue_qos0_offline: args.queue_qos0_offline,
        max_inflight: args.max_inflight.max(1),
        max_subscriptions_per_session: args.max_subscriptions,
        max_retained_messages: args.max_retained_messages,
        max_retained_bytes: args.max_retained_bytes,
        connect_timeout: args.connect_timeout,
        max_packet_size: u32::try_from(args.max_packet_size).unwrap_or(u32::MAX),
        server_keep_alive: args.server_keep_alive,
        max_session_expiry_interval: args.max_session_expiry,
        topic_alias_maximum: args.topic_alias_maximum,
        bugs: args.bug.iter().copied().collect(),
        ..BrokerConfig::default()
    };
    for bug in &args.bug {
        eprintln!("warning: planted bug {bug} is on: this broker is broken on purpose (for tests)");
    }
    if let Some(path) = &args.password_file {
        let text = read(path, "password file")?;
        let file = PasswordFile::parse(&text).map_err(|e| {
            Failure::input(anyhow::anyhow!("{}:{}: {}", path.display(), e.line, e.kind))
        })?;
        if let Some(&line) = file.plaintext_lines().first() {
            let where_ = format!("{}:{line}", path.display());
            if !args.allow_plaintext_passwords {
                return Err(Failure::input(anyhow::anyhow!(
                    "{where_}: plain-text password; hash it with `mqtt-sim passwd {} USER` \
                     (or pass --allow-plaintext-passwords)",
                    path.display()
                )));
            }
            eprintln!(
                "warning: {} plain-text password(s) in {} (first at {where_}); hash them with \
                 `mqtt-sim passwd`",
                file.plaintext_lines().len(),
                path.display()
            );
        }
        config.authenticator = Arc::new(file);
    }
    if let Some(path) = &args.acl_file {
        let text = read(path, "ACL file")?;
        let acl = AclFile::parse(&text).map_err(|e| {
            Failure::input(anyhow::anyhow!("{}:{}: {}", path.display(), e.line, e.kind))
        })?;
        config.authorizer = Arc::new(acl);
    }
    if (args.cert.is_some() || args.key.is_some())
        && args.tls_listen.is_none()
        && args.wss_listen.is_none()
    {
        return Err(Failure::input(anyhow::anyhow!(
            "--cert and --key are for --tls-listen ADDR or --wss-listen ADDR; give one of them"
        )));
    }
    let acceptor = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            Some(mqttsim_net::tls::acceptor(cert, key).map_err(Failure::input)?)
        }
        _ => None,
    };
    let tls = args.tls_listen.zip(acceptor.clone());
    let wss = args.wss_listen.zip(acceptor);
    let driver_config = BrokerDriverConfig {
        max_packet_size: args.max_packet_size,
        max_connections: args.max_connections,
        max_outbox_bytes: args.max_outbox_bytes,
        max_buffered_bytes: args.max_buffered_bytes,
        max_connecting_bytes: args.max_connecting_bytes,
        write_timeout: Some(args.write_timeout),
        auth_delay: args.auth_delay,
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
        println!("mqtt-sim broker listening on {addr} (MQTT 3.1.1, 5.0 and 3.1); Ctrl-C to stop");
        let tls = match tls {
            Some((tls_addr, acceptor)) => {
                let tls_listener = tokio::net::TcpListener::bind(tls_addr)
                    .await
                    .with_context(|| format!("listening on {tls_addr}"))
                    .map_err(Failure::environment)?;
                let bound = tls_listener.local_addr().map_err(Failure::environment)?;
                println!("mqtt-sim broker listening for TLS on {bound}");
                Some((tls_listener, acceptor))
            }
            None => None,
        };
        let ws = match args.ws_listen {
            Some(ws_addr) => {
                let ws_listener = bind(ws_addr).await?;
                let bound = ws_listener.local_addr().map_err(Failure::environment)?;
                println!("mqtt-sim broker listening for WebSocket on {bound} (ws://{bound}/mqtt)");
                Some(ws_listener)
            }
            None => None,
        };
        let wss = match wss {
            Some((wss_addr, acceptor)) => {
                let wss_listener = bind(wss_addr).await?;
                let bound = wss_listener.local_addr().map_err(Failure::environment)?;
                println!(
                    "mqtt-sim broker listening for WebSocket over TLS on {bound} (wss://{bound}/mqtt)"
                );
                Some((wss_listener, acceptor))
            }
            None => None,
        };
        let sinks = if args.quiet { mqttsim_net::tcp::Sinks::default() } else { Logger::sinks() };
        let core = Broker::new(config, Box::new(MemoryStore::volatile()));
        let signals = shutdown_signal().map_err(Failure::environment)?;
        let listeners = mqttsim_net::tcp::Listeners { tcp: listener, tls, ws, wss };
        let accepted = mqttsim_net::tcp::serve(listeners, core, driver_config, sinks, signals)
            .await
            .map_err(Failure::environment)?;
        println!("mqtt-sim broker stopped after {accepted} connections");
        Ok(0)
    })
}

/// Binds a listener, the error naming the address.
async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Failure> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))
        .map_err(Failure::environment)
}

/// Completes on SIGINT or SIGTERM, saying which.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            biased;
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        println!("mqtt-sim broker received {name}: closing every connection");
    })
}

pub fn passwd(args: PasswdArgs) -> Result<u8, Failure> {
    let existing = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::input(
                anyhow::Error::new(e).context(format!("reading {}", args.file.display())),
            ));
        }
    };
    if args.user.is_empty() || args.user.contains(':') {
        return Err(Failure::input(anyhow::anyhow!("a user name cannot be empty or hold ':'")));
    }
    let prefix = format!("{}:", args.user);
    let mut lines: Vec<String> =
        existing.lines().filter(|l| !l.starts_with(&prefix)).map(str::to_owned).collect();
    if args.delete {
        if lines.len() == existing.lines().count() {
            return Err(Failure::input(anyhow::anyhow!(
                "no user {:?} in {}",
                args.user,
                args.file.display()
            )));
        }
    } else {
        let password = if args.stdin {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password")
                .map_err(Failure::input)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        } else {
            ask_password(&args.user)?
        };
        if password.is_empty() {
            return Err(Failure::input(anyhow::anyhow!("an empty password is not allowed")));
        }
        let mut salt = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        let entry = PasswordFile::entry(&args.user, password.as_bytes(), &salt)
            .map_err(|e| Failure::environment(anyhow::anyhow!("hashing the password: {e}")))?;
        lines.push(entry);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&args.file, text)
        .with_context(|| format!("writing {}", args.file.display()))
        .map_err(Failure::environment)?;
    let verb = if args.delete { "removed" } else { "set" };
    eprintln!("{verb} the password of {:?} in {}", args.user, args.file.display());
    Ok(0)
}

/// Reads a password twice from the terminal without echo (via `stty`), or once from a pipe.
fn ask_password(user: &str) -> Result<String, Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password")
            .map_err(Failure::input)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let stty = |arg: &str| std::process::Command::new("stty").arg(arg).status();
    let ask = |prompt: &str| -> Result<String, Failure> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let _ = stty("-echo");
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        let _ = stty("echo");
        eprintln!();
        read.context("reading the password").map_err(Failure::input)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let first = ask(&format!("password for {user}: "))?;
    let second = ask("again: ")?;
    if first != second {
        return Err(Failure::input(anyhow::anyhow!("the passwords differ")));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert!(parse_bytes("5 parsecs").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
    }
}
