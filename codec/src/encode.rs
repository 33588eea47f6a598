//! Encoding of every packet for either protocol version.
//!
//! The encoder measures the packet first (checking every length limit), reserves the buffer
//! once and then writes. It writes what it is given: it does not police the packet's contents
//! (a zero packet identifier or an invalid topic goes out as is). Fields that 3.1.1 cannot carry
//! (properties, acknowledgement and DISCONNECT reason codes, subscription options other than the
//! QoS, UNSUBACK reason codes) are left out of a 3.1.1 encoding; a 5.0 SUBACK failure code
//! becomes the 3.1.1 failure code 0x80.

use bytes::{BufMut, BytesMut};

use crate::error::EncodeError;
use crate::packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, Properties, Protocol, Publish, QoS,
    ReasonCode, SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use crate::property;
use crate::wire::{VBI_MAX, field_len, put_field, put_vbi, vbi_len};

/// Appends the wire form of `packet` for `protocol` to `buf`.
///
/// A CONNECT is encoded for its own [`Connect::protocol`], whatever `protocol` says.
#[inline]
pub fn encode(packet: &Packet, protocol: Protocol, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let v5 = protocol == Protocol::V5;
    // PUBLISH is the hot path: it stays small enough to inline into the caller.
    match packet {
        Packet::Publish(p) => publish(p, v5, buf),
        other => encode_other(other, v5, buf),
    }
}

#[inline(never)]
fn encode_other(packet: &Packet, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    match packet {
        Packet::Connect(c) => connect(c, buf),
        Packet::ConnAck(c) => connack(c, v5, buf),
        Packet::Publish(p) => publish(p, v5, buf),
        Packet::PubAck(a) => ack(0x40, a, v5, buf),
        Packet::PubRec(a) => ack(0x50, a, v5, buf),
        Packet::PubRel(a) => ack(0x62, a, v5, buf),
        Packet::PubComp(a) => ack(0x70, a, v5, buf),
        Packet::Subscribe(s) => subscribe(s, v5, buf),
        Packet::SubAck(s) => suback(s, v5, buf),
        Packet::Unsubscribe(u) => unsubscribe(u, v5, buf),
        Packet::UnsubAck(u) => unsuback(u, v5, buf),
        Packet::PingReq => header(buf, 0xC0, 0),
        Packet::PingResp => header(buf, 0xD0, 0),
        Packet::Disconnect(d) => disconnect(d, v5, buf),
        Packet::Auth(a) => auth(a, v5, buf),
    }
}

/// Checks the remaining length, reserves room for the whole packet and writes the fixed header.
#[inline]
fn header(buf: &mut BytesMut, first: u8, remaining: usize) -> Result<(), EncodeError> {
    if remaining > VBI_MAX as usize {
        return Err(EncodeError::TooLarge(remaining));
    }
    buf.reserve(1 + vbi_len(remaining) + remaining);
    buf.put_u8(first);
    put_vbi(buf, remaining);
    Ok(())
}

/// The measured properties of a packet: `None` when the version carries none.
#[inline]
fn measure(props: &Properties, v5: bool) -> Result<Option<(usize, usize)>, EncodeError> {
    if !v5 {
        return Ok(None);
    }
    let content = property::content_len(props)?;
    Ok(Some((content, vbi_len(content) + content)))
}

#[inline]
fn put_props(buf: &mut BytesMut, props: &Properties, measured: Option<(usize, usize)>) {
    if let Some((content, _)) = measured {
        property::put(buf, props, content);
    }
}

#[inline]
fn wire(measured: Option<(usize, usize)>) -> usize {
    measured.map_or(0, |(_, wire)| wire)
}

fn connect(c: &Connect, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let v5 = c.protocol == Protocol::V5;
    let props = measure(&c.properties, v5)?;
    let name = c.protocol.name().as_bytes();
    let mut len = 2 + name.len() + 1 + 1 + 2 + wire(props) + field_len(c.client_id.len())?;
    let mut flags = 0u8;
    if c.clean_start {
        flags |= 0x02;
    }
    let mut will_props = None;
    if let Some(will) = &c.will {
        will_props = measure(&will.properties, v5)?;
        len += wire(will_props) + field_len(will.topic.len())? + field_len(will.payload.len())?;
        flags |= 0x04 | (will.qos.as_u8() << 3);
        if will.retain {
            flags |= 0x20;
        }
    }
    if let Some(username) = &c.username {
        len += field_len(username.len())?;
        flags |= 0x80;
    }
    if let Some(password) = &c.password {
        len += field_len(password.len())?;
        flags |= 0x40;
    }
    header(buf, 0x10, len)?;
    put_field(buf, name);
    buf.put_u8(c.protocol.level());
    buf.put_u8(flags);
    buf.put_u16(c.keep_alive);
    put_props(buf, &c.properties, props);
    put_field(buf, c.client_id.as_bytes());
    if let Some(will) = &c.will {
        put_props(buf, &will.properties, will_props);
        put_field(buf, will.topic.as_bytes());
        put_field(buf, &will.payload);
    }
    if let Some(username) = &c.username {
        put_field(buf, username.as_bytes());
    }
    if let Some(password) = &c.password {
        put_field(buf, password);
    }
    Ok(())
}

fn connack(c: &ConnAck, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let code = if v5 {
        c.reason_code.0
    } else {
        c.reason_code
            .to_v311_connack()
            .ok_or(EncodeError::Unrepresentable("CONNACK reason code has no 3.1.1 return code"))?
    };
    let props = measure(&c.properties, v5)?;
    header(buf, 0x20, 2 + wire(props))?;
    buf.put_u8(u8::from(c.session_present));
    buf.put_u8(code);
    put_props(buf, &c.properties, props);
    Ok(())
}

#[inline]
fn publish(p: &Publish, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let props = measure(&p.properties, v5)?;
    let id_len = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
    let len = field_len(p.topic.len())? + id_len + wire(props) + p.payload.len();
    let first = 0x30 | (u8::from(p.dup) << 3) | (p.qos.as_u8() << 1) | u8::from(p.retain);
    header(buf, first, len)?;
    put_field(buf, p.topic.as_bytes());
    if id_len > 0 {
        buf.put_u16(p.packet_id);
    }
    put_props(buf, &p.properties, props);
    buf.put_slice(&p.payload);
    Ok(())
}

fn ack(first: u8, a: &Ack, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    if !v5 || (a.reason_code == ReasonCode::SUCCESS && a.properties.is_empty()) {
        header(buf, first, 2)?;
        buf.put_u16(a.packet_id);
    } else if a.properties.is_empty() {
        header(buf, first, 3)?;
        buf.put_u16(a.packet_id);
        buf.put_u8(a.reason_code.0);
    } else {
        let props = measure(&a.properties, v5)?;
        header(buf, first, 3 + wire(props))?;
        buf.put_u16(a.packet_id);
        buf.put_u8(a.reason_code.0);
        put_props(buf, &a.properties, props);
    }
    Ok(())
}

fn subscribe(s: &Subscribe, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let props = measure(&s.properties, v5)?;
    let mut len = 2 + wire(props);
    for f in &s.filters {
        len += field_len(f.filter.len())? + 1;
    }
    header(buf, 0x82, len)?;
    buf.put_u16(s.packet_id);
    put_props(buf, &s.properties, props);
    for f in &s.filters {
        put_field(buf, f.filter.as_bytes());
        let o = &f.options;
        let mut byte = o.qos.as_u8();
        if v5 {
            byte |= (u8::from(o.no_local) << 2)
                | (u8::from(o.retain_as_published) << 3)
                | ((o.retain_handling as u8) << 4);
        }
        buf.put_u8(byte);
    }
    Ok(())
}

fn suback(s: &SubAck, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let props = measure(&s.properties, v5)?;
    header(buf, 0x90, 2 + wire(props) + s.reason_codes.len())?;
    buf.put_u16(s.packet_id);
    put_props(buf, &s.properties, props);
    for code in &s.reason_codes {
        let byte = if v5 || code.0 <= 2 { code.0 } else { 0x80 };
        buf.put_u8(byte);
    }
    Ok(())
}

fn unsubscribe(u: &Unsubscribe, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let props = measure(&u.properties, v5)?;
    let mut len = 2 + wire(props);
    for f in &u.filters {
        len += field_len(f.len())?;
    }
    header(buf, 0xA2, len)?;
    buf.put_u16(u.packet_id);
    put_props(buf, &u.properties, props);
    for f in &u.filters {
        put_field(buf, f.as_bytes());
    }
    Ok(())
}

fn unsuback(u: &UnsubAck, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    if !v5 {
        header(buf, 0xB0, 2)?;
        buf.put_u16(u.packet_id);
        return Ok(());
    }
    let props = measure(&u.properties, v5)?;
    header(buf, 0xB0, 2 + wire(props) + u.reason_codes.len())?;
    buf.put_u16(u.packet_id);
    put_props(buf, &u.properties, props);
    for code in &u.reason_codes {
        buf.put_u8(code.0);
    }
    Ok(())
}

/// DISCONNECT and AUTH: the reason code and properties are omitted when success and none.
fn reason_and_props(
    first: u8,
    code: ReasonCode,
    props: &Properties,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    if code == ReasonCode::SUCCESS && props.is_empty() {
        header(buf, first, 0)
    } else if props.is_empty() {
        header(buf, first, 1)?;
        buf.put_u8(code.0);
        Ok(())
    } else {
        let measured = measure(props, true)?;
        header(buf, first, 1 + wire(measured))?;
        buf.put_u8(code.0);
        put_props(buf, props, measured);
        Ok(())
    }
}

fn disconnect(d: &Disconnect, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    if !v5 {
        return header(buf, 0xE0, 0);
    }
    reason_and_props(0xE0, d.reason_code, &d.properties, buf)
}

fn auth(a: &Auth, v5: bool, buf: &mut BytesMut) -> Result<(), EncodeError> {
    if !v5 {
        return Err(EncodeError::Unrepresentable("AUTH does not exist in MQTT 3.1.1"));
    }
    reason_and_props(0xF0, a.reason_code, &a.properties, buf)
}

/// The size in bytes of the wire form of `packet` for `protocol`, fixed header included: the
/// size MQTT 5.0's Maximum Packet Size limits. Nothing is kept; it fails where [`encode`] would.
///
/// PUBLISH and the acknowledgements without properties (the packets sent for every message)
/// are measured without writing; any other packet is encoded into a scratch buffer.
pub fn encoded_len(packet: &Packet, protocol: Protocol) -> Result<usize, EncodeError> {
    let v5 = protocol == Protocol::V5;
    let remaining = match packet {
        Packet::Publish(p) => {
            let id_len = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
            field_len(p.topic.len())? + id_len + wire(measure(&p.properties, v5)?) + p.payload.len()
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a)
            if a.properties.is_empty() =>
        {
            if v5 && a.reason_code != ReasonCode::SUCCESS {
                3
            } else {
                2
            }
        }
        Packet::PingReq | Packet::PingResp => 0,
        other => {
            let mut scratch = BytesMut::new();
            encode(other, protocol, &mut scratch)?;
            return Ok(scratch.len());
        }
    };
    if remaining > VBI_MAX as usize {
        return Err(EncodeError::TooLarge(remaining));
    }
    Ok(1 + vbi_len(remaining) + remaining)
}
