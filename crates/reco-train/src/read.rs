//! Reading training rows: the newest snapshot in the data lake, a snapshot's Parquet files
//! (through its manifest when there is one), or local Parquet files.
//!
//! Objects are fetched on the async runtime; Parquet decoding, which is CPU work, runs on a
//! blocking thread.

use std::path::Path;

use bytes::Bytes;
use reco_aws::Bucket;
use reco_domain::training::{MANIFEST_FILE, TRAINING_PREFIX};
use serde::Deserialize;

use crate::TrainError;
use crate::snapshot::{self, SnapshotRow};

#[derive(Deserialize)]
struct Manifest {
    files: Vec<ManifestFile>,
}

#[derive(Deserialize)]
struct ManifestFile {
    key: String,
}

/// Key prefix of a snapshot's folder (`training_ratings/snapshot=DATE/`).
fn snapshot_prefix(date: &str) -> String {
    format!("{TRAINING_PREFIX}/snapshot={date}/")
}

/// The newest snapshot date in the data lake (`training_ratings/snapshot=YYYY-MM-DD/`).
pub async fn newest_snapshot(lake: &Bucket) -> Result<String, TrainError> {
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
/// directly under `snapshot=DATE/`. Returns the rows and the snapshot's location.
pub async fn read_snapshot(
    lake: &Bucket,
    date: &str,
) -> Result<(Vec<SnapshotRow>, String), TrainError> {
    let prefix = snapshot_prefix(date);
    let source = lake.location(&prefix);
    let manifest_key = format!("{prefix}{MANIFEST_FILE}");
    let files: Vec<String> = match lake.get_opt(&manifest_key).await? {
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
        let location = lake.location(key);
        let body = lake
            .get_opt(key)
            .await?
            .ok_or_else(|| TrainError::Malformed {
                source_name: location.clone(),
                line: 0,
                reason: "listed by the snapshot but missing".to_owned(),
            })?;
        let part = crate::on_blocking_thread(move || decode(body, &location)).await?;
        rows.extend(part);
    }
    tracing::info!(
        rows = rows.len(),
        files = files.len(),
        snapshot = %source,
        "read training snapshot"
    );
    Ok((rows, source))
}

fn decode(body: Bytes, location: &str) -> Result<Vec<SnapshotRow>, TrainError> {
    let mut rows = Vec::new();
    snapshot::read_parquet(body, location, &mut rows)?;
    Ok(rows)
}

/// Reads a local Parquet file, or every `.parquet` file directly inside a folder (blocking:
/// call it from a blocking thread in async code).
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
    tracing::info!(rows = rows.len(), files = files.len(), path = %path.display(), "read local training rows");
    Ok(rows)
}
