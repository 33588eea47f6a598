//! `mqtt-sim broker` on real TCP with third-party clients: Debian's `mosquitto_pub` and
//! `mosquitto_sub` (package mosquitto-clients, which `.ci/run` installs).
//!
//! The tests synchronise on the broker's own log lines (a subscriber is known to be ready when
//! the broker logs its SUBSCRIBE), never on sleeps.

mod common;

use std::process::{Child, Command, Stdio};
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

// MQTT 5.0 over real TCP: Debian's mosquitto_pub and mosquitto_sub with `-V mqttv5`, and
// Eclipse Paho's Python client (paho-mqtt 2.x, in the virtual environment `.ci/run` makes).

/// The time a log line was printed at, in seconds since the broker started.
fn log_time(line: &str) -> f64 {
    let t = line.split_whitespace().next().and_then(|t| t.strip_suffix('s'));
    t.and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("no time in {line:?}"))
}

fn subscribe5(
    broker: &Broker,
    client_id: &str,
    filter: &str,
    count: usize,
    extra: &[&str],
) -> Child {
    tool("mosquitto_sub")
        .args(["-V", "mqttv5", "-h", "127.0.0.1", "-p", &broker.port.to_string(), "-i", client_id])
        .args(["-t", filter, "-q", "1", "-C", &count.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mosquitto_sub -V mqttv5")
}

fn publish5(broker: &Broker, client_id: &str, topic: &str, message: &str, extra: &[&str]) {
    let out = tool("mosquitto_pub")
        .args(["-V", "mqttv5", "-h", "127.0.0.1", "-p", &broker.port.to_string(), "-i", client_id])
        .args(["-t", topic, "-q", "1", "-m", message])
        .args(extra)
        .output()
        .expect("run mosquitto_pub -V mqttv5");
    assert!(out.status.success(), "mosquitto_pub failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn v5_user_properties_and_message_expiry_reach_a_5_0_subscriber_and_a_3_1_1_one_gets_the_message() {
    let mut broker = Broker::start();
    let five = subscribe5(&broker, "it5-sub", "it5/props/#", 1, &["-F", "%t|%p|%P|%E"]);
    broker.wait_for_subscribe("it5-sub");
    let old = subscribe(&broker, "it311-sub", "it5/props/#", 1, 1);
    broker.wait_for_subscribe("it311-sub");
    publish5(
        &broker,
        "it5-pub",
        "it5/props/x",
        "hello",
        &[
            "-D",
            "PUBLISH",
            "user-property",
            "k1",
            "v1",
            "-D",
            "PUBLISH",
            "user-property",
            "k2",
            "v2",
            "-D",
            "PUBLISH",
            "message-expiry-interval",
            "30",
        ],
    );
    let five = finish(five, "mosquitto_sub -V mqttv5");
    let line = lines(&five).pop().unwrap_or_default();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields[..3], ["it5/props/x", "hello", "k1:v1 k2:v2"], "{line}");
    let left: u32 = fields[3].parse().expect("an expiry interval");
    assert!((1..=30).contains(&left), "the interval left, at most the one published: {line}");
    assert_eq!(lines(&finish(old, "mosquitto_sub")), vec!["it5/props/x hello".to_string()]);
}

#[test]
fn v5_a_retained_message_expires() {
    let mut broker = Broker::start();
    publish5(
        &broker,
        "it5-retainer",
        "it5/expiring",
        "soon gone",
        &["-r", "-D", "PUBLISH", "message-expiry-interval", "1"],
    );
    let sub = subscribe5(&broker, "it5-early", "it5/expiring", 1, &["-F", "%p|%E"]);
    broker.wait_for_subscribe("it5-early");
    assert_eq!(lines(&finish(sub, "mosquitto_sub")), vec!["soon gone|1".to_string()]);
    // Within a few seconds a new subscriber gets nothing: `-W 1` gives up after a second.
    let deadline = Instant::now() + WAIT;
    loop {
        let out = tool("mosquitto_sub")
            .args(["-V", "mqttv5", "-p", &broker.port.to_string(), "-t", "it5/expiring"])
            .args(["-C", "1", "-W", "1"])
            .output()
            .expect("run mosquitto_sub");
        if out.stdout.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the retained message never expired");
    }
}

#[test]
fn v5_will_delay_holds_the_will_back() {
    let mut broker = Broker::start();
    let watcher = subscribe5(&broker, "it5-watcher", "it5/will/#", 1, &["-v"]);
    broker.wait_for_subscribe("it5-watcher");
    let mut victim = tool("mosquitto_sub")
        .args(["-V", "mqttv5", "-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-i", "it5-victim", "-t", "it5/nothing", "-x", "60"])
        .args(["--will-topic", "it5/will/victim", "--will-payload", "gone", "--will-qos", "1"])
        .args(["-D", "WILL", "will-delay-interval", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run mosquitto_sub as the victim");
    broker.wait_for_subscribe("it5-victim");
    victim.kill().expect("kill the victim");
    let _ = victim.wait();
    let out = finish(watcher, "the Will watcher");
    assert_eq!(lines(&out), vec!["it5/will/victim gone".to_string()]);
    let lost = broker.wait_for(|l| l.contains("disconnect") && l.contains("\"it5-victim\""));
    let will = broker.wait_for(|l| l.contains(" will ") && l.contains("\"it5-victim\""));
    let waited = log_time(&will) - log_time(&lost);
    assert!(waited >= 1.9, "the Will waited {waited} s instead of its 2 s delay");
}

#[test]
fn v5_shared_subscription_members_split_the_messages() {
    let mut broker = Broker::start();
    let members: Vec<Child> = (0..2)
        .map(|i| {
            let id = format!("it5-worker{i}");
            let child = subscribe5(&broker, &id, "$share/workers/it5/jobs", 3, &["-F", "%p"]);
            broker.wait_for_subscribe(&id);
            child
        })
        .collect();
    for i in 0..6 {
        publish5(&broker, "it5-boss", "it5/jobs", &i.to_string(), &[]);
    }
    let mut got: Vec<String> = Vec::new();
    for member in members {
        let out = finish(member, "a shared-subscription member");
        assert_eq!(lines(&out).len(), 3, "members take turns");
        got.extend(lines(&out));
    }
    got.sort();
    assert_eq!(got, ["0", "1", "2", "3", "4", "5"], "each message to exactly one member");
}

#[test]
fn v5_retain_as_published_over_mosquitto_sub() {
    let mut broker = Broker::start();
    let rap =
        subscribe5(&broker, "it5-rap", "it5/rap", 1, &["--retain-as-published", "-F", "%r %p"]);
    broker.wait_for_subscribe("it5-rap");
    let plain = subscribe5(&broker, "it5-plain", "it5/rap", 1, &["-F", "%r %p"]);
    broker.wait_for_subscribe("it5-plain");
    publish5(&broker, "it5-pub", "it5/rap", "fresh", &["-r"]);
    assert_eq!(lines(&finish(rap, "mosquitto_sub")), vec!["1 fresh".to_string()]);
    assert_eq!(lines(&finish(plain, "mosquitto_sub")), vec!["0 fresh".to_string()]);
}

#[test]
fn v5_reason_codes_are_logged_as_sent_and_sigterm_sends_0x8b() {
    let mut broker = Broker::start();
    publish5(&broker, "it5-lonely", "it5/nobody", "x", &[]);
    broker.wait_for(|l| l.contains("PUBACK reason=0x10 (no matching subscribers)"));
    let sub = subscribe5(&broker, "it5-stays", "it5/never", 1, &[]);
    broker.wait_for_subscribe("it5-stays");
    let pid = broker.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(status.success());
    broker.wait_for(|l| {
        l.contains("\"it5-stays\"") && l.contains("DISCONNECT reason=0x8B (server shutting down)")
    });
    broker.wait_for(|l| l.contains("stopped after"));
    // The subscriber was told to go and ends by itself (`finish` fails if it hangs on).
    finish(sub, "mosquitto_sub after the broker stopped");
}

/// The Python of the virtual environment with paho-mqtt 2.x: `MQTT_SIM_PAHO_PYTHON`, or the
/// one `.ci/run` makes at /opt/mqtt-sim/paho.
fn paho_python() -> String {
    let path = std::env::var("MQTT_SIM_PAHO_PYTHON")
        .unwrap_or_else(|_| "/opt/mqtt-sim/paho/bin/python".to_owned());
    let found = Command::new(&path)
        .args(["-c", "import paho.mqtt; assert paho.mqtt.__version__.startswith('2.')"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "paho-mqtt 2.x is missing at {path}: run `python3 -m venv /opt/mqtt-sim/paho && \
         /opt/mqtt-sim/paho/bin/pip install 'paho-mqtt>=2,<3'` (CI's .ci/run does this), or set \
         MQTT_SIM_PAHO_PYTHON to a Python that has it"
    );
    path
}

#[test]
fn v5_paho_mqtt_2_checks_pass() {
    let python = paho_python();
    let broker = Broker::start_with(&["--quiet"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paho/v5_checks.py");
    let child = Command::new(python)
        .args([script, &broker.port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the paho checks");
    let out = finish(child, "the paho checks");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "paho checks failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report.lines().filter(|l| l.starts_with("ok ")).count(), 7, "{report}");
}
