//! Drives the sans-IO broker core with a random sequence of decoded packets, decode errors,
//! connection events and clock ticks over several connections. It must never panic, and its
//! state must stay within the configured bounds after every step.

#![no_main]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mqttsim_broker::{Broker, BrokerConfig, ConnId, MemoryStore, OverflowPolicy};
use mqttsim_codec::{Protocol, decode};

const MAX_QUEUED: usize = 4;
const MAX_QUEUED_BYTES: usize = 64;
const MAX_TOTAL: usize = 160;
const MAX_SUBSCRIPTIONS: usize = 3;
const MAX_RETAINED: usize = 3;
const MAX_RETAINED_BYTES: usize = 48;

fn config(policy: u8) -> BrokerConfig {
    BrokerConfig {
        max_inflight: 2,
        max_queued_messages: MAX_QUEUED,
        max_queued_bytes: MAX_QUEUED_BYTES,
        max_queued_bytes_total: MAX_TOTAL,
        overflow: if policy & 1 == 0 { OverflowPolicy::DropNewest } else { OverflowPolicy::DropOldest },
        queue_qos0_offline: policy & 2 != 0,
        max_subscriptions_per_session: MAX_SUBSCRIPTIONS,
        max_inbound_qos2: 3,
        max_retained_messages: MAX_RETAINED,
        max_retained_bytes: MAX_RETAINED_BYTES,
        ..BrokerConfig::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&policy, mut data)) = data.split_first() else { return };
    let mut broker = Broker::new(config(policy), Box::new(MemoryStore::durable()));
    let mut conns: Vec<ConnId> = Vec::new();
    let mut now = Duration::ZERO;
    while let Some((&op, rest)) = data.split_first() {
        data = rest;
        let pick = |conns: &[ConnId], k: u8| conns.get(usize::from(k) % conns.len().max(1)).copied();
        match op % 8 {
            0 => conns.push(broker.handle_connection_opened(now)),
            1 => {
                if let Some(c) = pick(&conns, op >> 3) {
                    broker.handle_connection_lost(c, now);
                }
            }
            2 => now += Duration::from_millis(u64::from(op) * 100),
            3 => broker = Broker::new(config(policy), broker.into_store().after_crash()),
            _ => {
                // A length byte, then that many bytes decoded as one packet for a connection.
                let Some((&len, rest)) = data.split_first() else { break };
                let len = usize::from(len).min(rest.len());
                let (bytes, rest) = rest.split_at(len);
                data = rest;
                let Some(c) = pick(&conns, op >> 3) else { continue };
                let protocol = if op & 0x80 == 0 { Protocol::V311 } else { Protocol::V31 };
                let mut buf = BytesMut::from(bytes);
                match decode(&mut buf, protocol, 512) {
                    Ok(Some(packet)) => broker.handle_packet(c, now, packet),
                    Ok(None) => {}
                    Err(error) => broker.handle_decode_error(c, now, &error),
                }
            }
        }
        broker.handle_timeout(now);
        while broker.poll_output().is_some() {}
        while broker.poll_event().is_some() {}
        let state = broker.store().state();
        let mut total = 0;
        for session in state.sessions.values() {
            assert!(session.queue.len() <= MAX_QUEUED, "queue length {}", session.queue.len());
            assert!(session.queue.bytes() <= MAX_QUEUED_BYTES, "queue bytes {}", session.queue.bytes());
            assert!(session.subscriptions.len() <= MAX_SUBSCRIPTIONS);
            assert!(session.inflight.len() <= 2);
            assert!(session.inbound_qos2.len() <= 3);
            total += session.queue.bytes();
        }
        // The total may go over by at most one message (the arrival that found it full).
        assert!(total <= MAX_TOTAL + 512, "queued in all {total}");
        assert!(state.retained.len() <= MAX_RETAINED);
        assert!(state.retained.bytes() <= MAX_RETAINED_BYTES);
        let _ = Bytes::new();
    }
});
