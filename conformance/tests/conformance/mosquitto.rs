//! Runs the whole suite against a Mosquitto started by the test, and compares the verdicts with
//! `expected/mosquitto-2.0.txt`. Set `UPDATE_EXPECT=1` to rewrite the file after reading the diff.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mqttsim_conformance::{SuiteConfig, TcpTarget, checks, run_suite};

/// A Mosquitto process on a free loopback port, killed on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    _dir: TempDir,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mosquitto_binary() -> PathBuf {
    for candidate in ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "mosquitto is not installed: this test runs the suite against a real Mosquitto 2.0. \
         Install it with `sudo apt-get install mosquitto` (Debian/Ubuntu)."
    );
}

impl Mosquitto {
    /// Starts Mosquitto with anonymous access on a free port and waits until it accepts.
    pub fn start() -> Mosquitto {
        let binary = mosquitto_binary();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir =
            std::env::temp_dir().join(format!("mqttsim-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = TempDir(dir);
        let config = dir.0.join("mosquitto.conf");
        let mut file = std::fs::File::create(&config).unwrap();
        writeln!(
            file,
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none"
        )
        .unwrap();
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut broker = Mosquitto { child, port, _dir: dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("mosquitto exited at start with {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen on {port} within 10 s"
            );
            std::thread::yield_now();
        }
        broker
    }
}

fn expected_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("expected/mosquitto-2.0.txt")
}

#[tokio::test(flavor = "current_thread")]
async fn mosquitto_results_match_the_expectation() {
    let broker = Mosquitto::start();
    let target = Rc::new(TcpTarget { addr: format!("127.0.0.1:{}", broker.port) });
    let config = SuiteConfig { seed: 7, ..SuiteConfig::default() };
    let started = Instant::now();
    let report = run_suite(target, &checks::all(), &config).await;
    let took = started.elapsed();
    eprintln!("{}", report.to_table());
    eprintln!("full suite against mosquitto took {took:?}");
    assert!(report.cleanup.is_none(), "cleanup failed: {:?}", report.cleanup);
    let actual = report.to_expectation();
    let path = expected_path();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let mut diff = String::new();
        for line in expected.lines().filter(|l| !actual.lines().any(|a| a == *l)) {
            diff.push_str(&format!("- {line}\n"));
        }
        for line in actual.lines().filter(|l| !expected.lines().any(|e| e == *l)) {
            diff.push_str(&format!("+ {line}\n"));
        }
        panic!(
            "the results against Mosquitto changed ({}):\n{diff}\nrerun with UPDATE_EXPECT=1 to accept after review",
            path.display()
        );
    }
}
