//! MQTT 5.0 properties on the wire: which packet allows which property, decoding and encoding.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::{PacketType, Properties, Property};
use crate::wire::{Reader, check_vbi, field_len, put_field, put_vbi};

/// Where a property list sits: in a packet's variable header, or in the CONNECT Will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Packet(PacketType),
    Will,
}

const fn bits(ids: &[u8]) -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    while i < ids.len() {
        mask |= 1 << ids[i];
        i += 1;
    }
    mask
}

const USER: u8 = 0x26;
const SUBSCRIPTION_ID: u8 = 0x0B;

/// The properties each context allows (table 2-4 of MQTT 5.0), as a bit set of identifiers.
fn allowed(context: Context) -> u64 {
    use PacketType::*;
    const ACK: u64 = bits(&[0x1F, USER]);
    match context {
        Context::Will => bits(&[0x01, 0x02, 0x03, 0x08, 0x09, 0x18, USER]),
        Context::Packet(packet) => match packet {
            Connect => bits(&[0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x27, USER]),
            ConnAck => bits(&[
                0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, USER, 0x27,
                0x28, 0x29, 0x2A,
            ]),
            Publish => bits(&[0x01, 0x02, 0x03, 0x08, 0x09, SUBSCRIPTION_ID, 0x23, USER]),
            PubAck | PubRec | PubRel | PubComp | SubAck | UnsubAck => ACK,
            Subscribe => bits(&[SUBSCRIPTION_ID, USER]),
            Unsubscribe => bits(&[USER]),
            Disconnect => bits(&[0x11, 0x1C, 0x1F, USER]),
            Auth => bits(&[0x15, 0x16, 0x1F, USER]),
            PingReq | PingResp => 0,
        },
    }
}

/// Whether a property may appear more than once in this context.
fn repeatable(context: Context, id: u8) -> bool {
    id == USER || (id == SUBSCRIPTION_ID && context == Context::Packet(PacketType::Publish))
}

/// Reads a property length and the properties it covers.
pub(crate) fn decode(r: &mut Reader, context: Context) -> Result<Properties, DecodeError> {
    let len = r.vbi()? as usize;
    if len == 0 {
        return Ok(Properties::new());
    }
    let packet = r.packet();
    let mut r = r.sub(len)?;
    let allowed = allowed(context);
    let mut seen = 0u64;
    let mut list = Vec::new();
    while !r.is_empty() {
        let id = r.u8()?;
        let property = decode_one(&mut r, id)?;
        let bit = 1u64 << id;
        if allowed & bit == 0 {
            return Err(DecodeError::PropertyNotAllowed { packet, id });
        }
        if seen & bit != 0 && !repeatable(context, id) {
            return Err(DecodeError::DuplicateProperty { packet, id });
        }
        seen |= bit;
        list.push(property);
    }
    Ok(Properties(list))
}

fn decode_one(r: &mut Reader, id: u8) -> Result<Property, DecodeError> {
    use Property::*;
    let packet = r.packet();
    let invalid = |value: u32| DecodeError::InvalidPropertyValue { packet, id, value };
    let flag = |r: &mut Reader| -> Result<u8, DecodeError> {
        match r.u8()? {
            v @ (0 | 1) => Ok(v),
            v => Err(invalid(u32::from(v))),
        }
    };
    let non_zero_u16 = |r: &mut Reader| -> Result<u16, DecodeError> {
        match r.u16()? {
            0 => Err(invalid(0)),
            v => Ok(v),
        }
    };
    Ok(match id {
        0x01 => PayloadFormatIndicator(flag(r)?),
        0x02 => MessageExpiryInterval(r.u32()?),
        0x03 => ContentType(r.string()?),
        0x08 => match r.topic()? {
            (_, true) => return Err(DecodeError::WildcardInResponseTopic { packet: r.packet() }),
            (topic, false) => ResponseTopic(topic.to_string()),
        },
        0x09 => CorrelationData(r.binary()?),
        0x0B => match r.vbi()? {
            0 => return Err(invalid(0)),
            v => SubscriptionIdentifier(v),
        },
        0x11 => SessionExpiryInterval(r.u32()?),
        0x12 => AssignedClientIdentifier(r.string()?),
        0x13 => ServerKeepAlive(r.u16()?),
        0x15 => AuthenticationMethod(r.string()?),
        0x16 => AuthenticationData(r.binary()?),
        0x17 => RequestProblemInformation(flag(r)?),
        0x18 => WillDelayInterval(r.u32()?),
        0x19 => RequestResponseInformation(flag(r)?),
        0x1A => ResponseInformation(r.string()?),
        0x1C => ServerReference(r.string()?),
        0x1F => ReasonString(r.string()?),
        0x21 => ReceiveMaximum(non_zero_u16(r)?),
        0x22 => TopicAliasMaximum(r.u16()?),
        0x23 => TopicAlias(non_zero_u16(r)?),
        0x24 => MaximumQoS(flag(r)?),
        0x25 => RetainAvailable(flag(r)?),
        0x26 => UserProperty(r.string()?, r.string()?),
        0x27 => match r.u32()? {
            0 => return Err(invalid(0)),
            v => MaximumPacketSize(v),
        },
        0x28 => WildcardSubscriptionAvailable(flag(r)?),
        0x29 => SubscriptionIdentifierAvailable(flag(r)?),
        0x2A => SharedSubscriptionAvailable(flag(r)?),
        _ => return Err(DecodeError::UnknownProperty { packet, id }),
    })
}

/// The length of the properties' content, without the property length field.
pub(crate) fn content_len(props: &Properties) -> Result<usize, EncodeError> {
    let mut len = 0;
    for p in props.iter() {
        len += 1 + value_len(p)?;
    }
    Ok(len)
}

fn value_len(p: &Property) -> Result<usize, EncodeError> {
    use Property::*;
    Ok(match p {
        PayloadFormatIndicator(_)
        | RequestProblemInformation(_)
        | RequestResponseInformation(_)
        | MaximumQoS(_)
        | RetainAvailable(_)
        | WildcardSubscriptionAvailable(_)
        | SubscriptionIdentifierAvailable(_)
        | SharedSubscriptionAvailable(_) => 1,
        ServerKeepAlive(_) | ReceiveMaximum(_) | TopicAliasMaximum(_) | TopicAlias(_) => 2,
        MessageExpiryInterval(_)
        | SessionExpiryInterval(_)
        | WillDelayInterval(_)
        | MaximumPacketSize(_) => 4,
        SubscriptionIdentifier(v) => check_vbi(*v)?,
        ContentType(s)
        | ResponseTopic(s)
        | AssignedClientIdentifier(s)
        | AuthenticationMethod(s)
        | ResponseInformation(s)
        | ServerReference(s)
        | ReasonString(s) => field_len(s.len())?,
        CorrelationData(b) | AuthenticationData(b) => field_len(b.len())?,
        UserProperty(k, v) => field_len(k.len())? + field_len(v.len())?,
    })
}

/// Writes the property length and the properties. The caller has measured them with
/// [`content_len`], which checked every limit.
pub(crate) fn put(buf: &mut BytesMut, props: &Properties, content_len: usize) {
    use Property::*;
    put_vbi(buf, content_len);
    for p in props.iter() {
        buf.put_u8(p.id());
        match p {
            PayloadFormatIndicator(v)
            | RequestProblemInformation(v)
            | RequestResponseInformation(v)
            | MaximumQoS(v)
            | RetainAvailable(v)
            | WildcardSubscriptionAvailable(v)
            | SubscriptionIdentifierAvailable(v)
            | SharedSubscriptionAvailable(v) => buf.put_u8(*v),
            ServerKeepAlive(v) | ReceiveMaximum(v) | TopicAliasMaximum(v) | TopicAlias(v) => {
                buf.put_u16(*v)
            }
            MessageExpiryInterval(v)
            | SessionExpiryInterval(v)
            | WillDelayInterval(v)
            | MaximumPacketSize(v) => buf.put_u32(*v),
            SubscriptionIdentifier(v) => put_vbi(buf, *v as usize),
            ContentType(s)
            | ResponseTopic(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => put_field(buf, s.as_bytes()),
            CorrelationData(b) | AuthenticationData(b) => put_field(buf, b),
            UserProperty(k, v) => {
                put_field(buf, k.as_bytes());
                put_field(buf, v.as_bytes());
            }
        }
    }
}
