//! The runner against fake brokers that misbehave: it must finish within its bounds and fail
//! every check with a reason, never hang. The same fakes run on tokio TCP and inside turmoil.

use std::rc::Rc;
use std::time::Duration;

use mqttsim_conformance::report::Verdict;
use mqttsim_conformance::{
    Report, Selection, SuiteConfig, TcpTarget, TurmoilTarget, checks, run_suite,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a fake broker behaves on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fake {
    /// Reads everything, answers nothing.
    Silent,
    /// Answers the first bytes with bytes that are not MQTT.
    Garbage,
    /// Closes every connection at once.
    Dropping,
    /// Answers CONNECT with CONNACK 0 and PINGREQ with PINGRESP, ignores the rest.
    Minimal,
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, fake: Fake) {
    let mut buf = vec![0u8; 4096];
    let mut pending: Vec<u8> = Vec::new();
    if fake == Fake::Dropping {
        return;
    }
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match fake {
            Fake::Silent | Fake::Dropping => {}
            Fake::Garbage => {
                let _ =
                    stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n\xFF\xFF\xFF\xFF\xFF").await;
            }
            Fake::Minimal => {
                pending.extend_from_slice(&buf[..n]);
                // Packets here are short: a one-byte remaining length is enough.
                while pending.len() >= 2 && pending.len() >= 2 + pending[1] as usize {
                    let first = pending[0];
                    pending.drain(..2 + pending[1] as usize);
                    let answer: &[u8] = match first {
                        0x10 => &[0x20, 0x02, 0x00, 0x00],
                        0xC0 => &[0xD0, 0x00],
                        0xE0 => return,
                        _ => &[],
                    };
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn tokio_fake(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, fake));
        }
    });
    addr
}

fn config(only: &[&str]) -> SuiteConfig {
    SuiteConfig {
        seed: 1,
        timeout: Duration::from_millis(300),
        jobs: 32,
        selection: Selection {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: vec![],
            protocol: None,
        },
    }
}

/// Runs every check against a tokio fake and checks the bound and the verdicts.
async fn against(fake: Fake, reason: &[&str]) -> Report {
    let addr = tokio_fake(fake).await;
    let config = config(&[]);
    let all = checks::all();
    let bound = config.overall_bound(all.len());
    let started = tokio::time::Instant::now();
    let report = run_suite(Rc::new(TcpTarget::plain(addr)), &all, &config).await;
    assert!(
        started.elapsed() <= bound,
        "{fake:?}: the run took {:?}, above its bound of {bound:?}",
        started.elapsed()
    );
    assert_eq!(report.results.len(), all.len());
    for r in &report.results {
        match &r.verdict {
            // The 5.0 probe gets no 5.0 CONNACK either: the 5.0 checks are skipped with why.
            Verdict::Skip(why) if r.protocol == mqttsim_codec::Protocol::V5 => assert!(
                why.starts_with("the broker does not speak MQTT 5.0"),
                "{fake:?}: {} was skipped for an unexpected reason: {why}",
                r.name
            ),
            Verdict::Fail(why) => assert!(
                reason.iter().any(|part| why.contains(part)),
                "{fake:?}: {} failed for an unexpected reason: {why}",
                r.name
            ),
            other => panic!("{fake:?}: {} did not fail but gave {other:?}", r.name),
        }
    }
    report
}

#[tokio::test(flavor = "current_thread")]
async fn a_silent_broker_fails_every_check_within_the_timeouts() {
    against(Fake::Silent, &["within 300ms", "still open after 300ms"]).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_garbage_speaking_broker_fails_every_check_with_a_malformed_packet() {
    // Garbage may also look like the start of a long packet, so waits can time out too.
    against(
        Fake::Garbage,
        &["malformed packet", "within 300ms", "still open after 300ms", "closed the connection"],
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_dropping_broker_fails_every_check() {
    against(Fake::Dropping, &["closed the connection", "cannot connect", "sending failed"]).await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_absent_broker_fails_with_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let report =
        run_suite(Rc::new(TcpTarget::plain(addr)), &checks::all(), &config(&["pingreq"])).await;
    assert_eq!(report.results.len(), 1);
    assert!(
        report.results[0].verdict.reason().contains("cannot connect"),
        "{:?}",
        report.results[0]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_minimal_broker_passes_the_checks_it_can() {
    let addr = tokio_fake(Fake::Minimal).await;
    let report = run_suite(
        Rc::new(TcpTarget::plain(addr)),
        &checks::all(),
        &config(&["pingreq", "connect-accepted"]),
    )
    .await;
    let verdicts: Vec<_> = report.results.iter().map(|r| (r.name, r.verdict.label())).collect();
    assert_eq!(verdicts, [("connect-accepted", "PASS"), ("pingreq", "PASS")]);
}

/// The same check bodies inside turmoil: simulated TCP, simulated time.
fn turmoil_run(fake: Fake, only: &[&'static str]) -> Report {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(600))
        .rng_seed(42)
        .epoch(std::time::UNIX_EPOCH)
        .build();
    sim.host("broker", move || async move {
        let listener = turmoil::net::TcpListener::bind("0.0.0.0:1883").await?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::task::spawn_local(serve(stream, fake));
        }
    });
    let out = Rc::new(std::cell::RefCell::new(None));
    let slot = out.clone();
    let only: Vec<&'static str> = only.to_vec();
    sim.client("suite", async move {
        let target = Rc::new(TurmoilTarget { host: "broker".into(), port: 1883 });
        let report = run_suite(target, &checks::all(), &config(&only)).await;
        *slot.borrow_mut() = Some(report);
        Ok(())
    });
    sim.run().unwrap();
    out.borrow_mut().take().expect("the suite client ran to the end")
}

#[test]
fn the_same_checks_run_inside_turmoil() {
    let report = turmoil_run(
        Fake::Minimal,
        &["pingreq", "connect-accepted", "keepalive-zero", "keepalive-enforced"],
    );
    let verdicts: Vec<_> = report.results.iter().map(|r| (r.name, r.verdict.label())).collect();
    assert_eq!(
        verdicts,
        [
            ("connect-accepted", "PASS"),
            ("pingreq", "PASS"),
            ("keepalive-enforced", "FAIL"),
            ("keepalive-zero", "PASS")
        ]
    );
    // The minimal fake never closes a silent client: the last of three, started 2 s after the
    // first, is given 2.5 s. Simulated time, deterministic.
    assert!(report.elapsed >= Duration::from_millis(4500), "{:?}", report.elapsed);

    let silent = turmoil_run(Fake::Silent, &["qos1-inbound", "connect-second-connect"]);
    for r in &silent.results {
        assert!(r.verdict.reason().contains("within 300ms"), "{}: {:?}", r.name, r.verdict);
    }
    let again = turmoil_run(Fake::Silent, &["qos1-inbound", "connect-second-connect"]);
    assert_eq!(silent.to_expectation(), again.to_expectation(), "a simulated run is deterministic");
    assert_eq!(silent.elapsed, again.elapsed, "simulated time is deterministic");
}
