//! The coverage manifest: every normative statement of MQTT 3.1.1, who it binds and whether a
//! conformance check can observe it over the wire.
//!
//! The statement ids and their order are those of appendix B of the OASIS standard (29 October
//! 2014). Two ids are misprinted there (`MQTT-3.1.2.7` and `MQTT-3-8.3-4`); the manifest uses the
//! regular spelling `MQTT-3.1.2-7` and `MQTT-3.8.3-4`. Which checks cite a statement is not stored
//! here: it is computed from the check table by [`coverage`], so the two cannot drift apart.

use std::collections::BTreeMap;

use crate::check::Check;
use mqttsim_codec::Protocol;

/// Whose behaviour a statement constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Only the server.
    Server,
    /// Only the client.
    Client,
    /// Both, so the server side of it can be checked.
    Both,
}

impl Role {
    /// True when the statement binds a server.
    pub fn binds_server(self) -> bool {
        matches!(self, Role::Server | Role::Both)
    }
}

/// Whether a suite talking to a broker over a byte stream can observe the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Testability {
    /// A client on the wire can provoke and observe it.
    Wire,
    /// It cannot be observed over the wire, for the reason given.
    NotOverWire(&'static str),
}

/// One normative statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// The id without brackets, such as `MQTT-3.1.2-24`.
    pub id: &'static str,
    /// The protocol version of the standard it comes from.
    pub protocol: Protocol,
    /// Whom it binds.
    pub role: Role,
    /// Whether it can be checked over the wire.
    pub testability: Testability,
    /// A one-line paraphrase.
    pub summary: &'static str,
}

const fn s(id: &'static str, role: Role, summary: &'static str) -> Statement {
    Statement { id, protocol: Protocol::V311, role, testability: Testability::Wire, summary }
}

const fn n(id: &'static str, role: Role, why: &'static str, summary: &'static str) -> Statement {
    Statement {
        id,
        protocol: Protocol::V311,
        role,
        testability: Testability::NotOverWire(why),
        summary,
    }
}

const CLIENT_ONLY: &str = "binds the client; a server cannot be tested for it";
const WEBSOCKET: &str = "WebSocket transport; the suite speaks MQTT over plain TCP";

use Role::{Both, Client, Server};

/// Every normative statement of MQTT 3.1.1, in the order of appendix B of the standard.
pub const MQTT_311: &[Statement] = &[
    s("MQTT-1.5.3-1", Both, "ill-formed UTF-8 (including surrogates) closes the connection"),
    s("MQTT-1.5.3-2", Both, "a string containing U+0000 closes the connection"),
    s("MQTT-1.5.3-3", Both, "the sequence EF BB BF (U+FEFF) is never stripped"),
    s("MQTT-2.2.2-1", Both, "reserved fixed-header flags carry the listed values"),
    s("MQTT-2.2.2-2", Both, "invalid fixed-header flags close the connection"),
    s("MQTT-2.3.1-1", Both, "SUBSCRIBE, UNSUBSCRIBE and PUBLISH QoS>0 carry a non-zero packet id"),
    n("MQTT-2.3.1-2", Client, CLIENT_ONLY, "a client assigns a currently unused packet id"),
    n("MQTT-2.3.1-3", Client, CLIENT_ONLY, "a client re-sends with the same packet id"),
    s("MQTT-2.3.1-4", Server, "a server re-sends a PUBLISH with the same packet id"),
    s("MQTT-2.3.1-5", Both, "a QoS 0 PUBLISH carries no packet id"),
    s("MQTT-2.3.1-6", Both, "PUBACK, PUBREC and PUBREL carry the id of their PUBLISH"),
    s("MQTT-2.3.1-7", Server, "SUBACK and UNSUBACK carry the id of their request"),
    n("MQTT-3.1.0-1", Client, CLIENT_ONLY, "the first packet from a client is CONNECT"),
    s("MQTT-3.1.0-2", Server, "a second CONNECT is a protocol violation and disconnects"),
    s("MQTT-3.1.2-1", Server, "an unknown protocol name is not processed as MQTT 3.1.1"),
    s("MQTT-3.1.2-2", Server, "an unsupported protocol level gets CONNACK 0x01 and a disconnect"),
    s("MQTT-3.1.2-3", Server, "a set reserved CONNECT flag disconnects"),
    s("MQTT-3.1.2-4", Both, "CleanSession 0 resumes the stored session, or creates one"),
    s("MQTT-3.1.2-5", Server, "a disconnected persistent session stores further QoS 1 and 2"),
    s("MQTT-3.1.2-6", Both, "CleanSession 1 discards the previous session"),
    s("MQTT-3.1.2-7", Server, "retained messages are not deleted when a session ends"),
    s(
        "MQTT-3.1.2-8",
        Server,
        "the Will is published when the connection closes without DISCONNECT",
    ),
    s("MQTT-3.1.2-9", Both, "with the Will flag set, Will topic and message are present"),
    s("MQTT-3.1.2-10", Server, "the Will is removed once published or on DISCONNECT"),
    s("MQTT-3.1.2-11", Both, "without the Will flag, Will QoS, retain and fields are absent"),
    s("MQTT-3.1.2-12", Server, "without the Will flag no Will is published"),
    s("MQTT-3.1.2-13", Both, "without the Will flag the Will QoS is 0"),
    s("MQTT-3.1.2-14", Both, "the Will QoS is never 3"),
    s("MQTT-3.1.2-15", Both, "without the Will flag the Will retain flag is 0"),
    s("MQTT-3.1.2-16", Server, "a Will with retain 0 is published non-retained"),
    s("MQTT-3.1.2-17", Server, "a Will with retain 1 is published retained"),
    s("MQTT-3.1.2-18", Both, "user name flag 0 means no user name in the payload"),
    s("MQTT-3.1.2-19", Both, "user name flag 1 means a user name in the payload"),
    s("MQTT-3.1.2-20", Both, "password flag 0 means no password in the payload"),
    s("MQTT-3.1.2-21", Both, "password flag 1 means a password in the payload"),
    s("MQTT-3.1.2-22", Both, "user name flag 0 implies password flag 0"),
    n("MQTT-3.1.2-23", Client, CLIENT_ONLY, "a client sends PINGREQ within its keep alive"),
    s("MQTT-3.1.2-24", Server, "silence for 1.5 x keep alive disconnects the client"),
    n("MQTT-3.1.3-1", Client, CLIENT_ONLY, "payload fields appear in the standard order"),
    s("MQTT-3.1.3-2", Both, "the client id identifies the session state"),
    n("MQTT-3.1.3-3", Client, CLIENT_ONLY, "the client id is present and first in the payload"),
    s("MQTT-3.1.3-4", Both, "the client id is a well-formed UTF-8 string"),
    s("MQTT-3.1.3-5", Server, "client ids of 1 to 23 alphanumeric characters are allowed"),
    s("MQTT-3.1.3-6", Server, "an allowed empty client id is replaced by a unique one"),
    n("MQTT-3.1.3-7", Client, CLIENT_ONLY, "an empty client id comes with CleanSession 1"),
    s("MQTT-3.1.3-8", Server, "an empty client id with CleanSession 0 gets CONNACK 0x02"),
    s("MQTT-3.1.3-9", Server, "a rejected client id gets CONNACK 0x02 and a close"),
    s("MQTT-3.1.3-10", Both, "the Will topic is a well-formed UTF-8 string"),
    s("MQTT-3.1.3-11", Both, "the user name is a well-formed UTF-8 string"),
    s("MQTT-3.1.4-1", Server, "a non-conforming CONNECT is closed without CONNACK"),
    s("MQTT-3.1.4-2", Server, "a second client with the same id disconnects the first"),
    s("MQTT-3.1.4-3", Server, "a valid CONNECT gets its CleanSession processing"),
    s("MQTT-3.1.4-4", Server, "a valid CONNECT is acknowledged with return code 0"),
    s("MQTT-3.1.4-5", Server, "after a rejected CONNECT no further data is processed"),
    s("MQTT-3.2.0-1", Server, "the first packet from the server is CONNACK"),
    s("MQTT-3.2.2-1", Server, "CleanSession 1 gets Session Present 0"),
    s("MQTT-3.2.2-2", Server, "a resumed session gets Session Present 1"),
    s("MQTT-3.2.2-3", Server, "a new persistent session gets Session Present 0"),
    s("MQTT-3.2.2-4", Server, "a refusing CONNACK has Session Present 0"),
    s("MQTT-3.2.2-5", Server, "a refusing CONNACK is followed by a close"),
    s("MQTT-3.2.2-6", Server, "when no return code applies the server closes without CONNACK"),
    s("MQTT-3.3.1-1", Both, "a re-delivered PUBLISH has DUP 1"),
    s("MQTT-3.3.1-2", Both, "a QoS 0 PUBLISH has DUP 0"),
    s("MQTT-3.3.1-3", Server, "the incoming DUP flag is not propagated to subscribers"),
    s("MQTT-3.3.1-4", Both, "a PUBLISH with QoS bits 11 closes the connection"),
    s("MQTT-3.3.1-5", Server, "a retained PUBLISH is stored with its QoS"),
    s("MQTT-3.3.1-6", Server, "a new subscription receives the matching retained messages"),
    s("MQTT-3.3.1-7", Server, "a retained QoS 0 message replaces the previous retained message"),
    s("MQTT-3.3.1-8", Server, "messages sent because of a new subscription have RETAIN 1"),
    s("MQTT-3.3.1-9", Server, "messages for established subscriptions have RETAIN 0"),
    s(
        "MQTT-3.3.1-10",
        Server,
        "an empty retained PUBLISH is delivered and clears the retained one",
    ),
    s("MQTT-3.3.1-11", Server, "an empty retained message is not stored"),
    s("MQTT-3.3.1-12", Server, "a non-retained PUBLISH leaves the retained message alone"),
    s("MQTT-3.3.2-1", Both, "the topic name is present and well-formed UTF-8"),
    s("MQTT-3.3.2-2", Both, "the topic name contains no wildcard"),
    s("MQTT-3.3.2-3", Server, "the topic sent to a subscriber matches its filter"),
    s("MQTT-3.3.4-1", Both, "a PUBLISH is answered as its QoS requires"),
    s("MQTT-3.3.5-1", Server, "delivery respects the maximum QoS of all matching subscriptions"),
    n(
        "MQTT-3.3.5-2",
        Server,
        "needs an authorisation policy configured on the broker under test",
        "an unauthorised PUBLISH is acknowledged or the connection closed",
    ),
    s("MQTT-3.6.1-1", Both, "PUBREL fixed-header flags are 0010, others close"),
    s("MQTT-3.8.1-1", Server, "SUBSCRIBE fixed-header flags are 0010, others close"),
    s("MQTT-3.8.3-1", Both, "SUBSCRIBE topic filters are well-formed UTF-8"),
    s("MQTT-3.8.3-2", Server, "a server without wildcard support rejects wildcard filters"),
    s("MQTT-3.8.3-3", Both, "a SUBSCRIBE without filters is a protocol violation"),
    s("MQTT-3.8.3-4", Server, "reserved bits or QoS 3 in SUBSCRIBE options close the connection"),
    s("MQTT-3.8.4-1", Server, "a SUBSCRIBE is answered with SUBACK"),
    s("MQTT-3.8.4-2", Server, "SUBACK carries the id of its SUBSCRIBE"),
    s("MQTT-3.8.4-3", Server, "an identical filter replaces the subscription and resends retained"),
    s("MQTT-3.8.4-4", Server, "several filters act as several SUBSCRIBEs with one SUBACK"),
    s("MQTT-3.8.4-5", Server, "SUBACK has one granted QoS or failure code per filter"),
    s("MQTT-3.8.4-6", Server, "delivered QoS is the minimum of published and granted QoS"),
    s("MQTT-3.9.3-1", Server, "SUBACK codes are in the order of the filters"),
    s("MQTT-3.9.3-2", Server, "SUBACK codes are only 0x00, 0x01, 0x02 and 0x80"),
    s("MQTT-3.10.1-1", Server, "UNSUBSCRIBE fixed-header flags are 0010, others close"),
    s("MQTT-3.10.3-1", Both, "UNSUBSCRIBE topic filters are well-formed UTF-8"),
    s("MQTT-3.10.3-2", Both, "an UNSUBSCRIBE without filters is a protocol violation"),
    s("MQTT-3.10.4-1", Server, "UNSUBSCRIBE filters are compared character by character"),
    s("MQTT-3.10.4-2", Server, "a deleted subscription gets no new messages"),
    s("MQTT-3.10.4-3", Server, "a deleted subscription completes its QoS 1 and 2 deliveries"),
    s("MQTT-3.10.4-4", Server, "UNSUBSCRIBE is answered with UNSUBACK carrying its id"),
    s("MQTT-3.10.4-5", Server, "UNSUBACK is sent even when nothing was deleted"),
    s("MQTT-3.10.4-6", Server, "several filters act as several UNSUBSCRIBEs with one UNSUBACK"),
    s("MQTT-3.12.4-1", Server, "PINGREQ is answered with PINGRESP"),
    s("MQTT-3.14.1-1", Server, "DISCONNECT with reserved bits set disconnects"),
    n("MQTT-3.14.4-1", Client, CLIENT_ONLY, "after DISCONNECT the client closes the connection"),
    n("MQTT-3.14.4-2", Client, CLIENT_ONLY, "after DISCONNECT the client sends nothing more"),
    s("MQTT-3.14.4-3", Server, "DISCONNECT discards the Will without publishing it"),
    s("MQTT-4.1.0-1", Both, "session state is kept for the whole session"),
    s("MQTT-4.1.0-2", Both, "a session lasts at least as long as its connection"),
    s("MQTT-4.3.1-1", Both, "QoS 0 is sent as PUBLISH QoS 0, DUP 0"),
    s("MQTT-4.3.2-1", Both, "a QoS 1 sender uses a fresh id, DUP 0, and waits for PUBACK"),
    s("MQTT-4.3.2-2", Both, "a QoS 1 receiver acknowledges, then treats the id as new"),
    s("MQTT-4.3.3-1", Both, "a QoS 2 sender follows PUBLISH, PUBREL with the same id"),
    s("MQTT-4.3.3-2", Both, "a QoS 2 receiver answers PUBREC, delivers once, answers PUBCOMP"),
    s("MQTT-4.4.0-1", Both, "on a resumed session unacknowledged PUBLISH and PUBREL are re-sent"),
    s(
        "MQTT-4.5.0-1",
        Server,
        "an accepted message goes to the sessions with matching subscriptions",
    ),
    n("MQTT-4.5.0-2", Client, CLIENT_ONLY, "a client acknowledges every PUBLISH it receives"),
    s("MQTT-4.6.0-1", Both, "re-sent PUBLISH packets keep their original order"),
    n("MQTT-4.6.0-2", Client, CLIENT_ONLY, "a client sends PUBACKs in order"),
    n("MQTT-4.6.0-3", Client, CLIENT_ONLY, "a client sends PUBRECs in order"),
    n("MQTT-4.6.0-4", Client, CLIENT_ONLY, "a client sends PUBRELs in order"),
    s("MQTT-4.6.0-5", Server, "every topic is an ordered topic by default"),
    s("MQTT-4.6.0-6", Server, "messages from one client on one topic and QoS arrive in order"),
    s("MQTT-4.7.1-1", Both, "wildcards are not used in topic names"),
    s("MQTT-4.7.1-2", Both, "'#' stands alone after a separator and is last"),
    s("MQTT-4.7.1-3", Both, "'+' occupies an entire level"),
    s("MQTT-4.7.2-1", Server, "filters starting with a wildcard do not match '$' topics"),
    s("MQTT-4.7.3-1", Both, "topic names and filters are at least one character long"),
    s("MQTT-4.7.3-2", Both, "topic names and filters contain no U+0000"),
    n(
        "MQTT-4.7.3-3",
        Both,
        "a two-byte length cannot declare more than 65,535 bytes, so there is nothing to send",
        "topic names and filters encode to at most 65,535 bytes",
    ),
    s("MQTT-4.7.3-4", Server, "matching does not normalise or substitute characters"),
    s("MQTT-4.8.0-1", Both, "a protocol violation closes the connection"),
    n(
        "MQTT-4.8.0-2",
        Both,
        "a transient error inside the server cannot be provoked from the wire",
        "a transient error closes the connection",
    ),
    n("MQTT-6.0.0-1", Both, WEBSOCKET, "MQTT travels in binary WebSocket frames"),
    n("MQTT-6.0.0-2", Both, WEBSOCKET, "packets need not align with WebSocket frames"),
    n("MQTT-6.0.0-3", Client, WEBSOCKET, "the client offers the 'mqtt' sub-protocol"),
    n("MQTT-6.0.0-4", Server, WEBSOCKET, "the server selects the 'mqtt' sub-protocol"),
    n(
        "MQTT-7.0.0-1",
        Server,
        "concerns bridging servers, which the suite does not set up",
        "a bridging server conforms as client and server",
    ),
    n(
        "MQTT-7.0.0-2",
        Both,
        "a property of the implementation as a whole, not of its packets",
        "no extension is required to interoperate",
    ),
    n(
        "MQTT-7.1.1-1",
        Server,
        "a property of the transport; every check runs over an ordered byte stream",
        "a server supports an ordered, lossless byte-stream transport",
    ),
    n("MQTT-7.1.2-1", Client, CLIENT_ONLY, "a client supports an ordered byte-stream transport"),
];

/// The statement with this id, in any version's manifest.
pub fn find(id: &str) -> Option<&'static Statement> {
    MQTT_311.iter().find(|s| s.id == id)
}

/// How a statement stands after joining the manifest with the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Cited by these checks.
    Checked(Vec<&'static str>),
    /// Cannot be checked over the wire, for this reason.
    NotTestable(&'static str),
    /// Could be checked over the wire, but no check cites it yet.
    NotYet,
}

/// The manifest joined with the checks: each statement's status, and the coverage figure.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// Every statement of the manifest with its status, in manifest order.
    pub rows: Vec<(&'static Statement, Status)>,
    /// Statements that bind a server and are testable over the wire.
    pub server_testable: usize,
    /// Of those, how many at least one check cites.
    pub server_checked: usize,
}

impl Coverage {
    /// The share of wire-testable server statements that are checked, in percent.
    pub fn percent(&self) -> f64 {
        if self.server_testable == 0 {
            return 100.0;
        }
        self.server_checked as f64 * 100.0 / self.server_testable as f64
    }
}

/// Joins the manifest for `protocol` with the statements cited by `checks`.
pub fn coverage(protocol: Protocol, checks: &[Check]) -> Coverage {
    let mut cited: BTreeMap<&str, Vec<&'static str>> = BTreeMap::new();
    for check in checks.iter().filter(|c| c.protocol == protocol) {
        for id in check.statements {
            cited.entry(id).or_default().push(check.name);
        }
    }
    let manifest: &'static [Statement] = match protocol {
        Protocol::V311 => MQTT_311,
        // No checks are written for 3.1 (the broker treats it as 3.1.1 with another CONNECT).
        Protocol::V31 | Protocol::V5 => &[],
    };
    let mut rows = Vec::with_capacity(manifest.len());
    let (mut server_testable, mut server_checked) = (0, 0);
    for statement in manifest {
        let status = match (statement.testability, cited.get(statement.id)) {
            (_, Some(names)) => Status::Checked(names.clone()),
            (Testability::NotOverWire(why), None) => Status::NotTestable(why),
            (Testability::Wire, None) => Status::NotYet,
        };
        if statement.role.binds_server() && statement.testability == Testability::Wire {
            server_testable += 1;
            if matches!(status, Status::Checked(_)) {
                server_checked += 1;
            }
        }
        rows.push((statement, status));
    }
    Coverage { rows, server_testable, server_checked }
}
