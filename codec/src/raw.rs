//! A builder for raw, possibly malformed, packets: the conformance checks send them on purpose.
