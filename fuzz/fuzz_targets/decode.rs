//! Feeds arbitrary bytes to the decoder for both versions with a small maximum packet size,
//! in chunks, and re-encodes and re-decodes whatever decodes.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqttsim_codec::{Protocol, decode, encode};

/// Small enough that the size limit is exercised often.
const MAX: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let protocol = if control & 1 == 0 { Protocol::V311 } else { Protocol::V5 };
    // The other bits choose a chunk size, so that incomplete input is exercised too.
    let chunk = usize::from(control >> 1).max(1);
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decode(&mut buf, protocol, MAX) {
                Ok(Some(packet)) => {
                    let mut wire = BytesMut::new();
                    encode(&packet, protocol, &mut wire).expect("a decoded packet encodes");
                    let len = wire.len();
                    let again = decode(&mut wire, protocol, len).expect("a re-encoded packet decodes");
                    assert_eq!(again, Some(packet), "round trip changed the packet");
                    assert!(wire.is_empty(), "the re-encoded packet has trailing bytes");
                }
                Ok(None) => {
                    assert!(buf.len() < MAX + 5, "decoder holds {} bytes", buf.len());
                    break;
                }
                Err(error) => {
                    let _ = (error.statement(), error.reason_code(), error.to_string());
                    return;
                }
            }
        }
    }
});
