//! Wire primitives shared by both versions: the body reader, variable byte integers, strings.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;

/// The largest value a variable byte integer can carry.
pub const VBI_MAX: u32 = 268_435_455;

/// Reads the fields of one packet body that is already complete in memory.
///
/// Every read checks what remains first, so a declared length larger than the body is an error
/// and never an allocation.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
    packet: PacketType,
}

impl Reader {
    pub(crate) fn new(buf: Bytes, packet: PacketType) -> Reader {
        Reader { buf, packet }
    }

    pub(crate) fn packet(&self) -> PacketType {
        self.packet
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn end(&self) -> DecodeError {
        DecodeError::UnexpectedEnd { packet: self.packet }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        if self.buf.is_empty() {
            return Err(self.end());
        }
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        if self.buf.len() < 2 {
            return Err(self.end());
        }
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        if self.buf.len() < 4 {
            return Err(self.end());
        }
        Ok(self.buf.get_u32())
    }

    /// A non-zero packet identifier [MQTT-2.3.1-1].
    pub(crate) fn packet_id(&mut self) -> Result<u16, DecodeError> {
        match self.u16()? {
            0 => Err(DecodeError::ZeroPacketId { packet: self.packet }),
            id => Ok(id),
        }
    }

    /// The next `n` bytes, shared with the packet buffer rather than copied.
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if self.buf.len() < n {
            return Err(self.end());
        }
        Ok(self.buf.split_to(n))
    }

    /// Everything that remains.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// A variable byte integer of at most four bytes.
    pub(crate) fn vbi(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for i in 0..4 {
            let byte = self.u8()?;
            value |= u32::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::MalformedVariableByteInteger { packet: self.packet })
    }

    /// Two-byte length-prefixed binary data.
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = usize::from(self.u16()?);
        self.take(len)
    }

    /// A UTF-8 encoded string, checked for well-formedness and U+0000, without copying.
    pub(crate) fn byte_string(&mut self) -> Result<ByteString, DecodeError> {
        let raw = self.binary()?;
        self.check_nul(&raw)?;
        ByteString::try_from(raw).map_err(|_| DecodeError::InvalidUtf8 { packet: self.packet })
    }

    /// A UTF-8 encoded string as an owned `String`.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let raw = self.binary()?;
        self.check_nul(&raw)?;
        match std::str::from_utf8(&raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::InvalidUtf8 { packet: self.packet }),
        }
    }

    fn check_nul(&self, raw: &[u8]) -> Result<(), DecodeError> {
        // U+0000 is the only code point whose UTF-8 encoding contains a zero byte.
        if raw.contains(&0) {
            // Ill-formed UTF-8 takes precedence: report it if the string is not UTF-8 at all.
            if std::str::from_utf8(raw).is_err() {
                return Err(DecodeError::InvalidUtf8 { packet: self.packet });
            }
            return Err(DecodeError::NullCharacter { packet: self.packet });
        }
        Ok(())
    }

    /// A reader over the next `n` bytes; this reader moves past them.
    pub(crate) fn sub(&mut self, n: usize) -> Result<Reader, DecodeError> {
        Ok(Reader { buf: self.take(n)?, packet: self.packet })
    }

    /// Fails when bytes remain: the remaining length was longer than the content.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { packet: self.packet, count: self.buf.len() })
        }
    }
}

/// The number of bytes `value` takes as a variable byte integer.
pub(crate) fn vbi_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a variable byte integer. The caller has checked `value <= VBI_MAX`.
pub(crate) fn put_vbi(buf: &mut BytesMut, value: usize) {
    let mut value = value;
    loop {
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if value == 0 {
            return;
        }
    }
}

/// The wire length of a length-prefixed string or binary field, checking its limit.
pub(crate) fn field_len(len: usize) -> Result<usize, EncodeError> {
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong(len));
    }
    Ok(2 + len)
}

/// Writes a length-prefixed field. The caller has checked its length with [`field_len`].
pub(crate) fn put_field(buf: &mut BytesMut, data: &[u8]) {
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

/// Fails when a value does not fit a variable byte integer.
pub(crate) fn check_vbi(value: u32) -> Result<usize, EncodeError> {
    if value > VBI_MAX {
        return Err(EncodeError::VariableByteIntegerTooLarge(value));
    }
    Ok(vbi_len(value as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vbi_boundaries_from_the_standard() {
        // Table 2.4 of 3.1.1 (1.5.5 of 5.0): the boundaries of each encoded size.
        let cases: [(usize, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (value, wire) in cases {
            let mut buf = BytesMut::new();
            put_vbi(&mut buf, value);
            assert_eq!(&buf[..], wire, "encoding {value}");
            assert_eq!(vbi_len(value), wire.len(), "length of {value}");
            let mut r = Reader::new(Bytes::copy_from_slice(wire), PacketType::Publish);
            assert_eq!(r.vbi(), Ok(value as u32), "decoding {value}");
            assert!(r.is_empty());
        }
    }

    #[test]
    fn vbi_of_five_bytes_is_malformed() {
        let mut r =
            Reader::new(Bytes::from_static(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]), PacketType::Publish);
        assert_eq!(
            r.vbi(),
            Err(DecodeError::MalformedVariableByteInteger { packet: PacketType::Publish })
        );
    }

    #[test]
    fn declared_length_past_the_end_is_an_error() {
        let mut r = Reader::new(Bytes::from_static(&[0xFF, 0xFF, b'a']), PacketType::Connect);
        assert_eq!(r.binary(), Err(DecodeError::UnexpectedEnd { packet: PacketType::Connect }));
    }
}
