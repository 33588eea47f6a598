//! CONNECT and CONNACK: return codes, malformed CONNECTs, client ids, sessions, takeover.

use mqttsim_codec::raw::RawPacket;
use mqttsim_codec::{Packet, QoS, ReasonCode};

use super::{baseline, connect_v311, connected_then_closes, first_packet_closes};
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event, describe};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "connect-accepted",
            V311,
            ["MQTT-3.1.4-4", "MQTT-3.2.0-1", "MQTT-3.2.2-1"],
            "A valid clean-session CONNECT gets CONNACK 0 with Session Present 0 as the first packet.",
            accepted
        ),
        check!(
            "client-id-23-chars",
            V311,
            ["MQTT-3.1.3-5"],
            "A client id of 23 alphanumeric characters is accepted.",
            id_23_chars
        ),
        check!(
            "connect-unsupported-level",
            V311,
            ["MQTT-3.1.2-2", "MQTT-3.2.2-4", "MQTT-3.2.2-5"],
            "Protocol level 6 gets CONNACK 0x01 with Session Present 0, then a close.",
            unsupported_level
        ),
        check!(
            "connect-bad-protocol-name",
            V311,
            ["MQTT-3.1.2-1"],
            "Protocol name MQTX is not accepted as MQTT 3.1.1.",
            bad_protocol_name
        ),
        check!(
            "connect-reserved-flag",
            V311,
            ["MQTT-3.1.2-3", "MQTT-3.1.4-1", "MQTT-3.2.2-6"],
            "A CONNECT with the reserved flag set is closed without CONNACK.",
            reserved_flag
        ),
        check!(
            "connect-second-connect",
            V311,
            ["MQTT-3.1.0-2", "MQTT-4.8.0-1"],
            "A second CONNECT on a connection closes it.",
            second_connect
        ),
        check!(
            "connect-not-first",
            V311,
            ["MQTT-4.8.0-1", "MQTT-3.2.0-1"],
            "A PINGREQ before CONNECT closes the connection without any answer.",
            not_first
        ),
        check!(
            "connect-will-qos-3",
            V311,
            ["MQTT-3.1.2-14", "MQTT-3.1.4-1"],
            "A Will QoS of 3 closes the connection without CONNACK.",
            will_qos_3
        ),
        check!(
            "connect-will-qos-without-will",
            V311,
            ["MQTT-3.1.2-13", "MQTT-3.1.2-11"],
            "Will QoS 1 without the Will flag closes the connection.",
            will_qos_without_will
        ),
        check!(
            "connect-will-retain-without-will",
            V311,
            ["MQTT-3.1.2-15", "MQTT-3.1.2-11"],
            "Will retain without the Will flag closes the connection.",
            will_retain_without_will
        ),
        check!(
            "connect-will-fields-missing",
            V311,
            ["MQTT-3.1.2-9", "MQTT-3.1.4-1"],
            "The Will flag without Will topic and message closes the connection.",
            will_fields_missing
        ),
        check!(
            "connect-password-without-username",
            V311,
            ["MQTT-3.1.2-22"],
            "The password flag without the user name flag closes the connection.",
            password_without_username
        ),
        check!(
            "connect-username-missing",
            V311,
            ["MQTT-3.1.2-19"],
            "The user name flag without a user name closes the connection.",
            username_missing
        ),
        check!(
            "connect-password-missing",
            V311,
            ["MQTT-3.1.2-21"],
            "The password flag without a password closes the connection.",
            password_missing
        ),
        check!(
            "connect-unflagged-fields",
            V311,
            ["MQTT-3.1.2-18", "MQTT-3.1.2-20"],
            "A user name and password present without their flags close the connection.",
            unflagged_fields
        ),
        check!(
            "client-id-bad-utf8",
            V311,
            ["MQTT-3.1.3-4", "MQTT-1.5.3-1"],
            "A client id that is not UTF-8 is not accepted and the connection closes.",
            id_bad_utf8
        ),
        check!(
            "client-id-surrogate",
            V311,
            ["MQTT-1.5.3-1"],
            "A client id encoding U+D800 is not accepted and the connection closes.",
            id_surrogate
        ),
        check!(
            "client-id-null-char",
            V311,
            ["MQTT-1.5.3-2"],
            "A client id containing U+0000 is not accepted and the connection closes.",
            id_null
        ),
        check!(
            "will-topic-bad-utf8",
            V311,
            ["MQTT-3.1.3-10", "MQTT-1.5.3-1"],
            "A Will topic that is not UTF-8 is not accepted and the connection closes.",
            will_topic_bad_utf8
        ),
        check!(
            "username-bad-utf8",
            V311,
            ["MQTT-3.1.3-11", "MQTT-1.5.3-1"],
            "A user name that is not UTF-8 is not accepted and the connection closes.",
            username_bad_utf8
        ),
        check!(
            "client-id-empty-persistent",
            V311,
            ["MQTT-3.1.3-8", "MQTT-3.1.3-9", "MQTT-3.2.2-4", "MQTT-3.2.2-5"],
            "An empty client id with CleanSession 0 gets CONNACK 0x02, then a close.",
            empty_id_persistent
        ),
        check!(
            "client-id-empty-clean",
            V311,
            ["MQTT-3.1.3-6"],
            "Two clients with empty ids both stay connected, each with its own assigned id.",
            empty_id_clean
        ),
        check!(
            "connect-takeover",
            V311,
            ["MQTT-3.1.4-2"],
            "A second client with the same id is accepted and the first is disconnected.",
            takeover
        ),
        check!(
            "session-present",
            V311,
            ["MQTT-3.2.2-2", "MQTT-3.2.2-3", "MQTT-3.1.2-4", "MQTT-4.1.0-1", "MQTT-3.1.3-2"],
            "A persistent session starts with Session Present 0, resumes with 1 and keeps its subscription.",
            session_present
        ),
        check!(
            "clean-session-discards",
            V311,
            ["MQTT-3.1.2-6", "MQTT-3.2.2-1", "MQTT-3.1.4-3"],
            "CleanSession 1 discards a stored session and its subscriptions.",
            clean_discards
        ),
        check!(
            "session-stores-offline",
            V311,
            ["MQTT-3.1.2-5", "MQTT-4.5.0-1", "MQTT-4.1.0-1"],
            "QoS 1 messages published while a persistent session is offline are delivered on return.",
            stores_offline
        ),
        check!(
            "rejected-connect-ignores-data",
            V311,
            ["MQTT-3.1.4-5"],
            "A PUBLISH sent right after a refused CONNECT is not processed.",
            rejected_ignores_data
        ),
    ]
}

/// Connects with CleanSession 0.
async fn persistent(ctx: &Ctx, label: &str, client_id: &str) -> Result<(Conn, bool), Stop> {
    let mut connect = ctx.connect_packet(client_id);
    connect.clean_start = false;
    let (conn, ack) = ctx.connect_accepted(label, connect).await?;
    Ok((conn, ack.session_present))
}

async fn accepted(ctx: Ctx) -> Outcome {
    let (conn, ack) = ctx.connect_accepted("a", ctx.connect_packet(&ctx.client_id("a"))).await?;
    ensure!(
        !ack.session_present,
        "CONNACK for CleanSession 1 has Session Present 1 [MQTT-3.2.2-1]"
    );
    conn.disconnect().await
}

async fn id_23_chars(ctx: Ctx) -> Outcome {
    let mut id = ctx.client_id("x");
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut i = 0;
    while id.len() < 23 {
        id.push(alphabet[i % alphabet.len()] as char);
        i += 7;
    }
    let (mut conn, _) = ctx.connect_accepted("a", ctx.connect_packet(&id)).await?;
    conn.ping().await
}

async fn unsupported_level(ctx: Ctx) -> Outcome {
    let mut conn = ctx.open("a").await?;
    let id = ctx.client_id("a");
    conn.send_raw(&RawPacket::new(0x10).utf8("MQTT").u8(6).u8(0x02).u16(60).utf8(&id).to_vec())
        .await?;
    match conn.recv().await? {
        Packet::ConnAck(a) => {
            ensure!(
                a.reason_code == ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
                "protocol level 6 was answered with {} instead of return code 1 [MQTT-3.1.2-2]",
                describe(&Packet::ConnAck(a.clone()))
            );
            ensure!(!a.session_present, "a refusing CONNACK has Session Present 1 [MQTT-3.2.2-4]");
        }
        p => fail!(
            "protocol level 6 was answered with {} instead of CONNACK 1 [MQTT-3.1.2-2]",
            describe(&p)
        ),
    }
    conn.expect_close("after CONNACK 0x01 [MQTT-3.2.2-5]").await
}

async fn bad_protocol_name(ctx: Ctx) -> Outcome {
    baseline(&ctx).await?;
    let mut conn = ctx.open("a").await?;
    conn.send_raw(
        &RawPacket::new(0x10)
            .utf8("MQTX")
            .u8(4)
            .u8(0x02)
            .u16(60)
            .utf8(&ctx.client_id("a"))
            .to_vec(),
    )
    .await?;
    super::close_after(&ctx, &mut conn, "protocol name MQTX [MQTT-3.1.2-1]", true).await
}

async fn reserved_flag(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x03, 60).utf8(&ctx.client_id("a")).to_vec();
    first_packet_closes(&ctx, &bytes, "CONNECT with reserved flag 1 [MQTT-3.1.2-3]").await
}

async fn second_connect(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x02, 60).utf8(&ctx.client_id("a")).to_vec();
    connected_then_closes(&ctx, &bytes, "a second CONNECT [MQTT-3.1.0-2]").await
}

async fn not_first(ctx: Ctx) -> Outcome {
    first_packet_closes(&ctx, &[0xC0, 0x00], "PINGREQ before CONNECT [MQTT-4.8.0-1]").await
}

async fn will_qos_3(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let bytes = connect_v311(0x1E, 60).utf8(&ctx.client_id("a")).utf8(&topic).utf8("w").to_vec();
    first_packet_closes(&ctx, &bytes, "Will QoS 3 [MQTT-3.1.2-14]").await
}

async fn will_qos_without_will(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x0A, 60).utf8(&ctx.client_id("a")).to_vec();
    first_packet_closes(&ctx, &bytes, "Will QoS 1 with Will flag 0 [MQTT-3.1.2-13]").await
}

async fn will_retain_without_will(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x22, 60).utf8(&ctx.client_id("a")).to_vec();
    first_packet_closes(&ctx, &bytes, "Will retain 1 with Will flag 0 [MQTT-3.1.2-15]").await
}

async fn will_fields_missing(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x06, 60).utf8(&ctx.client_id("a")).to_vec();
    first_packet_closes(&ctx, &bytes, "Will flag without Will topic and message [MQTT-3.1.2-9]")
        .await
}

async fn password_without_username(ctx: Ctx) -> Outcome {
    baseline(&ctx).await?;
    let bytes = connect_v311(0x42, 60).utf8(&ctx.client_id("a")).utf8("secret").to_vec();
    let mut conn = ctx.open("a").await?;
    conn.send_raw(&bytes).await?;
    super::close_after(
        &ctx,
        &mut conn,
        "password flag 1 with user name flag 0 [MQTT-3.1.2-22]",
        true,
    )
    .await
}

async fn username_missing(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x82, 60).utf8(&ctx.client_id("a")).to_vec();
    first_packet_closes(&ctx, &bytes, "user name flag 1 without a user name [MQTT-3.1.2-19]").await
}

async fn password_missing(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0xC2, 60).utf8(&ctx.client_id("a")).utf8("user").to_vec();
    first_packet_closes(&ctx, &bytes, "password flag 1 without a password [MQTT-3.1.2-21]").await
}

async fn unflagged_fields(ctx: Ctx) -> Outcome {
    let bytes =
        connect_v311(0x02, 60).utf8(&ctx.client_id("a")).utf8("user").utf8("secret").to_vec();
    first_packet_closes(&ctx, &bytes, "user name and password without their flags [MQTT-3.1.2-18]")
        .await
}

async fn refused_field(ctx: &Ctx, bytes: Vec<u8>, why: &str) -> Outcome {
    baseline(ctx).await?;
    let mut conn = ctx.open("a").await?;
    conn.send_raw(&bytes).await?;
    super::close_after(ctx, &mut conn, why, true).await
}

async fn id_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x02, 60).binary(b"ab\xC3\x28").to_vec();
    refused_field(&ctx, bytes, "client id bytes C3 28 [MQTT-1.5.3-1]").await
}

async fn id_surrogate(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x02, 60).binary(b"ab\xED\xA0\x80").to_vec();
    refused_field(&ctx, bytes, "client id encoding U+D800 [MQTT-1.5.3-1]").await
}

async fn id_null(ctx: Ctx) -> Outcome {
    let mut id = ctx.client_id("a").into_bytes();
    id.insert(2, 0);
    let bytes = connect_v311(0x02, 60).binary(&id).to_vec();
    refused_field(&ctx, bytes, "client id containing U+0000 [MQTT-1.5.3-2]").await
}

async fn will_topic_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes =
        connect_v311(0x06, 60).utf8(&ctx.client_id("a")).binary(b"will/\xFF").utf8("w").to_vec();
    refused_field(&ctx, bytes, "Will topic with byte FF [MQTT-3.1.3-10]").await
}

async fn username_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = connect_v311(0x82, 60).utf8(&ctx.client_id("a")).binary(b"user\xC0\x80").to_vec();
    refused_field(&ctx, bytes, "user name with overlong encoding C0 80 [MQTT-3.1.3-11]").await
}

async fn empty_id_persistent(ctx: Ctx) -> Outcome {
    // Built by hand: an encoder may rightly refuse an empty id without CleanSession.
    let mut conn = ctx.open("a").await?;
    conn.send_raw(&connect_v311(0x00, 60).utf8("").to_vec()).await?;
    let ack = match conn.recv().await? {
        Packet::ConnAck(ack) => ack,
        p => fail!("an empty client id with CleanSession 0 was answered with {}", describe(&p)),
    };
    ensure!(
        ack.reason_code == ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
        "an empty client id with CleanSession 0 got {} instead of return code 2 [MQTT-3.1.3-8]",
        describe(&Packet::ConnAck(ack.clone()))
    );
    ensure!(!ack.session_present, "a refusing CONNACK has Session Present 1 [MQTT-3.2.2-4]");
    conn.expect_close("after CONNACK 0x02 [MQTT-3.2.2-5]").await
}

async fn empty_id_clean(ctx: Ctx) -> Outcome {
    let (mut first, ack) = ctx.connect_with("first", ctx.connect_packet("")).await?;
    if ack.reason_code == ReasonCode::CLIENT_IDENTIFIER_NOT_VALID {
        return Err(Stop::Skip("the broker does not allow empty client ids (CONNACK 0x02)".into()));
    }
    ensure!(
        ack.reason_code == ReasonCode::SUCCESS,
        "an empty client id got {}",
        describe(&Packet::ConnAck(ack))
    );
    let (mut second, ack) = ctx.connect_accepted("second", ctx.connect_packet("")).await?;
    ensure!(!ack.session_present, "an empty client id got Session Present 1");
    second.ping().await?;
    first.ping().await.map_err(|e| {
        Stop::Fail(format!("two clients with empty ids were not kept apart [MQTT-3.1.3-6]: {e}"))
    })?;
    first.disconnect().await?;
    second.disconnect().await
}

async fn takeover(ctx: Ctx) -> Outcome {
    let id = ctx.client_id("a");
    let (mut first, _) = ctx.connect_accepted("first", ctx.connect_packet(&id)).await?;
    let (mut second, _) = ctx.connect_accepted("second", ctx.connect_packet(&id)).await?;
    first
        .expect_close("the first client after a second connected with its id [MQTT-3.1.4-2]")
        .await?;
    second.ping().await?;
    second.disconnect().await
}

async fn session_present(ctx: Ctx) -> Outcome {
    let id = ctx.client_id("a");
    let topic = ctx.topic("t");
    let (mut conn, present) = persistent(&ctx, "a", &id).await?;
    ensure!(!present, "a new persistent session got Session Present 1 [MQTT-3.2.2-3]");
    conn.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    conn.disconnect().await?;
    let (mut conn, present) = persistent(&ctx, "a again", &id).await?;
    ensure!(present, "a resumed persistent session got Session Present 0 [MQTT-3.2.2-2]");
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"kept", QoS::AtLeastOnce, false, 1).await?;
    let got = conn.recv_acked().await.map_err(|e| {
        Stop::Fail(format!("the resumed session lost its subscription [MQTT-3.1.2-4]: {e}"))
    })?;
    ensure!(&got.payload[..] == b"kept", "received {:?} instead of \"kept\"", got.payload);
    conn.disconnect().await?;
    publisher.disconnect().await?;
    ctx.end_session(ctx.connect_packet(&id)).await
}

async fn clean_discards(ctx: Ctx) -> Outcome {
    let id = ctx.client_id("a");
    let topic = ctx.topic("t");
    let (mut conn, _) = persistent(&ctx, "a", &id).await?;
    conn.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    conn.disconnect().await?;
    let (mut conn, ack) = ctx.connect_accepted("a clean", ctx.connect_packet(&id)).await?;
    ensure!(!ack.session_present, "CleanSession 1 got Session Present 1 [MQTT-3.2.2-1]");
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"gone", QoS::AtLeastOnce, false, 1).await?;
    conn.expect_no_publish(
        ctx.quiet(),
        "the discarded subscription still delivered [MQTT-3.1.2-6]",
    )
    .await?;
    conn.disconnect().await?;
    let (conn, present) = persistent(&ctx, "a again", &id).await?;
    ensure!(!present, "state of a clean session was reused: Session Present 1 [MQTT-3.1.2-6]");
    conn.disconnect().await?;
    publisher.disconnect().await?;
    ctx.end_session(ctx.connect_packet(&id)).await
}

async fn stores_offline(ctx: Ctx) -> Outcome {
    let id = ctx.client_id("a");
    let topic = ctx.topic("t");
    let (mut conn, _) = persistent(&ctx, "a", &id).await?;
    conn.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    conn.disconnect().await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"while away", QoS::AtLeastOnce, false, 1).await?;
    publisher.disconnect().await?;
    let (mut conn, _) = persistent(&ctx, "a again", &id).await?;
    let got = conn.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "a QoS 1 message published while offline was not stored [MQTT-3.1.2-5]: {e}"
        ))
    })?;
    ensure!(
        &got.payload[..] == b"while away",
        "received {:?} instead of \"while away\"",
        got.payload
    );
    conn.disconnect().await?;
    ctx.end_session(ctx.connect_packet(&id)).await
}

async fn rejected_ignores_data(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut bytes =
        RawPacket::new(0x10).utf8("MQTT").u8(6).u8(0x02).u16(60).utf8(&ctx.client_id("a")).to_vec();
    bytes.extend(RawPacket::new(0x31).utf8(&topic).bytes(b"must not be stored").to_vec());
    let mut conn = ctx.open("a").await?;
    conn.send_raw(&bytes).await?;
    super::close_after(&ctx, &mut conn, "the refused CONNECT", true).await?;
    let mut observer = ctx.client("o").await?;
    observer.subscribe_granted(1, &topic, QoS::AtMostOnce).await?;
    match observer.next_within(ctx.quiet()).await? {
        Event::Silent => {}
        Event::Packet(p) => {
            fail!("data after a refused CONNECT was processed: {} [MQTT-3.1.4-5]", describe(&p))
        }
        Event::Closed => fail!("the observer was disconnected"),
    }
    observer.disconnect().await
}
