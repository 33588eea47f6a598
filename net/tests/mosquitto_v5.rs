//! The 5.0 client core and its driver against Mosquitto 2.0 over real loopback TCP: connect,
//! subscription options, publish properties, topic aliases, message expiry, session resume,
//! Wills with a delay and DISCONNECT 0x04, and the server's limits.
//!
//! Each test starts its own Mosquitto on a free loopback port (`/usr/sbin/mosquitto`; Debian:
//! `apt-get install mosquitto`) and waits for events, never for a fixed time, except where the
//! standard's clock itself is under test (a Message Expiry Interval running out, a Will Delay
//! Interval).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use mqttsim_client::{
    Client, ClientConfig, DisconnectOptions, DropReason, Event, LimitPolicy, MessageProperties,
    SubscribeRequest,
};
use mqttsim_codec::{
    Packet, Property, Protocol, Publish, QoS, ReasonCode, RetainHandling, SubscriptionOptions,
    Will, decode,
};
use mqttsim_net::{ClientDriverConfig, ClientWaker, ConnectionEnd, drive_client};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long any expected event may take on a busy machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// A Mosquitto on a free loopback port, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    /// Starts Mosquitto with anonymous access and `extra` configuration lines.
    fn start(extra: &str) -> Mosquitto {
        let binary = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("mosquitto is not installed: `apt-get install mosquitto` (Debian/Ubuntu)");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("mqttsim-v5-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n{extra}\n"
        );
        std::fs::write(&config, text).unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let mut broker = Mosquitto { child, port, dir };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("mosquitto exited at start with {status}");
            }
            assert!(started.elapsed() < PATIENCE, "mosquitto did not listen on {port}");
            std::thread::yield_now();
        }
        broker
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A stream that keeps a copy of every byte written to it.
struct Tap<S> {
    inner: S,
    written: Rc<RefCell<BytesMut>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.written.borrow_mut().extend_from_slice(&buf[..n]);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One client core, its driver on real TCP, and everything it saw and wrote.
struct Device {
    core: Rc<RefCell<Client>>,
    waker: ClientWaker,
    events: Rc<RefCell<Vec<Event>>>,
    changed: Rc<Notify>,
    written: Rc<RefCell<BytesMut>>,
    task: Option<JoinHandle<ConnectionEnd>>,
    epoch: Instant,
}

impl Device {
    fn new(config: ClientConfig) -> Device {
        Device {
            core: Rc::new(RefCell::new(Client::new(config))),
            waker: ClientWaker::new(),
            events: Rc::default(),
            changed: Rc::default(),
            written: Rc::default(),
            task: None,
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Opens a connection and waits for its CONNACK; returns Session Present.
    async fn connect(&mut self, broker: &Mosquitto) -> bool {
        let seen = self.events.borrow().len();
        let stream = TcpStream::connect(("127.0.0.1", broker.port)).await.unwrap();
        let stream = Tap { inner: stream, written: self.written.clone() };
        let (core, waker, events, changed) =
            (self.core.clone(), self.waker.clone(), self.events.clone(), self.changed.clone());
        let config = ClientDriverConfig { max_packet_size: 1 << 20, epoch: self.epoch };
        self.task = Some(tokio::task::spawn_local(async move {
            let mut sink = |_: Duration, event: &Event| {
                events.borrow_mut().push(event.clone());
                changed.notify_one();
            };
            drive_client(&core, stream, &waker, config, &mut sink).await
        }));
        self.wait_for("CONNACK", |events| {
            events[seen..].iter().find_map(|e| match e {
                Event::Connected { session_present } => Some(*session_present),
                Event::Closed { reason } => panic!("connection closed: {reason:?}"),
                _ => None,
            })
        })
        .await
    }

    /// Waits until `found` finds something in the events so far.
    async fn wait_for<T>(&self, what: &str, found: impl Fn(&[Event]) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(value) = found(&self.events.borrow()) {
                return value;
            }
            let changed = self.changed.notified();
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("no {what} within {PATIENCE:?}; events: {:#?}", self.events.borrow());
            }
        }
    }

    /// Waits for `n` messages on `topic` and returns them.
    async fn received(&self, topic: &str, n: usize) -> Vec<Publish> {
        self.wait_for(&format!("{n} messages on {topic}"), |events| {
            let got = received(events, topic);
            (got.len() >= n).then_some(got)
        })
        .await
    }

    async fn subscribe(&self, request: SubscribeRequest) {
        let seen = self.events.borrow().len();
        self.core.borrow_mut().subscribe_with(self.now(), request).unwrap();
        self.waker.wake();
        let granted = self
            .wait_for("SUBACK", |events| {
                events[seen..].iter().find_map(|e| match e {
                    Event::Subscribed { granted, .. } => Some(granted.clone()),
                    _ => None,
                })
            })
            .await;
        assert!(granted.iter().all(|code| !code.is_error()), "refused: {granted:?}");
    }

    fn publish(
        &self,
        topic: &str,
        payload: &str,
        qos: QoS,
        retain: bool,
        props: &MessageProperties,
    ) {
        let payload = Bytes::from(payload.to_owned());
        let now = self.now();
        self.core
            .borrow_mut()
            .publish_with(now, topic.into(), payload, qos, retain, props)
            .unwrap();
        self.waker.wake();
    }

    /// Waits until `n` messages are acknowledged in all.
    async fn acked(&self, n: usize) -> Vec<ReasonCode> {
        self.wait_for(&format!("{n} acknowledgements"), |events| {
            let codes: Vec<ReasonCode> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Acked { reason, .. } => Some(*reason),
                    _ => None,
                })
                .collect();
            (codes.len() >= n).then_some(codes)
        })
        .await
    }

    async fn disconnect(&mut self, options: DisconnectOptions) {
        self.core.borrow_mut().disconnect_with(self.now(), options).unwrap();
        self.waker.wake();
        if let Some(task) = self.task.take() {
            assert_eq!(task.await.unwrap(), ConnectionEnd::ClosedByClient);
        }
    }

    /// Drops the connection without DISCONNECT, as a device losing power would (the socket
    /// closes).
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.core.borrow_mut().handle_transport_down(self.now());
    }

    /// The packets this device wrote, decoded.
    fn sent(&self) -> Vec<Packet> {
        let mut wire = self.written.borrow().clone();
        std::iter::from_fn(|| decode(&mut wire, Protocol::V5, 1 << 20).unwrap()).collect()
    }
}

fn received(events: &[Event], topic: &str) -> Vec<Publish> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Received(p) if p.topic == topic => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn v5(client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new(client_id).v5();
    config.keep_alive = 60;
    config.clean_session = true;
    config
}

fn options(
    qos: QoS,
    no_local: bool,
    retain_as_published: bool,
    rh: RetainHandling,
) -> SubscriptionOptions {
    SubscriptionOptions { qos, no_local, retain_as_published, retain_handling: rh }
}

fn run<F: std::future::Future<Output = ()>>(test: F) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, test);
}

#[test]
fn subscription_options_and_publish_properties_round_trip_through_mosquitto() {
    run(async {
        let broker = Mosquitto::start("");
        let mut sub = Device::new(v5("v5-sub"));
        sub.connect(&broker).await;
        let mut request = SubscribeRequest::new(vec![(
            "props/#".into(),
            options(QoS::AtLeastOnce, true, true, RetainHandling::SendAtSubscribe),
        )]);
        request.identifier = Some(7);
        sub.subscribe(request).await;

        let mut publisher = Device::new(v5("v5-pub"));
        publisher.connect(&broker).await;
        let properties = MessageProperties {
            payload_utf8: true,
            message_expiry_interval: Some(120),
            content_type: Some("application/json".into()),
            response_topic: Some("props/replies".into()),
            correlation_data: Some(Bytes::from_static(b"req-1")),
            user_properties: vec![
                ("z".into(), "1".into()),
                ("a".into(), "2".into()),
                ("z".into(), "3".into()),
            ],
        };
        publisher.publish("props/reading", "{\"t\":21.5}", QoS::AtLeastOnce, true, &properties);
        // No Local: the subscriber's own message on a topic it subscribes to is not sent back.
        sub.publish("props/own", "mine", QoS::AtLeastOnce, false, &MessageProperties::default());
        sub.acked(1).await;
        publisher.publish(
            "props/sentinel",
            "last",
            QoS::AtLeastOnce,
            false,
            &MessageProperties::default(),
        );
        sub.received("props/sentinel", 1).await;

        let got = sub.received("props/reading", 1).await.remove(0);
        assert_eq!(&got.payload[..], b"{\"t\":21.5}");
        assert!(got.retain, "Retain As Published keeps RETAIN on a live message");
        assert_eq!(got.qos, QoS::AtLeastOnce);
        let mut expiry = None;
        let mut user = Vec::new();
        let mut others = Vec::new();
        for property in got.properties.iter() {
            match property {
                Property::MessageExpiryInterval(v) => expiry = Some(*v),
                Property::UserProperty(k, v) => user.push((k.as_str(), v.as_str())),
                other => others.push(other.clone()),
            }
        }
        assert!(expiry.is_some_and(|e| (1..=120).contains(&e)), "expiry {expiry:?}");
        assert_eq!(user, vec![("z", "1"), ("a", "2"), ("z", "3")], "user properties in order");
        for expected in [
            Property::PayloadFormatIndicator(1),
            Property::ContentType("application/json".into()),
            Property::ResponseTopic("props/replies".into()),
            Property::CorrelationData(Bytes::from_static(b"req-1")),
            Property::SubscriptionIdentifier(7),
        ] {
            assert!(others.contains(&expected), "{expected:?} missing from {others:?}");
        }
        assert!(received(&sub.events.borrow(), "props/own").is_empty(), "No Local was ignored");
        // Retain Handling: 2 sends no retained message at subscribe, 0 does.
        let mut late = Device::new(v5("v5-late"));
        late.connect(&broker).await;
        late.subscribe(SubscribeRequest::new(vec![(
            "props/reading".into(),
            options(QoS::AtLeastOnce, false, false, RetainHandling::DoNotSend),
        )]))
        .await;
        late.subscribe(SubscribeRequest::new(vec![(
            "props/sentinel".into(),
            options(QoS::AtLeastOnce, false, false, RetainHandling::SendAtSubscribe),
        )]))
        .await;
        publisher.publish(
            "props/sentinel",
            "again",
            QoS::AtLeastOnce,
            false,
            &MessageProperties::default(),
        );
        late.received("props/sentinel", 1).await;
        assert!(received(&late.events.borrow(), "props/reading").is_empty(), "Retain Handling 2");
        let mut early = Device::new(v5("v5-early"));
        early.connect(&broker).await;
        early
            .subscribe(SubscribeRequest::new(vec![(
                "props/reading".into(),
                options(QoS::AtLeastOnce, false, false, RetainHandling::SendAtSubscribe),
            )]))
            .await;
        let retained = early.received("props/reading", 1).await.remove(0);
        assert!(retained.retain, "a retained message sent at subscribe carries RETAIN");
        for device in [&mut sub, &mut publisher, &mut late, &mut early] {
            device.disconnect(DisconnectOptions::default()).await;
        }
    });
}

#[test]
fn topic_aliases_towards_mosquitto_carry_the_topic_once() {
    run(async {
        let broker = Mosquitto::start("max_topic_alias 2");
        let mut sub = Device::new(v5("alias-sub"));
        sub.connect(&broker).await;
        let request = SubscribeRequest::new(vec![(
            "alias/#".into(),
            options(QoS::AtLeastOnce, false, false, RetainHandling::SendAtSubscribe),
        )]);
        sub.subscribe(request).await;
        let mut config = v5("alias-pub");
        config.outbound_topic_aliases = 8;
        let mut publisher = Device::new(config);
        publisher.connect(&broker).await;
        assert_eq!(publisher.core.borrow().limits().topic_alias_maximum, 2);
        let none = MessageProperties::default();
        for (topic, payload) in [
            ("alias/a", "1"),
            ("alias/b", "2"),
            ("alias/a", "3"),
            ("alias/c", "4"),
            ("alias/b", "5"),
        ] {
            publisher.publish(topic, payload, QoS::AtLeastOnce, false, &none);
        }
        publisher.acked(5).await;
        let got: Vec<(String, String)> = sub
            .wait_for("5 alias messages", |events| {
                let got: Vec<(String, String)> = events
                    .iter()
                    .filter_map(|e| match e {
                        Event::Received(p) => Some((
                            p.topic.to_string(),
                            String::from_utf8_lossy(&p.payload).into_owned(),
                        )),
                        _ => None,
                    })
                    .collect();
                (got.len() >= 5).then_some(got)
            })
            .await;
        let expected: Vec<(String, String)> = [
            ("alias/a", "1"),
            ("alias/b", "2"),
            ("alias/a", "3"),
            ("alias/c", "4"),
            ("alias/b", "5"),
        ]
        .iter()
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect();
        assert_eq!(got, expected);
        // On the wire: aliases 1 and 2 set up with their names, then used without; the third
        // topic goes by name, the server allowing two.
        let wire: Vec<(String, Option<u16>)> = publisher
            .sent()
            .into_iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some((p.topic.to_string(), p.properties.topic_alias())),
                _ => None,
            })
            .collect();
        let expected_wire = vec![
            ("alias/a".to_string(), Some(1)),
            ("alias/b".to_string(), Some(2)),
            (String::new(), Some(1)),
            ("alias/c".to_string(), None),
            (String::new(), Some(2)),
        ];
        assert_eq!(wire, expected_wire);
        publisher.disconnect(DisconnectOptions::default()).await;
        sub.disconnect(DisconnectOptions::default()).await;
    });
}

#[test]
fn session_resumes_within_its_expiry_and_expired_messages_are_not_delivered() {
    run(async {
        let broker = Mosquitto::start("");
        let mut config = v5("sess-sub");
        config.clean_session = false;
        config.session_expiry_interval = 300;
        let mut sub = Device::new(config);
        assert!(!sub.connect(&broker).await, "a fresh client id has no session");
        let request = SubscribeRequest::new(vec![(
            "sess/#".into(),
            options(QoS::AtLeastOnce, false, false, RetainHandling::SendAtSubscribe),
        )]);
        sub.subscribe(request).await;
        sub.disconnect(DisconnectOptions::default()).await;

        let mut publisher = Device::new(v5("sess-pub"));
        publisher.connect(&broker).await;
        let short = MessageProperties { message_expiry_interval: Some(1), ..Default::default() };
        let none = MessageProperties::default();
        publisher.publish("sess/short", "expires", QoS::AtLeastOnce, false, &short);
        publisher.publish("sess/long", "stays", QoS::AtLeastOnce, false, &none);
        publisher.acked(2).await;
        let queued_at = Instant::now();
        // The Message Expiry Interval itself is under test: let it run out (a second, counted
        // in whole seconds by Mosquitto) while the subscriber is away.
        tokio::time::sleep_until(queued_at + Duration::from_millis(2_500)).await;

        assert!(sub.connect(&broker).await, "the session outlived the connection");
        let long = sub.received("sess/long", 1).await;
        assert_eq!(&long[0].payload[..], b"stays");
        // Queued in publish order: had it not expired, sess/short would have come first.
        assert!(received(&sub.events.borrow(), "sess/short").is_empty(), "an expired message came");
        // Session Expiry Interval 0 at DISCONNECT ends the session with the connection.
        let end = DisconnectOptions { session_expiry_interval: Some(0), ..Default::default() };
        sub.disconnect(end).await;
        assert!(!sub.connect(&broker).await, "the session ended with Session Expiry 0");
        sub.disconnect(DisconnectOptions::default()).await;
        publisher.disconnect(DisconnectOptions::default()).await;
    });
}

fn last_will(topic: &str, delay: Option<u32>) -> Will {
    let properties = MessageProperties {
        user_properties: vec![("cause".into(), "lost".into())],
        ..MessageProperties::default()
    };
    Will {
        topic: topic.into(),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: properties.will_properties(delay),
    }
}

#[test]
fn a_will_with_a_delay_comes_after_the_delay_and_disconnect_0x04_sends_it_at_once() {
    run(async {
        let broker = Mosquitto::start("");
        let mut watcher = Device::new(v5("will-watcher"));
        watcher.connect(&broker).await;
        let request = SubscribeRequest::new(vec![(
            "wills/#".into(),
            options(QoS::AtLeastOnce, false, false, RetainHandling::SendAtSubscribe),
        )]);
        watcher.subscribe(request).await;

        let mut config = v5("will-delayed");
        config.session_expiry_interval = 60;
        config.will = Some(last_will("wills/delayed", Some(2)));
        let mut delayed = Device::new(config);
        delayed.connect(&broker).await;
        let cut_at = Instant::now();
        delayed.cut().await;
        let will = watcher.received("wills/delayed", 1).await.remove(0);
        let waited = cut_at.elapsed();
        // Mosquitto counts whole seconds: the delay of 2 s is at least 1 s after the cut.
        assert!(waited >= Duration::from_secs(1), "the Will came {waited:?} after the cut");
        assert_eq!(&will.payload[..], b"offline");
        assert!(
            will.properties
                .iter()
                .any(|p| *p == Property::UserProperty("cause".into(), "lost".into()))
        );
        assert!(
            !will.properties.iter().any(|p| matches!(p, Property::WillDelayInterval(_))),
            "the delay is not forwarded"
        );

        let mut config = v5("will-now");
        config.will = Some(last_will("wills/now", None));
        let mut leaving = Device::new(config);
        leaving.connect(&broker).await;
        let options = DisconnectOptions::reason(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
        leaving.disconnect(options).await;
        watcher.received("wills/now", 1).await;
        // A normal DISCONNECT discards the Will.
        let mut config = v5("will-normal");
        config.will = Some(last_will("wills/normal", None));
        let mut normal = Device::new(config);
        normal.connect(&broker).await;
        normal.disconnect(DisconnectOptions::default()).await;
        watcher.publish(
            "wills/sentinel",
            "s",
            QoS::AtLeastOnce,
            false,
            &MessageProperties::default(),
        );
        watcher.received("wills/sentinel", 1).await;
        assert!(received(&watcher.events.borrow(), "wills/normal").is_empty());
        watcher.disconnect(DisconnectOptions::default()).await;
    });
}

#[test]
fn mosquittos_announced_limits_are_honoured() {
    run(async {
        let broker = Mosquitto::start(
            "max_packet_size 200\nmax_keepalive 10\nretain_available false\nmax_qos 1",
        );
        let mut config = v5("limited");
        config.keep_alive = 60;
        config.limit_policy = LimitPolicy::Downgrade;
        let mut device = Device::new(config);
        device.connect(&broker).await;
        let limits = device.core.borrow().limits().clone();
        assert_eq!(limits.maximum_packet_size, Some(200));
        assert_eq!(limits.server_keep_alive, Some(10));
        assert!(!limits.retain_available);
        assert_eq!(limits.maximum_qos, QoS::AtLeastOnce);
        let none = MessageProperties::default();
        device.publish("limits/big", &"x".repeat(300), QoS::AtLeastOnce, false, &none);
        device.publish("limits/q2", "fits", QoS::ExactlyOnce, true, &none);
        device.acked(1).await;
        let events = device.events.borrow().clone();
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Dropped { reason: DropReason::PacketTooLarge { max: 200, .. }, .. }
        )));
        assert!(
            events.iter().any(|e| matches!(
                e,
                Event::Downgraded { qos: QoS::AtLeastOnce, retain: false, .. }
            ))
        );
        // Mosquitto would have disconnected us for a packet too large, QoS 2 or RETAIN.
        assert!(!events.iter().any(|e| matches!(e, Event::Closed { .. })), "{events:#?}");
        device.disconnect(DisconnectOptions::default()).await;
    });
}
