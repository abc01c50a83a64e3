//! The one retry policy of the local Firehose (and of the click producer that feeds it):
//! exponential back-off with jitter and a bounded number of attempts, from `backon`.
//!
//! Jitter keeps concurrent writers (several shards' batches, several producers) from retrying
//! in lockstep against the same throttled service.

use std::time::Duration;

use backon::ExponentialBuilder;
pub use backon::Retryable;

/// Longest pause before one attempt, however many came before (before jitter, which adds up
/// to as much again).
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// At most `attempts` attempts in all (1: no retry); the first retry after about
/// `first_delay`, each later one after about twice the previous pause (capped at
/// [`MAX_DELAY`]), each pause lengthened by a random 0-100%.
pub fn backoff(first_delay: Duration, attempts: u32) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(first_delay)
        .with_factor(2.0)
        .with_max_delay(MAX_DELAY)
        .with_max_times(attempts.saturating_sub(1) as usize)
        .with_jitter()
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder as _;

    use super::*;

    #[test]
    fn pauses_double_with_jitter_and_stop_after_the_attempts() {
        let first = Duration::from_millis(100);
        let pauses: Vec<Duration> = backoff(first, 5).build().collect();
        assert_eq!(pauses.len(), 4, "5 attempts = 4 pauses");
        for (i, pause) in pauses.iter().enumerate() {
            let base = first * 2u32.pow(i as u32);
            assert!(*pause >= base && *pause <= base * 2, "pause {i}: {pause:?}");
        }
        assert_eq!(
            backoff(first, 1).build().count(),
            0,
            "one attempt, no retry"
        );
        assert_eq!(backoff(first, 0).build().count(), 0);
        // Jitter differs between retry sequences (backon's `std` feature: a random seed each;
        // without it every sequence gets the same "random" pauses, in lockstep).
        let sequences: Vec<Vec<Duration>> = (0..4)
            .map(|_| backoff(first, 5).build().collect())
            .collect();
        assert!(
            sequences.iter().any(|s| *s != sequences[0]),
            "identical jitter in every sequence: {sequences:?}"
        );
        // Many retries never pause longer than the cap (plus its jitter).
        assert!(
            backoff(Duration::from_secs(1), 40)
                .build()
                .all(|p| p <= MAX_DELAY * 2)
        );
    }
}
