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
                // Variable byte integers inside a packet exist only in 5.0, which wants the
                // shortest form [MQTT-1.5.5-1].
                if i > 0 && byte == 0 {
                    return Err(DecodeError::NonMinimalVariableByteInteger { packet: self.packet });
                }
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
        Ok(self.topic()?.0)
    }

    /// A UTF-8 encoded string used as a topic, and whether it holds `+` or `#`. One pass over
    /// the bytes finds U+0000 and the wildcards (see [`scan`]).
    pub(crate) fn topic(&mut self) -> Result<(ByteString, bool), DecodeError> {
        let raw = self.binary()?;
        let found = scan(&raw);
        if found & NUL != 0 {
            return Err(self.nul_or_utf8(&raw));
        }
        match ByteString::try_from(raw) {
            Ok(s) => Ok((s, found & WILDCARD != 0)),
            Err(_) => Err(DecodeError::InvalidUtf8 { packet: self.packet }),
        }
    }

    /// A UTF-8 encoded string as an owned `String`.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let raw = self.binary()?;
        if scan(&raw) & NUL != 0 {
            return Err(self.nul_or_utf8(&raw));
        }
        match std::str::from_utf8(&raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::InvalidUtf8 { packet: self.packet }),
        }
    }

    /// The error for a string holding a zero byte: ill-formed UTF-8 takes precedence, so it is
    /// reported when the string is not UTF-8 at all; otherwise the zero byte is U+0000.
    #[cold]
    fn nul_or_utf8(&self, raw: &[u8]) -> DecodeError {
        if std::str::from_utf8(raw).is_err() {
            DecodeError::InvalidUtf8 { packet: self.packet }
        } else {
            DecodeError::NullCharacter { packet: self.packet }
        }
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

/// [`scan`] found a zero byte.
const NUL: u8 = 1;
/// [`scan`] found `+` or `#`.
const WILDCARD: u8 = 2;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `x` is zero (exact as a yes/no answer).
#[inline]
fn has_zero_byte(x: u64) -> bool {
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// Looks for zero bytes and wildcards eight bytes at a time: this runs on every string the
/// decoder reads, topics of every PUBLISH included.
#[inline]
fn scan(raw: &[u8]) -> u8 {
    let mut found = 0u8;
    let mut chunks = raw.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        found |= u8::from(has_zero_byte(x));
        let plus = has_zero_byte(x ^ (ONES * u64::from(b'+')));
        let hash = has_zero_byte(x ^ (ONES * u64::from(b'#')));
        found |= u8::from(plus | hash) << 1;
    }
    for &b in chunks.remainder() {
        found |= u8::from(b == 0) | (u8::from(b == b'+' || b == b'#') << 1);
    }
    found
}

/// The number of bytes `value` takes as a variable byte integer.
#[inline]
pub(crate) fn vbi_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a variable byte integer. The caller has checked `value <= VBI_MAX`.
#[inline]
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
#[inline]
pub(crate) fn field_len(len: usize) -> Result<usize, EncodeError> {
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong(len));
    }
    Ok(2 + len)
}

/// Writes a length-prefixed field. The caller has checked its length with [`field_len`].
#[inline]
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
    fn scan_finds_zero_bytes_and_wildcards_anywhere() {
        for len in 0..40 {
            let clean = vec![b'a'; len];
            assert_eq!(scan(&clean), 0, "clean of {len}");
            for at in 0..len {
                for (byte, expected) in [(0u8, NUL), (b'+', WILDCARD), (b'#', WILDCARD), (0x80, 0)]
                {
                    let mut s = clean.clone();
                    s[at] = byte;
                    assert_eq!(scan(&s), expected, "{byte:#x} at {at} of {len}");
                }
            }
        }
        assert_eq!(scan(&[0x01, 0x00, 0xFF, b'#']), NUL | WILDCARD);
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
