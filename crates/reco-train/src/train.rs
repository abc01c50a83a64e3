//! The training step: a compact snapshot -> held-out evaluation (a model trained without the test
//! pairs, next to most-popular) -> the full model, named by a version that sorts by time.
//!
//! Plain synchronous CPU work: async callers run it on a blocking thread
//! (`tokio::task::spawn_blocking`), as [`crate::job::run`] does.

use chrono::{DateTime, SecondsFormat, Utc};
use reco_domain::model::ModelArtifact;

use crate::TrainError;
use crate::evaluation::Truth;
use crate::gate::{self, Champion, ChampionEvaluation};
use crate::offline::{self, EvalReport};
use crate::snapshot::{Part, Snapshot};
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

/// The search on the validation split of the held-out split's training rows (`holdout`): the
/// same per-customer rule and seed as the held-out split ([`Snapshot::holdout`]), applied
/// again to the rows it trains; the validation data is dropped after the search.
pub fn tune_snapshot(
    snapshot: &Snapshot,
    holdout: &[Part],
    source: &str,
    config: &TrainConfig,
    tuning: &TuningConfig,
) -> TuningReport {
    if !tuning.enabled {
        return tuning::tune_off(config, tuning);
    }
    let validation = snapshot.holdout(config.als.seed, Some(holdout));
    match snapshot.indexed(Some(&validation), source) {
        Ok(v) => tuning::tune(&v.data, &v.truth, config, tuning),
        Err(e) => tuning::tune_not_possible(config, tuning, format!("no validation split: {e}")),
    }
}

/// The champion measured on the held-out split (`data` trained, `test` scored).
fn evaluate_champion(
    champion: &Champion,
    data: &TrainingData,
    test: &Truth,
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
            let as_is = Some(offline::score_model_truth(artifact, data, test));
            let (settings, refit, unscorable_reason) = match gate::champion_config(artifact) {
                Ok(config) => {
                    tracing::info!(champion = %version, "re-fitting the live version's settings on the held-out split");
                    let refit = towers::fit(data, &config, "champion-refit", "", |_, _| {});
                    (
                        Some(Settings::of(&config)),
                        Some(offline::score_model_truth(&refit, data, test)),
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

/// Trains on `snapshot` (from `source`, named in errors): the search on a validation split
/// of the held-out split's training part, the evaluation model with the winner next to the
/// champion (both on the same held-out pairs), then the full model with the winner as version
/// [`version_string`]`(now_unix, seed)`. Each step's training data is built from the compact
/// snapshot and dropped before the next, so the rows plus one step's interactions are what
/// memory holds.
pub fn train(
    snapshot: &Snapshot,
    source: &str,
    config: &TrainConfig,
    tuning: &TuningConfig,
    champion: &Champion,
    now_unix: u64,
) -> Result<TrainedModel, TrainError> {
    config.validate()?;
    if snapshot.is_empty() {
        return Err(TrainError::Empty {
            source_name: source.to_owned(),
            reason: "the snapshot has no rows".to_owned(),
        });
    }
    let version = version_string(now_unix, config.als.seed);
    tracing::info!(
        rows = snapshot.len(),
        events_rows = snapshot.events_rows(),
        customers = snapshot.customers.len(),
        products = snapshot.products.len(),
        %version,
        "training"
    );

    let holdout = snapshot.holdout(config.als.seed, None);
    let tuning = tune_snapshot(snapshot, &holdout, source, config, tuning);
    for line in tuning::describe(&tuning) {
        tracing::info!("{line}");
    }
    let config = tuning.winner.apply(config);
    let iterations = config.als.iterations;

    let (evaluation, champion) = {
        let held = snapshot.indexed(Some(&holdout), source)?;
        drop(holdout);
        tracing::info!(
            held_out_pairs = held.truth.events(),
            "training the evaluation model"
        );
        let evaluation =
            offline::evaluate_truth(&held.data, &held.truth, &config, |iteration, loss| {
                tracing::info!(
                    iteration,
                    iterations,
                    loss,
                    "evaluation model: ALS iteration"
                );
            })
            .report;
        let champion = evaluate_champion(champion, &held.data, &held.truth);
        (evaluation, champion)
    };

    tracing::info!("training the full model");
    let data = snapshot.training_data(source)?;
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
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int8Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use bytes::Bytes;
    use parquet::arrow::ArrowWriter;
    use reco_domain::model::{CustomerFeatures, ProductFeatures};
    use reco_domain::training::{SOURCE_EVENTS, SOURCE_RATING};

    use super::*;
    use crate::snapshot::{SnapshotBuilder, read_parquet, read_parquet_into};

    /// One training row: customer, product, rating, event weight (`Some`: an events row).
    type Row = (i64, u32, Option<i8>, Option<f64>);

    const LINES: [&str; 2] = ["Classic Cars", "Planes"];
    const COUNTRIES: [&str; 2] = ["France", "USA"];

    /// Parquet bytes of `rows` (product `p` is `P{p:02}`, of line `p % 2`; customer `c`'s
    /// country is `c % 2`); without the `source` / `event_weight` columns when `with_source`
    /// is false (a snapshot written before events rows existed).
    fn parquet(rows: &[Row], with_source: bool) -> Bytes {
        let texts = |f: &dyn Fn(&Row) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
        };
        let floats = |f: &dyn Fn(&Row) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
        };
        let mut fields = vec![
            Field::new("customer_number", DataType::Int64, false),
            Field::new("city", DataType::Utf8, false),
            Field::new("country", DataType::Utf8, false),
            Field::new("credit_limit", DataType::Float64, false),
            Field::new("product_code", DataType::Utf8, false),
            Field::new("product_line", DataType::Utf8, false),
            Field::new("product_scale", DataType::Utf8, false),
            Field::new("quantity_in_stock", DataType::Float64, false),
            Field::new("buy_price", DataType::Float64, false),
            Field::new("msrp", DataType::Float64, false),
            Field::new("rating", DataType::Int8, true),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            texts(&|r| format!("City{}", r.0 % 3)),
            texts(&|r| COUNTRIES[(r.0 % 2) as usize].to_owned()),
            floats(&|r| 10_000.0 + r.0 as f64),
            texts(&|r| format!("P{:02}", r.1)),
            texts(&|r| LINES[(r.1 % 2) as usize].to_owned()),
            texts(&|_| "1:18".to_owned()),
            floats(&|r| f64::from(100 + r.1)),
            floats(&|r| f64::from(20 + r.1)),
            floats(&|r| f64::from(40 + r.1)),
            Arc::new(Int8Array::from_iter(rows.iter().map(|r| r.2))),
        ];
        if with_source {
            fields.push(Field::new("source", DataType::Utf8, false));
            fields.push(Field::new("event_weight", DataType::Float64, true));
            columns.push(texts(&|r| {
                if r.3.is_some() {
                    SOURCE_EVENTS
                } else {
                    SOURCE_RATING
                }
                .to_owned()
            }));
            columns.push(Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.3))));
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let mut buffer = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        Bytes::from(buffer)
    }

    /// 40 customers rating 12 of 24 products: their country's line high, the other low.
    fn ratings() -> Vec<Row> {
        let mut rows = Vec::new();
        for c in 0..40i64 {
            for k in 0..12 {
                let p = ((c * 7 + k * 5) % 24) as u32;
                let liked = i64::from(p % 2) == c % 2;
                let rating = if liked {
                    4 + (c + k) % 2
                } else {
                    1 + (c + k) % 2
                };
                rows.push((c + 100, p, Some(rating as i8), None));
            }
        }
        rows
    }

    fn read(rows: &[Row], with_source: bool) -> Snapshot {
        let mut builder = SnapshotBuilder::default();
        read_parquet_into(parquet(rows, with_source), "test.parquet", &mut builder).unwrap();
        builder.build()
    }

    #[test]
    fn a_customer_known_only_by_clicks_gets_an_embedding_and_recommendations_like_them() {
        // Customer 900 (country 0, so features alone say nothing about line 1) never rated:
        // it clicked and bought four line-1 products. Customer 101 also clicked a product it
        // rated (a pair present as both kinds: the weights add up).
        let mut rows = ratings();
        let clicked = [1u32, 5, 9, 13];
        for (k, &p) in clicked.iter().enumerate() {
            rows.push((900, p, None, Some(1.0 + k as f64)));
        }
        let rated_by_101 = rows.iter().find(|r| r.0 == 101).unwrap().1;
        rows.push((101, rated_by_101, None, Some(2.5)));
        let snapshot = read(&rows, true);
        assert_eq!(snapshot.len(), rows.len());
        assert_eq!(snapshot.events_rows(), 5);

        // Events rows are never held out; the held-out pairs are ratings >= 4.
        let parts = snapshot.holdout(42, None);
        for (r, p) in snapshot.rows.iter().zip(&parts) {
            if r.is_events() {
                assert_ne!(*p, Part::Test);
            }
            if *p == Part::Test {
                assert!(r.rating >= 4.0, "{r:?}");
            }
        }
        // An events row of a held-out pair is out of training too.
        let held: Vec<(u32, u32)> = snapshot
            .rows
            .iter()
            .zip(&parts)
            .filter(|(_, p)| **p == Part::Test)
            .map(|(r, _)| (r.customer, r.product))
            .collect();
        for (r, p) in snapshot.rows.iter().zip(&parts) {
            if r.is_events() && held.contains(&(r.customer, r.product)) {
                assert_eq!(*p, Part::Out);
            }
        }

        let full = snapshot.training_data("test").unwrap();
        let m = &full.interactions;
        let u = m.users.iter().position(|c| c == "900").unwrap();
        let (items, weights) = m.by_user.row(u);
        let codes: Vec<&str> = items
            .iter()
            .map(|&i| m.items[i as usize].as_str())
            .collect();
        assert_eq!(codes, ["P01", "P05", "P09", "P13"]);
        assert_eq!(weights, [1.0, 2.0, 3.0, 4.0]);
        // 101's rated-and-clicked pair: its rating's weight plus the event weight.
        let u101 = m.users.iter().position(|c| c == "101").unwrap();
        let i = m
            .items
            .iter()
            .position(|p| *p == format!("P{rated_by_101:02}"))
            .unwrap();
        let (items, weights) = m.by_user.row(u101);
        let w = weights[items.iter().position(|&j| j as usize == i).unwrap()];
        let rating = f64::from(rows.iter().find(|r| r.0 == 101).unwrap().2.unwrap());
        let expected = crate::snapshot::rating_weight(rating).unwrap_or(0.0) + 2.5;
        assert!((f64::from(w) - expected).abs() < 1e-6, "{w} vs {expected}");

        let mut config = TrainConfig::default();
        config.als.factors = 8;
        let off = TuningConfig {
            enabled: false,
            ..TuningConfig::default()
        };
        let trained = train(&snapshot, "test", &config, &off, &Champion::Absent, 0).unwrap();
        assert!(trained.evaluation.test_events > 0);
        let artifact = &trained.artifact;
        assert!(artifact.knows_customer(900));
        let user = artifact.embed_customer(&CustomerFeatures {
            customer_number: Some(900),
            city: Some("City0".into()),
            country: Some(COUNTRIES[0].into()),
            credit_limit: Some(10_900.0),
        });
        let score = |p: u32| -> f32 {
            let item = artifact.embed_product(&ProductFeatures {
                product_code: Some(format!("P{p:02}")),
                product_line: Some(LINES[(p % 2) as usize].into()),
                product_scale: Some("1:18".into()),
                quantity_in_stock: Some(f64::from(100 + p)),
                buy_price: Some(f64::from(20 + p)),
                msrp: Some(f64::from(40 + p)),
            });
            item.iter().zip(&user).map(|(a, b)| a * b).sum()
        };
        // Its top 5 unseen products are all of the line it clicked.
        let mut unseen: Vec<u32> = (0..24).filter(|p| !clicked.contains(p)).collect();
        unseen.sort_by(|a, b| score(*b).total_cmp(&score(*a)));
        assert!(unseen[..5].iter().all(|p| p % 2 == 1), "{unseen:?}");
    }

    #[test]
    fn a_snapshot_without_source_columns_is_all_ratings() {
        let rows = ratings();
        let snapshot = read(&rows, false);
        assert_eq!((snapshot.len(), snapshot.events_rows()), (rows.len(), 0));
        let mut legacy = Vec::new();
        read_parquet(parquet(&rows, false), "old.parquet", &mut legacy).unwrap();
        assert_eq!(legacy.len(), rows.len());
        let from_rows = Snapshot::from_rows(&legacy);
        let (a, b) = (
            snapshot.training_data("t").unwrap(),
            from_rows.training_data("t").unwrap(),
        );
        assert_eq!(a.interactions.users, b.interactions.users);
        assert_eq!(
            a.interactions.by_user.weights,
            b.interactions.by_user.weights
        );
        assert_eq!(a.user_features, b.user_features);
        assert_eq!(snapshot.holdout(7, None), from_rows.holdout(7, None));
        // The legacy row reader leaves events rows out.
        let mut with_events = rows.clone();
        with_events.push((900, 1, None, Some(1.0)));
        let mut legacy = Vec::new();
        read_parquet(parquet(&with_events, true), "new.parquet", &mut legacy).unwrap();
        assert_eq!(legacy.len(), rows.len());
    }

    #[test]
    fn an_events_row_without_a_positive_weight_is_refused_naming_the_row() {
        let mut rows = ratings();
        rows.push((900, 1, None, Some(0.0)));
        let mut builder = SnapshotBuilder::default();
        let err = read_parquet_into(parquet(&rows, true), "bad.parquet", &mut builder)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.parquet") && err.contains("event_weight 0"),
            "{err}"
        );
    }

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
