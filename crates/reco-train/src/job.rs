//! The training job: snapshot -> held-out evaluation -> full model -> a new model version on
//! the artifacts store -> `LATEST` (last, and only when the quality gate passes).
//!
//! Layout under the model prefix (`models/` by default): `<version>/item_embeddings.csv`,
//! `user_embeddings.csv` (header `id,embedding`, pgvector literals), the same as `.parquet`,
//! `model.json` (the artifact, `reco_domain::model`) and `metrics.json`; then `LATEST` holds
//! the version string. Versions sort by time: `YYYYMMDDTHHMMSSZ-s<seed>`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use reco_domain::model::{self, CustomerFeatures, ModelArtifact, ProductFeatures};
use serde::{Deserialize, Serialize};

use reco_domain::training::{MANIFEST_FILE, TRAINING_PREFIX};

use crate::TrainError;
use crate::evaluation::{Event, RankingMetrics};
use crate::offline::{self, EvalReport};
use crate::snapshot::{self, SnapshotRow};
use crate::store::ObjectStore;
use crate::towers::{self, TrainConfig};

pub use reco_domain::artifacts::LATEST_FILE;
use reco_domain::artifacts::{
    ITEM_EMBEDDINGS_CSV, ITEM_EMBEDDINGS_PARQUET, METRICS_FILE, MODEL_FILE, ModelPrefix,
    USER_EMBEDDINGS_CSV, USER_EMBEDDINGS_PARQUET,
};
/// Default largest relative nDCG@10 drop against the previous good version before a model is
/// refused: 10% absorbs day-to-day split noise, not a broken model.
pub const DEFAULT_MAX_NDCG_DROP: f64 = 0.10;
/// Default lowest accepted nDCG@10 (0: only the relative gate applies).
pub const DEFAULT_MIN_NDCG: f64 = 0.0;

/// Settings of a job run.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Model hyper-parameters.
    pub train: TrainConfig,
    /// Key prefix of model versions, ending in `/` (or empty).
    pub model_prefix: String,
    /// Lowest accepted held-out nDCG@10.
    pub min_ndcg: f64,
    /// Largest accepted relative drop of nDCG@10 against the previous good version.
    pub max_ndcg_drop: Option<f64>,
}

/// Outcome of the quality gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Whether `LATEST` was (or would be) moved to this version.
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
    /// nDCG@10 of the previous good version, if there was one.
    pub previous_ndcg_at_10: Option<f64>,
    /// The previous good version, if any.
    pub previous_version: Option<String>,
}

/// `metrics.json`: what the run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    /// The version these metrics belong to.
    pub model_version: String,
    /// Held-out evaluation: model next to most-popular.
    pub evaluation: EvalReport,
    /// The quality gate.
    pub gate: Gate,
    /// Training metadata of the full model.
    pub training: model::TrainingMetadata,
    /// Seconds spent fitting the full model.
    pub full_train_seconds: f64,
    /// Peak resident memory of the process (kB, Linux `VmHWM`), when known.
    pub peak_memory_kb: Option<u64>,
}

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

/// Peak resident memory of this process in kB (Linux), `None` elsewhere.
pub fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A version string that sorts by time: `YYYYMMDDTHHMMSSZ-s<seed>`.
pub fn version_string(unix_seconds: u64, seed: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z-s{seed}",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// RFC 3339 UTC time from a version string's timestamp part.
fn rfc3339(version: &str) -> String {
    let t = &version[..16];
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..15]
    )
}

#[derive(Deserialize)]
struct Manifest {
    files: Vec<ManifestFile>,
}

#[derive(Deserialize)]
struct ManifestFile {
    key: String,
}

/// The newest snapshot date in the data lake (`training_ratings/snapshot=YYYY-MM-DD/`).
pub async fn newest_snapshot(lake: &dyn ObjectStore) -> Result<String, TrainError> {
    let keys = lake.list(&format!("{TRAINING_PREFIX}/snapshot=")).await?;
    keys.iter()
        .filter_map(|k| {
            k.strip_prefix(TRAINING_PREFIX)?
                .strip_prefix("/snapshot=")?
                .split('/')
                .next()
        })
        .max()
        .map(str::to_owned)
        .ok_or_else(|| TrainError::Empty {
            source_name: lake.location(&format!("{TRAINING_PREFIX}/")),
            reason: "no snapshot=YYYY-MM-DD partitions".to_owned(),
        })
}

/// Reads a snapshot's rows: the files its manifest names, or (no manifest) the Parquet files
/// directly under `snapshot=DATE/`.
pub async fn read_snapshot(
    lake: &dyn ObjectStore,
    date: &str,
) -> Result<(Vec<SnapshotRow>, String), TrainError> {
    let prefix = format!("{TRAINING_PREFIX}/snapshot={date}/");
    let source = lake.location(&prefix);
    let manifest_key = format!("{prefix}{MANIFEST_FILE}");
    let files: Vec<String> = match lake.get(&manifest_key).await? {
        Some(body) => {
            let manifest: Manifest =
                serde_json::from_slice(&body).map_err(|e| TrainError::Malformed {
                    source_name: lake.location(&manifest_key),
                    line: e.line(),
                    reason: format!("not a snapshot manifest: {e}"),
                })?;
            manifest.files.into_iter().map(|f| f.key).collect()
        }
        None => lake
            .list(&prefix)
            .await?
            .into_iter()
            .filter(|k| k.ends_with(".parquet") && !k[prefix.len()..].contains('/'))
            .collect(),
    };
    if files.is_empty() {
        return Err(TrainError::Empty {
            source_name: source,
            reason: "no Parquet files in the snapshot".to_owned(),
        });
    }
    let mut rows = Vec::new();
    for key in &files {
        let body = lake.get(key).await?.ok_or_else(|| TrainError::Malformed {
            source_name: lake.location(key),
            line: 0,
            reason: "listed by the snapshot but missing".to_owned(),
        })?;
        snapshot::read_parquet(body, &lake.location(key), &mut rows)?;
    }
    eprintln!(
        "train: read {} rows from {} file(s) of {source}",
        rows.len(),
        files.len()
    );
    Ok((rows, source))
}

/// Reads a local Parquet file, or every `.parquet` file directly inside a folder.
pub fn read_local(path: &Path) -> Result<Vec<SnapshotRow>, TrainError> {
    let io = |source| TrainError::Io {
        path: path.display().to_string(),
        source,
    };
    let files = if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    if files.is_empty() {
        return Err(TrainError::Empty {
            source_name: path.display().to_string(),
            reason: "no .parquet files in the folder".to_owned(),
        });
    }
    let mut rows = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| TrainError::Io {
            path: file.display().to_string(),
            source,
        })?;
        snapshot::read_parquet(Bytes::from(bytes), &file.display().to_string(), &mut rows)?;
    }
    Ok(rows)
}

fn csv_field(id: &str) -> String {
    if id.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", id.replace('"', "\"\""))
    } else {
        id.to_owned()
    }
}

/// `id,embedding` CSV with pgvector literals.
pub fn embeddings_csv(rows: &[(String, Vec<f32>)]) -> Bytes {
    let mut out = String::from("id,embedding\n");
    for (id, e) in rows {
        out.push_str(&csv_field(id));
        out.push_str(",\"");
        out.push_str(&model::pgvector_literal(e));
        out.push_str("\"\n");
    }
    Bytes::from(out)
}

/// Parquet with `id` (Int64 for users, Utf8 for items) and `embedding` (FixedSizeList<Float32>).
pub fn embeddings_parquet(ids: ArrayRef, embeddings: &[Vec<f32>], dim: usize) -> Bytes {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let values = Float32Array::from_iter_values(embeddings.iter().flatten().copied());
    let list = FixedSizeListArray::new(item.clone(), dim as i32, Arc::new(values), None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", ids.data_type().clone(), false),
        Field::new(
            "embedding",
            DataType::FixedSizeList(item, dim as i32),
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![ids, Arc::new(list)])
        .expect("columns match the schema");
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, schema, None).expect("in-memory writer");
    writer.write(&batch).expect("in-memory write");
    writer.close().expect("in-memory close");
    Bytes::from(buffer)
}

/// Embeds every known customer with `embed_customer` (what the Lambda computes).
pub fn user_embeddings(artifact: &ModelArtifact, rows: &[SnapshotRow]) -> Vec<(i64, Vec<f32>)> {
    let mut first: std::collections::BTreeMap<i64, &SnapshotRow> = Default::default();
    for r in rows {
        first.entry(r.customer_number).or_insert(r);
    }
    first
        .into_values()
        .map(|r| {
            let features = CustomerFeatures {
                customer_number: Some(r.customer_number),
                city: r.city.clone(),
                country: r.country.clone(),
                credit_limit: r.credit_limit,
            };
            (r.customer_number, artifact.embed_customer(&features))
        })
        .collect()
}

/// Embeds every known product with `embed_product`.
pub fn item_embeddings(artifact: &ModelArtifact, rows: &[SnapshotRow]) -> Vec<(String, Vec<f32>)> {
    let mut first: std::collections::BTreeMap<&str, &SnapshotRow> = Default::default();
    for r in rows {
        first.entry(&r.product_code).or_insert(r);
    }
    first
        .into_values()
        .map(|r| {
            let features = ProductFeatures {
                product_code: Some(r.product_code.clone()),
                product_line: r.product_line.clone(),
                product_scale: r.product_scale.clone(),
                quantity_in_stock: r.quantity_in_stock,
                buy_price: r.buy_price,
                msrp: r.msrp,
            };
            (r.product_code.clone(), artifact.embed_product(&features))
        })
        .collect()
}

async fn previous(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Option<(String, f64)>, TrainError> {
    let prefix = ModelPrefix::new(prefix);
    let Some(latest) = store.get(&prefix.latest_key()).await? else {
        return Ok(None);
    };
    let version = String::from_utf8_lossy(&latest).trim().to_owned();
    let key = prefix.key(&version, METRICS_FILE);
    let Some(body) = store.get(&key).await? else {
        return Ok(None);
    };
    let metrics: Metrics = serde_json::from_slice(&body).map_err(|e| TrainError::Malformed {
        source_name: store.location(&key),
        line: e.line(),
        reason: format!("previous metrics unreadable: {e}"),
    })?;
    Ok(Some((version, metrics.evaluation.model.ndcg_at_10)))
}

fn gate(config: &JobConfig, metrics: &RankingMetrics, previous: Option<(String, f64)>) -> Gate {
    let ndcg = metrics.ndcg_at_10;
    let (previous_version, previous_ndcg) = match previous {
        Some((v, n)) => (Some(v), Some(n)),
        None => (None, None),
    };
    let mut gate = Gate {
        passed: true,
        reason: String::new(),
        previous_ndcg_at_10: previous_ndcg,
        previous_version,
    };
    if metrics.users == 0 {
        gate.reason =
            "no held-out customers (none has 5 ratings >= 4): gate not applicable".to_owned();
    } else if ndcg < config.min_ndcg {
        gate.passed = false;
        gate.reason = format!("nDCG@10 {ndcg:.4} is below the minimum {}", config.min_ndcg);
    } else if let (Some(prev), Some(drop)) = (previous_ndcg, config.max_ndcg_drop)
        && ndcg < prev * (1.0 - drop)
    {
        gate.passed = false;
        gate.reason = format!(
            "nDCG@10 {ndcg:.4} is more than {:.0}% below the previous good version's {prev:.4}",
            drop * 100.0
        );
    } else {
        gate.reason = format!("nDCG@10 {ndcg:.4} accepted");
    }
    gate
}

/// Trains on `rows` and publishes a new version to `store`; `LATEST` moves only if the gate
/// passes. `now_unix` names the version.
pub async fn run(
    rows: &[SnapshotRow],
    source: &str,
    store: &dyn ObjectStore,
    config: &JobConfig,
    now_unix: u64,
) -> Result<JobReport, TrainError> {
    config.train.validate()?;
    let data = snapshot::training_data(rows, source)?;
    let version = version_string(now_unix, config.train.als.seed);
    eprintln!(
        "train: {} rows, {} customers x {} products; version {version}",
        rows.len(),
        data.interactions.users.len(),
        data.interactions.items.len()
    );

    // Held-out evaluation on a model trained without the test pairs.
    let (train_rows, test_rows) = snapshot::holdout(rows, config.train.als.seed);
    let test: Vec<Event> = test_rows
        .iter()
        .map(|r| Event {
            user: r.customer_number.to_string(),
            item: r.product_code.clone(),
            timestamp: 0.0,
        })
        .collect();
    let eval_data = snapshot::training_data(&train_rows, source)?;
    eprintln!("train: evaluation model ({} held-out pairs)", test.len());
    let mut eval = offline::evaluate(&eval_data, &test, &config.train, |i, loss| {
        eprintln!(
            "train: eval iteration {i}/{} loss {loss:.4}",
            config.train.als.iterations
        )
    })
    .report;
    eval.test_events = test.len();

    eprintln!("train: full model");
    let started = std::time::Instant::now();
    let artifact = towers::fit(
        &data,
        &config.train,
        &version,
        &rfc3339(&version),
        |i, loss| {
            eprintln!(
                "train: iteration {i}/{} loss {loss:.4}",
                config.train.als.iterations
            )
        },
    );
    let full_train_seconds = started.elapsed().as_secs_f64();

    let prefix = &config.model_prefix;
    let previous = previous(store, prefix).await?;
    let gate = gate(config, &eval.model, previous);
    let metrics = Metrics {
        model_version: version.clone(),
        evaluation: eval,
        gate,
        training: artifact.training.clone(),
        full_train_seconds,
        peak_memory_kb: peak_memory_kb(),
    };

    let users = user_embeddings(&artifact, rows);
    let items = item_embeddings(&artifact, rows);
    let dim = artifact.dim;
    let user_ids: ArrayRef = Arc::new(Int64Array::from_iter_values(users.iter().map(|u| u.0)));
    let user_vecs: Vec<Vec<f32>> = users.iter().map(|u| u.1.clone()).collect();
    let item_ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        items.iter().map(|i| i.0.as_str()),
    ));
    let item_vecs: Vec<Vec<f32>> = items.iter().map(|i| i.1.clone()).collect();
    let users_text: Vec<(String, Vec<f32>)> = users
        .into_iter()
        .map(|(id, e)| (id.to_string(), e))
        .collect();

    let objects: Vec<(&str, Bytes, &str)> = vec![
        (ITEM_EMBEDDINGS_CSV, embeddings_csv(&items), "text/csv"),
        (USER_EMBEDDINGS_CSV, embeddings_csv(&users_text), "text/csv"),
        (
            ITEM_EMBEDDINGS_PARQUET,
            embeddings_parquet(item_ids, &item_vecs, dim),
            "application/vnd.apache.parquet",
        ),
        (
            USER_EMBEDDINGS_PARQUET,
            embeddings_parquet(user_ids, &user_vecs, dim),
            "application/vnd.apache.parquet",
        ),
        (
            MODEL_FILE,
            Bytes::from(artifact.to_json_vec()?),
            "application/json",
        ),
        (
            METRICS_FILE,
            Bytes::from(serde_json::to_vec_pretty(&metrics).expect("metrics serialise")),
            "application/json",
        ),
    ];
    let layout = ModelPrefix::new(prefix);
    let mut keys = Vec::new();
    for (name, body, content_type) in objects {
        let key = layout.key(&version, name);
        store.put(&key, body, content_type).await?;
        keys.push(key);
    }
    if metrics.gate.passed {
        let key = layout.latest_key();
        store
            .put(&key, Bytes::from(version.clone()), "text/plain")
            .await?;
        keys.push(key);
        eprintln!(
            "train: published {} ({})",
            store.location(&layout.version_prefix(&version)),
            metrics.gate.reason
        );
    } else {
        eprintln!(
            "train: REFUSED {version}: {}; LATEST unchanged",
            metrics.gate.reason
        );
    }
    Ok(JobReport {
        model_version: version,
        keys,
        metrics,
    })
}

/// The job's configuration from settings (`RECO_MODEL_PREFIX`, `RECO_TRAIN_*`).
pub fn config_from_settings(
    settings: &reco_domain::Settings,
) -> Result<JobConfig, reco_domain::SettingsError> {
    use crate::als;
    use reco_domain::settings::{DEFAULT_MODEL_PREFIX, var};
    let train = TrainConfig {
        als: als::AlsConfig {
            factors: settings.parse_or(var::RECO_TRAIN_FACTORS, als::DEFAULT_FACTORS)?,
            iterations: settings.parse_or(var::RECO_TRAIN_ITERATIONS, als::DEFAULT_ITERATIONS)?,
            regularization: settings
                .parse_or(var::RECO_TRAIN_REGULARIZATION, als::DEFAULT_REGULARIZATION)?,
            alpha: settings.parse_or(var::RECO_TRAIN_ALPHA, als::DEFAULT_ALPHA)?,
            seed: settings.parse_or(var::RECO_TRAIN_SEED, als::DEFAULT_SEED)?,
        },
        feature_regularization: towers::DEFAULT_FEATURE_REGULARIZATION,
    };
    let drop: f64 = settings.parse_or(var::RECO_TRAIN_MAX_NDCG_DROP, DEFAULT_MAX_NDCG_DROP)?;
    Ok(JobConfig {
        train,
        model_prefix: ModelPrefix::new(
            settings
                .get(var::RECO_MODEL_PREFIX)
                .unwrap_or(DEFAULT_MODEL_PREFIX),
        )
        .as_str()
        .to_owned(),
        min_ndcg: settings.parse_or(var::RECO_TRAIN_MIN_NDCG, DEFAULT_MIN_NDCG)?,
        max_ndcg_drop: (drop < 1.0).then_some(drop),
    })
}
