//! `mqtt-sim conformance` over MQTT over WebSocket (`ws://`): against `mqtt-sim broker
//! --ws-listen` and Mosquitto's websockets listener, each check gets the verdict it gets over
//! plain TCP from the same broker; and the broker's WebSocket listener's opening handshake.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

use common::{Broker, Mosquitto, binary, scratch};

/// Starts the whole suite (both versions, seed 1) against `url`.
fn start_suite(url: &str) -> Child {
    Command::new(binary())
        .args(["conformance", "--broker", url, "--seed", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mqtt-sim conformance")
}

/// A finished suite: each check's verdict (PASS, FAIL, SKIP, INCONCLUSIVE), and the summary.
struct Suite {
    verdicts: BTreeMap<String, String>,
    summary: String,
    output: String,
}

fn finish(child: Child) -> Suite {
    let out = child.wait_with_output().expect("wait for mqtt-sim conformance");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let verdicts = stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let verdict = words.next()?;
            let check = words.next()?;
            ["PASS", "FAIL", "SKIP", "INCONCLUSIVE"]
                .contains(&verdict)
                .then(|| (check.to_owned(), verdict.to_owned()))
        })
        .collect();
    let summary =
        stdout.lines().find(|l| l.contains(" checks against ")).unwrap_or_default().to_owned();
    let output = format!("{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    Suite { verdicts, summary, output }
}

/// The checks whose verdicts differ: (check, over TCP, over WebSocket).
fn differences(tcp: &Suite, ws: &Suite) -> Vec<(String, String, String)> {
    let mut checks: Vec<&String> = tcp.verdicts.keys().chain(ws.verdicts.keys()).collect();
    checks.sort();
    checks.dedup();
    let verdict = |suite: &Suite, check: &str| {
        suite.verdicts.get(check).cloned().unwrap_or_else(|| "missing".to_owned())
    };
    checks
        .into_iter()
        .filter(|c| verdict(tcp, c) != verdict(ws, c))
        .map(|c| (c.clone(), verdict(tcp, c), verdict(ws, c)))
        .collect()
}

/// The suite over ws:// gives every check the verdict it gets over TCP: against the reference
/// broker all pass (or are skipped), against Mosquitto 2.0 the same checks fail but one, where
/// its WebSocket listener goes on reading behind a refused CONNECT.
#[test]
fn the_suite_over_websocket_gives_the_verdicts_it_gives_over_tcp() {
    let dir = scratch("conf-ws");
    // One broker per transport: the suites run at the same time, with the same names.
    let reference_plain = Broker::start();
    let mut reference = Broker::start_with(&["--ws-listen", "127.0.0.1:0"]);
    let banner = reference.wait_for(|l| l.contains("listening for WebSocket on"));
    let ws_port = banner
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|a| a.rsplit(':').next())
        .unwrap()
        .to_owned();
    let (plain_dir, ws_dir) = (dir.join("tcp"), dir.join("ws"));
    for d in [&plain_dir, &ws_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mosquitto_plain = Mosquitto::start(&plain_dir, None);
    let mosquitto = Mosquitto::start_with(&ws_dir, None, true);
    let urls = [
        format!("mqtt://127.0.0.1:{}", reference_plain.port),
        format!("ws://127.0.0.1:{ws_port}/mqtt"),
        format!("mqtt://127.0.0.1:{}", mosquitto_plain.port),
        format!("ws://127.0.0.1:{}", mosquitto.ws_port.unwrap()),
    ];
    let runs: Vec<Child> = urls.iter().map(|url| start_suite(url)).collect();
    let mut suites = runs.into_iter().map(finish);
    let (reference_tcp, reference_ws) = (suites.next().unwrap(), suites.next().unwrap());
    let (mosquitto_tcp, mosquitto_ws) = (suites.next().unwrap(), suites.next().unwrap());
    for suite in [&reference_tcp, &reference_ws, &mosquitto_tcp, &mosquitto_ws] {
        assert!(suite.verdicts.len() >= 200, "{}", suite.output);
    }
    assert!(
        reference_ws.summary.contains(&format!("against ws://127.0.0.1:{ws_port}/mqtt")),
        "{}",
        reference_ws.summary
    );
    assert!(reference_ws.summary.contains(" 0 failed, 0 inconclusive"), "{}", reference_ws.output);
    assert_eq!(differences(&reference_tcp, &reference_ws), [], "{}", reference_ws.output);
    // Mosquitto 2.0.11 over WebSocket answers a PUBLISH sent behind a refused CONNECT with
    // DISCONNECT 0x82 instead of closing at once, as it does over TCP.
    let known =
        [("v5-refused-connect-ignores-data".to_owned(), "PASS".to_owned(), "FAIL".to_owned())];
    assert_eq!(differences(&mosquitto_tcp, &mosquitto_ws), known, "{}", mosquitto_ws.output);
}

/// The port in a broker banner such as `listening for WebSocket on 127.0.0.1:PORT (...)`.
fn banner_port(banner: &str) -> u16 {
    let addr = banner.split(" on ").nth(1).and_then(|s| s.split(' ').next()).unwrap_or_default();
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{banner}"))
}

/// The broker's WebSocket listener answers an opening handshake that offers `mqtt` (alone or
/// among others) with 101 and `mqtt` selected, on any path [MQTT-6.0.0-4], and refuses one
/// that does not with 400, logging why [MQTT-6.0.0-3].
#[test]
fn the_websocket_listener_selects_mqtt_and_refuses_a_handshake_without_it() {
    let mut broker = Broker::start_with(&["--ws-listen", "127.0.0.1:0"]);
    let port = banner_port(&broker.wait_for(|l| l.contains("listening for WebSocket on")));
    // (path, the Sec-WebSocket-Protocol header or none, the status line's start, selected)
    let cases: &[(&str, Option<&str>, &str, bool)] = &[
        ("/mqtt", Some("mqtt"), "HTTP/1.1 101", true),
        ("/", Some("wamp, mqtt"), "HTTP/1.1 101", true),
        ("/any/path", Some("mqtt"), "HTTP/1.1 101", true),
        ("/mqtt", None, "HTTP/1.1 400", false),
        ("/mqtt", Some("mqttv3.1"), "HTTP/1.1 400", false),
    ];
    for (path, protocol, status, selected) in cases {
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket.set_read_timeout(Some(common::WAIT)).unwrap();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n"
        );
        if let Some(protocol) = protocol {
            request.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
        }
        request.push_str("\r\n");
        socket.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).unwrap();
            assert!(n > 0, "{path} {protocol:?}: closed after {answer:?}");
            answer.extend_from_slice(&buf[..n]);
        }
        let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(answer.starts_with(&status.to_ascii_lowercase()), "{path} {protocol:?}: {answer}");
        let says_mqtt = answer.contains("sec-websocket-protocol: mqtt\r\n");
        assert_eq!(says_mqtt, *selected, "{path} {protocol:?}: {answer}");
        if !selected {
            broker.wait_for(|l| l.contains("websocket  handshake from") && l.contains("failed"));
        }
    }
}

/// `--cert` and `--key` need a listener that uses them.
#[test]
fn a_certificate_without_a_tls_or_wss_listener_is_an_error() {
    let out = Command::new(binary())
        .args(["broker", "--listen", "127.0.0.1:0", "--cert", "c.pem", "--key", "k.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-listen ADDR or --wss-listen ADDR"), "{stderr}");
}
