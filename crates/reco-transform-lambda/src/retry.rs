//! Bounded retries inside one invocation: while the vector database is unreachable, the
//! handler tries again after exponentially growing pauses with full jitter (each pause drawn
//! uniformly between zero and its ceiling), until the call succeeds or the invocation's
//! deadline is near; only then does the invocation fail (and Firehose retry the batch). A
//! refused password is re-read once ([`NeighbourIndex::refresh_credentials`]) and the call
//! retried at once.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use backon::{BackoffBuilder as _, ExponentialBuilder};

use crate::ports::{IndexError, NeighbourIndex};

/// Time kept back from the Lambda deadline for what follows the k-NN: building the records
/// and the response (at most Lambda's 6 MB payload) and posting it to the runtime API. An
/// invocation that overruns its deadline is killed without an answer, so this is generous
/// next to that work (a pure in-memory pass and one local HTTP post) and small next to the
/// deployed timeout (120 s by default).
pub const RESPONSE_MARGIN: Duration = Duration::from_secs(3);

/// Ceiling of the first pause: a dropped connection usually works again at once.
pub const FIRST_RETRY_CEILING: Duration = Duration::from_millis(100);

/// Largest pause ceiling: a database back from an outage is noticed within this time.
pub const MAX_RETRY_CEILING: Duration = Duration::from_secs(4);

/// Time a re-check of the active version may take while a model is cached: past it (or when
/// the database is unreachable) the cached model and version keep being served (static
/// stability), so a batch the in-memory search can answer never waits on an outage.
pub const CACHED_VERSION_CHECK_BUDGET: Duration = Duration::from_secs(1);

/// How the handler retries: pause ceilings and the time kept for the response. The defaults
/// are the constants above; tests shrink them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Ceiling of the first pause.
    pub first_ceiling: Duration,
    /// Largest pause ceiling (ceilings double up to it).
    pub max_ceiling: Duration,
    /// Time kept back from the deadline for building and returning the response.
    pub response_margin: Duration,
    /// Time a version re-check may take while a model is cached.
    pub cached_version_check: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_ceiling: FIRST_RETRY_CEILING,
            max_ceiling: MAX_RETRY_CEILING,
            response_margin: RESPONSE_MARGIN,
            cached_version_check: CACHED_VERSION_CHECK_BUDGET,
        }
    }
}

impl RetryPolicy {
    /// Time left for database calls before `deadline`: to it minus the response margin,
    /// the margin capped at a quarter of the invocation's time (a function with a timeout of
    /// a few seconds still gets most of it for its queries).
    pub fn left(&self, deadline: Deadline) -> Duration {
        deadline
            .at
            .saturating_duration_since(Instant::now())
            .saturating_sub(self.response_margin.min(deadline.margin_cap))
    }
}

/// The time an invocation has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    /// Largest response margin: a quarter of the time the invocation had.
    margin_cap: Duration,
}

impl Deadline {
    /// The invocation must be answered by `at`.
    pub fn at(at: Instant) -> Self {
        Self {
            at,
            margin_cap: at.saturating_duration_since(Instant::now()) / 4,
        }
    }

    /// The invocation must be answered within `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self::at(Instant::now() + budget)
    }

    /// Whichever of the two deadlines comes first (with the margin of this one's invocation).
    pub fn earlier(self, other: Deadline) -> Self {
        Self {
            at: self.at.min(other.at),
            margin_cap: self.margin_cap.max(other.margin_cap),
        }
    }

    /// The deadline the Lambda runtime gives (`Context::deadline`, Unix milliseconds); `None`
    /// when it gives none (0, as in `Context::default()`) or one already past.
    pub fn from_lambda(deadline_ms: u64) -> Option<Self> {
        // A deadline already past when the invocation starts is no real one (Lambda would
        // have ended the invocation; emulators may send such values): the caller's default.
        let at = UNIX_EPOCH + Duration::from_millis(deadline_ms);
        let left = at.duration_since(SystemTime::now()).ok()?;
        (deadline_ms != 0).then(|| Self::after(left))
    }
}

/// What retrying cost an invocation (for its log line and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryCounts {
    /// Calls repeated after the database was unreachable.
    pub retries: u32,
    /// Times the credentials were re-read after the database refused them.
    pub credential_refreshes: u32,
}

/// Runs `call` until it succeeds, retrying [`IndexError::Unavailable`] with full-jitter
/// back-off while `deadline` leaves time (per `policy`), and [`IndexError::Authentication`]
/// once after re-reading the credentials of `index`. Each attempt is cut at the deadline
/// minus the response margin. Other errors return at once.
pub async fn with_retries<I, T, F, Fut>(
    index: &I,
    policy: &RetryPolicy,
    deadline: Deadline,
    what: &'static str,
    counts: &mut RetryCounts,
    mut call: F,
) -> Result<T, IndexError>
where
    I: NeighbourIndex,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, IndexError>>,
{
    let mut ceilings = ExponentialBuilder::default()
        .with_min_delay(policy.first_ceiling)
        .with_factor(2.0)
        .with_max_delay(policy.max_ceiling)
        .without_max_times()
        .build();
    let mut refreshed = false;
    loop {
        let left = policy.left(deadline);
        let result = if left.is_zero() {
            Err(IndexError::Unavailable {
                reason: format!("no time left before the invocation's deadline for {what}"),
            })
        } else {
            tokio::time::timeout(left, call())
                .await
                .unwrap_or_else(|_| {
                    Err(IndexError::Unavailable {
                        reason: format!("{what} did not finish before the invocation's deadline"),
                    })
                })
        };
        match result {
            Ok(value) => return Ok(value),
            Err(IndexError::Authentication { reason }) if !refreshed => {
                refreshed = true;
                counts.credential_refreshes += 1;
                let changed = index.refresh_credentials().await?;
                tracing::warn!(
                    what,
                    changed,
                    error = %reason,
                    "the database refused the credentials; re-read them, retrying"
                );
            }
            Err(error @ IndexError::Unavailable { .. }) => {
                let ceiling = ceilings.next().unwrap_or(policy.max_ceiling);
                let pause = full_jitter(ceiling);
                // Another attempt needs the pause plus some time to run.
                if policy.left(deadline) <= pause + policy.first_ceiling {
                    tracing::warn!(
                        what,
                        retries = counts.retries,
                        error = %error,
                        "database still unreachable and the invocation's deadline is near; giving up"
                    );
                    return Err(error);
                }
                counts.retries += 1;
                tracing::warn!(
                    what,
                    retry = counts.retries,
                    pause_ms = pause.as_millis() as u64,
                    error = %error,
                    "database unreachable, retrying"
                );
                tokio::time::sleep(pause).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// A pause drawn uniformly from `0..=ceiling` ("full jitter"): concurrent invocations that
/// lost the database together do not come back in lockstep.
pub fn full_jitter(ceiling: Duration) -> Duration {
    // RandomState is seeded randomly per instance: enough randomness for a pause.
    let random = RandomState::new().build_hasher().finish();
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(if nanos == 0 { 0 } else { random % (nanos + 1) })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use reco_domain::transform::{KnnAnswer, KnnQuery};

    use super::*;
    use crate::ports::IndexVersion;

    /// The default policy scaled down 100 times, so the tests run in real time.
    const FAST: RetryPolicy = RetryPolicy {
        first_ceiling: Duration::from_millis(1),
        max_ceiling: Duration::from_millis(40),
        response_margin: Duration::from_millis(30),
        cached_version_check: Duration::from_millis(10),
    };

    /// An index whose calls are first refused for credentials `auth_failures` times, then
    /// fail as unreachable `failures` times, then succeed.
    #[derive(Default)]
    struct Flaky {
        calls: AtomicU32,
        failures: u32,
        refreshes: AtomicU32,
        auth_failures: u32,
    }

    impl Flaky {
        async fn call(&self) -> Result<u32, IndexError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.auth_failures {
                return Err(IndexError::Authentication {
                    reason: "password authentication failed".into(),
                });
            }
            if n < self.auth_failures.saturating_add(self.failures) {
                return Err(IndexError::Unavailable {
                    reason: "connection refused".into(),
                });
            }
            Ok(n)
        }
    }

    impl NeighbourIndex for Flaky {
        async fn active_version(&self) -> Result<Option<IndexVersion>, IndexError> {
            Ok(None)
        }
        async fn knn_batch(
            &self,
            _: &IndexVersion,
            _: &[KnnQuery],
            _: usize,
        ) -> Result<Vec<KnnAnswer>, IndexError> {
            Ok(Vec::new())
        }
        async fn refresh_credentials(&self) -> Result<bool, IndexError> {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }
    }

    #[tokio::test]
    async fn unreachable_calls_are_retried_until_they_succeed_within_the_deadline() {
        let index = Flaky {
            failures: 5,
            ..Flaky::default()
        };
        let mut counts = RetryCounts::default();
        let started = Instant::now();
        let deadline = Deadline::after(Duration::from_secs(5));
        let n = with_retries(&index, &FAST, deadline, "k-NN", &mut counts, || {
            index.call()
        })
        .await
        .unwrap();
        assert_eq!(n, 5, "the sixth call succeeds");
        assert_eq!(counts.retries, 5);
        // Pauses are at most 1 + 2 + 4 + 8 + 16 ms (plus scheduling).
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn retries_stop_before_the_deadline_leaving_the_response_margin() {
        let index = Flaky {
            failures: u32::MAX,
            ..Flaky::default()
        };
        let mut counts = RetryCounts::default();
        let budget = Duration::from_millis(400);
        let started = Instant::now();
        let deadline = Deadline::after(budget);
        let err = with_retries(&index, &FAST, deadline, "k-NN", &mut counts, || {
            index.call()
        })
        .await
        .unwrap_err();
        assert!(matches!(err, IndexError::Unavailable { .. }), "{err}");
        let elapsed = started.elapsed();
        assert!(elapsed <= budget - FAST.response_margin, "{elapsed:?}");
        // It kept trying until close to the deadline (pauses are at most 40 ms).
        let floor = budget - FAST.response_margin - FAST.max_ceiling - FAST.first_ceiling;
        assert!(elapsed >= floor, "{elapsed:?} < {floor:?}");
        assert!(counts.retries >= 8, "{counts:?}");
        assert_eq!(index.calls.load(Ordering::SeqCst), counts.retries + 1);
    }

    #[tokio::test]
    async fn a_call_that_hangs_is_cut_at_the_deadline_and_none_starts_without_time() {
        let index = Flaky::default();
        let mut counts = RetryCounts::default();
        let started = Instant::now();
        let budget = Duration::from_millis(200);
        let err = with_retries(
            &index,
            &FAST,
            Deadline::after(budget),
            "k-NN",
            &mut counts,
            || async {
                tokio::time::sleep(Duration::from_secs(3_600)).await;
                Ok::<_, IndexError>(())
            },
        )
        .await
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("did not finish before the invocation's deadline"),
            "{message}"
        );
        assert!(started.elapsed() < budget, "{:?}", started.elapsed());
        let too_late = Deadline::at(Instant::now());
        let err = with_retries(&index, &FAST, too_late, "k-NN", &mut counts, || {
            index.call()
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("no time left"), "{err}");
        assert_eq!(
            index.calls.load(Ordering::SeqCst),
            0,
            "never called without time"
        );
    }

    #[tokio::test]
    async fn refused_credentials_are_re_read_once_then_the_error_stands() {
        let index = Flaky {
            auth_failures: 1,
            ..Flaky::default()
        };
        let mut counts = RetryCounts::default();
        let deadline = Deadline::after(Duration::from_secs(5));
        let n = with_retries(&index, &FAST, deadline, "k-NN", &mut counts, || {
            index.call()
        })
        .await
        .unwrap();
        assert_eq!((n, index.refreshes.load(Ordering::SeqCst)), (1, 1));
        assert_eq!(counts.credential_refreshes, 1);

        let index = Flaky {
            auth_failures: 2,
            ..Flaky::default()
        };
        let err = with_retries(&index, &FAST, deadline, "k-NN", &mut counts, || {
            index.call()
        })
        .await
        .unwrap_err();
        assert!(matches!(err, IndexError::Authentication { .. }), "{err}");
        assert_eq!(
            index.refreshes.load(Ordering::SeqCst),
            1,
            "re-read once only"
        );
    }

    #[test]
    fn deadlines_from_the_runtime_and_jitter_stay_in_bounds() {
        assert_eq!(Deadline::from_lambda(0), None);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let policy = RetryPolicy::default();
        let left = policy.left(Deadline::from_lambda(now_ms + 60_000).unwrap());
        assert!(
            left <= Duration::from_secs(57) && left > Duration::from_secs(56),
            "{left:?}"
        );
        assert_eq!(Deadline::from_lambda(now_ms - 1_000), None);
        // A 3-second function (Lambda's default timeout) keeps a quarter back, not 3 s.
        let short = policy.left(Deadline::from_lambda(now_ms + 3_000).unwrap());
        assert!(short > Duration::from_millis(2_200), "{short:?}");
        let ceiling = Duration::from_millis(400);
        let pauses: Vec<Duration> = (0..200).map(|_| full_jitter(ceiling)).collect();
        assert!(pauses.iter().all(|p| *p <= ceiling));
        assert!(
            pauses.iter().any(|p| *p < ceiling / 4),
            "full jitter reaches near zero"
        );
        assert!(pauses.iter().any(|p| *p > ceiling * 3 / 4));
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }
}
