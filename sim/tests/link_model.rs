//! The pure link model: loss as delay then reset, order, backoff, distributions, determinism.

use std::time::Duration;

use mqttsim_sim::link::{
    Direction, Directions, Fate, Flap, Latency, LinkConfig, LinkConfigError, LinkModel, Retransmit,
    Window,
};
use mqttsim_sim::rng::{Seeds, SimRng};
use rand::SeedableRng;

const LATENCY: Duration = Duration::from_millis(20);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn config(loss: f64) -> LinkConfig {
    LinkConfig { latency: Latency::Fixed(LATENCY), loss, ..LinkConfig::default() }
}

fn model(config: LinkConfig, seed: u64) -> LinkModel {
    LinkModel::new(config, &Seeds::new(seed), 0).unwrap()
}

/// The times after a first transmission at 0 at which the default retransmission settings
/// retransmit: 200 ms doubling, capped at 60 s.
fn retransmission_offsets() -> Vec<Duration> {
    let mut out = vec![Duration::ZERO];
    let mut rto = ms(200);
    for _ in 0..9 {
        out.push(*out.last().unwrap() + rto);
        rto = (rto * 2).min(Duration::from_secs(60));
    }
    out
}

#[test]
fn total_loss_resets_after_all_retransmissions_with_doubling_timeouts() {
    let mut m = model(config(1.0), 1);
    // 9 transmissions at 0, .2, .6, 1.4, 3.0, 6.2, 12.6, 25.4, 51.0 s; the last timeout is
    // 51.2 s, so the sender gives up at 102.2 s after the first send.
    assert_eq!(
        m.segment(Direction::ToBroker, Duration::from_secs(5)),
        Fate::Reset { at: Duration::from_secs(5) + ms(102_200), transmissions: 9 }
    );
}

#[test]
fn blackouts_of_growing_length_cost_exponentially_growing_delay() {
    // (blackout length, expected transmissions, expected delivery time)
    let cases: &[(u64, u32, u64)] = &[
        (0, 1, 20),
        (1, 2, 220),
        (200, 2, 220),
        (201, 3, 620),
        (1_000, 4, 1_420),
        (3_001, 6, 6_220),
        (51_000, 9, 51_020),
        (51_001, 0, 102_200),
    ];
    for &(len, transmissions, at) in cases {
        let mut m = model(config(0.0), 1);
        if len > 0 {
            m.add_blackout(Window::new(ms(0), ms(len)), Directions::Both);
        }
        let expected = if transmissions == 0 {
            Fate::Reset { at: ms(at), transmissions: 9 }
        } else {
            Fate::Delivered { at: ms(at), transmissions }
        };
        assert_eq!(m.segment(Direction::ToBroker, ms(0)), expected, "blackout of {len} ms");
    }
}

#[test]
fn loss_is_only_delay_or_reset_and_delivery_stays_in_order() {
    let offsets = retransmission_offsets();
    let mut m = model(config(0.2), 9);
    let mut last = Duration::ZERO;
    let mut delayed = 0;
    for i in 0..5_000u64 {
        let sent = ms(i * 10);
        match m.segment(Direction::ToBroker, sent) {
            Fate::Delivered { at, transmissions } => {
                assert!(at >= last, "segment {i} overtook the previous one");
                last = at;
                let own = sent + offsets[transmissions as usize - 1] + LATENCY;
                // Either its own retransmission schedule, or held behind an earlier segment.
                assert!(at >= own, "segment {i} arrived before its last transmission");
                if transmissions > 1 {
                    delayed += 1;
                }
            }
            Fate::Reset { .. } => panic!("20% loss should not exhaust 9 transmissions here"),
        }
    }
    // About 20% of segments need at least one retransmission.
    assert!((800..1_200).contains(&delayed), "delayed {delayed}");
}

#[test]
fn one_way_blackout_affects_one_direction() {
    let mut m = model(config(0.0), 3);
    m.add_blackout(Window::new(ms(0), ms(10_000)), Directions::ToBroker);
    assert_eq!(
        m.segment(Direction::FromBroker, ms(100)),
        Fate::Delivered { at: ms(120), transmissions: 1 }
    );
    assert!(matches!(
        m.segment(Direction::ToBroker, ms(100)),
        Fate::Delivered { transmissions: 7, .. }
    ));
    assert_eq!(m.next_open(Direction::ToBroker, ms(100)), Some(ms(10_000)));
    assert_eq!(m.next_open(Direction::FromBroker, ms(100)), Some(ms(100)));
}

#[test]
fn endless_blackout_never_opens() {
    let mut m = model(config(0.0), 3);
    m.add_blackout(Window::forever_from(ms(50)), Directions::Both);
    assert_eq!(m.next_open(Direction::ToBroker, ms(49)), Some(ms(49)));
    assert_eq!(m.next_open(Direction::ToBroker, ms(50)), None);
    assert_eq!(m.control(Direction::FromBroker, ms(60)), None);
}

#[test]
fn loss_override_applies_only_inside_its_window() {
    let mut m = model(config(0.0), 3);
    m.add_loss_override(Window::new(ms(1_000), ms(2_000)), Directions::FromBroker, 1.0).unwrap();
    let fate = |m: &mut LinkModel, d, t| match m.segment(d, ms(t)) {
        Fate::Delivered { transmissions, .. } => transmissions,
        Fate::Reset { .. } => 0,
    };
    assert_eq!(fate(&mut m, Direction::FromBroker, 500), 1);
    assert_eq!(fate(&mut m, Direction::ToBroker, 1_500), 1);
    // Sent at 1.5 s: lost at 1.5 and 1.7, delivered on the third try at 2.1 s.
    assert_eq!(fate(&mut m, Direction::FromBroker, 1_500), 3);
    assert_eq!(fate(&mut m, Direction::FromBroker, 2_500), 1);
    assert_eq!(
        m.add_loss_override(Window::new(ms(0), ms(1)), Directions::Both, 1.5),
        Err(LinkConfigError::Loss(1.5))
    );
}

#[test]
fn flapping_is_down_for_the_expected_share_of_time() {
    let cfg = LinkConfig {
        flapping: Some(Flap {
            mean_up: Duration::from_secs(30),
            mean_down: Duration::from_secs(10),
        }),
        ..config(0.0)
    };
    let mut m = model(cfg, 5);
    let probes = 100_000u64;
    let mut down = 0;
    for i in 0..probes {
        // One probe every 100 ms over 10,000 s: about 250 up/down cycles.
        if m.next_open(Direction::ToBroker, ms(i * 100)) != Some(ms(i * 100)) {
            down += 1;
        }
    }
    let share = down as f64 / probes as f64;
    assert!((0.18..0.32).contains(&share), "down {share}");
}

/// The link's own flapping (up 20 s, down 5 s on average) and a flapping fault from 100 s to
/// 200 s (up 2 s, down 8 s), for device 3 of seed 9.
fn flapping_with_a_fault() -> LinkModel {
    let cfg = LinkConfig {
        flapping: Some(Flap {
            mean_up: Duration::from_secs(20),
            mean_down: Duration::from_secs(5),
        }),
        ..config(0.0)
    };
    let seeds = Seeds::new(9);
    let mut m = LinkModel::new(cfg, &seeds, 3).unwrap();
    let window = Window::new(Duration::from_secs(100), Duration::from_secs(200));
    m.add_flapping(window, Duration::from_secs(2), Duration::from_secs(8), &seeds, 3).unwrap();
    m
}

/// The part of `periods` within `[from, until)`.
fn clip(
    periods: &[(Duration, Duration)],
    from: Duration,
    until: Duration,
) -> Vec<(Duration, Duration)> {
    periods.iter().map(|&(s, e)| (s.max(from), e.min(until))).filter(|(s, e)| s < e).collect()
}

/// The periods the trace reports are exactly those in which the model holds the link down.
#[test]
fn flap_downs_are_the_periods_the_link_is_down() {
    let end = Duration::from_secs(400);
    let downs = flapping_with_a_fault().flap_downs(end);
    assert!(downs.len() > 10, "{downs:?}");
    assert!(downs.windows(2).all(|w| w[0].1 < w[1].0), "in order, apart: {downs:?}");
    let mut m = flapping_with_a_fault();
    for i in 0..40_000u64 {
        let t = ms(i * 10);
        let listed = downs.iter().any(|&(s, e)| s <= t && t < e);
        for direction in [Direction::ToBroker, Direction::FromBroker] {
            assert_eq!(m.next_open(direction, t) != Some(t), listed, "at {t:?}");
        }
    }
}

/// A flapping fault replaces the link's own flapping during its window only.
#[test]
fn a_flapping_fault_replaces_the_links_own_flapping_only_while_it_lasts() {
    let end = Duration::from_secs(400);
    let (from, until) = (Duration::from_secs(100), Duration::from_secs(200));
    let with_fault = flapping_with_a_fault().flap_downs(end);
    let cfg = LinkConfig {
        flapping: Some(Flap {
            mean_up: Duration::from_secs(20),
            mean_down: Duration::from_secs(5),
        }),
        ..config(0.0)
    };
    let own = LinkModel::new(cfg, &Seeds::new(9), 3).unwrap().flap_downs(end);
    assert_eq!(clip(&with_fault, Duration::ZERO, from), clip(&own, Duration::ZERO, from));
    assert_eq!(clip(&with_fault, until, end), clip(&own, until, end));
    // Inside the window the fault's schedule (down 8 s in 10) rules: down far more than the
    // link's own 5 s in 25.
    let down = |p: &[(Duration, Duration)]| p.iter().map(|(s, e)| *e - *s).sum::<Duration>();
    let inside = down(&clip(&with_fault, from, until));
    assert!(inside > Duration::from_secs(45), "down {inside:?} of 100 s");
    assert_ne!(clip(&with_fault, from, until), clip(&own, from, until));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

#[test]
fn latency_distributions_have_their_configured_shape() {
    // (distribution, expected mean, expected median, expected 99th percentile) in ms,
    // each checked within 10%.
    let cases: &[(Latency, f64, f64, f64)] = &[
        (Latency::Fixed(ms(30)), 30.0, 30.0, 30.0),
        (Latency::Uniform { min: ms(10), max: ms(50) }, 30.0, 30.0, 49.6),
        (Latency::Normal { mean: ms(100), std_dev: ms(10) }, 100.0, 100.0, 100.0 + 2.326 * 10.0),
        (
            Latency::LogNormal { median: ms(50), sigma: 0.5 },
            50.0 * (0.125f64).exp(),
            50.0,
            50.0 * (0.5 * 2.326f64).exp(),
        ),
        (
            Latency::Pareto { scale: ms(20), shape: 3.0 },
            30.0,
            20.0 * 2f64.powf(1.0 / 3.0),
            20.0 * 100f64.powf(1.0 / 3.0),
        ),
    ];
    for (latency, mean, median, p99) in cases {
        let mut rng = SimRng::seed_from_u64(11);
        let mut samples: Vec<f64> =
            (0..50_000).map(|_| latency.sample(&mut rng).as_secs_f64() * 1000.0).collect();
        samples.sort_by(f64::total_cmp);
        let got_mean = samples.iter().sum::<f64>() / samples.len() as f64;
        for (what, got, want) in [
            ("mean", got_mean, *mean),
            ("median", percentile(&samples, 0.5), *median),
            ("p99", percentile(&samples, 0.99), *p99),
        ] {
            assert!(
                (got - want).abs() <= want * 0.1,
                "{latency:?}: {what} {got:.2} ms, expected {want:.2} ms"
            );
        }
    }
}

#[test]
fn jitter_adds_between_zero_and_its_bound() {
    let cfg = LinkConfig { jitter: ms(10), ..config(0.0) };
    let mut m = model(cfg, 2);
    let mut samples: Vec<Duration> = (0..10_000).map(|_| m.sample_latency()).collect();
    samples.sort();
    assert!(samples[0] >= LATENCY && samples[0] < LATENCY + ms(1));
    assert!(samples[9_999] < LATENCY + ms(10) && samples[9_999] > LATENCY + ms(9));
}

fn fates(seed: u64) -> Vec<Fate> {
    let cfg = LinkConfig {
        latency: Latency::LogNormal { median: ms(40), sigma: 0.7 },
        jitter: ms(5),
        loss: 0.3,
        flapping: Some(Flap {
            mean_up: Duration::from_secs(20),
            mean_down: Duration::from_secs(2),
        }),
        ..LinkConfig::default()
    };
    let mut m = model(cfg, seed);
    (0..500u64)
        .map(|i| {
            let d = if i % 3 == 0 { Direction::FromBroker } else { Direction::ToBroker };
            m.segment(d, ms(i * 250))
        })
        .collect()
}

#[test]
fn same_seed_same_fates_different_seed_different_fates() {
    assert_eq!(fates(77), fates(77));
    assert_ne!(fates(77), fates(78));
}

#[test]
fn devices_have_independent_streams() {
    let seeds = Seeds::new(4);
    let mut a = LinkModel::new(config(0.5), &seeds, 1).unwrap();
    let mut b = LinkModel::new(config(0.5), &seeds, 2).unwrap();
    let run = |m: &mut LinkModel| -> Vec<Fate> {
        (0..100u64).map(|i| m.segment(Direction::ToBroker, ms(i * 100))).collect()
    };
    let fa = run(&mut a);
    assert_ne!(fa, run(&mut b));
    // Device 1's outcomes do not depend on device 2 existing.
    let mut a2 = LinkModel::new(config(0.5), &seeds, 1).unwrap();
    assert_eq!(fa, run(&mut a2));
}

#[test]
fn invalid_configurations_are_typed_errors() {
    let seeds = Seeds::new(0);
    let bad = [
        (config(-0.1), LinkConfigError::Loss(-0.1)),
        (
            LinkConfig { latency: Latency::Uniform { min: ms(5), max: ms(1) }, ..config(0.0) },
            LinkConfigError::Latency(Latency::Uniform { min: ms(5), max: ms(1) }),
        ),
        (
            LinkConfig {
                retransmit: Retransmit { initial_rto: Duration::ZERO, ..Retransmit::default() },
                ..config(0.0)
            },
            LinkConfigError::Retransmit("initial RTO is zero"),
        ),
    ];
    for (cfg, err) in bad {
        assert_eq!(LinkModel::new(cfg, &seeds, 0).unwrap_err(), err);
    }
}
