//! The training job, shared by `reco train` and the `reco-train-job` Lambda: rows (see
//! [`crate::read`]) -> [`train`](crate::train::train) on a blocking thread (the search, then
//! challenger and champion on the same held-out split) -> quality [`gate`](crate::gate) ->
//! [`publish`](crate::publish)
//! the version, then `LATEST` (last, and only when the gate passed).
//!
//! Layout under the model prefix: `reco_domain::artifacts`. Versions sort by time:
//! `YYYYMMDDTHHMMSSZ-s<seed>`.

use reco_aws::Bucket;
use reco_domain::model::ProductFeatures;
use serde::Serialize;

use crate::TrainError;
use crate::config::JobConfig;
use crate::metrics::{Metrics, peak_memory_kb};
use crate::publish::{self, VersionFile};
use crate::snapshot::Snapshot;
use crate::train::{self, TrainedModel};
use crate::{gate, on_blocking_thread};

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    /// The new version.
    pub model_version: String,
    /// Keys written (LATEST last, when written).
    pub keys: Vec<String>,
    /// The metrics written.
    pub metrics: Metrics,
}

/// Trains on `rows` (a [`Snapshot`], or rating rows: `Vec<SnapshotRow>`; read from `source`)
/// and publishes a new version to `artifacts`; `LATEST` moves only if the gate passes and
/// `config.promote` is set. `now_unix` names the version. Only the snapshot's products get
/// item embeddings ([`run_with_catalogue`] adds the rest).
pub async fn run(
    rows: impl Into<Snapshot>,
    source: String,
    artifacts: &Bucket,
    config: &JobConfig,
    now_unix: u64,
) -> Result<JobReport, TrainError> {
    run_with_catalogue(rows, Vec::new(), source, artifacts, config, now_unix).await
}

/// [`run`], with item embeddings also for the `catalogue` products nobody rated
/// ([`publish::read_catalogue`]), flagged cold.
pub async fn run_with_catalogue(
    rows: impl Into<Snapshot>,
    catalogue: Vec<ProductFeatures>,
    source: String,
    artifacts: &Bucket,
    config: &JobConfig,
    now_unix: u64,
) -> Result<JobReport, TrainError> {
    let snapshot: Snapshot = rows.into();
    let train_config = config.train.clone();
    let tuning = config.tuning.clone();
    // The live version is read first: it is measured on the new snapshot's held-out split.
    let champion = gate::champion(artifacts, &config.model_prefix).await?;
    // Training and encoding are CPU-bound: a blocking thread keeps the runtime responsive.
    let (trained, files): (TrainedModel, Vec<VersionFile>) = on_blocking_thread(move || {
        let trained = train::train(
            &snapshot,
            &source,
            &train_config,
            &tuning,
            &champion,
            now_unix,
        )?;
        let features = snapshot.feature_rows();
        drop(snapshot);
        let files = publish::model_files_with_catalogue(&trained.artifact, &features, &catalogue)?;
        Ok((trained, files))
    })
    .await?;

    let gate = gate::decide(config, &trained.evaluation, trained.champion.as_ref());
    let TrainedModel {
        version,
        artifact,
        tuning,
        evaluation,
        champion,
        full_train_seconds,
    } = trained;
    let metrics = Metrics {
        model_version: version.clone(),
        evaluation,
        tuning: Some(tuning),
        champion,
        gate,
        training: artifact.training,
        full_train_seconds,
        peak_memory_kb: peak_memory_kb(),
    };

    let mut files = files;
    files.push(publish::metrics_file(&metrics));
    let keys = publish::publish(
        artifacts,
        &config.model_prefix,
        &version,
        files,
        metrics.gate.passed && config.promote,
    )
    .await?;
    let location = artifacts.location(&config.model_prefix.version_prefix(&version));
    if metrics.gate.passed && config.promote {
        tracing::info!(%version, %location, reason = %metrics.gate.reason, "published model version; LATEST moved");
    } else if metrics.gate.passed {
        tracing::info!(%version, %location, reason = %metrics.gate.reason, "published model version (accepted; LATEST moves when the run promotes it)");
    } else {
        tracing::warn!(%version, %location, reason = %metrics.gate.reason, "model version REFUSED by the quality gate; LATEST unchanged");
    }
    Ok(JobReport {
        model_version: version,
        keys,
        metrics,
    })
}
