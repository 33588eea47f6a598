//! Decode, encode, and decode + encode of a QoS 1 PUBLISH (64 B and 4 KiB payloads), ours next
//! to rumqttc's 3.1.1 codec in the same run. Run with `cargo bench -p mqttsim-codec`.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mqttsim_codec::{Packet, Properties, Protocol, Publish, QoS, decode, encode};
use rumqttc::mqttbytes::v4::{Packet as RPacket, Publish as RPublish};

const MAX: usize = 1 << 20;
const TOPIC: &str = "fleet/device-0042/telemetry/temperature";

fn ours(payload: &Bytes) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: TOPIC.into(),
        packet_id: 42,
        payload: payload.clone(),
        properties: Properties::new(),
    })
}

fn theirs(payload: &Bytes) -> RPublish {
    let mut publish =
        RPublish::from_bytes(TOPIC, rumqttc::mqttbytes::QoS::AtLeastOnce, payload.clone());
    publish.pkid = 42;
    publish
}

fn bench(c: &mut Criterion) {
    for size in [64usize, 4096] {
        let payload = Bytes::from(vec![0xA5u8; size]);
        let packet = ours(&payload);
        let rpublish = theirs(&payload);
        let mut wire = BytesMut::new();
        encode(&packet, Protocol::V311, &mut wire).unwrap();
        let mut rwire = BytesMut::new();
        rpublish.write(&mut rwire).unwrap();
        assert_eq!(wire, rwire, "both codecs put the same bytes on the wire");
        let label = if size == 64 { "64B" } else { "4KiB" };

        let mut group = c.benchmark_group(format!("decode_publish_qos1_{label}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function("mqttsim", |b| {
            b.iter_batched(
                || wire.clone(),
                |mut buf| decode(black_box(&mut buf), Protocol::V311, MAX).unwrap(),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("rumqttc", |b| {
            b.iter_batched(
                || wire.clone(),
                |mut buf| RPacket::read(black_box(&mut buf), MAX).unwrap(),
                BatchSize::SmallInput,
            )
        });
        group.finish();

        let mut group = c.benchmark_group(format!("encode_publish_qos1_{label}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));
        let mut out = BytesMut::with_capacity(wire.len());
        group.bench_function("mqttsim", |b| {
            b.iter(|| {
                out.clear();
                encode(black_box(&packet), Protocol::V311, &mut out).unwrap();
            })
        });
        group.bench_function("rumqttc", |b| {
            b.iter(|| {
                out.clear();
                black_box(&rpublish).write(&mut out).unwrap();
            })
        });
        group.finish();

        // The figure the goal is stated in: one decode plus one encode of the same packet.
        let mut group = c.benchmark_group(format!("decode_encode_publish_qos1_{label}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function("mqttsim", |b| {
            b.iter_batched(
                || (wire.clone(), BytesMut::with_capacity(wire.len())),
                |(mut buf, mut out)| {
                    let packet = decode(black_box(&mut buf), Protocol::V311, MAX).unwrap().unwrap();
                    encode(&packet, Protocol::V311, &mut out).unwrap();
                    out
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function("rumqttc", |b| {
            b.iter_batched(
                || (wire.clone(), BytesMut::with_capacity(wire.len())),
                |(mut buf, mut out)| {
                    match RPacket::read(black_box(&mut buf), MAX).unwrap() {
                        RPacket::Publish(publish) => publish.write(&mut out).unwrap(),
                        other => panic!("rumqttc decoded {other:?}"),
                    };
                    out
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
