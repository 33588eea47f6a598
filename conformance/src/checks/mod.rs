//! The checks, one module per area of the standard, and [`all`], the check table.
//!
//! - [`connect`]: CONNECT/CONNACK rules, return codes, client ids, session present, takeover.
//! - [`keepalive`]: keep-alive enforcement and PINGREQ.
//! - [`will`]: the Will on keep-alive expiry, on socket close, not after DISCONNECT, QoS, retain.
//! - [`publish`]: PUBLISH flags, QoS flows both ways, DUP re-delivery, exactly-once, ordering.
//! - [`retain`]: retained messages.
//! - [`subscribe`]: SUBSCRIBE, wildcards, `$` topics, overlapping subscriptions, UNSUBSCRIBE.
//! - [`malformed`]: malformed packets that must close the connection.
//! - [`v5`]: the MQTT 5.0 checks.

pub mod connect;
pub mod keepalive;
pub mod malformed;
pub mod publish;
pub mod retain;
pub mod subscribe;
pub mod v5;
pub mod will;

use mqttsim_codec::raw::RawPacket;

use crate::check::{Check, Ctx, Outcome};

/// The start of a 3.1.1 CONNECT as a raw packet: protocol name, level 4, `flags`, keep alive.
/// The payload fields follow with [`RawPacket::utf8`] and [`RawPacket::binary`].
pub(crate) fn connect_v311(flags: u8, keep_alive: u16) -> RawPacket {
    RawPacket::new(0x10).utf8("MQTT").u8(4).u8(flags).u16(keep_alive)
}

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
    checks.extend(v5::all());
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_raw_connect_is_byte_exact() {
        let connect = super::connect_v311(0x02, 60).utf8("a").to_vec();
        assert_eq!(connect, [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'a']);
    }
}
