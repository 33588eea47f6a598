//! SUBSCRIBE and UNSUBSCRIBE: SUBACK codes, wildcards, `$` topics, overlapping and replaced
//! subscriptions, matching without normalisation, unsubscribing.

use mqttsim_codec::{Ack, Packet, QoS, ReasonCode};

use crate::check::{Cause, Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event, describe, require_grants};
use mqttsim_codec::raw::RawPacket;

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "subscribe-suback",
            V311,
            ["MQTT-3.8.4-1", "MQTT-3.8.4-2", "MQTT-2.3.1-7", "MQTT-3.8.4-5", "MQTT-3.9.3-2"],
            "SUBSCRIBE gets a SUBACK with its packet id and a valid code.",
            suback
        ),
        check!(
            "subscribe-multiple",
            V311,
            ["MQTT-3.8.4-4", "MQTT-3.9.3-1", "MQTT-3.8.4-5"],
            "Three filters in one SUBSCRIBE get three codes in order, and all three subscriptions work.",
            multiple
        ),
        check!(
            "wildcard-single-level",
            V311,
            ["MQTT-4.7.1-3", "MQTT-3.3.2-3", "MQTT-3.8.3-2"],
            "'+' matches exactly one level, including an empty one.",
            plus
        ),
        check!(
            "wildcard-multi-level",
            V311,
            ["MQTT-4.7.1-2", "MQTT-3.3.2-3", "MQTT-3.8.3-2"],
            "'#' matches the parent level and every level below.",
            hash
        ),
        check!(
            "wildcard-invalid-filters",
            V311,
            ["MQTT-4.7.1-2", "MQTT-4.7.1-3"],
            "Filters with misplaced wildcards are refused with 0x80 or close the connection.",
            invalid_filters
        ),
        check!(
            "subscribe-empty-filter",
            V311,
            ["MQTT-4.7.3-1"],
            "An empty topic filter is refused with 0x80 or closes the connection.",
            empty_filter
        ),
        check!(
            "dollar-topics",
            V311,
            ["MQTT-4.7.2-1"],
            "Filters starting with '#' or '+' do not match topics starting with '$'.",
            dollar
        )
        .alone(),
        check!(
            "overlapping-wildcard-low-exact-high",
            V311,
            ["MQTT-3.3.5-1"],
            "One SUBSCRIBE of '<root>/#' at QoS 0 then the topic at QoS 2: a copy arrives at QoS 2.",
            overlap_wildcard_low_exact_high
        ),
        check!(
            "overlapping-exact-low-wildcard-high",
            V311,
            ["MQTT-3.3.5-1"],
            "One SUBSCRIBE of the topic at QoS 0 then '<root>/#' at QoS 2: a copy arrives at QoS 2.",
            overlap_exact_low_wildcard_high
        ),
        check!(
            "overlapping-high-first",
            V311,
            ["MQTT-3.3.5-1"],
            "One SUBSCRIBE of the topic at QoS 2 then '<root>/#' at QoS 0: a copy arrives at QoS 2.",
            overlap_high_first
        ),
        check!(
            "overlapping-separate-low-first",
            V311,
            ["MQTT-3.3.5-1"],
            "SUBSCRIBE '<root>/#' at QoS 0, then SUBSCRIBE the topic at QoS 2: a copy arrives at QoS 2.",
            overlap_separate_low_first
        ),
        check!(
            "overlapping-separate-high-first",
            V311,
            ["MQTT-3.3.5-1"],
            "SUBSCRIBE the topic at QoS 2, then SUBSCRIBE '<root>/#' at QoS 0: a copy arrives at QoS 2.",
            overlap_separate_high_first
        ),
        check!(
            "overlapping-plus-low-hash-high",
            V311,
            ["MQTT-3.3.5-1"],
            "'<root>/+' at QoS 0 and '<root>/#' at QoS 2 in one SUBSCRIBE: a copy arrives at QoS 2.",
            overlap_plus_low_hash_high
        ),
        check!(
            "overlapping-hash-low-plus-high",
            V311,
            ["MQTT-3.3.5-1"],
            "'<root>/#' at QoS 0 and '<root>/+' at QoS 2 in one SUBSCRIBE: a copy arrives at QoS 2.",
            overlap_hash_low_plus_high
        ),
        check!(
            "overlapping-resumed-session",
            V311,
            ["MQTT-3.3.5-1"],
            "'<root>/#' at QoS 0 and the topic at QoS 2, restored with a resumed session: a copy arrives at QoS 2.",
            overlap_resumed
        ),
        check!(
            "subscribe-replaces",
            V311,
            ["MQTT-3.8.4-3"],
            "Subscribing twice to the same filter replaces the subscription: one copy, at the new QoS.",
            replaces
        ),
        check!(
            "topic-no-normalisation",
            V311,
            ["MQTT-4.7.3-4"],
            "Matching compares characters exactly: no case folding, no Unicode normalisation.",
            no_normalisation
        ),
        check!(
            "topic-bom-preserved",
            V311,
            ["MQTT-1.5.3-3"],
            "U+FEFF in a topic is neither stripped nor ignored.",
            bom
        ),
        check!(
            "unsubscribe-stops-delivery",
            V311,
            ["MQTT-3.10.4-1", "MQTT-3.10.4-2", "MQTT-3.10.4-4", "MQTT-2.3.1-7"],
            "UNSUBSCRIBE gets UNSUBACK with its id and stops delivery.",
            unsubscribe_stops
        ),
        check!(
            "unsubscribe-unknown",
            V311,
            ["MQTT-3.10.4-5"],
            "UNSUBSCRIBE of a filter never subscribed still gets UNSUBACK.",
            unsubscribe_unknown
        ),
        check!(
            "unsubscribe-multiple",
            V311,
            ["MQTT-3.10.4-6"],
            "UNSUBSCRIBE of two filters gets one UNSUBACK and removes both.",
            unsubscribe_multiple
        ),
        check!(
            "unsubscribe-exact-match",
            V311,
            ["MQTT-3.10.4-1"],
            "UNSUBSCRIBE compares filters literally: 'a/x' does not remove 'a/+'.",
            unsubscribe_exact
        ),
        check!(
            "unsubscribe-completes-qos2",
            V311,
            ["MQTT-3.10.4-3"],
            "A QoS 2 delivery in flight completes after its subscription is removed.",
            unsubscribe_completes
        ),
    ]
}

/// Collects the PUBLISH packets that arrive until nothing comes for a quiet period, acking them.
async fn drain(conn: &mut Conn, ctx: &Ctx) -> Result<Vec<mqttsim_codec::Publish>, Stop> {
    let mut got = Vec::new();
    loop {
        match conn.next_within(ctx.quiet()).await? {
            Event::Silent => return Ok(got),
            Event::Closed => fail!("{}: the broker closed the connection", conn.label()),
            Event::Packet(Packet::Publish(p)) => {
                conn.ack(&p).await?;
                got.push(p);
            }
            Event::Packet(p) => fail!("{}: unexpected {}", conn.label(), describe(&p)),
        }
    }
}

fn topics(got: &[mqttsim_codec::Publish]) -> Vec<String> {
    got.iter().map(|p| p.topic.to_string()).collect()
}

async fn suback(ctx: Ctx) -> Outcome {
    let mut conn = ctx.client("a").await?;
    let codes = conn.subscribe(0xBEEF, &[(&ctx.topic("t"), QoS::AtLeastOnce)]).await?;
    ensure!(
        matches!(codes[0].0, 0 | 1 | 0x80),
        "SUBACK code 0x{:02X} for a QoS 1 request [MQTT-3.9.3-2]",
        codes[0].0
    );
    conn.disconnect().await
}

async fn multiple(ctx: Ctx) -> Outcome {
    let asked = [
        (ctx.topic("two"), QoS::ExactlyOnce),
        (ctx.topic("zero"), QoS::AtMostOnce),
        (ctx.topic("one"), QoS::AtLeastOnce),
    ];
    let mut sub = ctx.client("s").await?;
    let filters: Vec<(&str, QoS)> = asked.iter().map(|(t, q)| (t.as_str(), *q)).collect();
    let codes = sub.subscribe(1, &filters).await?;
    for ((topic, qos), code) in asked.iter().zip(&codes) {
        match code.granted_qos() {
            Some(g) => ensure!(
                g <= *qos,
                "SUBACK codes {:02X?} do not follow the filter order: {topic} asked QoS {} [MQTT-3.9.3-1]",
                codes.iter().map(|c| c.0).collect::<Vec<_>>(),
                qos.as_u8()
            ),
            None => ensure!(
                *code == ReasonCode::UNSPECIFIED_ERROR,
                "SUBACK code 0x{:02X} is reserved [MQTT-3.9.3-2]",
                code.0
            ),
        }
    }
    let mut publisher = ctx.client("p").await?;
    for (i, (topic, _)) in asked.iter().enumerate() {
        publisher.publish(topic, b"x", QoS::AtLeastOnce, false, i as u16 + 1).await?;
    }
    // Messages on different topics may arrive in any order: ordering binds one topic.
    let mut got = topics(&drain(&mut sub, &ctx).await?);
    got.sort();
    let mut want: Vec<String> = asked
        .iter()
        .zip(&codes)
        .filter(|(_, c)| !c.is_error())
        .map(|((t, _), _)| t.clone())
        .collect();
    want.sort();
    ensure!(got == want, "expected one message on each of {want:?}, got {got:?} [MQTT-3.8.4-4]");
    sub.disconnect().await?;
    publisher.disconnect().await
}

/// Subscribes to `filter`, publishes to each topic, and compares what arrives with `want`.
async fn matching(
    ctx: &Ctx,
    filter: &str,
    publish: &[String],
    want: &[String],
    statement: &str,
) -> Outcome {
    let mut sub = ctx.client("s").await?;
    let codes = sub.subscribe(1, &[(filter, QoS::AtLeastOnce)]).await?;
    require_grants("s", &[(filter, QoS::AtLeastOnce)], &codes, &[QoS::AtMostOnce])?;
    let mut publisher = ctx.client("p").await?;
    for (i, topic) in publish.iter().enumerate() {
        publisher.publish(topic, b"x", QoS::AtLeastOnce, false, i as u16 + 1).await?;
    }
    // Messages on different topics may arrive in any order: compare them as sets.
    let mut got = topics(&drain(&mut sub, ctx).await?);
    got.sort();
    let mut want = want.to_vec();
    want.sort();
    ensure!(got == want, "filter {filter:?} received {got:?}, expected {want:?} [{statement}]");
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn plus(ctx: Ctx) -> Outcome {
    let root = ctx.root();
    let publish = [
        format!("{root}/b/c"),
        format!("{root}/b/x/c"),
        format!("{root}/c"),
        format!("{root}//c"),
        format!("{root}/b/cc"),
    ];
    let want = [publish[0].clone(), publish[3].clone()];
    matching(&ctx, &format!("{root}/+/c"), &publish, &want, "MQTT-4.7.1-3").await
}

async fn hash(ctx: Ctx) -> Outcome {
    let root = ctx.root();
    let publish = [
        format!("{root}/a"),
        format!("{root}/a/b"),
        format!("{root}/a/b/c"),
        format!("{root}/ab"),
        format!("{root}/b/a"),
    ];
    let want = [publish[0].clone(), publish[1].clone(), publish[2].clone()];
    matching(&ctx, &format!("{root}/a/#"), &publish, &want, "MQTT-4.7.1-2").await
}

/// Requires a SUBSCRIBE of `filter` to be refused with 0x80 or to close the connection.
async fn refused(ctx: &Ctx, tag: &str, filter: &str, statement: &str) -> Outcome {
    let mut conn = ctx.client(tag).await?;
    // Built by hand: an encoder may rightly refuse to put an invalid filter on the wire.
    conn.send_raw(&RawPacket::new(0x82).u16(1).utf8(filter).u8(0).to_vec()).await?;
    match conn.next_within(ctx.timeout()).await? {
        Event::Closed => Ok(()),
        Event::Packet(Packet::SubAck(a)) if a.reason_codes == [ReasonCode::UNSPECIFIED_ERROR] => {
            conn.disconnect().await
        }
        Event::Packet(p) => {
            fail!("the invalid filter {filter:?} was answered with {} [{statement}]", describe(&p))
        }
        Event::Silent => {
            fail!("the invalid filter {filter:?} got no answer within {:?}", ctx.timeout())
        }
    }
}

async fn invalid_filters(ctx: Ctx) -> Outcome {
    let root = ctx.root();
    refused(&ctx, "a", &format!("{root}/a#"), "MQTT-4.7.1-2").await?;
    refused(&ctx, "b", &format!("{root}/#/b"), "MQTT-4.7.1-2").await?;
    refused(&ctx, "c", &format!("{root}/a+/b"), "MQTT-4.7.1-3").await?;
    refused(&ctx, "d", &format!("{root}/+a"), "MQTT-4.7.1-3").await
}

async fn empty_filter(ctx: Ctx) -> Outcome {
    refused(&ctx, "a", "", "MQTT-4.7.3-1").await
}

async fn dollar(ctx: Ctx) -> Outcome {
    let topic = format!("${}", ctx.topic("x"));
    let mut direct = ctx.client("d").await?;
    direct.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    let mut wild = ctx.client("w").await?;
    let rest = topic.split_once('/').map(|(_, r)| r).unwrap_or_default();
    let plus = format!("+/{rest}");
    let asked = [("#", QoS::AtLeastOnce), (plus.as_str(), QoS::AtLeastOnce)];
    let codes = wild.subscribe(1, &asked).await?;
    if codes.iter().all(|c| c.is_error()) {
        require_grants("w", &asked, &codes, &[QoS::AtMostOnce, QoS::AtMostOnce])?;
    }
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"dollar", QoS::AtLeastOnce, false, 1).await?;
    if direct.next_within(ctx.quiet()).await? == Event::Silent {
        return Err(Stop::Skip(format!(
            "the broker does not deliver client messages on {topic:?}"
        )));
    }
    // This check runs alone, but '#' still sees whatever else the broker carries (other
    // clients, retained messages of earlier runs): only the '$' topic it published is judged.
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

/// One filter of an overlapping-subscription layout.
#[derive(Debug, Clone, Copy)]
enum Filter {
    /// The topic itself.
    Exact,
    /// `<root>/#`.
    Hash,
    /// `<root>/+`.
    Plus,
}

/// A layout of subscriptions that all match the topic `<root>/t`: the SUBSCRIBE packets in
/// order, each with its filters and requested QoS, and whether the session is resumed before
/// the message is published.
struct Layout {
    packets: &'static [&'static [(Filter, QoS)]],
    resumed: bool,
}

const Q0: QoS = QoS::AtMostOnce;
const Q2: QoS = QoS::ExactlyOnce;

// The layouts a broker could get wrong, each judged by its own check.
const WILDCARD_LOW_EXACT_HIGH: Layout =
    Layout { packets: &[&[(Filter::Hash, Q0), (Filter::Exact, Q2)]], resumed: false };
const EXACT_LOW_WILDCARD_HIGH: Layout =
    Layout { packets: &[&[(Filter::Exact, Q0), (Filter::Hash, Q2)]], resumed: false };
const HIGH_FIRST: Layout =
    Layout { packets: &[&[(Filter::Exact, Q2), (Filter::Hash, Q0)]], resumed: false };
const SEPARATE_LOW_FIRST: Layout =
    Layout { packets: &[&[(Filter::Hash, Q0)], &[(Filter::Exact, Q2)]], resumed: false };
const SEPARATE_HIGH_FIRST: Layout =
    Layout { packets: &[&[(Filter::Exact, Q2)], &[(Filter::Hash, Q0)]], resumed: false };
const PLUS_LOW_HASH_HIGH: Layout =
    Layout { packets: &[&[(Filter::Plus, Q0), (Filter::Hash, Q2)]], resumed: false };
const HASH_LOW_PLUS_HIGH: Layout =
    Layout { packets: &[&[(Filter::Hash, Q0), (Filter::Plus, Q2)]], resumed: false };
const RESUMED: Layout =
    Layout { packets: &[&[(Filter::Hash, Q0), (Filter::Exact, Q2)]], resumed: true };

async fn overlap_wildcard_low_exact_high(ctx: Ctx) -> Outcome {
    overlapping(ctx, &WILDCARD_LOW_EXACT_HIGH).await
}
async fn overlap_exact_low_wildcard_high(ctx: Ctx) -> Outcome {
    overlapping(ctx, &EXACT_LOW_WILDCARD_HIGH).await
}
async fn overlap_high_first(ctx: Ctx) -> Outcome {
    overlapping(ctx, &HIGH_FIRST).await
}
async fn overlap_separate_low_first(ctx: Ctx) -> Outcome {
    overlapping(ctx, &SEPARATE_LOW_FIRST).await
}
async fn overlap_separate_high_first(ctx: Ctx) -> Outcome {
    overlapping(ctx, &SEPARATE_HIGH_FIRST).await
}
async fn overlap_plus_low_hash_high(ctx: Ctx) -> Outcome {
    overlapping(ctx, &PLUS_LOW_HASH_HIGH).await
}
async fn overlap_hash_low_plus_high(ctx: Ctx) -> Outcome {
    overlapping(ctx, &HASH_LOW_PLUS_HIGH).await
}
async fn overlap_resumed(ctx: Ctx) -> Outcome {
    overlapping(ctx, &RESUMED).await
}

/// Subscribes as `layout` says, publishes one message to `<root>/t` at the highest QoS granted,
/// and requires a copy at that QoS: the maximum of the matching subscriptions [MQTT-3.3.5-1].
/// Further copies are allowed, at most one per matching subscription, each at a QoS one of them
/// was granted.
async fn overlapping(ctx: Ctx, layout: &Layout) -> Outcome {
    let topic = ctx.topic("t");
    let root = ctx.root();
    let filter = |f: Filter| match f {
        Filter::Exact => topic.clone(),
        Filter::Hash => format!("{root}/#"),
        Filter::Plus => format!("{root}/+"),
    };
    let id = ctx.client_id("s");
    let mut connect = ctx.connect_packet(&id);
    connect.clean_start = !layout.resumed;
    let (mut sub, _) = ctx.connect_accepted("s", connect.clone()).await?;
    let mut granted = Vec::new();
    for (i, packet) in layout.packets.iter().enumerate() {
        let filters: Vec<(String, QoS)> = packet.iter().map(|(f, q)| (filter(*f), *q)).collect();
        let asked: Vec<(&str, QoS)> = filters.iter().map(|(f, q)| (f.as_str(), *q)).collect();
        let codes = sub.subscribe(i as u16 + 1, &asked).await?;
        require_grants("s", &asked, &codes, &vec![QoS::AtMostOnce; asked.len()])?;
        granted.extend(codes.iter().filter_map(|c| c.granted_qos()));
    }
    let (Some(&high), Some(&low)) = (granted.iter().max(), granted.iter().min()) else {
        fail!("no subscription was granted");
    };
    if high == low {
        return Err(Stop::inconclusive(
            Cause::QosGrantedLower,
            format!(
                "every subscription was granted QoS {}: nothing tells them apart",
                high.as_u8()
            ),
        ));
    }
    if layout.resumed {
        sub.disconnect().await?;
        let (again, ack) = ctx.connect_accepted("s again", connect).await?;
        ensure!(ack.session_present, "the resumed session got Session Present 0 [MQTT-3.2.2-2]");
        sub = again;
    }
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"overlap", high, false, 1).await?;
    let got: Vec<_> =
        drain(&mut sub, &ctx).await?.into_iter().filter(|p| &p.payload[..] == b"overlap").collect();
    let qos: Vec<u8> = got.iter().map(|p| p.qos.as_u8()).collect();
    ensure!(
        got.iter().any(|p| p.qos == high),
        "a QoS {} message matching subscriptions granted QoS {:?} arrived as copies at QoS \
         {qos:?}, none at QoS {}, the maximum of the matching subscriptions [MQTT-3.3.5-1]",
        high.as_u8(),
        granted.iter().map(|q| q.as_u8()).collect::<Vec<_>>(),
        high.as_u8()
    );
    ensure!(
        got.len() <= granted.len(),
        "{} copies arrived for {} matching subscriptions",
        got.len(),
        granted.len()
    );
    ensure!(
        got.iter().all(|p| granted.contains(&p.qos)),
        "a copy arrived at a QoS no matching subscription was granted: {qos:?}"
    );
    sub.disconnect().await?;
    publisher.disconnect().await?;
    if layout.resumed {
        ctx.end_session(ctx.connect_packet(&id)).await?;
    }
    Ok(())
}

async fn replaces(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut sub = ctx.client("s").await?;
    sub.subscribe(1, &[(&topic, QoS::AtMostOnce)]).await?;
    sub.subscribe_granted(2, &topic, QoS::AtLeastOnce).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"x", QoS::AtLeastOnce, false, 1).await?;
    let got = drain(&mut sub, &ctx).await?;
    ensure!(
        got.len() == 1,
        "{} copies arrived: the subscription was not replaced [MQTT-3.8.4-3]",
        got.len()
    );
    ensure!(
        got[0].qos == QoS::AtLeastOnce,
        "the replacing subscription delivered at QoS {} [MQTT-3.8.4-3]",
        got[0].qos.as_u8()
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn no_normalisation(ctx: Ctx) -> Outcome {
    let composed = ctx.topic("caf\u{e9}");
    let decomposed = ctx.topic("cafe\u{301}");
    let upper = ctx.topic("Case");
    let lower = ctx.topic("case");
    let mut sub = ctx.client("s").await?;
    sub.subscribe(1, &[(&composed, QoS::AtLeastOnce), (&upper, QoS::AtLeastOnce)]).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&decomposed, b"x", QoS::AtLeastOnce, false, 1).await?;
    publisher.publish(&lower, b"x", QoS::AtLeastOnce, false, 2).await?;
    publisher.publish(&composed, b"x", QoS::AtLeastOnce, false, 3).await?;
    let got = topics(&drain(&mut sub, &ctx).await?);
    ensure!(got == [composed.clone()], "expected only {composed:?}, got {got:?} [MQTT-4.7.3-4]");
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn bom(ctx: Ctx) -> Outcome {
    let with = ctx.topic("\u{feff}x");
    let without = ctx.topic("x");
    let mut sub = ctx.client("s").await?;
    sub.subscribe(1, &[(&with, QoS::AtLeastOnce)]).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&without, b"x", QoS::AtLeastOnce, false, 1).await?;
    publisher.publish(&with, b"x", QoS::AtLeastOnce, false, 2).await?;
    let got = topics(&drain(&mut sub, &ctx).await?);
    ensure!(got == [with.clone()], "expected only {with:?}, got {got:?} [MQTT-1.5.3-3]");
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn unsubscribe_stops(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut sub = ctx.client("s").await?;
    sub.subscribe(1, &[(&topic, QoS::AtLeastOnce)]).await?;
    sub.unsubscribe(0x0707, &[&topic]).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"x", QoS::AtLeastOnce, false, 1).await?;
    sub.expect_no_publish(ctx.quiet(), "a message arrived after UNSUBSCRIBE [MQTT-3.10.4-2]")
        .await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn unsubscribe_unknown(ctx: Ctx) -> Outcome {
    let mut sub = ctx.client("s").await?;
    sub.unsubscribe(9, &[&ctx.topic("never")]).await?;
    sub.disconnect().await
}

async fn unsubscribe_multiple(ctx: Ctx) -> Outcome {
    let (a, b, c) = (ctx.topic("a"), ctx.topic("b"), ctx.topic("c"));
    let mut sub = ctx.client("s").await?;
    sub.subscribe(1, &[(&a, QoS::AtLeastOnce), (&b, QoS::AtLeastOnce), (&c, QoS::AtLeastOnce)])
        .await?;
    sub.unsubscribe(2, &[&a, &b]).await?;
    let mut publisher = ctx.client("p").await?;
    for (i, t) in [&a, &b, &c].iter().enumerate() {
        publisher.publish(t, b"x", QoS::AtLeastOnce, false, i as u16 + 1).await?;
    }
    let got = topics(&drain(&mut sub, &ctx).await?);
    ensure!(
        got == [c.clone()],
        "after unsubscribing two of three filters got {got:?} [MQTT-3.10.4-6]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn unsubscribe_exact(ctx: Ctx) -> Outcome {
    let filter = format!("{}/+", ctx.root());
    let topic = ctx.topic("x");
    let mut sub = ctx.client("s").await?;
    let codes = sub.subscribe(1, &[(&filter, QoS::AtLeastOnce)]).await?;
    require_grants("s", &[(&filter, QoS::AtLeastOnce)], &codes, &[QoS::AtMostOnce])?;
    sub.unsubscribe(2, &[&topic]).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"x", QoS::AtLeastOnce, false, 1).await?;
    let got = topics(&drain(&mut sub, &ctx).await?);
    ensure!(
        got == [topic.clone()],
        "unsubscribing {topic:?} affected the filter {filter:?}: got {got:?} [MQTT-3.10.4-1]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn unsubscribe_completes(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut sub = ctx.client("s").await?;
    sub.subscribe_granted(1, &topic, QoS::ExactlyOnce).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"x", QoS::ExactlyOnce, false, 1).await?;
    let got = sub.recv_publish().await?;
    sub.unsubscribe(2, &[&topic]).await?;
    sub.send(&Packet::PubRec(Ack::new(got.packet_id))).await?;
    match sub.recv_control().await? {
        Packet::PubRel(a) if a.packet_id == got.packet_id => {}
        p => fail!("PUBREC after UNSUBSCRIBE was answered with {} [MQTT-3.10.4-3]", describe(&p)),
    }
    sub.send(&Packet::PubComp(Ack::new(got.packet_id))).await?;
    sub.ping().await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}
