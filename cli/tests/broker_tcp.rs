//! `mqtt-sim broker` on real TCP with third-party clients: Debian's `mosquitto_pub` and
//! `mosquitto_sub` (package mosquitto-clients, which `.ci/run` installs).
//!
//! The tests synchronise on the broker's own log lines (a subscriber is known to be ready when
//! the broker logs its SUBSCRIBE), never on sleeps.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Broker, WAIT, finish, lines, publish, subscribe, tool};

#[test]
fn mosquitto_clients_publish_and_subscribe_at_every_qos() {
    let mut broker = Broker::start();
    for qos in 0..=2u8 {
        let sub_id = format!("it-sub-q{qos}");
        let sub = subscribe(&broker, &sub_id, &format!("it/q{qos}/#"), qos, 3);
        broker.wait_for_subscribe(&sub_id);
        for k in 0..3 {
            publish(
                &broker,
                &format!("it-pub-q{qos}"),
                &format!("it/q{qos}/a"),
                qos,
                &format!("m{k}"),
                false,
            );
        }
        let out = finish(sub, "mosquitto_sub");
        assert!(
            out.status.success(),
            "subscriber failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: Vec<String> = (0..3).map(|k| format!("it/q{qos}/a m{k}")).collect();
        assert_eq!(lines(&out), expected, "QoS {qos}: every message, once, in order");
    }
}

#[test]
fn retained_message_reaches_a_later_subscriber() {
    let mut broker = Broker::start();
    publish(&broker, "it-retainer", "it/retained/x", 1, "kept", true);
    let sub = subscribe(&broker, "it-late", "it/retained/#", 1, 1);
    broker.wait_for_subscribe("it-late");
    let out = finish(sub, "mosquitto_sub");
    assert_eq!(lines(&out), vec!["it/retained/x kept".to_string()]);
}

#[test]
fn will_is_delivered_when_a_client_is_killed() {
    let mut broker = Broker::start();
    let watcher = subscribe(&broker, "it-watcher", "it/will/#", 1, 1);
    broker.wait_for_subscribe("it-watcher");
    let mut victim = tool("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-i", "it-victim"])
        .args(["-t", "it/nothing", "-k", "30", "--will-topic", "it/will/victim"])
        .args(["--will-payload", "gone", "--will-qos", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run mosquitto_sub as the victim");
    broker.wait_for_connect("it-victim");
    broker.wait_for_subscribe("it-victim");
    // SIGKILL: the socket is closed by the kernel, no DISCONNECT is sent.
    victim.kill().expect("kill the victim");
    let _ = victim.wait();
    let out = finish(watcher, "the Will watcher");
    assert_eq!(lines(&out), vec!["it/will/victim gone".to_string()]);
    broker.wait_for(|l| l.contains("disconnect") && l.contains("\"it-victim\""));
}

#[test]
fn connections_beyond_max_connections_are_closed_on_arrival() {
    let mut broker = Broker::start_with(&["--max-connections", "1"]);
    let holder = subscribe(&broker, "it-holder", "it/held", 0, 1);
    broker.wait_for_subscribe("it-holder");
    let out = tool("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-i", "it-extra"])
        .args(["-t", "it/held", "-m", "x"])
        .output()
        .expect("run mosquitto_pub");
    assert!(!out.status.success(), "a second connection must be refused while one is open");
    let mut holder = holder;
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        !broker.seen.iter().any(|l| l.contains("it-extra")),
        "the extra client never connected"
    );
}

#[test]
fn ctrl_c_stops_the_broker_cleanly() {
    let mut broker = Broker::start();
    let sub = subscribe(&broker, "it-sigint", "it/sigint", 0, 1);
    broker.wait_for_subscribe("it-sigint");
    let pid = broker.child.id().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().expect("run kill");
    assert!(status.success());
    broker.wait_for(|l| l.contains("stopped after 1 connections"));
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Some(status) = broker.child.try_wait().expect("poll broker") {
            break status.code();
        }
        assert!(Instant::now() < deadline, "broker still running after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "SIGINT is a clean shutdown");
    // mosquitto_sub keeps trying to reconnect to a stopped broker: end it.
    let mut sub = sub;
    let _ = sub.kill();
    let _ = sub.wait();
}

/// The conformance suite over real TCP against `mqtt-sim broker`: every check passes (the same
/// suite runs in simulation in `mqttsim-conformance`'s tests).
#[test]
fn conformance_suite_passes_against_mqtt_sim_broker_over_tcp() {
    let broker = Broker::start_with(&["--quiet"]);
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-sim"))
        .args(["conformance", "--broker", &url, "--seed", "11", "--timeout", "2s"])
        .output()
        .expect("run mqtt-sim conformance");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "conformance failures against mqtt-sim broker:\n{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("pass"), "the table lists passing checks:\n{table}");
}
