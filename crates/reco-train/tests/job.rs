//! The training job on in-memory and local-folder buckets (no service needed): snapshot
//! Parquet in, model version out, `LATEST` moved last and only past the gate.

mod support;

use reco_aws::Bucket;
use reco_train::{job, read};

#[tokio::test]
async fn snapshot_in_memory_trains_publishes_a_version_and_moves_latest_last() {
    let bucket = Bucket::in_memory("reco-train-test");
    support::snapshot_trains_publishes_a_version_and_moves_latest_last(&bucket).await;
}

#[tokio::test]
async fn empty_or_malformed_snapshots_in_memory_are_refused_with_the_reason() {
    let bucket = Bucket::in_memory("reco-train-test");
    support::empty_or_malformed_snapshots_are_refused_with_the_reason(&bucket).await;
}

/// `reco train --output-dir DIR` writes the version as files under DIR.
#[tokio::test]
async fn a_local_folder_receives_the_version_files_and_latest() {
    let lake = Bucket::in_memory("lake");
    lake.put(
        &format!(
            "training_ratings/snapshot={}/part-00000.parquet",
            support::SNAPSHOT
        ),
        support::parquet_bytes(&support::snapshot_rows()),
        "application/vnd.apache.parquet",
    )
    .await
    .unwrap();
    let (rows, source) = read::read_snapshot(&lake, support::SNAPSHOT).await.unwrap();
    let dir = std::env::temp_dir().join(format!("reco-train-output-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let folder = Bucket::local_dir(&dir).unwrap();
    let report = job::run(rows, source, &folder, &support::config(3), 1_795_400_100)
        .await
        .unwrap();
    assert_eq!(report.model_version, "20261123T021500Z-s3");
    assert_eq!(
        std::fs::read_to_string(dir.join("models/LATEST")).unwrap(),
        report.model_version
    );
    let version = dir.join("models").join(&report.model_version);
    for name in [
        "item_embeddings.csv",
        "user_embeddings.csv",
        "item_embeddings.parquet",
        "user_embeddings.parquet",
        "model.json",
        "metrics.json",
    ] {
        assert!(
            version.join(name).is_file(),
            "{name} missing in {}",
            version.display()
        );
    }
    let users = support::parse_csv(&std::fs::read(version.join("user_embeddings.csv")).unwrap());
    assert_eq!(users.len(), 40);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Champion and challenger on the same held-out split: accepted on new data, a worse model of
/// the same data refused, an unreadable live version said.
#[tokio::test]
async fn in_memory_the_gate_measures_the_live_version_on_the_new_split() {
    let lake = Bucket::in_memory("lake");
    lake.put(
        &format!(
            "training_ratings/snapshot={}/part-00000.parquet",
            support::SNAPSHOT
        ),
        support::parquet_bytes(&support::snapshot_rows()),
        "application/vnd.apache.parquet",
    )
    .await
    .unwrap();
    let (rows, _) = read::read_snapshot(&lake, support::SNAPSHOT).await.unwrap();
    let models = Bucket::in_memory("models");
    support::gate::the_champion_and_the_challenger_are_measured_on_the_same_split(&models, &rows)
        .await;
}
