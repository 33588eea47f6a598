//! Runs a selection of checks against a target: concurrently up to a bound, each within its own
//! time budget, the whole run within an overall bound, results in the order of the check table.

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use mqttsim_codec::{Protocol, QoS};

use crate::check::{Cause, Check, Ctx, Isolation, Stop};
use crate::report::{CheckResult, Report, Verdict};
use crate::statements;
use crate::target::{BoxFuture, Target};

/// Which checks to run: the protocol versions, and `only` and `skip`, which name checks or
/// statement ids (an alias of a misprinted id names the id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// If not empty, run only checks named here or citing a statement named here.
    pub only: Vec<String>,
    /// Never run checks named here or citing a statement named here.
    pub skip: Vec<String>,
    /// Run only the checks of this protocol version; both when `None`.
    pub protocol: Option<Protocol>,
}

impl Selection {
    fn names(check: &Check, key: &str) -> bool {
        let key = key.trim().trim_start_matches('[').trim_end_matches(']');
        let id = statements::canonical(check.protocol, key);
        check.name == key || check.statements.iter().any(|s| s.eq_ignore_ascii_case(id))
    }

    /// True when the check is selected.
    pub fn selects(&self, check: &Check) -> bool {
        self.protocol.is_none_or(|p| p == check.protocol)
            && (self.only.is_empty() || self.only.iter().any(|k| Self::names(check, k)))
            && !self.skip.iter().any(|k| Self::names(check, k))
    }

    /// Keys of `only` and `skip` that match no check at all, to report typos.
    pub fn unknown_keys(&self, checks: &[Check]) -> Vec<String> {
        self.only
            .iter()
            .chain(&self.skip)
            .filter(|k| !checks.iter().any(|c| Self::names(c, k)))
            .cloned()
            .collect()
    }
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// Seeds the run id, which prefixes every topic and client id of the run.
    pub seed: u64,
    /// The longest wait for any one expected packet or close.
    pub timeout: Duration,
    /// How many checks run at the same time.
    pub jobs: usize,
    /// Which checks run.
    pub selection: Selection,
}

impl Default for SuiteConfig {
    fn default() -> SuiteConfig {
        SuiteConfig {
            seed: 0,
            timeout: Duration::from_secs(5),
            jobs: 16,
            selection: Selection::default(),
        }
    }
}

impl SuiteConfig {
    /// The time budget of one check: a few waits plus the keep-alive checks' fixed delays.
    pub fn check_budget(&self) -> Duration {
        self.timeout * 3 + Duration::from_secs(5)
    }

    /// The bound on a whole run of `count` checks, cleanup included.
    pub fn overall_bound(&self, count: usize) -> Duration {
        let waves = count.div_ceil(self.jobs.max(1)) as u32;
        self.check_budget() * waves + self.timeout * 3
    }

    /// The run id derived from the seed: six lowercase hexadecimal digits.
    pub fn run_id(&self) -> String {
        // SplitMix64 finaliser: distinct seeds give well-spread ids.
        let mut z = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        format!("{:06x}", z & 0xFF_FFFF)
    }
}

/// Runs the selected checks against `target` and returns their verdicts in table order.
///
/// Checks that share the broker run concurrently, `jobs` at a time; checks that subscribe to
/// broker-wide filters ([`Isolation::Alone`]) run after them, one at a time, so they see no other
/// check's traffic and no retained message of the run. Each check runs within
/// [`SuiteConfig::check_budget`]; a check that overruns fails with that reason and its
/// connections are dropped. The retained messages a check recorded are cleared as soon as it
/// ends. The run never takes longer than [`SuiteConfig::overall_bound`].
pub async fn run_suite(target: Rc<dyn Target>, checks: &[Check], config: &SuiteConfig) -> Report {
    let started = tokio::time::Instant::now();
    let run_id = config.run_id();
    let selected: Vec<(usize, &Check)> =
        checks.iter().enumerate().filter(|(_, c)| config.selection.selects(c)).collect();
    let cleanup_errors: Rc<RefCell<Vec<String>>> = Rc::default();
    let unsolicited: Rc<RefCell<usize>> = Rc::default();
    let v5 = if selected.iter().any(|(_, c)| c.protocol == Protocol::V5) {
        Some(probe::v5(&*target, &run_id, config.timeout).await.map(Rc::new))
    } else {
        None
    };

    let mut shared: VecDeque<(usize, BoxFuture<'static, Verdict>)> = VecDeque::new();
    let mut alone: VecDeque<(usize, BoxFuture<'static, Verdict>)> = VecDeque::new();
    for (slot, (index, check)) in selected.iter().enumerate() {
        let server = match (&v5, check.protocol) {
            (Some(Ok(limits)), Protocol::V5) => Some(limits.clone()),
            (Some(Err(why)), Protocol::V5) => {
                let verdict = Verdict::Skip(format!("the broker does not speak MQTT 5.0: {why}"));
                shared.push_back((slot, Box::pin(std::future::ready(verdict))));
                continue;
            }
            _ => None,
        };
        let ctx =
            Ctx::new(target.clone(), check, &run_id, *index, config.timeout, Rc::default(), server);
        let job = one_check(check, ctx, config, cleanup_errors.clone(), unsolicited.clone());
        match check.isolation {
            Isolation::Shared => shared.push_back((slot, job)),
            Isolation::Alone => alone.push_back((slot, job)),
        }
    }

    let mut verdicts: Vec<Option<Verdict>> = vec![None; selected.len()];
    let jobs = config.jobs.max(1);
    let all = async {
        join_bounded(shared, jobs, &mut verdicts).await;
        join_bounded(alone, 1, &mut verdicts).await;
    };
    let overall = config.overall_bound(selected.len());
    let finished = tokio::time::timeout(overall, all).await.is_ok();

    let results = selected
        .iter()
        .zip(verdicts)
        .map(|((_, check), verdict)| CheckResult {
            name: check.name,
            protocol: check.protocol,
            statements: check.statements,
            verdict: verdict.unwrap_or_else(|| {
                debug_assert!(!finished, "every check has a verdict when the run finished");
                Verdict::Fail(format!("the run hit its overall bound of {overall:?}"))
            }),
        })
        .collect();
    let errors = cleanup_errors.borrow();
    let unsolicited = *unsolicited.borrow();
    Report {
        target: target.describe(),
        run_id,
        seed: config.seed,
        results,
        cleanup: (!errors.is_empty()).then(|| errors.join("; ")),
        unsolicited,
        elapsed: started.elapsed(),
    }
}

/// One check as a job: its body within its budget, then the clearing of its retained messages,
/// then the verdict.
fn one_check(
    check: &Check,
    ctx: Ctx,
    config: &SuiteConfig,
    cleanup_errors: Rc<RefCell<Vec<String>>>,
    unsolicited: Rc<RefCell<usize>>,
) -> BoxFuture<'static, Verdict> {
    let budget = config.check_budget();
    let timeout = config.timeout;
    let body = (check.run)(ctx.clone());
    let name = check.name;
    Box::pin(async move {
        let outcome = tokio::time::timeout(budget, body).await;
        let seen = ctx.unsolicited_seen();
        let _ = tokio::time::timeout(timeout * 2, ctx.end_leftover_sessions()).await;
        let topics = ctx.retained_topics();
        let cleared = tokio::time::timeout(timeout * 2, clear_retained(&ctx, &topics))
            .await
            .unwrap_or_else(|_| Err("clearing retained messages timed out".to_string()));
        if let Err(e) = cleared {
            cleanup_errors.borrow_mut().push(format!("{name}: {e}"));
        }
        *unsolicited.borrow_mut() += seen.len();
        let root = format!("{}/", ctx.root());
        let own = seen.iter().find(|(topic, _)| topic.starts_with(&root));
        match outcome {
            Ok(Ok(())) => Verdict::Pass,
            // The broker pushed this check's own messages where no subscription asked for them:
            // what the check then saw cannot be judged.
            Ok(Err(Stop::Fail(reason)))
                if own.is_some() && Cause::UnsolicitedPublish.judged_by() != Some(name) =>
            {
                Verdict::Inconclusive {
                    cause: Cause::UnsolicitedPublish,
                    reason: format!(
                        "{reason}; before that the broker sent, unasked, {}",
                        own.map(|(_, what)| what.as_str()).unwrap_or_default()
                    ),
                }
            }
            Ok(Err(Stop::Fail(reason))) => Verdict::Fail(reason),
            Ok(Err(Stop::Skip(reason))) => Verdict::Skip(reason),
            Ok(Err(Stop::Inconclusive { cause, detail })) => {
                Verdict::Inconclusive { cause, reason: detail }
            }
            Err(_) => {
                Verdict::Fail(format!("the check did not finish within its budget of {budget:?}"))
            }
        }
    })
}

/// Polls the queued futures, at most `jobs` at a time, in queue order, storing their outputs.
async fn join_bounded(
    mut queue: VecDeque<(usize, BoxFuture<'static, Verdict>)>,
    jobs: usize,
    out: &mut [Option<Verdict>],
) {
    let mut active: Vec<(usize, BoxFuture<'static, Verdict>)> = Vec::new();
    poll_fn(|cx| {
        loop {
            while active.len() < jobs {
                match queue.pop_front() {
                    Some(next) => active.push(next),
                    None => break,
                }
            }
            let before = active.len();
            active.retain_mut(|(slot, fut)| match fut.as_mut().poll(cx) {
                Poll::Ready(v) => {
                    out[*slot] = Some(v);
                    false
                }
                Poll::Pending => true,
            });
            if active.is_empty() && queue.is_empty() {
                return Poll::Ready(());
            }
            if active.len() == before {
                return Poll::Pending;
            }
        }
    })
    .await
}

/// Publishes an empty retained message to every topic the check recorded, from a client of its
/// own (client id tag `clean`).
async fn clear_retained(ctx: &Ctx, topics: &BTreeSet<String>) -> Result<(), String> {
    if topics.is_empty() {
        return Ok(());
    }
    let fail = |s: Stop| format!("clearing retained messages: {s}");
    let mut conn = ctx.client("clean").await.map_err(fail)?;
    for (i, topic) in topics.iter().enumerate() {
        // Topics a 5.0 check set through an alias or with properties clear the same way.
        conn.publish(topic, b"", QoS::AtLeastOnce, true, (i % 65_000) as u16 + 1)
            .await
            .map_err(fail)?;
    }
    conn.disconnect().await.map_err(fail)
}

/// Logs in once with MQTT 3.1.1 and the target's credentials, before any check runs: a broker
/// that refuses the suite's login (or wants one the suite lacks) would fail every check for a
/// reason that is not about the standard. `Err` says what the broker answered.
pub async fn login(target: &dyn Target, timeout: Duration) -> Result<(), String> {
    use bytes::BytesMut;
    use mqttsim_codec::{Connect, Packet, Properties, Protocol, ReasonCode};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let credentials = target.credentials();
    let connect = Connect {
        protocol: Protocol::V311,
        clean_start: true,
        keep_alive: 60,
        client_id: String::new(),
        will: None,
        username: credentials.map(|c| c.username.clone()),
        password: credentials.and_then(|c| c.password.clone()),
        properties: Properties::default(),
    };
    let mut out = BytesMut::new();
    mqttsim_codec::encode(&Packet::Connect(connect), Protocol::V311, &mut out)
        .map_err(|e| format!("cannot encode the login CONNECT: {e}"))?;
    let talk = async {
        let mut stream = target.connect().await.map_err(|e| format!("cannot connect: {e}"))?;
        stream.write_all(&out).await.map_err(|e| format!("sending failed: {e}"))?;
        let mut buf = BytesMut::with_capacity(64);
        loop {
            match mqttsim_codec::decode(&mut buf, Protocol::V311, 1 << 16) {
                Ok(Some(Packet::ConnAck(ack))) => {
                    let _ = stream.write_all(&[0xE0, 0x00]).await;
                    return match ack.reason_code {
                        ReasonCode::SUCCESS => Ok(()),
                        ReasonCode::BAD_USER_NAME_OR_PASSWORD => Err(match credentials {
                            Some(c) => format!("it refused the user name {:?} and its password (CONNACK return code 4)", c.username),
                            None => "it wants a user name and password (CONNACK return code 4): give --username and --password".to_owned(),
                        }),
                        ReasonCode::NOT_AUTHORIZED => Err(match credentials {
                            Some(c) => format!("it does not authorise the user {:?} (CONNACK return code 5)", c.username),
                            None => "it does not authorise anonymous clients (CONNACK return code 5): give --username and --password".to_owned(),
                        }),
                        // Other refusals (an empty client id, say) are for the checks to judge.
                        _ => Ok(()),
                    };
                }
                Ok(Some(p)) => {
                    return Err(format!("it answered a 3.1.1 CONNECT with {:?}", p.packet_type()));
                }
                Ok(None) => {}
                // Not a 3.1.1 broker, perhaps: the checks will say.
                Err(_) => return Ok(()),
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            }
        }
    };
    match tokio::time::timeout(timeout, talk).await {
        Ok(result) => result,
        // Brokers delay their answer after failed logins from an address.
        Err(_) if credentials.is_some() => Err(format!(
            "it did not answer the login within {timeout:?} (brokers delay their answers after \
             failed logins: check the user name and password)"
        )),
        Err(_) => Ok(()),
    }
}

/// The run's MQTT 5.0 probe: one CONNECT of protocol level 5 before the 5.0 checks.
mod probe {
    use std::time::Duration;

    use bytes::BytesMut;
    use mqttsim_codec::{Connect, Packet, Properties, Protocol};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::conn::ServerLimits;
    use crate::target::Target;

    /// Connects with MQTT 5.0 and returns what the broker announced in its CONNACK, or why the
    /// broker does not speak 5.0 (a 3.1.1 CONNACK, a refusal, a close, silence).
    pub(super) async fn v5(
        target: &dyn Target,
        run_id: &str,
        timeout: Duration,
    ) -> Result<ServerLimits, String> {
        let credentials = target.credentials();
        let connect = Connect {
            protocol: Protocol::V5,
            clean_start: true,
            keep_alive: 60,
            client_id: format!("c{run_id}probe5"),
            will: None,
            username: credentials.map(|c| c.username.clone()),
            password: credentials.and_then(|c| c.password.clone()),
            properties: Properties::default(),
        };
        let mut out = BytesMut::new();
        mqttsim_codec::encode(&Packet::Connect(connect), Protocol::V5, &mut out)
            .map_err(|e| format!("cannot encode the probe CONNECT: {e}"))?;
        let talk = async {
            let mut stream = target.connect().await.map_err(|e| format!("cannot connect: {e}"))?;
            stream.write_all(&out).await.map_err(|e| format!("sending failed: {e}"))?;
            let mut buf = BytesMut::with_capacity(256);
            loop {
                if buf.len() >= 2 && buf[0] == 0x20 && buf[1] == 0x02 && buf.len() >= 4 {
                    // Two bytes of variable header: a 3.1.1 CONNACK.
                    if buf[3] != 0 {
                        return Err(format!(
                            "it answered a CONNECT of protocol level 5 with a 3.1.1 CONNACK, \
                             return code {}",
                            buf[3]
                        ));
                    }
                }
                match mqttsim_codec::decode(&mut buf.clone(), Protocol::V5, 1 << 20) {
                    Ok(Some(Packet::ConnAck(ack))) if ack.reason_code.0 == 0 => {
                        let _ = stream.write_all(&[0xE0, 0x00]).await;
                        return Ok(ServerLimits::of(&ack));
                    }
                    Ok(Some(Packet::ConnAck(ack))) => {
                        return Err(format!(
                            "it refused a CONNECT of protocol level 5 with CONNACK 0x{:02X}",
                            ack.reason_code.0
                        ));
                    }
                    Ok(Some(p)) => {
                        return Err(format!(
                            "it answered a CONNECT of protocol level 5 with {:?}",
                            p.packet_type()
                        ));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        return Err(format!(
                            "its answer to a CONNECT of protocol level 5 is not a 5.0 CONNACK \
                             ({e}): {:02X?}",
                            &buf[..]
                        ));
                    }
                }
                match stream.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => {
                        return Err(
                            "it closed the connection on a CONNECT of protocol level 5".into()
                        );
                    }
                    Ok(_) => {}
                }
            }
        };
        match tokio::time::timeout(timeout, talk).await {
            Ok(result) => result,
            Err(_) => {
                Err(format!("it did not answer a CONNECT of protocol level 5 within {timeout:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TurmoilTarget;

    fn check(
        name: &'static str,
        statements: &'static [&'static str],
        run: fn(Ctx) -> BoxFuture<'static, crate::Outcome>,
    ) -> Check {
        Check {
            name,
            protocol: mqttsim_codec::Protocol::V311,
            statements,
            summary: "",
            run,
            isolation: Isolation::Shared,
            probes: &[],
        }
    }

    fn table() -> Vec<Check> {
        vec![
            check("slow-pass", &["MQTT-1.5.3-1"], |_| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok(())
                })
            }),
            check("hangs", &["MQTT-3.1.2-24"], |_| Box::pin(std::future::pending())),
            check("fails", &["MQTT-3.1.2-24", "MQTT-4.8.0-1"], |_| {
                Box::pin(async { Err(Stop::Fail("why".into())) })
            }),
            check("skips", &["MQTT-4.7.2-1"], |_| {
                Box::pin(async { Err(Stop::Skip("lacks it".into())) })
            }),
        ]
    }

    /// Runs `checks` inside turmoil, where time is simulated, and returns the report.
    fn simulate(config: SuiteConfig) -> Report {
        let mut sim = turmoil::Builder::new()
            .simulation_duration(Duration::from_secs(3600))
            .rng_seed(1)
            .build();
        let out = Rc::new(RefCell::new(None));
        let slot = out.clone();
        sim.client("suite", async move {
            let target = Rc::new(TurmoilTarget { host: "nowhere".into(), port: 1 });
            *slot.borrow_mut() = Some(run_suite(target, &table(), &config).await);
            Ok(())
        });
        sim.run().unwrap();
        out.borrow_mut().take().unwrap()
    }

    #[test]
    fn verdicts_come_in_table_order_and_a_hanging_check_fails_at_its_budget() {
        let config =
            SuiteConfig { timeout: Duration::from_secs(1), jobs: 2, ..SuiteConfig::default() };
        let report = simulate(config.clone());
        assert_eq!(
            report.to_expectation(),
            "PASS slow-pass [MQTT-1.5.3-1]\n\
             FAIL hangs [MQTT-3.1.2-24] the check did not finish within its budget of 8s\n\
             FAIL fails [MQTT-3.1.2-24 MQTT-4.8.0-1] why\n\
             SKIP skips [MQTT-4.7.2-1] lacks it\n"
        );
        // The hanging check holds one of two slots for its whole budget; the rest share the other.
        assert_eq!(report.elapsed, config.check_budget());
        assert!(report.elapsed <= config.overall_bound(4));
    }

    #[test]
    fn one_job_runs_checks_one_after_another() {
        let config =
            SuiteConfig { timeout: Duration::from_secs(1), jobs: 1, ..SuiteConfig::default() };
        let report = simulate(config.clone());
        assert_eq!(report.elapsed, Duration::from_secs(2) + config.check_budget());
    }

    #[test]
    fn selection_by_name_and_statement() {
        let checks = table();
        let pick = |only: &[&str], skip: &[&str]| {
            let s = Selection {
                only: only.iter().map(|s| s.to_string()).collect(),
                skip: skip.iter().map(|s| s.to_string()).collect(),
                protocol: None,
            };
            checks.iter().filter(|c| s.selects(c)).map(|c| c.name).collect::<Vec<_>>()
        };
        assert_eq!(pick(&[], &[]), ["slow-pass", "hangs", "fails", "skips"]);
        assert_eq!(pick(&["MQTT-3.1.2-24"], &[]), ["hangs", "fails"]);
        assert_eq!(pick(&["[MQTT-3.1.2-24]"], &["hangs"]), ["fails"]);
        assert_eq!(pick(&["skips", "mqtt-1.5.3-1"], &[]), ["slow-pass", "skips"]);
        assert_eq!(pick(&[], &["MQTT-4.8.0-1", "slow-pass"]), ["hangs", "skips"]);
        let s = Selection {
            only: vec!["nope".into(), "fails".into()],
            skip: vec!["MQTT-9.9.9-9".into()],
            protocol: None,
        };
        assert_eq!(s.unknown_keys(&checks), ["nope", "MQTT-9.9.9-9"]);
    }

    #[test]
    fn run_ids_are_six_hex_digits_and_follow_the_seed() {
        let id = |seed| SuiteConfig { seed, ..SuiteConfig::default() }.run_id();
        assert_eq!(id(7), id(7));
        assert_ne!(id(7), id(8));
        assert!(id(0).len() == 6 && id(0).chars().all(|c| c.is_ascii_hexdigit()));
    }
}
