//! The Will: published when the connection dies without DISCONNECT (socket close, keep-alive
//! expiry, malformed DISCONNECT), not after DISCONNECT, with its QoS and retain flag.

use bytes::Bytes;
use mqttsim_codec::{Connect, QoS, Will};

use super::keepalive::KEEPALIVE_SLACK;
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event, describe};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "will-on-socket-close",
            V311,
            ["MQTT-3.1.2-8"],
            "The Will is published when the client's connection drops without DISCONNECT.",
            on_close
        ),
        check!(
            "will-on-keepalive-expiry",
            V311,
            ["MQTT-3.1.2-8"],
            "The Will is published when a client with keep alive 1 s falls silent.",
            on_keepalive
        ),
        check!(
            "will-on-takeover",
            V311,
            ["MQTT-3.1.2-8", "MQTT-3.1.4-2"],
            "The Will is published when a second client with the same id takes the session over.",
            on_takeover
        ),
        check!(
            "will-on-takeover-persistent",
            V311,
            ["MQTT-3.1.2-8", "MQTT-3.1.4-2"],
            "The Will is published when a second client with the same id takes a persistent \
             session (CleanSession 0) over.",
            on_takeover_persistent
        ),
        check!(
            "will-not-after-disconnect",
            V311,
            ["MQTT-3.14.4-3", "MQTT-3.1.2-10"],
            "No Will is published after DISCONNECT, not even when the socket closes later.",
            not_after_disconnect
        ),
        check!(
            "will-absent-without-flag",
            V311,
            ["MQTT-3.1.2-12"],
            "A client connected without a Will publishes nothing when its connection drops.",
            absent_without_flag
        ),
        check!(
            "will-retained",
            V311,
            ["MQTT-3.1.2-17", "MQTT-3.3.1-8"],
            "A Will with QoS 1 and retain 1 is delivered at QoS 1 and kept as the retained message.",
            retained
        ),
        check!(
            "will-not-retained",
            V311,
            ["MQTT-3.1.2-16"],
            "A Will with retain 0 is delivered but not kept as a retained message.",
            not_retained
        ),
        check!(
            "will-qos-2",
            V311,
            ["MQTT-3.1.2-8", "MQTT-4.3.3-1"],
            "A Will with QoS 2 reaches a QoS 2 subscriber at QoS 2.",
            qos_2
        ),
    ]
}

fn with_will(ctx: &Ctx, tag: &str, topic: &str, qos: QoS, retain: bool) -> Connect {
    let mut connect = ctx.connect_packet(&ctx.client_id(tag));
    connect.will = Some(Will {
        topic: topic.into(),
        payload: Bytes::from_static(b"gone"),
        qos,
        retain,
        properties: Default::default(),
    });
    connect
}

async fn watcher(ctx: &Ctx, topic: &str, qos: QoS) -> Result<Conn, Stop> {
    let mut watcher = ctx.client("w").await?;
    watcher.subscribe_granted(1, topic, qos).await?;
    Ok(watcher)
}

async fn expect_will(
    watcher: &mut Conn,
    topic: &str,
    why: &str,
) -> Result<mqttsim_codec::Publish, Stop> {
    let will = watcher
        .recv_acked()
        .await
        .map_err(|e| Stop::Fail(format!("no Will after {why} [MQTT-3.1.2-8]: {e}")))?;
    ensure!(
        &*will.topic == topic && &will.payload[..] == b"gone",
        "expected the Will, got {}",
        describe(&mqttsim_codec::Packet::Publish(will.clone()))
    );
    Ok(will)
}

async fn on_close(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut watcher = watcher(&ctx, &topic, QoS::AtLeastOnce).await?;
    let (conn, _) =
        ctx.connect_accepted("a", with_will(&ctx, "a", &topic, QoS::AtMostOnce, false)).await?;
    conn.drop_connection();
    expect_will(&mut watcher, &topic, "the socket closed").await?;
    watcher.disconnect().await
}

async fn on_keepalive(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut watcher = watcher(&ctx, &topic, QoS::AtLeastOnce).await?;
    let mut connect = with_will(&ctx, "a", &topic, QoS::AtMostOnce, false);
    connect.keep_alive = 1;
    let (_silent, _) = ctx.connect_accepted("a", connect).await?;
    // Only the Will is judged here; the timing is keepalive-enforced's business.
    let limit = std::time::Duration::from_millis(1500) + KEEPALIVE_SLACK + ctx.timeout();
    match watcher.next_within(limit).await? {
        Event::Packet(mqttsim_codec::Packet::Publish(p)) if *p.topic == topic => Ok(()),
        Event::Packet(p) => fail!("expected the Will, got {}", describe(&p)),
        Event::Closed => fail!("the watcher was disconnected"),
        Event::Silent => {
            fail!("no Will within {limit:?} of a keep alive of 1 s expiring [MQTT-3.1.2-8]")
        }
    }
}

async fn on_takeover(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut watcher = watcher(&ctx, &topic, QoS::AtLeastOnce).await?;
    let (mut first, _) =
        ctx.connect_accepted("first", with_will(&ctx, "a", &topic, QoS::AtMostOnce, false)).await?;
    let (second, _) =
        ctx.connect_accepted("second", ctx.connect_packet(&ctx.client_id("a"))).await?;
    first.expect_close("the first client after a takeover [MQTT-3.1.4-2]").await?;
    expect_will(&mut watcher, &topic, "a takeover closed the first connection").await?;
    second.disconnect().await?;
    watcher.disconnect().await
}

/// As `on_takeover`, with CleanSession 0 on both connections: the session carries over to the
/// second connection, but the first one's network connection still closes without DISCONNECT,
/// so its Will is published [MQTT-3.1.2-8]; the standard keeps no exception for a session that
/// continues.
async fn on_takeover_persistent(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut watcher = watcher(&ctx, &topic, QoS::AtLeastOnce).await?;
    let mut connect = with_will(&ctx, "a", &topic, QoS::AtMostOnce, false);
    connect.clean_start = false;
    let (mut first, _) = ctx.connect_accepted("first", connect).await?;
    let mut connect = ctx.connect_packet(&ctx.client_id("a"));
    connect.clean_start = false;
    let result = async {
        let (second, _) = ctx.connect_accepted("second", connect).await?;
        first.expect_close("the first client after a takeover [MQTT-3.1.4-2]").await?;
        expect_will(
            &mut watcher,
            &topic,
            "a takeover of a persistent session closed the first connection",
        )
        .await?;
        second.disconnect().await?;
        watcher.disconnect().await
    }
    .await;
    ctx.end_session(ctx.connect_packet(&ctx.client_id("a"))).await?;
    result
}

async fn not_after_disconnect(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut watcher = watcher(&ctx, &topic, QoS::AtLeastOnce).await?;
    let (conn, _) =
        ctx.connect_accepted("a", with_will(&ctx, "a", &topic, QoS::AtMostOnce, false)).await?;
    conn.disconnect().await?;
    watcher
        .expect_no_publish(ctx.quiet(), "the Will was published after DISCONNECT [MQTT-3.14.4-3]")
        .await?;
    watcher.disconnect().await
}

async fn absent_without_flag(ctx: Ctx) -> Outcome {
    let filter = format!("{}/#", ctx.root());
    let mut watcher = watcher(&ctx, &filter, QoS::AtLeastOnce).await?;
    let (conn, _) = ctx.connect_accepted("a", ctx.connect_packet(&ctx.client_id("a"))).await?;
    conn.drop_connection();
    watcher
        .expect_no_publish(
            ctx.quiet(),
            "a message appeared for a client without Will [MQTT-3.1.2-12]",
        )
        .await?;
    watcher.disconnect().await
}

async fn retained(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut watcher = watcher(&ctx, &topic, QoS::AtLeastOnce).await?;
    let (conn, _) =
        ctx.connect_accepted("a", with_will(&ctx, "a", &topic, QoS::AtLeastOnce, true)).await?;
    conn.drop_connection();
    let will = expect_will(&mut watcher, &topic, "the socket closed").await?;
    ensure!(
        will.qos == QoS::AtLeastOnce,
        "a QoS 1 Will reached a QoS 1 subscriber at QoS {}",
        will.qos.as_u8()
    );
    let mut late = ctx.client("late").await?;
    late.subscribe_granted(1, &topic, QoS::AtMostOnce).await?;
    let kept = late.recv_acked().await.map_err(|e| {
        Stop::Fail(format!("a Will with retain 1 was not retained [MQTT-3.1.2-17]: {e}"))
    })?;
    ensure!(
        kept.retain,
        "the retained Will reached a new subscription with RETAIN 0 [MQTT-3.3.1-8]"
    );
    ensure!(
        &kept.payload[..] == b"gone",
        "the retained message is {:?}, not the Will",
        kept.payload
    );
    watcher.disconnect().await?;
    late.disconnect().await
}

async fn not_retained(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut watcher = watcher(&ctx, &topic, QoS::AtLeastOnce).await?;
    let (conn, _) =
        ctx.connect_accepted("a", with_will(&ctx, "a", &topic, QoS::AtLeastOnce, false)).await?;
    conn.drop_connection();
    let will = expect_will(&mut watcher, &topic, "the socket closed").await?;
    ensure!(!will.retain, "a Will with retain 0 arrived with RETAIN 1 [MQTT-3.1.2-16]");
    let mut late = ctx.client("late").await?;
    late.subscribe_granted(1, &topic, QoS::AtMostOnce).await?;
    late.expect_no_publish(ctx.quiet(), "a Will with retain 0 was retained [MQTT-3.1.2-16]")
        .await?;
    watcher.disconnect().await?;
    late.disconnect().await
}

async fn qos_2(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut watcher = watcher(&ctx, &topic, QoS::ExactlyOnce).await?;
    let (conn, _) =
        ctx.connect_accepted("a", with_will(&ctx, "a", &topic, QoS::ExactlyOnce, false)).await?;
    conn.drop_connection();
    let will = expect_will(&mut watcher, &topic, "the socket closed").await?;
    ensure!(
        will.qos == QoS::ExactlyOnce,
        "a QoS 2 Will reached a QoS 2 subscriber at QoS {}",
        will.qos.as_u8()
    );
    watcher.disconnect().await
}
