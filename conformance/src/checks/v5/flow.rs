//! Flow control and limits: the client's Receive Maximum, packets other than PUBLISH at zero
//! quota, the broker's Receive Maximum, Maximum Packet Size both ways (messages too large for a
//! client are dropped and the session carries on), diagnostics (Reason String, User Property)
//! left out of packets they would make too large, Request Problem and Response Information.

use mqttsim_codec::{Ack, Packet, Properties, Property, QoS, ReasonCode, Unsubscribe};

use super::{
    accepted, client_with, connect, end_session, entry, message, need_qos1, need_qos2,
    persistent_connect, props, subscribed, text,
};
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::Event;

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "v5-receive-maximum",
            V5,
            ["MQTT-3.3.4-9", "MQTT-4.9.0-1", "MQTT-4.9.0-2"],
            "Towards a client with Receive Maximum 2 the broker keeps at most 2 QoS 1 messages unacknowledged, and goes on as they are acknowledged.",
            receive_maximum
        ),
        check!(
            "v5-send-quota-after-resumptions",
            V5,
            ["MQTT-4.9.0-1"],
            "After a client with Receive Maximum 1 resumed its session three times, a QoS 1 message still reaches it: each connection starts with a send quota above zero.",
            quota_after_resumptions
        ),
        check!(
            "v5-zero-quota-other-packets",
            V5,
            ["MQTT-3.3.4-10", "MQTT-4.9.0-3"],
            "With its send quota used up the broker still answers PINGREQ, SUBSCRIBE and UNSUBSCRIBE at once.",
            zero_quota
        ),
        check!(
            "v5-broker-receive-maximum",
            V5,
            ["MQTT-4.13.1-1"],
            "A client with more unacknowledged QoS 2 PUBLISH packets than the broker's Receive Maximum is disconnected.",
            broker_receive_maximum
        )
        .probing(&["MQTT-3.3.4-7"]),
        check!(
            "v5-maximum-packet-size-outbound",
            V5,
            ["MQTT-3.1.2-24", "MQTT-3.1.2-25"],
            "Messages larger than the client's Maximum Packet Size are not sent to it, even after a reconnect; smaller ones are.",
            maximum_packet_size_outbound
        ),
        check!(
            "v5-maximum-packet-size-inbound",
            V5,
            ["MQTT-4.13.1-1"],
            "A PUBLISH larger than the broker's Maximum Packet Size closes the connection.",
            maximum_packet_size_inbound
        )
        .probing(&["MQTT-3.2.2-15"]),
        check!(
            "v5-connack-diagnostics-fit",
            V5,
            ["MQTT-3.1.2-24", "MQTT-3.2.2-19", "MQTT-3.2.2-20"],
            "A refusing CONNACK to a client with Maximum Packet Size 8 fits in 8 bytes.",
            connack_diagnostics
        ),
        check!(
            "v5-ack-diagnostics-fit",
            V5,
            [
                "MQTT-3.1.2-24", "MQTT-3.4.2-2", "MQTT-3.4.2-3", "MQTT-3.5.2-2", "MQTT-3.5.2-3",
                "MQTT-3.6.2-2", "MQTT-3.6.2-3", "MQTT-3.7.2-2", "MQTT-3.7.2-3", "MQTT-3.9.2-1",
                "MQTT-3.9.2-2", "MQTT-3.11.2-1", "MQTT-3.11.2-2"
            ],
            "Acknowledgements with failure codes to a client with a small Maximum Packet Size leave their diagnostics out.",
            ack_diagnostics
        ),
        check!(
            "v5-disconnect-diagnostics-fit",
            V5,
            ["MQTT-3.1.2-24", "MQTT-3.14.2-3", "MQTT-3.14.2-4"],
            "A DISCONNECT for a Protocol Error to a client with a small Maximum Packet Size fits in it.",
            disconnect_diagnostics
        ),
        check!(
            "v5-variable-byte-integers-minimal",
            V5,
            ["MQTT-1.5.5-1"],
            "PUBLISH packets of 127, 128, 16,383 and 16,384 bytes and more come with their remaining lengths in the fewest bytes.",
            vbi_minimal
        ),
        check!(
            "v5-request-problem-information-0",
            V5,
            ["MQTT-3.1.2-29"],
            "After Request Problem Information 0 no Reason String or User Property comes on other packets than PUBLISH, CONNACK and DISCONNECT.",
            problem_information
        ),
        check!(
            "v5-request-response-information-0",
            V5,
            ["MQTT-3.1.2-28"],
            "After Request Response Information 0 the CONNACK carries no Response Information.",
            response_information
        ),
    ]
}

async fn receive_maximum(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let mut sub = client_with(&ctx, "s", props([Property::ReceiveMaximum(2)])).await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    for i in 0..6u16 {
        publisher
            .publish(&topic, format!("m{i}").as_bytes(), QoS::AtLeastOnce, false, i + 1)
            .await?;
    }
    // The connection judges the quota on every PUBLISH that arrives.
    let mut held = vec![sub.recv_publish().await?, sub.recv_publish().await?];
    sub.expect_no_publish(
        ctx.quiet(),
        "a third QoS 1 message came to a client with Receive Maximum 2 [MQTT-3.3.4-9]",
    )
    .await?;
    let mut got = Vec::new();
    while got.len() < 6 {
        let p = held.remove(0);
        sub.ack(&p).await?;
        got.push(text(&p));
        if got.len() + held.len() < 6 {
            held.push(sub.recv_publish().await.map_err(|e| {
                Stop::Fail(format!(
                    "acknowledging a message did not let the next one come [MQTT-4.9.0-2]: {e}"
                ))
            })?);
        }
    }
    let want: Vec<String> = (0..6).map(|i| format!("m{i}")).collect();
    ensure!(got == want, "received {got:?}");
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn quota_after_resumptions(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let limited = |ctx: &Ctx| {
        let mut c = persistent_connect(ctx, "s", 60);
        c.properties.push(Property::ReceiveMaximum(1));
        c
    };
    let (mut sub, _) = accepted(&ctx, "s", limited(&ctx)).await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    sub.disconnect().await?;
    for _ in 0..2 {
        let (again, _) = accepted(&ctx, "s again", limited(&ctx)).await?;
        again.disconnect().await?;
    }
    let (mut sub, _) = accepted(&ctx, "s again", limited(&ctx)).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"after", QoS::AtLeastOnce, false, 1).await?;
    let got = sub.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "after three resumptions of its session no QoS 1 message reached a client with \
             Receive Maximum 1: the connection's initial send quota must be above zero \
             [MQTT-4.9.0-1]: {e}"
        ))
    })?;
    ensure!(&got.payload[..] == b"after", "received {:?}", text(&got));
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn zero_quota(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let mut sub = client_with(&ctx, "s", props([Property::ReceiveMaximum(1)])).await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"one", QoS::AtLeastOnce, false, 1).await?;
    publisher.publish(&topic, b"two", QoS::AtLeastOnce, false, 2).await?;
    let held = sub.recv_publish().await?;
    // Quota 0 now: everything but PUBLISH goes on.
    sub.ping().await.map_err(|e| {
        Stop::Fail(format!("at zero quota PINGREQ was not answered [MQTT-3.3.4-10]: {e}"))
    })?;
    subscribed(&mut sub, 2, vec![entry(&ctx.topic("other"), QoS::AtLeastOnce)], Properties::new())
        .await
        .map_err(|e| {
            Stop::Fail(format!(
                "at zero quota SUBSCRIBE was not answered [MQTT-3.3.4-10] [MQTT-4.9.0-3]: {e}"
            ))
        })?;
    sub.unsubscribe_packet(Unsubscribe {
        packet_id: 3,
        filters: vec![ctx.topic("other")],
        properties: Properties::new(),
    })
    .await
    .map_err(|e| {
        Stop::Fail(format!(
            "at zero quota UNSUBSCRIBE was not answered [MQTT-3.3.4-10] [MQTT-4.9.0-3]: {e}"
        ))
    })?;
    sub.ack(&held).await?;
    let next = sub.recv_acked().await?;
    ensure!(&next.payload[..] == b"two", "received {:?}", text(&next));
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn broker_receive_maximum(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let max = ctx.server().receive_maximum;
    if max > 2000 {
        return Err(Stop::Skip(format!("the broker's Receive Maximum is {max}")));
    }
    let mut conn = ctx.client("a").await?;
    let topic = ctx.topic("t");
    let mut bytes = Vec::new();
    for id in 1..=max + 1 {
        let m = message(&topic, b"x", QoS::ExactlyOnce, false, id, Properties::new());
        let mut out = bytes::BytesMut::new();
        mqttsim_codec::encode(&Packet::Publish(m), mqttsim_codec::Protocol::V5, &mut out)
            .map_err(|e| Stop::Fail(e.to_string()))?;
        bytes.extend_from_slice(&out);
    }
    conn.send_raw(&bytes).await?;
    // Up to Receive Maximum PUBRECs, then a DISCONNECT 0x93 at most, then the close.
    let mut recs = 0;
    loop {
        match conn.next_within(ctx.timeout()).await? {
            Event::Packet(Packet::PubRec(_)) => recs += 1,
            Event::Packet(Packet::Disconnect(d)) if d.reason_code.is_error() => {}
            Event::Closed => break,
            Event::Packet(p) => fail!("expected PUBREC or a close, got {}", conn.describe(&p)),
            Event::Silent => fail!(
                "{} QoS 2 PUBLISH packets without PUBREL, one more than the broker's Receive \
                 Maximum {max}, got {recs} PUBREC and no close [MQTT-4.13.1-1]",
                max + 1
            ),
        }
    }
    Ok(())
}

async fn maximum_packet_size_outbound(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let mut c = persistent_connect(&ctx, "s", 60);
    c.properties.push(Property::MaximumPacketSize(128));
    let (mut sub, _) = accepted(&ctx, "s", c).await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    let big = vec![b'x'; 200];
    publisher.publish(&topic, &big, QoS::AtMostOnce, false, 0).await?;
    publisher.publish(&topic, &big, QoS::AtLeastOnce, false, 1).await?;
    publisher.publish(&topic, b"small", QoS::AtLeastOnce, false, 2).await?;
    // A packet over 128 bytes is judged on arrival [MQTT-3.1.2-24].
    let got = sub.recv_acked().await?;
    ensure!(&got.payload[..] == b"small", "received {} bytes", got.payload.len());
    // PINGRESP comes after the broker took the PUBACK: "small" is acknowledged before the drop.
    sub.ping().await?;
    sub.drop_connection();
    let mut c = persistent_connect(&ctx, "s", 60);
    c.properties.push(Property::MaximumPacketSize(128));
    let (mut sub, _) = accepted(&ctx, "s again", c).await?;
    sub.expect_no_publish(
        ctx.quiet(),
        "a message too large for the client was kept for it instead of being dropped [MQTT-3.1.2-25]",
    )
    .await?;
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn maximum_packet_size_inbound(ctx: Ctx) -> Outcome {
    let Some(max) = ctx.server().maximum_packet_size else {
        return Err(Stop::Skip("the broker announces no Maximum Packet Size".into()));
    };
    if max > 1 << 20 {
        return Err(Stop::Skip(format!("the broker's Maximum Packet Size is {max} bytes")));
    }
    let topic = ctx.topic("t");
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::AtMostOnce)], Properties::new()).await?;
    let mut conn = ctx.client("a").await?;
    let big = vec![b'x'; max as usize];
    conn.send_publish(&topic, &big, QoS::AtMostOnce, false, 0).await?;
    conn.expect_refusal("a PUBLISH above the broker's Maximum Packet Size [MQTT-4.13.1-1]", &[])
        .await?;
    sub.expect_no_publish(
        ctx.quiet(),
        "a PUBLISH above the broker's Maximum Packet Size was delivered",
    )
    .await?;
    sub.disconnect().await
}

async fn connack_diagnostics(ctx: Ctx) -> Outcome {
    let c = connect(
        &ctx,
        "a",
        props([
            Property::MaximumPacketSize(8),
            Property::AuthenticationMethod(super::connect::UNKNOWN_METHOD.into()),
        ]),
    );
    // The connection judges the CONNACK's size on arrival.
    let (mut conn, ack) = ctx.connect_with("a", c).await?;
    if ack.reason_code == ReasonCode::SUCCESS {
        return Err(Stop::Skip("the broker accepted an unknown Authentication Method".into()));
    }
    super::connect_refused(&mut conn, "after a refusing CONNACK").await?;
    Ok(())
}

/// The size of a plain CONNACK from this broker: a Maximum Packet Size every acknowledgement
/// fits in without diagnostics.
async fn plain_connack_size(ctx: &Ctx) -> Result<u32, Stop> {
    let conn = ctx.client("m").await?;
    let size = conn.last_packet_size();
    conn.disconnect().await?;
    Ok((size as u32).max(12))
}

async fn ack_diagnostics(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let max = plain_connack_size(&ctx).await?;
    let mut conn = client_with(&ctx, "a", props([Property::MaximumPacketSize(max)])).await?;
    let nobody = ctx.topic("nobody");
    // PUBACK and PUBREC for messages no one subscribed to (0x10 at most).
    conn.publish(&nobody, b"x", QoS::AtLeastOnce, false, 1).await?;
    conn.publish(&nobody, b"x", QoS::ExactlyOnce, false, 2).await?;
    // PUBCOMP for a PUBREL of an unknown packet id (0x92).
    conn.send(&Packet::PubRel(Ack::new(300))).await?;
    match conn.recv_control().await? {
        Packet::PubComp(a) if a.packet_id == 300 => {}
        p => fail!("PUBREL of an unknown packet id was answered with {}", conn.describe(&p)),
    }
    // UNSUBACK for a filter never subscribed (0x11); SUBACK for an invalid shared subscription,
    // which a broker may refuse with 0x8F or by closing the connection.
    conn.unsubscribe_packet(Unsubscribe {
        packet_id: 4,
        filters: vec![ctx.topic("never")],
        properties: Properties::new(),
    })
    .await?;
    let bad = format!("$share//{}", ctx.topic("t"));
    conn.send_raw(&mqttsim_codec::raw::RawPacket::new(0x82).u16(5).u8(0).utf8(&bad).u8(0).to_vec())
        .await?;
    match conn.next_within(ctx.timeout()).await? {
        Event::Packet(Packet::SubAck(_)) | Event::Closed => {}
        Event::Packet(Packet::Disconnect(d)) if d.reason_code.is_error() => {}
        Event::Packet(p) => fail!("SUBSCRIBE was answered with {}", conn.describe(&p)),
        Event::Silent => fail!("no answer to SUBSCRIBE"),
    }
    Ok(())
}

async fn disconnect_diagnostics(ctx: Ctx) -> Outcome {
    let max = plain_connack_size(&ctx).await?;
    let mut conn = client_with(&ctx, "a", props([Property::MaximumPacketSize(max)])).await?;
    // A second CONNECT is a Protocol Error; a DISCONNECT before the close is judged on arrival.
    let bytes = super::raw_connect(0x02).u8(0).utf8(&ctx.client_id("a")).to_vec();
    conn.send_raw(&bytes).await?;
    conn.expect_refusal("a second CONNECT", &[]).await?;
    Ok(())
}

async fn vbi_minimal(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut sub = ctx.client("s").await?;
    subscribed(
        &mut sub,
        1,
        vec![entry(&topic, QoS::AtMostOnce)],
        props([Property::SubscriptionIdentifier(200)]),
    )
    .await?;
    let mut publisher = ctx.client("p").await?;
    // Remaining lengths on both sides of the one-, two- and three-byte boundaries.
    let overhead = 2 + topic.len() + 1;
    let limit = ctx.server().maximum_packet_size.map_or(usize::MAX, |m| m as usize);
    let sizes: Vec<usize> = [120usize, 127, 128, 200, 16_383, 16_384, 20_000]
        .iter()
        .filter(|s| **s + 4 <= limit)
        .map(|s| s.saturating_sub(overhead).max(1))
        .collect();
    for size in &sizes {
        publisher.publish(&topic, &vec![b'v'; *size], QoS::AtMostOnce, false, 0).await?;
    }
    // The connection judges each remaining length on arrival [MQTT-1.5.5-1].
    for size in &sizes {
        let got = sub.recv_publish().await?;
        ensure!(got.payload.len() == *size, "received {} bytes, sent {size}", got.payload.len());
    }
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn problem_information(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let mut conn = client_with(&ctx, "a", props([Property::RequestProblemInformation(0)])).await?;
    let nobody = ctx.topic("nobody");
    conn.publish(&nobody, b"x", QoS::AtLeastOnce, false, 1).await?;
    conn.publish(&nobody, b"x", QoS::ExactlyOnce, false, 2).await?;
    conn.send(&Packet::PubRel(Ack::new(300))).await?;
    match conn.recv_control().await? {
        Packet::PubComp(a) if a.packet_id == 300 => {}
        p => fail!("PUBREL of an unknown packet id was answered with {}", conn.describe(&p)),
    }
    conn.unsubscribe_packet(Unsubscribe {
        packet_id: 4,
        filters: vec![ctx.topic("never")],
        properties: Properties::new(),
    })
    .await?;
    subscribed(&mut conn, 5, vec![entry(&ctx.topic("t"), QoS::AtLeastOnce)], Properties::new())
        .await?;
    conn.disconnect().await
}

async fn response_information(ctx: Ctx) -> Outcome {
    let conn = client_with(&ctx, "a", props([Property::RequestResponseInformation(0)])).await?;
    conn.disconnect().await
}
