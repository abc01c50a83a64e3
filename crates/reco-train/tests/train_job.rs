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
