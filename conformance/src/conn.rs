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

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use mqttsim_codec::{
    Ack, Packet, Protocol, Publish, QoS, ReasonCode, Subscribe, SubscribeFilter,
    SubscriptionOptions, Unsubscribe,
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
        }
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

    /// Sends a packet.
    pub async fn send(&mut self, packet: &Packet) -> Result<(), Stop> {
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
            match wire::decode(&mut self.buf, self.protocol, MAX_PACKET) {
                Ok(Some(packet)) => return Ok(Event::Packet(packet)),
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
                        if let Ok(Some(packet)) =
                            wire::decode(&mut self.buf, self.protocol, MAX_PACKET)
                        {
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
                    fail!("{}: {why}: expected a close, got {}", self.label, describe(&p))
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
            Event::Packet(p) => fail!("{}: {why}: unexpected {}", self.label, describe(&p)),
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
                fail!("{}: PINGREQ was answered with {} [MQTT-3.12.4-1]", self.label, describe(&p))
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
                fail!("{}: SUBSCRIBE was answered with {} [MQTT-3.8.4-1]", self.label, describe(&p))
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
                describe(&p)
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
                    describe(&p)
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
                        describe(&p)
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
                describe(&p)
            ),
        }
    }

    /// The next packet, which must be a PUBLISH.
    pub async fn recv_publish(&mut self) -> Result<Publish, Stop> {
        match self.next_within(self.timeout).await? {
            Event::Packet(Packet::Publish(p)) => Ok(p),
            Event::Packet(p) => fail!("{}: expected a PUBLISH, got {}", self.label, describe(&p)),
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
                        describe(&p)
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
