//! What the application gives with a publish, a subscribe or a disconnect, beyond the basics:
//! the MQTT 5.0 properties and options. A 3.1.1 client ignores them where 3.1.1 has no place
//! for them (see each type).

use bytes::Bytes;
use mqttsim_codec::topic::validate_name;
use mqttsim_codec::{Properties, Property, ReasonCode, SubscriptionOptions};

use crate::error::{DisconnectError, PublishError};

/// The longest UTF-8 string or binary field MQTT can carry.
const MAX_FIELD: usize = 65_535;

/// The 5.0 properties of an application message, sent with each PUBLISH of it.
///
/// The Message Expiry Interval counts from [`crate::Client::publish_with`]: each PUBLISH
/// carries what is left of it, and a message still waiting to be sent when it runs out is
/// dropped with [`crate::DropReason::Expired`]. There is no field for a Subscription
/// Identifier, which a client never sends [MQTT-3.3.4-6], nor for the Topic Alias, which
/// the client chooses itself (see `outbound_topic_aliases`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageProperties {
    /// Payload Format Indicator 1: the payload is UTF-8 text.
    pub payload_utf8: bool,
    /// Message Expiry Interval in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Content Type.
    pub content_type: Option<String>,
    /// Response Topic: a topic name, without wildcards [MQTT-3.3.2-14].
    pub response_topic: Option<String>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties, in order.
    pub user_properties: Vec<(String, String)>,
}

impl MessageProperties {
    /// True when the message has no property at all.
    pub fn is_empty(&self) -> bool {
        *self == MessageProperties::default()
    }

    /// Checks every field against the rules of the standard.
    pub fn validate(&self) -> Result<(), PublishError> {
        if let Some(topic) = &self.response_topic {
            validate_name(topic).map_err(PublishError::InvalidResponseTopic)?;
        }
        if let Some(content_type) = &self.content_type {
            check_string("content type", content_type)?;
        }
        if self.correlation_data.as_ref().is_some_and(|data| data.len() > MAX_FIELD) {
            return Err(PublishError::InvalidProperty { field: "correlation data" });
        }
        for (key, value) in &self.user_properties {
            check_string("user property", key)?;
            check_string("user property", value)?;
        }
        Ok(())
    }

    /// The properties in wire order, without the Message Expiry Interval, which the client
    /// computes at each send.
    pub(crate) fn to_properties(&self) -> Properties {
        let mut properties = Properties::new();
        if self.payload_utf8 {
            properties.push(Property::PayloadFormatIndicator(1));
        }
        if let Some(content_type) = &self.content_type {
            properties.push(Property::ContentType(content_type.clone()));
        }
        if let Some(topic) = &self.response_topic {
            properties.push(Property::ResponseTopic(topic.clone()));
        }
        if let Some(data) = &self.correlation_data {
            properties.push(Property::CorrelationData(data.clone()));
        }
        for (key, value) in &self.user_properties {
            properties.push(Property::UserProperty(key.clone(), value.clone()));
        }
        properties
    }

    /// The Will Properties of a Will carrying these properties, with its Will Delay Interval
    /// in seconds: the server publishes the Will that long after the connection is lost,
    /// unless the session resumes first.
    pub fn will_properties(&self, will_delay_interval: Option<u32>) -> Properties {
        let mut properties = Properties::new();
        if let Some(delay) = will_delay_interval {
            properties.push(Property::WillDelayInterval(delay));
        }
        if let Some(expiry) = self.message_expiry_interval {
            properties.push(Property::MessageExpiryInterval(expiry));
        }
        properties.0.extend(self.to_properties().0);
        properties
    }
}

/// Strings may not hold U+0000 [MQTT-1.5.4-2] nor exceed 65,535 bytes.
fn check_string(field: &'static str, value: &str) -> Result<(), PublishError> {
    if value.len() > MAX_FIELD || value.contains('\0') {
        return Err(PublishError::InvalidProperty { field });
    }
    Ok(())
}

/// One SUBSCRIBE as the application asks for it.
///
/// 3.1.1 carries only each filter's QoS: the other options and the properties are not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The filters and their options (QoS, No Local, Retain As Published, Retain Handling).
    pub filters: Vec<(String, SubscriptionOptions)>,
    /// 5.0: the Subscription Identifier, from 1 to 268,435,455; deliveries that match carry it.
    pub identifier: Option<u32>,
    /// 5.0: User Properties of the SUBSCRIBE.
    pub user_properties: Vec<(String, String)>,
}

impl SubscribeRequest {
    /// A request for `filters` without identifier or properties.
    pub fn new(filters: Vec<(String, SubscriptionOptions)>) -> SubscribeRequest {
        SubscribeRequest { filters, identifier: None, user_properties: Vec::new() }
    }
}

/// How the application ends a connection with [`crate::Client::disconnect_with`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisconnectOptions {
    /// The reason: 0x00 normal (the server discards the Will), 0x04 with the Will message, or
    /// one of the error codes a client may send [MQTT-3.14.2-1]. 3.1.1 has no reason: any code
    /// but 0x00 closes the transport without DISCONNECT, so that the server publishes the Will
    /// there too.
    pub reason_code: ReasonCode,
    /// 5.0: a new Session Expiry Interval; not allowed when CONNECT sent 0.
    pub session_expiry_interval: Option<u32>,
    /// 5.0: a Reason String, left out if it would make the packet too large [MQTT-3.14.2-3].
    pub reason_string: Option<String>,
    /// 5.0: User Properties, left out if they would make the packet too large [MQTT-3.14.2-4].
    pub user_properties: Vec<(String, String)>,
}

/// The DISCONNECT reason codes a client may send (MQTT 5.0 table 3-10).
const CLIENT_DISCONNECT_CODES: [u8; 14] =
    [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99];

impl DisconnectOptions {
    /// Options with this reason and nothing else.
    pub fn reason(reason_code: ReasonCode) -> DisconnectOptions {
        DisconnectOptions { reason_code, ..DisconnectOptions::default() }
    }

    /// Checks the options against the Session Expiry Interval the CONNECT carried.
    pub(crate) fn validate(&self, connect_expiry: u32) -> Result<(), DisconnectError> {
        if !CLIENT_DISCONNECT_CODES.contains(&self.reason_code.0) {
            return Err(DisconnectError::InvalidReasonCode(self.reason_code));
        }
        if connect_expiry == 0 && self.session_expiry_interval.is_some_and(|e| e != 0) {
            return Err(DisconnectError::SessionExpiryFromZero);
        }
        let strings = self
            .reason_string
            .iter()
            .chain(self.user_properties.iter().flat_map(|(key, value)| [key, value]));
        for value in strings {
            if value.len() > MAX_FIELD || value.contains('\0') {
                return Err(DisconnectError::InvalidString);
            }
        }
        Ok(())
    }

    /// The DISCONNECT's properties in wire order.
    pub(crate) fn to_properties(&self) -> Properties {
        let mut properties = Properties::new();
        if let Some(expiry) = self.session_expiry_interval {
            properties.push(Property::SessionExpiryInterval(expiry));
        }
        if let Some(reason) = &self.reason_string {
            properties.push(Property::ReasonString(reason.clone()));
        }
        for (key, value) in &self.user_properties {
            properties.push(Property::UserProperty(key.clone(), value.clone()));
        }
        properties
    }
}

/// A subscription the server granted, as the client asked for it; it is requested again, with
/// the same options and identifier, when the server loses the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub filter: String,
    pub options: SubscriptionOptions,
    /// The 5.0 Subscription Identifier it was asked with.
    pub identifier: Option<u32>,
}
