//! MQTT 5.0 properties as the broker reads and writes them: what a client asked for in CONNECT,
//! what a forwarded message carries, and what CONNACK announces.

use std::time::Duration;

use mqttsim_codec::{Properties, Property};

/// What a 5.0 client declared in its CONNECT. A 3.1.1 client gets the defaults, which impose
/// nothing beyond 3.1.1's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientLimits {
    /// QoS 1 and 2 PUBLISH packets the client accepts unacknowledged [MQTT-3.3.4-9].
    pub(crate) receive_maximum: u16,
    /// The largest packet the client accepts [MQTT-3.1.2-24].
    pub(crate) maximum_packet_size: Option<u32>,
    /// Whether Reason Strings and User Properties may go on packets other than PUBLISH,
    /// CONNACK and DISCONNECT [MQTT-3.1.2-29].
    pub(crate) problem_information: bool,
    /// Whether the client asked for Response Information [MQTT-3.1.2-28].
    pub(crate) response_information: bool,
}

impl Default for ClientLimits {
    fn default() -> ClientLimits {
        ClientLimits {
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            problem_information: true,
            response_information: false,
        }
    }
}

impl ClientLimits {
    /// The limits a CONNECT's properties declare.
    pub(crate) fn of(properties: &Properties) -> ClientLimits {
        let mut limits = ClientLimits::default();
        for property in properties.iter() {
            match property {
                Property::ReceiveMaximum(v) => limits.receive_maximum = *v,
                Property::MaximumPacketSize(v) => limits.maximum_packet_size = Some(*v),
                Property::RequestProblemInformation(v) => limits.problem_information = *v != 0,
                Property::RequestResponseInformation(v) => limits.response_information = *v != 0,
                _ => {}
            }
        }
        limits
    }
}

/// The CONNECT's Authentication Method, if any.
pub(crate) fn authentication_method(properties: &Properties) -> Option<&str> {
    properties.iter().find_map(|p| match p {
        Property::AuthenticationMethod(m) => Some(m.as_str()),
        _ => None,
    })
}

/// The Will Delay Interval of a Will's properties, in seconds (0 when absent).
pub(crate) fn will_delay(properties: &Properties) -> u32 {
    properties
        .iter()
        .find_map(|p| match p {
            Property::WillDelayInterval(v) => Some(*v),
            _ => None,
        })
        .unwrap_or(0)
}

/// The Message Expiry Interval of a PUBLISH or Will, in seconds.
pub(crate) fn message_expiry(properties: &Properties) -> Option<u32> {
    properties.iter().find_map(|p| match p {
        Property::MessageExpiryInterval(v) => Some(*v),
        _ => None,
    })
}

/// Whether a PUBLISH from a client carries a Subscription Identifier (a Protocol Error).
pub(crate) fn has_subscription_identifier(properties: &Properties) -> bool {
    properties.iter().any(|p| matches!(p, Property::SubscriptionIdentifier(_)))
}

/// The Subscription Identifier of a SUBSCRIBE.
pub(crate) fn subscription_identifier(properties: &Properties) -> Option<u32> {
    properties.iter().find_map(|p| match p {
        Property::SubscriptionIdentifier(v) => Some(*v),
        _ => None,
    })
}

/// A received PUBLISH's properties as they are forwarded: everything unchanged and in order
/// [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18]
/// [MQTT-3.3.2-20], except the Topic Alias, which belongs to the inbound connection
/// [MQTT-3.3.2-7].
pub(crate) fn forwarded(mut properties: Properties) -> Properties {
    if properties.iter().any(|p| matches!(p, Property::TopicAlias(_))) {
        properties.0.retain(|p| !matches!(p, Property::TopicAlias(_)));
    }
    properties
}

/// A Will's properties as its message carries them: all but the Will Delay Interval, in order
/// [MQTT-3.1.3-10].
pub(crate) fn will_message(mut properties: Properties) -> Properties {
    properties.0.retain(|p| !matches!(p, Property::WillDelayInterval(_)));
    properties
}

/// The whole seconds left before `expires_at`, rounded up, so that an unexpired message never
/// travels with an interval of 0 [MQTT-3.3.2-6].
pub(crate) fn remaining_secs(expires_at: Duration, now: Duration) -> u32 {
    let left = expires_at.saturating_sub(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// `properties` with its Message Expiry Interval set to `secs`, in place.
pub(crate) fn with_expiry(properties: &Properties, secs: u32) -> Properties {
    let mut out = properties.clone();
    for p in &mut out.0 {
        if let Property::MessageExpiryInterval(v) = p {
            *v = secs;
        }
    }
    out
}

/// Removes what only helps a human (Reason String, User Properties) from a packet's properties.
pub(crate) fn strip_diagnostics(properties: &mut Properties) -> bool {
    let before = properties.0.len();
    properties.0.retain(|p| !matches!(p, Property::ReasonString(_) | Property::UserProperty(..)));
    properties.0.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_expiry_rounds_up_and_saturates() {
        let s = Duration::from_secs;
        assert_eq!(remaining_secs(s(10), s(3)), 7);
        assert_eq!(remaining_secs(s(10), Duration::from_millis(2500)), 8);
        assert_eq!(remaining_secs(s(10), s(10)), 0);
        assert_eq!(remaining_secs(s(10), s(11)), 0);
    }

    #[test]
    fn forwarding_drops_only_the_topic_alias_and_keeps_the_order() {
        let props = Properties(vec![
            Property::UserProperty("b".into(), "2".into()),
            Property::TopicAlias(3),
            Property::ContentType("text/plain".into()),
            Property::UserProperty("a".into(), "1".into()),
        ]);
        let out = forwarded(props);
        assert_eq!(
            out.0,
            [
                Property::UserProperty("b".into(), "2".into()),
                Property::ContentType("text/plain".into()),
                Property::UserProperty("a".into(), "1".into()),
            ]
        );
    }
}
