//! The checks, one module per area of the standard, and [`all`], the check table.
//!
//! - [`connect`]: CONNECT/CONNACK rules, return codes, client ids, session present, takeover.
//! - [`keepalive`]: keep-alive enforcement and PINGREQ.
//! - [`will`]: the Will on keep-alive expiry, on socket close, not after DISCONNECT, QoS, retain.
//! - [`publish`]: PUBLISH flags, QoS flows both ways, DUP re-delivery, exactly-once, ordering.
//! - [`retain`]: retained messages.
//! - [`subscribe`]: SUBSCRIBE, wildcards, `$` topics, overlapping subscriptions, UNSUBSCRIBE.
//! - [`malformed`]: malformed packets that must close the connection.

pub mod connect;
pub mod keepalive;
pub mod malformed;
pub mod publish;
pub mod retain;
pub mod subscribe;
pub mod will;

use crate::check::{Check, Ctx, Outcome};

/// Every check, in report order.
pub fn all() -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(connect::checks());
    checks.extend(keepalive::checks());
    checks.extend(will::checks());
    checks.extend(publish::checks());
    checks.extend(retain::checks());
    checks.extend(subscribe::checks());
    checks.extend(malformed::checks());
    checks
}

/// Connects a client, sends `bytes` and requires the broker to close the connection without
/// answering.
pub(crate) async fn connected_then_closes(ctx: &Ctx, bytes: &[u8], why: &str) -> Outcome {
    let mut conn = ctx.client("a").await?;
    conn.send_raw(bytes).await?;
    conn.expect_close(why).await
}

/// Requires the broker to accept a plain CONNECT, so that a broker closing every connection
/// cannot pass the checks that expect a close.
pub(crate) async fn baseline(ctx: &Ctx) -> Outcome {
    ctx.client("ok").await?.disconnect().await
}

/// Opens a connection, sends `bytes` as the first packet, and requires the broker to close the
/// connection without a CONNACK.
pub(crate) async fn first_packet_closes(ctx: &Ctx, bytes: &[u8], why: &str) -> Outcome {
    baseline(ctx).await?;
    let mut conn = ctx.open("a").await?;
    conn.send_raw(bytes).await?;
    conn.expect_close(why).await
}
