//! Malformed MQTT 5.0 packets and Protocol Errors, which close the connection: bad flags,
//! strings and topics, properties not allowed in a packet, duplicated or of a wrong value,
//! variable byte integers not in their fewest bytes, topic aliases out of range; and the
//! client-only rules probed by sending their violation (client-rule-probes), each judged by
//! the server reaction the standard defines for it.

use mqttsim_codec::raw::RawPacket;
use mqttsim_codec::{Packet, Properties, QoS};

use super::{
    connected_then_refused, first_packet_refused, need_qos1, need_retain, raw_connect, raw_publish,
};
use crate::check::{Check, Ctx, Outcome, Stop};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!("v5-publish-qos-3", V5, ["MQTT-3.3.1-4", "MQTT-4.13.1-1"],
            "A PUBLISH with both QoS bits set closes the connection.", publish_qos3),
        check!("v5-publish-wildcard-topic", V5, ["MQTT-3.3.2-2", "MQTT-4.7.0-1"],
            "A PUBLISH to a topic holding '+' or '#' closes the connection.", publish_wildcard),
        check!("v5-publish-bad-utf8-topic", V5, ["MQTT-3.3.2-1", "MQTT-1.5.4-1"],
            "A PUBLISH topic that is not UTF-8 closes the connection.", publish_bad_utf8),
        check!("v5-publish-null-in-topic", V5, ["MQTT-4.7.3-2", "MQTT-1.5.4-2"],
            "A PUBLISH topic holding U+0000 closes the connection.", publish_null),
        check!("v5-publish-empty-topic", V5, ["MQTT-4.7.3-1", "MQTT-4.13.1-1"],
            "A PUBLISH with an empty topic and no topic alias closes the connection.", publish_empty_topic),
        check!("v5-pubrel-bad-flags", V5, ["MQTT-3.6.1-1", "MQTT-2.1.3-1"],
            "A PUBREL with flags 0000 closes the connection.", pubrel_flags),
        check!("v5-subscribe-bad-flags", V5, ["MQTT-3.8.1-1", "MQTT-2.1.3-1"],
            "A SUBSCRIBE with flags 0000 closes the connection.", subscribe_flags),
        check!("v5-unsubscribe-bad-flags", V5, ["MQTT-3.10.1-1", "MQTT-2.1.3-1"],
            "An UNSUBSCRIBE with flags 0000 closes the connection.", unsubscribe_flags),
        check!("v5-disconnect-bad-flags", V5, ["MQTT-3.14.1-1", "MQTT-2.1.3-1"],
            "A DISCONNECT with flags 0001 closes the connection (with DISCONNECT 0x81 at most) and is no normal disconnection.", disconnect_flags),
        check!("v5-pingreq-bad-flags", V5, ["MQTT-2.1.3-1"],
            "A PINGREQ with flags 0100 closes the connection.", pingreq_flags),
        check!("v5-subscribe-reserved-options", V5, ["MQTT-3.8.3-5"],
            "SUBSCRIBE options with a reserved bit set, or Retain Handling 3, close the connection.", subscribe_reserved_options),
        check!("v5-subscribe-no-filters", V5, ["MQTT-4.13.1-1"],
            "A SUBSCRIBE without any filter closes the connection.", subscribe_no_filters)
            .probing(&["MQTT-3.8.3-2"]),
        check!("v5-subscribe-bad-utf8", V5, ["MQTT-1.5.4-1", "MQTT-4.13.1-1"],
            "A SUBSCRIBE filter that is not UTF-8 closes the connection.", subscribe_bad_utf8)
            .probing(&["MQTT-3.8.3-1"]),
        check!("v5-unsubscribe-no-filters", V5, ["MQTT-4.13.1-1"],
            "An UNSUBSCRIBE without any filter closes the connection.", unsubscribe_no_filters)
            .probing(&["MQTT-3.10.3-2"]),
        check!("v5-unsubscribe-bad-utf8", V5, ["MQTT-1.5.4-1", "MQTT-4.13.1-1"],
            "An UNSUBSCRIBE filter that is not UTF-8 closes the connection.", unsubscribe_bad_utf8)
            .probing(&["MQTT-3.10.3-1"]),
        check!("v5-property-not-allowed", V5, ["MQTT-4.13.1-1"],
            "A PUBLISH carrying Session Expiry Interval, a property PUBLISH does not allow, closes the connection.", property_not_allowed),
        check!("v5-connect-property-not-allowed", V5, ["MQTT-3.1.4-1", "MQTT-3.14.0-1"],
            "A CONNECT carrying Topic Alias, a property CONNECT does not allow, is refused and closed.", connect_property_not_allowed),
        check!("v5-property-duplicated", V5, ["MQTT-4.13.1-1"],
            "A PUBLISH with two Payload Format Indicators closes the connection.", property_duplicated),
        check!("v5-property-wrong-value", V5, ["MQTT-3.1.4-1", "MQTT-3.14.0-1"],
            "A CONNECT with Receive Maximum 0 is refused and closed.", property_wrong_value),
        check!("v5-property-truncated", V5, ["MQTT-4.13.1-1"],
            "A PUBLISH whose Property Length runs past its properties closes the connection.", property_truncated),
        check!("v5-property-unknown", V5, ["MQTT-4.13.1-1"],
            "A PUBLISH with property identifier 0x7F, which the standard does not define, closes the connection.", property_unknown),
        check!("v5-non-minimal-remaining-length", V5, ["MQTT-4.13.1-1"],
            "A PINGREQ whose remaining length 0 is written in two bytes closes the connection.", non_minimal_remaining_length),
        check!("v5-non-minimal-property-length", V5, ["MQTT-4.13.1-1"],
            "A PUBLISH whose Property Length is written in more bytes than needed closes the connection.", non_minimal_property_length),
        check!("v5-user-property-bad-utf8", V5, ["MQTT-1.5.7-1", "MQTT-4.13.1-1"],
            "A User Property whose name is not UTF-8 closes the connection.", user_property_bad_utf8),
        check!("v5-response-topic-bad-utf8", V5, ["MQTT-3.3.2-13", "MQTT-1.5.4-1"],
            "A Response Topic that is not UTF-8 closes the connection.", response_topic_bad_utf8),
        check!("v5-content-type-bad-utf8", V5, ["MQTT-3.3.2-19", "MQTT-1.5.4-1"],
            "A Content Type that is not UTF-8 closes the connection.", content_type_bad_utf8),
        check!("v5-topic-alias-zero", V5, ["MQTT-3.3.2-8", "MQTT-4.13.1-1"],
            "A PUBLISH with Topic Alias 0 closes the connection.", topic_alias_zero),
        check!("v5-topic-alias-above-maximum", V5, ["MQTT-4.13.1-1"],
            "A Topic Alias above the broker's Topic Alias Maximum closes the connection.", topic_alias_above_maximum)
            .probing(&["MQTT-3.2.2-17", "MQTT-3.3.2-9", "MQTT-3.2.2-18"]),
        check!("v5-subscription-identifier-from-client", V5, ["MQTT-4.13.1-1"],
            "A PUBLISH from a client carrying a Subscription Identifier closes the connection.", subscription_identifier_from_client)
            .probing(&["MQTT-3.3.4-6"]),
        check!("v5-response-topic-wildcard", V5, ["MQTT-4.13.1-1"],
            "A Response Topic holding a wildcard closes the connection.", response_topic_wildcard)
            .probing(&["MQTT-3.3.2-14"]),
        check!("v5-publish-above-maximum-qos", V5, ["MQTT-4.13.1-1"],
            "A PUBLISH above the broker's Maximum QoS closes the connection.", above_maximum_qos)
            .probing(&["MQTT-3.2.2-11"]),
        check!("v5-publish-retain-unavailable", V5, ["MQTT-4.13.1-1"],
            "A retained PUBLISH to a broker without retained messages closes the connection.", retain_unavailable)
            .probing(&["MQTT-3.2.2-14"]),
        check!("v5-will-qos-above-maximum", V5, ["MQTT-3.2.2-12"],
            "A Will QoS above the broker's Maximum QoS is refused and closed.", will_qos_above_maximum),
        check!("v5-will-retain-unavailable", V5, ["MQTT-3.2.2-13"],
            "Will Retain to a broker without retained messages is refused and closed.", will_retain_unavailable),
        check!("v5-maximum-qos-announced", V5, ["MQTT-3.2.2-9", "MQTT-3.2.2-10"],
            "A broker announcing no Maximum QoS takes QoS 2; one announcing less still accepts SUBSCRIBE at QoS 2.", maximum_qos_announced),
        check!("v5-connect-will-qos-3", V5, ["MQTT-3.1.4-1", "MQTT-3.14.0-1"],
            "Will QoS 3 is refused and closed.", will_qos_3)
            .probing(&["MQTT-3.1.2-12"]),
        check!("v5-connect-will-flags-without-will", V5, ["MQTT-3.1.4-1"],
            "Will QoS or Will Retain without the Will flag is refused and closed.", will_flags_without_will)
            .probing(&["MQTT-3.1.2-11", "MQTT-3.1.2-13"]),
        check!("v5-connect-will-fields-missing", V5, ["MQTT-3.1.4-1"],
            "The Will flag without Will Properties, Will Topic and Will Payload is refused and closed.", will_fields_missing)
            .probing(&["MQTT-3.1.2-9", "MQTT-3.1.3-1"]),
        check!("v5-connect-username-missing", V5, ["MQTT-3.1.4-1"],
            "The User Name flag without a User Name is refused and closed.", username_missing)
            .probing(&["MQTT-3.1.2-17"]),
        check!("v5-connect-password-missing", V5, ["MQTT-3.1.4-1"],
            "The Password flag without a Password is refused and closed.", password_missing)
            .probing(&["MQTT-3.1.2-19"]),
        check!("v5-connect-unflagged-fields", V5, ["MQTT-3.1.4-1"],
            "A User Name and Password without their flags are refused and closed.", unflagged_fields)
            .probing(&["MQTT-3.1.2-16", "MQTT-3.1.2-18"]),
        check!("v5-connect-no-client-id", V5, ["MQTT-3.1.4-1"],
            "A CONNECT whose payload ends before the Client Identifier is refused and closed.", no_client_id)
            .probing(&["MQTT-3.1.3-3"]),
        check!("v5-connect-will-topic-bad-utf8", V5, ["MQTT-3.1.4-1", "MQTT-1.5.4-1"],
            "A Will Topic that is not UTF-8 is refused and closed.", will_topic_bad_utf8)
            .probing(&["MQTT-3.1.3-11"]),
        check!("v5-connect-username-bad-utf8", V5, ["MQTT-3.1.4-1", "MQTT-1.5.4-1"],
            "A User Name that is not UTF-8 is refused and closed.", username_bad_utf8)
            .probing(&["MQTT-3.1.3-12"]),
        check!("v5-publish-before-connack-with-auth", V5, ["MQTT-3.1.4-6"],
            "A PUBLISH sent after a CONNECT with an Authentication Method, before CONNACK, is not processed.", publish_before_connack)
            .probing(&["MQTT-3.1.2-30"]),
    ]
}

async fn refused(ctx: &Ctx, bytes: Vec<u8>, why: &str) -> Outcome {
    connected_then_refused(ctx, &bytes, &[], why).await.map(|_| ())
}

async fn refused_first(ctx: &Ctx, bytes: Vec<u8>, why: &str) -> Outcome {
    first_packet_refused(ctx, &bytes, why).await.map(|_| ())
}

async fn publish_qos3(ctx: Ctx) -> Outcome {
    refused(
        &ctx,
        raw_publish(&ctx.topic("t"), &[], b"x").first_byte(0x36).to_vec(),
        "PUBLISH QoS 3 [MQTT-3.3.1-4]",
    )
    .await
}

async fn publish_wildcard(ctx: Ctx) -> Outcome {
    refused(
        &ctx,
        raw_publish(&ctx.topic("a/+"), &[], b"x").to_vec(),
        "PUBLISH to a/+ [MQTT-3.3.2-2]",
    )
    .await?;
    refused(
        &ctx,
        raw_publish(&ctx.topic("a/#"), &[], b"x").to_vec(),
        "PUBLISH to a/# [MQTT-3.3.2-2]",
    )
    .await
}

async fn publish_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x30).binary(b"t/\xC3\x28").u8(0).bytes(b"x").to_vec();
    refused(&ctx, bytes, "PUBLISH topic bytes C3 28 [MQTT-1.5.4-1]").await
}

async fn publish_null(ctx: Ctx) -> Outcome {
    let mut topic = ctx.topic("t").into_bytes();
    topic.push(0);
    let bytes = RawPacket::new(0x30).binary(&topic).u8(0).bytes(b"x").to_vec();
    refused(&ctx, bytes, "PUBLISH topic with U+0000 [MQTT-4.7.3-2]").await
}

async fn publish_empty_topic(ctx: Ctx) -> Outcome {
    refused(
        &ctx,
        raw_publish("", &[], b"x").to_vec(),
        "PUBLISH with an empty topic and no alias [MQTT-4.7.3-1]",
    )
    .await
}

async fn pubrel_flags(ctx: Ctx) -> Outcome {
    refused(&ctx, RawPacket::new(0x60).u16(1).to_vec(), "PUBREL with flags 0000 [MQTT-3.6.1-1]")
        .await
}

async fn subscribe_flags(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x80).u16(1).u8(0).utf8(&ctx.topic("t")).u8(0).to_vec();
    refused(&ctx, bytes, "SUBSCRIBE with flags 0000 [MQTT-3.8.1-1]").await
}

async fn unsubscribe_flags(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0xA0).u16(1).u8(0).utf8(&ctx.topic("t")).to_vec();
    refused(&ctx, bytes, "UNSUBSCRIBE with flags 0000 [MQTT-3.10.1-1]").await
}

async fn disconnect_flags(ctx: Ctx) -> Outcome {
    connected_then_refused(
        &ctx,
        &[0xE1, 0x00],
        &[0x81],
        "DISCONNECT with flags 0001 [MQTT-3.14.1-1]",
    )
    .await?;
    Ok(())
}

async fn pingreq_flags(ctx: Ctx) -> Outcome {
    refused(&ctx, vec![0xC4, 0x00], "PINGREQ with flags 0100 [MQTT-2.1.3-1]").await
}

async fn subscribe_reserved_options(ctx: Ctx) -> Outcome {
    for (byte, what) in
        [(0x40u8, "reserved bit 6"), (0x80, "reserved bit 7"), (0x30, "Retain Handling 3")]
    {
        let bytes = RawPacket::new(0x82).u16(1).u8(0).utf8(&ctx.topic("t")).u8(byte).to_vec();
        refused(&ctx, bytes, &format!("subscription options with {what} [MQTT-3.8.3-5]")).await?;
    }
    Ok(())
}

async fn subscribe_no_filters(ctx: Ctx) -> Outcome {
    refused(
        &ctx,
        RawPacket::new(0x82).u16(1).u8(0).to_vec(),
        "SUBSCRIBE without filters [MQTT-4.13.1-1]",
    )
    .await
}

async fn subscribe_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0x82).u16(1).u8(0).binary(b"t/\xFF").u8(0).to_vec();
    refused(&ctx, bytes, "SUBSCRIBE filter with byte FF [MQTT-1.5.4-1]").await
}

async fn unsubscribe_no_filters(ctx: Ctx) -> Outcome {
    refused(
        &ctx,
        RawPacket::new(0xA2).u16(1).u8(0).to_vec(),
        "UNSUBSCRIBE without filters [MQTT-4.13.1-1]",
    )
    .await
}

async fn unsubscribe_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = RawPacket::new(0xA2).u16(1).u8(0).binary(b"t/\xFF").to_vec();
    refused(&ctx, bytes, "UNSUBSCRIBE filter with byte FF [MQTT-1.5.4-1]").await
}

async fn property_not_allowed(ctx: Ctx) -> Outcome {
    let bytes = raw_publish(&ctx.topic("t"), &[0x11, 0, 0, 0, 10], b"x").to_vec();
    refused(&ctx, bytes, "PUBLISH with Session Expiry Interval [MQTT-4.13.1-1]").await
}

async fn connect_property_not_allowed(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x02).u8(3).u8(0x23).u16(1).utf8(&ctx.client_id("a")).to_vec();
    refused_first(&ctx, bytes, "CONNECT with Topic Alias [MQTT-3.1.4-1]").await
}

async fn property_duplicated(ctx: Ctx) -> Outcome {
    let bytes = raw_publish(&ctx.topic("t"), &[0x01, 0x00, 0x01, 0x01], b"x").to_vec();
    refused(&ctx, bytes, "PUBLISH with two Payload Format Indicators [MQTT-4.13.1-1]").await
}

async fn property_wrong_value(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x02).u8(3).u8(0x21).u16(0).utf8(&ctx.client_id("a")).to_vec();
    refused_first(&ctx, bytes, "CONNECT with Receive Maximum 0 [MQTT-3.1.4-1]").await
}

async fn property_truncated(ctx: Ctx) -> Outcome {
    // Property Length 5 over a 2-byte Payload Format Indicator: the length runs into the payload
    // and beyond the packet.
    let bytes = RawPacket::new(0x30).utf8(&ctx.topic("t")).vbi(9).bytes(&[0x01, 0x00]).to_vec();
    refused(&ctx, bytes, "PUBLISH whose Property Length runs past the packet [MQTT-4.13.1-1]").await
}

async fn property_unknown(ctx: Ctx) -> Outcome {
    let bytes = raw_publish(&ctx.topic("t"), &[0x7F, 0x00], b"x").to_vec();
    refused(&ctx, bytes, "PUBLISH with property 0x7F [MQTT-4.13.1-1]").await
}

async fn non_minimal_remaining_length(ctx: Ctx) -> Outcome {
    refused(
        &ctx,
        vec![0xC0, 0x80, 0x00],
        "PINGREQ with remaining length 80 00, not in the fewest bytes [MQTT-4.13.1-1]",
    )
    .await
}

async fn non_minimal_property_length(ctx: Ctx) -> Outcome {
    let bytes =
        RawPacket::new(0x30).utf8(&ctx.topic("t")).bytes(&[0x80, 0x00]).bytes(b"x").to_vec();
    refused(
        &ctx,
        bytes,
        "PUBLISH with Property Length 80 00, not in the fewest bytes [MQTT-4.13.1-1]",
    )
    .await
}

async fn user_property_bad_utf8(ctx: Ctx) -> Outcome {
    let prop = RawPacket::new(0).u8(0x26).binary(b"k\xFF").utf8("v").body;
    let bytes = raw_publish(&ctx.topic("t"), &prop, b"x").to_vec();
    refused(&ctx, bytes, "User Property name with byte FF [MQTT-1.5.7-1]").await
}

async fn response_topic_bad_utf8(ctx: Ctx) -> Outcome {
    let prop = RawPacket::new(0).u8(0x08).binary(b"r/\xC3\x28").body;
    let bytes = raw_publish(&ctx.topic("t"), &prop, b"x").to_vec();
    refused(&ctx, bytes, "Response Topic bytes C3 28 [MQTT-3.3.2-13]").await
}

async fn content_type_bad_utf8(ctx: Ctx) -> Outcome {
    let prop = RawPacket::new(0).u8(0x03).binary(b"text/\xFF").body;
    let bytes = raw_publish(&ctx.topic("t"), &prop, b"x").to_vec();
    refused(&ctx, bytes, "Content Type with byte FF [MQTT-3.3.2-19]").await
}

async fn topic_alias_zero(ctx: Ctx) -> Outcome {
    let bytes = raw_publish(&ctx.topic("t"), &[0x23, 0x00, 0x00], b"x").to_vec();
    refused(&ctx, bytes, "PUBLISH with Topic Alias 0 [MQTT-3.3.2-8]").await
}

async fn topic_alias_above_maximum(ctx: Ctx) -> Outcome {
    let max = ctx.server().topic_alias_maximum;
    let alias = max.saturating_add(1).max(1);
    let bytes =
        raw_publish(&ctx.topic("t"), &[0x23, (alias >> 8) as u8, alias as u8], b"x").to_vec();
    connected_then_refused(
        &ctx,
        &bytes,
        &[],
        &format!("Topic Alias {alias} above the broker's maximum {max} [MQTT-4.13.1-1]"),
    )
    .await?;
    Ok(())
}

async fn subscription_identifier_from_client(ctx: Ctx) -> Outcome {
    let bytes = raw_publish(&ctx.topic("t"), &[0x0B, 0x05], b"x").to_vec();
    refused(&ctx, bytes, "PUBLISH from a client with Subscription Identifier 5 [MQTT-4.13.1-1]")
        .await
}

async fn response_topic_wildcard(ctx: Ctx) -> Outcome {
    let prop = RawPacket::new(0).u8(0x08).utf8(&ctx.topic("r/#")).body;
    let bytes = raw_publish(&ctx.topic("t"), &prop, b"x").to_vec();
    refused(&ctx, bytes, "Response Topic holding '#' [MQTT-4.13.1-1]").await
}

async fn above_maximum_qos(ctx: Ctx) -> Outcome {
    let max = ctx.server().maximum_qos;
    if max == QoS::ExactlyOnce {
        return Err(Stop::Skip("the broker announces no Maximum QoS below 2".into()));
    }
    let qos = max.as_u8() + 1;
    let bytes =
        RawPacket::new(0x30 | (qos << 1)).utf8(&ctx.topic("t")).u16(1).u8(0).bytes(b"x").to_vec();
    connected_then_refused(
        &ctx,
        &bytes,
        &[],
        &format!("PUBLISH QoS {qos} above Maximum QoS {} [MQTT-4.13.1-1]", max.as_u8()),
    )
    .await?;
    Ok(())
}

async fn retain_unavailable(ctx: Ctx) -> Outcome {
    if ctx.server().retain_available {
        return Err(Stop::Skip("the broker announces retained messages".into()));
    }
    let bytes = raw_publish(&ctx.topic("t"), &[], b"x").first_byte(0x31).to_vec();
    refused(&ctx, bytes, "a retained PUBLISH after Retain Available 0 [MQTT-4.13.1-1]").await
}

async fn will_qos_above_maximum(ctx: Ctx) -> Outcome {
    let max = ctx.server().maximum_qos;
    if max == QoS::ExactlyOnce {
        return Err(Stop::Skip("the broker announces no Maximum QoS below 2".into()));
    }
    let flags = 0x06 | ((max.as_u8() + 1) << 3);
    let bytes = raw_connect(flags)
        .u8(0)
        .utf8(&ctx.client_id("a"))
        .u8(0)
        .utf8(&ctx.topic("will"))
        .utf8("w")
        .to_vec();
    refused_first(&ctx, bytes, "Will QoS above Maximum QoS [MQTT-3.2.2-12]").await
}

async fn will_retain_unavailable(ctx: Ctx) -> Outcome {
    if ctx.server().retain_available {
        return Err(Stop::Skip("the broker announces retained messages".into()));
    }
    let bytes = raw_connect(0x26)
        .u8(0)
        .utf8(&ctx.client_id("a"))
        .u8(0)
        .utf8(&ctx.topic("will"))
        .utf8("w")
        .to_vec();
    refused_first(&ctx, bytes, "Will Retain after Retain Available 0 [MQTT-3.2.2-13]").await
}

async fn maximum_qos_announced(ctx: Ctx) -> Outcome {
    let max = ctx.server().maximum_qos;
    let mut conn = ctx.client("a").await?;
    if max == QoS::ExactlyOnce {
        // No Maximum QoS: QoS 2 must work [MQTT-3.2.2-9].
        conn.send_publish(&ctx.topic("t"), b"x", QoS::ExactlyOnce, false, 1).await?;
        match conn.recv_control().await {
            Ok(Packet::PubRec(a)) if a.packet_id == 1 && !a.reason_code.is_error() => {}
            Ok(p) => fail!(
                "a broker that announces no Maximum QoS answered a QoS 2 PUBLISH with {} [MQTT-3.2.2-9]",
                conn.describe(&p)
            ),
            Err(e) => fail!(
                "a broker that announces no Maximum QoS refused a QoS 2 PUBLISH [MQTT-3.2.2-9]: {e}"
            ),
        }
        conn.send(&Packet::PubRel(mqttsim_codec::Ack::new(1))).await?;
        let _ = conn.recv_control().await?;
    } else {
        let ack = conn
            .subscribe_packet(super::subscribe(1, vec![super::entry(&ctx.topic("t"), QoS::ExactlyOnce)], Properties::new()))
            .await
            .map_err(|e| Stop::Fail(format!("with Maximum QoS {} a SUBSCRIBE at QoS 2 was not accepted [MQTT-3.2.2-10]: {e}", max.as_u8())))?;
        let code = ack.reason_codes.first().copied().unwrap_or_default();
        ensure!(
            code.granted_qos().is_some_and(|g| g <= max),
            "with Maximum QoS {} a SUBSCRIBE at QoS 2 got 0x{:02X} [MQTT-3.2.2-10]",
            max.as_u8(),
            code.0
        );
    }
    conn.disconnect().await
}

async fn will_qos_3(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x1E)
        .u8(0)
        .utf8(&ctx.client_id("a"))
        .u8(0)
        .utf8(&ctx.topic("will"))
        .utf8("w")
        .to_vec();
    refused_first(&ctx, bytes, "Will QoS 3 [MQTT-3.1.4-1]").await
}

async fn will_flags_without_will(ctx: Ctx) -> Outcome {
    refused_first(
        &ctx,
        raw_connect(0x0A).u8(0).utf8(&ctx.client_id("a")).to_vec(),
        "Will QoS 1 with Will flag 0 [MQTT-3.1.4-1]",
    )
    .await?;
    refused_first(
        &ctx,
        raw_connect(0x22).u8(0).utf8(&ctx.client_id("b")).to_vec(),
        "Will Retain with Will flag 0 [MQTT-3.1.4-1]",
    )
    .await
}

async fn will_fields_missing(ctx: Ctx) -> Outcome {
    refused_first(
        &ctx,
        raw_connect(0x06).u8(0).utf8(&ctx.client_id("a")).to_vec(),
        "Will flag without the Will fields [MQTT-3.1.4-1]",
    )
    .await
}

async fn username_missing(ctx: Ctx) -> Outcome {
    refused_first(
        &ctx,
        raw_connect(0x82).u8(0).utf8(&ctx.client_id("a")).to_vec(),
        "User Name flag without a User Name [MQTT-3.1.4-1]",
    )
    .await
}

async fn password_missing(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0xC2).u8(0).utf8(&ctx.client_id("a")).utf8("user").to_vec();
    refused_first(&ctx, bytes, "Password flag without a Password [MQTT-3.1.4-1]").await
}

async fn unflagged_fields(ctx: Ctx) -> Outcome {
    let bytes =
        raw_connect(0x02).u8(0).utf8(&ctx.client_id("a")).utf8("user").utf8("secret").to_vec();
    refused_first(&ctx, bytes, "User Name and Password without their flags [MQTT-3.1.4-1]").await
}

async fn no_client_id(ctx: Ctx) -> Outcome {
    refused_first(
        &ctx,
        raw_connect(0x02).u8(0).to_vec(),
        "CONNECT without a Client Identifier [MQTT-3.1.4-1]",
    )
    .await
}

async fn will_topic_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x06)
        .u8(0)
        .utf8(&ctx.client_id("a"))
        .u8(0)
        .binary(b"will/\xFF")
        .utf8("w")
        .to_vec();
    refused_first(&ctx, bytes, "Will Topic with byte FF [MQTT-1.5.4-1]").await
}

async fn username_bad_utf8(ctx: Ctx) -> Outcome {
    let bytes = raw_connect(0x82).u8(0).utf8(&ctx.client_id("a")).binary(b"user\xC0\x80").to_vec();
    refused_first(&ctx, bytes, "User Name with overlong encoding C0 80 [MQTT-1.5.4-1]").await
}

async fn publish_before_connack(ctx: Ctx) -> Outcome {
    need_retain(&ctx)?;
    need_qos1(&ctx)?;
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let method = super::connect::UNKNOWN_METHOD;
    let mut bytes = raw_connect(0x02)
        .vbi(3 + method.len() as u32)
        .u8(0x15)
        .utf8(method)
        .utf8(&ctx.client_id("a"))
        .to_vec();
    bytes.extend(raw_publish(&topic, &[], b"must not be stored").first_byte(0x31).to_vec());
    let mut conn = ctx.open("a").await?;
    conn.send_raw(&bytes).await?;
    let (_, closed) = conn.read_raw(ctx.timeout()).await;
    ensure!(
        closed,
        "the connection stayed open after a CONNECT with an unknown method and a PUBLISH"
    );
    let mut observer = ctx.client("o").await?;
    super::subscribed(
        &mut observer,
        1,
        vec![super::entry(&topic, QoS::AtMostOnce)],
        Properties::new(),
    )
    .await?;
    observer
        .expect_no_publish(
            ctx.quiet(),
            "a PUBLISH sent before CONNACK, during authentication, was processed [MQTT-3.1.4-6]",
        )
        .await?;
    observer.disconnect().await
}
