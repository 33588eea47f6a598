//! Shared subscriptions (`$share/{ShareName}/{filter}`): one member per message, the member's
//! granted QoS, a QoS 2 delivery that belongs to its member through reconnects and session
//! ends, a refused delivery that goes to no other member, and invalid share names.

use std::time::Duration;

use mqttsim_codec::{Ack, Packet, Properties, QoS, ReasonCode, RetainHandling};

use super::{
    accepted, end_session, entry, entry_with, need_qos1, need_qos2, need_shared,
    persistent_connect, subscribe, subscribed, text,
};
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "v5-shared-one-member",
            V5,
            ["MQTT-4.8.2-1", "MQTT-4.8.2-2"],
            "Each message to a shared subscription of two members reaches exactly one of them.",
            one_member
        ),
        check!(
            "v5-shared-invalid-names",
            V5,
            ["MQTT-4.8.2-1", "MQTT-4.8.2-2"],
            "Share names that are empty or hold '+' or '#', and a share without a filter, are refused.",
            invalid_names
        ),
        check!(
            "v5-shared-granted-qos",
            V5,
            ["MQTT-4.8.2-3"],
            "A member granted QoS 0 gets a QoS 1 message at QoS 0.",
            granted_qos
        ),
        check!(
            "v5-shared-qos2-resumed",
            V5,
            ["MQTT-4.8.2-4"],
            "A QoS 2 message in flight to a member that drops is completed to that member when it returns, not to another.",
            qos2_resumed
        ),
        check!(
            "v5-shared-qos2-session-ends",
            V5,
            ["MQTT-4.8.2-5"],
            "A QoS 2 message in flight to a member whose session ends goes to no other member.",
            qos2_session_ends
        ),
        check!(
            "v5-shared-refused-not-redistributed",
            V5,
            ["MQTT-4.8.2-6"],
            "A message the chosen member refuses with PUBACK 0x80 is not sent to another member.",
            refused_not_redistributed
        ),
        check!(
            "v5-shared-member-left",
            V5,
            ["MQTT-4.5.0-1"],
            "After a member's session ends, every message to the group reaches the member left.",
            member_left
        ),
        check!(
            "v5-shared-no-local",
            V5,
            ["MQTT-3.8.3-4", "MQTT-4.13.1-1"],
            "No Local on a shared subscription is a Protocol Error: the connection closes.",
            no_local
        ),
    ]
}

fn share(ctx: &Ctx, group: &str) -> String {
    format!("$share/{group}/{}", ctx.topic("t"))
}

/// A member of the group `g` of this check, subscribed at `qos`.
async fn member(ctx: &Ctx, tag: &str, qos: QoS) -> Result<Conn, Stop> {
    let mut conn = ctx.client(tag).await?;
    subscribed(&mut conn, 1, vec![entry(&share(ctx, "g"), qos)], Properties::new()).await?;
    Ok(conn)
}

async fn one_member(ctx: Ctx) -> Outcome {
    need_shared(&ctx)?;
    let mut a = member(&ctx, "a", QoS::AtMostOnce).await?;
    let mut b = member(&ctx, "b", QoS::AtMostOnce).await?;
    let mut publisher = ctx.client("p").await?;
    for i in 0..6 {
        publisher
            .publish(&ctx.topic("t"), format!("m{i}").as_bytes(), QoS::AtMostOnce, false, 0)
            .await?;
    }
    let mut got = Vec::new();
    for conn in [&mut a, &mut b] {
        got.extend(super::subscribe::drain(conn, &ctx).await?.iter().map(text));
    }
    got.sort();
    let want: Vec<String> = (0..6).map(|i| format!("m{i}")).collect();
    ensure!(
        got == want,
        "six messages to a shared subscription of two members arrived as {got:?} across the members \
         (each exactly once expected) [MQTT-4.8.2-1] [MQTT-4.8.2-2]"
    );
    a.disconnect().await?;
    b.disconnect().await?;
    publisher.disconnect().await
}

async fn invalid_names(ctx: Ctx) -> Outcome {
    need_shared(&ctx)?;
    let t = ctx.topic("t");
    let cases = [
        ("a", "$share//".to_string() + &t, "an empty ShareName [MQTT-4.8.2-1]"),
        ("b", format!("$share/a+b/{t}"), "a ShareName holding '+' [MQTT-4.8.2-2]"),
        ("c", format!("$share/a#b/{t}"), "a ShareName holding '#' [MQTT-4.8.2-2]"),
        ("d", "$share/g".to_string(), "a ShareName without a Topic Filter [MQTT-4.8.2-2]"),
    ];
    let mut granted = Vec::new();
    for (tag, filter, why) in cases {
        let mut conn = ctx.client(tag).await?;
        conn.send_raw(
            &mqttsim_codec::raw::RawPacket::new(0x82).u16(1).u8(0).utf8(&filter).u8(0).to_vec(),
        )
        .await?;
        match conn.next_within(ctx.timeout()).await? {
            Event::Packet(Packet::SubAck(a))
                if a.reason_codes.len() == 1 && a.reason_codes[0].is_error() => {}
            Event::Packet(Packet::SubAck(a)) => {
                granted.push(format!(
                    "{why}: {filter:?} got {}",
                    conn.describe(&Packet::SubAck(a.clone()))
                ));
                conn.disconnect().await?;
            }
            Event::Packet(Packet::Disconnect(d)) if d.reason_code.is_error() => {
                conn.expect_close(why).await?
            }
            Event::Closed => {}
            Event::Packet(p) => {
                fail!("{tag}: {why}: SUBSCRIBE was answered with {}", conn.describe(&p))
            }
            Event::Silent => fail!("{tag}: {why}: no SUBACK and no close"),
        }
    }
    ensure!(
        granted.is_empty(),
        "invalid shared subscriptions were granted: {}",
        granted.join("; ")
    );
    Ok(())
}

async fn granted_qos(ctx: Ctx) -> Outcome {
    need_shared(&ctx)?;
    need_qos1(&ctx)?;
    let mut a = member(&ctx, "a", QoS::AtMostOnce).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&ctx.topic("t"), b"m", QoS::AtLeastOnce, false, 1).await?;
    let got = a.recv_acked().await?;
    ensure!(
        got.qos == QoS::AtMostOnce,
        "a member granted QoS 0 got a QoS 1 message as {} [MQTT-4.8.2-3]",
        a.describe(&Packet::Publish(got.clone()))
    );
    a.disconnect().await?;
    publisher.disconnect().await
}

/// A persistent member `a` (Session Expiry Interval `expiry`) alone in the group gets a QoS 2
/// message and holds it unacknowledged; then `b` joins, and `a` drops its connection.
async fn in_flight_to_a(
    ctx: &Ctx,
    expiry: u32,
) -> Result<(mqttsim_codec::Publish, Conn, Conn), Stop> {
    need_shared(ctx)?;
    need_qos2(ctx)?;
    let (mut a, _) = accepted(ctx, "a", persistent_connect(ctx, "a", expiry)).await?;
    subscribed(&mut a, 1, vec![entry(&share(ctx, "g"), QoS::ExactlyOnce)], Properties::new())
        .await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&ctx.topic("t"), b"owned by a", QoS::ExactlyOnce, false, 1).await?;
    let got = a.recv_publish().await?;
    let b = member(ctx, "b", QoS::ExactlyOnce).await?;
    a.drop_connection();
    Ok((got, b, publisher))
}

async fn qos2_resumed(ctx: Ctx) -> Outcome {
    let (first, mut b, publisher) = in_flight_to_a(&ctx, 60).await?;
    b.expect_no_publish(
        ctx.quiet(),
        "another member got the QoS 2 message in flight to a member that dropped [MQTT-4.8.2-4]",
    )
    .await?;
    let (mut a, _) = accepted(&ctx, "a again", persistent_connect(&ctx, "a", 60)).await?;
    let again = a.recv_publish().await.map_err(|e| {
        Stop::Fail(format!("the QoS 2 message in flight was not completed to its member on reconnect [MQTT-4.8.2-4]: {e}"))
    })?;
    ensure!(
        again.packet_id == first.packet_id && again.payload == first.payload,
        "re-sent as {} [MQTT-4.8.2-4]",
        a.describe(&Packet::Publish(again.clone()))
    );
    a.ack(&again).await?;
    b.expect_no_publish(ctx.quiet(), "another member got the message too [MQTT-4.8.2-4]").await?;
    a.disconnect().await?;
    b.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "a").await
}

async fn qos2_session_ends(ctx: Ctx) -> Outcome {
    let (_, mut b, publisher) = in_flight_to_a(&ctx, 1).await?;
    // The member's session ends a second after its connection; give the broker time to act.
    match b.next_within(Duration::from_millis(2500) + ctx.quiet()).await? {
        Event::Silent => {}
        Event::Packet(Packet::Publish(p)) => fail!(
            "the QoS 2 message in flight to a member whose session ended was sent to another \
             member: {} [MQTT-4.8.2-5]",
            b.describe(&Packet::Publish(p))
        ),
        Event::Packet(p) => fail!("unexpected {}", b.describe(&p)),
        Event::Closed => fail!("the other member was disconnected"),
    }
    b.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "a").await
}

async fn refused_not_redistributed(ctx: Ctx) -> Outcome {
    need_shared(&ctx)?;
    need_qos1(&ctx)?;
    let mut a = member(&ctx, "a", QoS::AtLeastOnce).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&ctx.topic("t"), b"refused", QoS::AtLeastOnce, false, 1).await?;
    let got = a.recv_publish().await?;
    let mut b = member(&ctx, "b", QoS::AtLeastOnce).await?;
    let refuse = Ack {
        packet_id: got.packet_id,
        reason_code: ReasonCode::UNSPECIFIED_ERROR,
        properties: Properties::new(),
    };
    a.send(&Packet::PubAck(refuse)).await?;
    b.expect_no_publish(
        ctx.quiet(),
        "a message refused by its member with PUBACK 0x80 went to another member [MQTT-4.8.2-6]",
    )
    .await?;
    a.expect_no_publish(
        ctx.quiet(),
        "a message refused with PUBACK 0x80 was sent again [MQTT-4.8.2-6]",
    )
    .await?;
    a.disconnect().await?;
    b.disconnect().await?;
    publisher.disconnect().await
}

async fn member_left(ctx: Ctx) -> Outcome {
    need_shared(&ctx)?;
    need_qos1(&ctx)?;
    let a = member(&ctx, "a", QoS::AtLeastOnce).await?;
    let mut b = member(&ctx, "b", QoS::AtLeastOnce).await?;
    // A session without expiry ends with its connection: `a` is no member any more.
    a.disconnect().await?;
    let mut publisher = ctx.client("p").await?;
    for i in 0..4u16 {
        let payload = format!("m{i}");
        publisher
            .publish(&ctx.topic("t"), payload.as_bytes(), QoS::AtLeastOnce, false, i + 1)
            .await?;
    }
    let got: Vec<String> = super::subscribe::drain(&mut b, &ctx).await?.iter().map(text).collect();
    let want: Vec<String> = (0..4).map(|i| format!("m{i}")).collect();
    ensure!(
        got == want,
        "four QoS 1 messages to a group whose only other member's session had ended reached the \
         member left as {got:?} [MQTT-4.5.0-1]"
    );
    b.disconnect().await?;
    publisher.disconnect().await
}

async fn no_local(ctx: Ctx) -> Outcome {
    need_shared(&ctx)?;
    let mut conn = ctx.client("a").await?;
    let f = entry_with(
        &share(&ctx, "g"),
        QoS::AtMostOnce,
        true,
        false,
        RetainHandling::SendAtSubscribe,
    );
    conn.send(&Packet::Subscribe(subscribe(1, vec![f], Properties::new()))).await?;
    conn.expect_refusal("No Local on a shared subscription [MQTT-3.8.3-4]", &[]).await?;
    Ok(())
}
