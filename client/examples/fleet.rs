//! Drives a fleet of clients through connect, a QoS 1 and a QoS 2 round trip and a ping, to show
//! the size of a client and the cost of its steps: `cargo run --release -p mqttsim-client
//! --example fleet -- 100000`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mqttsim_client::{Client, ClientConfig, Event, Output};
use mqttsim_codec::{Ack, ConnAck, Packet, Properties, QoS, ReasonCode};

fn drain(client: &mut Client) -> usize {
    let mut n = 0;
    while let Some(output) = client.poll_output() {
        if let Output::Send(_) = output {
            n += 1;
        }
    }
    while let Some(event) = client.poll_event() {
        if let Event::Closed { .. } = event {
            n += 1;
        }
    }
    n
}

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    println!("size_of::<Client>() = {} bytes", size_of::<Client>());
    println!("size_of::<Output>() = {} bytes", size_of::<Output>());
    println!("size_of::<Event>() = {} bytes", size_of::<Event>());

    let started = Instant::now();
    let mut fleet: Vec<Client> = (0..count)
        .map(|i| {
            let mut config = ClientConfig::new(format!("dev-{i}"));
            config.keep_alive = 30;
            Client::new(config)
        })
        .collect();
    let mut now = Duration::ZERO;
    let mut packets = 0;
    let payload = Bytes::from_static(b"21.5");
    let connack = Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ReasonCode::SUCCESS,
        properties: Properties::new(),
    });
    for client in &mut fleet {
        client.handle_transport_up(now);
        client.handle_packet(now, connack.clone());
        packets += drain(client);
    }
    for round in 0..10u16 {
        now += Duration::from_secs(1);
        for client in &mut fleet {
            client.publish(now, "t/temp".into(), payload.clone(), QoS::AtLeastOnce, false).unwrap();
            client
                .publish(now, "t/event".into(), payload.clone(), QoS::ExactlyOnce, false)
                .unwrap();
            let first = round * 2 + 1;
            client.handle_packet(now, Packet::PubAck(Ack::new(first)));
            client.handle_packet(now, Packet::PubRec(Ack::new(first + 1)));
            client.handle_packet(now, Packet::PubComp(Ack::new(first + 1)));
            packets += drain(client);
        }
    }
    now += Duration::from_secs(60);
    for client in &mut fleet {
        client.handle_timeout(now);
        client.handle_packet(now, Packet::PingResp);
        packets += drain(client);
    }
    let elapsed = started.elapsed();
    assert!(fleet.iter().all(|c| c.inflight_len() == 0));
    println!(
        "{count} clients, {packets} packets out in {:.3} s ({:.0} ns per packet out)",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / packets as f64
    );
}
