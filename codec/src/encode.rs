//! Encoding of every packet for either protocol version.

use bytes::BytesMut;

use crate::error::EncodeError;
use crate::packet::{Packet, Protocol};

/// Appends the wire form of `packet` for `protocol` to `buf`.
pub fn encode(packet: &Packet, protocol: Protocol, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let _ = (packet, protocol, buf);
    unimplemented!("the encoder is being written")
}
