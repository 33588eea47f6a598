//! The state that survives a broker crash: sessions and retained messages, behind [`Store`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use indexmap::IndexMap;
use mqttsim_codec::{Properties, QoS, SubscriptionOptions};

use crate::tree::{Node, TopicTree};

/// An application message as the broker holds it for one subscriber (or as retained).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic name.
    pub topic: ByteString,
    /// The payload; cloning it is cheap.
    pub payload: Bytes,
    /// The QoS it is (or will be) sent with.
    pub qos: QoS,
    /// The RETAIN flag it is sent with: 1 only for retained messages sent because of a new
    /// subscription [MQTT-3.3.1-8], 0 on normal forwarding [MQTT-3.3.1-9].
    pub retain: bool,
    /// 5.0 properties, in the order the publisher sent them (without its Topic Alias), plus
    /// the Subscription Identifiers of this copy; empty for 3.1.1. A Message Expiry Interval
    /// among them is rewritten with the time left whenever the message is sent.
    pub properties: Properties,
    /// When the message expires, on the broker's clock (5.0 Message Expiry Interval); `None`
    /// for a message that never expires.
    pub expires_at: Option<Duration>,
    /// The shared subscription (`$share/{group}/{filter}`) this copy was routed through, so it
    /// can go to another member of the group when this one leaves; `None` otherwise (boxed:
    /// every queued message carries the field, few have one).
    pub group: Option<Box<ByteString>>,
}

impl Message {
    /// Whether the message has expired at `now` [MQTT-3.3.2-5].
    pub fn expired(&self, now: Duration) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Where an outgoing QoS 1 or 2 message is in its acknowledgement flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflightState {
    /// QoS 1 PUBLISH sent, PUBACK awaited.
    AwaitingPubAck,
    /// QoS 2 PUBLISH sent, PUBREC awaited.
    AwaitingPubRec,
    /// PUBREL sent, PUBCOMP awaited.
    AwaitingPubComp,
}

/// An outgoing message sent but not yet fully acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inflight {
    /// The message, with the QoS it was sent with.
    pub message: Message,
    /// Its place in the flow.
    pub state: InflightState,
}

/// What a 5.0 subscription has beyond its options; kept only for the subscriptions that have
/// it, so 3.1.1 sessions pay nothing for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionExtras {
    /// The Subscription Identifier of the SUBSCRIBE that made it.
    pub identifier: Option<u32>,
    /// Whether it is a shared subscription (`$share/{group}/{filter}`); over 3.1.1 such a
    /// filter is an ordinary one.
    pub shared: bool,
}

/// A Session Expiry Interval that means "never" (3.1.1 persistent sessions, 5.0 0xFFFFFFFF).
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// The session state of one client identifier [MQTT-3.1.2-4].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    /// Whether the session ends with its connection (3.1.1 Clean Session = 1, 5.0 Session
    /// Expiry Interval 0).
    pub clean: bool,
    /// Seconds the session outlives its connection when not `clean`; [`NEVER_EXPIRES`] for
    /// ever (3.1.1 persistent sessions).
    pub expiry_interval: u32,
    /// When its last connection ended, on the broker's clock; `None` while connected.
    pub disconnected_at: Option<Duration>,
    /// Topic filter to subscription options, the QoS being the granted one (3.1.1 uses only
    /// the QoS).
    pub subscriptions: BTreeMap<ByteString, SubscriptionOptions>,
    /// The 5.0 identifier or shared flag of the subscriptions that have one.
    pub extras: BTreeMap<ByteString, SubscriptionExtras>,
    /// Outgoing messages sent and not fully acknowledged, keyed by packet identifier, in the
    /// order they were first sent.
    pub inflight: IndexMap<u16, Inflight>,
    /// Outgoing messages waiting to be sent, oldest first, with their bytes counted.
    pub queue: MessageQueue,
    /// Inbound QoS 2 packet identifiers answered with PUBREC and awaiting PUBREL
    /// [MQTT-4.3.3-2].
    pub inbound_qos2: BTreeSet<u16>,
    /// The next outgoing packet identifier to try; never 0.
    pub next_packet_id: u16,
    /// The user name of the connection that last owned the session, for topic authorisation of
    /// the messages it is sent.
    pub username: Option<ByteString>,
}

/// The bytes queued in every session of one broker, shared by their [`MessageQueue`]s.
#[derive(Debug, Clone, Default)]
pub struct QueuedBytes(Arc<AtomicUsize>);

impl QueuedBytes {
    /// The bytes (topic and payload) of every queued message.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
}

/// A session's queue of messages waiting to be sent, which counts its bytes (topic and
/// payload) and adds them to the broker-wide [`QueuedBytes`] it is attached to, so that the
/// byte limits hold whoever changes the queue.
#[derive(Debug, Default)]
pub struct MessageQueue {
    messages: VecDeque<Message>,
    bytes: usize,
    total: QueuedBytes,
}

impl MessageQueue {
    /// Counts this queue in `total` (moving its bytes from the total it was counted in).
    pub fn attach(&mut self, total: &QueuedBytes) {
        if !Arc::ptr_eq(&self.total.0, &total.0) {
            self.total.sub(self.bytes);
            total.add(self.bytes);
            self.total = total.clone();
        }
    }

    /// The bytes of the queued messages.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The number of queued messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The oldest message.
    pub fn front(&self) -> Option<&Message> {
        self.messages.front()
    }

    /// The queued messages, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter()
    }

    /// Queues a message last.
    pub fn push_back(&mut self, message: Message) {
        self.count_in(message.size());
        self.messages.push_back(message);
    }

    /// Takes the oldest message.
    pub fn pop_front(&mut self) -> Option<Message> {
        let message = self.messages.pop_front()?;
        self.count_out(message.size());
        Some(message)
    }

    /// Takes the newest message.
    pub fn pop_back(&mut self) -> Option<Message> {
        let message = self.messages.pop_back()?;
        self.count_out(message.size());
        Some(message)
    }

    /// Takes out the messages `take` picks, oldest first, and keeps the others in their order.
    pub fn take_where(&mut self, mut take: impl FnMut(&Message) -> bool) -> Vec<Message> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.messages.len());
        for message in std::mem::take(&mut self.messages) {
            if take(&message) {
                self.count_out(message.size());
                taken.push(message);
            } else {
                kept.push_back(message);
            }
        }
        self.messages = kept;
        taken
    }

    /// Gives back the memory of an empty queue.
    pub fn shrink(&mut self) {
        if self.messages.is_empty() {
            self.messages = VecDeque::new();
        }
    }

    fn count_in(&mut self, n: usize) {
        self.bytes += n;
        self.total.add(n);
    }

    fn count_out(&mut self, n: usize) {
        self.bytes -= n;
        self.total.sub(n);
    }
}

impl Clone for MessageQueue {
    fn clone(&self) -> MessageQueue {
        self.total.add(self.bytes);
        MessageQueue {
            messages: self.messages.clone(),
            bytes: self.bytes,
            total: self.total.clone(),
        }
    }
}

impl PartialEq for MessageQueue {
    fn eq(&self, other: &MessageQueue) -> bool {
        self.messages == other.messages
    }
}

impl Eq for MessageQueue {}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        self.total.sub(self.bytes);
    }
}

impl Session {
    /// A new, empty session.
    pub fn new(clean: bool) -> Session {
        let expiry_interval = if clean { 0 } else { NEVER_EXPIRES };
        Session { clean, expiry_interval, next_packet_id: 1, ..Session::default() }
    }

    /// When the session expires, if it is offline and not kept for ever.
    pub fn expires_at(&self) -> Option<Duration> {
        let since = self.disconnected_at?;
        if self.clean || self.expiry_interval == NEVER_EXPIRES {
            return None;
        }
        Some(since.saturating_add(Duration::from_secs(u64::from(self.expiry_interval))))
    }

    /// Whether routing a message to this session needs more than the granted QoS: some
    /// subscription has No Local, Retain As Published or an identifier.
    pub fn extended(&self) -> bool {
        self.subscriptions.values().any(|o| o.no_local || o.retain_as_published)
            || self.extras.values().any(|e| e.identifier.is_some())
    }

    /// Whether the subscription to `filter` is a 5.0 shared one.
    pub fn is_shared(&self, filter: &str) -> bool {
        self.extras.get(filter).is_some_and(|e| e.shared)
    }

    /// Takes a packet identifier not used by any in-flight message.
    ///
    /// The caller keeps the in-flight window below 65,535 messages, so one is always free.
    pub(crate) fn allocate_packet_id(&mut self) -> u16 {
        assert!(self.inflight.len() < usize::from(u16::MAX), "in-flight window is full");
        loop {
            let id = self.next_packet_id.max(1);
            self.next_packet_id = id.checked_add(1).unwrap_or(1);
            if !self.inflight.contains_key(&id) {
                return id;
            }
        }
    }
}

/// The retained messages in a topic-level tree, for filter lookups that do not scan every
/// retained topic. Every operation is iterative (see `crate::tree`), so a topic of 65,536 levels
/// is as safe as a short one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetainedMessages {
    tree: TopicTree<Option<Message>>,
    len: usize,
    bytes: usize,
}

impl Message {
    /// The bytes this message holds (topic and payload), as the retained and queue limits count
    /// them.
    pub fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

impl RetainedMessages {
    /// The number of retained topics.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is retained.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of topic and payload held, summed over the retained messages.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The retained message of a topic name.
    pub fn get(&self, topic: &str) -> Option<&Message> {
        self.tree.get(topic)?.value.as_ref()
    }

    /// Retains `message` for its topic, returning the one it replaces.
    pub fn insert(&mut self, message: Message) -> Option<Message> {
        let size = message.size();
        let previous = self.tree.entry(&message.topic.clone()).replace(message);
        match &previous {
            Some(old) => self.bytes -= old.size(),
            None => self.len += 1,
        }
        self.bytes += size;
        previous
    }

    /// Removes the retained message of a topic name.
    pub fn remove(&mut self, topic: &str) -> Option<Message> {
        let removed = self.tree.change(topic, Option::take).flatten();
        if let Some(old) = &removed {
            self.len -= 1;
            self.bytes -= old.size();
        }
        removed
    }

    /// The retained messages whose topic matches a valid topic filter, in topic-level order.
    pub fn matching(&self, filter: &str) -> Vec<&Message> {
        let levels: Vec<&str> = filter.split('/').collect();
        let mut out = Vec::new();
        // Depth first, in level order: (node, filter levels it has matched). Wildcards at the
        // first level never match topics starting with '$' [MQTT-4.7.2-1].
        let mut stack: Vec<(&Node<Option<Message>>, usize)> = vec![(self.tree.root(), 0)];
        // Below a `#`, every node is collected: (node, whether it is the `#`'s parent itself).
        let mut below_hash: Vec<&Node<Option<Message>>> = Vec::new();
        while let Some((node, matched)) = stack.pop() {
            let visible = |name: &str| !(matched == 0 && name.starts_with('$'));
            match levels.get(matched) {
                None => out.extend(node.value.as_ref()),
                Some(&"#") => {
                    // "a/#" also matches "a" itself [MQTT-4.7.1-2].
                    out.extend(node.value.as_ref());
                    let children: Vec<_> = node.children().filter(|(n, _)| visible(n)).collect();
                    below_hash.extend(children.into_iter().rev().map(|(_, child)| child));
                    while let Some(node) = below_hash.pop() {
                        out.extend(node.value.as_ref());
                        let children: Vec<_> = node.children().collect();
                        below_hash.extend(children.into_iter().rev().map(|(_, child)| child));
                    }
                }
                Some(&"+") => {
                    let children: Vec<_> = node.children().filter(|(n, _)| visible(n)).collect();
                    stack.extend(children.into_iter().rev().map(|(_, child)| (child, matched + 1)));
                }
                Some(level) => {
                    if let Some(child) = node.child(level) {
                        stack.push((child, matched + 1));
                    }
                }
            }
        }
        out
    }
}

/// Everything a [`Store`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreState {
    /// Sessions by client identifier.
    pub sessions: BTreeMap<ByteString, Session>,
    /// Retained messages by topic.
    pub retained: RetainedMessages,
}

/// What survives a broker crash. Connections are never part of it.
///
/// The driver crashes a broker by dropping its connections and calling
/// `Broker::new(config, broker.into_store().after_crash())`.
pub trait Store: fmt::Debug + Send {
    /// The stored state.
    fn state(&self) -> &StoreState;
    /// The stored state, for changes.
    fn state_mut(&mut self) -> &mut StoreState;
    /// What is left of this store after the broker process crashed.
    fn after_crash(self: Box<Self>) -> Box<dyn Store>;
}

/// A store in memory that either loses everything on a crash or keeps everything.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: StoreState,
    durable: bool,
}

impl MemoryStore {
    /// A store that loses everything on a crash.
    pub fn volatile() -> MemoryStore {
        MemoryStore { state: StoreState::default(), durable: false }
    }

    /// A store that keeps everything across a crash, as if every change reached disk.
    pub fn durable() -> MemoryStore {
        MemoryStore { state: StoreState::default(), durable: true }
    }
}

impl Store for MemoryStore {
    fn state(&self) -> &StoreState {
        &self.state
    }

    fn state_mut(&mut self) -> &mut StoreState {
        &mut self.state
    }

    fn after_crash(self: Box<Self>) -> Box<dyn Store> {
        if self.durable { self } else { Box::new(MemoryStore::volatile()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retained(topic: &'static str) -> Message {
        Message {
            topic: ByteString::from_static(topic),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Properties::new(),
            expires_at: None,
            group: None,
        }
    }

    #[test]
    fn retained_lookup_by_filter_follows_the_matching_rules() {
        let mut store = RetainedMessages::default();
        for topic in ["a", "a/b", "a/b/c", "a/c", "/x", "$SYS/up", "b"] {
            store.insert(retained(topic));
        }
        assert_eq!(store.len(), 7);
        let cases: [(&str, &[&str]); 9] = [
            ("a/#", &["a", "a/b", "a/b/c", "a/c"]),
            ("a/+", &["a/b", "a/c"]),
            ("+", &["a", "b"]),
            ("#", &["/x", "a", "a/b", "a/b/c", "a/c", "b"]),
            ("+/x", &["/x"]),
            ("$SYS/#", &["$SYS/up"]),
            ("+/up", &[]),
            ("a/b", &["a/b"]),
            ("a/b/c/d", &[]),
        ];
        for (filter, expected) in cases {
            let got: Vec<&str> = store.matching(filter).iter().map(|m| &*m.topic).collect();
            assert_eq!(got, expected, "{filter}");
            for topic in expected {
                assert!(mqttsim_codec::topic::matches(filter, topic), "{filter} vs {topic}");
            }
        }
    }

    #[test]
    fn retained_remove_prunes_and_counts() {
        let mut store = RetainedMessages::default();
        store.insert(retained("a/b/c"));
        assert!(store.insert(retained("a/b/c")).is_some());
        assert_eq!(store.len(), 1);
        assert!(store.remove("a/b").is_none());
        assert!(store.remove("a/b/c").is_some());
        assert!(store.is_empty());
        assert_eq!(store, RetainedMessages::default());
    }

    #[test]
    fn a_retained_topic_of_65536_levels_is_stored_found_matched_cleared_and_dropped() {
        let deepest = ByteString::from("/".repeat(65_535));
        let mut store = RetainedMessages::default();
        let message = Message { topic: deepest.clone(), ..retained("x") };
        store.insert(message.clone());
        store.insert(retained("a/b"));
        assert_eq!(store.bytes(), 65_535 + 1 + 3 + 1);
        assert_eq!(store.get(&deepest), Some(&message));
        assert_eq!(store.matching("#").len(), 2);
        assert_eq!(store.matching(&format!("{}#", "/".repeat(65_534))), [&message]);
        assert_eq!(store.matching(&deepest), [&message]);
        assert_eq!(store.clone(), store);
        assert!(!format!("{store:?}").is_empty());
        assert_eq!(store.remove(&deepest), Some(message.clone()));
        assert_eq!(store.len(), 1);
        store.insert(message);
        drop(store);
    }

    #[test]
    fn packet_ids_skip_zero_and_ids_in_flight() {
        let mut session = Session::new(false);
        session.next_packet_id = u16::MAX;
        let message = retained("t");
        let inflight = Inflight { message, state: InflightState::AwaitingPubAck };
        session.inflight.insert(1, inflight);
        assert_eq!(session.allocate_packet_id(), u16::MAX);
        assert_eq!(session.allocate_packet_id(), 2);
    }
}
