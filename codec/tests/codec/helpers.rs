use bytes::BytesMut;

/// Parses hex written with optional spaces, such as `"30 05 00 01"`.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits in {s:?}");
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).expect("hex digits are ASCII");
            u8::from_str_radix(text, 16).unwrap_or_else(|_| panic!("bad hex {text:?} in {s:?}"))
        })
        .collect()
}

/// Formats bytes as spaced upper-case hex, the way the tables write them.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ")
}

/// A buffer holding `bytes`.
pub fn buf(bytes: &[u8]) -> BytesMut {
    BytesMut::from(bytes)
}
