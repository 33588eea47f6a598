//! The coverage manifests: every normative statement of MQTT 3.1.1 and of MQTT 5.0, who it binds
//! and whether a conformance check can observe it over the wire.
//!
//! ## MQTT 3.1.1
//!
//! The source is the body text of the OASIS standard (29 October 2014), in the order of its
//! appendix B. Appendix B lists 140 ids; the body has one more, `MQTT-3.1.2-7` (printed
//! `MQTT-3.1.2.7` in section 3.1.2.4: retained messages outlive the session), which appendix B
//! leaves out. The manifest keeps it, marked [`Statement::in_appendix_b`] false, and coverage is
//! counted against appendix B's 140 ids only. Appendix B misprints `MQTT-3.8.3-4` as
//! `MQTT-3-8.3-4`; the manifest uses the regular spelling. Which checks cite a statement is not
//! stored here: it is computed from the check table by [`coverage`], so the two cannot drift
//! apart.
//!
//! ## MQTT 5.0
//!
//! [`MQTT_50`] lists the 251 ids of appendix B of the OASIS standard (7 March 2019), in its
//! order, with a paraphrase of the body text, which is normative where the two differ: every
//! known misprint of appendix B is noted on its statement ([`Statement::note`]), and the one id
//! the body spells differently (`MQTT-4.2-1` for appendix B's `MQTT-4.2.0-1`) is an alias that
//! `--only`, `--skip` and [`find`] accept. There is no `MQTT-2.2.1-1` in 5.0: section 2.2.1
//! starts at -2. The WebSocket statements (section 6) are testable over the wire only over a
//! WebSocket transport, which the suite does not speak, so they are marked not testable with
//! that reason. Client-only statements whose violation a check sends on purpose are listed as
//! probed by it ([`Status::Probed`]); they are never counted as checked.

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
    /// Whether appendix B of the standard lists it (coverage counts only those).
    pub in_appendix_b: bool,
    /// Other spellings of the id (the body's, where it differs from appendix B's).
    pub aliases: &'static [&'static str],
    /// A known misprint or oddity of the standard's text for this id.
    pub note: Option<&'static str>,
}

const fn s(id: &'static str, role: Role, summary: &'static str) -> Statement {
    Statement {
        id,
        protocol: Protocol::V311,
        role,
        testability: Testability::Wire,
        summary,
        in_appendix_b: true,
        aliases: &[],
        note: None,
    }
}

const fn n(id: &'static str, role: Role, why: &'static str, summary: &'static str) -> Statement {
    Statement { testability: Testability::NotOverWire(why), ..s(id, role, summary) }
}

const fn s5(id: &'static str, role: Role, summary: &'static str) -> Statement {
    Statement { protocol: Protocol::V5, ..s(id, role, summary) }
}

const fn n5(id: &'static str, role: Role, why: &'static str, summary: &'static str) -> Statement {
    Statement { protocol: Protocol::V5, ..n(id, role, why, summary) }
}

/// The statement with a note on the standard's text.
const fn noted(statement: Statement, note: &'static str) -> Statement {
    Statement { note: Some(note), ..statement }
}

/// The statement with other spellings of its id.
const fn aliased(statement: Statement, aliases: &'static [&'static str]) -> Statement {
    Statement { aliases, ..statement }
}

/// A statement of the body text that appendix B does not list.
const fn body_only(statement: Statement) -> Statement {
    Statement { in_appendix_b: false, ..statement }
}

/// How many ids appendix B of MQTT 3.1.1 lists.
pub const APPENDIX_B_311: usize = 140;

const CLIENT_ONLY: &str = "binds the client; a server cannot be tested for it";
const WEBSOCKET: &str = "WebSocket transport; the suite speaks MQTT over plain TCP";
const TRANSPORT: &str =
    "a property of the transport every check relies on; no exchange can show a broker breaking it";
const UNENCODABLE: &str =
    "a violation cannot be encoded: the two-byte length prefix caps a topic at 65,535 bytes";

/// How many ids appendix B of MQTT 5.0 lists.
pub const APPENDIX_B_50: usize = 251;

use Role::{Both, Client, Server};

/// Every normative statement of MQTT 3.1.1, in the order of appendix B of the standard, with
/// the one body-text statement appendix B leaves out in its place.
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
    body_only(s("MQTT-3.1.2-7", Server, "retained messages are not deleted when a session ends")),
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

/// Every normative statement of MQTT 5.0, in the order of appendix B of the standard.
#[rustfmt::skip]
pub const MQTT_50: &[Statement] = &[
    s5("MQTT-1.5.4-1", Both, "String character data must be valid UTF-8 (RFC 3629) and must never encode surrogate code points U+D800..U+DFFF."),
    s5("MQTT-1.5.4-2", Both, "No UTF-8 string may contain an encoded U+0000."),
    s5("MQTT-1.5.4-3", Both, "The bytes EF BB BF (U+FEFF) inside a string are ordinary characters; a receiver keeps them and never strips or skips them."),
    s5("MQTT-1.5.5-1", Both, "A Variable Byte Integer is always written in the fewest bytes that can hold its value."),
    s5("MQTT-1.5.7-1", Both, "Both the name and the value of a UTF-8 String Pair obey the UTF-8 string rules."),
    s5("MQTT-2.1.3-1", Both, "Fixed-header flag bits labelled Reserved carry exactly the value the packet table gives."),
    s5("MQTT-2.2.1-2", Both, "A QoS 0 PUBLISH has no Packet Identifier field."),
    n5("MQTT-2.2.1-3", Client, CLIENT_ONLY, "The Client gives every new SUBSCRIBE, UNSUBSCRIBE and QoS>0 PUBLISH a non-zero Packet Identifier that is not currently in use."),
    s5("MQTT-2.2.1-4", Server, "The Server gives every new QoS>0 PUBLISH it sends a non-zero Packet Identifier that is not currently in use."),
    s5("MQTT-2.2.1-5", Both, "PUBACK, PUBREC, PUBREL and PUBCOMP carry the same Packet Identifier as the PUBLISH they belong to."),
    s5("MQTT-2.2.1-6", Server, "SUBACK and UNSUBACK carry the Packet Identifier of the SUBSCRIBE or UNSUBSCRIBE they answer."),
    s5("MQTT-2.2.2-1", Both, "A packet with no properties still carries a Property Length, set to zero."),
    n5("MQTT-3.1.0-1", Client, CLIENT_ONLY, "On a new Network Connection the Client's first packet is CONNECT."),
    s5("MQTT-3.1.0-2", Server, "A second CONNECT on the same connection is a Protocol Error; the Server closes the connection."),
    noted(s5("MQTT-3.1.2-1", Both, "The Protocol Name is the UTF-8 string \"MQTT\"; a Server that refuses the CONNECT (optionally with CONNACK 0x84) then closes the connection."), "two obligations in one id: the client's protocol name, the server's close"),
    s5("MQTT-3.1.2-2", Server, "If the Protocol Version is not 5 and the Server will not accept it, it may send CONNACK 0x84 and must then close the connection."),
    s5("MQTT-3.1.2-3", Server, "The Server checks that the reserved bit of the CONNECT flags is 0 (otherwise Malformed Packet)."),
    s5("MQTT-3.1.2-4", Both, "CONNECT with Clean Start=1 makes Client and Server discard any existing Session and begin a new one."),
    s5("MQTT-3.1.2-5", Server, "CONNECT with Clean Start=0 and an existing Session for that ClientID: the Server resumes from that Session's state."),
    s5("MQTT-3.1.2-6", Server, "CONNECT with Clean Start=0 and no Session for that ClientID: the Server creates a new Session."),
    s5("MQTT-3.1.2-7", Server, "Will Flag=1: the Server stores the Will Message and ties it to the Session."),
    s5("MQTT-3.1.2-8", Server, "After the connection closes the Will is published once the Will Delay Interval elapses or the Session ends, unless a DISCONNECT 0x00 deleted it or a new connection for the ClientID arrived before the delay ran out."),
    n5("MQTT-3.1.2-9", Client, CLIENT_ONLY, "Will Flag=1: Will Properties, Will Topic and Will Payload are present in the CONNECT payload (and the Server uses Will QoS / Will Retain)."),
    s5("MQTT-3.1.2-10", Server, "The Server deletes the stored Will once it is published or once the Client sends DISCONNECT 0x00."),
    n5("MQTT-3.1.2-11", Client, CLIENT_ONLY, "Will Flag=0: the Will QoS bits are 0."),
    noted(n5("MQTT-3.1.2-12", Client, CLIENT_ONLY, "Will Flag=1: Will QoS is 0, 1 or 2 (3 is malformed). No MUST keyword in the statement itself."), "no MUST keyword in the statement"),
    n5("MQTT-3.1.2-13", Client, CLIENT_ONLY, "Will Flag=0: Will Retain is 0."),
    s5("MQTT-3.1.2-14", Server, "Will Flag=1 and Will Retain=0: the Server publishes the Will as a non-retained message."),
    s5("MQTT-3.1.2-15", Server, "Will Flag=1 and Will Retain=1: the Server publishes the Will as a retained message."),
    n5("MQTT-3.1.2-16", Client, CLIENT_ONLY, "User Name Flag=0: no User Name field in the payload."),
    n5("MQTT-3.1.2-17", Client, CLIENT_ONLY, "User Name Flag=1: a User Name field is in the payload."),
    n5("MQTT-3.1.2-18", Client, CLIENT_ONLY, "Password Flag=0: no Password field in the payload."),
    n5("MQTT-3.1.2-19", Client, CLIENT_ONLY, "Password Flag=1: a Password field is in the payload."),
    n5("MQTT-3.1.2-20", Client, CLIENT_ONLY, "With a non-zero Keep Alive and nothing else to send, the Client sends PINGREQ in time."),
    noted(n5("MQTT-3.1.2-21", Client, CLIENT_ONLY, "If CONNACK carries Server Keep Alive, the Client uses that value instead of its own Keep Alive (same rule as MQTT-3.2.2-21)."), "the same requirement as MQTT-3.2.2-21"),
    s5("MQTT-3.1.2-22", Server, "With a non-zero Keep Alive, if nothing arrives from the Client for 1.5 x Keep Alive, the Server closes the connection as a network failure (so the Will applies)."),
    s5("MQTT-3.1.2-23", Both, "If Session Expiry Interval > 0, Client and Server keep the Session State after the connection closes."),
    s5("MQTT-3.1.2-24", Server, "The Server never sends a packet larger than the Client's Maximum Packet Size."),
    s5("MQTT-3.1.2-25", Server, "A packet too large for the Client is dropped unsent and the Server carries on as if it had finished sending that Application Message."),
    s5("MQTT-3.1.2-26", Server, "The Server never sends a Topic Alias greater than the Client's Topic Alias Maximum."),
    noted(s5("MQTT-3.1.2-27", Server, "If the Client's Topic Alias Maximum is absent or 0, the Server sends no Topic Aliases at all (Appendix B text is cut short: \"to the.\")."), "Appendix B's text ends \"Topic Aliases to the.\""),
    s5("MQTT-3.1.2-28", Server, "Request Response Information=0: the Server does not return Response Information."),
    s5("MQTT-3.1.2-29", Server, "Request Problem Information=0: the Server may put Reason String / User Properties only on PUBLISH, CONNACK or DISCONNECT, never on other packets."),
    n5("MQTT-3.1.2-30", Client, CLIENT_ONLY, "A Client that set an Authentication Method in CONNECT sends nothing but AUTH or DISCONNECT until it receives CONNACK."),
    noted(n5("MQTT-3.1.3-1", Client, CLIENT_ONLY, "CONNECT payload fields, when present, come in the order ClientID, Will Properties, Will Topic, Will Payload, User Name, Password (Appendix B omits Will Properties and uses 3.1.1 names)."), "Appendix B names the 3.1.1 fields and leaves Will Properties out"),
    s5("MQTT-3.1.3-2", Both, "Client and Server use the ClientID to identify the Session state they hold for each other."),
    n5("MQTT-3.1.3-3", Client, CLIENT_ONLY, "The ClientID is always present and is the first CONNECT payload field."),
    n5("MQTT-3.1.3-4", Client, CLIENT_ONLY, "The ClientID is a UTF-8 Encoded String."),
    s5("MQTT-3.1.3-5", Server, "The Server accepts ClientIDs 1 to 23 bytes long made only of 0-9, a-z and A-Z."),
    s5("MQTT-3.1.3-6", Server, "A Server that allows a zero-length ClientID must give that Client a unique ClientID."),
    s5("MQTT-3.1.3-7", Server, "It then handles the CONNECT as if that ClientID had been sent and returns it as Assigned Client Identifier in CONNACK."),
    s5("MQTT-3.1.3-8", Server, "If the Server rejects the ClientID (optionally with CONNACK 0x85) it closes the connection."),
    s5("MQTT-3.1.3-9", Server, "If a new connection to the Session arrives before the Will Delay Interval has passed, the Server does not send the Will."),
    noted(s5("MQTT-3.1.3-10", Server, "The Server keeps the order of the Will's User Properties when it publishes the Will (Appendix B text duplicates MQTT-3.3.2-18)."), "Appendix B repeats the text of MQTT-3.3.2-18; the body is about the Will's User Properties"),
    n5("MQTT-3.1.3-11", Client, CLIENT_ONLY, "The Will Topic is a UTF-8 Encoded String."),
    n5("MQTT-3.1.3-12", Client, CLIENT_ONLY, "When the User Name Flag is 1, the User Name is the next payload field and is a UTF-8 Encoded String."),
    s5("MQTT-3.1.4-1", Server, "The Server checks the CONNECT against the format of section 3.1 and closes the connection if it does not conform."),
    s5("MQTT-3.1.4-2", Server, "If further CONNECT checks the Server performs (content limits, authentication, authorization) fail, it closes the connection."),
    s5("MQTT-3.1.4-3", Server, "If the ClientID is already connected, the Server sends the old connection DISCONNECT 0x8E (Session taken over) and closes it."),
    s5("MQTT-3.1.4-4", Server, "The Server carries out Clean Start processing for the CONNECT."),
    s5("MQTT-3.1.4-5", Server, "An accepted CONNECT is answered with a CONNACK carrying Reason Code 0x00."),
    s5("MQTT-3.1.4-6", Server, "After rejecting a CONNECT, the Server processes nothing further the Client sent on that connection except AUTH."),
    s5("MQTT-3.2.0-1", Server, "Before sending any packet other than AUTH, the Server sends CONNACK with 0x00."),
    s5("MQTT-3.2.0-2", Server, "The Server sends at most one CONNACK per connection."),
    s5("MQTT-3.2.2-1", Server, "Bits 7..1 of the CONNACK Acknowledge Flags are 0."),
    s5("MQTT-3.2.2-2", Server, "Accepting Clean Start=1: CONNACK has Session Present=0 and Reason Code 0x00."),
    s5("MQTT-3.2.2-3", Server, "Accepting Clean Start=0: Session Present=1 if the Server holds Session State for the ClientID, else 0; Reason Code 0x00 either way."),
    n5("MQTT-3.2.2-4", Client, CLIENT_ONLY, "A Client with no Session State that receives Session Present=1 closes the connection."),
    n5("MQTT-3.2.2-5", Client, CLIENT_ONLY, "A Client with Session State that receives Session Present=0 drops its Session State if it stays connected."),
    s5("MQTT-3.2.2-6", Server, "A CONNACK with a non-zero Reason Code has Session Present=0."),
    s5("MQTT-3.2.2-7", Server, "After a CONNACK with Reason Code 0x80 or above, the Server closes the connection."),
    noted(s5("MQTT-3.2.2-8", Server, "The CONNACK Reason Code is one of the defined Connect Reason Codes (body id misprinted \"T-3.2.2-8]\")."), "the body misprints the id as `valuesT-3.2.2-8]`"),
    s5("MQTT-3.2.2-9", Server, "A Server without QoS 1 or QoS 2 support states its highest supported QoS as Maximum QoS in CONNACK."),
    s5("MQTT-3.2.2-10", Server, "Such a Server still accepts SUBSCRIBE with Requested QoS 0, 1 or 2."),
    n5("MQTT-3.2.2-11", Client, CLIENT_ONLY, "A Client never publishes at a QoS above the Maximum QoS the Server announced."),
    s5("MQTT-3.2.2-12", Server, "A CONNECT whose Will QoS exceeds the Server's capability is rejected (CONNACK 0x9B recommended) and the connection closed."),
    s5("MQTT-3.2.2-13", Server, "A CONNECT with Will Retain=1 to a Server without retain support is rejected (CONNACK 0x9A recommended) and the connection closed."),
    n5("MQTT-3.2.2-14", Client, CLIENT_ONLY, "A Client told Retain Available=0 never sends PUBLISH with RETAIN=1."),
    n5("MQTT-3.2.2-15", Client, CLIENT_ONLY, "A Client never sends a packet larger than the Server's Maximum Packet Size."),
    s5("MQTT-3.2.2-16", Server, "A zero-length ClientID gets a CONNACK with an Assigned Client Identifier not used by any other current Session."),
    n5("MQTT-3.2.2-17", Client, CLIENT_ONLY, "A Client never sends a Topic Alias greater than the Server's Topic Alias Maximum."),
    noted(n5("MQTT-3.2.2-18", Client, CLIENT_ONLY, "If the Server's Topic Alias Maximum is absent or 0, the Client sends no Topic Aliases (Appendix B drops \"or 0\")."), "Appendix B drops \"or 0\""),
    noted(s5("MQTT-3.2.2-19", Server, "The Server leaves the Reason String out of CONNACK if it would push CONNACK past the Client's Maximum Packet Size."), "Appendix B gives MQTT-3.2.2-19 and MQTT-3.2.2-20 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.2.2-20", Server, "The Server leaves User Properties out of CONNACK if they would push CONNACK past the Client's Maximum Packet Size."), "Appendix B gives MQTT-3.2.2-19 and MQTT-3.2.2-20 the same text; in the body the second is the User Property"),
    noted(n5("MQTT-3.2.2-21", Client, CLIENT_ONLY, "A Client given Server Keep Alive in CONNACK uses it in place of the Keep Alive it sent (same rule as MQTT-3.1.2-21)."), "the same requirement as MQTT-3.1.2-21"),
    s5("MQTT-3.2.2-22", Server, "If the Server sends no Server Keep Alive, it applies the Keep Alive the Client put in CONNECT."),
    s5("MQTT-3.3.1-1", Both, "A PUBLISH being re-delivered has DUP=1."),
    s5("MQTT-3.3.1-2", Both, "Every QoS 0 PUBLISH has DUP=0."),
    s5("MQTT-3.3.1-3", Server, "The DUP bit of a forwarded PUBLISH depends only on whether that outgoing packet is a retransmission, not on the incoming DUP."),
    s5("MQTT-3.3.1-4", Both, "A PUBLISH never has both QoS bits set (QoS 3 is malformed)."),
    s5("MQTT-3.3.1-5", Server, "On a Client PUBLISH with RETAIN=1 the Server stores it, replacing any retained message on that topic."),
    s5("MQTT-3.3.1-6", Server, "A RETAIN=1 PUBLISH with empty payload is delivered normally but removes the topic's retained message; later subscribers get none."),
    s5("MQTT-3.3.1-7", Server, "A zero-byte retained payload is never kept as a retained message."),
    s5("MQTT-3.3.1-8", Server, "On a Client PUBLISH with RETAIN=0 the Server neither stores it as retained nor removes or replaces the existing retained message."),
    s5("MQTT-3.3.1-9", Server, "Retain Handling 0: on subscribe the Server sends the retained messages matching the filter."),
    noted(s5("MQTT-3.3.1-10", Server, "Retain Handling 1: retained messages are sent only if the subscription did not already exist; for an existing subscription none are sent (Appendix B inverts this; the body is normative)."), "Appendix B inverts it (\"did already exist\"); the body is followed"),
    noted(s5("MQTT-3.3.1-11", Server, "Retain Handling 2: the Server sends no retained messages on subscribe (Appendix B sentence truncated)."), "Appendix B's text stops at \"MUST NOT send the retained\""),
    s5("MQTT-3.3.1-12", Server, "Retain As Published 0: forwarded messages have RETAIN=0 whatever the incoming flag."),
    s5("MQTT-3.3.1-13", Server, "Retain As Published 1: the forwarded RETAIN equals the RETAIN of the received PUBLISH."),
    s5("MQTT-3.3.2-1", Both, "The Topic Name is the first field of the PUBLISH variable header and is a UTF-8 Encoded String."),
    s5("MQTT-3.3.2-2", Both, "A PUBLISH Topic Name contains no wildcard characters."),
    s5("MQTT-3.3.2-3", Server, "The Topic Name in a PUBLISH the Server sends to a subscriber matches that subscription's Topic Filter."),
    s5("MQTT-3.3.2-4", Server, "The Server forwards the Payload Format Indicator unchanged to every subscriber that receives the message."),
    s5("MQTT-3.3.2-5", Server, "If the Message Expiry Interval elapses before onward delivery to a subscriber has started, the Server deletes that subscriber's copy."),
    s5("MQTT-3.3.2-6", Server, "The forwarded Message Expiry Interval is the received value minus the time the message waited in the Server."),
    s5("MQTT-3.3.2-7", Both, "A receiver does not keep Topic Alias mappings from one connection to the next."),
    s5("MQTT-3.3.2-8", Both, "No sender uses Topic Alias value 0."),
    n5("MQTT-3.3.2-9", Client, CLIENT_ONLY, "A Client never sends a Topic Alias above the Topic Alias Maximum in the Server's CONNACK."),
    n5("MQTT-3.3.2-10", Client, CLIENT_ONLY, "A Client accepts every Topic Alias from 1 up to the Topic Alias Maximum it put in CONNECT."),
    s5("MQTT-3.3.2-11", Server, "The Server never sends a Topic Alias above the Topic Alias Maximum in the Client's CONNECT."),
    s5("MQTT-3.3.2-12", Server, "The Server accepts every Topic Alias from 1 up to the Topic Alias Maximum it put in CONNACK."),
    s5("MQTT-3.3.2-13", Both, "The Response Topic is a UTF-8 Encoded String."),
    n5("MQTT-3.3.2-14", Client, CLIENT_ONLY, "The Response Topic contains no wildcard characters."),
    s5("MQTT-3.3.2-15", Server, "The Server forwards the Response Topic unchanged to every subscriber that receives the message."),
    s5("MQTT-3.3.2-16", Server, "The Server forwards the Correlation Data unchanged to every subscriber that receives the message."),
    s5("MQTT-3.3.2-17", Server, "The Server forwards all User Properties of a PUBLISH unchanged."),
    s5("MQTT-3.3.2-18", Server, "The Server keeps User Properties in their original order when forwarding."),
    s5("MQTT-3.3.2-19", Both, "The Content Type is a UTF-8 Encoded String."),
    s5("MQTT-3.3.2-20", Server, "The Server forwards the Content Type unchanged to every subscriber that receives the message."),
    s5("MQTT-3.3.4-1", Both, "The receiver of a PUBLISH answers with the packet its QoS calls for (none, PUBACK or PUBREC)."),
    s5("MQTT-3.3.4-2", Server, "When several of a Client's subscriptions overlap, the Server delivers the message respecting the highest QoS among the matching subscriptions (extra copies are allowed)."),
    s5("MQTT-3.3.4-3", Server, "Subscription Identifiers given on any overlapping matching subscription are included in the resulting publications."),
    s5("MQTT-3.3.4-4", Server, "A single delivered copy carries the Subscription Identifiers of all matching subscriptions that have one, in any order."),
    s5("MQTT-3.3.4-5", Server, "When the Server sends one PUBLISH per matching subscription, each carries its own subscription's identifier (if it has one)."),
    n5("MQTT-3.3.4-6", Client, CLIENT_ONLY, "A Client-to-Server PUBLISH carries no Subscription Identifier."),
    n5("MQTT-3.3.4-7", Client, CLIENT_ONLY, "A Client keeps no more QoS>0 PUBLISHes unacknowledged than the Server's Receive Maximum."),
    n5("MQTT-3.3.4-8", Client, CLIENT_ONLY, "A Client does not hold back non-PUBLISH packets because its Receive Maximum quota is used up."),
    s5("MQTT-3.3.4-9", Server, "The Server keeps no more QoS>0 PUBLISHes unacknowledged to a Client than that Client's Receive Maximum."),
    s5("MQTT-3.3.4-10", Server, "The Server does not hold back non-PUBLISH packets because its send quota to the Client is used up."),
    s5("MQTT-3.4.2-1", Both, "A PUBACK Reason Code is one of the defined PUBACK Reason Codes."),
    noted(s5("MQTT-3.4.2-2", Both, "The PUBACK Reason String is left out if it would push PUBACK past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.4.2-2 and MQTT-3.4.2-3 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.4.2-3", Both, "PUBACK User Properties are left out if they would push PUBACK past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.4.2-2 and MQTT-3.4.2-3 the same text; in the body the second is the User Property"),
    s5("MQTT-3.5.2-1", Both, "A PUBREC Reason Code is one of the defined PUBREC Reason Codes."),
    noted(s5("MQTT-3.5.2-2", Both, "The PUBREC Reason String is left out if it would push PUBREC past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.5.2-2 and MQTT-3.5.2-3 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.5.2-3", Both, "PUBREC User Properties are left out if they would push PUBREC past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.5.2-2 and MQTT-3.5.2-3 the same text; in the body the second is the User Property"),
    s5("MQTT-3.6.1-1", Both, "PUBREL fixed-header flags are 0,0,1,0; the Server treats any other value as malformed and closes the connection."),
    s5("MQTT-3.6.2-1", Both, "A PUBREL Reason Code is one of the defined PUBREL Reason Codes."),
    noted(s5("MQTT-3.6.2-2", Both, "The PUBREL Reason String is left out if it would push PUBREL past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.6.2-2 and MQTT-3.6.2-3 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.6.2-3", Both, "PUBREL User Properties are left out if they would push PUBREL past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.6.2-2 and MQTT-3.6.2-3 the same text; in the body the second is the User Property"),
    s5("MQTT-3.7.2-1", Both, "A PUBCOMP Reason Code is one of the defined PUBCOMP Reason Codes."),
    noted(s5("MQTT-3.7.2-2", Both, "The PUBCOMP Reason String is left out if it would push PUBCOMP past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.7.2-2 and MQTT-3.7.2-3 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.7.2-3", Both, "PUBCOMP User Properties are left out if they would push PUBCOMP past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.7.2-2 and MQTT-3.7.2-3 the same text; in the body the second is the User Property"),
    s5("MQTT-3.8.1-1", Both, "SUBSCRIBE fixed-header flags are 0,0,1,0; the Server treats any other value as malformed and closes the connection."),
    n5("MQTT-3.8.3-1", Client, CLIENT_ONLY, "SUBSCRIBE Topic Filters are UTF-8 Encoded Strings."),
    n5("MQTT-3.8.3-2", Client, CLIENT_ONLY, "A SUBSCRIBE payload holds at least one Topic Filter / Subscription Options pair."),
    s5("MQTT-3.8.3-3", Server, "No Local=1: the Server does not forward messages to a connection whose ClientID is the publisher's ClientID."),
    noted(s5("MQTT-3.8.3-4", Both, "Setting No Local=1 on a Shared Subscription is a Protocol Error (statement has no MUST keyword)."), "no MUST keyword in the statement"),
    s5("MQTT-3.8.3-5", Server, "The Server treats a SUBSCRIBE as malformed if any reserved bit of the Subscription Options is non-zero."),
    s5("MQTT-3.8.4-1", Server, "The Server answers every SUBSCRIBE with a SUBACK."),
    s5("MQTT-3.8.4-2", Server, "The SUBACK has the Packet Identifier of the SUBSCRIBE it acknowledges."),
    s5("MQTT-3.8.4-3", Server, "A SUBSCRIBE repeating the Topic Filter of an existing non-shared subscription in the Session replaces that subscription."),
    s5("MQTT-3.8.4-4", Server, "On such a replacement with Retain Handling 0, matching retained messages are sent again, and no Application Messages are lost through the replacement."),
    s5("MQTT-3.8.4-5", Server, "A SUBSCRIBE with several Topic Filters is handled like a series of SUBSCRIBEs, answered by one combined SUBACK."),
    s5("MQTT-3.8.4-6", Server, "The SUBACK carries one Reason Code per Topic Filter / Subscription Options pair."),
    s5("MQTT-3.8.4-7", Server, "Each SUBACK Reason Code either gives the maximum QoS granted or says the subscription failed."),
    s5("MQTT-3.8.4-8", Server, "Messages delivered for a subscription go at the lower of the published QoS and the granted QoS."),
    noted(s5("MQTT-3.9.2-1", Server, "The Server leaves the Reason String out of SUBACK if it would push SUBACK past the Client's Maximum Packet Size."), "Appendix B gives MQTT-3.9.2-1 and MQTT-3.9.2-2 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.9.2-2", Server, "The Server leaves User Properties out of SUBACK if they would push SUBACK past the Client's Maximum Packet Size."), "Appendix B gives MQTT-3.9.2-1 and MQTT-3.9.2-2 the same text; in the body the second is the User Property"),
    s5("MQTT-3.9.3-1", Server, "SUBACK Reason Codes are in the same order as the Topic Filters of the SUBSCRIBE."),
    s5("MQTT-3.9.3-2", Server, "The SUBACK has one valid Subscribe Reason Code for each Topic Filter received."),
    s5("MQTT-3.10.1-1", Both, "UNSUBSCRIBE fixed-header flags are 0,0,1,0; the Server treats any other value as malformed and closes the connection."),
    n5("MQTT-3.10.3-1", Client, CLIENT_ONLY, "UNSUBSCRIBE Topic Filters are UTF-8 Encoded Strings."),
    n5("MQTT-3.10.3-2", Client, CLIENT_ONLY, "An UNSUBSCRIBE payload holds at least one Topic Filter."),
    s5("MQTT-3.10.4-1", Server, "UNSUBSCRIBE filters are compared with the Client's stored filters character by character (wildcards are not expanded); an exact match deletes that subscription."),
    s5("MQTT-3.10.4-2", Server, "After UNSUBSCRIBE the Server adds no new messages matching those filters for delivery to the Client."),
    s5("MQTT-3.10.4-3", Server, "After UNSUBSCRIBE the Server still completes QoS 1/2 deliveries to the Client that it had already started."),
    s5("MQTT-3.10.4-4", Server, "The Server answers every UNSUBSCRIBE with an UNSUBACK."),
    s5("MQTT-3.10.4-5", Server, "The UNSUBACK carries the UNSUBSCRIBE's Packet Identifier and is sent even when nothing was deleted."),
    s5("MQTT-3.10.4-6", Server, "An UNSUBSCRIBE with several Topic Filters is handled like a series of UNSUBSCRIBEs, answered by one UNSUBACK."),
    noted(s5("MQTT-3.11.2-1", Server, "The Server leaves the Reason String out of UNSUBACK if it would push UNSUBACK past the Client's Maximum Packet Size."), "Appendix B gives MQTT-3.11.2-1 and MQTT-3.11.2-2 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.11.2-2", Server, "The Server leaves User Properties out of UNSUBACK if they would push UNSUBACK past the Client's Maximum Packet Size."), "Appendix B gives MQTT-3.11.2-1 and MQTT-3.11.2-2 the same text; in the body the second is the User Property"),
    s5("MQTT-3.11.3-1", Server, "UNSUBACK Reason Codes are in the same order as the Topic Filters of the UNSUBSCRIBE."),
    s5("MQTT-3.11.3-2", Server, "The UNSUBACK has one valid Unsubscribe Reason Code for each Topic Filter received."),
    s5("MQTT-3.12.4-1", Server, "The Server answers PINGREQ with PINGRESP."),
    s5("MQTT-3.14.0-1", Server, "The Server sends DISCONNECT only after it has sent a CONNACK with Reason Code below 0x80."),
    s5("MQTT-3.14.1-1", Both, "DISCONNECT reserved fixed-header bits are 0; a receiver seeing otherwise sends DISCONNECT 0x81 (Malformed Packet)."),
    s5("MQTT-3.14.2-1", Both, "A DISCONNECT Reason Code is one of the defined DISCONNECT Reason Codes."),
    s5("MQTT-3.14.2-2", Server, "A DISCONNECT sent by the Server never contains Session Expiry Interval."),
    noted(s5("MQTT-3.14.2-3", Both, "The DISCONNECT Reason String is left out if it would push DISCONNECT past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.14.2-3 and MQTT-3.14.2-4 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.14.2-4", Both, "DISCONNECT User Properties are left out if they would push DISCONNECT past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.14.2-3 and MQTT-3.14.2-4 the same text; in the body the second is the User Property"),
    s5("MQTT-3.14.4-1", Both, "After sending DISCONNECT the sender sends nothing more on that connection."),
    s5("MQTT-3.14.4-2", Both, "After sending DISCONNECT the sender closes the connection."),
    s5("MQTT-3.14.4-3", Server, "On DISCONNECT 0x00 from the Client, the Server discards the connection's Will without publishing it."),
    s5("MQTT-3.15.1-1", Both, "AUTH fixed-header flags are all 0; the receiver treats anything else as malformed and closes the connection."),
    s5("MQTT-3.15.2-1", Both, "An AUTH Reason Code is one of the defined Authenticate Reason Codes."),
    noted(s5("MQTT-3.15.2-2", Both, "The AUTH Reason String is left out if it would push AUTH past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.15.2-2 and MQTT-3.15.2-3 the same text; in the body the first is the Reason String"),
    noted(s5("MQTT-3.15.2-3", Both, "AUTH User Properties are left out if they would push AUTH past the receiver's Maximum Packet Size."), "Appendix B gives MQTT-3.15.2-2 and MQTT-3.15.2-3 the same text; in the body the second is the User Property"),
    s5("MQTT-4.1.0-1", Both, "Neither side discards Session State while the Network Connection is open."),
    aliased(noted(n5("MQTT-4.2.0-1", Both, TRANSPORT, "Client and Server support at least one transport giving an ordered, lossless byte stream in each direction (body labels this MQTT-4.2-1)."), "Appendix B labels it MQTT-4.2.0-1 and lists it between 4.1.0-1 and 4.1.0-2; the body labels it MQTT-4.2-1"), &["MQTT-4.2-1"]),
    s5("MQTT-4.1.0-2", Server, "The Server discards the Session State once the connection is closed and the Session Expiry Interval has passed."),
    s5("MQTT-4.3.1-1", Both, "QoS 0 delivery: the sender sends PUBLISH with QoS 0 and DUP 0."),
    s5("MQTT-4.3.2-1", Both, "QoS 1 delivery: the sender uses an unused Packet Identifier for each new Application Message."),
    s5("MQTT-4.3.2-2", Both, "QoS 1 delivery: the first send is a PUBLISH with that identifier, QoS 1, DUP 0."),
    s5("MQTT-4.3.2-3", Both, "QoS 1 delivery: the sender treats the PUBLISH as unacknowledged until the matching PUBACK arrives."),
    s5("MQTT-4.3.2-4", Both, "QoS 1 delivery: the receiver, having taken ownership of the message, replies PUBACK with the incoming Packet Identifier."),
    s5("MQTT-4.3.2-5", Both, "QoS 1 delivery: once the receiver has sent PUBACK, a later PUBLISH with that identifier is a new message, whatever its DUP flag."),
    s5("MQTT-4.3.3-1", Both, "QoS 2 delivery: the sender uses an unused Packet Identifier for each new Application Message."),
    s5("MQTT-4.3.3-2", Both, "QoS 2 delivery: the first send is a PUBLISH with that identifier, QoS 2, DUP 0."),
    s5("MQTT-4.3.3-3", Both, "QoS 2 delivery: the sender treats the PUBLISH as unacknowledged until the matching PUBREC arrives."),
    s5("MQTT-4.3.3-4", Both, "QoS 2 delivery: on a PUBREC below 0x80 the sender sends PUBREL with the same Packet Identifier."),
    s5("MQTT-4.3.3-5", Both, "QoS 2 delivery: the sender treats the PUBREL as unacknowledged until the matching PUBCOMP arrives."),
    s5("MQTT-4.3.3-6", Both, "QoS 2 delivery: once PUBREL has been sent the sender never re-sends the PUBLISH."),
    s5("MQTT-4.3.3-7", Both, "QoS 2 delivery: once the PUBLISH has been sent the sender does not apply message expiry to it."),
    s5("MQTT-4.3.3-8", Both, "QoS 2 delivery: the receiver, having taken ownership of the message, replies PUBREC with the incoming Packet Identifier."),
    s5("MQTT-4.3.3-9", Both, "QoS 2 delivery: after a PUBREC of 0x80 or above, a later PUBLISH with that identifier is a new message."),
    s5("MQTT-4.3.3-10", Both, "QoS 2 delivery: until PUBREL arrives, repeats of the PUBLISH with that identifier get PUBREC and are not passed on again (no duplicate onward delivery)."),
    s5("MQTT-4.3.3-11", Both, "QoS 2 delivery: the receiver answers PUBREL with PUBCOMP carrying the same Packet Identifier."),
    s5("MQTT-4.3.3-12", Both, "QoS 2 delivery: after sending PUBCOMP, a later PUBLISH with that identifier is a new message."),
    s5("MQTT-4.3.3-13", Both, "QoS 2 delivery: the receiver finishes the acknowledgement exchange even if it has expired the message."),
    s5("MQTT-4.4.0-1", Both, "On reconnect with Clean Start=0 and a session present, both sides re-send unacknowledged QoS>0 PUBLISH and PUBREL packets with their original identifiers; at no other time are messages re-sent."),
    s5("MQTT-4.4.0-2", Both, "A PUBLISH answered by PUBACK or PUBREC of 0x80 or above counts as acknowledged and is not retransmitted."),
    s5("MQTT-4.5.0-1", Server, "When the Server takes ownership of an incoming message it adds it to the Session State of every Client with a matching subscription."),
    n5("MQTT-4.5.0-2", Client, CLIENT_ONLY, "A Client acknowledges each PUBLISH per the QoS rules even if it decides not to process the message."),
    n5("MQTT-4.6.0-1", Client, CLIENT_ONLY, "A Client re-sends PUBLISH packets in the order they were first sent."),
    n5("MQTT-4.6.0-2", Client, CLIENT_ONLY, "A Client sends PUBACKs in the order the QoS 1 PUBLISHes arrived."),
    n5("MQTT-4.6.0-3", Client, CLIENT_ONLY, "A Client sends PUBRECs in the order the QoS 2 PUBLISHes arrived."),
    n5("MQTT-4.6.0-4", Client, CLIENT_ONLY, "A Client sends PUBRELs in the order the PUBRECs arrived."),
    s5("MQTT-4.6.0-5", Server, "For an Ordered Topic the Server sends PUBLISHes to consumers (same topic and QoS) in the order each publishing Client sent them."),
    noted(s5("MQTT-4.6.0-6", Server, "For non-shared subscriptions the Server treats every topic as an Ordered Topic."), "Appendix B has the typo \"every, Topic\""),
    s5("MQTT-4.7.0-1", Both, "Wildcards may appear in Topic Filters but never in a Topic Name."),
    s5("MQTT-4.7.1-1", Both, "The multi-level wildcard '#' stands alone or right after '/', and is always the filter's last character."),
    s5("MQTT-4.7.1-2", Both, "The single-level wildcard '+' may sit at any level but always fills a whole level."),
    s5("MQTT-4.7.2-1", Server, "Filters beginning with '#' or '+' never match Topic Names beginning with '$'."),
    s5("MQTT-4.7.3-1", Both, "Topic Names and Topic Filters are at least one character long."),
    s5("MQTT-4.7.3-2", Both, "Topic Names and Topic Filters contain no U+0000."),
    n5("MQTT-4.7.3-3", Both, UNENCODABLE, "Topic Names and Topic Filters encode to at most 65,535 bytes (the 2-byte length prefix makes a violation unencodable)."),
    s5("MQTT-4.7.3-4", Server, "The Server matches subscriptions without normalising Topic Names or Filters and without substituting unrecognised characters."),
    s5("MQTT-4.8.2-1", Both, "A Shared Subscription filter starts with \"$share/\" and has a ShareName of at least one character."),
    s5("MQTT-4.8.2-2", Both, "The ShareName contains no '/', '+' or '#' and is followed by '/' and then a Topic Filter."),
    s5("MQTT-4.8.2-3", Server, "The Server honours the granted QoS of the shared-group member it delivers to."),
    noted(s5("MQTT-4.8.2-4", Server, "For a QoS 2 message already being sent to the chosen group member, if that connection breaks before delivery completes, the Server completes the delivery to that same Client when it reconnects."), "QoS 2 messages only; QoS 1 redistribution is a SHOULD without an id"),
    noted(s5("MQTT-4.8.2-5", Server, "For that QoS 2 message, if the member's Session ends before it reconnects, the Server does not send the message to any other group member (for QoS 1 redistribution is only a SHOULD, unnumbered)."), "QoS 2 messages only; QoS 1 redistribution is a SHOULD without an id"),
    s5("MQTT-4.8.2-6", Server, "If the chosen member answers PUBACK/PUBREC of 0x80 or above, the Server discards the message and does not try another member."),
    s5("MQTT-4.9.0-1", Both, "The initial send quota is non-zero and not above the peer's Receive Maximum."),
    s5("MQTT-4.9.0-2", Both, "Each QoS>0 PUBLISH sent uses one unit of quota; at zero no further QoS>0 PUBLISH is sent."),
    s5("MQTT-4.9.0-3", Both, "Even at zero quota, all other packets are still processed and answered."),
    s5("MQTT-4.12.0-1", Server, "If the Server does not support the Client's Authentication Method it may send CONNACK 0x8C or 0x87 and must close the connection."),
    noted(s5("MQTT-4.12.0-2", Server, "An AUTH sent by the Server to ask for more authentication data carries Reason Code 0x18 (Continue authentication) (Appendix B says \"authorization\", the body \"authentication\")."), "Appendix B says \"authorization\" where the body says \"authentication\""),
    n5("MQTT-4.12.0-3", Client, CLIENT_ONLY, "The Client's AUTH reply to a Server AUTH carries Reason Code 0x18."),
    s5("MQTT-4.12.0-4", Server, "A Server that rejects authentication at any step (optionally CONNACK 0x80 or above) closes the connection."),
    s5("MQTT-4.12.0-5", Both, "If CONNECT had an Authentication Method, every AUTH and the successful CONNACK carry the same Authentication Method."),
    s5("MQTT-4.12.0-6", Server, "If CONNECT had no Authentication Method, the Server sends no AUTH and no Authentication Method in CONNACK."),
    n5("MQTT-4.12.0-7", Client, CLIENT_ONLY, "If CONNECT had no Authentication Method, the Client never sends AUTH."),
    n5("MQTT-4.12.1-1", Client, CLIENT_ONLY, "A Client starting re-authentication (AUTH 0x19) uses the Authentication Method of the original authentication."),
    s5("MQTT-4.12.1-2", Both, "If re-authentication fails the connection is closed (DISCONNECT with a reason recommended first)."),
    s5("MQTT-4.13.1-1", Server, "When the Server detects a Malformed Packet or Protocol Error for which the spec gives a Reason Code, it closes the connection."),
    s5("MQTT-4.13.2-1", Both, "If a CONNACK or DISCONNECT has a Reason Code of 0x80 or above, the connection is closed whether or not that packet was actually sent."),
    n5("MQTT-6.0.0-1", Both, WEBSOCKET, "Over WebSocket, MQTT packets travel in binary data frames; a recipient getting any other data frame type closes the connection."),
    n5("MQTT-6.0.0-2", Both, WEBSOCKET, "A WebSocket frame may hold several or partial MQTT packets; the receiver does not rely on packet/frame alignment."),
    n5("MQTT-6.0.0-3", Client, CLIENT_ONLY, "The Client offers \"mqtt\" among its WebSocket subprotocols."),
    n5("MQTT-6.0.0-4", Server, WEBSOCKET, "The WebSocket subprotocol the Server selects and returns is \"mqtt\"."),
];

/// The manifest of a protocol version.
pub fn manifest(protocol: Protocol) -> &'static [Statement] {
    match protocol {
        Protocol::V311 => MQTT_311,
        Protocol::V5 => MQTT_50,
        // No checks are written for 3.1 (the broker treats it as 3.1.1 with another CONNECT).
        Protocol::V31 => &[],
    }
}

/// The statement of this protocol version with this id or alias (case-insensitive).
pub fn find(protocol: Protocol, id: &str) -> Option<&'static Statement> {
    manifest(protocol).iter().find(|s| {
        s.id.eq_ignore_ascii_case(id) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    })
}

/// The id a key stands for in this protocol version: the id an alias names, or the key itself.
pub fn canonical(protocol: Protocol, key: &str) -> &str {
    match find(protocol, key) {
        Some(s) => s.id,
        None => key,
    }
}

/// How a statement stands after joining the manifest with the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Cited by these checks.
    Checked(Vec<&'static str>),
    /// A client-only statement whose violation these checks send, judging the server's reaction
    /// (which the statements they cite define).
    Probed(Vec<&'static str>),
    /// Cannot be checked over the wire, for this reason.
    NotTestable(&'static str),
    /// Could be checked over the wire, but no check cites it yet.
    NotYet,
}

/// The manifest joined with the checks: each statement's status, and the coverage figure.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// The protocol version of the manifest.
    pub protocol: Protocol,
    /// Every statement of the manifest with its status, in manifest order.
    pub rows: Vec<(&'static Statement, Status)>,
    /// How many statements appendix B lists (what coverage is counted against).
    pub appendix_b: usize,
    /// Statements of appendix B that bind a server and are testable over the wire.
    pub server_testable: usize,
    /// Of those, how many at least one check cites.
    pub server_checked: usize,
    /// Client-only statements whose violation a check sends.
    pub client_probed: usize,
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
    let mut probed: BTreeMap<&str, Vec<&'static str>> = BTreeMap::new();
    for check in checks.iter().filter(|c| c.protocol == protocol) {
        for id in check.statements {
            cited.entry(id).or_default().push(check.name);
        }
        for id in check.probes {
            probed.entry(id).or_default().push(check.name);
        }
    }
    let manifest = manifest(protocol);
    let mut rows = Vec::with_capacity(manifest.len());
    let (mut server_testable, mut server_checked) = (0, 0);
    for statement in manifest {
        let status = match (statement.testability, cited.get(statement.id)) {
            (_, Some(names)) => Status::Checked(names.clone()),
            (Testability::NotOverWire(_), None) if probed.contains_key(statement.id) => {
                Status::Probed(probed[statement.id].clone())
            }
            (Testability::NotOverWire(why), None) => Status::NotTestable(why),
            (Testability::Wire, None) => Status::NotYet,
        };
        if statement.in_appendix_b
            && statement.role.binds_server()
            && statement.testability == Testability::Wire
        {
            server_testable += 1;
            if matches!(status, Status::Checked(_)) {
                server_checked += 1;
            }
        }
        rows.push((statement, status));
    }
    let appendix_b = manifest.iter().filter(|s| s.in_appendix_b).count();
    let client_probed = rows.iter().filter(|(_, s)| matches!(s, Status::Probed(_))).count();
    Coverage { protocol, rows, appendix_b, server_testable, server_checked, client_probed }
}
