//! `mqtt-sim broker` with a password file, an ACL file, TLS and MQTT 3.1, driven by Debian's
//! `mosquitto_pub` and `mosquitto_sub` as the third-party clients.

mod common;

use std::process::{Child, Command, Output, Stdio};

use common::{Broker, binary, finish, lines, scratch, tool, write};

fn pub_cmd(broker: &Broker, args: &[&str]) -> Output {
    tool("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(args)
        .output()
        .expect("run mosquitto_pub")
}

fn sub_cmd(broker: &Broker, args: &[&str]) -> Child {
    tool("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-v"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mosquitto_sub")
}

const ACL: &str = "\
user alice
topic read farm/#
topic deny farm/secret

user bob
topic write farm/#

pattern write devices/%c/up
";

#[test]
fn acl_file_refuses_subscriptions_and_publishes_of_mosquitto_clients() {
    let dir = scratch("acl");
    let acl = write(&dir, "topics.acl", ACL);
    let mut broker = Broker::start_with(&["--acl-file", &acl]);
    // alice may read farm/#; her subscription to ops/# is refused with 0x80.
    let sub = sub_cmd(
        &broker,
        &["-i", "alice-1", "-u", "alice", "-t", "farm/#", "-t", "ops/#", "-C", "1"],
    );
    broker.wait_for(|l| l.contains("\"alice-1\"") && l.contains("ops/#") && l.contains("refused"));
    broker.wait_for(|l| l.contains("\"alice-1\"") && l.contains("farm/#") && l.contains("qos="));
    // carol may not write farm/: acknowledged at QoS 1 (mosquitto_pub succeeds), not delivered.
    let denied = pub_cmd(
        &broker,
        &["-i", "carol-1", "-u", "carol", "-q", "1", "-t", "farm/a", "-m", "forged"],
    );
    assert!(denied.status.success(), "an unauthorised PUBLISH is still acknowledged");
    broker.wait_for(|l| l.contains("denied") && l.contains("\"carol-1\""));
    // bob's message on a denied topic is not delivered to alice; the next one is.
    let secret =
        pub_cmd(&broker, &["-i", "bob-1", "-u", "bob", "-q", "1", "-t", "farm/secret", "-m", "s"]);
    assert!(secret.status.success());
    let ok =
        pub_cmd(&broker, &["-i", "bob-2", "-u", "bob", "-q", "1", "-t", "farm/b", "-m", "real"]);
    assert!(ok.status.success());
    let out = finish(sub, "mosquitto_sub");
    assert_eq!(lines(&out), ["farm/b real"], "only the authorised message");
    // The pattern: a client may publish to its own devices/<id>/up.
    let own = pub_cmd(&broker, &["-i", "d7", "-q", "1", "-t", "devices/d7/up", "-m", "x"]);
    assert!(own.status.success());
}

#[test]
fn a_bad_acl_file_is_rejected_at_start_with_file_and_line() {
    let dir = scratch("bad-acl");
    let acl = write(&dir, "topics.acl", "user alice\ntopic read farm/#\ntopik read x\n");
    let out = Command::new(binary())
        .args(["broker", "--listen", "127.0.0.1:0", "--acl-file", &acl])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{acl}:3:")), "{stderr}");
    assert!(stderr.contains("unknown keyword \"topik\""), "{stderr}");
}

#[test]
fn hashed_password_file_from_mqtt_sim_passwd_admits_the_right_password_only() {
    let dir = scratch("passwd");
    let file = dir.join("users.txt").to_string_lossy().into_owned();
    let mut passwd = Command::new(binary())
        .args(["passwd", &file, "alice", "--stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    passwd.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(passwd.wait().unwrap().success());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("alice:$argon2id$"), "{text}");
    let mut broker = Broker::start_with(&["--password-file", &file]);
    let good = pub_cmd(&broker, &["-i", "a1", "-u", "alice", "-P", "s3cret", "-t", "t", "-m", "x"]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let bad = pub_cmd(&broker, &["-i", "a2", "-u", "alice", "-P", "guess", "-t", "t", "-m", "x"]);
    assert!(!bad.status.success());
    // What went on the wire: the 3.1.1 code 0x04, not the 5.0 reason 0x86.
    broker.wait_for(|l| l.contains("refuse") && l.contains("\"a2\"") && l.contains("connack=0x04"));
    broker.wait_for(|l| l.contains("disconnect") && l.contains("\"a2\"") && l.contains("refused"));
    // The next CONNECT from 127.0.0.1 waits after the failure.
    let again =
        pub_cmd(&broker, &["-i", "a3", "-u", "alice", "-P", "guess2", "-t", "t", "-m", "x"]);
    assert!(!again.status.success());
    broker.wait_for(|l| l.contains("delay") && l.contains("127.0.0.1"));
}

#[test]
fn plain_text_passwords_are_refused_at_start() {
    let dir = scratch("plain");
    let file = write(&dir, "users.txt", "# users\nalice:secret\n");
    // A broker that starts anyway is killed after the wait, and the test fails.
    let child = Command::new(binary())
        .args(["broker", "--listen", "127.0.0.1:0", "--password-file", &file])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child, "a broker with a plain-text password file");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{file}:2: plain-text password")), "{stderr}");
}

#[test]
fn mqtt_3_1_clients_connect_publish_and_subscribe() {
    let mut broker = Broker::start();
    let sub = sub_cmd(
        &broker,
        &["-V", "mqttv31", "-i", "old-sub", "-t", "legacy/#", "-q", "1", "-C", "1"],
    );
    broker.wait_for_subscribe("old-sub");
    let out = pub_cmd(
        &broker,
        &["-V", "mqttv31", "-i", "old-pub", "-q", "1", "-t", "legacy/a", "-m", "hi"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&finish(sub, "mosquitto_sub")), ["legacy/a hi"]);
}

#[test]
fn tls_listener_serves_mosquitto_clients_with_a_certificate_made_here() {
    let dir = scratch("tls");
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = write(&dir, "server.pem", &certified.cert.pem());
    let key = write(&dir, "server-key.pem", &certified.signing_key.serialize_pem());
    let mut broker =
        Broker::start_with(&["--tls-listen", "127.0.0.1:0", "--cert", &cert, "--key", &key]);
    let banner = broker.wait_for(|l| l.contains("listening for TLS on"));
    let port = banner.rsplit(':').next().unwrap().trim().to_owned();
    let tls = |name: &str| {
        let mut cmd = tool(name);
        cmd.args(["-h", "127.0.0.1", "-p", &port, "--cafile", &cert]);
        cmd
    };
    let sub = tls("mosquitto_sub")
        .args(["-i", "tls-sub", "-t", "secure/#", "-C", "1", "-v"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    broker.wait_for_subscribe("tls-sub");
    let out = tls("mosquitto_pub")
        .args(["-i", "tls-pub", "-t", "secure/a", "-m", "sealed"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&finish(sub, "mosquitto_sub over TLS")), ["secure/a sealed"]);
}
