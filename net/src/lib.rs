//! Async drivers over any AsyncRead + AsyncWrite stream.
