//! Integration tests of the wire codec, one module per concern.

/// Byte-exact tables: hand-checked hex for every packet type of both versions.
mod exact;
/// Helpers shared by the modules: hex parsing and a decode-everything loop.
mod helpers;
/// Table-driven malformed input: each byte string and the error and statement it must give.
mod malformed;
/// Property tests: round trips, strict prefixes, random bytes and bounded buffering.
mod roundtrip;
/// Topic matching against a naive reference matcher.
mod topic_match;
