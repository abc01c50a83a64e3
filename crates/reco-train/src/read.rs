//! Reading training rows: the newest snapshot in the data lake, a snapshot's Parquet files
//! (through its manifest when there is one), or local Parquet files.
//!
//! Objects are fetched on the async runtime; Parquet decoding, which is CPU work, runs on a
//! blocking thread. Split files can be read straight into compact interactions
//! ([`read_split_interactions`]).

use std::path::Path;

use bytes::Bytes;
use reco_aws::Bucket;
use reco_domain::training::{
    self, SnapshotDate, SnapshotDateError, SnapshotError, TRAINING_PREFIX,
};

use crate::TrainError;
use crate::interactions::{Interactions, InteractionsBuilder};
use crate::snapshot::{self, Snapshot, SnapshotBuilder, SnapshotRow};

/// The newest readable snapshot in the data lake (`training_ratings/snapshot=YYYY-MM-DD/`):
/// published by the ETL (its manifest exists) or written by hand; a newer snapshot whose ETL
/// run never published is passed over.
pub async fn newest_snapshot(lake: &Bucket) -> Result<String, TrainError> {
    let keys = lake.list(&training::snapshots_listing_prefix()).await?;
    training::newest_readable_snapshot(keys.iter().map(String::as_str))
        .map(|d| d.to_string())
        .ok_or_else(|| TrainError::Empty {
            source_name: lake.location(&format!("{TRAINING_PREFIX}/")),
            reason: "no snapshot=YYYY-MM-DD partition published yet: run `reco etl` first"
                .to_owned(),
        })
}

/// The Parquet files of a snapshot: the files its manifest names, or (no manifest) the
/// Parquet files directly under `snapshot=DATE/`. Returns the keys and the snapshot's location.
async fn snapshot_files(lake: &Bucket, date: &str) -> Result<(Vec<String>, String), TrainError> {
    let snapshot: SnapshotDate =
        date.parse()
            .map_err(|e: SnapshotDateError| TrainError::Malformed {
                source_name: lake.location(&format!("{TRAINING_PREFIX}/")),
                line: 0,
                reason: e.to_string(),
            })?;
    let prefix = training::snapshot_prefix(snapshot);
    let source = lake.location(&prefix);
    let manifest = lake.get_opt(&training::manifest_key(snapshot)).await?;
    let listing = match manifest {
        Some(_) => Vec::new(),
        None => lake.list(&prefix).await?,
    };
    let files = training::snapshot_parts(
        snapshot,
        manifest.as_deref(),
        listing.iter().map(String::as_str),
    )
    .map_err(|e| match e {
        SnapshotError::BadManifest { key, reason } => TrainError::Malformed {
            source_name: lake.location(&key),
            line: 0,
            reason: format!("not a snapshot manifest: {reason}"),
        },
        SnapshotError::NoParts { .. } => TrainError::Empty {
            source_name: source.clone(),
            reason: e.to_string(),
        },
    })?;
    Ok((files, source))
}

/// The body of a snapshot's part `key` and its location.
async fn part(lake: &Bucket, key: &str) -> Result<(Bytes, String), TrainError> {
    let location = lake.location(key);
    let body = lake
        .get_opt(key)
        .await?
        .ok_or_else(|| TrainError::Malformed {
            source_name: location.clone(),
            line: 0,
            reason: "listed by the snapshot but missing".to_owned(),
        })?;
    Ok((body, location))
}

/// Reads a snapshot's rating rows as [`SnapshotRow`]s (events rows are checked and left out:
/// [`read_training_snapshot`] reads both kinds, compactly): the files its manifest names, or
/// (no manifest) the Parquet files directly under `snapshot=DATE/`. Returns the rows and the
/// snapshot's location.
pub async fn read_snapshot(
    lake: &Bucket,
    date: &str,
) -> Result<(Vec<SnapshotRow>, String), TrainError> {
    let (files, source) = snapshot_files(lake, date).await?;
    let mut rows = Vec::new();
    for key in &files {
        let (body, location) = part(lake, key).await?;
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

/// Reads a snapshot, rating and events rows, straight into a compact [`Snapshot`] (16 bytes a
/// row; Parquet decoded one part at a time on a blocking thread): what training reads.
/// Returns the snapshot and its location.
pub async fn read_training_snapshot(
    lake: &Bucket,
    date: &str,
) -> Result<(Snapshot, String), TrainError> {
    let (files, source) = snapshot_files(lake, date).await?;
    let mut builder = SnapshotBuilder::default();
    for key in &files {
        let (body, location) = part(lake, key).await?;
        builder = crate::on_blocking_thread(move || {
            snapshot::read_parquet_into(body, &location, &mut builder)?;
            Ok(builder)
        })
        .await?;
    }
    let snapshot = builder.build();
    tracing::info!(
        rows = snapshot.len(),
        events_rows = snapshot.events_rows(),
        files = files.len(),
        snapshot = %source,
        "read training snapshot"
    );
    Ok((snapshot, source))
}

fn decode(body: Bytes, location: &str) -> Result<Vec<SnapshotRow>, TrainError> {
    let mut rows = Vec::new();
    snapshot::read_parquet(body, location, &mut rows)?;
    Ok(rows)
}

/// A local Parquet file, or every `.parquet` file directly inside a folder, sorted.
fn local_files(path: &Path) -> Result<Vec<std::path::PathBuf>, TrainError> {
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
    Ok(files)
}

fn read_file(file: &Path) -> Result<Bytes, TrainError> {
    std::fs::read(file)
        .map(Bytes::from)
        .map_err(|source| TrainError::Io {
            path: file.display().to_string(),
            source,
        })
}

/// Reads the rating rows of a local Parquet file, or of every `.parquet` file directly inside
/// a folder (blocking: call it from a blocking thread in async code); events rows are left
/// out ([`read_local_snapshot`] reads both kinds).
pub fn read_local(path: &Path) -> Result<Vec<SnapshotRow>, TrainError> {
    let files = local_files(path)?;
    let mut rows = Vec::new();
    for file in &files {
        snapshot::read_parquet(read_file(file)?, &file.display().to_string(), &mut rows)?;
    }
    tracing::info!(rows = rows.len(), files = files.len(), path = %path.display(), "read local training rows");
    Ok(rows)
}

/// Reads a local Parquet file, or every `.parquet` file directly inside a folder, rating and
/// events rows, into a compact [`Snapshot`] (blocking).
pub fn read_local_snapshot(path: &Path) -> Result<Snapshot, TrainError> {
    let files = local_files(path)?;
    let mut builder = SnapshotBuilder::default();
    for file in &files {
        snapshot::read_parquet_into(read_file(file)?, &file.display().to_string(), &mut builder)?;
    }
    let snapshot = builder.build();
    tracing::info!(rows = snapshot.len(), events_rows = snapshot.events_rows(), files = files.len(), path = %path.display(), "read local training rows");
    Ok(snapshot)
}

/// Reads a split file (`user_id,item_id,timestamp`, the format of `files::read_split`) straight
/// into interactions, weight 1 per row: one reused record buffer and 12 bytes per row, no
/// string per row (blocking). Returns the interactions and the rows read.
pub fn read_split_interactions(path: &Path) -> Result<(Interactions, u64), TrainError> {
    let mut builder = InteractionsBuilder::default();
    let rows = for_each_split_event(path, |user, item, _| builder.push(user, item, 1.0))?;
    if builder.is_empty() {
        return Err(TrainError::Empty {
            source_name: path.display().to_string(),
            reason: "the training split has no events".to_owned(),
        });
    }
    Ok((builder.build(), rows))
}

/// Streams the events of a split file (`user_id,item_id,timestamp`, ids may be quoted) to
/// `on_event` as `(user, item, timestamp)`, through one reused record buffer (blocking): the
/// one parser behind [`read_split_interactions`] and `SplitEvents::read`, so both check a file
/// alike. Blank lines are skipped; a bad header, field count, empty id or timestamp is an
/// error naming its line. Returns the events read.
pub(crate) fn for_each_split_event(
    path: &Path,
    mut on_event: impl FnMut(&str, &str, f64),
) -> Result<u64, TrainError> {
    let source_name = path.display().to_string();
    let malformed = |line: u64, reason: String| TrainError::Malformed {
        source_name: source_name.clone(),
        line: line as usize,
        reason,
    };
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        let reason = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(source) => TrainError::Io {
                path: source_name.clone(),
                source,
            },
            _ => malformed(line, reason),
        }
    };
    let file = std::fs::File::open(path).map_err(|source| TrainError::Io {
        path: source_name.clone(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record).map_err(csv_error)? {
        return Err(malformed(1, "empty file, expected a header".to_owned()));
    }
    let header = record.iter().collect::<Vec<_>>().join(",");
    if header.trim() != crate::files::SPLIT_HEADER {
        return Err(malformed(
            1,
            format!(
                "header is {header:?}, expected {:?}",
                crate::files::SPLIT_HEADER
            ),
        ));
    }
    let mut events = 0u64;
    while reader.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != 3 {
            return Err(malformed(
                line,
                format!("expected 3 fields, found {}", record.len()),
            ));
        }
        let (user, item, timestamp) = (&record[0], &record[1], &record[2]);
        if user.is_empty() || item.is_empty() {
            return Err(malformed(line, "empty user_id or item_id".to_owned()));
        }
        let timestamp = timestamp
            .trim()
            .parse::<f64>()
            .map_err(|_| malformed(line, format!("timestamp {timestamp:?} is not a number")))?;
        on_event(user, item, timestamp);
        events += 1;
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::Interaction;

    fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("reco-train-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_split_file_streams_into_the_same_interactions_as_rows() {
        let text = "user_id,item_id,timestamp\nu2,b,1\n\"u,1\",a,2\nu2,a,3\nu2,b,4\n\nu3,c,5\n";
        let path = temp_file("split.csv", text);
        let (streamed, rows) = read_split_interactions(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let expected = Interactions::new(
            &[
                ("u2", "b"),
                ("u,1", "a"),
                ("u2", "a"),
                ("u2", "b"),
                ("u3", "c"),
            ]
            .map(|(user, item)| Interaction {
                user: user.into(),
                item: item.into(),
                weight: 1.0,
            }),
        );
        assert_eq!(rows, 5);
        assert_eq!(streamed.users, ["u,1", "u2", "u3"]);
        assert_eq!(streamed.users, expected.users);
        assert_eq!(streamed.items, expected.items);
        assert_eq!(streamed.by_user.indptr, expected.by_user.indptr);
        assert_eq!(streamed.by_user.indices, expected.by_user.indices);
        assert_eq!(streamed.by_user.weights, expected.by_user.weights);
        assert_eq!(streamed.by_item.indices, expected.by_item.indices);
        // u2 rated b twice: one pair of weight 2.
        assert_eq!(
            streamed.by_user.row(1),
            (&[0u32, 1][..], &[1.0f32, 2.0][..])
        );
    }

    #[test]
    fn a_bad_header_or_timestamp_names_the_line() {
        let path = temp_file("bad-header.csv", "user,item,time\nu,a,1\n");
        let err = read_split_interactions(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains("header"), "{err}");
        let path = temp_file(
            "bad-time.csv",
            "user_id,item_id,timestamp\nu,a,1\nu,b,noon\n",
        );
        let err = read_split_interactions(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(&err, TrainError::Malformed { line: 3, reason, .. } if reason.contains("noon")),
            "{err}"
        );
    }
}
