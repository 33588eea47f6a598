use bytes::Bytes;
use mqttsim_codec::{Disconnect, Packet, Properties, Property, ReasonCode, Will};

use crate::harness::{Harness, Q1, connect5, payloads, secs, will};

/// A 5.0 client "dev" with a Will on `w`, a session of `expiry` seconds and these Will
/// properties; and a subscriber to `w`.
fn setup(
    expiry: u32,
    will_props: Vec<Property>,
) -> (Harness, mqttsim_broker::ConnId, mqttsim_broker::ConnId) {
    let mut h = Harness::default();
    let watcher = h.client5("watcher");
    h.subscribe(watcher, "w", Q1);
    let mut c = connect5("dev", true, vec![Property::SessionExpiryInterval(expiry)]);
    c.will = Some(Will { properties: Properties(will_props), ..will("w", "gone", Q1, false) });
    let (dev, _) = h.connect5(c);
    (h, watcher, dev)
}

#[test]
fn mqtt5_3_1_2_8_the_will_waits_for_its_delay() {
    let (mut h, watcher, dev) = setup(600, vec![Property::WillDelayInterval(30)]);
    h.lose(dev);
    h.advance(secs(29));
    assert!(h.publishes(watcher).is_empty());
    h.advance(secs(1));
    let got = h.publishes(watcher);
    assert_eq!(payloads(&got), ["gone"]);
    // The delay itself is not forwarded.
    assert!(got[0].properties.is_empty());
}

#[test]
fn mqtt5_3_1_3_9_a_new_connection_before_the_delay_cancels_the_will() {
    let (mut h, watcher, dev) = setup(600, vec![Property::WillDelayInterval(30)]);
    h.lose(dev);
    h.advance(secs(10));
    h.connect5(connect5("dev", false, vec![Property::SessionExpiryInterval(600)]));
    h.advance(secs(60));
    assert!(h.publishes(watcher).is_empty());
    assert_eq!(h.broker.poll_timeout(), None);
}

#[test]
fn mqtt5_3_1_2_8_the_will_goes_at_the_session_end_if_that_comes_first() {
    let (mut h, watcher, dev) = setup(5, vec![Property::WillDelayInterval(30)]);
    h.lose(dev);
    h.advance(secs(4));
    assert!(h.publishes(watcher).is_empty());
    h.advance(secs(1));
    assert_eq!(payloads(&h.publishes(watcher)), ["gone"]);
    assert!(h.broker.session("dev").is_none());
}

#[test]
fn mqtt5_3_1_3_10_will_properties_are_applied_to_the_will_message() {
    let props = vec![
        Property::UserProperty("b".into(), "1".into()),
        Property::WillDelayInterval(0),
        Property::ContentType("text/plain".into()),
        Property::ResponseTopic("reply".into()),
        Property::CorrelationData(Bytes::from_static(b"id")),
        Property::MessageExpiryInterval(100),
        Property::PayloadFormatIndicator(1),
        Property::UserProperty("a".into(), "2".into()),
    ];
    let (mut h, watcher, dev) = setup(0, props);
    h.lose(dev);
    let got = h.publishes(watcher);
    assert_eq!(
        got[0].properties.0,
        [
            Property::UserProperty("b".into(), "1".into()),
            Property::ContentType("text/plain".into()),
            Property::ResponseTopic("reply".into()),
            Property::CorrelationData(Bytes::from_static(b"id")),
            Property::MessageExpiryInterval(100),
            Property::PayloadFormatIndicator(1),
            Property::UserProperty("a".into(), "2".into()),
        ]
    );
}

#[test]
fn a_will_message_expiry_counts_from_its_publication() {
    let mut h = Harness::default();
    let watcher =
        h.connect5(connect5("watcher", true, vec![Property::SessionExpiryInterval(600)])).0;
    h.subscribe(watcher, "w", Q1);
    h.lose(watcher);
    let mut c = connect5("dev", true, Vec::new());
    c.will = Some(Will {
        properties: Properties(vec![Property::MessageExpiryInterval(10)]),
        ..will("w", "gone", Q1, false)
    });
    let (dev, _) = h.connect5(c);
    h.advance(secs(100));
    h.lose(dev);
    h.advance(secs(11));
    let watcher =
        h.connect5(connect5("watcher", false, vec![Property::SessionExpiryInterval(600)])).0;
    assert!(h.publishes(watcher).is_empty(), "expired 10 s after it was published");
}

#[test]
fn mqtt5_3_14_4_3_disconnect_0x00_discards_the_will_and_0x04_publishes_it() {
    for (code, published) in [
        (ReasonCode::NORMAL_DISCONNECTION, false),
        (ReasonCode::DISCONNECT_WITH_WILL_MESSAGE, true),
    ] {
        let (mut h, watcher, dev) = setup(0, Vec::new());
        h.send(
            dev,
            Packet::Disconnect(Disconnect { reason_code: code, properties: Properties::new() }),
        );
        assert_eq!(h.publishes(watcher).len(), usize::from(published), "{code:?}");
    }
}
