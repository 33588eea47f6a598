//! Retained messages: stored, delivered to new subscriptions with RETAIN 1, replaced, cleared.

use mqttsim_codec::QoS;

use crate::check::{Cause, Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event, describe, require_grants};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "retained-on-subscribe",
            V311,
            ["MQTT-3.3.1-5", "MQTT-3.3.1-6", "MQTT-3.3.1-8", "MQTT-3.1.2-7"],
            "A retained QoS 1 message outlives its publisher's session and reaches a new subscription with RETAIN 1.",
            on_subscribe
        ),
        check!(
            "retained-replaced-by-qos0",
            V311,
            ["MQTT-3.3.1-7"],
            "A retained QoS 0 message replaces the previous retained message.",
            replaced_by_qos0
        ),
        check!(
            "retained-cleared-by-empty",
            V311,
            ["MQTT-3.3.1-10", "MQTT-3.3.1-11"],
            "An empty retained message is delivered to subscribers and clears the retained message.",
            cleared
        ),
        check!(
            "retained-kept-by-plain-publish",
            V311,
            ["MQTT-3.3.1-12"],
            "A PUBLISH with RETAIN 0 does not replace the retained message.",
            kept_by_plain
        ),
        check!(
            "resubscribe-resends-retained",
            V311,
            ["MQTT-3.8.4-3"],
            "Subscribing again to the same filter re-sends retained messages and replaces the subscription.",
            resubscribe
        ),
        check!(
            "retained-granted-qos",
            V311,
            ["MQTT-3.8.4-6"],
            "A retained QoS 1 message reaches a new QoS 0 subscription at QoS 0, with RETAIN 1.",
            granted_qos
        ),
        check!(
            "publish-without-subscription",
            V311,
            ["MQTT-3.3.2-3"],
            "A client that subscribed to nothing matching gets no PUBLISH, not even a retained one.",
            without_subscription
        ),
    ]
}

/// Skips the check when the broker does not deliver retained messages at all.
async fn require_retain(ctx: &Ctx) -> Outcome {
    let topic = ctx.topic("probe");
    ctx.retained(&topic);
    let mut probe = ctx.client("probe").await?;
    probe.publish(&topic, b"probe", QoS::AtLeastOnce, true, 1).await?;
    probe.subscribe_granted(2, &topic, QoS::AtMostOnce).await?;
    match probe.next_within(ctx.quiet()).await? {
        Event::Packet(_) => probe.disconnect().await,
        _ => Err(Stop::inconclusive(
            Cause::RetainedNotDelivered,
            "probe: a retained message was not sent to a new subscription",
        )),
    }
}

/// A client subscribed to `topic` at QoS 1 (any grant will do; a refusal is inconclusive).
async fn fresh_subscriber(ctx: &Ctx, tag: &str, topic: &str) -> Result<Conn, Stop> {
    let mut sub = ctx.client(tag).await?;
    let codes = sub.subscribe(1, &[(topic, QoS::AtLeastOnce)]).await?;
    require_grants(tag, &[(topic, QoS::AtLeastOnce)], &codes, &[QoS::AtMostOnce])?;
    Ok(sub)
}

async fn on_subscribe(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"kept", QoS::AtLeastOnce, true, 1).await?;
    publisher.disconnect().await?;
    let filter = format!("{}/#", ctx.root());
    let mut sub = ctx.client("s").await?;
    sub.subscribe_granted(1, &filter, QoS::AtLeastOnce).await?;
    let got = sub.recv_acked().await.map_err(|e| {
        Stop::Fail(format!("no retained message for a new subscription [MQTT-3.3.1-6]: {e}"))
    })?;
    ensure!(
        *got.topic == topic && &got.payload[..] == b"kept",
        "expected the retained message, got {}",
        describe(&mqttsim_codec::Packet::Publish(got.clone()))
    );
    ensure!(
        got.retain,
        "a retained message sent for a new subscription has RETAIN 0 [MQTT-3.3.1-8]"
    );
    ensure!(
        got.qos == QoS::AtLeastOnce,
        "a retained QoS 1 message was delivered at QoS {} [MQTT-3.3.1-5]",
        got.qos.as_u8()
    );
    // One copy per subscription: a second with DUP 0 is the message sent twice (a re-send of
    // an unacknowledged copy would carry DUP 1; this one was acknowledged).
    let again = crate::checks::publish::drain_acked(&mut sub, &ctx).await?;
    ensure!(
        !again.iter().any(|p| *p.topic == topic && !p.dup),
        "the retained message was sent twice for one new subscription [MQTT-3.3.1-6]"
    );
    sub.disconnect().await
}

async fn replaced_by_qos0(ctx: Ctx) -> Outcome {
    require_retain(&ctx).await?;
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"old", QoS::AtLeastOnce, true, 1).await?;
    publisher.publish(&topic, b"new", QoS::AtMostOnce, true, 0).await?;
    publisher.ping().await?;
    // The standard orders nothing across connections: a broker may store the QoS 0 message a
    // moment after it answered the publisher. "old" on three new subscriptions, a quiet period
    // apart, is a failure; "new" or nothing (a QoS 0 retained message may be discarded) passes.
    for attempt in ["s", "s2", "s3"] {
        let mut sub = fresh_subscriber(&ctx, attempt, &topic).await?;
        let got = match sub.next_within(ctx.quiet()).await? {
            Event::Packet(mqttsim_codec::Packet::Publish(p)) => Some(p.payload),
            Event::Silent => None,
            Event::Packet(p) => fail!("unexpected {}", describe(&p)),
            Event::Closed => fail!("the subscriber was disconnected"),
        };
        sub.disconnect().await?;
        if got.as_deref() != Some(b"old") {
            return publisher.disconnect().await;
        }
    }
    fail!(
        "a retained QoS 0 message did not replace the old one: three new subscriptions, {:?} \
         apart, got \"old\" [MQTT-3.3.1-7]",
        ctx.quiet()
    )
}

async fn cleared(ctx: Ctx) -> Outcome {
    require_retain(&ctx).await?;
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"old", QoS::AtLeastOnce, true, 1).await?;
    let mut watcher = fresh_subscriber(&ctx, "w", &topic).await?;
    let old = watcher.recv_acked().await?;
    ensure!(&old.payload[..] == b"old", "expected the retained message \"old\"");
    publisher.publish(&topic, b"", QoS::AtLeastOnce, true, 2).await?;
    let empty = watcher.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "an empty retained PUBLISH was not delivered to a subscriber [MQTT-3.3.1-10]: {e}"
        ))
    })?;
    ensure!(empty.payload.is_empty(), "expected the empty message, got {:?}", empty.payload);
    let mut late = fresh_subscriber(&ctx, "late", &topic).await?;
    late.expect_no_publish(
        ctx.quiet(),
        "a retained message survived an empty retained PUBLISH [MQTT-3.3.1-10]",
    )
    .await?;
    late.disconnect().await?;
    watcher.disconnect().await?;
    publisher.disconnect().await
}

async fn kept_by_plain(ctx: Ctx) -> Outcome {
    require_retain(&ctx).await?;
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"retained", QoS::AtLeastOnce, true, 1).await?;
    publisher.publish(&topic, b"plain", QoS::AtLeastOnce, false, 2).await?;
    let mut sub = fresh_subscriber(&ctx, "s", &topic).await?;
    let got = sub.recv_acked().await?;
    ensure!(
        &got.payload[..] == b"retained",
        "a PUBLISH with RETAIN 0 replaced the retained message: got {:?} [MQTT-3.3.1-12]",
        String::from_utf8_lossy(&got.payload)
    );
    sub.expect_no_publish(ctx.quiet(), "more than the retained message arrived [MQTT-3.3.1-12]")
        .await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn resubscribe(ctx: Ctx) -> Outcome {
    require_retain(&ctx).await?;
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"r", QoS::AtLeastOnce, true, 1).await?;
    let mut sub = ctx.client("s").await?;
    sub.subscribe_granted(1, &topic, QoS::AtMostOnce).await?;
    let first = sub.recv_acked().await?;
    ensure!(first.retain, "the retained message arrived with RETAIN 0");
    sub.subscribe_granted(2, &topic, QoS::AtLeastOnce).await?;
    let again = sub.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "re-subscribing did not re-send the retained message [MQTT-3.8.4-3]: {e}"
        ))
    })?;
    ensure!(
        again.retain && &again.payload[..] == b"r",
        "expected the retained message again, got {}",
        describe(&mqttsim_codec::Packet::Publish(again.clone()))
    );
    publisher.publish(&topic, b"live", QoS::AtLeastOnce, false, 2).await?;
    let live = sub.recv_acked().await?;
    ensure!(
        live.qos == QoS::AtLeastOnce,
        "the replaced subscription still delivers at QoS {} [MQTT-3.8.4-3]",
        live.qos.as_u8()
    );
    sub.expect_no_publish(
        ctx.quiet(),
        "a second copy arrived: the subscription was added, not replaced [MQTT-3.8.4-3]",
    )
    .await?;
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn granted_qos(ctx: Ctx) -> Outcome {
    require_retain(&ctx).await?;
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"one", QoS::AtLeastOnce, true, 1).await?;
    let mut sub = ctx.client("s").await?;
    sub.subscribe_granted(1, &topic, QoS::AtMostOnce).await?;
    let got = sub.recv_acked().await.map_err(|e| {
        Stop::Fail(format!("the retained message did not reach the new subscription: {e}"))
    })?;
    ensure!(got.retain, "the retained message arrived with RETAIN 0");
    ensure!(
        got.qos == QoS::AtMostOnce,
        "a retained QoS 1 message reached a QoS 0 subscription at QoS {} [MQTT-3.8.4-6]",
        got.qos.as_u8()
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn without_subscription(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"kept", QoS::AtLeastOnce, true, 1).await?;
    publisher.disconnect().await?;
    // Another client subscribes to the topic and gets the retained message: some brokers then
    // push it to every new connection.
    let mut reader = ctx.client("r").await?;
    reader.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    reader.recv_acked().await?;
    reader.disconnect().await?;
    // A new client, subscribed to a topic the retained message does not match.
    let mut observer = ctx.client("o").await?;
    observer.subscribe_granted(1, &ctx.topic("other"), QoS::AtLeastOnce).await?;
    observer.expect_silence(ctx.quiet(), "a client without a matching subscription").await?;
    let root = format!("{}/", ctx.root());
    // Packets no subscription asked for are set aside by the connection; judge this check's own.
    if let Some((_, what)) = ctx.unsolicited_seen().into_iter().find(|(t, _)| t.starts_with(&root))
    {
        fail!(
            "the broker sent a PUBLISH that no subscription of the client matches: {what} \
             [MQTT-3.3.2-3]"
        );
    }
    observer.disconnect().await
}
