//! Keep alive: a silent client is disconnected after one and a half keep-alive periods, a
//! pinging one is not, and PINGREQ is answered.

use std::time::Duration;

use mqttsim_codec::{Packet, QoS, ReasonCode};

use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Event, describe};

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!("pingreq", V311, ["MQTT-3.12.4-1"], "PINGREQ is answered with PINGRESP.", pingreq),
        check!(
            "keepalive-enforced",
            V311,
            ["MQTT-3.1.2-24"],
            "Three clients silent past 1.5 x their keep alive of 1 s are each disconnected in time.",
            enforced
        ),
        check!(
            "keepalive-pings-keep-alive",
            V311,
            ["MQTT-3.12.4-1", "MQTT-4.1.0-2"],
            "A client with keep alive 1 s that pings every 0.5 s stays connected for 3 s and keeps its subscription.",
            pings_keep_alive
        ),
        check!(
            "keepalive-zero",
            V311,
            ["MQTT-3.1.4-4", "MQTT-3.12.4-1"],
            "A CONNECT with keep alive 0 (no keep alive) is accepted with CONNACK 0 and the connection works.",
            zero
        ),
    ]
}

/// Slack on top of 1.5 x keep alive for brokers whose timers tick in whole seconds.
pub(crate) const KEEPALIVE_SLACK: Duration = Duration::from_millis(1000);

async fn pingreq(ctx: Ctx) -> Outcome {
    let mut conn = ctx.client("a").await?;
    conn.ping().await?;
    conn.ping().await?;
    conn.disconnect().await
}

async fn enforced(ctx: Ctx) -> Outcome {
    // Three silent clients, started a second apart, so that a broker which checks keep alive
    // only every few seconds is caught whatever the phase of its timer.
    let limit = Duration::from_millis(1500) + KEEPALIVE_SLACK;
    let one = |delay: u64, tag: &'static str| {
        let ctx = ctx.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(delay)).await;
            let mut connect = ctx.connect_packet(&ctx.client_id(tag));
            connect.keep_alive = 1;
            let (mut conn, _) = ctx.connect_accepted(tag, connect).await?;
            match conn.next_within(limit).await? {
                Event::Closed => Ok(true),
                Event::Silent => Ok(false),
                Event::Packet(p) => fail!("the broker sent {} to a silent client", describe(&p)),
            }
        }
    };
    let (a, b, c) = tokio::join!(one(0, "a"), one(1, "b"), one(2, "c"));
    let closed = [a?, b?, c?];
    ensure!(
        closed.iter().all(|c| *c),
        "of three silent clients with keep alive 1 s, started 1 s apart, at least one was still \
         connected {limit:?} after its CONNECT [MQTT-3.1.2-24]"
    );
    Ok(())
}

async fn pings_keep_alive(ctx: Ctx) -> Outcome {
    let topic = ctx.topic("t");
    let mut connect = ctx.connect_packet(&ctx.client_id("a"));
    connect.keep_alive = 1;
    let (mut conn, _) = ctx.connect_accepted("a", connect).await?;
    conn.subscribe_granted(1, &topic, QoS::AtLeastOnce).await?;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        conn.ping().await?;
    }
    // The session lasts as long as the connection: the subscription still delivers.
    let mut publisher = ctx.client("p").await?;
    publisher.publish(&topic, b"still here", QoS::AtLeastOnce, false, 1).await?;
    let got = conn.recv_acked().await.map_err(|e| {
        Stop::Fail(format!(
            "after 3 s of pings the connection's subscription no longer delivers [MQTT-4.1.0-2]: {e}"
        ))
    })?;
    ensure!(
        &got.payload[..] == b"still here",
        "received {:?} instead of \"still here\"",
        got.payload
    );
    publisher.disconnect().await?;
    conn.disconnect().await
}

async fn zero(ctx: Ctx) -> Outcome {
    let mut connect = ctx.connect_packet(&ctx.client_id("a"));
    connect.keep_alive = 0;
    let mut conn = ctx.open("a").await?;
    conn.set_client_id(&connect.client_id);
    conn.send(&Packet::Connect(connect)).await?;
    match conn.next_within(ctx.timeout()).await? {
        Event::Packet(Packet::ConnAck(a)) => ensure!(
            a.reason_code == ReasonCode::SUCCESS,
            "a CONNECT with keep alive 0 got {} [MQTT-3.1.4-4]",
            describe(&Packet::ConnAck(a.clone()))
        ),
        Event::Packet(p) => {
            fail!("a CONNECT with keep alive 0 was answered with {} [MQTT-3.1.4-4]", describe(&p))
        }
        Event::Closed => fail!(
            "the broker closed the connection without CONNACK for a CONNECT with keep alive 0, \
             which switches keep alive off and is valid [MQTT-3.1.4-4]"
        ),
        Event::Silent => {
            fail!("no CONNACK within {:?} for a CONNECT with keep alive 0", ctx.timeout())
        }
    }
    conn.ping().await?;
    conn.disconnect().await
}
