//! MQTT 5.0 CONNECT and CONNACK: reason codes, malformed CONNECTs, client ids, Clean Start and
//! session expiry across reconnects, takeover, keep alive.

use std::time::Duration;

use mqttsim_codec::{Packet, Properties, Property, QoS, ReasonCode};

use super::{
    accepted, baseline, connect, connect_refused, connected_then_refused, end_session, entry,
    first_packet_refused, persistent_connect, persistent_subscriber, props, raw_connect,
    subscribed,
};
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::checks::keepalive::KEEPALIVE_SLACK;
use crate::conn::Event;

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "v5-connect-accepted",
            V5,
            [
                "MQTT-3.1.4-4",
                "MQTT-3.1.4-5",
                "MQTT-3.2.0-1",
                "MQTT-3.2.0-2",
                "MQTT-3.2.2-1",
                "MQTT-3.2.2-2",
                "MQTT-3.2.2-8",
                "MQTT-2.2.2-1"
            ],
            "A clean-start CONNECT gets one CONNACK 0x00 with Session Present 0 as the first packet.",
            accepted_check
        ),
        check!(
            "v5-client-id-23-chars",
            V5,
            ["MQTT-3.1.3-5"],
            "A client id of 23 alphanumeric characters is accepted.",
            id_23_chars
        ),
        check!(
            "v5-connect-unsupported-level",
            V5,
            ["MQTT-3.1.2-2"],
            "Protocol level 6 is refused (CONNACK 0x84 or 3.1.1 return code 1 at most), then closed.",
            unsupported_level
        ),
        check!(
            "v5-connect-bad-protocol-name",
            V5,
            ["MQTT-3.1.2-1", "MQTT-3.14.0-1"],
            "Protocol name MQTX at level 5 is refused and the connection closed.",
            bad_protocol_name
        ),
        check!(
            "v5-connect-reserved-flag",
            V5,
            ["MQTT-3.1.2-3", "MQTT-3.1.4-1", "MQTT-3.14.0-1", "MQTT-3.2.2-7"],
            "A 5.0 CONNECT with the reserved flag set is refused (CONNACK 0x80 or above at most) and closed.",
            reserved_flag
        ),
        check!(
            "v5-connect-second-connect",
            V5,
            ["MQTT-3.1.0-2", "MQTT-4.13.1-1"],
            "A second CONNECT on a connection is a Protocol Error: the connection closes.",
            second_connect
        ),
        check!(
            "v5-connect-not-first",
            V5,
            ["MQTT-4.13.1-1", "MQTT-3.14.0-1"],
            "A PINGREQ before CONNECT closes the connection without PINGRESP or DISCONNECT.",
            not_first
        )
        .probing(&["MQTT-3.1.0-1"]),
        check!(
            "v5-client-id-bad-utf8",
            V5,
            ["MQTT-1.5.4-1", "MQTT-3.1.3-8", "MQTT-3.1.4-1"],
            "A client id that is not UTF-8 is refused and the connection closed.",
            id_bad_utf8
        )
        .probing(&["MQTT-3.1.3-4"]),
        check!(
            "v5-client-id-surrogate",
            V5,
            ["MQTT-1.5.4-1"],
            "A client id encoding U+D800 is refused and the connection closed.",
            id_surrogate
        ),
        check!(
            "v5-client-id-null-char",
            V5,
            ["MQTT-1.5.4-2"],
            "A client id containing U+0000 is refused and the connection closed.",
            id_null
        ),
        check!(
            "v5-client-id-empty",
            V5,
            ["MQTT-3.1.3-6", "MQTT-3.1.3-7", "MQTT-3.2.2-16", "MQTT-3.1.3-8"],
            "Empty client ids get distinct Assigned Client Identifiers, which then name their sessions.",
            empty_id
        ),
        check!(
            "v5-session-present",
            V5,
            [
                "MQTT-3.1.2-5",
                "MQTT-3.1.2-6",
                "MQTT-3.1.2-23",
                "MQTT-3.2.2-3",
                "MQTT-3.1.3-2",
                "MQTT-3.1.4-4"
            ],
            "Clean Start 0 creates a session (Session Present 0) that a reconnect resumes (1) with its subscription.",
            session_present
        ),
        check!(
            "v5-clean-start-discards",
            V5,
            ["MQTT-3.1.2-4", "MQTT-3.2.2-2", "MQTT-3.1.4-4"],
            "Clean Start 1 discards a stored session: Session Present 0 and no delivery, now or later.",
            clean_discards
        ),
        check!(
            "v5-session-expiry-zero",
            V5,
            ["MQTT-4.1.0-2", "MQTT-3.2.2-3"],
            "Without a Session Expiry Interval the session ends with the connection.",
            expiry_zero
        ),
        check!(
            "v5-session-expiry-elapses",
            V5,
            ["MQTT-4.1.0-2", "MQTT-3.2.2-3"],
            "A session with Session Expiry Interval 1 is gone 3 s after its connection closed.",
            expiry_elapses
        ),
        check!(
            "v5-session-expiry-keeps",
            V5,
            ["MQTT-3.1.2-23", "MQTT-4.5.0-1", "MQTT-3.1.2-5"],
            "Within its Session Expiry Interval a session keeps QoS 1 messages published while it was offline.",
            expiry_keeps
        ),
        check!(
            "v5-session-kept-while-connected",
            V5,
            ["MQTT-4.1.0-1", "MQTT-3.12.4-1"],
            "A connection without session expiry keeps its subscription for as long as it stays connected.",
            kept_while_connected
        ),
        check!(
            "v5-takeover",
            V5,
            [
                "MQTT-3.1.4-3",
                "MQTT-3.14.4-1",
                "MQTT-3.14.4-2",
                "MQTT-4.13.2-1",
                "MQTT-3.14.2-1",
                "MQTT-3.14.2-2"
            ],
            "A second connection with the same client id gets the first one DISCONNECT 0x8E (at most) and a close.",
            takeover
        ),
        check!(
            "v5-keepalive-enforced",
            V5,
            ["MQTT-3.1.2-22", "MQTT-3.2.2-22"],
            "Three silent clients with keep alive 1 s (or the Server Keep Alive), 1 s apart, are each closed after 1.5 times it.",
            keepalive_enforced
        ),
        check!("v5-pingreq", V5, ["MQTT-3.12.4-1"], "PINGREQ is answered with PINGRESP.", pingreq),
        check!(
            "v5-refused-connect-ignores-data",
            V5,
            ["MQTT-3.1.4-6", "MQTT-3.1.4-2", "MQTT-3.2.2-7", "MQTT-4.13.2-1"],
            "After a CONNECT is refused, a PUBLISH sent behind it is not processed.",
            refused_ignores_data
        ),
        check!(
            "v5-refused-session-present-0",
            V5,
            ["MQTT-3.2.2-6", "MQTT-3.2.2-8"],
            "A refusing CONNACK for a client id with a stored session has Session Present 0.",
            refused_session_present
        ),
    ]
}

/// An Authentication Method no broker supports.
pub(crate) const UNKNOWN_METHOD: &str = "mqttsim-no-such-method";

async fn accepted_check(ctx: Ctx) -> Outcome {
    let (mut conn, ack) = accepted(&ctx, "a", connect(&ctx, "a", Properties::new())).await?;
    ensure!(!ack.session_present, "CONNACK for Clean Start 1 has Session Present 1 [MQTT-3.2.2-2]");
    // A second CONNACK would be judged on arrival [MQTT-3.2.0-2].
    conn.ping().await?;
    conn.expect_silence(ctx.quiet(), "after CONNACK and PINGRESP").await?;
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
    conn.ping().await?;
    conn.disconnect().await
}

async fn unsupported_level(ctx: Ctx) -> Outcome {
    let mut conn = ctx.open("a").await?;
    let bytes = mqttsim_codec::raw::RawPacket::new(0x10).utf8("MQTT").u8(6).u8(0x02).u16(60);
    conn.send_raw(&bytes.utf8(&ctx.client_id("a")).to_vec()).await?;
    let (bytes, closed) = conn.read_raw(ctx.timeout()).await;
    ensure!(
        closed,
        "protocol level 6: the connection was still open after {:?} [MQTT-3.1.2-2]",
        ctx.timeout()
    );
    // Nothing, a 5.0 CONNACK 0x84, or a 3.1.1 CONNACK with return code 1.
    let allowed: &[&[u8]] = &[&[], &[0x20, 0x03, 0x00, 0x84, 0x00], &[0x20, 0x02, 0x00, 0x01]];
    ensure!(
        allowed.contains(&&bytes[..])
            || (bytes.len() > 4 && bytes[0] == 0x20 && bytes[2] == 0x00 && bytes[3] == 0x84),
        "protocol level 6 was answered with {bytes:02X?} before the close, not nothing or \
         CONNACK 0x84 [MQTT-3.1.2-2]"
    );
    Ok(())
}

async fn bad_protocol_name(ctx: Ctx) -> Outcome {
    let bytes = mqttsim_codec::raw::RawPacket::new(0x10)
        .utf8("MQTX")
        .u8(5)
        .u8(0x02)
        .u16(60)
        .u8(0)
        .utf8(&ctx.client_id("a"))
        .to_vec();
    first_packet_refused(&ctx, &bytes, "protocol name MQTX [MQTT-3.1.2-1]").await?;
    Ok(())
}

async fn reserved_flag(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x03).u8(0).utf8(&ctx.client_id("a")).to_vec();
    first_packet_refused(&ctx, &bytes, "CONNECT with the reserved flag set [MQTT-3.1.2-3]").await?;
    Ok(())
}

async fn second_connect(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x02).u8(0).utf8(&ctx.client_id("a")).to_vec();
    connected_then_refused(&ctx, &bytes, &[], "a second CONNECT [MQTT-3.1.0-2]").await?;
    Ok(())
}

async fn not_first(ctx: Ctx) -> Outcome {
    first_packet_refused(&ctx, &[0xC0, 0x00], "PINGREQ before CONNECT [MQTT-4.13.1-1]").await?;
    Ok(())
}

async fn id_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x02).u8(0).binary(b"ab\xC3\x28").to_vec();
    first_packet_refused(&ctx, &bytes, "client id bytes C3 28 [MQTT-1.5.4-1]").await?;
    Ok(())
}

async fn id_surrogate(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x02).u8(0).binary(b"ab\xED\xA0\x80").to_vec();
    first_packet_refused(&ctx, &bytes, "client id encoding U+D800 [MQTT-1.5.4-1]").await?;
    Ok(())
}

async fn id_null(ctx: Ctx) -> Outcome {
    let mut id = ctx.client_id("a").into_bytes();
    id.insert(2, 0);
    let bytes = raw_connect(0x02).u8(0).binary(&id).to_vec();
    first_packet_refused(&ctx, &bytes, "client id containing U+0000 [MQTT-1.5.4-2]").await?;
    Ok(())
}

async fn empty_id(ctx: Ctx) -> Outcome {
    let mut first = ctx.connect_packet("");
    first.clean_start = false;
    first.properties = props([Property::SessionExpiryInterval(60)]);
    let (mut conn, ack) = ctx.connect_with("first", first).await?;
    if ack.reason_code == ReasonCode::CLIENT_IDENTIFIER_NOT_VALID {
        // The broker does not allow empty client ids; it must then close [MQTT-3.1.3-8].
        conn.expect_close("after CONNACK 0x85 [MQTT-3.1.3-8]").await?;
        return Err(Stop::Skip("the broker does not allow empty client ids (CONNACK 0x85)".into()));
    }
    ensure!(
        ack.reason_code == ReasonCode::SUCCESS,
        "an empty client id got {}",
        conn.describe(&Packet::ConnAck(ack.clone()))
    );
    let Some(assigned) = conn.server().assigned_client_id.filter(|id| !id.is_empty()) else {
        fail!("CONNACK for an empty client id has no Assigned Client Identifier [MQTT-3.2.2-16]");
    };
    let (second, ack2) = ctx.connect_accepted("second", ctx.connect_packet("")).await?;
    ensure!(!ack2.session_present, "a second empty client id got Session Present 1");
    let other = second.server().assigned_client_id.unwrap_or_default();
    ensure!(
        other != assigned,
        "two connections with empty client ids were both assigned {assigned:?} [MQTT-3.1.3-6] \
         [MQTT-3.2.2-16]"
    );
    conn.ping().await.map_err(|e| {
        Stop::Fail(format!("the first empty-id client lost its connection [MQTT-3.1.3-6]: {e}"))
    })?;
    let topic = ctx.topic("t");
    conn.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    conn.disconnect().await?;
    second.disconnect().await?;
    // The session is the assigned id's, as if the client had sent it [MQTT-3.1.3-7].
    let mut again = ctx.connect_packet(&assigned);
    again.clean_start = false;
    again.properties = props([Property::SessionExpiryInterval(60)]);
    let (mut conn, ack) = ctx.connect_accepted("again", again).await?;
    ensure!(
        ack.session_present,
        "reconnecting with the Assigned Client Identifier {assigned:?} and Clean Start 0 found no \
         session [MQTT-3.1.3-7]"
    );
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"kept", QoS::AtLeastOnce, false, 1).await?;
    let got = conn.recv_acked().await.map_err(|e| {
        Stop::Fail(format!("the assigned id's session lost its subscription [MQTT-3.1.3-7]: {e}"))
    })?;
    ensure!(&got.payload[..] == b"kept", "received {:?} instead of \"kept\"", got.payload);
    publisher.disconnect().await?;
    conn.disconnect().await?;
    ctx.end_session(ctx.connect_packet(&assigned)).await
}

async fn session_present(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (conn, present) = persistent_subscriber(&ctx, "a", 60, &topic, QoS::AtLeastOnce).await?;
    ensure!(!present, "a new session got Session Present 1 [MQTT-3.1.2-6] [MQTT-3.2.2-3]");
    conn.disconnect().await?;
    let (mut conn, ack) = accepted(&ctx, "a again", persistent_connect(&ctx, "a", 60)).await?;
    ensure!(
        ack.session_present,
        "a resumed session got Session Present 0 [MQTT-3.1.2-5] [MQTT-3.1.2-23] [MQTT-3.2.2-3]"
    );
    let mut other = ctx.client("b").await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"kept", QoS::AtLeastOnce, false, 1).await?;
    let got = conn.recv_acked().await.map_err(|e| {
        Stop::Fail(format!("the resumed session lost its subscription [MQTT-3.1.2-5]: {e}"))
    })?;
    ensure!(&got.payload[..] == b"kept", "received {:?} instead of \"kept\"", got.payload);
    // Another client id holds another session [MQTT-3.1.3-2].
    other
        .expect_no_publish(
            ctx.quiet(),
            "a client that never subscribed got the message [MQTT-3.1.3-2]",
        )
        .await?;
    other.disconnect().await?;
    publisher.disconnect().await?;
    conn.disconnect().await?;
    end_session(&ctx, "a").await
}

async fn clean_discards(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (conn, _) = persistent_subscriber(&ctx, "a", 60, &topic, QoS::AtLeastOnce).await?;
    conn.disconnect().await?;
    let mut clean = connect(&ctx, "a", props([Property::SessionExpiryInterval(60)]));
    clean.clean_start = true;
    let (mut conn, ack) = accepted(&ctx, "a clean", clean).await?;
    ensure!(!ack.session_present, "Clean Start 1 got Session Present 1 [MQTT-3.2.2-2]");
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"gone", QoS::AtLeastOnce, false, 1).await?;
    conn.expect_no_publish(
        ctx.quiet(),
        "the discarded subscription still delivered [MQTT-3.1.2-4]",
    )
    .await?;
    conn.disconnect().await?;
    publisher.disconnect().await?;
    end_session(&ctx, "a").await
}

async fn expiry_zero(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut first = connect(&ctx, "a", Properties::new());
    first.clean_start = false;
    let (mut conn, _) = accepted(&ctx, "a", first).await?;
    conn.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    conn.disconnect().await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"gone", QoS::AtLeastOnce, false, 1).await?;
    let mut again = connect(&ctx, "a", Properties::new());
    again.clean_start = false;
    let (mut conn, ack) = accepted(&ctx, "a again", again).await?;
    ensure!(
        !ack.session_present,
        "a session without Session Expiry Interval outlived its connection: Session Present 1 \
         [MQTT-4.1.0-2] [MQTT-3.2.2-3]"
    );
    conn.expect_no_publish(ctx.quiet(), "an ended session still delivered [MQTT-4.1.0-2]").await?;
    publisher.disconnect().await?;
    conn.disconnect().await
}

async fn expiry_elapses(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (conn, _) = persistent_subscriber(&ctx, "a", 1, &topic, QoS::AtLeastOnce).await?;
    conn.disconnect().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"gone", QoS::AtLeastOnce, false, 1).await?;
    let (mut conn, ack) = accepted(&ctx, "a again", persistent_connect(&ctx, "a", 60)).await?;
    ensure!(
        !ack.session_present,
        "a session with Session Expiry Interval 1 was still there 3 s after its connection \
         closed: Session Present 1 [MQTT-4.1.0-2]"
    );
    conn.expect_no_publish(ctx.quiet(), "an expired session still delivered [MQTT-4.1.0-2]")
        .await?;
    publisher.disconnect().await?;
    conn.disconnect().await?;
    end_session(&ctx, "a").await
}

async fn expiry_keeps(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let (conn, _) = persistent_subscriber(&ctx, "a", 30, &topic, QoS::AtLeastOnce).await?;
    conn.disconnect().await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"while away", QoS::AtLeastOnce, false, 1).await?;
    publisher.disconnect().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut conn, ack) = accepted(&ctx, "a again", persistent_connect(&ctx, "a", 30)).await?;
    ensure!(
        ack.session_present,
        "a session with Session Expiry Interval 30 was gone 1 s after its connection closed \
         [MQTT-3.1.2-23]"
    );
    let got = conn.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "a QoS 1 message published while the session was offline was not kept \
             [MQTT-4.5.0-1] [MQTT-3.1.2-5]: {e}"
        ))
    })?;
    ensure!(&got.payload[..] == b"while away", "received {:?}", got.payload);
    conn.disconnect().await?;
    end_session(&ctx, "a").await
}

async fn kept_while_connected(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut c = connect(&ctx, "a", Properties::new());
    c.keep_alive = 1;
    let (mut conn, _) = accepted(&ctx, "a", c).await?;
    subscribed(&mut conn, 1, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        conn.ping().await?;
    }
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"still here", QoS::AtLeastOnce, false, 1).await?;
    let got = conn.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "after 2 s of pings the connection's subscription no longer delivers [MQTT-4.1.0-1]: {e}"
        ))
    })?;
    ensure!(&got.payload[..] == b"still here", "received {:?}", got.payload);
    publisher.disconnect().await?;
    conn.disconnect().await
}

async fn takeover(ctx: Ctx) -> Outcome {
    let (mut first, _) = accepted(&ctx, "first", connect(&ctx, "a", Properties::new())).await?;
    let (mut second, _) = accepted(&ctx, "second", connect(&ctx, "a", Properties::new())).await?;
    let code = first
        .expect_refusal(
            "the first connection after a second took its client id [MQTT-3.1.4-3]",
            &[0x8E],
        )
        .await?;
    let _ = code;
    second.ping().await?;
    second.disconnect().await
}

async fn keepalive_enforced(ctx: Ctx) -> Outcome {
    // Three silent clients, started a second apart, so that a broker which checks keep alive
    // only every few seconds is caught whatever the phase of its timer.
    let one = |delay: u64, tag: &'static str| {
        let ctx = ctx.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(delay)).await;
            let mut c = connect(&ctx, tag, Properties::new());
            c.keep_alive = 1;
            let started = tokio::time::Instant::now();
            let (mut conn, _) = accepted(&ctx, tag, c).await?;
            let keep_alive = conn.server().server_keep_alive.unwrap_or(1);
            if keep_alive == 0 || keep_alive > 5 {
                conn.disconnect().await?;
                return Err(Stop::Skip(format!(
                    "the broker replaced keep alive 1 s by Server Keep Alive {keep_alive} s"
                )));
            }
            let limit = Duration::from_millis(1500 * u64::from(keep_alive)) + KEEPALIVE_SLACK;
            loop {
                let left = limit.saturating_sub(started.elapsed());
                match conn.next_within(left).await? {
                    Event::Closed => return Ok((keep_alive, limit, true)),
                    Event::Packet(Packet::Disconnect(d)) if d.reason_code.is_error() => {}
                    Event::Packet(p) => {
                        fail!("the broker sent {} to a silent client", conn.describe(&p))
                    }
                    Event::Silent => return Ok((keep_alive, limit, false)),
                }
            }
        }
    };
    let (a, b, c) = tokio::join!(one(0, "a"), one(1, "b"), one(2, "c"));
    let results = [a?, b?, c?];
    if let Some((keep_alive, limit, _)) = results.iter().find(|r| !r.2) {
        fail!(
            "of three silent clients with keep alive {keep_alive} s, started 1 s apart, at least \
             one was still connected {limit:?} after its CONNECT [MQTT-3.1.2-22] [MQTT-3.2.2-22]"
        );
    }
    Ok(())
}

async fn pingreq(ctx: Ctx) -> Outcome {
    let mut conn = ctx.client("a").await?;
    conn.ping().await?;
    conn.ping().await?;
    conn.disconnect().await
}

async fn refused_ignores_data(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut refused =
        connect(&ctx, "a", props([Property::AuthenticationMethod(UNKNOWN_METHOD.into())]));
    refused.clean_start = true;
    let mut bytes = bytes::BytesMut::new();
    mqttsim_codec::encode(&Packet::Connect(refused), mqttsim_codec::Protocol::V5, &mut bytes)
        .map_err(|e| Stop::Fail(e.to_string()))?;
    bytes.extend_from_slice(
        &super::raw_publish(&topic, &[], b"must not be stored").first_byte(0x31).to_vec(),
    );
    baseline(&ctx).await?;
    let mut conn = ctx.open("a").await?;
    conn.send_raw(&bytes).await?;
    match conn.next_within(ctx.timeout()).await? {
        Event::Packet(Packet::ConnAck(a)) if a.reason_code == ReasonCode::SUCCESS => {
            return Err(Stop::Skip(format!(
                "the broker accepted Authentication Method {UNKNOWN_METHOD:?}"
            )));
        }
        Event::Packet(Packet::Auth(_)) => {
            return Err(Stop::Skip(format!(
                "the broker began authentication with method {UNKNOWN_METHOD:?}"
            )));
        }
        Event::Packet(Packet::ConnAck(a)) => ensure!(
            a.reason_code.is_error(),
            "a refusing CONNACK has reason code 0x{:02X}",
            a.reason_code.0
        ),
        Event::Closed => {}
        Event::Packet(p) => {
            fail!("an unknown Authentication Method was answered with {}", conn.describe(&p))
        }
        Event::Silent => fail!("no answer to a CONNECT with an unknown Authentication Method"),
    }
    conn.expect_close("after a refusing CONNACK [MQTT-3.2.2-7] [MQTT-4.13.2-1] [MQTT-3.1.4-2]")
        .await?;
    let mut observer = ctx.client("o").await?;
    observer.subscribe_granted(1, &topic, QoS::AtMostOnce).await?;
    match observer.next_within(ctx.quiet()).await? {
        Event::Silent => {}
        Event::Packet(p) => fail!(
            "a PUBLISH sent behind a refused CONNECT was processed: {} [MQTT-3.1.4-6]",
            observer.describe(&p)
        ),
        Event::Closed => fail!("the observer was disconnected"),
    }
    observer.disconnect().await
}

async fn refused_session_present(ctx: Ctx) -> Outcome {
    let (conn, _) = accepted(&ctx, "a", persistent_connect(&ctx, "a", 60)).await?;
    conn.disconnect().await?;
    let mut refused = persistent_connect(&ctx, "a", 60);
    refused.properties.push(Property::AuthenticationMethod(UNKNOWN_METHOD.into()));
    // The decoder judges a refusing CONNACK with Session Present 1 [MQTT-3.2.2-6].
    let (mut conn, ack) = ctx.connect_with("a refused", refused).await?;
    if ack.reason_code == ReasonCode::SUCCESS {
        conn.disconnect().await?;
        end_session(&ctx, "a").await?;
        return Err(Stop::Skip(format!(
            "the broker accepted Authentication Method {UNKNOWN_METHOD:?}"
        )));
    }
    ensure!(!ack.session_present, "a refusing CONNACK has Session Present 1 [MQTT-3.2.2-6]");
    connect_refused(&mut conn, "after a refusing CONNACK").await?;
    end_session(&ctx, "a").await
}
