//! The MQTT 5.0 checks, one module per area of the standard, and [`all`], their table.
//!
//! - [`connect`]: CONNECT and CONNACK properties and reason codes, client ids, Clean Start,
//!   session expiry across reconnects, takeover, keep alive.
//! - [`publish`]: the QoS flows both ways, DUP, packet ids, ordering, message properties
//!   forwarded unchanged, request/response, payload format, message expiry, topic aliases.
//! - [`subscribe`]: SUBSCRIBE and UNSUBSCRIBE, subscription options (No Local, Retain As
//!   Published, Retain Handling), subscription identifiers, overlapping subscriptions,
//!   wildcards, `$` topics.
//! - [`shared`]: shared subscriptions.
//! - [`retain`]: retained messages.
//! - [`will`]: the Will, Will Delay Interval, Will properties, DISCONNECT 0x04.
//! - [`flow`]: Receive Maximum and flow control, Maximum Packet Size both ways, diagnostics left
//!   out of packets that would grow too large, Request Problem/Response Information.
//! - [`auth`]: AUTH and enhanced authentication.
//! - [`malformed`]: malformed 5.0 packets and protocol errors, and the client-only rules probed
//!   by sending their violation.
//!
//! Every check gates on the broker's capabilities as its CONNACK announces them (the run's
//! probe, [`Ctx::server`]): a broker without shared subscriptions, QoS 2, retained messages,
//! subscription identifiers or wildcard subscriptions gets a skip with the reason.

pub mod auth;
pub mod connect;
pub mod flow;
pub mod malformed;
pub mod publish;
pub mod retain;
pub mod shared;
pub mod subscribe;
pub mod will;

use bytes::Bytes;
use mqttsim_codec::raw::RawPacket;
use mqttsim_codec::{
    ConnAck, Connect, Packet, Properties, Property, Publish, QoS, ReasonCode, RetainHandling,
    Subscribe, SubscribeFilter, SubscriptionOptions,
};

use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event};

/// Every 5.0 check, in report order.
pub fn all() -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(connect::checks());
    checks.extend(publish::checks());
    checks.extend(subscribe::checks());
    checks.extend(shared::checks());
    checks.extend(retain::checks());
    checks.extend(will::checks());
    checks.extend(flow::checks());
    checks.extend(auth::checks());
    checks.extend(malformed::checks());
    checks
}

/// A property list.
pub(crate) fn props(list: impl IntoIterator<Item = Property>) -> Properties {
    Properties(list.into_iter().collect())
}

/// A clean-start 5.0 CONNECT for the client with tag `tag`, with these properties.
pub(crate) fn connect(ctx: &Ctx, tag: &str, properties: Properties) -> Connect {
    let mut connect = ctx.connect_packet(&ctx.client_id(tag));
    connect.properties = properties;
    connect
}

/// A CONNECT with Clean Start 0 and the given Session Expiry Interval.
pub(crate) fn persistent_connect(ctx: &Ctx, tag: &str, expiry: u32) -> Connect {
    let mut connect = connect(ctx, tag, props([Property::SessionExpiryInterval(expiry)]));
    connect.clean_start = false;
    connect
}

/// Connects `connect`, requiring CONNACK 0x00.
pub(crate) async fn accepted(
    ctx: &Ctx,
    label: &str,
    connect: Connect,
) -> Result<(Conn, ConnAck), Stop> {
    ctx.connect_accepted(label, connect).await
}

/// Connects a client with these CONNECT properties, requiring acceptance.
pub(crate) async fn client_with(
    ctx: &Ctx,
    tag: &str,
    properties: Properties,
) -> Result<Conn, Stop> {
    Ok(ctx.connect_accepted(tag, connect(ctx, tag, properties)).await?.0)
}

/// One SUBSCRIBE entry.
pub(crate) fn entry(filter: &str, qos: QoS) -> SubscribeFilter {
    SubscribeFilter {
        filter: filter.to_string(),
        options: SubscriptionOptions { qos, ..SubscriptionOptions::default() },
    }
}

/// One SUBSCRIBE entry with options.
pub(crate) fn entry_with(
    filter: &str,
    qos: QoS,
    no_local: bool,
    retain_as_published: bool,
    retain_handling: RetainHandling,
) -> SubscribeFilter {
    SubscribeFilter {
        filter: filter.to_string(),
        options: SubscriptionOptions { qos, no_local, retain_as_published, retain_handling },
    }
}

/// A SUBSCRIBE packet.
pub(crate) fn subscribe(
    packet_id: u16,
    filters: Vec<SubscribeFilter>,
    properties: Properties,
) -> Subscribe {
    Subscribe { packet_id, filters, properties }
}

/// Subscribes with `filters` and requires every entry's requested QoS to be granted (a refusal
/// or a lower grant is inconclusive, as the standard allows both).
pub(crate) async fn subscribed(
    conn: &mut Conn,
    packet_id: u16,
    filters: Vec<SubscribeFilter>,
    properties: Properties,
) -> Outcome {
    let asked: Vec<(String, QoS)> =
        filters.iter().map(|f| (f.filter.clone(), f.options.qos)).collect();
    let ack = conn.subscribe_packet(subscribe(packet_id, filters, properties)).await?;
    ensure!(
        ack.reason_codes.len() == asked.len(),
        "{}: SUBACK has {} reason codes for {} filters [MQTT-3.8.4-6] [MQTT-3.9.3-2]",
        conn.label(),
        ack.reason_codes.len(),
        asked.len()
    );
    let pairs: Vec<(&str, QoS)> = asked.iter().map(|(f, q)| (f.as_str(), *q)).collect();
    let need: Vec<QoS> = asked.iter().map(|(_, q)| *q).collect();
    crate::conn::require_grants(conn.label(), &pairs, &ack.reason_codes, &need)
}

/// A PUBLISH with properties.
pub(crate) fn message(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    packet_id: u16,
    properties: Properties,
) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        packet_id: if qos == QoS::AtMostOnce { 0 } else { packet_id },
        payload: Bytes::copy_from_slice(payload),
        properties,
    }
}

/// Skips unless the broker announces QoS 2.
pub(crate) fn need_qos2(ctx: &Ctx) -> Outcome {
    let max = ctx.server().maximum_qos;
    if max < QoS::ExactlyOnce {
        return Err(Stop::Skip(format!("the broker announces Maximum QoS {}", max.as_u8())));
    }
    Ok(())
}

/// Skips unless the broker announces at least QoS 1.
pub(crate) fn need_qos1(ctx: &Ctx) -> Outcome {
    if ctx.server().maximum_qos < QoS::AtLeastOnce {
        return Err(Stop::Skip("the broker announces Maximum QoS 0".into()));
    }
    Ok(())
}

/// Skips unless the broker announces retained messages.
pub(crate) fn need_retain(ctx: &Ctx) -> Outcome {
    if !ctx.server().retain_available {
        return Err(Stop::Skip("the broker announces Retain Available 0".into()));
    }
    Ok(())
}

/// Skips unless the broker announces shared subscriptions.
pub(crate) fn need_shared(ctx: &Ctx) -> Outcome {
    if !ctx.server().shared_subscriptions {
        return Err(Stop::Skip("the broker announces Shared Subscription Available 0".into()));
    }
    Ok(())
}

/// Skips unless the broker announces subscription identifiers.
pub(crate) fn need_subscription_ids(ctx: &Ctx) -> Outcome {
    if !ctx.server().subscription_identifiers {
        return Err(Stop::Skip("the broker announces Subscription Identifier Available 0".into()));
    }
    Ok(())
}

/// Skips unless the broker announces wildcard subscriptions.
pub(crate) fn need_wildcards(ctx: &Ctx) -> Outcome {
    if !ctx.server().wildcards {
        return Err(Stop::Skip("the broker announces Wildcard Subscription Available 0".into()));
    }
    Ok(())
}

/// The start of a 5.0 CONNECT as a raw packet: protocol name, level 5, `flags`, keep alive 60.
/// The properties and the payload fields follow.
pub(crate) fn raw_connect(flags: u8) -> RawPacket {
    RawPacket::new(0x10).utf8("MQTT").u8(5).u8(flags).u16(60)
}

/// A raw 5.0 PUBLISH QoS 0 to `topic` with the raw property bytes `props` and `payload`.
pub(crate) fn raw_publish(topic: &str, props: &[u8], payload: &[u8]) -> RawPacket {
    RawPacket::new(0x30).utf8(topic).vbi(props.len() as u32).bytes(props).bytes(payload)
}

/// The payload bytes of a PUBLISH as text for failure reasons.
pub(crate) fn text(p: &Publish) -> String {
    String::from_utf8_lossy(&p.payload).into_owned()
}

/// The user properties of a property list, in order.
pub(crate) fn user_properties(props: &Properties) -> Vec<(String, String)> {
    props
        .iter()
        .filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

/// The subscription identifiers of a PUBLISH, sorted.
pub(crate) fn subscription_ids(p: &Publish) -> Vec<u32> {
    let mut ids: Vec<u32> = p
        .properties
        .iter()
        .filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// The Message Expiry Interval of a PUBLISH, if any.
pub(crate) fn expiry(p: &Publish) -> Option<u32> {
    p.properties.iter().find_map(|p| match p {
        Property::MessageExpiryInterval(v) => Some(*v),
        _ => None,
    })
}

/// Connects a persistent client, subscribes it, and returns it with the Session Present flag
/// of its CONNACK.
pub(crate) async fn persistent_subscriber(
    ctx: &Ctx,
    tag: &str,
    expiry: u32,
    filter: &str,
    qos: QoS,
) -> Result<(Conn, bool), Stop> {
    let (mut conn, ack) = accepted(ctx, tag, persistent_connect(ctx, tag, expiry)).await?;
    subscribed(&mut conn, 1, vec![entry(filter, qos)], Properties::new()).await?;
    Ok((conn, ack.session_present))
}

/// Ends a persistent session the check created (best effort: the verdict is already made).
pub(crate) async fn end_session(ctx: &Ctx, tag: &str) -> Outcome {
    ctx.end_session(connect(ctx, tag, Properties::new())).await
}

/// Requires the broker to refuse a CONNECT by closing the connection, with at most one CONNACK
/// of reason code 0x80 or above first; a DISCONNECT before any CONNACK breaks [MQTT-3.14.0-1].
/// Returns the CONNACK's reason code, if one came.
pub(crate) async fn connect_refused(
    conn: &mut Conn,
    why: &str,
) -> Result<Option<ReasonCode>, Stop> {
    let mut code = None;
    loop {
        match conn.next_within(conn.timeout()).await? {
            Event::Closed => return Ok(code),
            Event::Packet(Packet::ConnAck(a)) if a.reason_code.is_error() && code.is_none() => {
                code = Some(a.reason_code);
            }
            Event::Packet(p @ Packet::Disconnect(_)) => fail!(
                "{}: {why}: the broker sent {} before any CONNACK [MQTT-3.14.0-1]",
                conn.label(),
                conn.describe(&p)
            ),
            Event::Packet(p) => {
                fail!("{}: {why}: expected a close, got {}", conn.label(), conn.describe(&p))
            }
            Event::Silent => fail!("{}: {why}: the connection was still open", conn.label()),
        }
    }
}

/// Requires the broker to accept a plain 5.0 CONNECT, so that a broker closing every
/// connection cannot pass the checks that expect a close.
pub(crate) async fn baseline(ctx: &Ctx) -> Outcome {
    ctx.client("ok").await?.disconnect().await
}

/// Opens a connection, sends `bytes` as the first packet, and requires a refusal
/// ([`connect_refused`]). Returns the CONNACK's reason code, if one came.
pub(crate) async fn first_packet_refused(
    ctx: &Ctx,
    bytes: &[u8],
    why: &str,
) -> Result<Option<ReasonCode>, Stop> {
    baseline(ctx).await?;
    let mut conn = ctx.open("a").await?;
    conn.send_raw(bytes).await?;
    let code = connect_refused(&mut conn, why).await?;
    let not_authorised = [ReasonCode::BAD_USER_NAME_OR_PASSWORD, ReasonCode::NOT_AUTHORIZED];
    if ctx.has_credentials() && code.is_some_and(|c| not_authorised.contains(&c)) {
        return Err(super::credentials_needed(why));
    }
    Ok(code)
}

/// Connects a client, sends `bytes`, and requires the broker to close the connection, with at
/// most a DISCONNECT of reason code 0x80 or above first (any, when `codes` is empty).
pub(crate) async fn connected_then_refused(
    ctx: &Ctx,
    bytes: &[u8],
    codes: &[u8],
    why: &str,
) -> Result<Option<ReasonCode>, Stop> {
    let mut conn = ctx.client("a").await?;
    conn.send_raw(bytes).await?;
    conn.expect_refusal(why, codes).await
}
