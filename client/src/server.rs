//! What a 5.0 server announced in its CONNACK, as the client honours it for one connection.

use mqttsim_codec::{Properties, Property, QoS};

/// The server's limits and capabilities on the current connection.
///
/// For 3.1.1, or a 5.0 CONNACK without properties, every field has its default: no limit the
/// client must respect beyond the protocol's own. A new transport starts from the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Receive Maximum: the most QoS 1 and 2 PUBLISHes unacknowledged at once (65,535 when
    /// absent) [MQTT-3.3.4-7].
    pub receive_maximum: u16,
    /// Maximum Packet Size: no larger packet is sent [MQTT-3.2.2-15].
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum: the highest alias the client may use, 0 for none
    /// [MQTT-3.2.2-17, MQTT-3.2.2-18].
    pub topic_alias_maximum: u16,
    /// Maximum QoS: no PUBLISH goes at a higher QoS [MQTT-3.2.2-11].
    pub maximum_qos: QoS,
    /// Retain Available: when false no PUBLISH carries RETAIN [MQTT-3.2.2-14].
    pub retain_available: bool,
    /// Wildcard Subscription Available.
    pub wildcard_subscription_available: bool,
    /// Subscription Identifier Available: when false SUBSCRIBEs carry none.
    pub subscription_identifier_available: bool,
    /// Shared Subscription Available.
    pub shared_subscription_available: bool,
    /// The server's Session Expiry Interval, when it replaced the client's.
    pub session_expiry_interval: Option<u32>,
    /// Server Keep Alive, which replaces the client's [MQTT-3.1.2-21].
    pub server_keep_alive: Option<u16>,
    /// Assigned Client Identifier.
    pub assigned_client_identifier: Option<String>,
    /// Response Information, when the client asked for it.
    pub response_information: Option<String>,
    /// Server Reference (another server to use), from CONNACK or DISCONNECT.
    pub server_reference: Option<String>,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits::NONE
    }
}

impl ServerLimits {
    /// No limits: 3.1.1, or a 5.0 CONNACK without properties.
    pub const NONE: ServerLimits = ServerLimits {
        receive_maximum: u16::MAX,
        maximum_packet_size: None,
        topic_alias_maximum: 0,
        maximum_qos: QoS::ExactlyOnce,
        retain_available: true,
        wildcard_subscription_available: true,
        subscription_identifier_available: true,
        shared_subscription_available: true,
        session_expiry_interval: None,
        server_keep_alive: None,
        assigned_client_identifier: None,
        response_information: None,
        server_reference: None,
    };

    /// The limits a CONNACK's properties announce.
    pub fn from_connack(properties: &Properties) -> ServerLimits {
        let mut limits = ServerLimits::default();
        for property in properties.iter() {
            match property {
                Property::ReceiveMaximum(maximum) => limits.receive_maximum = (*maximum).max(1),
                Property::MaximumPacketSize(size) => limits.maximum_packet_size = Some(*size),
                Property::TopicAliasMaximum(maximum) => limits.topic_alias_maximum = *maximum,
                Property::MaximumQoS(qos) => {
                    limits.maximum_qos = QoS::from_u8(*qos).unwrap_or(QoS::AtLeastOnce);
                }
                Property::RetainAvailable(flag) => limits.retain_available = *flag != 0,
                Property::WildcardSubscriptionAvailable(flag) => {
                    limits.wildcard_subscription_available = *flag != 0;
                }
                Property::SubscriptionIdentifierAvailable(flag) => {
                    limits.subscription_identifier_available = *flag != 0;
                }
                Property::SharedSubscriptionAvailable(flag) => {
                    limits.shared_subscription_available = *flag != 0;
                }
                Property::SessionExpiryInterval(expiry) => {
                    limits.session_expiry_interval = Some(*expiry);
                }
                Property::ServerKeepAlive(seconds) => limits.server_keep_alive = Some(*seconds),
                Property::AssignedClientIdentifier(id) => {
                    limits.assigned_client_identifier = Some(id.clone());
                }
                Property::ResponseInformation(info) => {
                    limits.response_information = Some(info.clone());
                }
                Property::ServerReference(server) => limits.server_reference = Some(server.clone()),
                _ => {}
            }
        }
        limits
    }
}
