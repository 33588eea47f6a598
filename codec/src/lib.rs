//! The MQTT wire codec shared by the broker, the device client and the conformance checks.
//!
//! It is sans-IO: it turns bytes into [`Packet`]s and back, and never touches a socket or a clock.
//! One packet model serves MQTT 3.1.1 and MQTT 5.0; the version only changes the wire format.
//!
//! Modules:
//! - [`packet`]: the packet model (one type per control packet, 5.0 properties, reason codes).
//! - [`decode`](mod@decode): incremental decoding; "need more bytes" is `Ok(None)`.
//! - [`encode`](mod@encode): encoding of every packet for either version.
//! - [`error`]: typed decode and encode errors, each naming the normative statement it breaks.
//! - [`topic`]: topic name and filter validation, matching, and `$share` parsing.
//! - [`raw`]: a builder for deliberately malformed packets, for conformance checks.
//! - `property` (private): which 5.0 property each packet allows, and their wire form.
//! - `wire` (private): the body reader, variable byte integers and length-prefixed fields.

pub mod decode;
pub mod encode;
pub mod error;
pub mod packet;
mod property;
pub mod raw;
pub mod topic;
mod wire;

pub use decode::decode;
pub use encode::{encode, encoded_len};
pub use error::{DecodeError, EncodeError};
pub use packet::*;
