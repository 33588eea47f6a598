//! The MQTT 5.0 Will: published when the connection ends without DISCONNECT 0x00 (or with
//! DISCONNECT 0x04), once, after its Will Delay Interval or when the session ends, not when the
//! client comes back in time; with its retain flag and its properties.

use std::time::Duration;

use bytes::Bytes;
use mqttsim_codec::{Connect, Packet, Properties, Property, Publish, QoS, ReasonCode, Will};

use super::{
    accepted, connect, end_session, entry, need_qos1, need_retain, props, subscribed,
    user_properties,
};
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "v5-will-on-socket-close",
            V5,
            ["MQTT-3.1.2-7", "MQTT-3.1.2-8", "MQTT-3.1.2-10"],
            "The Will is published, once, when the connection drops without DISCONNECT.",
            on_close
        ),
        check!(
            "v5-will-not-after-disconnect",
            V5,
            ["MQTT-3.14.4-3", "MQTT-3.1.2-10", "MQTT-3.1.2-8"],
            "No Will is published after DISCONNECT 0x00, not even when the socket closes later.",
            not_after_disconnect
        ),
        check!(
            "v5-will-after-disconnect-0x04",
            V5,
            ["MQTT-3.1.2-8"],
            "DISCONNECT 0x04 (Disconnect with Will Message) gets the Will published.",
            after_disconnect_with_will
        ),
        check!(
            "v5-will-delay",
            V5,
            ["MQTT-3.1.2-8"],
            "A Will with Will Delay Interval 2 s is published about 2 s after the connection drops, not at once.",
            delay
        ),
        check!(
            "v5-will-delay-reconnect",
            V5,
            ["MQTT-3.1.3-9", "MQTT-3.1.2-8"],
            "A client that comes back within its Will Delay Interval has no Will published.",
            delay_reconnect
        ),
        check!(
            "v5-will-session-ends-first",
            V5,
            ["MQTT-3.1.2-8"],
            "A Will whose delay outlasts its session is published when the session ends.",
            session_ends_first
        ),
        check!(
            "v5-will-takeover-session-ends",
            V5,
            ["MQTT-3.1.2-8"],
            "A takeover of a connection whose session ends with it (no Session Expiry Interval) publishes its Will at once, its Will Delay Interval notwithstanding.",
            takeover_session_ends
        ),
        check!(
            "v5-will-retained",
            V5,
            ["MQTT-3.1.2-15"],
            "A Will with Will Retain 1 is kept as the retained message of its topic.",
            retained
        ),
        check!(
            "v5-will-not-retained",
            V5,
            ["MQTT-3.1.2-14"],
            "A Will with Will Retain 0 is delivered with RETAIN 0 and not kept as retained.",
            not_retained
        ),
        check!(
            "v5-will-properties",
            V5,
            ["MQTT-3.1.3-10", "MQTT-3.3.2-4", "MQTT-3.3.2-15", "MQTT-3.3.2-16", "MQTT-3.3.2-20"],
            "A Will's properties, User Properties in their order, reach the subscriber unchanged, and its Will Delay Interval does not.",
            will_properties
        ),
    ]
}

fn will_connect(
    ctx: &Ctx,
    tag: &str,
    topic: &str,
    retain: bool,
    will_props: Properties,
    props: Properties,
) -> Connect {
    let mut c = connect(ctx, tag, props);
    c.will = Some(Will {
        topic: topic.into(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain,
        properties: will_props,
    });
    c
}

async fn watcher(ctx: &Ctx, topic: &str) -> Result<Conn, Stop> {
    need_qos1(ctx)?;
    let mut w = ctx.client("w").await?;
    subscribed(&mut w, 1, vec![entry(topic, QoS::AtLeastOnce)], Properties::new()).await?;
    Ok(w)
}

async fn expect_will(w: &mut Conn, topic: &str, why: &str) -> Result<Publish, Stop> {
    let got = w
        .recv_acked()
        .await
        .map_err(|e| Stop::Fail(format!("no Will after {why} [MQTT-3.1.2-8]: {e}")))?;
    ensure!(
        *got.topic == *topic && &got.payload[..] == b"gone",
        "expected the Will, got {}",
        w.describe(&Packet::Publish(got.clone()))
    );
    Ok(got)
}

/// Waits up to `wait` and fails if a PUBLISH arrives.
async fn no_will(w: &mut Conn, wait: Duration, why: &str) -> Outcome {
    match w.next_within(wait).await? {
        Event::Silent => Ok(()),
        Event::Packet(p) => fail!("{why}: {}", w.describe(&p)),
        Event::Closed => fail!("the watcher was disconnected"),
    }
}

async fn on_close(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut w = watcher(&ctx, &topic).await?;
    let (conn, _) = accepted(
        &ctx,
        "a",
        will_connect(&ctx, "a", &topic, false, Properties::new(), Properties::new()),
    )
    .await?;
    conn.drop_connection();
    expect_will(&mut w, &topic, "the socket closed").await?;
    no_will(&mut w, ctx.quiet(), "the Will was published a second time [MQTT-3.1.2-10]").await?;
    w.disconnect().await
}

async fn not_after_disconnect(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut w = watcher(&ctx, &topic).await?;
    let (conn, _) = accepted(
        &ctx,
        "a",
        will_connect(&ctx, "a", &topic, false, Properties::new(), Properties::new()),
    )
    .await?;
    conn.disconnect_with(ReasonCode::NORMAL_DISCONNECTION, Properties::new()).await?;
    no_will(
        &mut w,
        ctx.quiet(),
        "a Will was published after DISCONNECT 0x00 [MQTT-3.14.4-3] [MQTT-3.1.2-10]",
    )
    .await?;
    w.disconnect().await
}

async fn after_disconnect_with_will(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut w = watcher(&ctx, &topic).await?;
    let (conn, _) = accepted(
        &ctx,
        "a",
        will_connect(&ctx, "a", &topic, false, Properties::new(), Properties::new()),
    )
    .await?;
    conn.disconnect_with(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE, Properties::new()).await?;
    expect_will(&mut w, &topic, "DISCONNECT 0x04").await?;
    w.disconnect().await
}

async fn delay(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut w = watcher(&ctx, &topic).await?;
    let c = will_connect(
        &ctx,
        "a",
        &topic,
        false,
        props([Property::WillDelayInterval(2)]),
        props([Property::SessionExpiryInterval(60)]),
    );
    let (conn, _) = accepted(&ctx, "a", c).await?;
    conn.drop_connection();
    no_will(
        &mut w,
        Duration::from_millis(1200),
        "the Will was published before its Will Delay Interval of 2 s [MQTT-3.1.2-8]",
    )
    .await?;
    expect_will(&mut w, &topic, "its Will Delay Interval of 2 s").await?;
    w.disconnect().await?;
    end_session(&ctx, "a").await
}

async fn delay_reconnect(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut w = watcher(&ctx, &topic).await?;
    let c = || {
        will_connect(
            &ctx,
            "a",
            &topic,
            false,
            props([Property::WillDelayInterval(3)]),
            props([Property::SessionExpiryInterval(60)]),
        )
    };
    let (conn, _) = accepted(&ctx, "a", c()).await?;
    conn.drop_connection();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut again = c();
    again.clean_start = false;
    let (conn, _) = accepted(&ctx, "a again", again).await?;
    no_will(
        &mut w,
        Duration::from_millis(3200),
        "the Will was published although the client came back within its Will Delay Interval [MQTT-3.1.3-9]",
    )
    .await?;
    conn.disconnect().await?;
    w.disconnect().await?;
    end_session(&ctx, "a").await
}

async fn session_ends_first(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut w = watcher(&ctx, &topic).await?;
    let c = will_connect(
        &ctx,
        "a",
        &topic,
        false,
        props([Property::WillDelayInterval(60)]),
        props([Property::SessionExpiryInterval(1)]),
    );
    let (conn, _) = accepted(&ctx, "a", c).await?;
    conn.drop_connection();
    let got = w.next_within(Duration::from_millis(1000) + ctx.timeout()).await?;
    match got {
        Event::Packet(Packet::Publish(p)) if &p.payload[..] == b"gone" => {
            w.ack(&p).await?;
        }
        Event::Packet(p) => fail!("expected the Will, got {}", w.describe(&p)),
        _ => fail!(
            "a Will with Will Delay Interval 60 and Session Expiry Interval 1 was not published \
             when the session ended [MQTT-3.1.2-8]"
        ),
    }
    w.disconnect().await
}

async fn takeover_session_ends(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut w = watcher(&ctx, &topic).await?;
    let c = will_connect(
        &ctx,
        "a",
        &topic,
        false,
        props([Property::WillDelayInterval(60)]),
        Properties::new(),
    );
    let (old, _) = accepted(&ctx, "a", c).await?;
    // Clean Start 0: the new connection would continue a session, but there is none left.
    let mut again = connect(&ctx, "a", Properties::new());
    again.clean_start = false;
    let (conn, _) = accepted(&ctx, "a again", again).await?;
    expect_will(
        &mut w,
        &topic,
        "a takeover closed a connection with Session Expiry Interval 0 and Will Delay Interval \
         60 s, which ended its session",
    )
    .await?;
    drop(old);
    conn.disconnect().await?;
    w.disconnect().await
}

async fn retained(ctx: Ctx) -> Outcome {
    need_retain(&ctx)?;
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut w = watcher(&ctx, &topic).await?;
    let (conn, _) = accepted(
        &ctx,
        "a",
        will_connect(&ctx, "a", &topic, true, Properties::new(), Properties::new()),
    )
    .await?;
    conn.drop_connection();
    expect_will(&mut w, &topic, "the socket closed").await?;
    let mut later = ctx.client("l").await?;
    subscribed(&mut later, 1, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    let got = later.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "a Will with Will Retain 1 was not kept as retained [MQTT-3.1.2-15]: {e}"
        ))
    })?;
    ensure!(
        got.retain && &got.payload[..] == b"gone",
        "got {}",
        later.describe(&Packet::Publish(got.clone()))
    );
    later.disconnect().await?;
    w.disconnect().await
}

async fn not_retained(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut w = watcher(&ctx, &topic).await?;
    let (conn, _) = accepted(
        &ctx,
        "a",
        will_connect(&ctx, "a", &topic, false, Properties::new(), Properties::new()),
    )
    .await?;
    conn.drop_connection();
    let got = expect_will(&mut w, &topic, "the socket closed").await?;
    ensure!(!got.retain, "a Will with Will Retain 0 arrived with RETAIN 1 [MQTT-3.1.2-14]");
    let mut later = ctx.client("l").await?;
    subscribed(&mut later, 1, vec![entry(&topic, QoS::AtLeastOnce)], Properties::new()).await?;
    later
        .expect_no_publish(
            ctx.quiet(),
            "a Will with Will Retain 0 was kept as retained [MQTT-3.1.2-14]",
        )
        .await?;
    later.disconnect().await?;
    w.disconnect().await
}

async fn will_properties(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("will");
    let mut w = watcher(&ctx, &topic).await?;
    let sent = props([
        Property::PayloadFormatIndicator(1),
        Property::ContentType("text/plain".into()),
        Property::ResponseTopic(ctx.topic("reply")),
        Property::CorrelationData(Bytes::from_static(b"\x01will")),
        Property::UserProperty("z".into(), "1".into()),
        Property::UserProperty("a".into(), "2".into()),
        Property::UserProperty("z".into(), "3".into()),
    ]);
    // A Will Delay Interval says when to publish the Will; a PUBLISH may not carry it.
    let mut will_props = props([Property::WillDelayInterval(1)]);
    will_props.0.extend(sent.0.iter().cloned());
    let c = will_connect(
        &ctx,
        "a",
        &topic,
        false,
        will_props,
        props([Property::SessionExpiryInterval(60)]),
    );
    let (conn, _) = accepted(&ctx, "a", c).await?;
    conn.drop_connection();
    let got = match w.recv_acked().await {
        Ok(got) => got,
        Err(Stop::Fail(e)) if e.contains("malformed packet") => fail!(
            "the Will was published as a malformed PUBLISH, its Will Delay Interval not left out \
             (a Will property only, MQTT 5.0 §3.1.3.2.2; not allowed in PUBLISH, §2.2.2.2, \
             §3.3.2.3): {e}"
        ),
        Err(e) => return Err(e),
    };
    ensure!(
        *got.topic == *topic && &got.payload[..] == b"gone",
        "expected the Will, got {}",
        w.describe(&Packet::Publish(got.clone()))
    );
    let kept: Vec<Property> = got
        .properties
        .iter()
        .filter(|p| {
            !matches!(
                p,
                Property::SubscriptionIdentifier(_)
                    | Property::MessageExpiryInterval(_)
                    | Property::TopicAlias(_)
            )
        })
        .cloned()
        .collect();
    if kept != sent.0 {
        let statement = if user_properties(&got.properties) != user_properties(&sent) {
            "MQTT-3.1.3-10"
        } else {
            "MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-20"
        };
        fail!("the Will's properties arrived as {kept:?}, sent as {:?} [{statement}]", sent.0);
    }
    w.disconnect().await?;
    end_session(&ctx, "a").await
}
