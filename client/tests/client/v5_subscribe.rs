//! 5.0 subscription options and identifiers.

use mqttsim_client::{RequestError, SubscribeRequest};
use mqttsim_codec::{QoS, RetainHandling, SubscriptionOptions};

use crate::harness::{Harness, lines, suback};

fn connected() -> Harness {
    let mut h = Harness::new(Harness::device_v5());
    h.connect_with(false, vec![]);
    h.clear();
    h
}

fn options(qos: QoS, no_local: bool, rap: bool, rh: RetainHandling) -> SubscriptionOptions {
    SubscriptionOptions { qos, no_local, retain_as_published: rap, retain_handling: rh }
}

#[test]
fn options_identifier_and_user_properties_go_with_the_subscribe() {
    let mut h = connected();
    let mut request = SubscribeRequest::new(vec![
        ("cmd/#".into(), options(QoS::AtLeastOnce, true, false, RetainHandling::DoNotSend)),
        ("cfg".into(), options(QoS::ExactlyOnce, false, true, RetainHandling::SendIfNew)),
    ]);
    request.identifier = Some(42);
    request.user_properties = vec![("who".into(), "dev-1".into())];
    h.client.subscribe_with(h.now, request).unwrap();
    assert_eq!(
        h.out(),
        lines(&["SUBSCRIBE id=1 cmd/#:1+nl+rh2,cfg:2+rap+rh1 [sub-id=42 who:dev-1]"])
    );
}

#[test]
fn mqtt_3_8_3_4_no_local_on_a_shared_subscription_is_refused() {
    let mut h = connected();
    let request = SubscribeRequest::new(vec![(
        "$share/g/t".into(),
        options(QoS::AtMostOnce, true, false, RetainHandling::SendAtSubscribe),
    )]);
    assert_eq!(
        h.client.subscribe_with(h.now, request),
        Err(RequestError::NoLocalOnShared("$share/g/t".into()))
    );
    assert!(h.out().is_empty());
}

#[test]
fn subscription_identifiers_run_from_1_to_268435455() {
    let mut h = connected();
    for (identifier, ok) in [(0, false), (1, true), (268_435_455, true), (268_435_456, false)] {
        let mut request = SubscribeRequest::new(vec![("t".into(), SubscriptionOptions::default())]);
        request.identifier = Some(identifier);
        let result = h.client.subscribe_with(h.now, request);
        let expected =
            if ok { Ok(()) } else { Err(RequestError::InvalidSubscriptionIdentifier(identifier)) };
        assert_eq!(result, expected);
    }
}

#[test]
fn a_lost_session_renews_subscriptions_with_their_options_one_subscribe_per_identifier() {
    let mut h = connected();
    let now = h.now;
    let nl = options(QoS::AtLeastOnce, true, false, RetainHandling::SendAtSubscribe);
    let mut first = SubscribeRequest::new(vec![("a".into(), nl), ("b".into(), nl)]);
    first.identifier = Some(7);
    h.client.subscribe_with(now, first).unwrap();
    h.client.subscribe(now, vec![("c".into(), QoS::AtMostOnce)]).unwrap();
    let mut third = SubscribeRequest::new(vec![("d".into(), nl)]);
    third.identifier = Some(7);
    h.client.subscribe_with(now, third).unwrap();
    h.recv(suback(1, &[1, 1]));
    h.recv(suback(2, &[0]));
    h.recv(suback(3, &[1]));
    h.client.handle_transport_down(h.now);
    h.clear();
    assert_eq!(
        h.connect_with(false, vec![]),
        lines(&["SUBSCRIBE id=4 a:1+nl,b:1+nl,d:1+nl [sub-id=7]", "SUBSCRIBE id=5 c:0"])
    );
    h.recv(suback(4, &[1, 1, 1]));
    h.recv(suback(5, &[0]));
    // A kept session needs none of it.
    h.client.handle_transport_down(h.now);
    assert!(h.connect_with(true, vec![]).is_empty());
}
