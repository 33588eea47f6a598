//! One simulated device: its application (publishing, subscriptions), its client core, its
//! connection attempts through its link, its reconnect backoff and the faults that hit it.
//!
//! A device is one task on its device host. It waits for whichever comes first: the end of the
//! current connection phase (an attempt, a live connection, a backoff delay), or its next
//! timer (a message to publish, a fault, the end of a fault). Every random choice comes from the
//! device's own [`Purpose::DEVICE`] stream.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use crate::clock::Clock;
use crate::link::{Connection, DeviceLink, LinkEventKind, LinkStream, Transport};
use crate::plan::DevicePlan;
use crate::rng::SimRng;
use crate::scenario::{self, DeviceGroup, FaultKind};
use crate::tap::PacketTap;
use crate::trace::{Event, Limits, MessageProps, Phase, Record};
use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use mqttsim_client::{
    Backoff, Client, ClientConfig, CloseReason, DisconnectOptions, DropReason,
    Event as ClientEvent, LimitPolicy, MessageId, MessageProperties, OfflineQos0, QueuePolicy,
    State, SubscribeRequest,
};
use mqttsim_codec::{Properties, Property, Protocol, QoS, ReasonCode, SubscriptionOptions, Will};
use mqttsim_net::{ClientDriverConfig, ClientWaker, drive_client};
use rand::Rng;

/// The largest packet a device accepts from the broker; a 5.0 device announces it as its
/// Maximum Packet Size, so that a broker never sends it a larger one.
const MAX_PACKET_SIZE: u32 = 1 << 20;

/// The longest a device task sleeps without looking at its link's event log.
const HOUSEKEEPING: Duration = Duration::from_secs(60);

/// Where the device's records go: the run's shared buffer.
pub(crate) type Recorder = Rc<RefCell<Vec<Record>>>;

/// Everything fixed about a device, prepared before its task starts.
pub(crate) struct DeviceSetup {
    pub plan: DevicePlan,
    pub config: ClientConfig,
    /// Every subscription with its options (QoS; 5.0: No Local, Retain Handling), made when
    /// the device starts.
    pub subscriptions: Vec<(String, SubscriptionOptions)>,
    /// The subscriptions made again on every connection whose session the broker kept
    /// (`resubscribe: on-connect`; the client core renews them itself when it did not).
    pub resubscribe: Vec<(String, SubscriptionOptions)>,
    pub streams: Vec<PublishStream>,
    pub reconnect: scenario::ReconnectSpec,
    pub link: DeviceLink,
    pub rng: SimRng,
    pub recorder: Recorder,
    /// How the device's link reaches the broker.
    pub transport: Transport,
    /// Whether to record every control packet (the packet-level trace).
    pub packets: bool,
    /// MQTT 5.0: the requests this device answers.
    pub responder: Option<Responder>,
}

/// MQTT 5.0: how a device answers requests (its group's `respond`).
#[derive(Debug, Clone)]
pub(crate) struct Responder {
    /// The filter the requests come on.
    pub filter: String,
    pub qos: QoS,
    pub size: u32,
}

/// One `publish` entry of a group, expanded for one device.
#[derive(Debug, Clone)]
pub(crate) struct PublishStream {
    topic: ByteString,
    qos: QoS,
    retain: bool,
    size: u32,
    /// The 5.0 Message Expiry Interval of each message, in seconds.
    expiry: Option<u32>,
    every: Duration,
    burst: u32,
    spacing: Duration,
    /// The start of the current period.
    period: Duration,
    /// The next message of the burst.
    k: u32,
    /// MQTT 5.0: the properties every message carries (a request's Correlation Data is added
    /// per message).
    properties: Option<MessageProperties>,
}

impl PublishStream {
    fn due(&self) -> Duration {
        self.period + self.spacing * self.k
    }

    fn advance(&mut self) {
        self.k += 1;
        if self.k >= self.burst {
            self.k = 0;
            self.period += self.every;
        }
    }
}

/// Builds the client configuration of device `i` of `group`.
pub(crate) fn client_config(group: &DeviceGroup, i: usize, protocol: Protocol) -> ClientConfig {
    let mut config = ClientConfig::new(group.client_id(i));
    config.protocol = protocol;
    config.clean_session = group.clean_session;
    config.keep_alive = u16::try_from(group.keepalive.get().as_secs()).unwrap_or(u16::MAX);
    if let Some(will) = &group.will {
        let properties = match protocol {
            Protocol::V5 => will_properties(group, will, i),
            _ => Properties::new(),
        };
        config.will = Some(Will {
            topic: ByteString::from(group.expand(&will.topic, i)),
            payload: Bytes::from(will.payload.clone().into_bytes()),
            qos: will.qos.get(),
            retain: will.retain,
            properties,
        });
    }
    if let Some(credentials) = &group.credentials {
        config.username = Some(credentials.username.clone());
        config.password = credentials.password.clone().map(|p| Bytes::from(p.into_bytes()));
    }
    config.max_queued = group.queue.capacity as usize;
    config.queue_policy = match group.queue.policy {
        scenario::QueuePolicy::DropOldest => QueuePolicy::DropOldest,
        scenario::QueuePolicy::DropNewest => QueuePolicy::DropNewest,
    };
    // The queue is what the device keeps while offline: QoS 0 readings wait in it too.
    config.offline_qos0 =
        if group.queue.capacity > 0 { OfflineQos0::Queue } else { OfflineQos0::Drop };
    if protocol == Protocol::V5 {
        config.maximum_packet_size = Some(max_packet_size(group));
        config.session_expiry_interval = group
            .session_expiry
            .map_or(0, |s| u32::try_from(s.get().as_secs()).unwrap_or(u32::MAX));
        // The client announces its inbound QoS 2 limit as its Receive Maximum.
        if let Some(rm) = group.receive_maximum {
            config.max_inbound_qos2 = rm.max(1);
        }
        config.topic_alias_maximum = group.topic_alias_maximum.unwrap_or(0);
        config.outbound_topic_aliases = group.topic_aliases.unwrap_or(0);
        // Above the broker's Maximum QoS a message goes at it; a retained message the broker
        // cannot retain (Retain Available 0) is given up, not sent as a plain one.
        config.limit_policy = LimitPolicy::RefuseRetain;
    }
    config
}

/// The MQTT 5.0 Will Properties of device `i`'s Will: its Will Delay Interval, then what the
/// published Will carries (Message Expiry Interval, Payload Format Indicator, Content Type,
/// Response Topic, Correlation Data, User Properties in order).
fn will_properties(group: &DeviceGroup, will: &scenario::WillSpec, i: usize) -> Properties {
    let secs = |t: scenario::TimeSpan| u32::try_from(t.get().as_secs()).unwrap_or(u32::MAX);
    let message = MessageProperties {
        payload_utf8: will.payload_format == Some(scenario::PayloadFormat::Utf8),
        message_expiry_interval: will.expiry.map(secs),
        content_type: will.content_type.clone(),
        response_topic: will.response_topic.as_ref().map(|t| group.expand(t, i)),
        correlation_data: will
            .correlation_data
            .as_ref()
            .map(|c| Bytes::from(group.expand(c, i).into_bytes())),
        user_properties: will
            .user_properties
            .iter()
            .map(|u| (group.expand(&u.key, i), group.expand(&u.value, i)))
            .collect(),
    };
    message.will_properties(will.delay.map(secs))
}

/// The subscriptions of device `i` of `group` with their options (all of them, or only those
/// made again on every connection).
pub(crate) fn subscriptions(
    group: &DeviceGroup,
    i: usize,
    only_on_connect: bool,
) -> Vec<(String, SubscriptionOptions)> {
    group
        .subscribe
        .iter()
        .filter(|s| !only_on_connect || s.resubscribe == scenario::Resubscribe::OnConnect)
        .map(|s| {
            let retain_handling = match s.retain_handling.unwrap_or_default() {
                scenario::RetainHandling::Send => mqttsim_codec::RetainHandling::SendAtSubscribe,
                scenario::RetainHandling::SendIfNew => mqttsim_codec::RetainHandling::SendIfNew,
                scenario::RetainHandling::Never => mqttsim_codec::RetainHandling::DoNotSend,
            };
            let options = SubscriptionOptions {
                qos: s.qos.get(),
                no_local: s.no_local,
                retain_as_published: s.retain_as_published,
                retain_handling,
            };
            (group.expand(&s.filter, i), options)
        })
        .collect()
}

/// The largest packet a device of `group` accepts (a 5.0 device announces it).
pub(crate) fn max_packet_size(group: &DeviceGroup) -> u32 {
    group.maximum_packet_size.unwrap_or(MAX_PACKET_SIZE)
}

/// The requests device `i` of `group` answers, if its group responds.
pub(crate) fn responder(group: &DeviceGroup, i: usize) -> Option<Responder> {
    group.respond.as_ref().map(|r| Responder {
        filter: group.expand(&r.to, i),
        qos: r.qos.get(),
        size: r.payload_size,
    })
}

/// The 5.0 message properties of a publish entry for device `i` (`None` without any).
fn stream_properties(
    group: &DeviceGroup,
    p: &scenario::PublishSpec,
    i: usize,
) -> Option<MessageProperties> {
    let properties = MessageProperties {
        payload_utf8: p.payload_format == Some(scenario::PayloadFormat::Utf8),
        message_expiry_interval: None,
        content_type: p.content_type.clone(),
        response_topic: p.request.as_ref().map(|r| group.expand(&r.response_topic, i)),
        correlation_data: None,
        user_properties: p
            .user_properties
            .iter()
            .map(|u| (group.expand(&u.key, i), group.expand(&u.value, i)))
            .collect(),
    };
    (!properties.is_empty()).then_some(properties)
}

/// The trace's view of the properties a device publishes with.
fn trace_props(properties: &MessageProperties) -> Option<Box<MessageProps>> {
    let props = MessageProps {
        payload_format: properties.payload_utf8.then_some(1),
        content_type: properties.content_type.clone(),
        response_topic: properties.response_topic.clone(),
        correlation: properties
            .correlation_data
            .as_ref()
            .map(|c| String::from_utf8_lossy(c).into_owned()),
        user: properties.user_properties.clone(),
        alias: None,
    };
    (props != MessageProps::default()).then(|| Box::new(props))
}

/// Expands a group's publish entries for device `i`, each starting at a random phase within
/// its period after `start`.
pub(crate) fn publish_streams(
    group: &DeviceGroup,
    i: usize,
    start: Duration,
    rng: &mut SimRng,
) -> Vec<PublishStream> {
    group
        .publish
        .iter()
        .map(|p| {
            let every = p.every.get().max(Duration::from_millis(1));
            let phase_us = rng.random_range(0..u64::try_from(every.as_micros()).unwrap_or(1));
            let (burst, spacing) = match p.burst {
                Some(b) => (b.size.max(1), b.spacing.get()),
                None => (1, Duration::ZERO),
            };
            PublishStream {
                properties: stream_properties(group, p, i),
                topic: ByteString::from(group.expand(&p.topic, i)),
                qos: p.qos.get(),
                retain: p.retain,
                size: p.payload_size,
                expiry: p.expiry.map(|e| u32::try_from(e.get().as_secs()).unwrap_or(u32::MAX)),
                every,
                burst,
                spacing,
                period: start + Duration::from_micros(phase_us),
                k: 0,
            }
        })
        .collect()
}

/// Builds a payload `"<client_id>#<n>"`, padded with spaces to `size` bytes; a size below the
/// id's length gives the id alone, and a size of 0 an empty payload (no id: with RETAIN=1, a
/// retained clear).
pub(crate) fn payload(msg: &str, size: u32) -> Bytes {
    if size == 0 {
        return Bytes::new();
    }
    let size = size as usize;
    let mut out = BytesMut::with_capacity(size.max(msg.len()));
    out.put_slice(msg.as_bytes());
    if out.len() < size {
        out.put_bytes(b' ', size - out.len());
    }
    out.freeze()
}

/// Reads the message id back from a payload: the text before the first space, if it looks
/// like `<client_id>#<n>`.
pub(crate) fn message_id(payload: &[u8]) -> Option<&str> {
    let head = payload.split(|b| *b == b' ').next()?;
    let head = std::str::from_utf8(head).ok()?;
    let (client, n) = head.rsplit_once('#')?;
    (!client.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(head)
}

/// Turns the client core's events into trace records.
struct EventMapper {
    /// The device's clock (its link's): simulated, or real in a live run.
    clock: Clock,
    client_id: String,
    site: String,
    recorder: Recorder,
    /// Message number of the client core's `MessageId(0)`: the core counts from 1 in each life.
    life_base: Cell<u64>,
    /// Set when CONNACK accepted a connection (the backoff then starts again).
    connected: Cell<bool>,
    /// Set when CONNACK accepted a connection in this life of the device (its first
    /// connection sends the subscriptions made at boot).
    connected_this_life: Cell<bool>,
    /// The number of the device's next application message, from 1 across its lives.
    next_msg: Cell<u64>,
    /// MQTT 5.0: the requests the device answers.
    responder: Option<Responder>,
    /// Wakes the driver when a response was published from inside its event sink.
    waker: ClientWaker,
}

impl EventMapper {
    fn msg(&self, id: MessageId) -> String {
        format!("{}#{}", self.client_id, self.life_base.get() + id.0)
    }

    fn push(&self, at: Duration, event: Event) {
        let record = Record::new(at, Some(&self.site), Some(&self.client_id), event);
        self.recorder.borrow_mut().push(record);
    }

    /// CONNACK accepted the connection; `session_expiry` is the interval in force on a 5.0
    /// connection, `will_delay` its Will's Will Delay Interval, `limits` what its CONNECT
    /// announced and its CONNACK answered.
    fn on_connected(
        &self,
        session_present: bool,
        session_expiry: Option<u32>,
        will_delay: Option<u32>,
        limits: Option<Limits>,
    ) {
        self.connected.set(true);
        let event = Event::Connected { session_present, session_expiry, will_delay, limits };
        self.push(self.clock.now(), event);
    }

    /// MQTT 5.0: what the device's CONNECT announced and its CONNACK answered.
    fn limits(client: &RefCell<Client>) -> Option<Limits> {
        let core = client.borrow();
        (core.config().protocol == Protocol::V5).then(|| {
            let (config, server) = (core.config(), core.limits());
            Limits {
                receive_maximum: config.max_inbound_qos2.max(1),
                maximum_packet_size: config.maximum_packet_size,
                topic_alias_maximum: config.topic_alias_maximum,
                server_receive_maximum: server.receive_maximum,
                server_maximum_packet_size: server.maximum_packet_size,
                server_topic_alias_maximum: server.topic_alias_maximum,
                server_maximum_qos: (server.maximum_qos < QoS::ExactlyOnce)
                    .then(|| server.maximum_qos.as_u8()),
                server_retain_available: server.retain_available,
            }
        })
    }

    fn on_client_event(&self, event: &ClientEvent, client: &RefCell<Client>) {
        let at = self.clock.now();
        let v5 = client.borrow().config().protocol == Protocol::V5;
        let event = match event {
            ClientEvent::Connected { session_present } => {
                self.on_connected(*session_present, None, None, Self::limits(client));
                return;
            }
            ClientEvent::ConnectionRefused(code) => Event::Refused { code: code.0 },
            ClientEvent::SessionLost { resent, released } => Event::SessionLost {
                resent: resent.iter().map(|id| self.msg(*id)).collect(),
                released: released.iter().map(|id| self.msg(*id)).collect(),
            },
            ClientEvent::Published { id, packet_id, qos, dup } => Event::PublishSent {
                msg: self.msg(*id),
                pid: *packet_id,
                qos: qos.as_u8(),
                dup: *dup,
            },
            ClientEvent::Received(publish) => {
                let msg = message_id(&publish.payload).map(str::to_owned);
                let payload = msg.is_none().then(|| {
                    let end = publish.payload.len().min(64);
                    String::from_utf8_lossy(&publish.payload[..end]).into_owned()
                });
                let delivered = Event::Delivered {
                    msg,
                    topic: publish.topic.to_string(),
                    qos: publish.qos.as_u8(),
                    pid: publish.packet_id,
                    dup: publish.dup,
                    retain: publish.retain,
                    payload,
                    expiry: publish.properties.iter().find_map(|p| match p {
                        Property::MessageExpiryInterval(e) => Some(*e),
                        _ => None,
                    }),
                    props: if v5 { MessageProps::of(&publish.properties) } else { None },
                };
                self.push(at, delivered);
                self.respond(at, publish, client);
                return;
            }
            ClientEvent::Acked { id, packet_id, qos, .. } => {
                Event::Acked { msg: self.msg(*id), pid: *packet_id, qos: qos.as_u8() }
            }
            ClientEvent::Subscribed { granted, .. } => {
                Event::Suback { codes: granted.iter().map(|c| c.0).collect() }
            }
            ClientEvent::Unsubscribed { .. }
            | ClientEvent::KeepAliveTimeout
            | ClientEvent::Downgraded { .. }
            | ClientEvent::PacketTooLarge { .. }
            | ClientEvent::BackOff { .. } => return,
            ClientEvent::Dropped { id, reason } => Event::Dropped {
                msg: self.msg(*id),
                reason: match reason {
                    DropReason::QueueFull => "queue-full".to_owned(),
                    DropReason::Offline => "offline".to_owned(),
                    DropReason::Rejected(code) => format!("rejected 0x{:02X}", code.0),
                    DropReason::PacketTooLarge { .. } => "too-large".to_owned(),
                    DropReason::Expired => "expired".to_owned(),
                    DropReason::Unsupported(code) => format!("unsupported 0x{:02X}", code.0),
                },
            },
            ClientEvent::Closed { reason } => Event::Closed {
                reason: close_reason(reason),
                code: v5.then(|| close_code(reason)).flatten(),
            },
        };
        self.push(at, event);
    }

    /// Answers a request a responder received: a message on its `respond` filter with a
    /// Response Topic gets a response there, with its Correlation Data, at once.
    fn respond(&self, at: Duration, request: &mqttsim_codec::Publish, client: &RefCell<Client>) {
        let Some(responder) = &self.responder else { return };
        if !mqttsim_codec::topic::matches(&responder.filter, &request.topic) {
            return;
        }
        let mut response_topic = None;
        let mut correlation = None;
        for p in request.properties.iter() {
            match p {
                Property::ResponseTopic(t) => response_topic = Some(t.clone()),
                Property::CorrelationData(c) => correlation = Some(c.clone()),
                _ => {}
            }
        }
        let Some(topic) = response_topic else { return };
        let n = self.next_msg.get();
        let msg = format!("{}#{n}", self.client_id);
        let body = payload(&msg, responder.size);
        let size = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let properties = MessageProperties { correlation_data: correlation, ..Default::default() };
        let result = client.borrow_mut().publish_with(
            at,
            ByteString::from(topic.as_str()),
            body,
            responder.qos,
            false,
            &properties,
        );
        // A response topic the broker forwarded is a valid topic name; a refusal (an invalid
        // one) leaves the request unanswered, which the checker reports.
        let Ok(id) = result else { return };
        debug_assert_eq!(self.life_base.get() + id.0, n, "message numbering drifted");
        self.next_msg.set(n + 1);
        self.push(
            at,
            Event::AppPublish {
                msg,
                topic: topic.clone(),
                qos: responder.qos.as_u8(),
                retain: false,
                size,
                expiry: None,
                props: trace_props(&properties),
            },
        );
        self.waker.wake();
    }
}

/// The MQTT 5.0 reason code of the DISCONNECT that ended a connection: the one the device sent
/// for a protocol or decode error, or the server's.
fn close_code(reason: &CloseReason) -> Option<u8> {
    match reason {
        CloseReason::ServerDisconnect(code) | CloseReason::Refused(code) => Some(code.0),
        CloseReason::Decode(error) => Some(error.reason_code().0),
        CloseReason::Protocol(violation) => Some(violation.reason_code().0),
        _ => None,
    }
}

/// The kebab-case name of a client close reason.
fn close_reason(reason: &CloseReason) -> String {
    match reason {
        CloseReason::ClientDisconnect => "client-disconnect".to_owned(),
        CloseReason::TransportLost => "transport-lost".to_owned(),
        CloseReason::ConnectTimeout => "connect-timeout".to_owned(),
        CloseReason::KeepAliveTimeout => "keepalive-timeout".to_owned(),
        CloseReason::Refused(code) => format!("refused 0x{:02X}", code.0),
        CloseReason::ServerDisconnect(code) => format!("server-disconnect 0x{:02X}", code.0),
        CloseReason::Decode(error) => format!("decode: {error}"),
        CloseReason::Protocol(violation) => format!("protocol: {violation}"),
    }
}

/// What ended a connection phase.
enum Outcome {
    /// A backoff delay is over.
    Retry,
    /// A connection attempt finished.
    Connect(io::Result<(LinkStream, Connection)>),
    /// A live connection ended (the client core's `Closed` event says why).
    Ended,
}

type PhaseFuture = Pin<Box<dyn Future<Output = Outcome>>>;

/// Something on the device's own timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Power on (first start, or back from a power loss or a reboot of this kind).
    Boot(Option<FaultKind>),
    /// A fault starts (with a `disconnect`'s reason).
    Fault(FaultKind, Option<Duration>, scenario::DisconnectReason),
    /// A graceful disconnect's pause is over.
    Release,
}

struct Device {
    setup: DeviceSetup,
    mapper: Rc<EventMapper>,
    /// The client core; `None` while the device is off (its RAM is gone).
    client: Option<Rc<RefCell<Client>>>,
    waker: ClientWaker,
    backoff: Backoff,
    phase: Option<PhaseFuture>,
    /// The live connection's handle, for power loss and crashes.
    conn: Option<Connection>,
    /// After a graceful disconnect fault, the device stays offline until released.
    held: bool,
    agenda: Vec<(Duration, Action)>,
    attempts: u32,
}

/// Runs one device for ever (the run stops stepping the world when it is over).
pub(crate) async fn run_device(setup: DeviceSetup) {
    let r = &setup.reconnect;
    let backoff = Backoff::new(r.initial.get(), r.max.get(), r.multiplier, r.jitter.get())
        .unwrap_or_else(|_| {
            Backoff::new(Duration::from_secs(1), Duration::from_secs(60), 2.0, 0.0)
                .expect("the fallback backoff is valid")
        });
    let waker = ClientWaker::new();
    let mapper = Rc::new(EventMapper {
        clock: setup.link.clock(),
        client_id: setup.plan.client_id.clone(),
        site: setup.plan.site.clone(),
        recorder: setup.recorder.clone(),
        life_base: Cell::new(0),
        connected: Cell::new(false),
        connected_this_life: Cell::new(false),
        next_msg: Cell::new(1),
        responder: setup.responder.clone(),
        waker: waker.clone(),
    });
    let mut agenda = vec![(setup.plan.start, Action::Boot(None))];
    agenda
        .extend(setup.plan.faults.iter().map(|f| (f.at, Action::Fault(f.kind, f.lasts, f.reason))));
    let mut device = Device {
        setup,
        mapper,
        client: None,
        waker,
        backoff,
        phase: None,
        conn: None,
        held: false,
        agenda,
        attempts: 0,
    };
    device.sort_agenda();
    device.run().await;
}

impl Device {
    fn sort_agenda(&mut self) {
        // Stable: a fault and the end of an earlier fault at the same instant keep their order.
        self.agenda.sort_by_key(|(at, _)| *at);
    }

    fn schedule(&mut self, at: Duration, action: Action) {
        let pos = self.agenda.partition_point(|(t, _)| *t <= at);
        self.agenda.insert(pos, (at, action));
    }

    /// The time on the device's clock.
    fn now(&self) -> Duration {
        self.mapper.clock.now()
    }

    fn record(&self, event: Event) {
        self.mapper.push(self.now(), event);
    }

    fn alive(&self) -> bool {
        self.client.is_some()
    }

    /// The next time something on the device's timeline is due. A device with nothing to do
    /// still wakes every [`HOUSEKEEPING`] to empty its link's event log, which keeps its
    /// memory bounded however long a connection lives.
    fn next_wakeup(&self) -> Duration {
        let housekeeping = self.now() + HOUSEKEEPING;
        let agenda = self.agenda.first().map_or(housekeeping, |(at, _)| *at);
        let publish = self.setup.streams.iter().map(PublishStream::due).min();
        agenda.min(publish.unwrap_or(housekeeping)).min(housekeeping)
    }

    async fn run(&mut self) {
        loop {
            let clock = self.mapper.clock;
            let timer = clock.sleep_until(self.next_wakeup());
            let outcome = match self.phase.as_mut() {
                Some(phase) => tokio::select! {
                    biased;
                    outcome = phase => Some(outcome),
                    () = timer => None,
                },
                None => {
                    timer.await;
                    None
                }
            };
            // The link's records (a reset) come before what the device makes of them.
            self.drain_link_events();
            match outcome {
                Some(outcome) => {
                    self.phase = None;
                    self.on_outcome(outcome);
                }
                None => self.on_timer(),
            }
        }
    }

    /// Moves the link's notable events (resets) into the trace; drops the per-segment log.
    fn drain_link_events(&self) {
        for event in self.setup.link.take_events() {
            if event.kind == LinkEventKind::DeviceReset {
                self.mapper.push(event.at, Event::LinkReset);
            }
        }
    }

    fn on_timer(&mut self) {
        let t = self.now();
        while self.agenda.first().is_some_and(|(at, _)| *at <= t) {
            let (_, action) = self.agenda.remove(0);
            self.act(action, t);
        }
        for s in 0..self.setup.streams.len() {
            while self.setup.streams[s].due() <= t {
                if self.alive() {
                    self.publish(s, t);
                }
                self.setup.streams[s].advance();
            }
        }
    }

    fn act(&mut self, action: Action, t: Duration) {
        match action {
            Action::Boot(after) => {
                if self.alive() {
                    return;
                }
                if let Some(kind) = after {
                    self.record(Event::DeviceFault {
                        kind: kind.name().to_owned(),
                        phase: Phase::End,
                    });
                }
                self.boot(t);
            }
            Action::Release => {
                if !self.held {
                    return;
                }
                self.held = false;
                let kind = FaultKind::Disconnect.name().to_owned();
                self.record(Event::DeviceFault { kind, phase: Phase::End });
                if self.alive() && self.phase.is_none() {
                    self.start_attempt();
                }
            }
            Action::Fault(kind, lasts, reason) => {
                if !self.alive() {
                    // Already off: nothing more can happen to it.
                    return;
                }
                self.record(Event::DeviceFault {
                    kind: kind.name().to_owned(),
                    phase: Phase::Start,
                });
                match kind {
                    FaultKind::PowerLoss => {
                        if let Some(conn) = &self.conn {
                            conn.power_loss();
                        }
                        self.power_off();
                        if let Some(lasts) = lasts {
                            self.schedule(t + lasts, Action::Boot(Some(kind)));
                        }
                    }
                    FaultKind::Crash => {
                        // The process dies; its operating system closes the socket (a FIN).
                        if let Some(conn) = &self.conn {
                            conn.crash();
                        }
                        self.power_off();
                    }
                    FaultKind::Reboot => {
                        // The whole device restarts: its kernel, and with it the connection's
                        // state, is gone without a FIN, so the broker keeps a half-open
                        // connection until its keepalive expires or the rebooted device
                        // connects again and takes the session over.
                        if let Some(conn) = &self.conn {
                            conn.power_loss();
                        }
                        self.power_off();
                        let lasts = lasts.unwrap_or_default();
                        self.schedule(t + lasts, Action::Boot(Some(kind)));
                    }
                    FaultKind::Disconnect => {
                        self.held = true;
                        if self.conn.is_some() {
                            if let Some(client) = &self.client {
                                self.disconnect(client, t, reason);
                            }
                            self.waker.wake();
                        } else {
                            // Not connected: stop trying until released.
                            self.phase = None;
                        }
                        if let Some(lasts) = lasts {
                            self.schedule(t + lasts, Action::Release);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Sends DISCONNECT with the fault's reason; a 5.0 device records it (its reason code is
    /// what decides the Will).
    fn disconnect(
        &self,
        client: &RefCell<Client>,
        t: Duration,
        reason: scenario::DisconnectReason,
    ) {
        let code = match reason {
            scenario::DisconnectReason::Normal => ReasonCode::NORMAL_DISCONNECTION,
            scenario::DisconnectReason::WithWill => ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
        };
        let mut client = client.borrow_mut();
        // The core sends DISCONNECT on a connection, also one still waiting for CONNACK.
        let live = client.state() != State::Disconnected;
        // Both codes are valid without other options, so the core accepts them.
        let _ = client.disconnect_with(t, DisconnectOptions::reason(code));
        if live && self.setup.config.protocol == Protocol::V5 {
            self.record(Event::DisconnectSent { reason: code.0, session_expiry: None });
        }
    }

    /// Powers on with a fresh client core (nothing survives from a previous life).
    fn boot(&mut self, t: Duration) {
        let client = Rc::new(RefCell::new(Client::new(self.setup.config.clone())));
        self.mapper.life_base.set(self.mapper.next_msg.get() - 1);
        let mut filters = self.setup.subscriptions.clone();
        if let Some(r) = &self.setup.responder {
            filters
                .push((r.filter.clone(), SubscriptionOptions { qos: r.qos, ..Default::default() }));
        }
        if !filters.is_empty() {
            // The filters were validated with the scenario; a refusal would be our bug.
            let _ = client.borrow_mut().subscribe_with(t, SubscribeRequest::new(filters));
        }
        self.mapper.connected_this_life.set(false);
        self.client = Some(client);
        self.backoff.reset();
        self.mapper.connected.set(false);
        if !self.held {
            self.start_attempt();
        }
    }

    /// The device dies: the connection phase and the client core are dropped.
    fn power_off(&mut self) {
        self.phase = None;
        self.conn = None;
        self.client = None;
    }

    fn start_attempt(&mut self) {
        self.attempts += 1;
        self.record(Event::ConnectAttempt { attempt: self.attempts });
        let t = self.now();
        self.setup.link.with_model(|m| m.forget_before(t));
        let link = self.setup.link.clone();
        let transport = self.setup.transport.clone();
        self.phase =
            Some(Box::pin(async move { Outcome::Connect(link.connect_via(&transport).await) }));
    }

    fn retry_later(&mut self) {
        // A 5.0 server that said to back off (quota exceeded, server busy, ...) keeps the
        // delays growing even after an accepted connection.
        let advised = self.client.as_ref().is_some_and(|c| c.borrow().backoff_advised().is_some());
        if self.mapper.connected.replace(false) && !advised {
            self.backoff.reset();
        }
        let unit: f64 = self.setup.rng.random();
        let delay = self.backoff.next_delay(unit);
        self.phase = Some(Box::pin(async move {
            tokio::time::sleep(delay).await;
            Outcome::Retry
        }));
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Retry => {
                if self.alive() && !self.held {
                    self.start_attempt();
                }
            }
            Outcome::Connect(Ok((stream, conn))) => {
                let Some(client) = self.client.clone() else { return };
                self.conn = Some(conn);
                let waker = self.waker.clone();
                let mapper = self.mapper.clone();
                let max_packet_size = MAX_PACKET_SIZE as usize;
                let config =
                    ClientDriverConfig { max_packet_size, epoch: self.mapper.clock.epoch() };
                let core = client.clone();
                let protocol = self.setup.config.protocol;
                let will_delay = self.will_delay();
                let packets = self.setup.packets;
                let resubscribe = self.setup.resubscribe.clone();
                let wake = self.waker.clone();
                self.phase = Some(Box::pin(async move {
                    let mut sink = |t: Duration, event: &ClientEvent| {
                        if let ClientEvent::Connected { session_present } = event {
                            // What CONNACK left in force (a 5.0 server may override it).
                            let expiry = (protocol == Protocol::V5)
                                .then(|| core.borrow().session_expiry_interval());
                            let limits = EventMapper::limits(&core);
                            mapper.on_connected(*session_present, expiry, will_delay, limits);
                            // An application that subscribes on every connection does so
                            // again on a session the broker kept; the first connection of a
                            // life sends the boot's SUBSCRIBE, and a session the broker lost
                            // gets its subscriptions renewed by the client core.
                            let again = mapper.connected_this_life.replace(true);
                            if again && *session_present && !resubscribe.is_empty() {
                                let request = SubscribeRequest::new(resubscribe.clone());
                                let _ = core.borrow_mut().subscribe_with(t, request);
                                wake.wake();
                            }
                        } else {
                            mapper.on_client_event(event, &core);
                        }
                    };
                    if packets {
                        let tap = mapper.clone();
                        let record = move |event: Event| tap.push(tap.clock.now(), event);
                        let stream = PacketTap::new(stream, protocol, record);
                        drive_client(&client, stream, &waker, config, &mut sink).await;
                    } else {
                        drive_client(&client, stream, &waker, config, &mut sink).await;
                    }
                    Outcome::Ended
                }));
            }
            Outcome::Connect(Err(error)) => {
                let error = match error.kind() {
                    io::ErrorKind::TimedOut => "handshake-lost".to_owned(),
                    io::ErrorKind::ConnectionRefused => "refused".to_owned(),
                    kind => format!("{kind:?}").to_lowercase(),
                };
                self.record(Event::TcpFailed { error });
                self.retry_later();
            }
            Outcome::Ended => {
                self.conn = None;
                if self.held {
                    self.mapper.connected.set(false);
                } else {
                    self.retry_later();
                }
            }
        }
    }

    /// The Will Delay Interval a 5.0 device's Will carries, if any.
    fn will_delay(&self) -> Option<u32> {
        let config = &self.setup.config;
        if config.protocol != Protocol::V5 {
            return None;
        }
        config.will.as_ref()?.properties.iter().find_map(|p| match p {
            Property::WillDelayInterval(d) => Some(*d),
            _ => None,
        })
    }

    fn publish(&mut self, s: usize, t: Duration) {
        let Some(client) = self.client.clone() else { return };
        let stream = &self.setup.streams[s];
        let n = self.mapper.next_msg.get();
        let msg = format!("{}#{n}", self.setup.plan.client_id);
        let body = payload(&msg, stream.size);
        let size = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let (topic, qos, retain) = (stream.topic.clone(), stream.qos, stream.retain);
        let mut properties = stream.properties.clone();
        if let Some(expiry) = stream.expiry {
            properties.get_or_insert_with(MessageProperties::default).message_expiry_interval =
                Some(expiry);
        }
        if let Some(p) = properties.as_mut().filter(|p| p.response_topic.is_some()) {
            // A request's Correlation Data is its own message id.
            p.correlation_data = Some(Bytes::from(msg.clone().into_bytes()));
        }
        let result = match &properties {
            Some(p) => client.borrow_mut().publish_with(t, topic, body, qos, retain, p),
            None => client.borrow_mut().publish(t, topic, body, qos, retain),
        };
        let Ok(id) = result else {
            // Only an invalid topic or an oversized message is refused; both were validated.
            return;
        };
        debug_assert_eq!(self.mapper.life_base.get() + id.0, n, "message numbering drifted");
        self.mapper.next_msg.set(n + 1);
        let props = properties.as_ref().and_then(trace_props);
        self.record(Event::AppPublish {
            msg,
            topic: stream.topic.to_string(),
            qos: stream.qos.as_u8(),
            retain: stream.retain,
            size,
            expiry: stream.expiry,
            props,
        });
        if self.conn.is_some() {
            self.waker.wake();
        } else {
            // Nobody drives the core while offline: report what the publish caused (a drop).
            loop {
                let event = client.borrow_mut().poll_event();
                match event {
                    Some(event) => self.mapper.on_client_event(&event, &client),
                    None => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_message_id_and_read_back() {
        let cases: [(&str, u32, &[u8]); 3] = [
            ("soil-1#4", 12, b"soil-1#4    "),
            ("soil-1#4", 3, b"soil-1#4"),
            ("a#b#10", 6, b"a#b#10"),
        ];
        for (msg, size, expected) in cases {
            let body = payload(msg, size);
            assert_eq!(&body[..], expected);
            assert_eq!(message_id(&body), Some(msg));
        }
        // Zero bytes is an empty payload (a retained clear), which carries no id.
        assert!(payload("soil-1#4", 0).is_empty());
    }

    #[test]
    fn other_payloads_have_no_message_id() {
        for payload in [&b"false"[..], b"gone", b"", b"#12", b"x#", b"x#1a", b"\xff#1"] {
            assert_eq!(message_id(payload), None, "{payload:?}");
        }
    }
}
