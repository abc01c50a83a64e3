//! The training step: snapshot rows -> held-out evaluation (a model trained without the test
//! pairs, next to most-popular) -> the full model, named by a version that sorts by time.
//!
//! Plain synchronous CPU work: async callers run it on a blocking thread
//! (`tokio::task::spawn_blocking`), as [`crate::job::run`] does.

use chrono::{DateTime, SecondsFormat, Utc};
use reco_domain::model::ModelArtifact;

use crate::TrainError;
use crate::evaluation::Event;
use crate::offline::{self, EvalReport};
use crate::snapshot::{self, SnapshotRow};
use crate::towers::{self, TrainConfig, TrainingData};

/// What the training step produced: the version, its full model and the held-out evaluation.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// The version string (`YYYYMMDDTHHMMSSZ-s<seed>`).
    pub version: String,
    /// The full model, trained on every row.
    pub artifact: ModelArtifact,
    /// Held-out evaluation: the evaluation model next to most-popular.
    pub evaluation: EvalReport,
    /// Seconds spent fitting the full model.
    pub full_train_seconds: f64,
}

/// The time a version is named after, in UTC; out-of-range times clamp to the latest
/// representable one.
fn utc(unix_seconds: u64) -> DateTime<Utc> {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A version string that sorts by time: `YYYYMMDDTHHMMSSZ-s<seed>`.
pub fn version_string(unix_seconds: u64, seed: u64) -> String {
    format!("{}-s{seed}", utc(unix_seconds).format("%Y%m%dT%H%M%SZ"))
}

/// The RFC 3339 UTC time (`2026-11-23T02:15:00Z`) of `unix_seconds`.
pub fn rfc3339(unix_seconds: u64) -> String {
    utc(unix_seconds).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The held-out split of snapshot rows (per customer, the last fifth of ratings >= 4 in a
/// seeded order, [`snapshot::holdout`]): training data of the evaluation model and the
/// held-out pairs as test events.
pub fn holdout_split(
    rows: &[SnapshotRow],
    seed: u64,
    source: &str,
) -> Result<(TrainingData, Vec<Event>), TrainError> {
    let (train_rows, test_rows) = snapshot::holdout(rows, seed);
    let test = test_rows
        .iter()
        .map(|r| Event {
            user: r.customer_number.to_string(),
            item: r.product_code.clone(),
            timestamp: 0.0,
        })
        .collect();
    Ok((snapshot::training_data(&train_rows, source)?, test))
}

/// Trains on `rows` (from `source`, named in errors): evaluation model on the held-out split,
/// then the full model as version [`version_string`]`(now_unix, seed)`.
pub fn train(
    rows: &[SnapshotRow],
    source: &str,
    config: &TrainConfig,
    now_unix: u64,
) -> Result<TrainedModel, TrainError> {
    config.validate()?;
    let data = snapshot::training_data(rows, source)?;
    let version = version_string(now_unix, config.als.seed);
    let iterations = config.als.iterations;
    tracing::info!(
        rows = rows.len(),
        customers = data.interactions.users.len(),
        products = data.interactions.items.len(),
        %version,
        "training"
    );

    let (eval_data, test) = holdout_split(rows, config.als.seed, source)?;
    tracing::info!(held_out_pairs = test.len(), "training the evaluation model");
    let mut evaluation = offline::evaluate(&eval_data, &test, config, |iteration, loss| {
        tracing::info!(
            iteration,
            iterations,
            loss,
            "evaluation model: ALS iteration"
        );
    })
    .report;
    evaluation.test_events = test.len();

    tracing::info!("training the full model");
    let started = std::time::Instant::now();
    let artifact = towers::fit(
        &data,
        config,
        &version,
        &rfc3339(now_unix),
        |iteration, loss| {
            tracing::info!(iteration, iterations, loss, "full model: ALS iteration");
        },
    );
    Ok(TrainedModel {
        version,
        artifact,
        evaluation,
        full_train_seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_time_and_name_the_seed() {
        assert_eq!(version_string(1_795_400_100, 7), "20261123T021500Z-s7");
        assert_eq!(version_string(0, 42), "19700101T000000Z-s42");
        // A leap day and the last second of a year.
        assert_eq!(version_string(951_782_400, 1), "20000229T000000Z-s1");
        assert_eq!(version_string(1_704_067_199, 1), "20231231T235959Z-s1");
        assert!(version_string(1_795_400_100, 7) < version_string(1_795_400_101, 7));
        assert_eq!(rfc3339(1_795_400_100), "2026-11-23T02:15:00Z");
    }
}
