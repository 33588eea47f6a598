//! MQTT 5.0 SUBSCRIBE and UNSUBSCRIBE: reason codes, replacement, subscription options (No
//! Local), subscription identifiers, overlapping subscriptions, wildcards, `$` topics and topic
//! matching without normalisation.

use mqttsim_codec::{
    Packet, Properties, Property, Publish, QoS, ReasonCode, RetainHandling, Unsubscribe,
};

use super::{
    entry, entry_with, need_qos2, need_subscription_ids, need_wildcards, props, subscribe,
    subscribed, subscription_ids, text,
};
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "v5-subscribe-suback",
            V5,
            [
                "MQTT-3.8.4-1",
                "MQTT-3.8.4-2",
                "MQTT-2.2.1-6",
                "MQTT-3.8.4-7",
                "MQTT-3.9.3-2",
                "MQTT-2.2.2-1"
            ],
            "SUBSCRIBE gets a SUBACK with its packet id and a granted QoS for each filter.",
            suback
        ),
        check!(
            "v5-subscribe-multiple",
            V5,
            ["MQTT-3.8.4-5", "MQTT-3.8.4-6", "MQTT-3.9.3-1", "MQTT-3.8.4-8"],
            "Three filters at QoS 0, 1 and 2 in one SUBSCRIBE get one SUBACK with 0, 1, 2 in order, and deliver at those QoS.",
            multiple
        ),
        check!(
            "v5-subscribe-replaces",
            V5,
            ["MQTT-3.8.4-3"],
            "Subscribing again to the same filter replaces the subscription: one copy, at the new QoS.",
            replaces
        ),
        check!(
            "v5-no-local",
            V5,
            ["MQTT-3.8.3-3"],
            "With No Local a client does not get its own messages; other subscribers do.",
            no_local
        ),
        check!(
            "v5-subscription-identifier",
            V5,
            ["MQTT-3.3.4-3"],
            "A subscription's identifier comes with the messages it delivers, and only with those.",
            subscription_identifier
        ),
        check!(
            "v5-subscription-identifiers-overlapping",
            V5,
            ["MQTT-3.3.4-3", "MQTT-3.3.4-4", "MQTT-3.3.4-5"],
            "Overlapping subscriptions with identifiers 1 and 2: one copy carries both, or each copy its own.",
            identifiers_overlapping
        ),
        check!(
            "v5-overlapping-wildcard-low-exact-high",
            V5,
            ["MQTT-3.3.4-2"],
            "A QoS 2 message matching t/# at QoS 0 and t/x at QoS 2 arrives at least once at QoS 2.",
            overlapping_wildcard_low
        ),
        check!(
            "v5-overlapping-exact-low-wildcard-high",
            V5,
            ["MQTT-3.3.4-2"],
            "A QoS 2 message matching t/x at QoS 0 and t/# at QoS 2 arrives at least once at QoS 2.",
            overlapping_exact_low
        ),
        check!(
            "v5-wildcard-matching",
            V5,
            ["MQTT-3.3.2-3"],
            "'+' and '#' filters get exactly the topics they match, on their own topic names.",
            wildcard_matching
        ),
        check!(
            "v5-invalid-filters",
            V5,
            ["MQTT-4.7.1-1", "MQTT-4.7.1-2"],
            "Filters with a misplaced '#' or '+' are refused (SUBACK 0x80 or above, or a close).",
            invalid_filters
        ),
        check!(
            "v5-empty-filter",
            V5,
            ["MQTT-4.7.3-1"],
            "An empty topic filter is refused (SUBACK 0x80 or above, or a close).",
            empty_filter
        ),
        check!(
            "v5-no-normalisation",
            V5,
            ["MQTT-4.7.3-4"],
            "A filter with a composed é does not match a topic with e and a combining accent.",
            no_normalisation
        ),
        check!(
            "v5-dollar-topics",
            V5,
            ["MQTT-4.7.2-1"],
            "Filters starting with '#' or '+' do not match a topic starting with '$'.",
            dollar
        )
        .alone(),
        check!(
            "v5-unsubscribe",
            V5,
            ["MQTT-3.10.4-1", "MQTT-3.10.4-2", "MQTT-3.10.4-4", "MQTT-3.10.4-5", "MQTT-2.2.1-6"],
            "UNSUBSCRIBE removes only the filter it names character for character, and gets UNSUBACK with its id.",
            unsubscribe
        ),
        check!(
            "v5-unsubscribe-multiple",
            V5,
            ["MQTT-3.10.4-6", "MQTT-3.11.3-1", "MQTT-3.11.3-2", "MQTT-3.10.4-5"],
            "One UNSUBSCRIBE of three filters gets one UNSUBACK with a code per filter, in order.",
            unsubscribe_multiple
        ),
        check!(
            "v5-unsubscribe-completes-inflight",
            V5,
            ["MQTT-3.10.4-3"],
            "A QoS 2 delivery started before UNSUBSCRIBE is completed: PUBREC still gets PUBREL.",
            unsubscribe_completes
        ),
    ]
}

fn describe(conn: &Conn, p: &Publish) -> String {
    conn.describe(&Packet::Publish(p.clone()))
}

/// Every PUBLISH that arrives within the quiet period, acknowledged.
pub(crate) async fn drain(conn: &mut Conn, ctx: &Ctx) -> Result<Vec<Publish>, Stop> {
    let mut out = Vec::new();
    loop {
        match conn.next_within(ctx.quiet()).await? {
            Event::Packet(Packet::Publish(p)) => {
                conn.ack(&p).await?;
                out.push(p);
            }
            Event::Packet(p) => fail!("{}: unexpected {}", conn.label(), conn.describe(&p)),
            Event::Closed => fail!("{}: the broker closed the connection", conn.label()),
            Event::Silent => return Ok(out),
        }
    }
}

async fn suback(ctx: Ctx) -> Outcome {
    let mut conn = ctx.client("a").await?;
    let ack = conn
        .subscribe_packet(subscribe(
            0x4321,
            vec![entry(&ctx.topic("t"), QoS::AtLeastOnce)],
            Properties::new(),
        ))
        .await?;
    ensure!(
        ack.reason_codes.len() == 1,
        "SUBACK has {} codes for 1 filter [MQTT-3.9.3-2]",
        ack.reason_codes.len()
    );
    let code = ack.reason_codes[0];
    ensure!(
        code.granted_qos().is_some() || code.is_error(),
        "SUBACK code 0x{:02X} neither grants a QoS nor refuses [MQTT-3.8.4-7]",
        code.0
    );
    conn.disconnect().await
}

async fn multiple(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topics = [ctx.topic("q0"), ctx.topic("q1"), ctx.topic("q2")];
    let mut sub = ctx.client("s").await?;
    let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    let filters = topics.iter().zip(qos).map(|(t, q)| entry(t, q)).collect();
    let ack = sub.subscribe_packet(subscribe(1, filters, Properties::new())).await?;
    let codes: Vec<u8> = ack.reason_codes.iter().map(|c| c.0).collect();
    ensure!(codes.len() == 3, "SUBACK has {} codes for 3 filters [MQTT-3.8.4-6]", codes.len());
    if codes.iter().any(|c| *c >= 0x80) {
        return Err(Stop::inconclusive(
            crate::check::Cause::SubscriptionRefused,
            format!("SUBACK {codes:02X?}"),
        ));
    }
    ensure!(
        codes.windows(2).all(|w| w[0] <= w[1]) && codes.iter().zip(0..).all(|(c, i)| *c <= i),
        "filters asked at QoS 0, 1, 2 were granted {codes:02X?}: out of order or above what was asked [MQTT-3.9.3-1]"
    );
    if codes != [0, 1, 2] {
        return Err(Stop::inconclusive(
            crate::check::Cause::QosGrantedLower,
            format!("SUBACK {codes:02X?}"),
        ));
    }
    let mut publisher = ctx.client("p").await?;
    for t in &topics {
        publisher.publish(t, b"m", QoS::ExactlyOnce, false, 1).await?;
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(sub.recv_acked().await?);
    }
    for (t, q) in topics.iter().zip(qos) {
        let Some(p) = got.iter().find(|p| *p.topic == **t) else {
            fail!("no message arrived on {t:?}, subscribed in the same SUBSCRIBE [MQTT-3.8.4-5]");
        };
        ensure!(
            p.qos == q,
            "a QoS 2 message for a subscription granted QoS {} arrived as {} [MQTT-3.8.4-8]",
            q.as_u8(),
            describe(&sub, p)
        );
    }
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn replaces(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    subscribed(&mut sub, 2, vec![entry(&topic, QoS::AtMostOnce)], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"m", QoS::AtLeastOnce, false, 1).await?;
    let got = sub.recv_acked().await?;
    ensure!(
        got.qos == QoS::AtMostOnce,
        "after subscribing again at QoS 0, a QoS 1 message arrived as {} [MQTT-3.8.4-3]",
        describe(&sub, &got)
    );
    sub.expect_no_publish(
        ctx.quiet(),
        "a replaced subscription still delivered a second copy [MQTT-3.8.4-3]",
    )
    .await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn no_local(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut me = ctx.client("me").await?;
    let f = entry_with(&topic, QoS::AtMostOnce, true, false, RetainHandling::SendAtSubscribe);
    subscribed(&mut me, 1, vec![f], Properties::new()).await?;
    let mut other = ctx.client("o").await?;
    subscribed(&mut other, 1, vec![entry(&topic, QoS::AtMostOnce)], Properties::new()).await?;
    me.publish(&topic, b"mine", QoS::AtMostOnce, false, 0).await?;
    let got = other.recv_publish().await?;
    ensure!(&got.payload[..] == b"mine", "received {:?}", text(&got));
    me.expect_no_publish(
        ctx.quiet(),
        "a No Local subscription got its own client's message [MQTT-3.8.3-3]",
    )
    .await?;
    me.disconnect().await?;
    other.disconnect().await
}

async fn subscription_identifier(ctx: Ctx) -> Outcome {
    need_subscription_ids(&ctx)?;
    let topic = ctx.topic("t");
    let mut with = ctx.client("w").await?;
    subscribed(
        &mut with,
        1,
        vec![entry(&topic, QoS::AtMostOnce)],
        props([Property::SubscriptionIdentifier(7)]),
    )
    .await?;
    let mut without = ctx.client("o").await?;
    subscribed(&mut without, 1, vec![entry(&topic, QoS::AtMostOnce)], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"m", QoS::AtMostOnce, false, 0).await?;
    let got = with.recv_publish().await?;
    ensure!(
        subscription_ids(&got) == [7],
        "a message for a subscription with identifier 7 arrived as {} [MQTT-3.3.4-3]",
        describe(&with, &got)
    );
    let got = without.recv_publish().await?;
    ensure!(
        subscription_ids(&got).is_empty(),
        "another client's subscription identifier reached a subscriber without one: {} [MQTT-3.3.4-3]",
        describe(&without, &got)
    );
    with.disconnect().await?;
    without.disconnect().await?;
    publisher.disconnect().await
}

async fn identifiers_overlapping(ctx: Ctx) -> Outcome {
    need_subscription_ids(&ctx)?;
    need_wildcards(&ctx)?;
    let topic = ctx.topic("t");
    let mut sub = ctx.client("s").await?;
    subscribed(
        &mut sub,
        1,
        vec![entry(&topic, QoS::AtMostOnce)],
        props([Property::SubscriptionIdentifier(1)]),
    )
    .await?;
    subscribed(
        &mut sub,
        2,
        vec![entry(&ctx.topic("#"), QoS::AtMostOnce)],
        props([Property::SubscriptionIdentifier(2)]),
    )
    .await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"m", QoS::AtMostOnce, false, 0).await?;
    let mut copies = vec![sub.recv_publish().await?];
    copies.extend(drain(&mut sub, &ctx).await?);
    let ids: Vec<Vec<u32>> = copies.iter().map(subscription_ids).collect();
    match ids.len() {
        1 => ensure!(
            ids[0] == [1, 2],
            "one copy of a message matching subscriptions with identifiers 1 and 2 carries {:?} [MQTT-3.3.4-4] [MQTT-3.3.4-3]",
            ids[0]
        ),
        2 => {
            let mut sorted = ids.clone();
            sorted.sort();
            ensure!(
                sorted == [vec![1], vec![2]],
                "two copies of a message matching subscriptions with identifiers 1 and 2 carry {ids:?} [MQTT-3.3.4-5]"
            );
        }
        n => fail!("{n} copies of one message matching two subscriptions arrived: {ids:?}"),
    }
    sub.disconnect().await?;
    publisher.disconnect().await
}

/// Subscribes `first` then `second` (filter, QoS) in two SUBSCRIBEs, publishes at QoS 2 to the
/// topic both match, and requires a copy at QoS 2.
async fn overlapping(ctx: &Ctx, first: (&str, QoS), second: (&str, QoS)) -> Outcome {
    need_qos2(ctx)?;
    need_wildcards(ctx)?;
    let topic = ctx.topic("t/x");
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(first.0, first.1)], Properties::new()).await?;
    subscribed(&mut sub, 2, vec![entry(second.0, second.1)], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"m", QoS::ExactlyOnce, false, 1).await?;
    let mut copies = vec![sub.recv_acked().await?];
    copies.extend(drain(&mut sub, ctx).await?);
    let qos: Vec<u8> = copies.iter().map(|p| p.qos.as_u8()).collect();
    ensure!(
        qos.contains(&2),
        "a QoS 2 message matching subscriptions granted QoS 0 and 2 arrived as copies at QoS {qos:?}, none at QoS 2 [MQTT-3.3.4-2]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn overlapping_wildcard_low(ctx: Ctx) -> Outcome {
    let (wild, exact) = (ctx.topic("t/#"), ctx.topic("t/x"));
    overlapping(&ctx, (&wild, QoS::AtMostOnce), (&exact, QoS::ExactlyOnce)).await
}

async fn overlapping_exact_low(ctx: Ctx) -> Outcome {
    let (wild, exact) = (ctx.topic("t/#"), ctx.topic("t/x"));
    overlapping(&ctx, (&exact, QoS::AtMostOnce), (&wild, QoS::ExactlyOnce)).await
}

async fn wildcard_matching(ctx: Ctx) -> Outcome {
    need_wildcards(&ctx)?;
    let mut plus = ctx.client("plus").await?;
    subscribed(&mut plus, 1, vec![entry(&ctx.topic("a/+/c"), QoS::AtMostOnce)], Properties::new())
        .await?;
    let mut hash = ctx.client("hash").await?;
    subscribed(&mut hash, 1, vec![entry(&ctx.topic("a/#"), QoS::AtMostOnce)], Properties::new())
        .await?;
    let mut publisher = ctx.client("p").await?;
    let topics = ["a/b/c", "a/b/c/d", "a/c", "a", "b/b/c", "a//c"];
    for t in topics {
        publisher.publish(&ctx.topic(t), t.as_bytes(), QoS::AtMostOnce, false, 0).await?;
    }
    for (conn, want) in [
        (&mut plus, vec!["a/b/c", "a//c"]),
        (&mut hash, vec!["a/b/c", "a/b/c/d", "a/c", "a", "a//c"]),
    ] {
        let mut got: Vec<String> = Vec::new();
        for p in drain(conn, &ctx).await? {
            let t =
                p.topic.strip_prefix(&format!("{}/", ctx.root())).unwrap_or(&p.topic).to_string();
            ensure!(
                t == text(&p),
                "{}: a message published to {:?} arrived on {:?} [MQTT-3.3.2-3]",
                conn.label(),
                text(&p),
                &*p.topic
            );
            got.push(t);
        }
        got.sort();
        let mut want: Vec<String> = want.into_iter().map(str::to_string).collect();
        want.sort();
        ensure!(
            got == want,
            "{}: got the topics {got:?}, its filter matches {want:?} [MQTT-3.3.2-3]",
            conn.label()
        );
    }
    plus.disconnect().await?;
    hash.disconnect().await?;
    publisher.disconnect().await
}

/// Subscribes to `filter` on a fresh connection and requires a refusal: a SUBACK code of 0x80
/// or above, or a close (with at most a DISCONNECT of 0x80 or above first).
async fn refused_filter(ctx: &Ctx, tag: &str, filter: &[u8], why: &str) -> Outcome {
    let mut conn = ctx.client(tag).await?;
    let mut bytes =
        mqttsim_codec::raw::RawPacket::new(0x82).u16(1).u8(0).binary(filter).u8(0).to_vec();
    bytes.shrink_to_fit();
    conn.send_raw(&bytes).await?;
    match conn.next_within(ctx.timeout()).await? {
        Event::Packet(Packet::SubAck(a)) => {
            ensure!(
                a.reason_codes.len() == 1 && a.reason_codes[0].is_error(),
                "{tag}: {why}: the filter {:?} was granted: {} ",
                String::from_utf8_lossy(filter),
                conn.describe(&Packet::SubAck(a.clone()))
            );
            conn.disconnect().await
        }
        Event::Packet(Packet::Disconnect(d)) if d.reason_code.is_error() => {
            conn.expect_close(why).await
        }
        Event::Closed => Ok(()),
        Event::Packet(p) => {
            fail!("{tag}: {why}: SUBSCRIBE was answered with {}", conn.describe(&p))
        }
        Event::Silent => fail!("{tag}: {why}: no SUBACK and no close"),
    }
}

async fn invalid_filters(ctx: Ctx) -> Outcome {
    let cases = [
        ("a", "t/#/x", "'#' not last [MQTT-4.7.1-1]"),
        ("b", "t/x#", "'#' not after '/' [MQTT-4.7.1-1]"),
        ("c", "t/x+", "'+' not a whole level [MQTT-4.7.1-2]"),
        ("d", "t/+x/y", "'+' not a whole level [MQTT-4.7.1-2]"),
    ];
    for (tag, filter, why) in cases {
        refused_filter(&ctx, tag, ctx.topic(filter).as_bytes(), why).await?;
    }
    Ok(())
}

async fn empty_filter(ctx: Ctx) -> Outcome {
    refused_filter(&ctx, "a", b"", "an empty topic filter [MQTT-4.7.3-1]").await
}

async fn no_normalisation(ctx: Ctx) -> Outcome {
    let composed = ctx.topic("caf\u{E9}");
    let decomposed = ctx.topic("cafe\u{301}");
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(&composed, QoS::AtMostOnce)], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&decomposed, b"decomposed", QoS::AtMostOnce, false, 0).await?;
    publisher.publish(&composed, b"composed", QoS::AtMostOnce, false, 0).await?;
    let got = sub.recv_publish().await?;
    ensure!(
        &got.payload[..] == b"composed" && *got.topic == composed,
        "a filter with U+00E9 matched a topic with e and U+0301: {} [MQTT-4.7.3-4]",
        describe(&sub, &got)
    );
    sub.expect_no_publish(ctx.quiet(), "after the composed message [MQTT-4.7.3-4]").await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn dollar(ctx: Ctx) -> Outcome {
    need_wildcards(&ctx)?;
    let topic = format!("${}", ctx.topic("x"));
    let mut direct = ctx.client("d").await?;
    subscribed(&mut direct, 1, vec![entry(&topic, QoS::AtMostOnce)], Properties::new()).await?;
    let mut wild = ctx.client("w").await?;
    let rest = topic.split_once('/').map(|(_, r)| r).unwrap_or_default();
    let plus = format!("+/{rest}");
    let ack = wild
        .subscribe_packet(subscribe(
            1,
            vec![entry("#", QoS::AtMostOnce), entry(&plus, QoS::AtMostOnce)],
            Properties::new(),
        ))
        .await?;
    if ack.reason_codes.iter().all(|c| c.is_error()) {
        return Err(Stop::inconclusive(
            crate::check::Cause::SubscriptionRefused,
            "'#' and '+/...' were refused",
        ));
    }
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"dollar", QoS::AtMostOnce, false, 0).await?;
    if direct.next_within(ctx.quiet()).await? == Event::Silent {
        return Err(Stop::Skip(format!(
            "the broker does not deliver client messages on {topic:?}"
        )));
    }
    for p in drain(&mut wild, &ctx).await? {
        ensure!(
            *p.topic != topic,
            "a filter starting with a wildcard received {:?} [MQTT-4.7.2-1]",
            &*p.topic
        );
    }
    wild.disconnect().await?;
    direct.disconnect().await?;
    publisher.disconnect().await
}

async fn unsubscribe(ctx: Ctx) -> Outcome {
    need_wildcards(&ctx)?;
    let topic = ctx.topic("t/a");
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::AtMostOnce)], Properties::new()).await?;
    // A wildcard that matches the filter does not name it [MQTT-3.10.4-1].
    let ack = sub
        .unsubscribe_packet(Unsubscribe {
            packet_id: 0x2222,
            filters: vec![ctx.topic("t/+")],
            properties: Properties::new(),
        })
        .await?;
    ensure!(
        ack.reason_codes.len() == 1,
        "UNSUBACK has {} codes for 1 filter",
        ack.reason_codes.len()
    );
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"still", QoS::AtMostOnce, false, 0).await?;
    let got = sub.recv_publish().await.map_err(|e| {
        Stop::Fail(format!(
            "UNSUBSCRIBE of t/+ removed the subscription to t/a [MQTT-3.10.4-1]: {e}"
        ))
    })?;
    ensure!(&got.payload[..] == b"still", "received {:?}", text(&got));
    let ack = sub
        .unsubscribe_packet(Unsubscribe {
            packet_id: 0x3333,
            filters: vec![topic.clone()],
            properties: Properties::new(),
        })
        .await?;
    ensure!(
        ack.reason_codes == [ReasonCode::SUCCESS],
        "UNSUBACK for an existing subscription is {} [MQTT-3.11.3-2]",
        sub.describe(&Packet::UnsubAck(ack.clone()))
    );
    publisher.publish(&topic, b"gone", QoS::AtMostOnce, false, 0).await?;
    sub.expect_no_publish(ctx.quiet(), "a message arrived after UNSUBSCRIBE [MQTT-3.10.4-2]")
        .await?;
    // Nothing to delete still gets an UNSUBACK [MQTT-3.10.4-5].
    sub.unsubscribe_packet(Unsubscribe {
        packet_id: 0x4444,
        filters: vec![topic],
        properties: Properties::new(),
    })
    .await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn unsubscribe_multiple(ctx: Ctx) -> Outcome {
    let (a, b, none) = (ctx.topic("a"), ctx.topic("b"), ctx.topic("none"));
    let mut sub = ctx.client("s").await?;
    subscribed(
        &mut sub,
        1,
        vec![entry(&a, QoS::AtMostOnce), entry(&b, QoS::AtMostOnce)],
        Properties::new(),
    )
    .await?;
    let ack = sub
        .unsubscribe_packet(Unsubscribe {
            packet_id: 9,
            filters: vec![none, a.clone(), b.clone()],
            properties: Properties::new(),
        })
        .await?;
    let codes: Vec<u8> = ack.reason_codes.iter().map(|c| c.0).collect();
    ensure!(
        codes.len() == 3,
        "UNSUBACK has {} codes for 3 filters [MQTT-3.11.3-2] [MQTT-3.10.4-6]",
        codes.len()
    );
    ensure!(
        matches!(codes[0], 0x00 | 0x11) && codes[1] == 0x00 && codes[2] == 0x00,
        "UNSUBACK for (no subscription, subscribed, subscribed) is {codes:02X?} [MQTT-3.11.3-1] [MQTT-3.11.3-2]"
    );
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&a, b"a", QoS::AtMostOnce, false, 0).await?;
    publisher.publish(&b, b"b", QoS::AtMostOnce, false, 0).await?;
    sub.expect_no_publish(
        ctx.quiet(),
        "a filter of a multi-filter UNSUBSCRIBE still delivered [MQTT-3.10.4-6]",
    )
    .await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn unsubscribe_completes(ctx: Ctx) -> Outcome {
    need_qos2(&ctx)?;
    let topic = ctx.topic("t");
    let mut sub = ctx.client("s").await?;
    subscribed(&mut sub, 1, vec![entry(&topic, QoS::ExactlyOnce)], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"m", QoS::ExactlyOnce, false, 1).await?;
    let got = sub.recv_publish().await?;
    sub.unsubscribe_packet(Unsubscribe {
        packet_id: 5,
        filters: vec![topic],
        properties: Properties::new(),
    })
    .await?;
    sub.ack(&got).await.map_err(|e| {
        Stop::Fail(format!(
            "a QoS 2 delivery started before UNSUBSCRIBE was not completed [MQTT-3.10.4-3]: {e}"
        ))
    })?;
    sub.ping().await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}
