//! The broker and client drivers together, over in-memory duplex streams, on tokio's paused
//! clock: the same drivers that run on turmoil's TCP and on real TCP.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use bytes::BytesMut;
use mqttsim_broker::{Broker, BrokerConfig, DisconnectReason, Event as BrokerEvent, MemoryStore};
use mqttsim_client::{Client, ClientConfig, Event as ClientEvent};
use mqttsim_codec::{Connect, Packet, Properties, Protocol, QoS, Will, encode};
use mqttsim_net::{
    BrokerDriver, BrokerDriverConfig, ClientDriverConfig, ClientWaker, ConnectionEnd, drive_client,
};
use tokio::io::DuplexStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;

type Log<T> = Rc<RefCell<Vec<T>>>;

struct World {
    broker: BrokerDriver,
    broker_events: Log<BrokerEvent>,
}

impl World {
    fn new() -> World {
        let core = Broker::new(BrokerConfig::default(), Box::new(MemoryStore::volatile()));
        let broker = BrokerDriver::new(core, BrokerDriverConfig::default());
        let broker_events: Log<BrokerEvent> = Rc::default();
        let log = broker_events.clone();
        broker.set_event_sink(Box::new(move |_, e| log.borrow_mut().push(e.clone())));
        tokio::task::spawn_local(broker.clone().run_timers());
        World { broker, broker_events }
    }

    /// Connects a client core through a fresh duplex pipe; returns the device's end.
    fn pipe(&self) -> DuplexStream {
        let (device_end, broker_end) = tokio::io::duplex(64 * 1024);
        self.broker.spawn_connection(broker_end).expect("below max_connections");
        device_end
    }
}

/// A device: a client core, its waker, and the events it saw.
struct Device {
    core: Rc<RefCell<Client>>,
    waker: ClientWaker,
    events: Log<ClientEvent>,
    connected: Rc<Notify>,
}

impl Device {
    fn new(config: ClientConfig) -> Device {
        Device {
            core: Rc::new(RefCell::new(Client::new(config))),
            waker: ClientWaker::new(),
            events: Rc::default(),
            connected: Rc::default(),
        }
    }

    /// Runs the device's connection over `stream` in the background.
    fn run(&self, stream: DuplexStream) -> tokio::task::JoinHandle<ConnectionEnd> {
        let core = self.core.clone();
        let waker = self.waker.clone();
        let events = self.events.clone();
        let connected = self.connected.clone();
        let config = ClientDriverConfig { max_packet_size: 1 << 20, epoch: Instant::now() };
        tokio::task::spawn_local(async move {
            let mut sink = |_: Duration, e: &ClientEvent| {
                if matches!(e, ClientEvent::Connected { .. } | ClientEvent::Subscribed { .. }) {
                    connected.notify_one();
                }
                events.borrow_mut().push(e.clone());
            };
            drive_client(&core, stream, &waker, config, &mut sink).await
        })
    }

    fn received(&self) -> Vec<(String, Bytes)> {
        self.events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Received(p) => Some((p.topic.to_string(), p.payload.clone())),
                _ => None,
            })
            .collect()
    }
}

async fn settle() {
    // Paused time: sleeping lets every ready task run, and time jumps ahead by itself.
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test(start_paused = true)]
async fn qos1_message_flows_from_publisher_to_subscriber_through_the_drivers() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let world = World::new();
            let sub = Device::new(ClientConfig::new("sub"));
            sub.core
                .borrow_mut()
                .subscribe(Duration::ZERO, vec![("t/#".into(), QoS::AtLeastOnce)])
                .unwrap();
            sub.run(world.pipe());
            sub.connected.notified().await;
            sub.connected.notified().await;

            let publisher = Device::new(ClientConfig::new("pub"));
            publisher.run(world.pipe());
            for i in 0..5 {
                publisher
                    .core
                    .borrow_mut()
                    .publish(
                        Duration::ZERO,
                        "t/x".into(),
                        Bytes::from(format!("m{i}")),
                        QoS::AtLeastOnce,
                        false,
                    )
                    .unwrap();
            }
            publisher.waker.wake();
            settle().await;

            let expected: Vec<(String, Bytes)> =
                (0..5).map(|i| ("t/x".to_string(), Bytes::from(format!("m{i}")))).collect();
            assert_eq!(sub.received(), expected);
            let acked = publisher
                .events
                .borrow()
                .iter()
                .filter(|e| matches!(e, ClientEvent::Acked { .. }))
                .count();
            assert_eq!(acked, 5, "every QoS 1 message is PUBACKed to the publisher");
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn silent_client_is_closed_after_one_and_a_half_keepalives_and_its_will_fires() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let world = World::new();
            let watcher = Device::new(ClientConfig::new("watcher"));
            watcher
                .core
                .borrow_mut()
                .subscribe(Duration::ZERO, vec![("will/#".into(), QoS::AtLeastOnce)])
                .unwrap();
            watcher.run(world.pipe());
            watcher.connected.notified().await;
            watcher.connected.notified().await;

            // The victim sends CONNECT (keepalive 10 s, with a Will) and then nothing, while its
            // stream stays open: a device that lost power.
            let mut victim = world.pipe();
            let connect = Packet::Connect(Connect {
                protocol: Protocol::V311,
                clean_start: true,
                keep_alive: 10,
                client_id: "victim".into(),
                will: Some(Will {
                    topic: "will/victim".into(),
                    payload: Bytes::from_static(b"gone"),
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    properties: Properties::new(),
                }),
                username: None,
                password: None,
                properties: Properties::new(),
            });
            let mut bytes = BytesMut::new();
            encode(&connect, Protocol::V311, &mut bytes).unwrap();
            victim.write_all(&bytes).await.unwrap();
            let mut connack = [0u8; 4];
            victim.read_exact(&mut connack).await.unwrap();
            assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
            let started = Instant::now();

            // Nothing happens before 1.5 × keepalive.
            tokio::time::sleep(Duration::from_secs(14)).await;
            assert!(watcher.received().is_empty(), "no Will before 15 s");
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(
                watcher.received(),
                vec![("will/victim".to_string(), Bytes::from_static(b"gone"))]
            );
            assert!(started.elapsed() >= Duration::from_secs(15));
            assert!(world.broker_events.borrow().iter().any(|e| matches!(
                e,
                BrokerEvent::ClientDisconnected { reason: DisconnectReason::KeepAliveTimeout, .. }
            )));
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_stops_reading_loses_qos0_but_keeps_its_connection() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let core = Broker::new(BrokerConfig::default(), Box::new(MemoryStore::volatile()));
            let config =
                BrokerDriverConfig { max_outbox_bytes: 400, ..BrokerDriverConfig::default() };
            let broker = BrokerDriver::new(core, config);
            tokio::task::spawn_local(broker.clone().run_timers());

            // A raw subscriber with a tiny pipe that subscribes and then never reads again.
            let (mut stalled, broker_end) = tokio::io::duplex(256);
            broker.spawn_connection(broker_end).unwrap();
            let mut out = BytesMut::new();
            let connect = Packet::Connect(Connect {
                protocol: Protocol::V311,
                clean_start: true,
                keep_alive: 0,
                client_id: "stalled".into(),
                will: None,
                username: None,
                password: None,
                properties: Properties::new(),
            });
            encode(&connect, Protocol::V311, &mut out).unwrap();
            let subscribe = Packet::Subscribe(mqttsim_codec::Subscribe {
                packet_id: 1,
                filters: vec![mqttsim_codec::SubscribeFilter {
                    filter: "t/#".into(),
                    options: Default::default(),
                }],
                properties: Properties::new(),
            });
            encode(&subscribe, Protocol::V311, &mut out).unwrap();
            stalled.write_all(&out).await.unwrap();
            let mut acks = [0u8; 4 + 5];
            stalled.read_exact(&mut acks).await.unwrap();
            assert_eq!(
                acks,
                [0x20, 2, 0, 0, 0x90, 3, 0, 1, 0],
                "CONNACK then SUBACK granting QoS 0"
            );

            let (device_end, broker_end) = tokio::io::duplex(64 * 1024);
            broker.spawn_connection(broker_end).unwrap();
            let publisher = Device::new(ClientConfig::new("pub"));
            publisher.run(device_end);
            publisher.connected.notified().await;
            for i in 0..200 {
                let payload = Bytes::from(vec![b'x'; 100 + i % 3]);
                publisher
                    .core
                    .borrow_mut()
                    .publish(Duration::ZERO, "t/x".into(), payload, QoS::AtMostOnce, false)
                    .unwrap();
                publisher.waker.wake();
                settle().await;
            }
            assert!(
                broker.dropped_qos0() > 100,
                "most QoS 0 messages to the stalled subscriber are dropped"
            );
            assert_eq!(broker.connection_count(), 2, "the stalled subscriber is not disconnected");
        })
        .await;
}

/// A raw MQTT 5.0 connection to `broker`: sends CONNECT and reads the CONNACK.
async fn raw_v5(broker: &BrokerDriver, client_id: &str) -> DuplexStream {
    let (mut stream, broker_end) = tokio::io::duplex(64 * 1024);
    broker.spawn_connection(broker_end).unwrap();
    let connect = Packet::Connect(Connect {
        protocol: Protocol::V5,
        clean_start: true,
        keep_alive: 0,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    });
    let mut out = BytesMut::new();
    encode(&connect, Protocol::V5, &mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    match read_v5(&mut stream).await {
        Some(Packet::ConnAck(ack)) => assert!(!ack.reason_code.is_error()),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    stream
}

/// The next 5.0 packet from the broker, or `None` at the end of the stream.
async fn read_v5(stream: &mut DuplexStream) -> Option<Packet> {
    let mut buf = BytesMut::new();
    loop {
        if let Some(packet) = mqttsim_codec::decode(&mut buf, Protocol::V5, 1 << 20).unwrap() {
            return Some(packet);
        }
        if stream.read_buf(&mut buf).await.unwrap() == 0 {
            return None;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_5_0_packet_above_the_announced_maximum_gets_disconnect_0x95() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let config = BrokerConfig { max_packet_size: 64, ..BrokerConfig::default() };
            let core = Broker::new(config, Box::new(MemoryStore::volatile()));
            // The driver's own limit is larger: the core's announced one applies.
            let broker = BrokerDriver::new(core, BrokerDriverConfig::default());
            let mut client = raw_v5(&broker, "big").await;
            let publish = Packet::Publish(mqttsim_codec::Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: "t".into(),
                packet_id: 0,
                payload: Bytes::from(vec![0u8; 100]),
                properties: Properties::new(),
            });
            let mut out = BytesMut::new();
            encode(&publish, Protocol::V5, &mut out).unwrap();
            client.write_all(&out).await.unwrap();
            match read_v5(&mut client).await {
                Some(Packet::Disconnect(d)) => {
                    assert_eq!(d.reason_code, mqttsim_codec::ReasonCode::PACKET_TOO_LARGE)
                }
                other => panic!("expected DISCONNECT 0x95, got {other:?}"),
            }
            assert_eq!(read_v5(&mut client).await, None, "then the connection is closed");
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_tells_5_0_clients_0x8b_before_closing() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let core = Broker::new(BrokerConfig::default(), Box::new(MemoryStore::volatile()));
            let broker = BrokerDriver::new(core, BrokerDriverConfig::default());
            let mut client = raw_v5(&broker, "stays").await;
            broker.shutdown(Duration::from_secs(1)).await;
            match read_v5(&mut client).await {
                Some(Packet::Disconnect(d)) => {
                    assert_eq!(d.reason_code, mqttsim_codec::ReasonCode::SERVER_SHUTTING_DOWN)
                }
                other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
            }
            assert_eq!(read_v5(&mut client).await, None);
            assert_eq!(broker.connection_count(), 0);
        })
        .await;
}
