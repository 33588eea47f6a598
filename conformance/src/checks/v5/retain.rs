//! MQTT 5.0 retained messages: storing, replacing and clearing, Retain Handling 0, 1 and 2,
//! Retain As Published, and re-subscription.

use std::time::Duration;

use mqttsim_codec::{Packet, Properties, Property, QoS, RetainHandling};

use super::{entry, entry_with, message, need_retain, props, subscribed, text};
use crate::check::{Cause, Check, Ctx, Outcome, Stop};
use crate::conn::Conn;

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "v5-retained-stored-and-replaced",
            V5,
            ["MQTT-3.3.1-5", "MQTT-3.3.1-9"],
            "A retained message is stored, a second replaces it, and a new subscription gets the last one.",
            stored_and_replaced
        ),
        check!(
            "v5-retained-cleared-by-empty",
            V5,
            ["MQTT-3.3.1-6", "MQTT-3.3.1-7"],
            "A retained PUBLISH with an empty payload is delivered, removes the retained message and is not kept itself.",
            cleared_by_empty
        ),
        check!(
            "v5-retained-kept-by-plain-publish",
            V5,
            ["MQTT-3.3.1-8"],
            "A PUBLISH with RETAIN 0 neither replaces nor removes the retained message.",
            kept_by_plain
        ),
        check!(
            "v5-retain-handling-1",
            V5,
            ["MQTT-3.3.1-10"],
            "Retain Handling 1 sends retained messages for a new subscription, not when it already exists.",
            handling_1
        ),
        check!(
            "v5-retain-handling-2",
            V5,
            ["MQTT-3.3.1-11"],
            "Retain Handling 2 sends no retained message on subscribe.",
            handling_2
        ),
        check!(
            "v5-retain-as-published-0",
            V5,
            ["MQTT-3.3.1-12"],
            "Without Retain As Published a retained PUBLISH reaches an existing subscription with RETAIN 0.",
            rap_0
        ),
        check!(
            "v5-retain-as-published-1",
            V5,
            ["MQTT-3.3.1-13"],
            "With Retain As Published the forwarded RETAIN flag is the one published.",
            rap_1
        ),
        check!(
            "v5-resubscribe-resends-retained",
            V5,
            ["MQTT-3.8.4-4"],
            "Subscribing again with Retain Handling 0 sends the retained message again, and loses no live message.",
            resubscribe
        ),
        check!(
            "v5-retained-message-expiry",
            V5,
            ["MQTT-3.3.2-5"],
            "A retained message whose Message Expiry Interval has passed is not sent to a new subscription.",
            retained_expiry
        ),
    ]
}

/// Subscribes a fresh client to `topic` with `handling` and returns the retained messages it
/// gets within the quiet period.
async fn retained_on_subscribe(
    ctx: &Ctx,
    conn: &mut Conn,
    id: u16,
    topic: &str,
    handling: RetainHandling,
) -> Result<Vec<mqttsim_codec::Publish>, Stop> {
    let f = entry_with(topic, QoS::AtLeastOnce, false, false, handling);
    subscribed(conn, id, vec![f], Properties::new()).await?;
    super::subscribe::drain(conn, ctx).await
}

/// Publishes a retained message and requires a new subscription to get it (Retain Handling 0),
/// or the check is inconclusive.
async fn set_retained(ctx: &Ctx, topic: &str, payload: &[u8]) -> Result<Conn, Stop> {
    need_retain(ctx)?;
    ctx.retained(topic);
    let mut publisher = ctx.client("p").await?;
    publisher.publish(topic, payload, QoS::AtLeastOnce, true, 1).await?;
    Ok(publisher)
}

async fn stored_and_replaced(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut publisher = set_retained(&ctx, &topic, b"first").await?;
    publisher.publish(&topic, b"second", QoS::AtLeastOnce, true, 2).await?;
    let mut sub = ctx.client("s").await?;
    let got =
        retained_on_subscribe(&ctx, &mut sub, 1, &topic, RetainHandling::SendAtSubscribe).await?;
    let texts: Vec<String> = got.iter().map(text).collect();
    ensure!(
        texts == ["second"],
        "a new subscription got the retained messages {texts:?}; \"second\" replaced \"first\" \
         [MQTT-3.3.1-5] [MQTT-3.3.1-9]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn cleared_by_empty(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut publisher = set_retained(&ctx, &topic, b"old").await?;
    let mut live = ctx.client("l").await?;
    let got =
        retained_on_subscribe(&ctx, &mut live, 1, &topic, RetainHandling::SendAtSubscribe).await?;
    if got.is_empty() {
        return Err(Stop::inconclusive(
            Cause::RetainedNotDelivered,
            "a new subscription got no retained message",
        ));
    }
    publisher.publish(&topic, b"", QoS::AtLeastOnce, true, 2).await?;
    let empty = live.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "a retained PUBLISH with an empty payload was not delivered [MQTT-3.3.1-6]: {e}"
        ))
    })?;
    ensure!(empty.payload.is_empty(), "received {:?} instead of the empty message", text(&empty));
    let mut later = ctx.client("n").await?;
    let got =
        retained_on_subscribe(&ctx, &mut later, 1, &topic, RetainHandling::SendAtSubscribe).await?;
    ensure!(
        got.is_empty(),
        "after an empty retained PUBLISH a new subscription still got {:?} [MQTT-3.3.1-6] [MQTT-3.3.1-7]",
        got.iter().map(text).collect::<Vec<_>>()
    );
    live.disconnect().await?;
    later.disconnect().await?;
    publisher.disconnect().await
}

async fn kept_by_plain(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut publisher = set_retained(&ctx, &topic, b"kept").await?;
    publisher.publish(&topic, b"plain", QoS::AtLeastOnce, false, 2).await?;
    publisher.publish(&topic, b"", QoS::AtLeastOnce, false, 3).await?;
    let mut sub = ctx.client("s").await?;
    let got =
        retained_on_subscribe(&ctx, &mut sub, 1, &topic, RetainHandling::SendAtSubscribe).await?;
    let texts: Vec<String> = got.iter().map(text).collect();
    if texts.is_empty() {
        return Err(Stop::inconclusive(
            Cause::RetainedNotDelivered,
            "a new subscription got no retained message",
        ));
    }
    ensure!(
        texts == ["kept"],
        "after PUBLISH with RETAIN 0 a new subscription got {texts:?} instead of \"kept\" [MQTT-3.3.1-8]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn handling_1(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let publisher = set_retained(&ctx, &topic, b"kept").await?;
    let mut sub = ctx.client("s").await?;
    let first = retained_on_subscribe(&ctx, &mut sub, 1, &topic, RetainHandling::SendIfNew).await?;
    ensure!(
        first.len() == 1 && &first[0].payload[..] == b"kept",
        "a new subscription with Retain Handling 1 got {:?} [MQTT-3.3.1-10]",
        first.iter().map(text).collect::<Vec<_>>()
    );
    let again = retained_on_subscribe(&ctx, &mut sub, 2, &topic, RetainHandling::SendIfNew).await?;
    ensure!(
        again.is_empty(),
        "subscribing again with Retain Handling 1 to an existing subscription sent the retained \
         message again [MQTT-3.3.1-10]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn handling_2(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let publisher = set_retained(&ctx, &topic, b"kept").await?;
    let mut sub = ctx.client("s").await?;
    let got = retained_on_subscribe(&ctx, &mut sub, 1, &topic, RetainHandling::DoNotSend).await?;
    ensure!(
        got.is_empty(),
        "a subscription with Retain Handling 2 got the retained message [MQTT-3.3.1-11]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn rap(ctx: &Ctx, retain_as_published: bool) -> Outcome {
    need_retain(ctx)?;
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut sub = ctx.client("s").await?;
    let f = entry_with(
        &topic,
        QoS::AtLeastOnce,
        false,
        retain_as_published,
        RetainHandling::SendAtSubscribe,
    );
    subscribed(&mut sub, 1, vec![f], Properties::new()).await?;
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"retained", QoS::AtLeastOnce, true, 1).await?;
    publisher.publish(&topic, b"plain", QoS::AtLeastOnce, false, 2).await?;
    for (payload, published) in [("retained", true), ("plain", false)] {
        let got = sub.recv_acked().await?;
        let want = retain_as_published && published;
        let statement = if retain_as_published { "MQTT-3.3.1-13" } else { "MQTT-3.3.1-12" };
        ensure!(
            text(&got) == payload && got.retain == want,
            "with Retain As Published {}, a message published with RETAIN {} arrived as {} [{statement}]",
            u8::from(retain_as_published),
            u8::from(published),
            sub.describe(&Packet::Publish(got.clone()))
        );
    }
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn rap_0(ctx: Ctx) -> Outcome {
    rap(&ctx, false).await
}

async fn rap_1(ctx: Ctx) -> Outcome {
    rap(&ctx, true).await
}

async fn resubscribe(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut publisher = set_retained(&ctx, &topic, b"kept").await?;
    let mut sub = ctx.client("s").await?;
    let first =
        retained_on_subscribe(&ctx, &mut sub, 1, &topic, RetainHandling::SendAtSubscribe).await?;
    if first.is_empty() {
        return Err(Stop::inconclusive(
            Cause::RetainedNotDelivered,
            "a new subscription got no retained message",
        ));
    }
    publisher.publish(&topic, b"live", QoS::AtLeastOnce, false, 2).await?;
    subscribed(&mut sub, 2, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    let mut got: Vec<String> =
        super::subscribe::drain(&mut sub, &ctx).await?.iter().map(text).collect();
    got.sort();
    ensure!(
        got.iter().any(|t| t == "kept") && got.iter().any(|t| t == "live"),
        "around a repeated SUBSCRIBE with Retain Handling 0 the subscriber got {got:?}: the \
         retained message again and the live one expected [MQTT-3.8.4-4]"
    );
    sub.disconnect().await?;
    publisher.disconnect().await
}

async fn retained_expiry(ctx: Ctx) -> Outcome {
    need_retain(&ctx)?;
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut publisher = ctx.client("p").await?;
    let expiring = props([Property::MessageExpiryInterval(2)]);
    publisher
        .publish_packet(message(&topic, b"brief", QoS::AtLeastOnce, true, 1, expiring))
        .await?;
    let mut early = ctx.client("early").await?;
    let got =
        retained_on_subscribe(&ctx, &mut early, 1, &topic, RetainHandling::SendAtSubscribe).await?;
    if got.is_empty() {
        return Err(Stop::inconclusive(
            Cause::RetainedNotDelivered,
            "a subscription made at once got no retained message",
        ));
    }
    early.disconnect().await?;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut late = ctx.client("late").await?;
    let got =
        retained_on_subscribe(&ctx, &mut late, 1, &topic, RetainHandling::SendAtSubscribe).await?;
    ensure!(
        got.is_empty(),
        "a retained message whose Message Expiry Interval of 2 s had passed 1.5 s before was \
         sent to a new subscription: {} [MQTT-3.3.2-5]",
        late.describe(&Packet::Publish(got[0].clone()))
    );
    late.disconnect().await?;
    publisher.disconnect().await
}
