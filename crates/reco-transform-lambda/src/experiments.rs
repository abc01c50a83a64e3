//! The running A/B experiment as the transform sees it: `experiments/current.json` of the
//! artifacts bucket ([`ExperimentStore`]), read once at warm-up and then refreshed in the
//! background every [`EXPERIMENT_REFRESH_INTERVAL`], never on a batch's path. A missing
//! object is "no experiment"; a failed read keeps the last known state and logs.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use reco_aws::experiments::ExperimentStore;
use reco_domain::experiment::Experiment;

/// How often the experiment state is read again: `reco experiment start|share|stop` reaches
/// the transform within this time.
pub const EXPERIMENT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

type Shared = RwLock<Option<Arc<Experiment>>>;

/// The last known experiment state, kept fresh by a background task while this lives.
#[derive(Debug, Clone)]
pub struct ExperimentWatch {
    current: Arc<Shared>,
}

impl ExperimentWatch {
    /// Reads the state from `store` now (a failure is logged: no experiment until a
    /// refresh succeeds), then starts a background task reading it every `interval` until
    /// the watch and its clones are dropped. Needs a Tokio runtime.
    pub async fn start(store: ExperimentStore, interval: Duration) -> Self {
        let current = Arc::new(RwLock::new(None));
        refresh(&store, &current).await;
        let weak = Arc::downgrade(&current);
        tokio::spawn(refresh_loop(store, weak, interval));
        Self { current }
    }

    /// The running experiment, `None` when none runs (a cheap copy of the cached state).
    pub fn current(&self) -> Option<Arc<Experiment>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

async fn refresh_loop(store: ExperimentStore, current: Weak<Shared>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(current) = current.upgrade() else {
            return;
        };
        refresh(&store, &current).await;
    }
}

/// Reads the state into `current`; a failed read keeps what `current` holds.
async fn refresh(store: &ExperimentStore, current: &Shared) {
    match store.read().await {
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
            location = %store.current_location(),
            error = %error,
            "cannot read the experiment state; keeping the last known one"
        ),
    }
}
