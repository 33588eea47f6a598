//! The suite's path to and from the wire: packets are encoded and decoded with the project codec.
//!
//! INTERIM: until `mqttsim_codec::{encode, decode}` land, this module carries a minimal 3.1.1
//! encoder for what a client sends and a decoder for what a server sends. It is replaced by
//! calls into the codec as soon as the codec is merged.

use bytes::{Buf, BytesMut};
use mqttsim_codec::{
    Ack, ConnAck, Packet, Properties, Protocol, Publish, QoS, ReasonCode, SubAck, UnsubAck,
};

use crate::raw::RawPacket;

/// Why bytes from the broker did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

fn err<T>(what: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(what.into()))
}

/// Encodes a packet the suite sends.
pub fn encode(packet: &Packet, protocol: Protocol, out: &mut BytesMut) -> Result<(), WireError> {
    if protocol != Protocol::V311 {
        return err("the interim encoder speaks MQTT 3.1.1 only");
    }
    let raw = match packet {
        Packet::Connect(c) => {
            let mut flags = 0u8;
            if c.clean_start {
                flags |= 0x02;
            }
            if let Some(w) = &c.will {
                flags |= 0x04 | (w.qos.as_u8() << 3) | if w.retain { 0x20 } else { 0 };
            }
            if c.password.is_some() {
                flags |= 0x40;
            }
            if c.username.is_some() {
                flags |= 0x80;
            }
            let mut p = RawPacket::new(0x10)
                .str("MQTT")
                .u8(c.protocol.level())
                .u8(flags)
                .u16(c.keep_alive)
                .str(&c.client_id);
            if let Some(w) = &c.will {
                p = p.str(&w.topic).field(&w.payload);
            }
            if let Some(u) = &c.username {
                p = p.str(u);
            }
            if let Some(pw) = &c.password {
                p = p.field(pw);
            }
            p
        }
        Packet::Publish(p) => {
            let first = 0x30
                | if p.dup { 0x08 } else { 0 }
                | (p.qos.as_u8() << 1)
                | if p.retain { 0x01 } else { 0 };
            let mut r = RawPacket::new(first).str(&p.topic);
            if p.qos != QoS::AtMostOnce {
                r = r.u16(p.packet_id);
            }
            r.raw(&p.payload)
        }
        Packet::PubAck(a) => RawPacket::new(0x40).u16(a.packet_id),
        Packet::PubRec(a) => RawPacket::new(0x50).u16(a.packet_id),
        Packet::PubRel(a) => RawPacket::new(0x62).u16(a.packet_id),
        Packet::PubComp(a) => RawPacket::new(0x70).u16(a.packet_id),
        Packet::Subscribe(s) => {
            let mut r = RawPacket::new(0x82).u16(s.packet_id);
            for f in &s.filters {
                r = r.str(&f.filter).u8(f.options.qos.as_u8());
            }
            r
        }
        Packet::Unsubscribe(u) => {
            let mut r = RawPacket::new(0xA2).u16(u.packet_id);
            for f in &u.filters {
                r = r.str(f);
            }
            r
        }
        Packet::PingReq => RawPacket::new(0xC0),
        Packet::Disconnect(_) => RawPacket::new(0xE0),
        other => return err(format!("the interim encoder cannot send {:?}", other.packet_type())),
    };
    out.extend_from_slice(&raw.build());
    Ok(())
}

/// Decodes one packet the broker sent; `Ok(None)` while more bytes are needed.
pub fn decode(
    buf: &mut BytesMut,
    protocol: Protocol,
    max: usize,
) -> Result<Option<Packet>, WireError> {
    let _ = protocol;
    if buf.is_empty() {
        return Ok(None);
    }
    let mut len = 0usize;
    let mut i = 1;
    loop {
        if i > 4 {
            return err("remaining length longer than four bytes");
        }
        let Some(&b) = buf.get(i) else { return Ok(None) };
        len |= ((b & 0x7F) as usize) << (7 * (i - 1));
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    if len > max {
        return err(format!("remaining length {len} above the limit of {max}"));
    }
    if buf.len() < i + len {
        return Ok(None);
    }
    let first = buf[0];
    buf.advance(i);
    let mut body = buf.split_to(len);
    let flags = first & 0x0F;
    let want_flags = |f: u8| {
        if flags == f {
            Ok(())
        } else {
            err(format!("packet 0x{first:02X} has reserved flags set wrong"))
        }
    };
    let id = |body: &BytesMut| -> Result<u16, WireError> {
        if body.len() != 2 {
            return err(format!(
                "packet 0x{first:02X} has a remaining length of {} instead of 2",
                body.len()
            ));
        }
        Ok(u16::from_be_bytes([body[0], body[1]]))
    };
    let packet = match first >> 4 {
        2 => {
            want_flags(0)?;
            if body.len() != 2 {
                return err("CONNACK remaining length is not 2");
            }
            if body[0] & 0xFE != 0 {
                return err("CONNACK acknowledge flags have reserved bits set");
            }
            let Some(rc) = ReasonCode::from_v311_connack(body[1]) else {
                return err(format!("CONNACK return code {} is reserved", body[1]));
            };
            Packet::ConnAck(ConnAck {
                session_present: body[0] & 1 == 1,
                reason_code: rc,
                properties: Properties::default(),
            })
        }
        3 => {
            let Some(qos) = QoS::from_u8((flags >> 1) & 3) else {
                return err("PUBLISH with QoS 3");
            };
            if body.len() < 2 {
                return err("PUBLISH too short for its topic length");
            }
            let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
            if body.len() < 2 + tlen {
                return err("PUBLISH topic runs past the packet");
            }
            body.advance(2);
            let topic = body.split_to(tlen).freeze();
            let Ok(topic) = bytestring_from(topic) else {
                return err("PUBLISH topic is not UTF-8");
            };
            let packet_id = if qos == QoS::AtMostOnce {
                0
            } else {
                if body.len() < 2 {
                    return err("PUBLISH too short for its packet identifier");
                }
                let id = u16::from_be_bytes([body[0], body[1]]);
                body.advance(2);
                id
            };
            Packet::Publish(Publish {
                dup: flags & 0x08 != 0,
                qos,
                retain: flags & 1 == 1,
                topic,
                packet_id,
                payload: body.freeze(),
                properties: Properties::default(),
            })
        }
        4 => {
            want_flags(0)?;
            Packet::PubAck(Ack::new(id(&body)?))
        }
        5 => {
            want_flags(0)?;
            Packet::PubRec(Ack::new(id(&body)?))
        }
        6 => {
            want_flags(2)?;
            Packet::PubRel(Ack::new(id(&body)?))
        }
        7 => {
            want_flags(0)?;
            Packet::PubComp(Ack::new(id(&body)?))
        }
        9 => {
            want_flags(0)?;
            if body.len() < 3 {
                return err("SUBACK without return codes");
            }
            let packet_id = u16::from_be_bytes([body[0], body[1]]);
            let reason_codes = body[2..].iter().map(|&c| ReasonCode(c)).collect();
            Packet::SubAck(SubAck { packet_id, reason_codes, properties: Properties::default() })
        }
        11 => {
            want_flags(0)?;
            Packet::UnsubAck(UnsubAck {
                packet_id: id(&body)?,
                reason_codes: Vec::new(),
                properties: Properties::default(),
            })
        }
        13 => {
            want_flags(0)?;
            if !body.is_empty() {
                return err("PINGRESP with a body");
            }
            Packet::PingResp
        }
        t => return err(format!("packet type {t} is not one a server sends")),
    };
    Ok(Some(packet))
}

fn bytestring_from(bytes: bytes::Bytes) -> Result<bytestring::ByteString, ()> {
    bytestring::ByteString::try_from(bytes).map_err(|_| ())
}
