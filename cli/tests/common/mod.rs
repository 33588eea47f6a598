//! What the real-TCP broker tests share: a running `mqtt-sim broker` on a free loopback port
//! whose log lines can be waited for, a Mosquitto on free loopback ports, and Debian's
//! `mosquitto_pub`/`mosquitto_sub`.
//!
//! `MQTT_SIM_BIN=path` runs the tests against another build of `mqtt-sim` (an older one, to see
//! a regression test fail there).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(15);

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A running `mqtt-sim broker` on a free loopback port, with its log lines.
pub struct Broker {
    pub child: Child,
    pub port: u16,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Broker {
        Broker::start_command(
            Command::new(binary()).args(["broker", "--listen", "127.0.0.1:0"]).args(extra),
        )
    }

    /// Starts the broker with a prepared command (for a lowered descriptor limit, say).
    pub fn start_command(command: &mut Command) -> Broker {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mqtt-sim broker");
        let stdout = child.stdout.take().expect("broker stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut broker = Broker { child, port: 0, lines, seen: Vec::new() };
        let banner = broker.wait_for(|l| l.contains("listening on"));
        let addr = banner.split("listening on ").nth(1).and_then(|s| s.split(' ').next());
        broker.port = addr
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in banner {banner:?}"));
        broker
    }

    /// Waits for (and returns) the first log line, not yet consumed, that satisfies `pred`.
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
        if let Some(i) = self.seen.iter().position(|l| pred(l)) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("broker never logged the expected line; it logged {:#?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("broker exited; it logged {:#?}", self.seen)
                }
            }
        }
    }

    pub fn wait_for_subscribe(&mut self, client_id: &str) {
        let needle = format!("client_id={client_id:?}");
        self.wait_for(|l| l.contains("subscribe") && l.contains(&needle));
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_for_connect(&mut self, client_id: &str) {
        let needle = format!("client_id={client_id:?}");
        self.wait_for(|l| l.contains(" connect ") && l.contains(&needle));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tool(name: &str) -> Command {
    let found =
        Command::new(name).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        found.is_ok(),
        "{name} is not installed: `apt-get install mosquitto-clients` (CI's .ci/run does this)"
    );
    Command::new(name)
}

/// Waits for a client process to end by itself, killing it after the deadline.
pub fn finish(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + WAIT;
    loop {
        if child.try_wait().expect("poll child").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "{what} did not finish in time; stdout {:?}, stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn publish(
    broker: &Broker,
    client_id: &str,
    topic: &str,
    qos: u8,
    message: &str,
    retain: bool,
) {
    let mut cmd = tool("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-i", client_id, "-t", topic]);
    cmd.args(["-q", &qos.to_string(), "-m", message]);
    if retain {
        cmd.arg("-r");
    }
    let out = cmd.output().expect("run mosquitto_pub");
    assert!(out.status.success(), "mosquitto_pub failed: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn subscribe(broker: &Broker, client_id: &str, filter: &str, qos: u8, count: usize) -> Child {
    tool("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-i", client_id])
        .args(["-t", filter, "-q", &qos.to_string(), "-C", &count.to_string(), "-v"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mosquitto_sub")
}

pub fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// The `mqtt-sim` binary under test.
pub fn binary() -> String {
    std::env::var("MQTT_SIM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mqtt-sim").to_owned())
}

/// A Mosquitto on a free loopback port, with a TLS listener if `tls` gives the certificate and
/// key files, and a second listener for MQTT over WebSocket if asked. Killed when dropped.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    /// The port of the WebSocket listener (plain, `ws://127.0.0.1:PORT/mqtt`), if any.
    pub ws_port: Option<u16>,
}

/// A free port on 127.0.0.1 (for a program that binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Mosquitto {
    pub fn start(dir: &Path, tls: Option<(&str, &str)>) -> Mosquitto {
        Mosquitto::start_with(dir, tls, false)
    }

    /// [`Mosquitto::start`], with a WebSocket listener too if `websockets`.
    pub fn start_with(dir: &Path, tls: Option<(&str, &str)>, websockets: bool) -> Mosquitto {
        // Mosquitto started as root reads its files as the `mosquitto` user.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
        );
        if let Some((cert, key)) = tls {
            for path in [cert, key] {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
            conf.push_str(&format!("certfile {cert}\nkeyfile {key}\n"));
        }
        let ws_port = websockets.then(free_port);
        if let Some(ws_port) = ws_port {
            conf.push_str(&format!("listener {ws_port} 127.0.0.1\nprotocol websockets\n"));
        }
        let conf = write(dir, "mosquitto.conf", &conf);
        let program = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("mosquitto");
        let child = Command::new(program)
            .args(["-c", &conf])
            .spawn()
            .expect("mosquitto (Debian's mosquitto package; .ci/setup installs it)");
        let mosquitto = Mosquitto { child, port, ws_port };
        // Mosquitto logs nothing here, so its ports answering are the sign it is ready.
        let deadline = Instant::now() + WAIT;
        for port in std::iter::once(port).chain(ws_port) {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "mosquitto never listened on {port}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        mosquitto
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
