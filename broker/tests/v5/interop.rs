//! 3.1.1 and 5.0 clients on one broker. What a 3.1.1 client receives is what the driver
//! encodes for it, so the checks encode and decode as the driver does.

use bytes::BytesMut;
use mqttsim_codec::{Packet, Property, Protocol, Publish, decode, encode};

use crate::harness::{Harness, Q1, connect5, publish5};

fn on_the_wire(h: &Harness, conn: mqttsim_broker::ConnId, publish: &Publish) -> Publish {
    let protocol = h.encoded_with(conn).expect("encoded");
    let mut buf = BytesMut::new();
    encode(&Packet::Publish(publish.clone()), protocol, &mut buf).unwrap();
    match decode(&mut buf, protocol, 1 << 20).unwrap() {
        Some(Packet::Publish(p)) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_3_1_1_subscriber_gets_a_5_0_message_without_properties() {
    let mut h = Harness::default();
    let old = h.connect("old", true);
    h.subscribe(old, "t", Q1);
    let new = h.client5("new");
    let props = vec![
        Property::UserProperty("k".into(), "v".into()),
        Property::ContentType("text/plain".into()),
    ];
    h.send(new, Packet::Publish(publish5("t", "hello", Q1, 1, props.clone())));
    let got = h.publishes(old);
    assert_eq!(h.encoded_with(old), Some(Protocol::V311));
    let wire = on_the_wire(&h, old, &got[0]);
    assert_eq!(
        (wire.topic.as_ref(), &wire.payload[..], wire.properties.is_empty()),
        ("t", &b"hello"[..], true)
    );
    // A 5.0 subscriber of the same message gets the properties.
    let sub5 = h.client5("sub5");
    h.subscribe(sub5, "t", Q1);
    h.send(new, Packet::Publish(publish5("t", "again", Q1, 2, props.clone())));
    let got = h.publishes(sub5);
    assert_eq!(on_the_wire(&h, sub5, &got[0]).properties.0, props);
}

#[test]
fn a_5_0_subscriber_gets_a_3_1_1_message_and_a_3_1_1_will() {
    let mut h = Harness::default();
    let sub = h.connect5(connect5("sub", true, Vec::new())).0;
    h.subscribe(sub, "#", Q1);
    let mut c = crate::harness::connect("old", true);
    c.will = Some(crate::harness::will("w", "gone", Q1, false));
    let (old, _) = h.connect_with(c);
    h.publish(old, "t", "from 3.1.1", Q1, false);
    h.lose(old);
    let got = h.receive(sub);
    assert_eq!(got, ["from 3.1.1", "gone"]);
}

#[test]
fn message_expiry_holds_for_3_1_1_subscribers_too() {
    let mut h = Harness::default();
    let old = h.connect("old", false);
    h.subscribe(old, "t", Q1);
    h.lose(old);
    let new = h.client5("new");
    h.send(
        new,
        Packet::Publish(publish5("t", "stale", Q1, 1, vec![Property::MessageExpiryInterval(5)])),
    );
    h.advance(crate::harness::secs(5));
    let old = h.connect("old", false);
    assert!(h.publishes(old).is_empty());
}
