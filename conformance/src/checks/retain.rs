//! Retained messages: stored, delivered to new subscriptions with RETAIN 1, replaced, cleared.

use mqttsim_codec::QoS;

use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event, describe};

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
    ]
}

/// Skips the check when the broker does not deliver retained messages at all.
async fn require_retain(ctx: &Ctx) -> Outcome {
    let topic = ctx.topic("probe");
    ctx.retained(&topic);
    let mut probe = ctx.client("probe").await?;
    probe.publish(&topic, b"probe", QoS::AtLeastOnce, true, 1).await?;
    probe.subscribe(2, &[(&topic, QoS::AtLeastOnce)]).await?;
    match probe.next_within(ctx.quiet()).await? {
        Event::Packet(_) => probe.disconnect().await,
        _ => Err(Stop::Skip(
            "the broker does not deliver retained messages (see retained-on-subscribe)".into(),
        )),
    }
}

async fn fresh_subscriber(ctx: &Ctx, tag: &str, topic: &str) -> Result<Conn, Stop> {
    let mut sub = ctx.client(tag).await?;
    sub.subscribe(1, &[(topic, QoS::AtLeastOnce)]).await?;
    Ok(sub)
}

async fn on_subscribe(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"kept", QoS::AtLeastOnce, true, 1).await?;
    publisher.disconnect().await?;
    let mut sub = fresh_subscriber(&ctx, "s", &format!("{}/#", ctx.root())).await?;
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
    let mut sub = fresh_subscriber(&ctx, "s", &topic).await?;
    match sub.next_within(ctx.quiet()).await? {
        Event::Packet(mqttsim_codec::Packet::Publish(p)) => {
            ensure!(
                &p.payload[..] == b"new",
                "a retained QoS 0 message did not replace the old one: got {:?} [MQTT-3.3.1-7]",
                String::from_utf8_lossy(&p.payload)
            );
        }
        Event::Silent => {} // The server may discard a retained QoS 0 message.
        Event::Packet(p) => fail!("unexpected {}", describe(&p)),
        Event::Closed => fail!("the subscriber was disconnected"),
    }
    sub.disconnect().await?;
    publisher.disconnect().await
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
    sub.subscribe(1, &[(&topic, QoS::AtMostOnce)]).await?;
    let first = sub.recv_acked().await?;
    ensure!(first.retain, "the retained message arrived with RETAIN 0");
    sub.subscribe(2, &[(&topic, QoS::AtLeastOnce)]).await?;
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
