//! Home Assistant MQTT discovery (being written).
