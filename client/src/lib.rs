//! Sans-IO MQTT device client core.
