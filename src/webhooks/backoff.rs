//! When a failed delivery is tried again: 1 s after the first failure, doubling after each
//! further one, capped, with jitter (each pause is between half and all of its step, so that
//! endpoints failing together do not all come back at once). Pure: the random draw is an
//! argument.

use std::time::Duration;

/// The pause after the `failures`-th failed attempt (1 for the first), for a draw `r` in
/// `[0, 1)`: a step of `2^(failures-1)` seconds, capped at `cap`, times `(1 + r) / 2`.
pub fn delay(failures: u32, cap: Duration, r: f64) -> Duration {
    let step = Duration::from_secs(1u64 << failures.saturating_sub(1).min(40)).min(cap);
    let r = if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        1.0
    };
    step.mul_f64((1.0 + r) / 2.0)
}

/// [`delay`] with a random draw.
pub fn random_delay(failures: u32, cap: Duration) -> Duration {
    delay(failures, cap, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_up_to_the_cap() {
        let cap = Duration::from_secs(3600);
        let top: Vec<u64> = (1..=14).map(|n| delay(n, cap, 1.0).as_secs()).collect();
        assert_eq!(
            top,
            [
                1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600
            ]
        );
        assert_eq!(delay(1000, cap, 1.0), cap);
        assert_eq!(delay(0, cap, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_keeps_between_half_and_all_of_the_step() {
        let cap = Duration::from_secs(3600);
        assert_eq!(delay(3, cap, 0.0), Duration::from_secs(2));
        assert_eq!(delay(3, cap, 0.5), Duration::from_secs(3));
        assert_eq!(delay(3, cap, f64::NAN), Duration::from_secs(4));
        assert_eq!(delay(3, cap, -7.0), Duration::from_secs(2));
        for n in 1..30 {
            let d = random_delay(n, cap);
            let step = delay(n, cap, 1.0);
            assert!(d >= step / 2 && d <= step, "{n}: {d:?} of {step:?}");
        }
    }

    #[test]
    fn retries_in_a_day_of_failures() {
        // Failing for 24 hours with the default cap and no jitter (the longest pauses):
        // twelve tries in the first 4,095 s (1 + 2 + … + 2,048), then one an hour.
        let cap = Duration::from_secs(3600);
        let mut t = Duration::ZERO;
        let mut n = 0;
        while t < Duration::from_secs(24 * 3600) {
            n += 1;
            t += delay(n, cap, 1.0);
        }
        assert_eq!(n, 12 + 23);
    }
}
