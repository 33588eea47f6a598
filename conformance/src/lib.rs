//! MQTT conformance checks.
