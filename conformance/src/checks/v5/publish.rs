//! MQTT 5.0 PUBLISH: the QoS flows both ways, DUP and packet ids, re-delivery after a reconnect,
//! ordering, message properties forwarded unchanged, request/response, message expiry and topic
//! aliases.

use std::time::Duration;

use bytes::Bytes;
use mqttsim_codec::{Ack, Packet, Properties, Property, Publish, QoS, ReasonCode};

use super::{
    accepted, client_with, connected_then_refused, end_session, entry, expiry, message, need_qos1,
    need_qos2, persistent_connect, persistent_subscriber, props, raw_publish, subscribed, text,
    user_properties,
};
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "v5-qos0-delivery",
            V5,
            ["MQTT-4.3.1-1", "MQTT-3.3.1-2", "MQTT-2.2.1-2", "MQTT-3.3.2-3", "MQTT-4.5.0-1"],
            "A QoS 0 message reaches a subscriber as QoS 0, DUP 0, without packet id, topic and payload intact.",
            qos0
        ),
        check!(
            "v5-qos1-inbound",
            V5,
            ["MQTT-3.3.4-1", "MQTT-4.3.2-4", "MQTT-2.2.1-5", "MQTT-3.4.2-1"],
            "A QoS 1 PUBLISH is answered with PUBACK carrying its packet id and a success code.",
            qos1_inbound
        ),
        check!(
            "v5-qos1-outbound",
            V5,
            ["MQTT-4.3.2-1", "MQTT-4.3.2-2", "MQTT-3.3.1-3", "MQTT-2.2.1-4"],
            "A QoS 1 message sent with DUP 1 reaches a subscriber as QoS 1, DUP 0, with a non-zero id.",
            qos1_outbound
        ),
        check!(
            "v5-qos1-packet-id-reuse",
            V5,
            ["MQTT-4.3.2-5"],
            "After PUBACK, a PUBLISH with the same packet id is a new message, DUP or not.",
            qos1_reuse
        ),
        check!(
            "v5-packet-ids-in-use",
            V5,
            ["MQTT-2.2.1-4", "MQTT-4.3.2-1"],
            "Five QoS 1 messages in flight to one subscriber carry five distinct non-zero packet ids.",
            ids_in_use
        ),
        check!(
            "v5-qos1-redelivery",
            V5,
            ["MQTT-4.4.0-1", "MQTT-3.3.1-1", "MQTT-4.3.2-3", "MQTT-4.6.0-5"],
            "Unacknowledged QoS 1 messages are re-sent on reconnect with DUP 1, their ids, in order; acknowledged ones never.",
            qos1_redelivery
        ),
        check!(
            "v5-qos2-inbound",
            V5,
            [
                "MQTT-3.3.4-1",
                "MQTT-4.3.3-8",
                "MQTT-4.3.3-11",
                "MQTT-2.2.1-5",
                "MQTT-3.5.2-1",
                "MQTT-3.7.2-1"
            ],
            "A QoS 2 PUBLISH gets PUBREC, and its PUBREL gets PUBCOMP, with its packet id and success codes.",
            qos2_inbound
        ),
        check!(
            "v5-qos2-exactly-once",
            V5,
            ["MQTT-4.3.3-10"],
            "A QoS 2 PUBLISH re-sent before PUBREL gets PUBREC again and is delivered once.",
            qos2_exactly_once
        ),
        check!(
            "v5-qos2-packet-id-reuse",
            V5,
            ["MQTT-4.3.3-12"],
            "After PUBCOMP, a QoS 2 PUBLISH with the same packet id is a new message.",
            qos2_reuse
        ),
        check!(
            "v5-qos2-outbound",
            V5,
            ["MQTT-4.3.3-1", "MQTT-4.3.3-2", "MQTT-4.3.3-4", "MQTT-3.6.1-1", "MQTT-3.6.2-1"],
            "A QoS 2 subscriber gets PUBLISH (QoS 2, DUP 0), then PUBREL with the same id after its PUBREC.",
            qos2_outbound
        ),
        check!(
            "v5-qos2-publish-redelivery",
            V5,
            ["MQTT-4.3.3-3", "MQTT-4.4.0-1", "MQTT-3.3.1-1"],
            "A QoS 2 PUBLISH without PUBREC is re-sent on reconnect with DUP 1 and its packet id.",
            qos2_publish_redelivery
        ),
        check!(
            "v5-qos2-pubrel-redelivery",
            V5,
            ["MQTT-4.3.3-5", "MQTT-4.3.3-6", "MQTT-4.4.0-1"],
            "A PUBREL without PUBCOMP is re-sent on reconnect with its id, and the PUBLISH is not.",
            qos2_pubrel_redelivery
        ),
        check!(
            "v5-ack-error-acknowledges",
            V5,
            ["MQTT-4.4.0-2"],
            "A PUBACK or PUBREC of 0x80 from the subscriber ends the delivery: nothing is re-sent on reconnect.",
            ack_error_acknowledges
        ),
        check!(
            "v5-pubrec-error-then-new-message",
            V5,
            ["MQTT-4.3.3-9"],
            "After the broker answers a QoS 2 PUBLISH with PUBREC 0x80 or above, the same packet id starts a new message.",
            pubrec_error_new_message
        ),
        check!(
            "v5-qos2-expired-completes",
            V5,
            ["MQTT-4.3.3-13"],
            "A QoS 2 flow completes with PUBCOMP even after the message's expiry interval has passed.",
            qos2_expired_completes
        ),
        check!(
            "v5-no-expiry-once-sent",
            V5,
            ["MQTT-4.3.3-7"],
            "A QoS 2 message sent but not acknowledged is re-sent on reconnect even after its expiry passed.",
            no_expiry_once_sent
        ),
        check!(
            "v5-message-ordering",
            V5,
            ["MQTT-4.6.0-5", "MQTT-4.6.0-6"],
            "Twenty QoS 0 and twenty pipelined QoS 1 messages arrive in the order they were sent.",
            ordering
        ),
        check!(
            "v5-message-properties-forwarded",
            V5,
            [
                "MQTT-3.3.2-4",
                "MQTT-3.3.2-15",
                "MQTT-3.3.2-16",
                "MQTT-3.3.2-17",
                "MQTT-3.3.2-18",
                "MQTT-3.3.2-20",
                "MQTT-1.5.4-3"
            ],
            "Payload Format Indicator, Content Type, Response Topic, Correlation Data and User Properties reach every subscriber unchanged and in order.",
            properties_forwarded
        ),
        check!(
            "v5-request-response",
            V5,
            ["MQTT-3.3.2-15", "MQTT-3.3.2-16"],
            "A responder answers a request on its Response Topic with its Correlation Data, and the requester gets both back.",
            request_response
        ),
        check!(
            "v5-message-expiry-offline",
            V5,
            ["MQTT-3.3.2-5"],
            "A message whose expiry passes while its subscriber is offline is not delivered; one without expiry is.",
            expiry_offline
        ),
        check!(
            "v5-message-expiry-counts-down",
            V5,
            ["MQTT-3.3.2-6"],
            "The Message Expiry Interval forwarded is the one received less the time the message waited.",
            expiry_counts_down
        ),
        check!(
            "v5-topic-alias-inbound",
            V5,
            ["MQTT-3.3.2-12"],
            "The broker takes topic aliases 1 up to its Topic Alias Maximum and delivers on the aliased topics.",
            alias_inbound
        ),
        check!(
            "v5-topic-alias-not-carried",
            V5,
            ["MQTT-3.3.2-7", "MQTT-4.13.1-1"],
            "An alias set on one connection means nothing on the next: using it there closes the connection.",
            alias_not_carried
        ),
        check!(
            "v5-topic-alias-outbound-limit",
            V5,
            ["MQTT-3.1.2-26", "MQTT-3.3.2-11", "MQTT-3.3.2-8"],
            "Towards a client with Topic Alias Maximum 2 the broker uses no alias above 2 (nor 0), and every alias resolves.",
            alias_outbound_limit
        ),
        check!(
            "v5-no-topic-alias-outbound",
            V5,
            ["MQTT-3.1.2-27"],
            "Towards a client that announced no Topic Alias Maximum the broker sends no topic alias.",
            no_alias_outbound
        ),
    ]
}

fn describe(conn: &Conn, p: &Publish) -> String {
    conn.describe(&Packet::Publish(p.clone()))
}

async fn pair(ctx: &Ctx, topic: &str, qos: QoS) -> Result<(Conn, Conn), Stop> {
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(topic, qos)], Properties::new()).await?;
    let publisher = ctx.client("p").await?;
    Ok((sub, publisher))
}

async fn qos0(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("a b/ü");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    publisher.publish(&topic, b"\x00payload\xFF", QoS::AtMostOnce, false, 0).await?;
    // A packet id in a QoS 0 PUBLISH would be read as properties and change the payload.
    let got = sub.recv_publish().await?;
    ensure!(got.qos == QoS::AtMostOnce, "a QoS 0 message arrived as {}", describe(&sub, &got));
    ensure!(!got.dup, "a QoS 0 message arrived with DUP 1 [MQTT-3.3.1-2]");
    ensure!(*got.topic == topic, "topic {topic:?} arrived as {:?} [MQTT-3.3.2-3]", &*got.topic);
    ensure!(
        &got.payload[..] == b"\x00payload\xFF" && got.properties.is_empty(),
        "the QoS 0 message changed in transit: {} [MQTT-2.2.1-2]",
        describe(&sub, &got)
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos1_inbound(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let mut conn = ctx.client("p").await?;
    conn.send_publish(&ctx.topic("t"), b"x", QoS::AtLeastOnce, false, 0x1234).await?;
    match conn.recv_control().await? {
        Packet::PubAck(a) => {
            ensure!(
                a.packet_id == 0x1234,
                "PUBACK has id {} for PUBLISH 4660 [MQTT-2.2.1-5] [MQTT-4.3.2-4]",
                a.packet_id
            );
            ensure!(
                matches!(a.reason_code.0, 0x00 | 0x10),
                "PUBACK for a plain QoS 1 PUBLISH has reason code 0x{:02X}",
                a.reason_code.0
            );
        }
        p => fail!("QoS 1 PUBLISH was answered with {} [MQTT-3.3.4-1]", conn.describe(&p)),
    }
    conn.disconnect().await
}

async fn qos1_outbound(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    let mut dup = message(&topic, b"one", QoS::AtLeastOnce, false, 3, Properties::new());
    dup.dup = true;
    publisher.publish_packet(dup).await?;
    let got = sub.recv_publish().await?;
    ensure!(
        got.qos == QoS::AtLeastOnce,
        "expected QoS 1, got {} [MQTT-4.3.2-2]",
        describe(&sub, &got)
    );
    ensure!(got.packet_id != 0, "a QoS 1 PUBLISH to the subscriber has packet id 0 [MQTT-4.3.2-1]");
    ensure!(
        !got.dup,
        "the publisher's DUP 1 reached the subscriber's first delivery [MQTT-3.3.1-3] [MQTT-4.3.2-2]"
    );
    sub.ack(&got).await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos1_reuse(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let (sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    publisher.publish(&topic, b"one", QoS::AtLeastOnce, false, 5).await?;
    let mut again = message(&topic, b"two", QoS::AtLeastOnce, false, 5, Properties::new());
    again.dup = true;
    publisher.publish_packet(again).await?;
    one_then_two(
        sub,
        publisher,
        "a reused packet id after PUBACK was not a new message [MQTT-4.3.2-5]",
    )
    .await
}

async fn ids_in_use(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    for i in 1..=5u16 {
        publisher.publish(&topic, format!("m{i}").as_bytes(), QoS::AtLeastOnce, false, i).await?;
    }
    let mut ids = Vec::new();
    for _ in 0..5 {
        let p = sub.recv_publish().await?;
        ensure!(p.packet_id != 0, "a QoS 1 PUBLISH has packet id 0 [MQTT-2.2.1-4]");
        ids.push(p.packet_id);
    }
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    ensure!(
        distinct.len() == 5,
        "five unacknowledged QoS 1 messages to one client carry packet ids {ids:?} [MQTT-2.2.1-4]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

/// Receives `n` PUBLISH packets without acknowledging them.
async fn unacked(conn: &mut Conn, n: usize) -> Result<Vec<Publish>, Stop> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(conn.recv_publish().await?);
    }
    Ok(out)
}

async fn qos1_redelivery(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let (sub, _) = persistent_subscriber(&ctx, "s", 60, &topic, QoS::AtLeastOnce).await?;
    let mut sub = sub;
    let mut publisher = ctx.client("p").await?;
    for (i, m) in [b"one", b"two"].iter().enumerate() {
        publisher.publish(&topic, *m, QoS::AtLeastOnce, false, i as u16 + 1).await?;
    }
    let first = unacked(&mut sub, 2).await?;
    sub.drop_connection();
    let (mut sub, ack) = accepted(&ctx, "s again", persistent_connect(&ctx, "s", 60)).await?;
    ensure!(ack.session_present, "the resumed session got Session Present 0");
    let again = unacked(&mut sub, 2).await.map_err(|e| {
        Stop::Fail(format!(
            "unacknowledged QoS 1 messages were not re-sent [MQTT-4.4.0-1] [MQTT-4.3.2-3]: {e}"
        ))
    })?;
    for (a, b) in first.iter().zip(&again) {
        ensure!(
            b.dup && b.packet_id == a.packet_id && b.payload == a.payload,
            "{} was re-sent as {} (DUP 1, same id and payload expected) [MQTT-3.3.1-1] [MQTT-4.4.0-1]",
            describe(&sub, a),
            describe(&sub, b)
        );
    }
    for p in &again {
        sub.ack(p).await?;
    }
    sub.ping().await?;
    sub.disconnect().await?;
    let (mut sub, _) = accepted(&ctx, "s third", persistent_connect(&ctx, "s", 60)).await?;
    sub.expect_no_publish(ctx.quiet(), "acknowledged messages were re-sent [MQTT-4.4.0-1]").await?;
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn qos2_inbound(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let mut conn = ctx.client("p").await?;
    conn.send_publish(&ctx.topic("t"), b"x", QoS::ExactlyOnce, false, 0x0102).await?;
    match conn.recv_control().await? {
        Packet::PubRec(a) => {
            ensure!(
                a.packet_id == 0x0102,
                "PUBREC has id {} for PUBLISH 258 [MQTT-4.3.3-8] [MQTT-2.2.1-5]",
                a.packet_id
            );
            ensure!(
                !a.reason_code.is_error(),
                "a plain QoS 2 PUBLISH got PUBREC 0x{:02X}",
                a.reason_code.0
            );
        }
        p => fail!("QoS 2 PUBLISH was answered with {} [MQTT-3.3.4-1]", conn.describe(&p)),
    }
    conn.send(&Packet::PubRel(Ack::new(0x0102))).await?;
    match conn.recv_control().await? {
        Packet::PubComp(a) => {
            ensure!(
                a.packet_id == 0x0102,
                "PUBCOMP has id {} for PUBREL 258 [MQTT-4.3.3-11]",
                a.packet_id
            );
            ensure!(
                a.reason_code == ReasonCode::SUCCESS,
                "PUBCOMP for a known id has code 0x{:02X}",
                a.reason_code.0
            );
        }
        p => fail!("PUBREL was answered with {} [MQTT-4.3.3-11]", conn.describe(&p)),
    }
    conn.disconnect().await
}

async fn qos2_exactly_once(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::ExactlyOnce).await?;
    publisher.send_publish(&topic, b"once", QoS::ExactlyOnce, false, 9).await?;
    publisher.expect_pubrec(9).await?;
    let mut again = message(&topic, b"once", QoS::ExactlyOnce, false, 9, Properties::new());
    again.dup = true;
    publisher.send(&Packet::Publish(again)).await?;
    match publisher.recv_control().await? {
        Packet::PubRec(a) if a.packet_id == 9 => {}
        p => fail!(
            "a re-sent QoS 2 PUBLISH before PUBREL was answered with {} [MQTT-4.3.3-10]",
            publisher.describe(&p)
        ),
    }
    publisher.send(&Packet::PubRel(Ack::new(9))).await?;
    match publisher.recv_control().await? {
        Packet::PubComp(a) if a.packet_id == 9 => {}
        p => fail!("PUBREL 9 was answered with {}", publisher.describe(&p)),
    }
    let got = sub.recv_acked().await?;
    ensure!(&got.payload[..] == b"once", "received {:?}", text(&got));
    sub.expect_no_publish(
        ctx.quiet(),
        "a QoS 2 message re-sent before PUBREL was delivered twice [MQTT-4.3.3-10]",
    )
    .await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos2_reuse(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let (sub, mut publisher) = pair(&ctx, &topic, QoS::ExactlyOnce).await?;
    publisher.publish(&topic, b"one", QoS::ExactlyOnce, false, 4).await?;
    publisher.publish(&topic, b"two", QoS::ExactlyOnce, false, 4).await?;
    one_then_two(
        sub,
        publisher,
        "a packet id reused after PUBCOMP was not a new message [MQTT-4.3.3-12]",
    )
    .await
}

/// The subscriber gets "one" then "two" (the second, `reused`, a message sent with a packet id
/// freed by the first's acknowledgement); both clients then disconnect.
async fn one_then_two(mut sub: Conn, publisher: Conn, reused: &str) -> Outcome {
    let first = sub.recv_acked().await?;
    let second = sub.recv_acked().await.map_err(|e| Stop::Fail(format!("{reused}: {e}")))?;
    ensure!(
        &first.payload[..] == b"one" && &second.payload[..] == b"two",
        "expected \"one\" then \"two\", got {:?} then {:?}",
        text(&first),
        text(&second)
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos2_outbound(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::ExactlyOnce).await?;
    publisher.publish(&topic, b"two", QoS::ExactlyOnce, false, 1).await?;
    let got = sub.recv_publish().await?;
    ensure!(
        got.qos == QoS::ExactlyOnce && !got.dup && got.packet_id != 0,
        "the first delivery of a QoS 2 message is {} (QoS 2, DUP 0 expected) [MQTT-4.3.3-2] [MQTT-4.3.3-1]",
        describe(&sub, &got)
    );
    // The decoder judges PUBREL's fixed-header flags and its reason code.
    sub.ack(&got).await.map_err(|e| Stop::Fail(format!("{e} [MQTT-4.3.3-4]")))?;
    sub.ping().await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos2_publish_redelivery(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, _) = persistent_subscriber(&ctx, "s", 60, &topic, QoS::ExactlyOnce).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"two", QoS::ExactlyOnce, false, 1).await?;
    let first = sub.recv_publish().await?;
    sub.drop_connection();
    let (mut sub, _) = accepted(&ctx, "s again", persistent_connect(&ctx, "s", 60)).await?;
    let again = sub.recv_publish().await.map_err(|e| {
        Stop::Fail(format!(
            "a QoS 2 PUBLISH without PUBREC was not re-sent [MQTT-4.3.3-3] [MQTT-4.4.0-1]: {e}"
        ))
    })?;
    ensure!(
        again.dup && again.packet_id == first.packet_id && again.payload == first.payload,
        "{} was re-sent as {} [MQTT-3.3.1-1] [MQTT-4.4.0-1]",
        describe(&sub, &first),
        describe(&sub, &again)
    );
    sub.ack(&again).await?;
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn qos2_pubrel_redelivery(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, _) = persistent_subscriber(&ctx, "s", 60, &topic, QoS::ExactlyOnce).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"two", QoS::ExactlyOnce, false, 1).await?;
    let got = sub.recv_publish().await?;
    sub.send(&Packet::PubRec(Ack::new(got.packet_id))).await?;
    match sub.recv_control().await? {
        Packet::PubRel(a) if a.packet_id == got.packet_id => {}
        p => fail!("PUBREC was answered with {} [MQTT-4.3.3-4]", sub.describe(&p)),
    }
    sub.drop_connection();
    let (mut sub, _) = accepted(&ctx, "s again", persistent_connect(&ctx, "s", 60)).await?;
    match sub.next_within(ctx.timeout()).await? {
        Event::Packet(Packet::PubRel(a)) if a.packet_id == got.packet_id => {}
        Event::Packet(Packet::Publish(p)) => fail!(
            "after PUBREL the broker re-sent the PUBLISH: {} [MQTT-4.3.3-6]",
            describe(&sub, &p)
        ),
        Event::Packet(p) => fail!(
            "expected PUBREL {} again, got {} [MQTT-4.3.3-5]",
            got.packet_id,
            sub.describe(&p)
        ),
        Event::Closed | Event::Silent => {
            fail!(
                "the PUBREL without PUBCOMP was not re-sent on reconnect [MQTT-4.3.3-5] [MQTT-4.4.0-1]"
            )
        }
    }
    sub.send(&Packet::PubComp(Ack::new(got.packet_id))).await?;
    sub.expect_no_publish(ctx.quiet(), "after PUBREL and PUBCOMP [MQTT-4.3.3-6]").await?;
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn ack_error_acknowledges(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, _) = persistent_subscriber(&ctx, "s", 60, &topic, QoS::ExactlyOnce).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"one", QoS::AtLeastOnce, false, 1).await?;
    publisher.publish(&topic, b"two", QoS::ExactlyOnce, false, 2).await?;
    let error = |id| Ack {
        packet_id: id,
        reason_code: ReasonCode::UNSPECIFIED_ERROR,
        properties: Properties::new(),
    };
    for _ in 0..2 {
        let p = sub.recv_publish().await?;
        match p.qos {
            QoS::AtLeastOnce => sub.send(&Packet::PubAck(error(p.packet_id))).await?,
            QoS::ExactlyOnce => sub.send(&Packet::PubRec(error(p.packet_id))).await?,
            QoS::AtMostOnce => fail!("a QoS 1 or 2 message arrived as {}", describe(&sub, &p)),
        }
    }
    sub.expect_silence(ctx.quiet(), "after PUBREC 0x80 the flow is over: no PUBREL [MQTT-4.4.0-2]")
        .await?;
    sub.disconnect().await?;
    let (mut sub, _) = accepted(&ctx, "s again", persistent_connect(&ctx, "s", 60)).await?;
    sub.expect_no_publish(
        ctx.quiet(),
        "a message answered with PUBACK or PUBREC 0x80 was re-sent [MQTT-4.4.0-2]",
    )
    .await?;
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn pubrec_error_new_message(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::ExactlyOnce).await?;
    // A payload that says it is UTF-8 and is not: a broker may refuse it with 0x99.
    let bad = message(
        &topic,
        b"\xFF\xFE",
        QoS::ExactlyOnce,
        false,
        7,
        props([Property::PayloadFormatIndicator(1)]),
    );
    let rec = publisher.publish_packet(bad).await?;
    match rec {
        Some(a) if a.reason_code.is_error() => {}
        _ => {
            sub.disconnect().await?;
            publisher.disconnect().await?;
            return Err(Stop::Skip(
                "the broker accepted a payload marked UTF-8 that is not (checking it is optional), \
                 so it answered no PUBREC of 0x80 or above"
                    .into(),
            ));
        }
    }
    sub.expect_no_publish(ctx.quiet(), "a message refused with PUBREC 0x80 or above was delivered")
        .await?;
    let good = message(&topic, b"fine", QoS::ExactlyOnce, false, 7, Properties::new());
    let rec = publisher.publish_packet(good).await?;
    ensure!(
        rec.is_some_and(|a| !a.reason_code.is_error()),
        "after PUBREC 0x80 or above, a PUBLISH with the same packet id was not taken as a new message [MQTT-4.3.3-9]"
    );
    let got = sub.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "the new message with the reused packet id was not delivered [MQTT-4.3.3-9]: {e}"
        ))
    })?;
    ensure!(&got.payload[..] == b"fine", "received {:?}", text(&got));
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos2_expired_completes(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let mut conn = ctx.client("p").await?;
    let m = message(
        &ctx.topic("t"),
        b"short",
        QoS::ExactlyOnce,
        false,
        3,
        props([Property::MessageExpiryInterval(1)]),
    );
    conn.send(&Packet::Publish(m)).await?;
    conn.expect_pubrec(3).await?;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    conn.send(&Packet::PubRel(Ack::new(3))).await?;
    match conn.recv_control().await? {
        Packet::PubComp(a) if a.packet_id == 3 && a.reason_code == ReasonCode::SUCCESS => {}
        p => fail!(
            "PUBREL for an expired QoS 2 message was answered with {} [MQTT-4.3.3-13]",
            conn.describe(&p)
        ),
    }
    conn.disconnect().await
}

async fn no_expiry_once_sent(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, _) = persistent_subscriber(&ctx, "s", 60, &topic, QoS::ExactlyOnce).await?;
    let mut publisher = ctx.client("p").await?;
    let m = message(
        &topic,
        b"short",
        QoS::ExactlyOnce,
        false,
        1,
        props([Property::MessageExpiryInterval(1)]),
    );
    publisher.publish_packet(m).await?;
    let first = sub.recv_publish().await?;
    sub.drop_connection();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (mut sub, _) = accepted(&ctx, "s again", persistent_connect(&ctx, "s", 60)).await?;
    let again = sub.recv_publish().await.map_err(|e| {
        Stop::Fail(format!(
            "a QoS 2 PUBLISH already sent was dropped when its expiry passed, instead of being \
             re-sent [MQTT-4.3.3-7]: {e}"
        ))
    })?;
    ensure!(
        again.packet_id == first.packet_id && again.dup,
        "re-sent as {}",
        describe(&sub, &again)
    );
    sub.ack(&again).await?;
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn ordering(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    let mut sent = Vec::new();
    for i in 0..20u16 {
        let m = format!("q0-{i}");
        publisher.send_publish(&topic, m.as_bytes(), QoS::AtMostOnce, false, 0).await?;
        sent.push(m);
    }
    // Pipelined, within the broker's Receive Maximum.
    let window = ctx.server().receive_maximum.clamp(1, 20);
    let mut acked = 0u16;
    for i in 0..20u16 {
        let m = format!("q1-{i}");
        publisher.send_publish(&topic, m.as_bytes(), QoS::AtLeastOnce, false, i + 1).await?;
        sent.push(m);
        if i + 1 - acked >= window {
            match publisher.recv_control().await? {
                Packet::PubAck(_) => acked += 1,
                p => fail!("expected PUBACK, got {}", publisher.describe(&p)),
            }
        }
    }
    while acked < 20 {
        match publisher.recv_control().await? {
            Packet::PubAck(_) => acked += 1,
            p => fail!("expected PUBACK, got {}", publisher.describe(&p)),
        }
    }
    let mut got = Vec::new();
    for _ in 0..40 {
        got.push(text(&sub.recv_acked().await?));
    }
    // QoS 0 and QoS 1 are separate orders of the standard; each must hold.
    for prefix in ["q0-", "q1-"] {
        let want: Vec<&String> = sent.iter().filter(|m| m.starts_with(prefix)).collect();
        let have: Vec<&String> = got.iter().filter(|m| m.starts_with(prefix)).collect();
        ensure!(
            want == have,
            "messages arrived as {have:?}, sent as {want:?} [MQTT-4.6.0-5] [MQTT-4.6.0-6]"
        );
    }
    sub.disconnect().await?;
    publisher.disconnect().await
}

/// Properties that a broker must forward unchanged, with duplicated user properties in an order
/// a map would change, and a byte order mark in a value.
fn forwarded_properties(response_topic: &str) -> Properties {
    props([
        Property::PayloadFormatIndicator(1),
        Property::ContentType("text/plain; charset=utf-8".into()),
        Property::ResponseTopic(response_topic.into()),
        Property::CorrelationData(Bytes::from_static(b"\x00\x01corr\xFF")),
        Property::UserProperty("z".into(), "1".into()),
        Property::UserProperty("a".into(), "2".into()),
        Property::UserProperty("z".into(), "\u{FEFF}3".into()),
        Property::UserProperty("m".into(), "".into()),
    ])
}

/// The properties of `got` that the standard says are forwarded unchanged, in order.
fn forwarded(props: &Properties) -> Vec<Property> {
    props
        .iter()
        .filter(|p| {
            matches!(
                p,
                Property::PayloadFormatIndicator(_)
                    | Property::ContentType(_)
                    | Property::ResponseTopic(_)
                    | Property::CorrelationData(_)
                    | Property::UserProperty(..)
            )
        })
        .cloned()
        .collect()
}

async fn properties_forwarded(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t/\u{FEFF}bom");
    let mut one = ctx.client("s1").await?;
    subscribed(&mut one, 1, vec![entry(&topic, QoS::AtMostOnce)], Properties::new()).await?;
    let mut two = ctx.client("s2").await?;
    subscribed(&mut two, 1, vec![entry(&ctx.topic("t/#"), QoS::ExactlyOnce)], Properties::new())
        .await?;
    let mut publisher = ctx.client("p").await?;
    let sent = forwarded_properties(&ctx.topic("reply"));
    for (qos, id) in [(QoS::AtMostOnce, 0), (QoS::AtLeastOnce, 1), (QoS::ExactlyOnce, 2)] {
        publisher
            .publish_packet(message(&topic, "héllo".as_bytes(), qos, false, id, sent.clone()))
            .await?;
    }
    for sub in [&mut one, &mut two] {
        for _ in 0..3 {
            let got = sub.recv_acked().await?;
            ensure!(
                *got.topic == topic,
                "topic {topic:?} arrived as {:?} [MQTT-1.5.4-3]",
                &*got.topic
            );
            let have = forwarded(&got.properties);
            let want = sent.0.clone();
            if have != want {
                let (mine, theirs) = (user_properties(&sent), user_properties(&got.properties));
                let statement = if mine != theirs {
                    let mut a = mine.clone();
                    let mut b = theirs.clone();
                    a.sort();
                    b.sort();
                    if a == b { "MQTT-3.3.2-18" } else { "MQTT-3.3.2-17" }
                } else if have.iter().all(|p| !matches!(p, Property::PayloadFormatIndicator(_))) {
                    "MQTT-3.3.2-4"
                } else if have.iter().all(|p| !matches!(p, Property::ContentType(_))) {
                    "MQTT-3.3.2-20"
                } else if have.iter().all(|p| !matches!(p, Property::ResponseTopic(_))) {
                    "MQTT-3.3.2-15"
                } else {
                    "MQTT-3.3.2-16"
                };
                fail!(
                    "{}: the message's properties arrived as {have:?}, sent as {want:?} [{statement}]",
                    sub.label()
                );
            }
        }
    }
    one.disconnect().await?;
    two.disconnect().await?;
    publisher.disconnect().await
}

async fn request_response(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let requests = ctx.topic("requests");
    let replies = ctx.topic("replies/r1");
    let mut requester = ctx.client("req").await?;
    subscribed(&mut requester, 1, vec![entry(&replies, QoS::AtLeastOnce)], Properties::new())
        .await?;
    let mut responder = ctx.client("resp").await?;
    subscribed(&mut responder, 1, vec![entry(&requests, QoS::AtLeastOnce)], Properties::new())
        .await?;
    let ask = props([
        Property::ResponseTopic(replies.clone()),
        Property::CorrelationData(Bytes::from_static(b"req-42")),
    ]);
    requester
        .publish_packet(message(&requests, b"what time is it", QoS::AtLeastOnce, false, 1, ask))
        .await?;
    let request = responder.recv_acked().await?;
    let topic = request.properties.iter().find_map(|p| match p {
        Property::ResponseTopic(t) => Some(t.clone()),
        _ => None,
    });
    let corr = request.properties.iter().find_map(|p| match p {
        Property::CorrelationData(c) => Some(c.clone()),
        _ => None,
    });
    ensure!(
        topic.as_deref() == Some(replies.as_str()),
        "the request's Response Topic arrived as {topic:?} [MQTT-3.3.2-15]"
    );
    ensure!(
        corr.as_deref() == Some(&b"req-42"[..]),
        "the request's Correlation Data arrived as {corr:?} [MQTT-3.3.2-16]"
    );
    let answer = props([Property::CorrelationData(corr.unwrap_or_default())]);
    responder
        .publish_packet(message(&replies, b"noon", QoS::AtLeastOnce, false, 1, answer))
        .await?;
    let reply = requester.recv_acked().await?;
    let corr = reply.properties.iter().find_map(|p| match p {
        Property::CorrelationData(c) => Some(c.clone()),
        _ => None,
    });
    ensure!(
        &reply.payload[..] == b"noon" && corr.as_deref() == Some(&b"req-42"[..]),
        "the response arrived as {} [MQTT-3.3.2-16]",
        describe(&requester, &reply)
    );
    requester.disconnect().await?;
    responder.disconnect().await
}

async fn expiry_offline(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let (sub, _) = persistent_subscriber(&ctx, "s", 60, &topic, QoS::AtLeastOnce).await?;
    sub.disconnect().await?;
    let mut publisher = ctx.client("p").await?;
    let short = message(
        &topic,
        b"expires",
        QoS::AtLeastOnce,
        false,
        1,
        props([Property::MessageExpiryInterval(1)]),
    );
    publisher.publish_packet(short).await?;
    publisher.publish(&topic, b"stays", QoS::AtLeastOnce, false, 2).await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut sub, _) = accepted(&ctx, "s again", persistent_connect(&ctx, "s", 60)).await?;
    let got = sub.recv_acked().await?;
    ensure!(
        &got.payload[..] == b"stays",
        "a message whose expiry interval of 1 s had passed 2.5 s before was delivered: {} [MQTT-3.3.2-5]",
        describe(&sub, &got)
    );
    sub.expect_no_publish(ctx.quiet(), "an expired message was delivered [MQTT-3.3.2-5]").await?;
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn expiry_counts_down(ctx: Ctx) -> Outcome {
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    let (sub, _) = persistent_subscriber(&ctx, "s", 60, &topic, QoS::AtLeastOnce).await?;
    sub.disconnect().await?;
    let mut publisher = ctx.client("p").await?;
    let m = message(
        &topic,
        b"waits",
        QoS::AtLeastOnce,
        false,
        1,
        props([Property::MessageExpiryInterval(30)]),
    );
    let sent = tokio::time::Instant::now();
    publisher.publish_packet(m).await?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (mut sub, _) = accepted(&ctx, "s again", persistent_connect(&ctx, "s", 60)).await?;
    let got = sub.recv_acked().await?;
    let waited = sent.elapsed().as_secs_f64();
    let Some(left) = expiry(&got) else {
        fail!("a message sent with Message Expiry Interval 30 arrived without one [MQTT-3.3.2-6]");
    };
    // Whole seconds: the broker may round the time it held the message either way.
    let (low, high) = ((30.0 - waited - 1.0).floor(), 30.0 - 2.0);
    ensure!(
        f64::from(left) >= low && f64::from(left) <= high,
        "a message sent with Message Expiry Interval 30 that waited {waited:.1} s arrived with \
         {left} (expected {low} to {high}) [MQTT-3.3.2-6]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "s").await
}

async fn alias_inbound(ctx: Ctx) -> Outcome {
    let max = ctx.server().topic_alias_maximum;
    if max == 0 {
        return Err(Stop::Skip("the broker announces Topic Alias Maximum 0".into()));
    }
    let (a, b) = (ctx.topic("a"), ctx.topic("b"));
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(&ctx.topic("+"), QoS::AtMostOnce)], Properties::new())
        .await?;
    let mut publisher = ctx.client("p").await?;
    let alias = |n| props([Property::TopicAlias(n)]);
    publisher.publish_packet(message(&a, b"one", QoS::AtMostOnce, false, 0, alias(1))).await?;
    publisher.publish_packet(message("", b"two", QoS::AtMostOnce, false, 0, alias(1))).await?;
    publisher.publish_packet(message(&b, b"three", QoS::AtMostOnce, false, 0, alias(max))).await?;
    publisher.publish_packet(message("", b"four", QoS::AtMostOnce, false, 0, alias(max))).await?;
    publisher.ping().await.map_err(|e| {
        Stop::Fail(format!(
            "topic aliases 1 and {max} (the broker's maximum) were refused [MQTT-3.3.2-12]: {e}"
        ))
    })?;
    let want = [(&a, "one"), (&a, "two"), (&b, "three"), (&b, "four")];
    for (topic, payload) in want {
        let got = sub.recv_publish().await?;
        ensure!(
            *got.topic == **topic && text(&got) == payload,
            "expected {payload:?} on {topic:?}, got {} [MQTT-3.3.2-12]",
            describe(&sub, &got)
        );
    }
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn alias_not_carried(ctx: Ctx) -> Outcome {
    if ctx.server().topic_alias_maximum == 0 {
        return Err(Stop::Skip("the broker announces Topic Alias Maximum 0".into()));
    }
    let topic = ctx.topic("a");
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::AtMostOnce)], Properties::new()).await?;
    let mut first = client_with(&ctx, "p", Properties::new()).await?;
    first
        .publish_packet(message(
            &topic,
            b"one",
            QoS::AtMostOnce,
            false,
            0,
            props([Property::TopicAlias(1)]),
        ))
        .await?;
    first.ping().await?;
    first.disconnect().await?;
    let got = sub.recv_publish().await?;
    ensure!(&got.payload[..] == b"one", "received {:?}", text(&got));
    let bytes = raw_publish("", &[0x23, 0x00, 0x01], b"two").to_vec();
    connected_then_refused(
        &ctx,
        &bytes,
        &[],
        "a topic alias set on an earlier connection [MQTT-3.3.2-7]",
    )
    .await?;
    sub.expect_no_publish(
        ctx.quiet(),
        "an alias from an earlier connection was used [MQTT-3.3.2-7]",
    )
    .await?;
    sub.disconnect().await
}

/// Publishes to six topics towards a subscriber with these CONNECT properties, and requires
/// each message on its own topic (the connection judges the aliases).
async fn six_topics(ctx: &Ctx, properties: Properties) -> Outcome {
    let mut sub = client_with(ctx, "s", properties).await?;
    subscribed(&mut sub, 1, vec![entry(&ctx.topic("+"), QoS::AtMostOnce)], Properties::new())
        .await?;
    let mut publisher = ctx.client("p").await?;
    let topics: Vec<String> = (0..6).map(|i| ctx.topic(&format!("t{}", i % 3))).collect();
    // The publisher uses aliases of its own where the broker allows them: they belong to its
    // connection, and must not reach the subscriber (MQTTnet#2199).
    let aliases = ctx.server().topic_alias_maximum >= 3;
    for (i, t) in topics.iter().enumerate() {
        let payload = format!("m{i}");
        if aliases {
            let alias = (i % 3) as u16 + 1;
            let topic = if i < 3 { t.as_str() } else { "" };
            let p = props([Property::TopicAlias(alias)]);
            let m = super::message(topic, payload.as_bytes(), QoS::AtMostOnce, false, 0, p);
            publisher.send(&Packet::Publish(m)).await?;
        } else {
            publisher.publish(t, payload.as_bytes(), QoS::AtMostOnce, false, 0).await?;
        }
    }
    for (i, t) in topics.iter().enumerate() {
        let got = sub.recv_publish().await?;
        ensure!(
            *got.topic == **t && text(&got) == format!("m{i}"),
            "expected m{i} on {t:?}, got {}",
            describe(&sub, &got)
        );
    }
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn alias_outbound_limit(ctx: Ctx) -> Outcome {
    six_topics(&ctx, props([Property::TopicAliasMaximum(2)])).await
}

async fn no_alias_outbound(ctx: Ctx) -> Outcome {
    six_topics(&ctx, Properties::new()).await
}
