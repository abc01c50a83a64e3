//! Where the local Firehose stopped reading: the last delivered sequence number of each shard
//! of the source stream, kept in a small JSON file so that a second run resumes after what
//! the first one delivered (as a delivery stream keeps its position), instead of delivering
//! every record again.
//!
//! The file is written only when everything read so far is in S3 (no pending batch, no
//! buffered object): a run that is stopped between two checkpoints delivers the records
//! after the last one again (at least once, never lost). It names the stream and the
//! stream's creation time, so a stream that was destroyed and created again under the same
//! name starts from the configured position rather than from a stale sequence number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A checkpoint file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint {path}: {reason} (delete the file to read the stream from the start)")]
pub struct CheckpointError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// The content of a checkpoint file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Source stream name.
    pub stream: String,
    /// The stream's creation time (Unix milliseconds), telling a re-created stream apart.
    pub stream_created_ms: i64,
    /// Shard id -> sequence number of the last record delivered from it.
    pub shards: BTreeMap<String, String>,
}

impl Checkpoint {
    /// The checkpoint stored at `path` for `stream` created at `created_ms`: empty when the file
    /// does not exist or belongs to another stream (or an earlier stream of the same name).
    pub fn load(path: &Path, stream: &str, created_ms: i64) -> Result<Self, CheckpointError> {
        let fresh = Self {
            stream: stream.to_owned(),
            stream_created_ms: created_ms,
            shards: BTreeMap::new(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fresh),
            Err(e) => {
                return Err(CheckpointError {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        let stored: Self = serde_json::from_str(&text).map_err(|e| CheckpointError {
            path: path.to_owned(),
            reason: format!("not a checkpoint: {e}"),
        })?;
        if stored.stream != stream || stored.stream_created_ms != created_ms {
            tracing::warn!(
                checkpoint = %path.display(),
                stream = stored.stream,
                created_ms = stored.stream_created_ms,
                "checkpoint is for another stream (or an earlier one of the same name), ignored"
            );
            return Ok(fresh);
        }
        Ok(stored)
    }

    /// Writes the checkpoint to `path` atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let error = |e: std::io::Error| CheckpointError {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let text = serde_json::to_string_pretty(self).map_err(|e| CheckpointError {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        std::fs::write(&temporary, text).map_err(error)?;
        std::fs::rename(&temporary, path).map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_stream_identity() {
        let dir = std::env::temp_dir().join(format!("reco-checkpoint-{}", std::process::id()));
        let path = dir.join("nested").join("stream.json");
        let empty = Checkpoint::load(&path, "clicks", 10).unwrap();
        assert!(empty.shards.is_empty());

        let mut checkpoint = empty;
        checkpoint
            .shards
            .insert("shardId-000000000000".into(), "4960".into());
        checkpoint.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path, "clicks", 10).unwrap(), checkpoint);
        // The same name created again, or another stream: start afresh.
        assert!(
            Checkpoint::load(&path, "clicks", 11)
                .unwrap()
                .shards
                .is_empty()
        );
        assert!(
            Checkpoint::load(&path, "other", 10)
                .unwrap()
                .shards
                .is_empty()
        );

        std::fs::write(&path, "{ not json").unwrap();
        let err = Checkpoint::load(&path, "clicks", 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a checkpoint") && err.contains("stream.json"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
