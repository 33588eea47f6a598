//! A small builder for raw packet bytes, well-formed or not, for checks that send malformed
//! packets on purpose.

/// The bytes of one control packet under construction: a first byte and a body.
///
/// [`RawPacket::build`] prefixes the body with its remaining length; [`RawPacket::build_with_length`]
/// lets a check declare any remaining length bytes it wants instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    first: u8,
    body: Vec<u8>,
}

impl RawPacket {
    /// A packet whose fixed header starts with `first` (type nibble and flags).
    pub fn new(first: u8) -> RawPacket {
        RawPacket { first, body: Vec::new() }
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

    /// Appends a length-prefixed string.
    pub fn str(self, value: &str) -> RawPacket {
        self.field(value.as_bytes())
    }

    /// Appends length-prefixed bytes, which need not be valid UTF-8.
    pub fn field(mut self, value: &[u8]) -> RawPacket {
        let len = u16::try_from(value.len()).expect("a test field fits a two-byte length");
        self.body.extend_from_slice(&len.to_be_bytes());
        self.body.extend_from_slice(value);
        self
    }

    /// Appends bytes as they are.
    pub fn raw(mut self, value: &[u8]) -> RawPacket {
        self.body.extend_from_slice(value);
        self
    }

    /// The packet with a correct remaining length.
    pub fn build(&self) -> Vec<u8> {
        let mut out = vec![self.first];
        let mut len = self.body.len();
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            out.push(byte);
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// The packet with `length` as its remaining-length bytes, whatever the body's size.
    pub fn build_with_length(&self, length: &[u8]) -> Vec<u8> {
        let mut out = vec![self.first];
        out.extend_from_slice(length);
        out.extend_from_slice(&self.body);
        out
    }
}

/// The CONNECT of a well-behaved 3.1.1 client as a raw packet, before its payload.
///
/// `flags` is the connect-flags byte; the payload fields follow with [`RawPacket::str`].
pub fn connect_v311(flags: u8, keep_alive: u16) -> RawPacket {
    RawPacket::new(0x10).str("MQTT").u8(4).u8(flags).u16(keep_alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_uses_the_variable_byte_encoding() {
        assert_eq!(RawPacket::new(0xC0).build(), [0xC0, 0x00]);
        let big = RawPacket::new(0x30).raw(&[0; 200]).build();
        assert_eq!(&big[..3], &[0x30, 0xC8, 0x01]);
        assert_eq!(big.len(), 203);
        let connect = connect_v311(0x02, 60).str("a").build();
        assert_eq!(connect, [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'a']);
    }
}
