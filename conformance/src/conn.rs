//! One test client connection: packets and raw bytes out, packets, silence or a close in.
//!
//! Every wait is bounded by the check's timeout, so a silent, garbage-speaking or vanishing
//! broker turns into a failure with a reason, never a hang.
//!
//! Every wait accepts exactly the interleavings the standard allows. While a connection waits
//! for an acknowledgement (SUBACK, UNSUBACK, PUBACK, PUBREC, PUBREL, PUBCOMP, PINGRESP), PUBLISH
//! packets for its subscriptions may come first: a server may send matching PUBLISH packets,
//! retained ones for instance, before the SUBACK [MQTT-3.8.4-3 note], and other messages may be
//! delivered between PUBREC and PUBREL. Those PUBLISH packets are kept, in order, for the next
//! wait for a PUBLISH. A PUBLISH that none of the client's filters matches is unsolicited: it is
//! set aside (acknowledged, so the broker's flow goes on), recorded, and never judged by the
//! check; a check that fails after seeing one is inconclusive, since the broker sent traffic
//! nobody asked for ([`crate::check::Cause::UnsolicitedPublish`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use mqttsim_codec::{
    Ack, ConnAck, Connect, Disconnect, Packet, Properties, Property, Protocol, Publish, QoS,
    ReasonCode, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::check::{Cause, Stop, Tracker};
use crate::target::BoxStream;
use crate::wire;

/// The largest packet the suite accepts from a broker.
const MAX_PACKET: usize = 1 << 20;

/// What a bounded wait on a connection saw.
///
/// Short-lived and matched on by value, so the packet is not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A packet arrived.
    Packet(Packet),
    /// The broker closed (or reset) the connection.
    Closed,
    /// Nothing arrived in the time given.
    Silent,
}

/// Whether a write failed because the peer had closed the connection.
fn peer_closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
    )
}

/// A client connection of a check.
pub struct Conn {
    stream: BoxStream,
    buf: BytesMut,
    protocol: Protocol,
    timeout: Duration,
    label: String,
    closed: bool,
    /// Packets that arrived while the connection waited for something else, in order.
    stash: VecDeque<Packet>,
    /// The client id sent in CONNECT, when known.
    client_id: Option<String>,
    /// A CONNACK arrived: from now on PUBLISH packets are sorted into solicited or not.
    connacked: bool,
    /// Unsolicited QoS 2 PUBLISH packets whose PUBREL the connection answers by itself.
    unsolicited_qos2: Vec<u16>,
    tracker: Rc<Tracker>,
    /// The statements the check cites: the MQTT 5.0 invariants judged on every packet.
    cited: &'static [&'static str],
    /// What the client announced in its CONNECT.
    client: ClientLimits,
    /// What the broker announced in its CONNACK (MQTT 5.0), once it came.
    server: Option<ServerLimits>,
    /// Topic aliases the broker set on this connection.
    aliases: BTreeMap<u16, ByteString>,
    /// Packet ids of QoS 1 and 2 PUBLISH packets from the broker not yet acknowledged.
    unacked: BTreeSet<u16>,
    /// How many CONNACK packets arrived.
    connacks: usize,
    /// The broker sent DISCONNECT.
    disconnected: bool,
    /// The size of the last packet that arrived, fixed header included.
    last_size: usize,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("label", &self.label).field("closed", &self.closed).finish()
    }
}

impl Conn {
    pub(crate) fn new(
        stream: BoxStream,
        protocol: Protocol,
        timeout: Duration,
        label: &str,
        tracker: Rc<Tracker>,
        cited: &'static [&'static str],
    ) -> Conn {
        Conn {
            stream,
            buf: BytesMut::with_capacity(1024),
            protocol,
            timeout,
            label: label.to_string(),
            closed: false,
            stash: VecDeque::new(),
            client_id: None,
            connacked: false,
            unsolicited_qos2: Vec::new(),
            tracker,
            cited,
            client: ClientLimits::default(),
            server: None,
            aliases: BTreeMap::new(),
            unacked: BTreeSet::new(),
            connacks: 0,
            disconnected: false,
            last_size: 0,
        }
    }

    /// The size of the last packet the broker sent, fixed header included.
    pub fn last_packet_size(&self) -> usize {
        self.last_size
    }

    /// Records what a CONNECT sent on this connection announces: the limits the broker must
    /// respect towards this client.
    pub(crate) fn announce(&mut self, connect: &Connect) {
        self.client = ClientLimits::of(connect);
    }

    /// What the broker announced in its CONNACK; the standard's defaults before one arrived.
    pub fn server(&self) -> ServerLimits {
        self.server.clone().unwrap_or_default()
    }

    /// The protocol version of the connection.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    fn cites(&self, id: &str) -> bool {
        self.cited.contains(&id)
    }

    /// Tells the connection which client id it connects with, so that it can tell the PUBLISH
    /// packets its subscriptions asked for from unsolicited ones.
    pub(crate) fn set_client_id(&mut self, client_id: &str) {
        self.client_id = Some(client_id.to_string());
    }

    /// The label used in failure reasons.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// How long a wait for one expected packet lasts.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends a packet.
    pub async fn send(&mut self, packet: &Packet) -> Result<(), Stop> {
        match packet {
            Packet::PubAck(a) | Packet::PubComp(a) => {
                self.unacked.remove(&a.packet_id);
            }
            Packet::PubRec(a) if a.reason_code.is_error() => {
                self.unacked.remove(&a.packet_id);
            }
            _ => {}
        }
        let mut out = BytesMut::new();
        wire::encode(packet, self.protocol, &mut out).map_err(|e| {
            Stop::Fail(format!("{}: cannot encode {:?}: {e}", self.label, packet.packet_type()))
        })?;
        self.send_raw(&out).await
    }

    /// Sends bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let label = &self.label;
        let writing = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, writing).await {
            Ok(Ok(())) => Ok(()),
            // The broker closed the connection while we wrote (it may rightly do so before it
            // has read all of a packet it refuses): what it sent before, and the close, are for
            // the next read to report.
            Ok(Err(e)) if peer_closed(&e) => Ok(()),
            Ok(Err(e)) => Err(Stop::Fail(format!("{label}: sending failed: {e}"))),
            Err(_) => Err(Stop::Fail(format!(
                "{label}: the broker did not take our bytes within {:?}",
                self.timeout
            ))),
        }
    }

    /// Waits at most `wait` for the next packet or a close: a PUBLISH kept from an earlier wait
    /// first, then what arrives. Unsolicited PUBLISH packets are set aside, never returned.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Event, Stop> {
        if let Some(p) = self.stash.pop_front() {
            return Ok(Event::Packet(p));
        }
        self.read_within(wait).await
    }

    /// Waits at most `wait` for the next packet or a close, ignoring the kept PUBLISH packets.
    async fn read_within(&mut self, wait: Duration) -> Result<Event, Stop> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let event = self.read_until(deadline).await?;
            match event {
                Event::Packet(Packet::Publish(p)) if self.is_unsolicited(&p) => {
                    self.set_aside(p).await?;
                }
                Event::Packet(Packet::PubRel(a))
                    if self.unsolicited_qos2.contains(&a.packet_id) =>
                {
                    self.unsolicited_qos2.retain(|id| *id != a.packet_id);
                    self.send(&Packet::PubComp(Ack::new(a.packet_id))).await?;
                }
                Event::Packet(Packet::ConnAck(a)) => {
                    self.connacked = true;
                    return Ok(Event::Packet(Packet::ConnAck(a)));
                }
                other => return Ok(other),
            }
        }
    }

    /// True for a PUBLISH that no filter of this client matches, once the client is connected.
    fn is_unsolicited(&self, p: &Publish) -> bool {
        self.connacked && !self.tracker.solicited(self.client_id.as_deref(), &p.topic)
    }

    /// Records an unsolicited PUBLISH and acknowledges it, so the broker's flow goes on.
    async fn set_aside(&mut self, p: Publish) -> Result<(), Stop> {
        let what = format!("{}: {}", self.label, describe(&Packet::Publish(p.clone())));
        self.tracker.unsolicited(&p.topic, what);
        match p.qos {
            QoS::AtMostOnce => Ok(()),
            QoS::AtLeastOnce => self.send(&Packet::PubAck(Ack::new(p.packet_id))).await,
            QoS::ExactlyOnce => {
                self.unsolicited_qos2.push(p.packet_id);
                self.send(&Packet::PubRec(Ack::new(p.packet_id))).await
            }
        }
    }

    /// Reads until a packet, a close or the deadline.
    async fn read_until(&mut self, deadline: tokio::time::Instant) -> Result<Event, Stop> {
        loop {
            let header = frame(&self.buf);
            match wire::decode(&mut self.buf, self.protocol, MAX_PACKET) {
                Ok(Some(packet)) => {
                    let packet = self.inspect(packet, header)?;
                    return Ok(Event::Packet(packet));
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(Stop::Fail(format!(
                        "{}: the broker sent a malformed packet: {e}",
                        self.label
                    )));
                }
            }
            if self.closed {
                return Ok(Event::Closed);
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Ok(Event::Silent),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    if !self.buf.is_empty() {
                        // Decode what is complete; a torn packet at the end is reported as a close.
                        let header = frame(&self.buf);
                        if let Ok(Some(packet)) =
                            wire::decode(&mut self.buf, self.protocol, MAX_PACKET)
                        {
                            let packet = self.inspect(packet, header)?;
                            return Ok(Event::Packet(packet));
                        }
                        self.buf.clear();
                    }
                    return Ok(Event::Closed);
                }
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next packet that is not a PUBLISH, within the timeout; PUBLISH packets that arrive
    /// first are kept for later. A close or the timeout is a failure.
    pub async fn recv_control(&mut self) -> Result<Packet, Stop> {
        if let Some(p) = self.take_stashed_control() {
            return Ok(p);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let now = tokio::time::Instant::now();
            match self.read_within(deadline.saturating_duration_since(now)).await? {
                Event::Packet(p @ Packet::Publish(_)) => self.stash.push_back(p),
                Event::Packet(p) => return Ok(p),
                Event::Closed => {
                    fail!("{}: the broker closed the connection unexpectedly", self.label)
                }
                Event::Silent => {
                    fail!("{}: no packet from the broker within {:?}", self.label, self.timeout)
                }
            }
        }
    }

    /// The first kept packet that is not a PUBLISH, taken out of the stash.
    fn take_stashed_control(&mut self) -> Option<Packet> {
        let i = self.stash.iter().position(|p| !matches!(p, Packet::Publish(_)))?;
        self.stash.remove(i)
    }

    /// Takes in what has already arrived, without waiting, so that it is judged against the
    /// subscriptions that existed when it came: a PUBLISH that was there before a SUBSCRIBE was
    /// sent cannot be an answer to it.
    async fn settle(&mut self) -> Result<(), Stop> {
        while !self.closed {
            match self.read_within(Duration::ZERO).await? {
                Event::Packet(p) => self.stash.push_back(p),
                Event::Silent | Event::Closed => break,
            }
        }
        Ok(())
    }

    /// Like [`Conn::recv_control`], but a close is returned as `None` instead of failing.
    async fn recv_control_or_close(&mut self) -> Result<Option<Packet>, Stop> {
        if let Some(p) = self.take_stashed_control() {
            return Ok(Some(p));
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let now = tokio::time::Instant::now();
            match self.read_within(deadline.saturating_duration_since(now)).await? {
                Event::Packet(p @ Packet::Publish(_)) => self.stash.push_back(p),
                Event::Packet(p) => return Ok(Some(p)),
                Event::Closed => return Ok(None),
                Event::Silent => {
                    fail!("{}: no packet from the broker within {:?}", self.label, self.timeout)
                }
            }
        }
    }

    /// The next packet; a close or the timeout is a failure.
    pub async fn recv(&mut self) -> Result<Packet, Stop> {
        match self.next_within(self.timeout).await? {
            Event::Packet(p) => Ok(p),
            Event::Closed => Err(Stop::Fail(format!(
                "{}: the broker closed the connection unexpectedly",
                self.label
            ))),
            Event::Silent => Err(Stop::Fail(format!(
                "{}: no packet from the broker within {:?}",
                self.label, self.timeout
            ))),
        }
    }

    /// Requires the broker to close the connection within the timeout, sending nothing first
    /// but what `allowed` accepts.
    pub async fn expect_close_allowing(
        &mut self,
        why: &str,
        allowed: impl Fn(&Packet) -> bool,
    ) -> Result<(), Stop> {
        loop {
            match self.next_within(self.timeout).await? {
                Event::Closed => return Ok(()),
                Event::Packet(p) if allowed(&p) => continue,
                Event::Packet(p) => {
                    fail!("{}: {why}: expected a close, got {}", self.label, self.describe(&p))
                }
                Event::Silent => fail!(
                    "{}: {why}: the connection was still open after {:?}",
                    self.label,
                    self.timeout
                ),
            }
        }
    }

    /// Requires the broker to close the connection without sending anything first.
    pub async fn expect_close(&mut self, why: &str) -> Result<(), Stop> {
        self.expect_close_allowing(why, |_| false).await
    }

    /// Requires nothing to arrive, and the connection to stay open, for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration, why: &str) -> Result<(), Stop> {
        match self.next_within(wait).await? {
            Event::Silent => Ok(()),
            Event::Closed => fail!("{}: {why}: the broker closed the connection", self.label),
            Event::Packet(p) => fail!("{}: {why}: unexpected {}", self.label, self.describe(&p)),
        }
    }

    /// Requires no PUBLISH for `wait`; other packets are a failure too, a close is not allowed.
    pub async fn expect_no_publish(&mut self, wait: Duration, why: &str) -> Result<(), Stop> {
        self.expect_silence(wait, why).await
    }

    /// Sends PINGREQ and requires PINGRESP.
    pub async fn ping(&mut self) -> Result<(), Stop> {
        self.send(&Packet::PingReq).await?;
        match self.recv_control().await? {
            Packet::PingResp => Ok(()),
            p => {
                fail!(
                    "{}: PINGREQ was answered with {} [MQTT-3.12.4-1]",
                    self.label,
                    self.describe(&p)
                )
            }
        }
    }

    /// Subscribes and returns the SUBACK codes, checking the packet id and the count.
    pub async fn subscribe(
        &mut self,
        packet_id: u16,
        filters: &[(&str, QoS)],
    ) -> Result<Vec<ReasonCode>, Stop> {
        self.settle().await?;
        for (filter, _) in filters {
            self.tracker.subscribed(self.client_id.as_deref().unwrap_or_default(), filter);
        }
        let packet = Packet::Subscribe(Subscribe {
            packet_id,
            filters: filters
                .iter()
                .map(|(f, q)| SubscribeFilter {
                    filter: f.to_string(),
                    options: SubscriptionOptions { qos: *q, ..SubscriptionOptions::default() },
                })
                .collect(),
            properties: Default::default(),
        });
        self.send(&packet).await?;
        // Matching PUBLISH packets may come before the SUBACK; they are kept for later.
        match self.recv_control().await? {
            Packet::SubAck(ack) => {
                ensure!(
                    ack.packet_id == packet_id,
                    "{}: SUBACK has packet id {} for SUBSCRIBE {packet_id} [MQTT-3.8.4-2]",
                    self.label,
                    ack.packet_id
                );
                ensure!(
                    ack.reason_codes.len() == filters.len(),
                    "{}: SUBACK has {} codes for {} filters [MQTT-3.8.4-5]",
                    self.label,
                    ack.reason_codes.len(),
                    filters.len()
                );
                Ok(ack.reason_codes)
            }
            p => {
                fail!(
                    "{}: SUBSCRIBE was answered with {} [MQTT-3.8.4-1]",
                    self.label,
                    self.describe(&p)
                )
            }
        }
    }

    /// Subscribes to one filter and requires the requested QoS to be granted. A refusal (0x80)
    /// or a lower grant is allowed by the standard, so the check is inconclusive.
    pub async fn subscribe_granted(
        &mut self,
        packet_id: u16,
        filter: &str,
        qos: QoS,
    ) -> Result<(), Stop> {
        let codes = self.subscribe(packet_id, &[(filter, qos)]).await?;
        require_grants(&self.label, &[(filter, qos)], &codes, &[qos])
    }

    /// Unsubscribes and requires UNSUBACK with the same packet id.
    pub async fn unsubscribe(&mut self, packet_id: u16, filters: &[&str]) -> Result<(), Stop> {
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id,
            filters: filters.iter().map(|f| f.to_string()).collect(),
            properties: Default::default(),
        });
        self.send(&packet).await?;
        // Messages in flight may still arrive before the UNSUBACK.
        match self.recv_control().await? {
            Packet::UnsubAck(ack) => {
                ensure!(
                    ack.packet_id == packet_id,
                    "{}: UNSUBACK has packet id {} for UNSUBSCRIBE {packet_id} [MQTT-3.10.4-4]",
                    self.label,
                    ack.packet_id
                );
                Ok(())
            }
            p => fail!(
                "{}: UNSUBSCRIBE was answered with {} [MQTT-3.10.4-4]",
                self.label,
                self.describe(&p)
            ),
        }
    }

    /// Sends a PUBLISH without waiting for anything.
    pub async fn send_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        packet_id: u16,
    ) -> Result<(), Stop> {
        self.send(&publish(topic, payload, qos, retain, packet_id)).await
    }

    /// Publishes and completes the QoS flow as a sender (PUBACK, or PUBREC/PUBREL/PUBCOMP).
    ///
    /// A QoS 2 PUBLISH that the broker answers with PUBACK or a close makes the check
    /// inconclusive: it needs QoS 2, and `qos2-inbound` judges that deviation.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        packet_id: u16,
    ) -> Result<(), Stop> {
        self.send_publish(topic, payload, qos, retain, packet_id).await?;
        match qos {
            QoS::AtMostOnce => Ok(()),
            QoS::AtLeastOnce => match self.recv_control().await? {
                Packet::PubAck(a) if a.packet_id == packet_id => Ok(()),
                p => fail!(
                    "{}: QoS 1 PUBLISH {packet_id} was answered with {} [MQTT-3.3.4-1]",
                    self.label,
                    self.describe(&p)
                ),
            },
            QoS::ExactlyOnce => {
                self.expect_pubrec(packet_id).await?;
                self.send(&Packet::PubRel(Ack::new(packet_id))).await?;
                match self.recv_control().await? {
                    Packet::PubComp(a) if a.packet_id == packet_id => Ok(()),
                    p => fail!(
                        "{}: PUBREL {packet_id} was answered with {} [MQTT-4.3.3-2]",
                        self.label,
                        self.describe(&p)
                    ),
                }
            }
        }
    }

    /// Waits for the PUBREC of the QoS 2 PUBLISH `packet_id` this connection sent. PUBACK or a
    /// close means the broker does not take QoS 2 PUBLISH packets: inconclusive.
    pub async fn expect_pubrec(&mut self, packet_id: u16) -> Result<(), Stop> {
        match self.recv_control_or_close().await? {
            Some(Packet::PubRec(a)) if a.packet_id == packet_id => Ok(()),
            Some(Packet::PubAck(a)) if a.packet_id == packet_id => Err(Stop::inconclusive(
                Cause::Qos2PublishRefused,
                format!("{}: QoS 2 PUBLISH {packet_id} was answered with PUBACK", self.label),
            )),
            None => Err(Stop::inconclusive(
                Cause::Qos2PublishRefused,
                format!("{}: the broker closed the connection on a QoS 2 PUBLISH", self.label),
            )),
            Some(p) => fail!(
                "{}: QoS 2 PUBLISH {packet_id} was answered with {} [MQTT-3.3.4-1]",
                self.label,
                self.describe(&p)
            ),
        }
    }

    /// The next packet, which must be a PUBLISH.
    pub async fn recv_publish(&mut self) -> Result<Publish, Stop> {
        match self.next_within(self.timeout).await? {
            Event::Packet(Packet::Publish(p)) => Ok(p),
            Event::Packet(p) => {
                fail!("{}: expected a PUBLISH, got {}", self.label, self.describe(&p))
            }
            Event::Closed => fail!(
                "{}: the broker closed the connection while a PUBLISH was expected",
                self.label
            ),
            Event::Silent => fail!("{}: no PUBLISH arrived within {:?}", self.label, self.timeout),
        }
    }

    /// Acknowledges a received PUBLISH as a receiver, completing a QoS 2 flow.
    pub async fn ack(&mut self, publish: &Publish) -> Result<(), Stop> {
        let id = publish.packet_id;
        match publish.qos {
            QoS::AtMostOnce => Ok(()),
            QoS::AtLeastOnce => self.send(&Packet::PubAck(Ack::new(id))).await,
            QoS::ExactlyOnce => {
                self.send(&Packet::PubRec(Ack::new(id))).await?;
                // Other PUBLISH packets may come between PUBREC and PUBREL.
                match self.recv_control().await? {
                    Packet::PubRel(a) if a.packet_id == id => {}
                    p => fail!(
                        "{}: PUBREC {id} was answered with {} instead of PUBREL {id} [MQTT-4.3.3-1]",
                        self.label,
                        self.describe(&p)
                    ),
                }
                self.send(&Packet::PubComp(Ack::new(id))).await
            }
        }
    }

    /// Receives one PUBLISH and acknowledges it.
    pub async fn recv_acked(&mut self) -> Result<Publish, Stop> {
        let p = self.recv_publish().await?;
        self.ack(&p).await?;
        Ok(p)
    }

    /// Sends DISCONNECT and closes the stream.
    pub async fn disconnect(mut self) -> Result<(), Stop> {
        self.send(&Packet::Disconnect(Default::default())).await?;
        let _ = tokio::time::timeout(self.timeout, self.stream.shutdown()).await;
        Ok(())
    }

    /// Closes the stream without DISCONNECT, as a failing network would.
    pub fn drop_connection(self) {
        drop(self);
    }
}

/// Requires each filter's SUBACK code to grant at least `need` (the lowest QoS the check can
/// work with, per filter); a refusal or a lower grant makes the check inconclusive, since the
/// standard allows both.
pub fn require_grants(
    label: &str,
    asked: &[(&str, QoS)],
    codes: &[ReasonCode],
    need: &[QoS],
) -> Result<(), Stop> {
    for (((filter, qos), code), need) in asked.iter().zip(codes).zip(need) {
        match code.granted_qos() {
            Some(g) if g >= *need => {}
            Some(g) => {
                return Err(Stop::inconclusive(
                    Cause::QosGrantedLower,
                    format!(
                        "{label}: the broker granted QoS {} for {filter:?} when QoS {} was asked",
                        g.as_u8(),
                        qos.as_u8()
                    ),
                ));
            }
            None => {
                return Err(Stop::inconclusive(
                    Cause::SubscriptionRefused,
                    format!(
                        "{label}: the subscription to {filter:?} was refused with 0x{:02X}",
                        code.0
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A PUBLISH packet.
pub fn publish(topic: &str, payload: &[u8], qos: QoS, retain: bool, packet_id: u16) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        packet_id: if qos == QoS::AtMostOnce { 0 } else { packet_id },
        payload: Bytes::copy_from_slice(payload),
        properties: Default::default(),
    })
}

/// A short description of a packet for failure reasons.
pub fn describe(packet: &Packet) -> String {
    match packet {
        Packet::Publish(p) => format!(
            "PUBLISH topic {:?} QoS {} retain {} dup {} payload {:?}",
            &*p.topic,
            p.qos.as_u8(),
            u8::from(p.retain),
            u8::from(p.dup),
            String::from_utf8_lossy(&p.payload)
        ),
        Packet::ConnAck(a) => format!(
            "CONNACK return code {} session present {}",
            a.reason_code.to_v311_connack().unwrap_or(a.reason_code.0),
            u8::from(a.session_present)
        ),
        Packet::SubAck(a) => {
            format!("SUBACK {:02X?}", a.reason_codes.iter().map(|c| c.0).collect::<Vec<_>>())
        }
        other => format!("{:?}", other.packet_type()).to_uppercase(),
    }
}

/// The fixed header of the packet at the front of a buffer: its whole size and whether its
/// remaining length is written in the fewest bytes [MQTT-1.5.5-1]. `None` while incomplete.
fn frame(buf: &[u8]) -> Option<(usize, bool)> {
    let mut value = 0usize;
    for (i, &byte) in buf.iter().skip(1).take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let len = i + 1;
            let minimal = len == 1 || byte != 0;
            return Some((1 + len + value, minimal));
        }
    }
    None
}

/// What a client announced in its CONNECT (MQTT 5.0): the limits a server must respect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// Maximum Packet Size; `None` is no limit.
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum; 0 (the default) allows no alias.
    pub topic_alias_maximum: u16,
    /// Receive Maximum; 65,535 when absent.
    pub receive_maximum: u16,
    /// Request Problem Information; true when absent.
    pub problem_information: bool,
    /// Request Response Information; false when absent.
    pub response_information: bool,
    /// Authentication Method, if any.
    pub authentication_method: Option<String>,
}

impl Default for ClientLimits {
    fn default() -> ClientLimits {
        ClientLimits {
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            receive_maximum: 65_535,
            problem_information: true,
            response_information: false,
            authentication_method: None,
        }
    }
}

impl ClientLimits {
    fn of(connect: &Connect) -> ClientLimits {
        let mut limits = ClientLimits::default();
        if connect.protocol != Protocol::V5 {
            return limits;
        }
        for p in connect.properties.iter() {
            match p {
                Property::MaximumPacketSize(v) => limits.maximum_packet_size = Some(*v),
                Property::TopicAliasMaximum(v) => limits.topic_alias_maximum = *v,
                Property::ReceiveMaximum(v) => limits.receive_maximum = *v,
                Property::RequestProblemInformation(v) => limits.problem_information = *v != 0,
                Property::RequestResponseInformation(v) => limits.response_information = *v != 0,
                Property::AuthenticationMethod(m) => limits.authentication_method = Some(m.clone()),
                _ => {}
            }
        }
        limits
    }
}

/// What a server announced in its CONNACK (MQTT 5.0), with the standard's defaults for what it
/// left out: what a check may ask of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Receive Maximum; 65,535 when absent.
    pub receive_maximum: u16,
    /// Maximum QoS; 2 when absent.
    pub maximum_qos: QoS,
    /// Retain Available; true when absent.
    pub retain_available: bool,
    /// Maximum Packet Size; `None` is no limit beyond the protocol's.
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum; 0 when absent.
    pub topic_alias_maximum: u16,
    /// Wildcard Subscription Available; true when absent.
    pub wildcards: bool,
    /// Subscription Identifier Available; true when absent.
    pub subscription_identifiers: bool,
    /// Shared Subscription Available; true when absent.
    pub shared_subscriptions: bool,
    /// Server Keep Alive, if sent.
    pub server_keep_alive: Option<u16>,
    /// Assigned Client Identifier, if sent.
    pub assigned_client_id: Option<String>,
    /// Session Expiry Interval, if sent.
    pub session_expiry_interval: Option<u32>,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            receive_maximum: 65_535,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            wildcards: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            server_keep_alive: None,
            assigned_client_id: None,
            session_expiry_interval: None,
        }
    }
}

impl ServerLimits {
    /// The limits a CONNACK announces.
    pub fn of(ack: &ConnAck) -> ServerLimits {
        let mut limits = ServerLimits::default();
        for p in ack.properties.iter() {
            match p {
                Property::ReceiveMaximum(v) => limits.receive_maximum = *v,
                Property::MaximumQoS(v) => {
                    limits.maximum_qos = QoS::from_u8(*v).unwrap_or(QoS::ExactlyOnce)
                }
                Property::RetainAvailable(v) => limits.retain_available = *v != 0,
                Property::MaximumPacketSize(v) => limits.maximum_packet_size = Some(*v),
                Property::TopicAliasMaximum(v) => limits.topic_alias_maximum = *v,
                Property::WildcardSubscriptionAvailable(v) => limits.wildcards = *v != 0,
                Property::SubscriptionIdentifierAvailable(v) => {
                    limits.subscription_identifiers = *v != 0
                }
                Property::SharedSubscriptionAvailable(v) => limits.shared_subscriptions = *v != 0,
                Property::ServerKeepAlive(v) => limits.server_keep_alive = Some(*v),
                Property::AssignedClientIdentifier(v) => {
                    limits.assigned_client_id = Some(v.clone())
                }
                Property::SessionExpiryInterval(v) => limits.session_expiry_interval = Some(*v),
                _ => {}
            }
        }
        limits
    }
}

/// The statements that leave the Reason String and the User Properties out of a packet that
/// would otherwise exceed the receiver's Maximum Packet Size, by packet type.
fn diagnostics_statements(packet: &Packet) -> (&'static str, &'static str) {
    match packet {
        Packet::ConnAck(_) => ("MQTT-3.2.2-19", "MQTT-3.2.2-20"),
        Packet::PubAck(_) => ("MQTT-3.4.2-2", "MQTT-3.4.2-3"),
        Packet::PubRec(_) => ("MQTT-3.5.2-2", "MQTT-3.5.2-3"),
        Packet::PubRel(_) => ("MQTT-3.6.2-2", "MQTT-3.6.2-3"),
        Packet::PubComp(_) => ("MQTT-3.7.2-2", "MQTT-3.7.2-3"),
        Packet::SubAck(_) => ("MQTT-3.9.2-1", "MQTT-3.9.2-2"),
        Packet::UnsubAck(_) => ("MQTT-3.11.2-1", "MQTT-3.11.2-2"),
        Packet::Disconnect(_) => ("MQTT-3.14.2-3", "MQTT-3.14.2-4"),
        Packet::Auth(_) => ("MQTT-3.15.2-2", "MQTT-3.15.2-3"),
        _ => ("", ""),
    }
}

/// The properties of a packet, for those that have them.
pub fn properties_of(packet: &Packet) -> Option<&Properties> {
    Some(match packet {
        Packet::Connect(c) => &c.properties,
        Packet::ConnAck(c) => &c.properties,
        Packet::Publish(p) => &p.properties,
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            &a.properties
        }
        Packet::Subscribe(s) => &s.properties,
        Packet::SubAck(s) => &s.properties,
        Packet::Unsubscribe(u) => &u.properties,
        Packet::UnsubAck(u) => &u.properties,
        Packet::Disconnect(d) => &d.properties,
        Packet::Auth(a) => &a.properties,
        Packet::PingReq | Packet::PingResp => return None,
    })
}

fn has_reason_string(props: &Properties) -> bool {
    props.iter().any(|p| matches!(p, Property::ReasonString(_)))
}

fn has_user_property(props: &Properties) -> bool {
    props.iter().any(|p| matches!(p, Property::UserProperty(..)))
}

impl Conn {
    /// Fails with `why` when the check cites one of `statements`; otherwise lets it pass, since
    /// the verdict is about the cited statements only.
    fn judge(&self, statements: &[&str], why: impl FnOnce() -> String) -> Result<(), Stop> {
        let cited: Vec<&str> = statements.iter().copied().filter(|s| self.cites(s)).collect();
        if cited.is_empty() {
            return Ok(());
        }
        let ids = cited.iter().map(|s| format!("[{s}]")).collect::<Vec<_>>().join(" ");
        Err(Stop::Fail(format!("{}: {} {ids}", self.label, why())))
    }

    /// Judges one packet from the broker on the MQTT 5.0 rules that hold for every packet, as
    /// far as the check cites them, and resolves topic aliases. `frame` is its size and whether
    /// its remaining length was minimal.
    fn inspect(&mut self, packet: Packet, frame: Option<(usize, bool)>) -> Result<Packet, Stop> {
        self.last_size = frame.map_or(0, |(size, _)| size);
        if self.protocol != Protocol::V5 {
            return Ok(packet);
        }
        let kind = format!("{:?}", packet.packet_type()).to_uppercase();
        if self.disconnected {
            self.judge(&["MQTT-3.14.4-1"], || {
                format!("the broker sent {kind} after its DISCONNECT")
            })?;
        }
        if let Some((size, minimal)) = frame {
            if !minimal {
                self.judge(&["MQTT-1.5.5-1"], || {
                    format!("the remaining length of a {kind} is not written in the fewest bytes")
                })?;
            }
            if let Some(max) = self.client.maximum_packet_size
                && size > max as usize
            {
                let (reason, user) = diagnostics_statements(&packet);
                let props = properties_of(&packet);
                let mut statements = vec!["MQTT-3.1.2-24"];
                if props.is_some_and(has_reason_string) && !reason.is_empty() {
                    statements.push(reason);
                }
                if props.is_some_and(has_user_property) && !user.is_empty() {
                    statements.push(user);
                }
                self.judge(&statements, || {
                    format!(
                        "the broker sent a {kind} of {size} bytes to a client whose Maximum \
                         Packet Size is {max}"
                    )
                })?;
            }
        }
        if let Some(props) = properties_of(&packet) {
            let diagnostic = has_reason_string(props) || has_user_property(props);
            let allowed =
                matches!(packet, Packet::Publish(_) | Packet::ConnAck(_) | Packet::Disconnect(_));
            if !self.client.problem_information && diagnostic && !allowed {
                self.judge(&["MQTT-3.1.2-29"], || {
                    format!(
                        "the broker put a Reason String or User Property on a {kind} after \
                         Request Problem Information 0"
                    )
                })?;
            }
            let method = props.iter().find_map(|p| match p {
                Property::AuthenticationMethod(m) => Some(m.clone()),
                _ => None,
            });
            match (&self.client.authentication_method, &packet) {
                (None, Packet::Auth(_)) => self.judge(&["MQTT-4.12.0-6"], || {
                    "the broker sent AUTH to a client that gave no Authentication Method".into()
                })?,
                (None, Packet::ConnAck(_)) if method.is_some() => {
                    self.judge(&["MQTT-4.12.0-6"], || {
                        "the broker's CONNACK carries an Authentication Method the client did \
                         not ask for"
                            .into()
                    })?
                }
                (Some(mine), Packet::Auth(_)) if method.as_ref() != Some(mine) => {
                    self.judge(&["MQTT-4.12.0-5"], || {
                        format!("the broker's AUTH carries Authentication Method {method:?}, not {mine:?}")
                    })?
                }
                (Some(mine), Packet::ConnAck(a))
                    if a.reason_code == ReasonCode::SUCCESS && method.as_ref() != Some(mine) =>
                {
                    self.judge(&["MQTT-4.12.0-5"], || {
                        format!(
                            "the broker's successful CONNACK carries Authentication Method \
                             {method:?}, not {mine:?}"
                        )
                    })?
                }
                _ => {}
            }
        }
        match packet {
            Packet::ConnAck(ack) => {
                self.connacks += 1;
                if self.connacks > 1 {
                    self.judge(&["MQTT-3.2.0-2"], || "the broker sent a second CONNACK".into())?;
                }
                if !self.client.response_information
                    && ack.properties.iter().any(|p| matches!(p, Property::ResponseInformation(_)))
                {
                    self.judge(&["MQTT-3.1.2-28"], || {
                        "CONNACK carries Response Information after Request Response \
                         Information 0"
                            .into()
                    })?;
                }
                let server = ServerLimits::of(&ack);
                if let Some(assigned) = &server.assigned_client_id {
                    // The session is the assigned id's: its subscriptions are tracked under it.
                    self.client_id = Some(assigned.clone());
                }
                self.server = Some(server);
                Ok(Packet::ConnAck(ack))
            }
            Packet::Disconnect(d) => {
                self.disconnected = true;
                if d.properties.session_expiry_interval().is_some() {
                    self.judge(&["MQTT-3.14.2-2"], || {
                        "the broker's DISCONNECT carries a Session Expiry Interval".into()
                    })?;
                }
                Ok(Packet::Disconnect(d))
            }
            Packet::Publish(p) => self.inbound_publish(p).map(Packet::Publish),
            other => Ok(other),
        }
    }

    /// Topic aliases and the send quota of a PUBLISH from the broker.
    fn inbound_publish(&mut self, mut p: Publish) -> Result<Publish, Stop> {
        if let Some(alias) = p.properties.topic_alias() {
            let max = self.client.topic_alias_maximum;
            if max == 0 {
                self.judge(&["MQTT-3.1.2-27"], || {
                    format!(
                        "the broker sent Topic Alias {alias} to a client that announced no \
                         Topic Alias Maximum"
                    )
                })?;
            } else if alias > max {
                self.judge(&["MQTT-3.1.2-26", "MQTT-3.3.2-11"], || {
                    format!(
                        "the broker sent Topic Alias {alias} above the client's Topic Alias \
                         Maximum {max}"
                    )
                })?;
            }
            if p.topic.is_empty() {
                match self.aliases.get(&alias) {
                    Some(topic) => p.topic = topic.clone(),
                    None => fail!(
                        "{}: the broker sent PUBLISH with Topic Alias {alias}, which it never \
                         mapped on this connection [MQTT-3.3.2-7]",
                        self.label
                    ),
                }
            } else {
                self.aliases.insert(alias, p.topic.clone());
            }
        }
        if p.qos != QoS::AtMostOnce {
            let id = p.packet_id;
            if self.unacked.contains(&id) && !p.dup {
                self.judge(&["MQTT-2.2.1-4"], || {
                    format!(
                        "the broker sent a new PUBLISH with packet id {id}, which is still in use"
                    )
                })?;
            }
            self.unacked.insert(id);
            let max = self.client.receive_maximum;
            if self.unacked.len() > usize::from(max) {
                let count = self.unacked.len();
                self.judge(&["MQTT-3.3.4-9", "MQTT-4.9.0-1", "MQTT-4.9.0-2"], || {
                    format!(
                        "the broker has {count} QoS 1 and 2 PUBLISH packets unacknowledged \
                         towards a client whose Receive Maximum is {max}"
                    )
                })?;
            }
        }
        Ok(p)
    }

    /// A description of a packet as this connection's protocol shows it.
    pub fn describe(&self, packet: &Packet) -> String {
        match self.protocol {
            Protocol::V311 | Protocol::V31 => describe(packet),
            Protocol::V5 => describe5(packet),
        }
    }

    /// Sends SUBSCRIBE and returns the SUBACK, checking its packet id; PUBLISH packets that
    /// come first are kept. Every filter is recorded as asked for.
    pub async fn subscribe_packet(&mut self, subscribe: Subscribe) -> Result<SubAck, Stop> {
        self.settle().await?;
        for f in &subscribe.filters {
            self.tracker.subscribed(self.client_id.as_deref().unwrap_or_default(), &f.filter);
        }
        let id = subscribe.packet_id;
        self.send(&Packet::Subscribe(subscribe)).await?;
        match self.recv_control().await? {
            Packet::SubAck(ack) => {
                ensure!(
                    ack.packet_id == id,
                    "{}: SUBACK has packet id {} for SUBSCRIBE {id} [MQTT-3.8.4-2] [MQTT-2.2.1-6]",
                    self.label,
                    ack.packet_id
                );
                Ok(ack)
            }
            p => fail!(
                "{}: SUBSCRIBE was answered with {} [MQTT-3.8.4-1]",
                self.label,
                self.describe(&p)
            ),
        }
    }

    /// Sends UNSUBSCRIBE and returns the UNSUBACK, checking its packet id.
    pub async fn unsubscribe_packet(&mut self, unsubscribe: Unsubscribe) -> Result<UnsubAck, Stop> {
        let id = unsubscribe.packet_id;
        self.send(&Packet::Unsubscribe(unsubscribe)).await?;
        match self.recv_control().await? {
            Packet::UnsubAck(ack) => {
                ensure!(
                    ack.packet_id == id,
                    "{}: UNSUBACK has packet id {} for UNSUBSCRIBE {id} [MQTT-3.10.4-5] \
                     [MQTT-2.2.1-6]",
                    self.label,
                    ack.packet_id
                );
                Ok(ack)
            }
            p => fail!(
                "{}: UNSUBSCRIBE was answered with {} [MQTT-3.10.4-4]",
                self.label,
                self.describe(&p)
            ),
        }
    }

    /// Publishes `publish` and completes its flow as a sender, returning the broker's PUBACK or
    /// PUBREC (whose reason code the check may judge). A PUBREC of 0x80 or above ends the flow.
    pub async fn publish_packet(&mut self, publish: Publish) -> Result<Option<Ack>, Stop> {
        let (qos, id) = (publish.qos, publish.packet_id);
        self.send(&Packet::Publish(publish)).await?;
        match qos {
            QoS::AtMostOnce => Ok(None),
            QoS::AtLeastOnce => match self.recv_control().await? {
                Packet::PubAck(a) if a.packet_id == id => Ok(Some(a)),
                p => fail!(
                    "{}: QoS 1 PUBLISH {id} was answered with {} [MQTT-3.3.4-1]",
                    self.label,
                    self.describe(&p)
                ),
            },
            QoS::ExactlyOnce => {
                let rec = match self.recv_control_or_close().await? {
                    Some(Packet::PubRec(a)) if a.packet_id == id => a,
                    Some(Packet::PubAck(a)) if a.packet_id == id => {
                        return Err(Stop::inconclusive(
                            Cause::Qos2PublishRefused,
                            format!("{}: QoS 2 PUBLISH {id} was answered with PUBACK", self.label),
                        ));
                    }
                    None => {
                        return Err(Stop::inconclusive(
                            Cause::Qos2PublishRefused,
                            format!(
                                "{}: the broker closed the connection on a QoS 2 PUBLISH",
                                self.label
                            ),
                        ));
                    }
                    Some(p) => fail!(
                        "{}: QoS 2 PUBLISH {id} was answered with {} [MQTT-3.3.4-1]",
                        self.label,
                        self.describe(&p)
                    ),
                };
                if rec.reason_code.is_error() {
                    return Ok(Some(rec));
                }
                self.send(&Packet::PubRel(Ack::new(id))).await?;
                match self.recv_control().await? {
                    Packet::PubComp(a) if a.packet_id == id => Ok(Some(rec)),
                    p => fail!(
                        "{}: PUBREL {id} was answered with {} [MQTT-4.3.3-11]",
                        self.label,
                        self.describe(&p)
                    ),
                }
            }
        }
    }

    /// Sends DISCONNECT with this reason code and properties, then closes the stream.
    pub async fn disconnect_with(
        mut self,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> Result<(), Stop> {
        self.send(&Packet::Disconnect(Disconnect { reason_code, properties })).await?;
        let _ = tokio::time::timeout(self.timeout, self.stream.shutdown()).await;
        Ok(())
    }

    /// Requires the broker to close the connection, allowing only a DISCONNECT (or, before
    /// CONNACK, a CONNACK) with a reason code of 0x80 or above first; with `codes` not empty,
    /// that reason code must be one of them. Returns the reason code sent, if any.
    pub async fn expect_refusal(
        &mut self,
        why: &str,
        codes: &[u8],
    ) -> Result<Option<ReasonCode>, Stop> {
        let mut sent = None;
        loop {
            match self.next_within(self.timeout).await? {
                Event::Closed => return Ok(sent),
                Event::Packet(p @ (Packet::Disconnect(_) | Packet::ConnAck(_))) => {
                    let code = match &p {
                        Packet::Disconnect(d) => d.reason_code,
                        Packet::ConnAck(a) => a.reason_code,
                        _ => unreachable!("matched above"),
                    };
                    let allowed =
                        if codes.is_empty() { code.is_error() } else { codes.contains(&code.0) };
                    ensure!(
                        allowed && sent.is_none(),
                        "{}: {why}: expected a close, got {}",
                        self.label,
                        self.describe(&p)
                    );
                    sent = Some(code);
                }
                Event::Packet(p) => {
                    fail!("{}: {why}: expected a close, got {}", self.label, self.describe(&p))
                }
                Event::Silent => fail!(
                    "{}: {why}: the connection was still open after {:?}",
                    self.label,
                    self.timeout
                ),
            }
        }
    }

    /// The number of QoS 1 and 2 PUBLISH packets from the broker not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.unacked.len()
    }
}

/// A short description of an MQTT 5.0 packet for failure reasons, with its reason codes.
pub fn describe5(packet: &Packet) -> String {
    match packet {
        Packet::Publish(p) => {
            let mut s = describe(packet);
            if !p.properties.is_empty() {
                s.push_str(&format!(" properties {:?}", p.properties.0));
            }
            s
        }
        Packet::ConnAck(a) => format!(
            "CONNACK reason code 0x{:02X} session present {}",
            a.reason_code.0,
            u8::from(a.session_present)
        ),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => format!(
            "{:?} {} reason code 0x{:02X}",
            packet.packet_type(),
            a.packet_id,
            a.reason_code.0
        )
        .to_uppercase(),
        Packet::UnsubAck(a) => {
            format!("UNSUBACK {:02X?}", a.reason_codes.iter().map(|c| c.0).collect::<Vec<_>>())
        }
        Packet::Disconnect(d) => format!("DISCONNECT reason code 0x{:02X}", d.reason_code.0),
        Packet::Auth(a) => format!("AUTH reason code 0x{:02X}", a.reason_code.0),
        other => describe(other),
    }
}

impl Conn {
    /// Reads raw bytes until the broker closes the connection or `wait` passes, without
    /// decoding them: for answers that need not be 5.0 packets (a 3.1.1 CONNACK to a CONNECT of
    /// another level). Returns the bytes and whether the connection closed.
    pub async fn read_raw(&mut self, wait: Duration) -> (Vec<u8>, bool) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = std::mem::take(&mut self.buf).to_vec();
        if self.closed {
            return (out, true);
        }
        let mut chunk = [0u8; 512];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return (out, false),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    return (out, true);
                }
                Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
