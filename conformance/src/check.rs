//! What a check is: a named async body citing normative statements, and the context it runs in.
//!
//! A check ends in one of four ways: it passes, it fails (the broker broke a cited statement),
//! it is skipped (the broker lacks an optional feature the check is about), or it is
//! inconclusive: a precondition failed, so the cited statements could not be judged. An
//! inconclusive outcome carries a [`Cause`], so that a report names each root cause once instead
//! of blaming one broker bug on dozens of unrelated statements.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use mqttsim_codec::{ConnAck, Connect, Packet, Properties, Protocol, ReasonCode};

use crate::conn::{Conn, ServerLimits};
use crate::target::{BoxFuture, Target};

/// Why a check body stopped before passing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// The broker broke a statement, or misbehaved so that the check could not go on.
    #[error("{0}")]
    Fail(String),
    /// The broker lacks an optional feature the check is about.
    #[error("{0}")]
    Skip(String),
    /// A precondition of the check failed, so its statements could not be judged.
    #[error("{detail}")]
    Inconclusive {
        /// The root cause, shared by every check it stopped.
        cause: Cause,
        /// What this check saw.
        detail: String,
    },
}

impl Stop {
    /// An inconclusive stop with this cause.
    pub fn inconclusive(cause: Cause, detail: impl Into<String>) -> Stop {
        Stop::Inconclusive { cause, detail: detail.into() }
    }
}

/// Why a check could not judge its statements: the root cause of an inconclusive outcome.
///
/// Some causes are behaviour the standard allows (a refused subscription); others are a
/// deviation that one check judges as a failure, named by [`Cause::judged_by`], so the report
/// shows that failure once rather than under every check it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// A subscription the check needs was refused with 0x80, which the standard allows.
    SubscriptionRefused,
    /// A subscription was granted a lower QoS than the check needs, which the standard allows.
    QosGrantedLower,
    /// The broker does not complete a QoS 2 PUBLISH from a client (it closes the connection or
    /// answers PUBACK).
    Qos2PublishRefused,
    /// The broker does not send retained messages to new subscriptions.
    RetainedNotDelivered,
    /// The broker sent PUBLISH packets that no subscription of the client matches.
    UnsolicitedPublish,
    /// The broker refused a hand-made CONNECT, which carries none of the suite's credentials,
    /// as not authorised: its refusal says nothing about what the check sent.
    CredentialsNeeded,
}

impl Cause {
    /// Every cause, in report order.
    pub const ALL: [Cause; 6] = [
        Cause::SubscriptionRefused,
        Cause::QosGrantedLower,
        Cause::Qos2PublishRefused,
        Cause::RetainedNotDelivered,
        Cause::UnsolicitedPublish,
        Cause::CredentialsNeeded,
    ];

    /// A stable kebab-case name, used in JSON and the expectation files.
    pub fn key(self) -> &'static str {
        match self {
            Cause::SubscriptionRefused => "subscription-refused",
            Cause::QosGrantedLower => "qos-granted-lower",
            Cause::Qos2PublishRefused => "qos2-publish-refused",
            Cause::RetainedNotDelivered => "retained-not-delivered",
            Cause::UnsolicitedPublish => "unsolicited-publish",
            Cause::CredentialsNeeded => "credentials-needed",
        }
    }

    /// One sentence on what the broker did.
    pub fn explain(self) -> &'static str {
        match self {
            Cause::SubscriptionRefused => {
                "the broker refused a subscription the check needs (SUBACK 0x80), which the standard allows"
            }
            Cause::QosGrantedLower => {
                "the broker granted a lower QoS than the check needs, which the standard allows"
            }
            Cause::Qos2PublishRefused => {
                "the broker does not complete a QoS 2 PUBLISH from a client"
            }
            Cause::RetainedNotDelivered => {
                "the broker does not send retained messages to a new subscription"
            }
            Cause::UnsolicitedPublish => {
                "the broker sent PUBLISH packets that no subscription of the client matches"
            }
            Cause::CredentialsNeeded => {
                "the broker refused a hand-made CONNECT without the suite's credentials as not authorised (run against a listener that allows anonymous clients to judge these checks)"
            }
        }
    }

    /// The check that judges the underlying behaviour, when it is a deviation.
    pub fn judged_by(self) -> Option<&'static str> {
        match self {
            Cause::SubscriptionRefused | Cause::QosGrantedLower | Cause::CredentialsNeeded => None,
            Cause::Qos2PublishRefused => Some("qos2-inbound"),
            Cause::RetainedNotDelivered => Some("retained-on-subscribe"),
            Cause::UnsolicitedPublish => Some("publish-without-subscription"),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// How a check shares the broker with the other checks of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isolation {
    /// It runs beside other checks: it uses only its own topics and client ids, and the
    /// retained messages it leaves are cleared as soon as it ends.
    Shared,
    /// It subscribes to broker-wide filters (`#`), so it runs alone, after every retained
    /// message of the run is cleared, and judges only the traffic it caused.
    Alone,
}

/// What a check body returns: `Ok(())` is a pass.
pub type Outcome = Result<(), Stop>;

/// Stops the check with a failure; the arguments are those of `format!`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::check::Stop::Fail(format!($($arg)*)))
    };
}

/// Stops the check with a failure unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::check::Stop::Fail(format!($($arg)*)));
        }
    };
}

/// One conformance check.
#[derive(Clone, Copy)]
pub struct Check {
    /// A unique kebab-case name, such as `connect-second-connect`.
    pub name: &'static str,
    /// The protocol version the check speaks.
    pub protocol: Protocol,
    /// The normative statements it tests, without brackets.
    pub statements: &'static [&'static str],
    /// One sentence on what it does.
    pub summary: &'static str,
    /// The body. It gets its own context and must not assume anything about the target.
    pub run: fn(Ctx) -> BoxFuture<'static, Outcome>,
    /// How it shares the broker with other checks.
    pub isolation: Isolation,
    /// Client-only statements whose violation the check sends on purpose, to judge the
    /// server's reaction (which the cited statements define). Never counted as checked.
    pub probes: &'static [&'static str],
}

impl Check {
    /// The same check, run alone because it subscribes to broker-wide filters.
    pub const fn alone(mut self) -> Check {
        self.isolation = Isolation::Alone;
        self
    }

    /// The same check, marked as sending the violation of these client-only statements.
    pub const fn probing(mut self, probes: &'static [&'static str]) -> Check {
        self.probes = probes;
        self
    }

    /// True when the check cites the statement `id`.
    pub fn cites(&self, id: &str) -> bool {
        self.statements.contains(&id)
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("statements", &self.statements)
            .field("isolation", &self.isolation)
            .field("probes", &self.probes)
            .finish_non_exhaustive()
    }
}

/// Declares a check from an async function `fn(Ctx) -> Outcome`.
#[macro_export]
macro_rules! check {
    ($name:literal, $protocol:ident, [$($st:literal),+ $(,)?], $summary:literal, $body:path) => {
        $crate::check::Check {
            name: $name,
            protocol: mqttsim_codec::Protocol::$protocol,
            statements: &[$($st),+],
            summary: $summary,
            run: |ctx| Box::pin($body(ctx)),
            isolation: $crate::check::Isolation::Shared,
            probes: &[],
        }
    };
}

/// Everything a check may use: connections to the target, unique names and timeouts.
///
/// Cloning is cheap; clones share the same check identity.
#[derive(Clone)]
pub struct Ctx {
    inner: Rc<Inner>,
}

struct Inner {
    target: Rc<dyn Target>,
    protocol: Protocol,
    run_id: String,
    index: usize,
    name: &'static str,
    statements: &'static [&'static str],
    timeout: Duration,
    retained: Rc<RefCell<BTreeSet<String>>>,
    tracker: Rc<Tracker>,
    /// What the broker announced in the CONNACK of the run's MQTT 5.0 probe.
    server: Option<Rc<ServerLimits>>,
}

/// What the connections of one check have asked for and been sent, shared by them.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Every filter each client id subscribed to (or asked for) in this check.
    filters: RefCell<BTreeMap<String, Vec<String>>>,
    /// PUBLISH packets that matched none of their client's filters: topic and description.
    unsolicited: RefCell<Vec<(String, String)>>,
    /// Client ids the check connected with a session that outlives the connection
    /// (CleanSession 0, or a 5.0 Session Expiry Interval above 0) and has not ended since.
    sessions: RefCell<BTreeSet<String>>,
}

impl Tracker {
    /// Records that `client_id` asked for `filter`.
    pub(crate) fn subscribed(&self, client_id: &str, filter: &str) {
        self.filters.borrow_mut().entry(client_id.to_string()).or_default().push(filter.into());
    }

    /// True when some filter `client_id` asked for matches `topic`. The `$` rule of
    /// [MQTT-4.7.2-1] is ignored here, so a `$` topic wrongly sent to a `#` subscription
    /// reaches the check that judges it.
    pub(crate) fn solicited(&self, client_id: Option<&str>, topic: &str) -> bool {
        let filters = self.filters.borrow();
        let Some(mine) = client_id.and_then(|id| filters.get(id)) else { return false };
        mine.iter().any(|f| matches_ignoring_dollar(f, topic))
    }

    /// Records an unsolicited PUBLISH on `topic`.
    pub(crate) fn unsolicited(&self, topic: &str, what: String) {
        self.unsolicited.borrow_mut().push((topic.to_string(), what));
    }

    /// The unsolicited PUBLISH packets seen so far: topic and description.
    pub(crate) fn unsolicited_seen(&self) -> Vec<(String, String)> {
        self.unsolicited.borrow().clone()
    }
}

/// Topic matching as the standard defines it, without the `$` exception; a shared
/// subscription (`$share/{name}/{filter}`) matches as its filter.
fn matches_ignoring_dollar(filter: &str, topic: &str) -> bool {
    let filter = match filter.strip_prefix("$share/").and_then(|rest| rest.split_once('/')) {
        Some((_, inner)) => inner,
        None => filter,
    };
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("check", &self.inner.name)
            .field("run", &self.inner.run_id)
            .finish()
    }
}

impl Ctx {
    /// A context for check number `index` of a run.
    pub(crate) fn new(
        target: Rc<dyn Target>,
        check: &Check,
        run_id: &str,
        index: usize,
        timeout: Duration,
        retained: Rc<RefCell<BTreeSet<String>>>,
        server: Option<Rc<ServerLimits>>,
    ) -> Ctx {
        Ctx {
            inner: Rc::new(Inner {
                target,
                protocol: check.protocol,
                run_id: run_id.to_string(),
                index,
                name: check.name,
                statements: check.statements,
                timeout,
                retained,
                tracker: Rc::default(),
                server,
            }),
        }
    }

    /// True when the check cites the statement `id`: the connections of the check then judge
    /// the broker on it wherever they can (see [`crate::conn`]).
    pub fn cites(&self, id: &str) -> bool {
        self.inner.statements.contains(&id)
    }

    /// What the broker announced in the CONNACK of the run's MQTT 5.0 probe (its Maximum QoS,
    /// Retain Available, shared subscriptions, ...); the defaults of the standard when a 5.0
    /// check runs without a probe.
    pub fn server(&self) -> Rc<ServerLimits> {
        self.inner.server.clone().unwrap_or_default()
    }

    /// The PUBLISH packets that no subscription of their client matched, so far.
    pub(crate) fn unsolicited_seen(&self) -> Vec<(String, String)> {
        self.inner.tracker.unsolicited_seen()
    }

    /// The retained topics recorded so far.
    pub(crate) fn retained_topics(&self) -> BTreeSet<String> {
        self.inner.retained.borrow().clone()
    }

    /// The check's name.
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The protocol version of the check.
    pub fn protocol(&self) -> Protocol {
        self.inner.protocol
    }

    /// How long to wait for any one expected packet or close.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// A short wait used to conclude that something did not happen.
    pub fn quiet(&self) -> Duration {
        (self.inner.timeout / 5).clamp(Duration::from_millis(200), Duration::from_millis(700))
    }

    /// The topic root of this check in this run: `mqttsim/<run>/<check>`.
    pub fn root(&self) -> String {
        format!("mqttsim/{}/{}", self.inner.run_id, self.inner.name)
    }

    /// A topic under this check's root.
    pub fn topic(&self, suffix: &str) -> String {
        format!("{}/{}", self.root(), suffix)
    }

    /// A client id unique to this run and check, at most 23 alphanumeric characters.
    ///
    /// `tag` tells the clients of one check apart and must be alphanumeric, at most 8 characters.
    pub fn client_id(&self, tag: &str) -> String {
        assert!(
            tag.len() <= 8 && tag.chars().all(|c| c.is_ascii_alphanumeric()),
            "a client id tag is at most 8 alphanumeric characters: {tag:?}"
        );
        format!("c{}{:03}{}", self.inner.run_id, self.inner.index, tag)
    }

    /// Records a topic on which the check left (or may have left) a retained message, so the
    /// runner clears it afterwards.
    pub fn retained(&self, topic: &str) {
        self.inner.retained.borrow_mut().insert(topic.to_string());
    }

    /// Opens a bare connection without sending anything.
    pub async fn open(&self, label: &str) -> Result<Conn, Stop> {
        let connecting = self.inner.target.connect();
        match tokio::time::timeout(self.timeout(), connecting).await {
            Ok(Ok(stream)) => Ok(Conn::new(
                stream,
                self.protocol(),
                self.timeout(),
                label,
                self.inner.tracker.clone(),
                self.inner.statements,
            )),
            Ok(Err(e)) => Err(Stop::Fail(format!(
                "{label}: cannot connect to {}: {e}",
                self.inner.target.describe()
            ))),
            Err(_) => Err(Stop::Fail(format!(
                "{label}: connecting to {} took longer than {:?}",
                self.inner.target.describe(),
                self.timeout()
            ))),
        }
    }

    /// Whether the suite logs in with a user name (the target's credentials).
    pub fn has_credentials(&self) -> bool {
        self.inner.target.credentials().is_some()
    }

    /// A CONNECT with this client id, clean session, keep alive 60 s, the target's credentials
    /// (if it has any) and nothing else.
    pub fn connect_packet(&self, client_id: &str) -> Connect {
        let credentials = self.inner.target.credentials();
        Connect {
            protocol: self.protocol(),
            clean_start: true,
            keep_alive: 60,
            client_id: client_id.to_string(),
            will: None,
            username: credentials.map(|c| c.username.clone()),
            password: credentials.and_then(|c| c.password.clone()),
            properties: Properties::default(),
        }
    }

    /// Opens a connection, sends `connect` and returns the CONNACK, whatever its code.
    pub async fn connect_with(
        &self,
        label: &str,
        connect: Connect,
    ) -> Result<(Conn, ConnAck), Stop> {
        let mut conn = self.open(label).await?;
        conn.set_client_id(&connect.client_id);
        let lasting = !connect.clean_start
            || connect.properties.session_expiry_interval().is_some_and(|s| s > 0);
        if lasting {
            self.inner.tracker.sessions.borrow_mut().insert(connect.client_id.clone());
        }
        conn.announce(&connect);
        conn.send(&Packet::Connect(connect)).await?;
        match conn.recv().await? {
            Packet::ConnAck(ack) => Ok((conn, ack)),
            other => Err(Stop::Fail(format!(
                "{label}: the first packet from the broker was {:?}, not CONNACK [MQTT-3.2.0-1]",
                other.packet_type()
            ))),
        }
    }

    /// Removes a persistent session the check created: connects with `connect` (a clean start)
    /// and disconnects. Best effort: the verdict is already made, and a broker that stumbles here
    /// (NATS sometimes closes a connection that follows a DISCONNECT of the same client id too
    /// closely) must not turn it into a failure of the statements under test.
    pub async fn end_session(&self, connect: Connect) -> Result<(), Stop> {
        let client_id = connect.client_id.clone();
        if let Ok((conn, _)) = self.connect_accepted("cleanup", connect).await
            && conn.disconnect().await.is_ok()
        {
            self.inner.tracker.sessions.borrow_mut().remove(&client_id);
        }
        Ok(())
    }

    /// Ends, best effort, every session the check left behind: a check that failed half-way
    /// returns before its own cleanup, and its session (with its subscriptions and undelivered
    /// messages) would otherwise meet a later run that uses the same client ids.
    pub(crate) async fn end_leftover_sessions(&self) {
        let left: Vec<String> = self.inner.tracker.sessions.borrow().iter().cloned().collect();
        for client_id in left {
            let _ = self.end_session(self.connect_packet(&client_id)).await;
        }
    }

    /// Connects with `connect` and requires the broker to accept it.
    pub async fn connect_accepted(
        &self,
        label: &str,
        connect: Connect,
    ) -> Result<(Conn, ConnAck), Stop> {
        let (conn, ack) = self.connect_with(label, connect).await?;
        if ack.reason_code != ReasonCode::SUCCESS {
            return Err(Stop::Fail(match self.protocol() {
                Protocol::V311 | Protocol::V31 => format!(
                    "{label}: CONNACK refused the connection with return code {}",
                    ack.reason_code.to_v311_connack().unwrap_or(ack.reason_code.0)
                ),
                Protocol::V5 => format!(
                    "{label}: CONNACK refused the connection with reason code 0x{:02X}",
                    ack.reason_code.0
                ),
            }));
        }
        Ok((conn, ack))
    }

    /// Connects a clean-session client with tag `tag` and requires acceptance.
    pub async fn client(&self, tag: &str) -> Result<Conn, Stop> {
        let connect = self.connect_packet(&self.client_id(tag));
        Ok(self.connect_accepted(tag, connect).await?.0)
    }
}
