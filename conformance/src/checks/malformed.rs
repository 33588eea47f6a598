//! Malformed packets after a successful CONNECT: each must close the connection.

use super::connected_then_closes;
use crate::check::{Check, Ctx, Outcome};
use mqttsim_codec::raw::RawPacket;

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "publish-qos-3",
            V311,
            ["MQTT-3.3.1-4"],
            "A PUBLISH with both QoS bits set closes the connection.",
            publish_qos3
        ),
        check!(
            "publish-wildcard-topic",
            V311,
            ["MQTT-3.3.2-2", "MQTT-4.7.1-1"],
            "A PUBLISH to a topic containing '+' or '#' closes the connection.",
            publish_wildcard
        ),
        check!(
            "publish-bad-utf8-topic",
            V311,
            ["MQTT-3.3.2-1", "MQTT-1.5.3-1"],
            "A PUBLISH topic that is not UTF-8 closes the connection.",
            publish_bad_utf8
        ),
        check!(
            "publish-null-in-topic",
            V311,
            ["MQTT-4.7.3-2", "MQTT-1.5.3-2"],
            "A PUBLISH topic containing U+0000 closes the connection.",
            publish_null
        ),
        check!(
            "publish-empty-topic",
            V311,
            ["MQTT-4.7.3-1", "MQTT-3.3.2-1"],
            "A PUBLISH with an empty topic closes the connection.",
            publish_empty_topic
        ),
        check!(
            "publish-packet-id-zero",
            V311,
            ["MQTT-2.3.1-1"],
            "A QoS 1 PUBLISH with packet id 0 closes the connection.",
            publish_id_zero
        ),
        check!(
            "pubrel-bad-flags",
            V311,
            ["MQTT-3.6.1-1", "MQTT-2.2.2-2"],
            "A PUBREL with flags 0000 closes the connection.",
            pubrel_flags
        ),
        check!(
            "subscribe-bad-flags",
            V311,
            ["MQTT-3.8.1-1", "MQTT-2.2.2-2"],
            "A SUBSCRIBE with flags 0000 closes the connection.",
            subscribe_flags
        ),
        check!(
            "unsubscribe-bad-flags",
            V311,
            ["MQTT-3.10.1-1", "MQTT-2.2.2-2"],
            "An UNSUBSCRIBE with flags 0000 closes the connection.",
            unsubscribe_flags
        ),
        check!(
            "disconnect-bad-flags",
            V311,
            ["MQTT-3.14.1-1", "MQTT-2.2.2-2"],
            "A DISCONNECT with flags 0001 closes the connection.",
            disconnect_flags
        ),
        check!(
            "pingreq-bad-flags",
            V311,
            ["MQTT-2.2.2-2"],
            "A PINGREQ with flags 0100 closes the connection.",
            pingreq_flags
        ),
        check!(
            "subscribe-no-filters",
            V311,
            ["MQTT-3.8.3-3", "MQTT-4.8.0-1"],
            "A SUBSCRIBE without any filter closes the connection.",
            subscribe_no_filters
        ),
        check!(
            "subscribe-bad-options",
            V311,
            ["MQTT-3.8.3-4"],
            "SUBSCRIBE options with QoS 3, or with a reserved bit set, close the connection.",
            subscribe_bad_options
        ),
        check!(
            "subscribe-bad-utf8",
            V311,
            ["MQTT-3.8.3-1", "MQTT-1.5.3-1"],
            "A SUBSCRIBE filter that is not UTF-8 closes the connection.",
            subscribe_bad_utf8
        ),
        check!(
            "subscribe-packet-id-zero",
            V311,
            ["MQTT-2.3.1-1"],
            "A SUBSCRIBE with packet id 0 closes the connection.",
            subscribe_id_zero
        ),
        check!(
            "unsubscribe-no-filters",
            V311,
            ["MQTT-3.10.3-2", "MQTT-4.8.0-1"],
            "An UNSUBSCRIBE without any filter closes the connection.",
            unsubscribe_no_filters
        ),
        check!(
            "unsubscribe-bad-utf8",
            V311,
            ["MQTT-3.10.3-1", "MQTT-1.5.3-1"],
            "An UNSUBSCRIBE filter that is not UTF-8 closes the connection.",
            unsubscribe_bad_utf8
        ),
        check!(
            "remaining-length-five-bytes",
            V311,
            ["MQTT-4.8.0-1"],
            "A remaining length of five bytes closes the connection.",
            length_five_bytes
        ),
        check!(
            "remaining-length-mismatch",
            V311,
            ["MQTT-4.8.0-1"],
            "A PUBACK with a remaining length of 3 closes the connection.",
            length_mismatch
        ),
        check!(
            "reserved-packet-type",
            V311,
            ["MQTT-4.8.0-1"],
            "Packet types 0 and 15 close the connection.",
            reserved_type
        ),
        check!(
            "server-packet-from-client",
            V311,
            ["MQTT-4.8.0-1"],
            "A CONNACK sent by a client closes the connection.",
            server_packet
        ),
    ]
}

async fn publish_qos3(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x36).utf8(&ctx.topic("t")).u16(1).bytes(b"x").to_vec();
    connected_then_closes(&ctx, &bytes, "PUBLISH with QoS 3 [MQTT-3.3.1-4]").await
}

async fn publish_wildcard(ctx: Ctx) -> Outcome {
    for (tag, suffix) in [("a", "+"), ("b", "#"), ("c", "x+y")] {
        let bytes = RawPacket::new(0x30).utf8(&ctx.topic(suffix)).bytes(b"x").to_vec();
        let mut conn = ctx.client(tag).await?;
        conn.send_raw(&bytes).await?;
        conn.expect_close(&format!("PUBLISH to a topic ending in {suffix:?} [MQTT-3.3.2-2]"))
            .await?;
    }
    Ok(())
}

async fn publish_bad_utf8(ctx: Ctx) -> Outcome {
    let mut topic = ctx.topic("t").into_bytes();
    topic.extend_from_slice(b"\xC3\x28");
    let bytes = RawPacket::new(0x30).binary(&topic).bytes(b"x").to_vec();
    connected_then_closes(&ctx, &bytes, "PUBLISH topic with bytes C3 28 [MQTT-1.5.3-1]").await
}

async fn publish_null(ctx: Ctx) -> Outcome {
    let mut topic = ctx.topic("t").into_bytes();
    topic.push(0);
    let bytes = RawPacket::new(0x30).binary(&topic).bytes(b"x").to_vec();
    connected_then_closes(&ctx, &bytes, "PUBLISH topic containing U+0000 [MQTT-4.7.3-2]").await
}

async fn publish_empty_topic(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x30).utf8("").bytes(b"x").to_vec();
    connected_then_closes(&ctx, &bytes, "PUBLISH with an empty topic [MQTT-4.7.3-1]").await
}

async fn publish_id_zero(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x32).utf8(&ctx.topic("t")).u16(0).bytes(b"x").to_vec();
    let mut conn = ctx.client("a").await?;
    conn.send_raw(&bytes).await?;
    conn.expect_close_allowing("QoS 1 PUBLISH with packet id 0 [MQTT-2.3.1-1]", |_| false).await
}

async fn pubrel_flags(ctx: Ctx) -> Outcome {
    let mut conn = ctx.client("a").await?;
    conn.send_publish(&ctx.topic("t"), b"x", mqttsim_codec::QoS::ExactlyOnce, false, 1).await?;
    // A PUBREL is only valid after PUBREC: without QoS 2 there is nothing to judge.
    conn.expect_pubrec(1).await?;
    conn.send_raw(&RawPacket::new(0x60).u16(1).to_vec()).await?;
    conn.expect_close("PUBREL with flags 0000 [MQTT-3.6.1-1]").await
}

async fn subscribe_flags(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x80).u16(1).utf8(&ctx.topic("t")).u8(0).to_vec();
    connected_then_closes(&ctx, &bytes, "SUBSCRIBE with flags 0000 [MQTT-3.8.1-1]").await
}

async fn unsubscribe_flags(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0xA0).u16(1).utf8(&ctx.topic("t")).to_vec();
    connected_then_closes(&ctx, &bytes, "UNSUBSCRIBE with flags 0000 [MQTT-3.10.1-1]").await
}

async fn disconnect_flags(ctx: Ctx) -> Outcome {
    connected_then_closes(&ctx, &[0xE1, 0x00], "DISCONNECT with flags 0001 [MQTT-3.14.1-1]").await
}

async fn pingreq_flags(ctx: Ctx) -> Outcome {
    connected_then_closes(&ctx, &[0xC4, 0x00], "PINGREQ with flags 0100 [MQTT-2.2.2-2]").await
}

async fn subscribe_no_filters(ctx: Ctx) -> Outcome {
    connected_then_closes(
        &ctx,
        &RawPacket::new(0x82).u16(1).to_vec(),
        "SUBSCRIBE without filters [MQTT-3.8.3-3]",
    )
    .await
}

async fn subscribe_bad_options(ctx: Ctx) -> Outcome {
    for (tag, options) in [("a", 0x03u8), ("b", 0x41)] {
        let bytes = RawPacket::new(0x82).u16(1).utf8(&ctx.topic("t")).u8(options).to_vec();
        let mut conn = ctx.client(tag).await?;
        conn.send_raw(&bytes).await?;
        conn.expect_close(&format!("SUBSCRIBE options byte 0x{options:02X} [MQTT-3.8.3-4]"))
            .await?;
    }
    Ok(())
}

async fn subscribe_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x82).u16(1).binary(b"t/\xFF").u8(0).to_vec();
    connected_then_closes(&ctx, &bytes, "SUBSCRIBE filter with byte FF [MQTT-3.8.3-1]").await
}

async fn subscribe_id_zero(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x82).u16(0).utf8(&ctx.topic("t")).u8(0).to_vec();
    connected_then_closes(&ctx, &bytes, "SUBSCRIBE with packet id 0 [MQTT-2.3.1-1]").await
}

async fn unsubscribe_no_filters(ctx: Ctx) -> Outcome {
    connected_then_closes(
        &ctx,
        &RawPacket::new(0xA2).u16(1).to_vec(),
        "UNSUBSCRIBE without filters [MQTT-3.10.3-2]",
    )
    .await
}

async fn unsubscribe_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0xA2).u16(1).binary(b"t/\xED\xA0\x80").to_vec();
    connected_then_closes(&ctx, &bytes, "UNSUBSCRIBE filter encoding U+D800 [MQTT-3.10.3-1]").await
}

async fn length_five_bytes(ctx: Ctx) -> Outcome {
    let bytes =
        RawPacket::new(0x30).remaining_length_bytes(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]).to_vec();
    connected_then_closes(&ctx, &bytes, "a five-byte remaining length").await
}

async fn length_mismatch(ctx: Ctx) -> Outcome {
    connected_then_closes(&ctx, &[0x40, 0x03, 0x00, 0x01, 0x00], "PUBACK with remaining length 3")
        .await
}

async fn reserved_type(ctx: Ctx) -> Outcome {
    for (tag, first) in [("a", 0x00u8), ("b", 0xF0)] {
        let mut conn = ctx.client(tag).await?;
        conn.send_raw(&[first, 0x00]).await?;
        conn.expect_close(&format!("packet type {} [MQTT-4.8.0-1]", first >> 4)).await?;
    }
    Ok(())
}

async fn server_packet(ctx: Ctx) -> Outcome {
    connected_then_closes(&ctx, &[0x20, 0x02, 0x00, 0x00], "CONNACK from a client").await
}
