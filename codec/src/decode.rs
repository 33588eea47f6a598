//! Incremental decoding: bytes in, packets out. "Need more bytes" is `Ok(None)`.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::packet::{Packet, Protocol};

/// Decodes one packet from the front of `buf`, removing its bytes.
///
/// `protocol` is the version negotiated on the connection; a CONNECT carries its own version and
/// ignores it. Returns `Ok(None)` while `buf` holds only part of a packet. A remaining length
/// above `max_packet_size` is an error as soon as the fixed header is read, so a peer cannot make
/// the caller buffer more than `max_packet_size` bytes.
pub fn decode(
    buf: &mut BytesMut,
    protocol: Protocol,
    max_packet_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    let _ = (buf, protocol, max_packet_size);
    unimplemented!("the decoder is being written")
}
