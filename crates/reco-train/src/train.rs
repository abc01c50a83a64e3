//! The training step: snapshot rows -> held-out evaluation (a model trained without the test
//! pairs, next to most-popular) -> the full model, named by a version that sorts by time.
//!
//! Plain synchronous CPU work: async callers run it on a blocking thread
//! (`tokio::task::spawn_blocking`), as [`crate::job::run`] does.

use chrono::{DateTime, SecondsFormat, Utc};
use reco_domain::model::ModelArtifact;

use crate::TrainError;
use crate::evaluation::Event;
use crate::gate::{self, Champion, ChampionEvaluation};
use crate::offline::{self, EvalReport};
use crate::snapshot::{self, SnapshotRow};
use crate::towers::{self, TrainConfig, TrainingData};
use crate::tuning::{self, Settings, TuningConfig, TuningReport};

/// What the training step produced: the version, its full model, the search and the held-out
/// evaluation of the challenger and of the champion.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// The version string (`YYYYMMDDTHHMMSSZ-s<seed>`).
    pub version: String,
    /// The full model, trained on every row with the winning settings.
    pub artifact: ModelArtifact,
    /// The hyper-parameter search on the validation split.
    pub tuning: TuningReport,
    /// Held-out evaluation: the evaluation model next to most-popular.
    pub evaluation: EvalReport,
    /// The live version on the same held-out split, when there is one.
    pub champion: Option<ChampionEvaluation>,
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
    Ok((
        snapshot::training_data(&train_rows, source)?,
        events(&test_rows),
    ))
}

/// Held-out rows as test events (snapshots carry no time).
fn events(rows: &[SnapshotRow]) -> Vec<Event> {
    rows.iter()
        .map(|r| Event {
            user: r.customer_number.to_string(),
            item: r.product_code.clone(),
            timestamp: 0.0,
        })
        .collect()
}

/// The search on the validation split of held-out training rows `train_rows`: the same
/// per-customer rule and seed as the held-out split ([`snapshot::holdout`]), applied again.
pub fn tune_rows(
    train_rows: &[SnapshotRow],
    source: &str,
    config: &TrainConfig,
    tuning: &TuningConfig,
) -> TuningReport {
    if !tuning.enabled {
        return tuning::tune_off(config, tuning);
    }
    match holdout_split(train_rows, config.als.seed, source) {
        Ok((data, test)) => tuning::tune(&data, &test, config, tuning),
        Err(e) => tuning::tune_not_possible(config, tuning, format!("no validation split: {e}")),
    }
}

/// The champion measured on the held-out split (`data` trained, `test` scored).
fn evaluate_champion(
    champion: &Champion,
    data: &TrainingData,
    test: &[Event],
) -> Option<ChampionEvaluation> {
    match champion {
        Champion::Absent => None,
        Champion::Unscorable { version, reason } => Some(ChampionEvaluation {
            version: version.clone(),
            settings: None,
            refit: None,
            as_is: None,
            unscorable_reason: Some(reason.clone()),
        }),
        Champion::Live { version, artifact } => {
            let as_is = Some(offline::score_model(artifact, data, test));
            let (settings, refit, unscorable_reason) = match gate::champion_config(artifact) {
                Ok(config) => {
                    tracing::info!(champion = %version, "re-fitting the live version's settings on the held-out split");
                    let refit = towers::fit(data, &config, "champion-refit", "", |_, _| {});
                    (
                        Some(Settings::of(&config)),
                        Some(offline::score_model(&refit, data, test)),
                        None,
                    )
                }
                Err(e) => (
                    None,
                    None,
                    Some(format!("its recorded settings are refused: {e}")),
                ),
            };
            Some(ChampionEvaluation {
                version: version.clone(),
                settings,
                refit,
                as_is,
                unscorable_reason,
            })
        }
    }
}

/// Trains on `rows` (from `source`, named in errors): the search on a validation split of the
/// held-out split's training part, the evaluation model with the winner next to the champion
/// (both on the same held-out pairs), then the full model with the winner as version
/// [`version_string`]`(now_unix, seed)`.
pub fn train(
    rows: &[SnapshotRow],
    source: &str,
    config: &TrainConfig,
    tuning: &TuningConfig,
    champion: &Champion,
    now_unix: u64,
) -> Result<TrainedModel, TrainError> {
    config.validate()?;
    let data = snapshot::training_data(rows, source)?;
    let version = version_string(now_unix, config.als.seed);
    tracing::info!(
        rows = rows.len(),
        customers = data.interactions.users.len(),
        products = data.interactions.items.len(),
        %version,
        "training"
    );

    let (train_rows, test_rows) = snapshot::holdout(rows, config.als.seed);
    let tuning = tune_rows(&train_rows, source, config, tuning);
    for line in tuning::describe(&tuning) {
        tracing::info!("{line}");
    }
    let config = tuning.winner.apply(config);
    let iterations = config.als.iterations;

    let eval_data = snapshot::training_data(&train_rows, source)?;
    let test = events(&test_rows);
    tracing::info!(held_out_pairs = test.len(), "training the evaluation model");
    let mut evaluation = offline::evaluate(&eval_data, &test, &config, |iteration, loss| {
        tracing::info!(
            iteration,
            iterations,
            loss,
            "evaluation model: ALS iteration"
        );
    })
    .report;
    evaluation.test_events = test.len();
    let champion = evaluate_champion(champion, &eval_data, &test);

    tracing::info!("training the full model");
    let started = std::time::Instant::now();
    let artifact = towers::fit(
        &data,
        &config,
        &version,
        &rfc3339(now_unix),
        |iteration, loss| {
            tracing::info!(iteration, iterations, loss, "full model: ALS iteration");
        },
    );
    Ok(TrainedModel {
        version,
        artifact,
        tuning,
        evaluation,
        champion,
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
