//! MQTT 5.0 behaviour, each test named after the 5.0 statement it checks (`mqtt5_...`; the ids
//! are those of the 5.0 standard's body, which wins over its Appendix B where they differ).
//!
//! - `connect`: CONNACK properties, Assigned Client Identifier, authentication, keepalive,
//!   takeover and shutdown reason codes.
//! - `session`: Session Expiry Interval, on the clock and across a durable restart.
//! - `publish`: properties forwarded, message expiry, topic aliases, PUBACK/PUBREC codes.
//! - `subscribe`: No Local, Retain As Published, Retain Handling, Subscription Identifiers,
//!   SUBACK and UNSUBACK codes.
//! - `shared`: shared subscriptions and their redistribution policy.
//! - `will`: Will Delay Interval, Will properties, DISCONNECT 0x04.
//! - `flow`: Receive Maximum both ways, Maximum Packet Size both ways, Problem Information.
//! - `interop`: 3.1.1 and 5.0 clients on one broker.
//! - `props`: random interleavings of 3.1.1 and 5.0 clients never break the core's limits.

mod connect;
mod flow;
mod interop;
mod props;
mod publish;
mod session;
mod shared;
mod subscribe;
mod will;
