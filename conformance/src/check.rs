//! What a check is: a named async body citing normative statements, and the context it runs in.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use mqttsim_codec::{ConnAck, Connect, Packet, Properties, Protocol, ReasonCode};

use crate::conn::Conn;
use crate::target::{BoxFuture, Target};

/// Why a check body stopped before passing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// The broker broke a statement, or misbehaved so that the check could not go on.
    #[error("{0}")]
    Fail(String),
    /// The broker lacks an optional feature the check needs.
    #[error("{0}")]
    Skip(String),
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
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("statements", &self.statements)
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
    timeout: Duration,
    retained: Rc<RefCell<BTreeSet<String>>>,
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
    ) -> Ctx {
        Ctx {
            inner: Rc::new(Inner {
                target,
                protocol: check.protocol,
                run_id: run_id.to_string(),
                index,
                name: check.name,
                timeout,
                retained,
            }),
        }
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
            Ok(Ok(stream)) => Ok(Conn::new(stream, self.protocol(), self.timeout(), label)),
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

    /// A CONNECT with this client id, clean session, keep alive 60 s and nothing else.
    pub fn connect_packet(&self, client_id: &str) -> Connect {
        Connect {
            protocol: self.protocol(),
            clean_start: true,
            keep_alive: 60,
            client_id: client_id.to_string(),
            will: None,
            username: None,
            password: None::<Bytes>,
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
        conn.send(&Packet::Connect(connect)).await?;
        match conn.recv().await? {
            Packet::ConnAck(ack) => Ok((conn, ack)),
            other => Err(Stop::Fail(format!(
                "{label}: the first packet from the broker was {:?}, not CONNACK [MQTT-3.2.0-1]",
                other.packet_type()
            ))),
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
            return Err(Stop::Fail(format!(
                "{label}: CONNACK refused the connection with return code {}",
                ack.reason_code.to_v311_connack().unwrap_or(ack.reason_code.0)
            )));
        }
        Ok((conn, ack))
    }

    /// Connects a clean-session client with tag `tag` and requires acceptance.
    pub async fn client(&self, tag: &str) -> Result<Conn, Stop> {
        let connect = self.connect_packet(&self.client_id(tag));
        Ok(self.connect_accepted(tag, connect).await?.0)
    }
}
