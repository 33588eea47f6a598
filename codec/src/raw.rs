//! A builder for raw, possibly malformed, packets: the conformance checks send them on purpose.
//!
//! A [`RawPacket`] is a first byte, a body and a remaining length that is either computed from
//! the body or overridden (with a wrong value, or with arbitrary bytes such as five continuation
//! bytes). Nothing here validates anything, and nothing here panics, whatever the input.
//!
//! ```
//! use mqttsim_codec::raw::RawPacket;
//!
//! // A PUBLISH whose topic is not UTF-8.
//! let bytes = RawPacket::new(0x30).binary(&[0xC3, 0x28]).bytes(b"payload").to_vec();
//! assert_eq!(bytes[..5], [0x30, 0x0B, 0x00, 0x02, 0xC3]);
//! ```

use bytes::BytesMut;

use crate::encode::encode;
use crate::error::EncodeError;
use crate::packet::{Packet, Protocol};

/// How the remaining length of a [`RawPacket`] is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RemainingLength {
    /// The length of the body, correctly encoded.
    #[default]
    Correct,
    /// This value, encoded as a variable byte integer (up to five bytes for large values).
    Value(u32),
    /// These bytes exactly, for malformed encodings.
    Bytes(Vec<u8>),
}

/// A packet assembled byte by byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    /// The first byte: packet type and flags, set freely.
    pub first_byte: u8,
    /// Everything after the remaining length.
    pub body: Vec<u8>,
    /// How the remaining length is written.
    pub remaining_length: RemainingLength,
}

impl RawPacket {
    /// An empty packet with this first byte.
    pub fn new(first_byte: u8) -> RawPacket {
        RawPacket { first_byte, body: Vec::new(), remaining_length: RemainingLength::Correct }
    }

    /// Splits a valid encoding of `packet` into a raw packet, ready to be corrupted.
    pub fn from_packet(packet: &Packet, protocol: Protocol) -> Result<RawPacket, EncodeError> {
        let mut buf = BytesMut::new();
        encode(packet, protocol, &mut buf)?;
        Ok(RawPacket::parse(&buf).unwrap_or_else(|| RawPacket::new(0).bytes(&buf)))
    }

    /// Splits well-framed bytes (first byte, remaining length of at most four bytes, body) into
    /// a raw packet. Returns `None` when the framing itself is broken.
    pub fn parse(wire: &[u8]) -> Option<RawPacket> {
        let (&first_byte, rest) = wire.split_first()?;
        let mut value = 0usize;
        for (i, &byte) in rest.iter().take(4).enumerate() {
            value |= usize::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                let body = &rest[i + 1..];
                if body.len() != value {
                    return None;
                }
                return Some(RawPacket {
                    first_byte,
                    body: body.to_vec(),
                    remaining_length: RemainingLength::Correct,
                });
            }
        }
        None
    }

    /// Sets the first byte.
    pub fn first_byte(mut self, first_byte: u8) -> RawPacket {
        self.first_byte = first_byte;
        self
    }

    /// Appends one byte.
    pub fn u8(mut self, value: u8) -> RawPacket {
        self.body.push(value);
        self
    }

    /// Appends a big-endian two-byte integer.
    pub fn u16(mut self, value: u16) -> RawPacket {
        self.body.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a big-endian four-byte integer.
    pub fn u32(mut self, value: u32) -> RawPacket {
        self.body.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends bytes as they are.
    pub fn bytes(mut self, data: &[u8]) -> RawPacket {
        self.body.extend_from_slice(data);
        self
    }

    /// Appends a length-prefixed UTF-8 string. Longer strings get a truncated length prefix.
    pub fn utf8(self, s: &str) -> RawPacket {
        self.binary(s.as_bytes())
    }

    /// Appends length-prefixed bytes, which need not be UTF-8 (for ill-formed strings).
    /// The prefix is the length modulo 65,536, so an oversized field is itself malformed.
    pub fn binary(self, data: &[u8]) -> RawPacket {
        self.u16(data.len() as u16).bytes(data)
    }

    /// Appends a length prefix that does not match what follows.
    pub fn declared_length(self, declared: u16) -> RawPacket {
        self.u16(declared)
    }

    /// Appends a variable byte integer; values above 268,435,455 take five bytes.
    pub fn vbi(mut self, value: u32) -> RawPacket {
        push_vbi(&mut self.body, value);
        self
    }

    /// Overrides the remaining length with a (possibly wrong) value.
    pub fn remaining_length(mut self, value: u32) -> RawPacket {
        self.remaining_length = RemainingLength::Value(value);
        self
    }

    /// Overrides the remaining length with exact bytes, such as `[0xFF; 5]`.
    pub fn remaining_length_bytes(mut self, bytes: &[u8]) -> RawPacket {
        self.remaining_length = RemainingLength::Bytes(bytes.to_vec());
        self
    }

    /// Replaces the body byte at `index`; out of range indices change nothing.
    pub fn set_byte(mut self, index: usize, value: u8) -> RawPacket {
        if let Some(byte) = self.body.get_mut(index) {
            *byte = value;
        }
        self
    }

    /// Keeps only the first `len` body bytes (the remaining length follows unless overridden).
    pub fn truncate(mut self, len: usize) -> RawPacket {
        self.body.truncate(len);
        self
    }

    /// The wire bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 6);
        out.push(self.first_byte);
        match &self.remaining_length {
            RemainingLength::Correct => {
                push_vbi(&mut out, u32::try_from(self.body.len()).unwrap_or(u32::MAX))
            }
            RemainingLength::Value(value) => push_vbi(&mut out, *value),
            RemainingLength::Bytes(bytes) => out.extend_from_slice(bytes),
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// The wire bytes in a buffer ready for [`crate::decode()`].
    pub fn to_bytes_mut(&self) -> BytesMut {
        BytesMut::from(&self.to_vec()[..])
    }
}

fn push_vbi(out: &mut Vec<u8>, value: u32) {
    let mut value = value;
    loop {
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            return;
        }
    }
}

/// Returns `wire` with the byte at `index` replaced; out of range indices change nothing.
pub fn corrupt_byte(wire: &[u8], index: usize, value: u8) -> Vec<u8> {
    let mut out = wire.to_vec();
    if let Some(byte) = out.get_mut(index) {
        *byte = value;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Ack;

    #[test]
    fn correct_and_overridden_lengths() {
        let p = RawPacket::new(0x40).u16(7);
        assert_eq!(p.to_vec(), [0x40, 0x02, 0x00, 0x07]);
        assert_eq!(p.clone().remaining_length(3).to_vec(), [0x40, 0x03, 0x00, 0x07]);
        assert_eq!(
            p.remaining_length_bytes(&[0xFF; 5]).to_vec(),
            [0x40, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07]
        );
        assert_eq!(RawPacket::new(0).vbi(u32::MAX).body, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
    }

    #[test]
    fn from_packet_splits_a_valid_encoding() {
        let raw =
            RawPacket::from_packet(&Packet::PubAck(Ack::new(0x1234)), Protocol::V311).unwrap();
        assert_eq!(raw, RawPacket::new(0x40).u16(0x1234));
        assert_eq!(raw.set_byte(9, 1).truncate(1).to_vec(), [0x40, 0x01, 0x12]);
        assert_eq!(corrupt_byte(&[1, 2], 5, 0), [1, 2]);
        assert_eq!(corrupt_byte(&[1, 2], 1, 0), [1, 0]);
    }
}
