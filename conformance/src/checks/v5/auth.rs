//! AUTH and enhanced authentication: an unsupported Authentication Method is refused; AUTH
//! without one is a Protocol Error; and when the broker begins an exchange for a method it
//! supports, its AUTH packets carry 0x18 and the client's method, fit the client's Maximum
//! Packet Size, and a failed exchange ends in a close.

use bytes::Bytes;
use mqttsim_codec::{Auth, Packet, Properties, Property, ReasonCode};

use super::connect::UNKNOWN_METHOD;
use super::{connect, connect_refused, props};
use crate::check::{Check, Ctx, Outcome, Stop};
use crate::conn::{Conn, Event};

/// Methods a broker might support, tried in order to find one that starts an exchange.
pub const METHODS: &[&str] =
    &["SCRAM-SHA-256", "SCRAM-SHA-1", "SCRAM-SHA-512", "GS2-KRB5", "K8S-SAT"];

/// The checks of this module.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "v5-auth-method-unsupported",
            V5,
            ["MQTT-4.12.0-1", "MQTT-3.2.2-7", "MQTT-4.13.2-1", "MQTT-3.14.0-1"],
            "An Authentication Method the broker does not support is refused (CONNACK 0x8C or 0x87 at most) and closed.",
            method_unsupported
        ),
        check!(
            "v5-auth-without-method",
            V5,
            ["MQTT-4.12.0-6", "MQTT-4.13.1-1"],
            "AUTH from a client that gave no Authentication Method is a Protocol Error; the broker sends no AUTH and no method.",
            without_method
        )
        .probing(&["MQTT-4.12.0-7"]),
        check!(
            "v5-auth-exchange",
            V5,
            ["MQTT-4.12.0-2", "MQTT-4.12.0-5", "MQTT-3.15.2-1", "MQTT-3.15.2-2", "MQTT-3.15.2-3", "MQTT-3.1.2-24"],
            "When the broker begins enhanced authentication, its AUTH carries 0x18 and the client's method and fits the client's Maximum Packet Size.",
            exchange
        ),
        check!(
            "v5-auth-rejected-closes",
            V5,
            ["MQTT-4.12.0-4"],
            "A failed enhanced authentication ends with a close (a CONNACK or DISCONNECT of 0x80 or above at most).",
            rejected_closes
        )
        .probing(&["MQTT-4.12.0-3"]),
        check!(
            "v5-auth-bad-flags",
            V5,
            ["MQTT-3.15.1-1"],
            "During enhanced authentication an AUTH with fixed-header flags 0001 closes the connection.",
            bad_flags
        ),
    ]
}

async fn method_unsupported(ctx: Ctx) -> Outcome {
    let c = connect(&ctx, "a", props([Property::AuthenticationMethod(UNKNOWN_METHOD.into())]));
    let mut conn = ctx.open("a").await?;
    conn.set_client_id(&c.client_id);
    conn.announce(&c);
    conn.send(&Packet::Connect(c)).await?;
    match conn.next_within(ctx.timeout()).await? {
        Event::Packet(Packet::Auth(_)) => Err(Stop::Skip(format!(
            "the broker began authentication with method {UNKNOWN_METHOD:?}"
        ))),
        Event::Packet(Packet::ConnAck(a)) if a.reason_code == ReasonCode::SUCCESS => {
            Err(Stop::Skip(format!("the broker accepted Authentication Method {UNKNOWN_METHOD:?}")))
        }
        Event::Packet(Packet::ConnAck(a)) => {
            ensure!(
                matches!(a.reason_code.0, 0x8C | 0x87) || a.reason_code.is_error(),
                "an unsupported Authentication Method got CONNACK 0x{:02X} [MQTT-4.12.0-1]",
                a.reason_code.0
            );
            conn.expect_close("after a refusing CONNACK [MQTT-4.12.0-1] [MQTT-3.2.2-7]").await
        }
        Event::Packet(p @ Packet::Disconnect(_)) => {
            fail!("the broker sent {} before any CONNACK [MQTT-3.14.0-1]", conn.describe(&p))
        }
        Event::Packet(p) => fail!("an unsupported Authentication Method got {}", conn.describe(&p)),
        Event::Closed => Ok(()),
        Event::Silent => fail!(
            "no answer to a CONNECT with an unsupported Authentication Method [MQTT-4.12.0-1]"
        ),
    }
}

async fn without_method(ctx: Ctx) -> Outcome {
    // The connection judges the CONNACK for an Authentication Method [MQTT-4.12.0-6].
    let mut conn = ctx.client("a").await?;
    conn.ping().await?;
    let auth = Auth { reason_code: ReasonCode::RE_AUTHENTICATE, properties: Properties::new() };
    conn.send(&Packet::Auth(auth)).await?;
    // An AUTH in answer would be judged on arrival [MQTT-4.12.0-6].
    conn.expect_refusal("AUTH without an Authentication Method in CONNECT [MQTT-4.13.1-1]", &[])
        .await?;
    Ok(())
}

/// Connects with each known method until the broker begins an exchange (AUTH 0x18); returns
/// that connection and its first AUTH, or a skip saying the broker supports none.
async fn begin(
    ctx: &Ctx,
    tag: &str,
    max_packet_size: Option<u32>,
) -> Result<(Conn, Auth, &'static str), Stop> {
    for method in METHODS {
        let mut list = vec![
            Property::AuthenticationMethod((*method).into()),
            Property::AuthenticationData(Bytes::from_static(b"n,,n=mqttsim,r=0123456789")),
        ];
        if let Some(max) = max_packet_size {
            list.push(Property::MaximumPacketSize(max));
        }
        let c = connect(ctx, tag, props(list));
        let mut conn = ctx.open(tag).await?;
        conn.set_client_id(&c.client_id);
        conn.announce(&c);
        conn.send(&Packet::Connect(c)).await?;
        match conn.next_within(ctx.timeout()).await? {
            Event::Packet(Packet::Auth(a)) => return Ok((conn, a, method)),
            Event::Packet(Packet::ConnAck(_)) | Event::Closed => continue,
            Event::Packet(p) => {
                fail!("a CONNECT with Authentication Method {method:?} got {}", conn.describe(&p))
            }
            Event::Silent => fail!("no answer to a CONNECT with Authentication Method {method:?}"),
        }
    }
    Err(Stop::Skip(format!("the broker begins enhanced authentication for none of {METHODS:?}")))
}

async fn exchange(ctx: Ctx) -> Outcome {
    // The connection judges method and size of every AUTH [MQTT-4.12.0-5] [MQTT-3.1.2-24].
    let (_conn, auth, _) = begin(&ctx, "a", Some(64)).await?;
    ensure!(
        auth.reason_code == ReasonCode::CONTINUE_AUTHENTICATION,
        "the broker's first AUTH has reason code 0x{:02X}, not 0x18 [MQTT-4.12.0-2]",
        auth.reason_code.0
    );
    Ok(())
}

async fn rejected_closes(ctx: Ctx) -> Outcome {
    let (mut conn, _, method) = begin(&ctx, "a", None).await?;
    // A reply that cannot be right: reason code 0x00 and data that is not the method's.
    let reply = Auth {
        reason_code: ReasonCode::SUCCESS,
        properties: props([
            Property::AuthenticationMethod(method.into()),
            Property::AuthenticationData(Bytes::from_static(b"\x00garbage")),
        ]),
    };
    conn.send(&Packet::Auth(reply)).await?;
    conn.expect_refusal("a failed enhanced authentication [MQTT-4.12.0-4]", &[]).await?;
    Ok(())
}

async fn bad_flags(ctx: Ctx) -> Outcome {
    let (mut conn, _, method) = begin(&ctx, "a", None).await?;
    let body = mqttsim_codec::raw::RawPacket::new(0xF1)
        .u8(0x18)
        .vbi(3 + method.len() as u32)
        .u8(0x15)
        .utf8(method)
        .to_vec();
    conn.send_raw(&body).await?;
    connect_refused(&mut conn, "AUTH with flags 0001 [MQTT-3.15.1-1]").await?;
    Ok(())
}
