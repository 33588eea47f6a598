//! PUBLISH: the QoS flows in both directions, flags, DUP re-delivery after a reconnect,
//! exactly-once on the server side, QoS downgrade and ordering.

use mqttsim_codec::{Ack, Packet, Publish, QoS};

use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, describe, publish, require_grants};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "qos0-delivery",
            V311,
            ["MQTT-4.3.1-1", "MQTT-3.3.1-2", "MQTT-2.3.1-5", "MQTT-4.5.0-1", "MQTT-3.3.2-3"],
            "A QoS 0 message reaches a subscriber as QoS 0, DUP 0, with topic and payload intact.",
            qos0
        ),
        check!(
            "qos1-inbound",
            V311,
            ["MQTT-3.3.4-1", "MQTT-4.3.2-2", "MQTT-2.3.1-6"],
            "A QoS 1 PUBLISH is answered with PUBACK carrying its packet id.",
            qos1_inbound
        ),
        check!(
            "qos1-outbound",
            V311,
            ["MQTT-4.3.2-1", "MQTT-2.3.1-1", "MQTT-3.3.1-3"],
            "A QoS 1 message sent with DUP 1 reaches a subscriber as QoS 1, DUP 0, with a non-zero id.",
            qos1_outbound
        ),
        check!(
            "qos1-packet-id-reuse",
            V311,
            ["MQTT-4.3.2-2"],
            "After PUBACK, a PUBLISH with the same packet id is a new message, DUP or not.",
            qos1_reuse
        ),
        check!(
            "qos2-inbound",
            V311,
            ["MQTT-3.3.4-1", "MQTT-4.3.3-2", "MQTT-2.3.1-6"],
            "A QoS 2 PUBLISH gets PUBREC, and its PUBREL gets PUBCOMP, with the same packet id.",
            qos2_inbound
        ),
        check!(
            "qos2-exactly-once",
            V311,
            ["MQTT-4.3.3-2"],
            "A QoS 2 PUBLISH re-sent before PUBREL gets PUBREC again and is delivered once.",
            qos2_exactly_once
        ),
        check!(
            "qos2-dup-first-arrival",
            V311,
            ["MQTT-4.3.3-2", "MQTT-4.5.0-1"],
            "A QoS 2 PUBLISH with DUP 1 that the broker never saw (its first send was lost) is a new message, delivered once.",
            qos2_dup_first_arrival
        ),
        check!(
            "qos2-outbound",
            V311,
            ["MQTT-4.3.3-1", "MQTT-3.6.1-1", "MQTT-2.2.2-1"],
            "A QoS 2 subscriber gets PUBLISH, then PUBREL with the same id after its PUBREC.",
            qos2_outbound
        ),
        check!(
            "qos1-redelivery-dup",
            V311,
            ["MQTT-4.4.0-1", "MQTT-3.3.1-1", "MQTT-2.3.1-4", "MQTT-4.6.0-1"],
            "Unacknowledged QoS 1 messages are re-sent on reconnect with DUP 1, same ids, same order.",
            qos1_redelivery
        ),
        check!(
            "qos2-pubrel-redelivery",
            V311,
            ["MQTT-4.4.0-1", "MQTT-4.3.3-1"],
            "An unacknowledged PUBREL is re-sent on reconnect with the same packet id.",
            qos2_pubrel_redelivery
        ),
        check!(
            "qos-downgrade",
            V311,
            ["MQTT-3.8.4-6"],
            "Delivery uses the lower of the published QoS and the granted QoS.",
            qos_downgrade
        ),
        check!(
            "retain-flag-established",
            V311,
            ["MQTT-3.3.1-9"],
            "A retained PUBLISH reaches an existing subscription with RETAIN 0.",
            retain_established
        ),
        check!(
            "message-ordering",
            V311,
            ["MQTT-4.6.0-5", "MQTT-4.6.0-6"],
            "Twenty QoS 0 and twenty pipelined QoS 1 messages arrive in the order they were sent.",
            ordering
        ),
    ]
}

async fn pair(ctx: &Ctx, topic: &str, qos: QoS) -> Result<(Conn, Conn), Stop> {
    let mut sub = ctx.client("s").await?;
    sub.subscribe_granted(1, topic, qos).await?;
    let publisher = ctx.client("p").await?;
    Ok((sub, publisher))
}

fn packet(p: &Publish) -> String {
    describe(&Packet::Publish(p.clone()))
}

async fn qos0(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("a b/ü");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    publisher.publish(&topic, b"\x00payload\xFF", QoS::AtMostOnce, false, 0).await?;
    let got = sub.recv_publish().await?;
    ensure!(got.qos == QoS::AtMostOnce, "a QoS 0 message arrived as {}", packet(&got));
    ensure!(!got.dup, "a QoS 0 message arrived with DUP 1 [MQTT-3.3.1-2]");
    ensure!(*got.topic == topic, "topic {:?} arrived as {:?} [MQTT-3.3.2-3]", topic, &*got.topic);
    ensure!(&got.payload[..] == b"\x00payload\xFF", "payload changed in transit: {}", packet(&got));
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos1_inbound(ctx: Ctx) -> Outcome {
    let mut conn = ctx.client("p").await?;
    conn.send_publish(&ctx.topic("t"), b"x", QoS::AtLeastOnce, false, 0x1234).await?;
    match conn.recv_control().await? {
        Packet::PubAck(a) => ensure!(
            a.packet_id == 0x1234,
            "PUBACK has id {} for PUBLISH 4660 [MQTT-2.3.1-6]",
            a.packet_id
        ),
        p => fail!("QoS 1 PUBLISH was answered with {} [MQTT-3.3.4-1]", describe(&p)),
    }
    conn.disconnect().await
}

async fn qos1_outbound(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    let mut dup = publish(&topic, b"one", QoS::AtLeastOnce, false, 3);
    if let Packet::Publish(p) = &mut dup {
        p.dup = true;
    }
    publisher.send(&dup).await?;
    match publisher.recv_control().await? {
        Packet::PubAck(a) if a.packet_id == 3 => {}
        p => fail!("QoS 1 PUBLISH 3 was answered with {}", describe(&p)),
    }
    let got = sub.recv_publish().await?;
    ensure!(got.qos == QoS::AtLeastOnce, "expected QoS 1, got {}", packet(&got));
    ensure!(got.packet_id != 0, "a QoS 1 PUBLISH to the subscriber has packet id 0 [MQTT-2.3.1-1]");
    ensure!(!got.dup, "the publisher's DUP 1 was propagated to the subscriber [MQTT-3.3.1-3]");
    sub.ack(&got).await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos1_reuse(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    publisher.publish(&topic, b"one", QoS::AtLeastOnce, false, 5).await?;
    let mut again = publish(&topic, b"two", QoS::AtLeastOnce, false, 5);
    if let Packet::Publish(p) = &mut again {
        p.dup = true;
    }
    publisher.send(&again).await?;
    match publisher.recv_control().await? {
        Packet::PubAck(a) if a.packet_id == 5 => {}
        p => fail!("the second PUBLISH 5 was answered with {}", describe(&p)),
    }
    let first = sub.recv_acked().await?;
    let second = sub.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "a reused packet id after PUBACK was not a new message [MQTT-4.3.2-2]: {e}"
        ))
    })?;
    ensure!(
        &first.payload[..] == b"one" && &second.payload[..] == b"two",
        "expected \"one\" then \"two\", got {} then {}",
        packet(&first),
        packet(&second)
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos2_inbound(ctx: Ctx) -> Outcome {
    let mut conn = ctx.client("p").await?;
    conn.send_publish(&ctx.topic("t"), b"x", QoS::ExactlyOnce, false, 0x0102).await?;
    match conn.recv_control().await? {
        Packet::PubRec(a) => ensure!(
            a.packet_id == 0x0102,
            "PUBREC has id {} for PUBLISH 258 [MQTT-2.3.1-6]",
            a.packet_id
        ),
        p => fail!("QoS 2 PUBLISH was answered with {} [MQTT-3.3.4-1]", describe(&p)),
    }
    conn.send(&Packet::PubRel(Ack::new(0x0102))).await?;
    match conn.recv_control().await? {
        Packet::PubComp(a) => ensure!(
            a.packet_id == 0x0102,
            "PUBCOMP has id {} for PUBREL 258 [MQTT-4.3.3-2]",
            a.packet_id
        ),
        p => fail!("PUBREL was answered with {} [MQTT-4.3.3-2]", describe(&p)),
    }
    conn.disconnect().await
}

async fn qos2_exactly_once(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::ExactlyOnce).await?;
    publisher.send_publish(&topic, b"once", QoS::ExactlyOnce, false, 3).await?;
    publisher.expect_pubrec(3).await?;
    let mut resend = publish(&topic, b"once", QoS::ExactlyOnce, false, 3);
    if let Packet::Publish(p) = &mut resend {
        p.dup = true;
    }
    publisher.send(&resend).await?;
    match publisher.recv_control().await? {
        Packet::PubRec(a) if a.packet_id == 3 => {}
        p => fail!(
            "a re-sent QoS 2 PUBLISH before PUBREL was answered with {} [MQTT-4.3.3-2]",
            describe(&p)
        ),
    }
    publisher.send(&Packet::PubRel(Ack::new(3))).await?;
    match publisher.recv_control().await? {
        Packet::PubComp(a) if a.packet_id == 3 => {}
        p => fail!("PUBREL 3 was answered with {}", describe(&p)),
    }
    let got = sub.recv_acked().await?;
    ensure!(&got.payload[..] == b"once", "expected \"once\", got {}", packet(&got));
    let again = drain_acked(&mut sub, &ctx).await?;
    ensure!(
        !again.iter().any(|p| &p.payload[..] == b"once"),
        "a QoS 2 message was delivered twice [MQTT-4.3.3-2]"
    );
    publisher.publish(&topic, b"new", QoS::ExactlyOnce, false, 3).await?;
    let got = sub.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "after PUBCOMP the same packet id was not a new message [MQTT-4.3.3-2]: {e}"
        ))
    })?;
    ensure!(&got.payload[..] == b"new", "expected \"new\", got {}", packet(&got));
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos2_dup_first_arrival(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::ExactlyOnce).await?;
    // As a client re-sends after a connection lost its first send: DUP 1, an id never used.
    let mut resend = publish(&topic, b"first", QoS::ExactlyOnce, false, 7);
    if let Packet::Publish(p) = &mut resend {
        p.dup = true;
    }
    publisher.send(&resend).await?;
    publisher.expect_pubrec(7).await?;
    publisher.send(&Packet::PubRel(Ack::new(7))).await?;
    match publisher.recv_control().await? {
        Packet::PubComp(a) if a.packet_id == 7 => {}
        p => fail!("PUBREL 7 was answered with {}", describe(&p)),
    }
    let got = drain_acked(&mut sub, &ctx).await?;
    let copies = got.iter().filter(|p| &p.payload[..] == b"first").count();
    ensure!(
        copies > 0,
        "a QoS 2 PUBLISH with DUP 1 was acknowledged (PUBREC, PUBCOMP) but never delivered: \
         DUP 1 is no proof the broker saw the message [MQTT-4.5.0-1]"
    );
    ensure!(copies == 1, "the QoS 2 message was delivered {copies} times [MQTT-4.3.3-2]");
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn qos2_outbound(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::ExactlyOnce).await?;
    publisher.publish(&topic, b"x", QoS::ExactlyOnce, false, 1).await?;
    let got = sub.recv_publish().await?;
    ensure!(
        got.qos == QoS::ExactlyOnce && !got.dup && got.packet_id != 0,
        "expected QoS 2, DUP 0, non-zero id; got {} id {}",
        packet(&got),
        got.packet_id
    );
    sub.send(&Packet::PubRec(Ack::new(got.packet_id))).await?;
    // Other PUBLISH packets may come between PUBREC and PUBREL.
    match sub.recv_control().await? {
        Packet::PubRel(a) => ensure!(
            a.packet_id == got.packet_id,
            "PUBREL has id {} for PUBLISH {} [MQTT-4.3.3-1]",
            a.packet_id,
            got.packet_id
        ),
        p => fail!("PUBREC was answered with {} [MQTT-4.3.3-1]", describe(&p)),
    }
    sub.send(&Packet::PubComp(Ack::new(got.packet_id))).await?;
    sub.ping().await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn persistent(ctx: &Ctx, label: &str, id: &str) -> Result<(Conn, bool), Stop> {
    let mut connect = ctx.connect_packet(id);
    connect.clean_start = false;
    let (conn, ack) = ctx.connect_accepted(label, connect).await?;
    Ok((conn, ack.session_present))
}

async fn qos1_redelivery(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let id = ctx.client_id("s");
    let (mut sub, _) = persistent(&ctx, "s", &id).await?;
    sub.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    let mut publisher = ctx.client("p").await?;
    for (i, payload) in [b"m1", b"m2", b"m3"].iter().enumerate() {
        publisher.publish(&topic, *payload, QoS::AtLeastOnce, false, i as u16 + 1).await?;
    }
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(sub.recv_publish().await?);
    }
    sub.drop_connection();
    let (mut sub, present) = persistent(&ctx, "s again", &id).await?;
    ensure!(present, "the resumed session got Session Present 0 [MQTT-3.2.2-2]");
    for original in &first {
        let again = sub.recv_publish().await.map_err(|e| {
            Stop::Fail(format!(
                "an unacknowledged QoS 1 message was not re-sent on reconnect [MQTT-4.4.0-1]: {e}"
            ))
        })?;
        ensure!(
            again.payload == original.payload,
            "re-sent {} where {:?} was due: order not kept [MQTT-4.6.0-1]",
            packet(&again),
            String::from_utf8_lossy(&original.payload)
        );
        ensure!(
            again.packet_id == original.packet_id,
            "re-sent with packet id {} instead of {} [MQTT-2.3.1-4]",
            again.packet_id,
            original.packet_id
        );
        ensure!(again.dup, "re-sent {} with DUP 0 [MQTT-3.3.1-1]", packet(&again));
        sub.ack(&again).await?;
    }
    sub.disconnect().await?;
    publisher.disconnect().await?;
    ctx.end_session(ctx.connect_packet(&id)).await
}

async fn qos2_pubrel_redelivery(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let id = ctx.client_id("s");
    let (mut sub, _) = persistent(&ctx, "s", &id).await?;
    sub.subscribe_granted(1, &topic, QoS::ExactlyOnce).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"redeliver", QoS::ExactlyOnce, false, 1).await?;
    let got = sub.recv_publish().await?;
    sub.send(&Packet::PubRec(Ack::new(got.packet_id))).await?;
    match sub.recv_control().await? {
        Packet::PubRel(a) if a.packet_id == got.packet_id => {}
        p => fail!("PUBREC was answered with {}", describe(&p)),
    }
    sub.drop_connection();
    let (mut sub, _) = persistent(&ctx, "s again", &id).await?;
    // Other messages of the session may come before the PUBREL.
    match sub.recv_control().await {
        Ok(Packet::PubRel(a)) => ensure!(
            a.packet_id == got.packet_id,
            "PUBREL re-sent with id {} instead of {}",
            a.packet_id,
            got.packet_id
        ),
        Ok(p) => fail!("expected the PUBREL to be re-sent, got {} [MQTT-4.4.0-1]", describe(&p)),
        Err(e) => fail!("the unacknowledged PUBREL was not re-sent [MQTT-4.4.0-1]: {e}"),
    }
    sub.send(&Packet::PubComp(Ack::new(got.packet_id))).await?;
    let later = drain_acked(&mut sub, &ctx).await?;
    ensure!(
        !later.iter().any(|p| p.payload == got.payload),
        "the PUBLISH was re-sent after its PUBREL [MQTT-4.3.3-1]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await?;
    ctx.end_session(ctx.connect_packet(&id)).await
}

/// Collects and acknowledges the PUBLISH packets that arrive until nothing comes for a quiet
/// period; any other packet or a close is a failure.
pub(crate) async fn drain_acked(conn: &mut Conn, ctx: &Ctx) -> Result<Vec<Publish>, Stop> {
    let mut got = Vec::new();
    loop {
        match conn.next_within(ctx.quiet()).await? {
            crate::conn::Event::Silent => return Ok(got),
            crate::conn::Event::Closed => {
                fail!("{}: the broker closed the connection", conn.label())
            }
            crate::conn::Event::Packet(Packet::Publish(p)) => {
                conn.ack(&p).await?;
                got.push(p);
            }
            crate::conn::Event::Packet(p) => {
                fail!("{}: unexpected {}", conn.label(), describe(&p))
            }
        }
    }
}

async fn qos_downgrade(ctx: Ctx) -> Outcome {
    let low = ctx.topic("low");
    let high = ctx.topic("high");
    let mut sub = ctx.client("s").await?;
    let asked = [(low.as_str(), QoS::AtMostOnce), (high.as_str(), QoS::AtLeastOnce)];
    let codes = sub.subscribe(1, &asked).await?;
    require_grants("s", &asked, &codes, &[QoS::AtMostOnce, QoS::AtLeastOnce])?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&low, b"1to0", QoS::AtLeastOnce, false, 1).await?;
    let got = sub.recv_acked().await?;
    ensure!(
        got.qos == QoS::AtMostOnce,
        "a QoS 1 message reached a QoS 0 subscription at QoS {} [MQTT-3.8.4-6]",
        got.qos.as_u8()
    );
    publisher.publish(&high, b"0to0", QoS::AtMostOnce, false, 0).await?;
    let got = sub.recv_acked().await?;
    ensure!(
        got.qos == QoS::AtMostOnce,
        "a QoS 0 message reached a QoS 1 subscription at QoS {} [MQTT-3.8.4-6]",
        got.qos.as_u8()
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn retain_established(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let (mut sub, mut publisher) = pair(&ctx, &topic, QoS::AtLeastOnce).await?;
    publisher.publish(&topic, b"r", QoS::AtLeastOnce, true, 1).await?;
    let got = sub.recv_acked().await?;
    ensure!(!got.retain, "a message for an established subscription has RETAIN 1 [MQTT-3.3.1-9]");
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn ordering(ctx: Ctx) -> Outcome {
    const N: u16 = 20;
    let t0 = ctx.topic("q0");
    let t1 = ctx.topic("q1");
    let mut sub = ctx.client("s").await?;
    let asked = [(t0.as_str(), QoS::AtMostOnce), (t1.as_str(), QoS::AtLeastOnce)];
    let codes = sub.subscribe(1, &asked).await?;
    require_grants("s", &asked, &codes, &[QoS::AtMostOnce, QoS::AtLeastOnce])?;
    let mut publisher = ctx.client("p").await?;
    let mut burst = bytes::BytesMut::new();
    for i in 1..=N {
        crate::wire::encode(
            &publish(&t0, format!("{i}").as_bytes(), QoS::AtMostOnce, false, 0),
            ctx.protocol(),
            &mut burst,
        )
        .map_err(|e| Stop::Fail(e.to_string()))?;
        crate::wire::encode(
            &publish(&t1, format!("{i}").as_bytes(), QoS::AtLeastOnce, false, i),
            ctx.protocol(),
            &mut burst,
        )
        .map_err(|e| Stop::Fail(e.to_string()))?;
    }
    publisher.send_raw(&burst).await?;
    for i in 1..=N {
        match publisher.recv_control().await? {
            Packet::PubAck(a) if a.packet_id == i => {}
            p => fail!("expected PUBACK {i}, got {}", describe(&p)),
        }
    }
    let (mut next0, mut next1) = (1u16, 1u16);
    while next0 <= N || next1 <= N {
        let got = sub.recv_acked().await?;
        let n: u16 = String::from_utf8_lossy(&got.payload).parse().unwrap_or(0);
        let next = if *got.topic == t0 { &mut next0 } else { &mut next1 };
        ensure!(
            n == *next,
            "on {} message {n} arrived where {} was due [MQTT-4.6.0-6]",
            &*got.topic,
            *next
        );
        *next += 1;
    }
    sub.disconnect().await?;
    publisher.disconnect().await
}
