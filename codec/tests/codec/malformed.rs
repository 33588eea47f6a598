//! Malformed input, one row per violation: the bytes, the error, the statement it names and
//! the 5.0 reason code a server would put in its DISCONNECT.

use mqttsim_codec::topic::TopicError;
use mqttsim_codec::{DecodeError, PacketType, Protocol, decode};

use crate::helpers::{buf, hex};

use DecodeError as E;
use PacketType as T;
use Protocol::{V5, V311};

/// The maximum packet size every row is decoded with.
const MAX: usize = 256;

type Row = (&'static str, Protocol, &'static str, DecodeError, Option<&'static str>, u8);

fn rows() -> Vec<Row> {
    vec![
        // ------------------------------------------------------------ fixed header
        ("packet type 0 is reserved", V311, "00 00", E::ReservedPacketType, None, 0x81),
        ("AUTH in 3.1.1", V311, "F0 00", E::AuthInV311, None, 0x81),
        (
            "PUBACK with flag bit 0",
            V311,
            "41 02 00 01",
            E::InvalidFixedHeaderFlags { packet: T::PubAck, flags: 1 },
            Some("MQTT-2.2.2-1"),
            0x81,
        ),
        (
            "PUBREL without its 0010 flags",
            V311,
            "60 02 00 01",
            E::InvalidFixedHeaderFlags { packet: T::PubRel, flags: 0 },
            Some("MQTT-2.2.2-1"),
            0x81,
        ),
        (
            "SUBSCRIBE without its 0010 flags",
            V5,
            "80 07 00 01 00 00 01 61 00",
            E::InvalidFixedHeaderFlags { packet: T::Subscribe, flags: 0 },
            Some("MQTT-2.2.2-1"),
            0x81,
        ),
        (
            "UNSUBSCRIBE with flags 0011",
            V311,
            "A3 05 00 01 00 01 61",
            E::InvalidFixedHeaderFlags { packet: T::Unsubscribe, flags: 3 },
            Some("MQTT-2.2.2-1"),
            0x81,
        ),
        (
            "CONNECT with a flag bit",
            V311,
            "11 00",
            E::InvalidFixedHeaderFlags { packet: T::Connect, flags: 1 },
            Some("MQTT-2.2.2-1"),
            0x81,
        ),
        (
            "PINGREQ with flag bit 3",
            V5,
            "C8 00",
            E::InvalidFixedHeaderFlags { packet: T::PingReq, flags: 8 },
            Some("MQTT-2.2.2-1"),
            0x81,
        ),
        (
            "5.0 remaining length not in its shortest form",
            V5,
            "C0 80 00",
            E::NonMinimalVariableByteInteger { packet: T::PingReq },
            Some("MQTT-1.5.5-1"),
            0x81,
        ),
        (
            "5.0 property length not in its shortest form",
            V5,
            "30 05 00 01 74 80 00",
            E::NonMinimalVariableByteInteger { packet: T::Publish },
            Some("MQTT-1.5.5-1"),
            0x81,
        ),
        (
            "5.0 Response Topic with a wildcard",
            V5,
            "30 08 00 01 74 04 08 00 01 23",
            E::WildcardInResponseTopic { packet: T::Publish },
            Some("MQTT-3.3.2-14"),
            0x81,
        ),
        ("PUBLISH QoS 3", V311, "36 05 00 01 74 00 01", E::InvalidQoS, Some("MQTT-3.3.1-4"), 0x81),
        (
            "PUBLISH DUP with QoS 0",
            V5,
            "38 03 00 01 74",
            E::DupWithQoS0,
            Some("MQTT-3.3.1-2"),
            0x81,
        ),
        (
            "remaining length of five bytes",
            V311,
            "30 FF FF FF FF 01",
            E::MalformedRemainingLength,
            None,
            0x81,
        ),
        (
            "remaining length above the maximum, known from the header alone",
            V311,
            "30 FF 01",
            E::PacketTooLarge { size: 258, max: MAX },
            None,
            0x95,
        ),
        // ------------------------------------------------ remaining length vs content
        (
            "PUBACK remaining length 1",
            V311,
            "40 01 00",
            E::UnexpectedEnd { packet: T::PubAck },
            None,
            0x81,
        ),
        (
            "3.1.1 PUBACK remaining length 3",
            V311,
            "40 03 00 01 00",
            E::TrailingBytes { packet: T::PubAck, count: 1 },
            None,
            0x81,
        ),
        (
            "PINGREQ with a body",
            V5,
            "C0 01 00",
            E::TrailingBytes { packet: T::PingReq, count: 1 },
            None,
            0x81,
        ),
        (
            "3.1.1 DISCONNECT with a body",
            V311,
            "E0 01 00",
            E::TrailingBytes { packet: T::Disconnect, count: 1 },
            None,
            0x81,
        ),
        (
            "3.1.1 UNSUBACK with a body after the packet identifier",
            V311,
            "B0 03 00 01 00",
            E::TrailingBytes { packet: T::UnsubAck, count: 1 },
            None,
            0x81,
        ),
        (
            "string length past the end of CONNECT",
            V311,
            "10 04 00 0A 4D 51",
            E::UnexpectedEnd { packet: T::Connect },
            None,
            0x81,
        ),
        (
            "topic length past the end of PUBLISH",
            V311,
            "30 03 00 05 61",
            E::UnexpectedEnd { packet: T::Publish },
            None,
            0x81,
        ),
        (
            "PUBLISH QoS 1 without its packet identifier",
            V311,
            "32 04 00 01 74 00",
            E::UnexpectedEnd { packet: T::Publish },
            None,
            0x81,
        ),
        (
            "property length past the end of PUBLISH",
            V5,
            "30 04 00 01 74 05",
            E::UnexpectedEnd { packet: T::Publish },
            None,
            0x81,
        ),
        (
            "SUBSCRIBE filter without its options byte",
            V311,
            "82 05 00 01 00 01 61",
            E::UnexpectedEnd { packet: T::Subscribe },
            None,
            0x81,
        ),
        // ------------------------------------------------------------ UTF-8 strings
        (
            "ill-formed UTF-8 in a topic",
            V311,
            "30 04 00 02 C3 28",
            E::InvalidUtf8 { packet: T::Publish },
            Some("MQTT-1.5.3-1"),
            0x81,
        ),
        (
            "UTF-16 surrogate U+D800 in a topic",
            V5,
            "30 06 00 03 ED A0 80 00",
            E::InvalidUtf8 { packet: T::Publish },
            Some("MQTT-1.5.3-1"),
            0x81,
        ),
        (
            "overlong encoding of U+0000",
            V311,
            "30 04 00 02 C0 80",
            E::InvalidUtf8 { packet: T::Publish },
            Some("MQTT-1.5.3-1"),
            0x81,
        ),
        (
            "U+0000 in a topic",
            V311,
            "30 05 00 03 61 00 62",
            E::NullCharacter { packet: T::Publish },
            Some("MQTT-1.5.3-2"),
            0x81,
        ),
        (
            "U+0000 in a client identifier",
            V311,
            "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 00",
            E::NullCharacter { packet: T::Connect },
            Some("MQTT-1.5.3-2"),
            0x81,
        ),
        (
            "ill-formed UTF-8 in a user property name",
            V5,
            "30 0B 00 01 74 07 26 00 01 FF 00 01 61",
            E::InvalidUtf8 { packet: T::Publish },
            Some("MQTT-1.5.3-1"),
            0x81,
        ),
        (
            "ill-formed UTF-8 in a user property value",
            V5,
            "30 0B 00 01 74 07 26 00 01 61 00 01 FF",
            E::InvalidUtf8 { packet: T::Publish },
            Some("MQTT-1.5.3-1"),
            0x81,
        ),
        // ------------------------------------------------------- packet identifiers
        (
            "PUBLISH QoS 1 with packet identifier 0",
            V311,
            "32 05 00 01 74 00 00",
            E::ZeroPacketId { packet: T::Publish },
            Some("MQTT-2.3.1-1"),
            0x82,
        ),
        (
            "SUBSCRIBE with packet identifier 0",
            V311,
            "82 06 00 00 00 01 61 00",
            E::ZeroPacketId { packet: T::Subscribe },
            Some("MQTT-2.3.1-1"),
            0x82,
        ),
        (
            "UNSUBSCRIBE with packet identifier 0",
            V5,
            "A2 06 00 00 00 00 01 61",
            E::ZeroPacketId { packet: T::Unsubscribe },
            Some("MQTT-2.3.1-1"),
            0x82,
        ),
        (
            "PUBACK with packet identifier 0",
            V311,
            "40 02 00 00",
            E::ZeroPacketId { packet: T::PubAck },
            Some("MQTT-2.3.1-1"),
            0x82,
        ),
        // ------------------------------------------------------- topics and filters
        (
            "wildcard in a PUBLISH topic name",
            V311,
            "30 05 00 03 61 2F 2B",
            E::InvalidTopicName { packet: T::Publish, error: TopicError::WildcardInName },
            Some("MQTT-3.3.2-2"),
            0x90,
        ),
        (
            "empty topic name in 3.1.1",
            V311,
            "30 02 00 00",
            E::InvalidTopicName { packet: T::Publish, error: TopicError::Empty },
            Some("MQTT-4.7.3-1"),
            0x90,
        ),
        (
            "empty topic name without a topic alias in 5.0",
            V5,
            "30 03 00 00 00",
            E::EmptyTopicWithoutAlias,
            None,
            0x82,
        ),
        (
            "wildcard in a Will topic",
            V311,
            "10 12 00 04 4D 51 54 54 04 06 00 3C 00 01 63 00 01 23 00 00",
            E::InvalidTopicName { packet: T::Connect, error: TopicError::WildcardInName },
            Some("MQTT-3.3.2-2"),
            0x90,
        ),
        (
            "'#' not last in a SUBSCRIBE filter",
            V311,
            "82 0A 00 01 00 05 61 2F 23 2F 62 00",
            E::InvalidTopicFilter {
                packet: T::Subscribe,
                error: TopicError::MisplacedMultiLevelWildcard,
            },
            Some("MQTT-4.7.1-2"),
            0x8F,
        ),
        (
            "'+' sharing a level in a SUBSCRIBE filter",
            V5,
            "82 08 00 01 00 00 02 61 2B 00",
            E::InvalidTopicFilter {
                packet: T::Subscribe,
                error: TopicError::MisplacedSingleLevelWildcard,
            },
            Some("MQTT-4.7.1-3"),
            0x8F,
        ),
        (
            "empty SUBSCRIBE filter",
            V311,
            "82 05 00 01 00 00 00",
            E::InvalidTopicFilter { packet: T::Subscribe, error: TopicError::Empty },
            Some("MQTT-4.7.3-1"),
            0x8F,
        ),
        (
            "'#' not last in an UNSUBSCRIBE filter",
            V311,
            "A2 07 00 01 00 03 23 2F 61",
            E::InvalidTopicFilter {
                packet: T::Unsubscribe,
                error: TopicError::MisplacedMultiLevelWildcard,
            },
            Some("MQTT-4.7.1-2"),
            0x8F,
        ),
        // --------------------------------------------------- SUBSCRIBE / UNSUBSCRIBE
        (
            "3.1.1 SUBSCRIBE without filters",
            V311,
            "82 02 00 01",
            E::EmptyPayload { packet: T::Subscribe },
            Some("MQTT-3.8.3-3"),
            0x82,
        ),
        (
            "5.0 SUBSCRIBE without filters",
            V5,
            "82 03 00 01 00",
            E::EmptyPayload { packet: T::Subscribe },
            Some("MQTT-3.8.3-3"),
            0x82,
        ),
        (
            "UNSUBSCRIBE without filters",
            V311,
            "A2 02 00 01",
            E::EmptyPayload { packet: T::Unsubscribe },
            Some("MQTT-3.10.3-2"),
            0x82,
        ),
        (
            "3.1.1 subscription options with the (5.0 No Local) bit 2",
            V311,
            "82 06 00 01 00 01 61 04",
            E::InvalidSubscriptionOptions { options: 0x04 },
            Some("MQTT-3.8.3-4"),
            0x81,
        ),
        (
            "subscription options with QoS 3",
            V311,
            "82 06 00 01 00 01 61 03",
            E::InvalidSubscriptionOptions { options: 0x03 },
            Some("MQTT-3.8.3-4"),
            0x81,
        ),
        (
            "5.0 subscription options with reserved bit 6",
            V5,
            "82 07 00 01 00 00 01 61 40",
            E::InvalidSubscriptionOptions { options: 0x40 },
            Some("MQTT-3.8.3-4"),
            0x81,
        ),
        (
            "5.0 retain handling 3",
            V5,
            "82 07 00 01 00 00 01 61 30",
            E::InvalidRetainHandling,
            None,
            0x82,
        ),
        (
            "5.0 No Local on a shared subscription",
            V5,
            "82 10 00 01 00 00 0A 24 73 68 61 72 65 2F 67 2F 61 04",
            E::NoLocalOnSharedSubscription,
            Some("MQTT-3.8.3-4"),
            0x82,
        ),
        // -------------------------------------------------------------- CONNECT
        (
            "protocol name MQTX",
            V311,
            "10 0D 00 04 4D 51 54 58 04 02 00 3C 00 01 63",
            E::InvalidProtocolName,
            Some("MQTT-3.1.2-1"),
            0x84,
        ),
        (
            "MQTT 3.1's name MQIsdp at level 4",
            V311,
            "10 0F 00 06 4D 51 49 73 64 70 04 02 00 3C 00 01 63",
            E::UnsupportedProtocolLevel(4),
            Some("MQTT-3.1.2-2"),
            0x84,
        ),
        (
            "protocol level 3 with the name MQTT",
            V311,
            "10 0D 00 04 4D 51 54 54 03 02 00 3C 00 01 63",
            E::UnsupportedProtocolLevel(3),
            Some("MQTT-3.1.2-2"),
            0x84,
        ),
        (
            "protocol level 6",
            V5,
            "10 0D 00 04 4D 51 54 54 06 02 00 3C 00 01 63",
            E::UnsupportedProtocolLevel(6),
            Some("MQTT-3.1.2-2"),
            0x84,
        ),
        (
            "reserved CONNECT flag",
            V311,
            "10 0D 00 04 4D 51 54 54 04 03 00 3C 00 01 63",
            E::ConnectReservedFlag,
            Some("MQTT-3.1.2-3"),
            0x81,
        ),
        (
            "Will QoS 1 without the Will flag",
            V311,
            "10 0D 00 04 4D 51 54 54 04 0A 00 3C 00 01 63",
            E::WillQoSWithoutWill,
            Some("MQTT-3.1.2-13"),
            0x81,
        ),
        (
            "Will QoS 3",
            V5,
            "10 0D 00 04 4D 51 54 54 05 1E 00 3C 00 01 63",
            E::InvalidWillQoS,
            Some("MQTT-3.1.2-14"),
            0x81,
        ),
        (
            "Will Retain without the Will flag",
            V311,
            "10 0D 00 04 4D 51 54 54 04 22 00 3C 00 01 63",
            E::WillRetainWithoutWill,
            Some("MQTT-3.1.2-15"),
            0x81,
        ),
        (
            "3.1.1 password without a user name",
            V311,
            "10 11 00 04 4D 51 54 54 04 42 00 3C 00 01 63 00 02 70 77",
            E::PasswordWithoutUsername,
            Some("MQTT-3.1.2-22"),
            0x81,
        ),
        (
            "receive maximum 0",
            V5,
            "10 11 00 04 4D 51 54 54 05 02 00 3C 03 21 00 00 00 01 63",
            E::InvalidPropertyValue { packet: T::Connect, id: 0x21, value: 0 },
            None,
            0x82,
        ),
        (
            "maximum packet size 0",
            V5,
            "10 13 00 04 4D 51 54 54 05 02 00 3C 05 27 00 00 00 00 00 01 63",
            E::InvalidPropertyValue { packet: T::Connect, id: 0x27, value: 0 },
            None,
            0x82,
        ),
        (
            "request problem information 2",
            V5,
            "10 10 00 04 4D 51 54 54 05 02 00 3C 02 17 02 00 01 63",
            E::InvalidPropertyValue { packet: T::Connect, id: 0x17, value: 2 },
            None,
            0x82,
        ),
        (
            "topic alias in CONNECT",
            V5,
            "10 11 00 04 4D 51 54 54 05 02 00 3C 03 23 00 01 00 01 63",
            E::PropertyNotAllowed { packet: T::Connect, id: 0x23 },
            None,
            0x81,
        ),
        (
            "session expiry interval twice",
            V5,
            "10 18 00 04 4D 51 54 54 05 02 00 3C 0A 11 00 00 00 01 11 00 00 00 02 00 01 63",
            E::DuplicateProperty { packet: T::Connect, id: 0x11 },
            None,
            0x82,
        ),
        (
            "session expiry interval among the Will properties",
            V5,
            "10 19 00 04 4D 51 54 54 05 06 00 3C 00 00 01 63 05 11 00 00 00 01 00 01 77 00 00",
            E::PropertyNotAllowed { packet: T::Connect, id: 0x11 },
            None,
            0x81,
        ),
        // -------------------------------------------------------------- CONNACK
        (
            "3.1.1 CONNACK return code 6",
            V311,
            "20 02 00 06",
            E::InvalidReasonCode { packet: T::ConnAck, code: 6 },
            None,
            0x81,
        ),
        (
            "5.0 CONNACK with DISCONNECT's server shutting down",
            V5,
            "20 03 00 8B 00",
            E::InvalidReasonCode { packet: T::ConnAck, code: 0x8B },
            None,
            0x81,
        ),
        (
            "CONNACK reserved flag bit 1",
            V311,
            "20 02 02 00",
            E::ConnAckReservedFlags(2),
            Some("MQTT-3.2.2-1"),
            0x81,
        ),
        (
            "CONNACK failure with Session Present",
            V311,
            "20 02 01 05",
            E::SessionPresentOnFailure,
            Some("MQTT-3.2.2-4"),
            0x82,
        ),
        (
            "5.0 CONNACK maximum QoS 2",
            V5,
            "20 05 00 00 02 24 02",
            E::InvalidPropertyValue { packet: T::ConnAck, id: 0x24, value: 2 },
            None,
            0x82,
        ),
        // -------------------------------------------------------- PUBLISH properties
        (
            "topic alias twice",
            V5,
            "30 0A 00 01 74 06 23 00 01 23 00 02",
            E::DuplicateProperty { packet: T::Publish, id: 0x23 },
            None,
            0x82,
        ),
        (
            "unknown property 0x05",
            V5,
            "30 05 00 01 74 01 05",
            E::UnknownProperty { packet: T::Publish, id: 0x05 },
            None,
            0x81,
        ),
        (
            "topic alias 0",
            V5,
            "30 07 00 01 74 03 23 00 00",
            E::InvalidPropertyValue { packet: T::Publish, id: 0x23, value: 0 },
            None,
            0x82,
        ),
        (
            "subscription identifier 0 in PUBLISH",
            V5,
            "30 06 00 01 74 02 0B 00",
            E::InvalidPropertyValue { packet: T::Publish, id: 0x0B, value: 0 },
            None,
            0x82,
        ),
        (
            "subscription identifier of five bytes",
            V5,
            "30 0A 00 01 74 06 0B FF FF FF FF 01",
            E::MalformedVariableByteInteger { packet: T::Publish },
            None,
            0x81,
        ),
        (
            "session expiry interval in PUBLISH",
            V5,
            "30 09 00 01 74 05 11 00 00 00 01",
            E::PropertyNotAllowed { packet: T::Publish, id: 0x11 },
            None,
            0x81,
        ),
        (
            "payload format indicator 2",
            V5,
            "30 06 00 01 74 02 01 02",
            E::InvalidPropertyValue { packet: T::Publish, id: 0x01, value: 2 },
            None,
            0x82,
        ),
        // ------------------------------------------------- acknowledgement packets
        (
            "PUBACK with PUBREL's packet identifier not found",
            V5,
            "40 03 00 01 92",
            E::InvalidReasonCode { packet: T::PubAck, code: 0x92 },
            Some("MQTT-3.4.2-1"),
            0x81,
        ),
        (
            "PUBREC with reason code 0x01",
            V5,
            "50 03 00 01 01",
            E::InvalidReasonCode { packet: T::PubRec, code: 0x01 },
            Some("MQTT-3.5.2-1"),
            0x81,
        ),
        (
            "PUBREL with no matching subscribers",
            V5,
            "62 03 00 01 10",
            E::InvalidReasonCode { packet: T::PubRel, code: 0x10 },
            Some("MQTT-3.6.2-1"),
            0x81,
        ),
        (
            "PUBCOMP with unspecified error",
            V5,
            "70 03 00 01 80",
            E::InvalidReasonCode { packet: T::PubComp, code: 0x80 },
            Some("MQTT-3.7.2-1"),
            0x81,
        ),
        (
            "topic alias in PUBACK",
            V5,
            "40 07 00 01 00 03 23 00 01",
            E::PropertyNotAllowed { packet: T::PubAck, id: 0x23 },
            None,
            0x81,
        ),
        (
            "reason string twice in PUBACK",
            V5,
            "40 0C 00 01 80 08 1F 00 01 61 1F 00 01 62",
            E::DuplicateProperty { packet: T::PubAck, id: 0x1F },
            None,
            0x82,
        ),
        (
            "3.1.1 SUBACK return code 3",
            V311,
            "90 03 00 01 03",
            E::InvalidReasonCode { packet: T::SubAck, code: 3 },
            Some("MQTT-3.9.3-2"),
            0x81,
        ),
        (
            "5.0 SUBACK with UNSUBACK's no subscription existed",
            V5,
            "90 04 00 01 00 11",
            E::InvalidReasonCode { packet: T::SubAck, code: 0x11 },
            Some("MQTT-3.9.3-2"),
            0x81,
        ),
        (
            "SUBACK without codes",
            V311,
            "90 02 00 01",
            E::EmptyPayload { packet: T::SubAck },
            None,
            0x82,
        ),
        (
            "5.0 UNSUBACK with granted QoS 1",
            V5,
            "B0 04 00 01 00 01",
            E::InvalidReasonCode { packet: T::UnsubAck, code: 0x01 },
            Some("MQTT-3.11.3-2"),
            0x81,
        ),
        (
            "5.0 UNSUBACK without codes",
            V5,
            "B0 03 00 01 00",
            E::EmptyPayload { packet: T::UnsubAck },
            None,
            0x82,
        ),
        (
            "two subscription identifiers in SUBSCRIBE",
            V5,
            "82 0B 00 01 04 0B 01 0B 02 00 01 61 00",
            E::DuplicateProperty { packet: T::Subscribe, id: 0x0B },
            None,
            0x82,
        ),
        (
            "subscription identifier 0 in SUBSCRIBE",
            V5,
            "82 09 00 01 02 0B 00 00 01 61 00",
            E::InvalidPropertyValue { packet: T::Subscribe, id: 0x0B, value: 0 },
            None,
            0x82,
        ),
        // ---------------------------------------------------------- DISCONNECT / AUTH
        (
            "DISCONNECT with reason code 0x01",
            V5,
            "E0 01 01",
            E::InvalidReasonCode { packet: T::Disconnect, code: 0x01 },
            Some("MQTT-3.14.2-1"),
            0x81,
        ),
        (
            "topic alias in DISCONNECT",
            V5,
            "E0 05 00 03 23 00 01",
            E::PropertyNotAllowed { packet: T::Disconnect, id: 0x23 },
            None,
            0x81,
        ),
        (
            "AUTH with not authorized",
            V5,
            "F0 01 87",
            E::InvalidReasonCode { packet: T::Auth, code: 0x87 },
            Some("MQTT-3.15.2-1"),
            0x81,
        ),
    ]
}

#[test]
fn each_malformed_input_gives_its_error_statement_and_reason() {
    for (name, protocol, wire, error, statement, reason) in rows() {
        let mut b = buf(&hex(wire));
        let got = decode(&mut b, protocol, MAX);
        assert_eq!(got, Err(error), "{name}");
        let got = got.unwrap_err();
        assert_eq!(got.statement(), statement, "statement of {name}");
        assert_eq!(got.reason_code().0, reason, "reason code of {name}");
        assert!(!got.to_string().is_empty(), "message of {name}");
    }
}

#[test]
fn a_3_1_1_remaining_length_not_in_its_shortest_form_is_taken() {
    // 3.1.1 does not ask for the shortest form; 5.0 does (the row above).
    assert_eq!(
        decode(&mut buf(&hex("C0 80 00")), V311, MAX),
        Ok(Some(mqttsim_codec::Packet::PingReq))
    );
}

#[test]
fn the_fixed_header_is_judged_before_the_body_arrives() {
    // A packet that is too large, or has a bad first byte, fails with only its header buffered.
    let cases: [(&str, DecodeError); 3] = [
        ("30 FF 01", E::PacketTooLarge { size: 258, max: MAX }),
        ("36", E::InvalidQoS),
        ("30 FF FF FF 80", E::MalformedRemainingLength),
    ];
    for (wire, error) in cases {
        assert_eq!(decode(&mut buf(&hex(wire)), V5, MAX), Err(error), "{wire}");
    }
}

#[test]
fn raw_builder_malformations_are_caught() {
    use mqttsim_codec::raw::RawPacket;
    use mqttsim_codec::{Ack, Packet};

    let puback = RawPacket::from_packet(&Packet::PubAck(Ack::new(7)), V311).unwrap();
    let cases: Vec<(&str, RawPacket, DecodeError)> = vec![
        (
            "five continuation bytes",
            puback.clone().remaining_length_bytes(&[0xFF; 5]),
            E::MalformedRemainingLength,
        ),
        (
            "remaining length one longer than the content",
            puback.clone().u8(0),
            E::TrailingBytes { packet: T::PubAck, count: 1 },
        ),
        (
            "remaining length one shorter than the content",
            puback.clone().remaining_length(1),
            E::UnexpectedEnd { packet: T::PubAck },
        ),
        (
            "first byte with reserved flags",
            puback.first_byte(0x4F),
            E::InvalidFixedHeaderFlags { packet: T::PubAck, flags: 0x0F },
        ),
        (
            "topic that is not UTF-8",
            RawPacket::new(0x30).binary(&[0xC3, 0x28]),
            E::InvalidUtf8 { packet: T::Publish },
        ),
        (
            "SUBSCRIBE with a packet identifier and nothing else",
            RawPacket::new(0x82).u16(1),
            E::EmptyPayload { packet: T::Subscribe },
        ),
        (
            "string length larger than the packet",
            RawPacket::new(0x30).declared_length(0xFFFF).bytes(b"t"),
            E::UnexpectedEnd { packet: T::Publish },
        ),
    ];
    for (name, raw, error) in cases {
        let mut b = raw.to_bytes_mut();
        assert_eq!(decode(&mut b, V311, MAX), Err(error), "{name}");
    }
}
