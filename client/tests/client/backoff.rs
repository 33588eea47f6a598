use std::time::Duration;

use mqttsim_client::{Backoff, BackoffError};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn grows_exponentially_up_to_the_cap() {
    let mut backoff = Backoff::new(secs(1.0), secs(30.0), 2.0, 0.5).unwrap();
    // unit 0 takes no jitter off: the bases themselves.
    let delays: Vec<f64> = (0..8).map(|_| backoff.next_delay(0.0).as_secs_f64()).collect();
    assert_eq!(delays, vec![1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
}

#[test]
fn jitter_stays_within_its_fraction_of_the_base() {
    let bases = [0.5, 1.5, 4.5, 13.5, 40.5, 60.0, 60.0];
    for unit in [0.0, 0.1, 0.25, 0.5, 0.75, 0.999_999] {
        let mut backoff = Backoff::new(secs(0.5), secs(60.0), 3.0, 0.4).unwrap();
        for base in bases {
            let delay = backoff.next_delay(unit).as_secs_f64();
            let low = base * (1.0 - 0.4);
            assert!(delay >= low - 1e-9 && delay <= base + 1e-9, "{delay} vs {base} unit {unit}");
            assert!((delay - base * (1.0 - 0.4 * unit)).abs() < 1e-6, "unit {unit}");
        }
    }
}

#[test]
fn reset_starts_again_from_the_initial_delay() {
    let mut backoff = Backoff::new(secs(2.0), secs(10.0), 2.0, 0.0).unwrap();
    backoff.next_delay(0.5);
    backoff.next_delay(0.5);
    assert_eq!(backoff.next_delay(0.5), secs(8.0));
    backoff.reset();
    assert_eq!(backoff.next_delay(0.5), secs(2.0));
}

#[test]
fn odd_units_and_extreme_settings_never_panic_or_exceed_the_cap() {
    let mut backoff = Backoff::new(secs(1.0), Duration::MAX, 1e300, 1.0).unwrap();
    for unit in [f64::NAN, -1.0, 2.0, f64::INFINITY, 0.3] {
        for _ in 0..5 {
            let delay = backoff.next_delay(unit);
            assert!(delay <= Duration::MAX);
        }
    }
    let mut zero = Backoff::new(Duration::ZERO, Duration::ZERO, 2.0, 0.5).unwrap();
    assert_eq!(zero.next_delay(0.5), Duration::ZERO);
}

#[test]
fn invalid_settings_are_refused() {
    let one = secs(1.0);
    assert_eq!(Backoff::new(one, one, 0.5, 0.0), Err(BackoffError::Multiplier(0.5)));
    assert!(matches!(Backoff::new(one, one, f64::NAN, 0.0), Err(BackoffError::Multiplier(_))));
    assert_eq!(Backoff::new(one, one, 2.0, 1.5), Err(BackoffError::Jitter(1.5)));
    assert_eq!(Backoff::new(secs(2.0), one, 2.0, 0.0), Err(BackoffError::InitialAboveMax));
}
