use mqttsim_client::{Event, RequestError};
use mqttsim_codec::topic::TopicError;
use mqttsim_codec::{QoS, ReasonCode};

use crate::harness::{Harness, lines, suback, unsuback};

fn filters(list: &[(&str, u8)]) -> Vec<(String, QoS)> {
    list.iter().map(|(f, q)| (f.to_string(), QoS::from_u8(*q).unwrap())).collect()
}

#[test]
fn offline_requests_go_out_after_connecting_in_order() {
    let mut h = Harness::new(Harness::device());
    let now = h.now;
    h.client.subscribe(now, filters(&[("cmd/#", 1), ("cfg", 2)])).unwrap();
    h.client.unsubscribe(now, vec!["old".into()]).unwrap();
    assert!(h.out().is_empty());
    assert_eq!(h.connect(false), lines(&["SUBSCRIBE id=1 cmd/#:1,cfg:2", "UNSUBSCRIBE id=2 old"]));
    h.events();
    h.recv(suback(1, &[1, 0x80]));
    h.recv(unsuback(2));
    assert_eq!(
        h.events(),
        vec![
            Event::Subscribed {
                packet_id: 1,
                granted: vec![ReasonCode::GRANTED_QOS_1, ReasonCode::UNSPECIFIED_ERROR]
            },
            Event::Unsubscribed { packet_id: 2, codes: vec![] },
        ]
    );
    let granted: Vec<(String, QoS)> =
        h.client.subscriptions().iter().map(|s| (s.filter.clone(), s.options.qos)).collect();
    assert_eq!(granted, filters(&[("cmd/#", 1)]), "refused cfg is not kept");
}

#[test]
fn granted_subscriptions_are_renewed_when_the_session_is_lost() {
    // (session present on reconnect, what the reconnect sends)
    let cases: [(bool, &[&str]); 2] = [(false, &["SUBSCRIBE id=4 a:1,c:0"]), (true, &[])];
    for (session_present, expected) in cases {
        let mut h = Harness::new(Harness::device());
        h.connect(false);
        let now = h.now;
        h.client.subscribe(now, filters(&[("a", 1), ("b", 2)])).unwrap();
        h.client.subscribe(now, filters(&[("c", 0)])).unwrap();
        h.recv(suback(1, &[1, 2]));
        h.recv(suback(2, &[0]));
        h.client.unsubscribe(now, vec!["b".into()]).unwrap();
        h.recv(unsuback(3));
        h.client.handle_transport_down(h.now);
        h.clear();
        assert_eq!(
            h.connect(session_present),
            lines(expected),
            "session_present={session_present}"
        );
    }
}

#[test]
fn unacknowledged_requests_are_sent_again_on_the_next_connection() {
    let mut h = Harness::new(Harness::device());
    h.connect(true);
    let now = h.now;
    h.client.subscribe(now, filters(&[("a", 1)])).unwrap();
    assert_eq!(h.out(), lines(&["SUBSCRIBE id=1 a:1"]));
    h.client.handle_transport_down(h.now);
    assert_eq!(h.connect(true), lines(&["SUBSCRIBE id=2 a:1"]));
    h.events();
    h.recv(suback(2, &[1]));
    assert_eq!(
        h.events(),
        vec![Event::Subscribed { packet_id: 2, granted: vec![ReasonCode::GRANTED_QOS_1] }]
    );
}

#[test]
fn bad_requests_are_refused() {
    let mut config = Harness::device();
    config.max_pending_requests = 1;
    let mut h = Harness::new(config);
    let now = h.now;
    assert_eq!(h.client.subscribe(now, vec![]), Err(RequestError::NoFilters));
    assert_eq!(h.client.unsubscribe(now, vec![]), Err(RequestError::NoFilters));
    assert_eq!(
        h.client.subscribe(now, filters(&[("a/#/b", 0)])),
        Err(RequestError::InvalidFilter {
            filter: "a/#/b".into(),
            error: TopicError::MisplacedMultiLevelWildcard
        })
    );
    h.client.subscribe(now, filters(&[("a", 0)])).unwrap();
    assert_eq!(h.client.unsubscribe(now, vec!["a".into()]), Err(RequestError::TooManyPending(1)));
}
