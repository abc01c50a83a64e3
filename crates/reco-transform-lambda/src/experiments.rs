//! The running A/B experiment as the transform sees it: `experiments/current.json` of the
//! artifacts bucket ([`ExperimentStore`]), read once when the watch starts and then refreshed
//! in the background every [`EXPERIMENT_REFRESH_INTERVAL`], never on a batch's path. A missing
//! object is "no experiment"; a failed read keeps the last known state and logs.
//!
//! At a cold start the first read runs while the database connects and the model loads
//! ([`ExperimentWatch::spawn`]); only answering a batch waits for it
//! ([`ExperimentWatch::ready`]), so a treatment customer is never answered by the control
//! because the state was not read yet.

use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use reco_aws::experiments::{ExperimentStore, ExperimentStoreError};
use reco_domain::experiment::{Experiment, ExperimentState};
use tokio::sync::watch;

/// How often the experiment state is read again: `reco experiment start|share|stop` reaches
/// the transform within this time.
pub const EXPERIMENT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Where the experiment state is read from: [`ExperimentStore`] (the artifacts bucket), or a
/// stand-in in tests.
pub trait ExperimentSource: Send + Sync + 'static {
    /// The current state (no experiment when none was ever started).
    fn read(&self) -> impl Future<Output = Result<ExperimentState, ExperimentStoreError>> + Send;

    /// Where the state lives, for messages.
    fn location(&self) -> String;
}

impl ExperimentSource for ExperimentStore {
    fn read(&self) -> impl Future<Output = Result<ExperimentState, ExperimentStoreError>> + Send {
        ExperimentStore::read(self)
    }

    fn location(&self) -> String {
        self.current_location()
    }
}

type Shared = RwLock<Option<Arc<Experiment>>>;

/// The last known experiment state, kept fresh by a background task while this lives.
#[derive(Debug, Clone)]
pub struct ExperimentWatch {
    current: Arc<Shared>,
    /// `true` once the first read has finished (successfully or not).
    first_read: watch::Receiver<bool>,
}

impl ExperimentWatch {
    /// Starts reading the state from `source` in the background and returns at once: the
    /// first read, then one every `interval` until the watch and its clones are dropped
    /// (a failed read is logged: no experiment until a refresh succeeds). Needs a Tokio
    /// runtime. [`ExperimentWatch::ready`] waits for the first read.
    pub fn spawn(source: impl ExperimentSource, interval: Duration) -> Self {
        let current = Arc::new(RwLock::new(None));
        let (read, first_read) = watch::channel(false);
        let weak = Arc::downgrade(&current);
        tokio::spawn(refresh_loop(source, weak, interval, read));
        Self {
            current,
            first_read,
        }
    }

    /// [`ExperimentWatch::spawn`], returning once the first read has finished.
    pub async fn start(store: ExperimentStore, interval: Duration) -> Self {
        let watch = Self::spawn(store, interval);
        watch.ready().await;
        watch
    }

    /// Waits until the first read of the state has finished (at once afterwards).
    pub async fn ready(&self) {
        let mut first_read = self.first_read.clone();
        // An error means the task ended without reading (the runtime is shutting down):
        // nothing more to wait for.
        let _ = first_read.wait_for(|read| *read).await;
    }

    /// Whether the first read has finished.
    pub fn is_ready(&self) -> bool {
        *self.first_read.borrow()
    }

    /// The running experiment, `None` when none runs (a cheap copy of the cached state;
    /// before the first read finished, `None`: callers that must not miss an experiment
    /// await [`ExperimentWatch::ready`] first).
    pub fn current(&self) -> Option<Arc<Experiment>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

async fn refresh_loop(
    source: impl ExperimentSource,
    current: Weak<Shared>,
    interval: Duration,
    first_read: watch::Sender<bool>,
) {
    let mut first_read = Some((first_read, std::time::Instant::now()));
    loop {
        let Some(shared) = current.upgrade() else {
            return;
        };
        refresh(&source, &shared).await;
        drop(shared);
        if let Some((read, started)) = first_read.take() {
            read.send_replace(true);
            // Logged so that cold-start measurements see when the state was known.
            tracing::info!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                "experiment state read"
            );
        }
        tokio::time::sleep(interval).await;
    }
}

/// Reads the state into `current`; a failed read keeps what `current` holds.
async fn refresh(source: &impl ExperimentSource, current: &Shared) {
    match source.read().await {
        Ok(state) => {
            let next = state.experiment.map(Arc::new);
            let mut held = current.write().unwrap_or_else(|p| p.into_inner());
            if held.as_deref() != next.as_deref() {
                match &next {
                    Some(e) => tracing::info!(
                        experiment = %e.name,
                        control = e.control_model_version.as_deref().unwrap_or("active"),
                        treatment = %e.treatment_model_version,
                        treatment_share = e.treatment_share,
                        "experiment running"
                    ),
                    None => tracing::info!("no experiment running"),
                }
            }
            *held = next;
        }
        Err(error) => tracing::warn!(
            location = %source.location(),
            error = %error,
            "cannot read the experiment state; keeping the last known one"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use reco_aws::Bucket;
    use reco_domain::artifacts::ModelPrefix;

    use super::*;

    /// A state read that takes `delay`, then answers experiment `name` (or none).
    struct SlowSource {
        delay: Duration,
        name: Option<&'static str>,
        fail: bool,
    }

    impl ExperimentSource for SlowSource {
        async fn read(&self) -> Result<ExperimentState, ExperimentStoreError> {
            tokio::time::sleep(self.delay).await;
            if self.fail {
                return Err(reco_aws::StorageError {
                    operation: "get",
                    location: self.location(),
                    kind: reco_aws::storage::StorageErrorKind::Other,
                    reason: "access denied".to_owned(),
                }
                .into());
            }
            let mut state = ExperimentState::none();
            state.experiment = self.name.map(|name| Experiment {
                name: name.to_owned(),
                control_model_version: None,
                treatment_model_version: "v2".to_owned(),
                treatment_share: 0.5,
                started_at: "2026-12-03T10:00:00Z".to_owned(),
                updated_at: "2026-12-03T10:00:00Z".to_owned(),
                started_by: "test".to_owned(),
            });
            Ok(state)
        }

        fn location(&self) -> String {
            "memory://slow/experiments/current.json".to_owned()
        }
    }

    #[tokio::test]
    async fn spawn_returns_at_once_and_ready_waits_for_the_first_read() {
        let started = Instant::now();
        let source = SlowSource {
            delay: Duration::from_millis(200),
            name: Some("ab-1"),
            fail: false,
        };
        let watch = ExperimentWatch::spawn(source, Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_millis(100));
        assert!(!watch.is_ready());
        assert!(watch.current().is_none(), "nothing known before the read");
        watch.ready().await;
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(watch.is_ready());
        assert_eq!(watch.current().unwrap().name, "ab-1");
        // Afterwards at once, for every clone.
        let again = Instant::now();
        watch.clone().ready().await;
        assert!(again.elapsed() < Duration::from_millis(5));
    }

    #[tokio::test]
    async fn a_failed_first_read_is_ready_with_no_experiment() {
        let source = SlowSource {
            delay: Duration::ZERO,
            name: Some("never-read"),
            fail: true,
        };
        let watch = ExperimentWatch::spawn(source, Duration::from_secs(30));
        tokio::time::timeout(Duration::from_secs(1), watch.ready())
            .await
            .expect("a failed first read left the watch waiting");
        assert!(watch.current().is_none());
    }

    #[tokio::test]
    async fn without_an_experiment_the_first_read_is_one_missing_object() {
        // No current.json: "no experiment", known after one GET.
        let store = ExperimentStore::new(Bucket::in_memory("artifacts"), ModelPrefix::default());
        let started = Instant::now();
        let watch = ExperimentWatch::start(store, Duration::from_secs(30)).await;
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
        assert!(watch.is_ready() && watch.current().is_none());
    }
}
