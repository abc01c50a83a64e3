//! The training job against the local stack's S3: snapshot Parquet in, model version out.
#![cfg(feature = "integration")]

mod support;

use reco_testkit::LocalStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_on_s3_trains_publishes_a_version_and_moves_latest_last() {
    let stack = LocalStack::get();
    let temp = stack.s3_bucket().await;
    let bucket = stack.bucket(&temp.name);
    support::snapshot_trains_publishes_a_version_and_moves_latest_last(&bucket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_or_malformed_snapshots_on_s3_are_refused_with_the_reason() {
    let stack = LocalStack::get();
    let temp = stack.s3_bucket().await;
    let bucket = stack.bucket(&temp.name);
    support::empty_or_malformed_snapshots_are_refused_with_the_reason(&bucket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_the_gate_reads_the_live_version_and_measures_it_on_the_new_split() {
    let stack = LocalStack::get();
    let temp = stack.s3_bucket().await;
    let bucket = stack.bucket(&temp.name);
    bucket
        .put(
            &format!(
                "training_ratings/snapshot={}/part-00000.parquet",
                support::SNAPSHOT
            ),
            support::parquet_bytes(&support::snapshot_rows()),
            "application/vnd.apache.parquet",
        )
        .await
        .unwrap();
    let (rows, _) = reco_train::read::read_snapshot(&bucket, support::SNAPSHOT)
        .await
        .unwrap();
    support::gate::the_champion_and_the_challenger_are_measured_on_the_same_split(&bucket, &rows)
        .await;
}
