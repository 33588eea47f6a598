//! Sans-IO MQTT broker core.
