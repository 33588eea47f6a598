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

use std::cell::Cell;

use mqttsim_codec::raw::RawPacket;
use mqttsim_codec::{Packet, ReasonCode};

use crate::check::{Cause, Check, Ctx, Outcome, Stop};
use crate::conn::Conn;

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
    close_after(ctx, &mut conn, why, false).await
}

/// Whether `p` refuses a CONNECT as not authorised (0x86 Bad User Name or Password, 0x87 Not
/// authorized; 3.1.1 return codes 4 and 5) while the suite logs in with credentials, which a
/// hand-made CONNECT does not carry.
pub(crate) fn refused_for_credentials(ctx: &Ctx, p: &Packet) -> bool {
    ctx.has_credentials()
        && matches!(p, Packet::ConnAck(a) if matches!(
            a.reason_code,
            ReasonCode::BAD_USER_NAME_OR_PASSWORD | ReasonCode::NOT_AUTHORIZED
        ))
}

/// The stop for a hand-made CONNECT the broker refused for its missing credentials: the refusal
/// says nothing about what the check sent.
pub(crate) fn credentials_needed(why: &str) -> Stop {
    Stop::inconclusive(Cause::CredentialsNeeded, format!("{why}: refused as not authorised"))
}

/// Requires the broker to close the connection after a hand-made CONNECT, with a refusing
/// CONNACK first if `refusal_allowed`. A refusal as not authorised, when the suite logs in with
/// credentials, makes the check inconclusive (see [`refused_for_credentials`]).
pub(crate) async fn close_after(
    ctx: &Ctx,
    conn: &mut Conn,
    why: &str,
    refusal_allowed: bool,
) -> Outcome {
    let for_credentials = Cell::new(false);
    conn.expect_close_allowing(why, |p| {
        if refused_for_credentials(ctx, p) {
            for_credentials.set(true);
            return true;
        }
        refusal_allowed && matches!(p, Packet::ConnAck(a) if a.reason_code != ReasonCode::SUCCESS)
    })
    .await?;
    if for_credentials.get() {
        return Err(credentials_needed(why));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_raw_connect_is_byte_exact() {
        let connect = super::connect_v311(0x02, 60).utf8("a").to_vec();
        assert_eq!(connect, [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'a']);
    }
}
