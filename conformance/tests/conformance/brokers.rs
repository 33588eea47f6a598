//! Real brokers on free loopback ports, started by the tests themselves: Mosquitto, NATS (MQTT
//! mode, with a JetStream store), aedes, amqtt, RabbitMQ's MQTT plugin and rumqttd.
//!
//! A broker that is not installed is skipped with a line on the terminal that says why and how to
//! install it, unless `MQTTSIM_BROKERS` names it (a comma-separated list, or `all`): then its
//! absence fails the test. CI sets it, so there the matrix always runs; on a developer machine
//! `cargo test --workspace` runs the brokers that are there and says which it skipped.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A broker the matrix knows how to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mosquitto,
    /// Mosquitto with limited MQTT 5.0 capabilities (Maximum QoS 1, no retained messages,
    /// Maximum Packet Size 4096, no topic aliases).
    MosquittoLimited,
    Nats,
    Aedes,
    Amqtt,
    RabbitMq,
    Rumqttd,
}

impl Kind {
    /// The name used in `MQTTSIM_BROKERS` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mosquitto => "mosquitto",
            Kind::MosquittoLimited => "mosquitto",
            Kind::Nats => "nats",
            Kind::Aedes => "aedes",
            Kind::Amqtt => "amqtt",
            Kind::RabbitMq => "rabbitmq",
            Kind::Rumqttd => "rumqttd",
        }
    }

    /// How to install it, for the skip message.
    fn install_hint(self) -> &'static str {
        match self {
            Kind::Mosquitto | Kind::MosquittoLimited => "apt-get install mosquitto",
            Kind::Nats => "apt-get install nats-server",
            Kind::Aedes => {
                "apt-get install nodejs npm && npm ci --prefix conformance/brokers/aedes"
            }
            Kind::Amqtt => {
                "python3 -m venv conformance/brokers/amqtt/.venv && \
                 conformance/brokers/amqtt/.venv/bin/pip install -r conformance/brokers/amqtt/requirements.txt"
            }
            Kind::RabbitMq => "apt-get install rabbitmq-server",
            Kind::Rumqttd => "cargo install rumqttd --version 0.20.0",
        }
    }

    /// True when `MQTTSIM_BROKERS` requires this broker.
    fn required(self) -> bool {
        std::env::var("MQTTSIM_BROKERS").is_ok_and(|list| {
            list.split(',').map(str::trim).any(|n| n == "all" || n == self.name())
        })
    }
}

/// Writes straight to the terminal: libtest captures `eprintln!` of passing tests, and a skip
/// must be seen.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "mqttsim-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running broker: its MQTT port, and the processes to stop (each in its own process group,
/// which is killed whole on drop).
pub struct Running {
    pub port: u16,
    children: Vec<Child>,
    _dir: TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            // Negative pid: the child's whole process group (a shell script and what it started).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free loopback port, chosen by the system.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.exists() {
                return Some(p.to_path_buf());
            }
        } else if let Some(found) =
            std::env::split_paths(&path).map(|d| d.join(c)).find(|p| p.exists())
        {
            return Some(found);
        }
    }
    None
}

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn spawn(mut command: Command, log: &Path) -> Child {
    use std::os::unix::process::CommandExt as _;
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

/// Starts the broker, or says why it cannot: `Err` holds the skip reason.
pub fn start(kind: Kind) -> Result<Running, String> {
    let missing = |what: &str| format!("{what} not found (install with `{}`)", kind.install_hint());
    let dir = TempDir::new(kind.name());
    let port = free_port();
    let log = dir.0.join("broker.log");
    let mut children = Vec::new();
    let mut ready_within = Duration::from_secs(15);
    match kind {
        Kind::Mosquitto | Kind::MosquittoLimited => {
            let bin = find(&["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "mosquitto"])
                .ok_or_else(|| missing("mosquitto"))?;
            let conf = dir.0.join("mosquitto.conf");
            let limits = match kind {
                Kind::MosquittoLimited => {
                    "max_qos 1\nretain_available false\nmax_packet_size 4096\nmax_topic_alias 0\n"
                }
                _ => "",
            };
            std::fs::write(
                &conf,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n{limits}"
                ),
            )
            .unwrap();
            let mut c = Command::new(bin);
            c.arg("-c").arg(&conf);
            children.push(spawn(c, &log));
        }
        Kind::Nats => {
            let bin = find(&["/usr/sbin/nats-server", "/usr/bin/nats-server", "nats-server"])
                .ok_or_else(|| missing("nats-server"))?;
            let store = dir.0.join("jetstream");
            let conf = dir.0.join("nats.conf");
            std::fs::write(
                &conf,
                format!(
                    "server_name: mqttsim\nlisten: 127.0.0.1:{}\nhttp_port: -1\n\
                     jetstream {{ store_dir: {:?} }}\nmqtt {{ listen: 127.0.0.1:{port} }}\n",
                    free_port(),
                    store.display().to_string()
                ),
            )
            .unwrap();
            let mut c = Command::new(bin);
            c.arg("-c").arg(&conf);
            children.push(spawn(c, &log));
        }
        Kind::Aedes => {
            let node = find(&["node", "nodejs"]).ok_or_else(|| missing("node"))?;
            let script = repo_path("brokers/aedes/server.mjs");
            if !repo_path("brokers/aedes/node_modules/aedes/package.json").exists() {
                return Err(missing("conformance/brokers/aedes/node_modules/aedes"));
            }
            let mut c = Command::new(node);
            c.arg(script).arg(port.to_string());
            children.push(spawn(c, &log));
        }
        Kind::Amqtt => {
            let venv = repo_path("brokers/amqtt/.venv/bin/amqtt");
            let bin = find(&[venv.to_str().unwrap(), "amqtt"]).ok_or_else(|| missing("amqtt"))?;
            let conf = dir.0.join("amqtt.yaml");
            std::fs::write(
                &conf,
                format!(
                    "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n\
                     plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
                ),
            )
            .unwrap();
            let mut c = Command::new(bin);
            c.arg("-c").arg(&conf);
            children.push(spawn(c, &log));
        }
        Kind::RabbitMq => {
            let bin = find(&["/usr/lib/rabbitmq/bin/rabbitmq-server"])
                .ok_or_else(|| missing("/usr/lib/rabbitmq/bin/rabbitmq-server"))?;
            let epmd = find(&["epmd", "/usr/bin/epmd"]).ok_or_else(|| missing("epmd"))?;
            let epmd_port = free_port();
            // Its own epmd on a free port, so that nothing outlives the test.
            let mut e = Command::new(epmd);
            e.arg("-port").arg(epmd_port.to_string());
            children.push(spawn(e, &dir.0.join("epmd.log")));
            std::fs::write(
                dir.0.join("rabbitmq.conf"),
                format!(
                    "listeners.tcp.default = 127.0.0.1:{}\nmqtt.listeners.tcp.default = 127.0.0.1:{port}\n\
                     mqtt.allow_anonymous = true\nloopback_users = none\n",
                    free_port()
                ),
            )
            .unwrap();
            std::fs::write(dir.0.join("enabled_plugins"), "[rabbitmq_mqtt].\n").unwrap();
            let d = |name: &str| dir.0.join(name).display().to_string();
            let mut c = Command::new(bin);
            c.env("HOME", d(""))
                .env("ERL_EPMD_PORT", epmd_port.to_string())
                .env("RABBITMQ_NODENAME", format!("mqttsim{port}@localhost"))
                .env("RABBITMQ_DIST_PORT", free_port().to_string())
                .env("RABBITMQ_CONFIG_FILE", d("rabbitmq"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", d("enabled_plugins"))
                .env("RABBITMQ_MNESIA_BASE", d("mnesia"))
                .env("RABBITMQ_LOG_BASE", d("log"))
                .env("RABBITMQ_PID_FILE", d("rabbitmq.pid"));
            children.push(spawn(c, &log));
            ready_within = Duration::from_secs(120);
        }
        Kind::Rumqttd => {
            let home = std::env::var("HOME").unwrap_or_default();
            let cargo_bin = format!("{home}/.cargo/bin/rumqttd");
            let bin = find(&["rumqttd", &cargo_bin]).ok_or_else(|| missing("rumqttd"))?;
            let conf = dir.0.join("rumqttd.toml");
            std::fs::write(
                &conf,
                format!(
                    "id = 0\n\n[router]\nid = 0\nmax_connections = 10010\nmax_outgoing_packet_count = 200\n\
                     max_segment_size = 104857600\nmax_segment_count = 10\n\n[v4.1]\nname = \"v4-1\"\n\
                     listen = \"127.0.0.1:{port}\"\nnext_connection_delay_ms = 1\n\
                     [v4.1.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 20480\n\
                     max_inflight_count = 100\ndynamic_filters = true\n"
                ),
            )
            .unwrap();
            let mut c = Command::new(bin);
            c.arg("-q").arg("-c").arg(&conf);
            children.push(spawn(c, &log));
        }
    }
    let mut running = Running { port, children, _dir: dir };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = running.children.iter_mut().find_map(|c| c.try_wait().ok().flatten())
        {
            panic!(
                "{} exited at start with {status}; its log:\n{}",
                kind.name(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < ready_within,
            "{} did not listen on 127.0.0.1:{port} within {ready_within:?}; its log:\n{}",
            kind.name(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(running)
}

/// Starts the broker; when it is missing, fails if `MQTTSIM_BROKERS` requires it and otherwise
/// says on the terminal that it was skipped and returns `None`.
pub fn start_or_skip(kind: Kind) -> Option<Running> {
    match start(kind) {
        Ok(running) => Some(running),
        Err(why) if kind.required() => {
            panic!("{} is required by MQTTSIM_BROKERS but cannot start: {why}", kind.name())
        }
        Err(why) => {
            say(&format!(
                "skipped: the conformance suite against {}: {why}; set MQTTSIM_BROKERS={} to require it",
                kind.name(),
                kind.name()
            ));
            None
        }
    }
}
