//! Scripted 5.0 sessions, start to end, as insta snapshots: every packet in and out and every
//! event, one line each. A snapshot is a transcript to read: review the diff before accepting.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use mqttsim_client::{
    Client, ClientConfig, CloseReason, DisconnectOptions, DropReason, Event, LimitPolicy,
    MessageProperties, OfflineQos0, Output, SubscribeRequest,
};
use mqttsim_codec::{
    ConnAck, Packet, PacketType, Properties, Property, QoS, ReasonCode, RetainHandling,
    SubscriptionOptions, Will,
};

use crate::harness::{
    ack_with, connack, describe, describe_properties, puback, pubcomp, publish_with, pubrec,
    pubrel, server_disconnect, suback, unsuback_v5,
};

/// One step of a script.
enum Step {
    At(f64),
    Up,
    In(Packet),
    Publish(&'static str, u8, bool, MessageProperties),
    Subscribe(SubscribeRequest),
    Unsubscribe(Vec<&'static str>),
    Disconnect(DisconnectOptions),
}

fn connack_with(session_present: bool, properties: Vec<Property>) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present,
        reason_code: ReasonCode::SUCCESS,
        properties: Properties(properties),
    })
}

fn event(e: &Event) -> String {
    match e {
        Event::Connected { session_present } => {
            format!("connected present={}", *session_present as u8)
        }
        Event::ConnectionRefused(code) => format!("refused {code:?}"),
        Event::SessionLost { resent, released } => {
            format!("session lost: resent {resent:?}, released {released:?}")
        }
        Event::Published { id, packet_id, qos, dup } => {
            format!("published #{} pid={packet_id} q{} dup={}", id.0, qos.as_u8(), *dup as u8)
        }
        Event::Received(p) => {
            let mut line = format!("received {} q{} pid={}", p.topic, p.qos.as_u8(), p.packet_id);
            if !p.properties.is_empty() {
                let _ = write!(line, " [{}]", describe_properties(&p.properties));
            }
            line
        }
        Event::Acked { id, packet_id, qos, reason } => {
            format!("acked #{} pid={packet_id} q{} {reason:?}", id.0, qos.as_u8())
        }
        Event::Subscribed { packet_id, granted } => {
            format!("subscribed pid={packet_id} {granted:?}")
        }
        Event::Unsubscribed { packet_id, codes } => {
            format!("unsubscribed pid={packet_id} {codes:?}")
        }
        Event::Dropped { id, reason } => {
            let reason = match reason {
                DropReason::PacketTooLarge { size, max } => format!("too large: {size} > {max}"),
                other => format!("{other:?}"),
            };
            format!("dropped #{} ({reason})", id.0)
        }
        Event::Downgraded { id, qos, retain } => {
            format!("downgraded #{} to q{} retain={}", id.0, qos.as_u8(), *retain as u8)
        }
        Event::PacketTooLarge { packet, size, max } => {
            format!("not sent: {packet:?} of {size} > {max}")
        }
        Event::BackOff { reason } => format!("back off {reason:?}"),
        Event::KeepAliveTimeout => "keep-alive timeout".into(),
        Event::Closed { reason: CloseReason::Protocol(violation) } => {
            format!("closed: protocol: {violation}")
        }
        Event::Closed { reason } => format!("closed: {reason:?}"),
    }
}

/// Runs `steps` and writes what happened, one line per packet or event.
fn run(config: ClientConfig, steps: Vec<Step>) -> String {
    let mut client = Client::new(config);
    let mut now = Duration::ZERO;
    let mut out = String::new();
    for step in steps {
        let t = now.as_secs_f64();
        match step {
            Step::At(at) => {
                now = Duration::from_secs_f64(at);
                if client.poll_timeout().is_some_and(|deadline| deadline <= now) {
                    let _ = writeln!(out, "{:>7.1}  timer", at);
                    client.handle_timeout(now);
                }
            }
            Step::Up => {
                let _ = writeln!(out, "{t:>7.1}  transport up");
                client.handle_transport_up(now);
            }
            Step::In(packet) => {
                let _ = writeln!(out, "{t:>7.1}  <- {}", describe(&Output::Send(packet.clone())));
                client.handle_packet(now, packet);
            }
            Step::Publish(topic, qos, retain, properties) => {
                let qos = QoS::from_u8(qos).unwrap();
                let payload = Bytes::from_static(b"payload");
                let id = client.publish_with(now, topic.into(), payload, qos, retain, &properties);
                let _ = writeln!(out, "{t:>7.1}  app: publish {topic} q{} -> {id:?}", qos.as_u8());
            }
            Step::Subscribe(request) => {
                let filters: Vec<&str> = request.filters.iter().map(|(f, _)| f.as_str()).collect();
                let result = client.subscribe_with(now, request.clone());
                let _ = writeln!(out, "{t:>7.1}  app: subscribe {filters:?} -> {result:?}");
            }
            Step::Unsubscribe(filters) => {
                let filters: Vec<String> = filters.into_iter().map(String::from).collect();
                let result = client.unsubscribe(now, filters.clone());
                let _ = writeln!(out, "{t:>7.1}  app: unsubscribe {filters:?} -> {result:?}");
            }
            Step::Disconnect(options) => {
                let code = options.reason_code;
                let result = client.disconnect_with(now, options);
                let _ = writeln!(out, "{t:>7.1}  app: disconnect {code:?} -> {result:?}");
            }
        }
        while let Some(output) = client.poll_output() {
            let _ = writeln!(out, "{:>7}  -> {}", "", describe(&output));
        }
        while let Some(e) = client.poll_event() {
            let _ = writeln!(out, "{:>7}     {}", "", event(&e));
        }
    }
    out
}

/// The same PUBLISH marked as a resend.
fn resent(packet: Packet) -> Packet {
    let Packet::Publish(mut publish) = packet else { panic!("not a PUBLISH") };
    publish.dup = true;
    Packet::Publish(publish)
}

fn none() -> MessageProperties {
    MessageProperties::default()
}

#[test]
fn v5_publisher_under_server_limits() {
    let mut config = ClientConfig::new("meter-7").v5();
    config.keep_alive = 60;
    config.session_expiry_interval = 600;
    config.outbound_topic_aliases = 4;
    config.max_inflight = 8;
    let reading = MessageProperties {
        message_expiry_interval: Some(30),
        content_type: Some("text/plain".into()),
        user_properties: vec![("unit".into(), "kWh".into())],
        ..MessageProperties::default()
    };
    let steps = vec![
        Step::Up,
        Step::In(connack_with(
            false,
            vec![
                Property::ReceiveMaximum(2),
                Property::MaximumPacketSize(120),
                Property::TopicAliasMaximum(2),
                Property::ServerKeepAlive(20),
            ],
        )),
        Step::Publish("meters/7/energy", 1, false, reading.clone()),
        Step::Publish("meters/7/energy", 1, false, reading.clone()),
        Step::Publish("meters/7/energy", 2, false, reading.clone()),
        Step::Publish(
            "meters/7/a-very-long-topic-name-that-does-not-fit",
            1,
            false,
            MessageProperties {
                user_properties: vec![("padding".into(), "x".repeat(60))],
                ..none()
            },
        ),
        Step::In(ack_with(PacketType::PubAck, 1, ReasonCode::NO_MATCHING_SUBSCRIBERS)),
        Step::In(ack_with(PacketType::PubAck, 2, ReasonCode::QUOTA_EXCEEDED)),
        Step::At(10.0),
        Step::In(pubrec(3)),
        Step::At(30.0),
        Step::In(Packet::PingResp),
        Step::In(server_disconnect(ReasonCode::SERVER_BUSY, vec![])),
        Step::At(45.0),
        Step::Up,
        Step::In(connack_with(true, vec![Property::ReceiveMaximum(5)])),
        Step::In(pubcomp(3)),
        Step::Disconnect(DisconnectOptions {
            session_expiry_interval: Some(0),
            ..DisconnectOptions::default()
        }),
    ];
    insta::assert_snapshot!(run(config, steps));
}

#[test]
fn v5_subscriber_with_aliases_options_and_will() {
    let mut config = ClientConfig::new("panel-3").v5();
    config.keep_alive = 0;
    config.topic_alias_maximum = 2;
    config.max_inbound_qos2 = 2;
    config.will = Some(Will {
        topic: "panels/3/status".into(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: MessageProperties { content_type: Some("text/plain".into()), ..none() }
            .will_properties(Some(10)),
    });
    let options = |qos, no_local, retain_handling| SubscriptionOptions {
        qos,
        no_local,
        retain_as_published: true,
        retain_handling,
    };
    let mut subscribe = SubscribeRequest::new(vec![
        ("panels/3/cmd/#".into(), options(QoS::ExactlyOnce, true, RetainHandling::DoNotSend)),
        ("$share/ui/alerts".into(), options(QoS::AtLeastOnce, false, RetainHandling::SendIfNew)),
    ]);
    subscribe.identifier = Some(3);
    let steps = vec![
        Step::Up,
        Step::In(connack(false, ReasonCode::SUCCESS)),
        Step::Subscribe(subscribe),
        Step::In(suback(1, &[0x02, 0x9E])),
        Step::In(publish_with(
            2,
            10,
            "panels/3/cmd/dim",
            vec![Property::TopicAlias(1), Property::SubscriptionIdentifier(3)],
        )),
        Step::In(publish_with(2, 11, "", vec![Property::TopicAlias(1)])),
        Step::In(resent(publish_with(2, 10, "", vec![Property::TopicAlias(1)]))),
        Step::In(pubrel(10)),
        Step::In(publish_with(
            1,
            12,
            "panels/3/cmd/on",
            vec![
                Property::TopicAlias(2),
                Property::ResponseTopic("ui/replies".into()),
                Property::CorrelationData(Bytes::from_static(b"r-9")),
            ],
        )),
        Step::Unsubscribe(vec!["panels/3/cmd/#", "nothing"]),
        Step::In(unsuback_v5(2, &[0x00, 0x11])),
        Step::Disconnect(DisconnectOptions::reason(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)),
    ];
    insta::assert_snapshot!(run(config, steps));
}

#[test]
fn v5_offline_queue_meets_a_limited_server() {
    let mut config = ClientConfig::new("tracker-1").v5();
    config.keep_alive = 0;
    config.offline_qos0 = OfflineQos0::Queue;
    config.limit_policy = LimitPolicy::Downgrade;
    let expiring = |seconds| MessageProperties { message_expiry_interval: Some(seconds), ..none() };
    let steps = vec![
        Step::Publish("gps", 0, false, expiring(5)),
        Step::Publish("gps", 2, true, expiring(60)),
        Step::Publish("alarm", 2, false, none()),
        Step::At(20.0),
        Step::Up,
        Step::In(connack_with(
            false,
            vec![
                Property::MaximumQoS(1),
                Property::RetainAvailable(0),
                Property::AssignedClientIdentifier("ignored: we have one".into()),
            ],
        )),
        Step::In(puback(1)),
        Step::In(ack_with(PacketType::PubAck, 2, ReasonCode::NOT_AUTHORIZED)),
        Step::In(publish_with(0, 0, "", vec![Property::TopicAlias(1)])),
        Step::At(25.0),
        Step::Up,
        Step::In(connack(false, ReasonCode::QUOTA_EXCEEDED)),
    ];
    insta::assert_snapshot!(run(config, steps));
}
