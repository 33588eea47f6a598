//! `mqtt-sim conformance` against a broker that wants TLS and a login: `mqtt-sim broker` with a
//! certificate made here and a password file.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Broker, binary, scratch, write};

/// A broker with a TLS listener (a self-signed certificate for 127.0.0.1) and one user,
/// `suite` with password `s3cret`; returns the broker, its TLS port and the certificate file.
fn secure_broker(dir: &Path) -> (Broker, String, String) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = write(dir, "server.pem", &certified.cert.pem());
    let key = write(dir, "server-key.pem", &certified.signing_key.serialize_pem());
    let users = dir.join("users.txt").to_string_lossy().into_owned();
    let mut passwd = Command::new(binary())
        .args(["passwd", &users, "suite", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    passwd.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(passwd.wait().unwrap().success());
    let mut broker = Broker::start_with(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
        "--password-file",
        &users,
    ]);
    let banner = broker.wait_for(|l| l.contains("listening for TLS on"));
    let port = banner.rsplit(':').next().unwrap().trim().to_owned();
    (broker, port, cert)
}

fn conformance(args: &[&str]) -> Output {
    Command::new(binary()).arg("conformance").args(args).output().expect("run mqtt-sim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The whole suite, both versions, over TLS with a login: every check passes or is skipped
/// for a feature the broker rules out, as over plain TCP without one.
#[test]
fn the_whole_suite_runs_over_tls_with_a_login() {
    let dir = scratch("conf-tls");
    let (_broker, port, cert) = secure_broker(&dir);
    let url = format!("mqtts://127.0.0.1:{port}");
    let args = ["--broker", &url, "--ca-file", &cert, "--username", "suite", "--seed", "5"];
    let out = Command::new(binary())
        .arg("conformance")
        .args(args)
        .env("MQTT_SIM_PASSWORD", "s3cret")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.contains(" 0 failed, 0 inconclusive"), "{summary}");
    assert!(summary.contains(&format!("against tls 127.0.0.1:{port}")), "{summary}");
    let passed: u32 = summary
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 200, "{summary}");
}

/// `--insecure` accepts the self-signed certificate without the CA file.
#[test]
fn insecure_accepts_a_self_signed_broker() {
    let dir = scratch("conf-insecure");
    let (_broker, port, _) = secure_broker(&dir);
    let url = format!("mqtts://127.0.0.1:{port}");
    let out = conformance(&[
        "--broker",
        &url,
        "--insecure",
        "--username",
        "suite",
        "--password",
        "s3cret",
        "--only",
        "connect-accepted,qos2-exactly-once,v5-connect-accepted",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
}

/// What the suite cannot use is said before any check runs, and no check is charged with it:
/// a wrong password, no login at all, a certificate nobody vouches for, TLS options on plain
/// TCP.
#[test]
fn a_refused_login_or_an_unusable_certificate_stops_before_the_checks() {
    let dir = scratch("conf-refused");
    let (_broker, port, _) = secure_broker(&dir);
    let url = format!("mqtts://127.0.0.1:{port}");
    let cases: &[(&[&str], i32, &str)] = &[
        // No --password and no MQTT_SIM_PASSWORD: the user without a password is refused.
        (&["--broker", &url, "--insecure"], 2, "does not authorise anonymous clients"),
        (&["--broker", &url], 2, "needs --ca-file FILE"),
        (&["--broker", "mqtt://127.0.0.1:1", "--insecure"], 2, "are for mqtts:// and wss://"),
        (&["--broker", "ws://127.0.0.1:1", "--insecure"], 2, "are for mqtts:// and wss://"),
        (&["--broker", "wss://127.0.0.1:1"], 2, "needs --ca-file FILE"),
        (
            &["--broker", &url, "--insecure", "--username", "suite", "--password", "guess"],
            2,
            "refused the suite's login",
        ),
    ];
    for (args, code, message) in cases {
        let out = conformance(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!text(&out.stdout).contains("FAIL"), "{args:?}: a check was charged");
    }
    // A CA file that is not the broker's: the handshake fails, the broker is unreachable (3).
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other = write(&dir, "other.pem", &other.cert.pem());
    let out = conformance(&["--broker", &url, "--ca-file", &other, "--username", "suite"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cannot reach the broker at tls 127.0.0.1:"), "{stderr}");
}

/// Mosquitto with a TLS listener and a password file (no anonymous clients): over TLS with a
/// login, every check gets the verdict it gets over plain TCP without one
/// (conformance/expected/mosquitto-2.0.txt and 5.0/mosquitto-2.0.txt).
#[test]
fn mosquitto_over_tls_with_a_login_gets_its_plain_tcp_verdicts() {
    use std::collections::BTreeMap;
    let dir = scratch("conf-mosquitto");
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = write(&dir, "server.pem", &certified.cert.pem());
    let key = write(&dir, "server-key.pem", &certified.signing_key.serialize_pem());
    let passwords = dir.join("passwords").to_string_lossy().into_owned();
    let made = Command::new("mosquitto_passwd")
        .args(["-c", "-b", &passwords, "suite", "s3cret"])
        .output()
        .expect("mosquitto_passwd (Debian's mosquitto package; .ci/setup installs it)");
    assert!(made.status.success(), "{}", text(&made.stderr));
    // Mosquitto started as root reads its files as the `mosquitto` user.
    use std::os::unix::fs::PermissionsExt;
    for path in [&dir.to_string_lossy().into_owned(), &cert, &key, &passwords] {
        let mode = if Path::new(path).is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = write(
        &dir,
        "mosquitto.conf",
        &format!(
            "listener {port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\nallow_anonymous false\n\
             password_file {passwords}\npersistence false\nlog_dest none\n"
        ),
    );
    let mosquitto = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("mosquitto");
    let mut broker = Command::new(mosquitto).args(["-c", &conf]).spawn().expect("mosquitto");
    let url = format!("mqtts://127.0.0.1:{port}");
    let reachable = (0..100).any(|_| {
        let ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        ok
    });
    let out = reachable.then(|| {
        conformance(&[
            "--broker",
            &url,
            "--ca-file",
            &cert,
            "--username",
            "suite",
            "--password",
            "s3cret",
            "--seed",
            "3",
        ])
    });
    let _ = broker.kill();
    let _ = broker.wait();
    let out = out.expect("mosquitto did not start listening");
    let stdout = text(&out.stdout);
    let verdicts = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let verdict = words.next()?;
                let name = words.next()?;
                ["PASS", "FAIL", "SKIP", "INCONCLUSIVE"]
                    .contains(&verdict)
                    .then(|| (name.to_owned(), verdict.to_owned()))
            })
            .collect()
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/expected");
    let mut expected = verdicts(&std::fs::read_to_string(root.join("mosquitto-2.0.txt")).unwrap());
    expected
        .extend(verdicts(&std::fs::read_to_string(root.join("5.0/mosquitto-2.0.txt")).unwrap()));
    let got = verdicts(&stdout);
    assert!(got.len() >= 240, "{stdout}");
    let differ: Vec<String> = got
        .iter()
        .filter(|(name, v)| expected.get(*name).is_some_and(|e| e != *v))
        .map(|(name, v)| format!("{name}: {v} over TLS, {} in the expectations", expected[name]))
        .collect();
    assert!(differ.is_empty(), "{differ:#?}\n{stdout}");
}
