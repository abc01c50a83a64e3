//! Fault: `reco etl` killed with SIGKILL while it uploads a snapshot's parts, then run again.
//! Training must read a complete snapshot at every moment (the previous one while the killed
//! run's parts lie unpublished, the rerun's once it published) and never a part of the killed
//! run; the rerun removes those parts.
#![cfg(feature = "integration")]

mod fault_support;

use std::time::{Duration, Instant};

use fault_support::{list, reco, spawn};
use reco_config::var;
use reco_domain::training::{SnapshotDate, manifest_key, snapshot_prefix};
use reco_testkit::{LocalStack, unique_name};
use reco_train::read::{newest_snapshot, read_snapshot};
use sqlx::Connection as _;

/// Ratings generated: with small parts, the upload takes many objects and the kill lands
/// between the first part and the manifest.
const RATINGS: u64 = 150_000;
const PART_ROWS: &str = "1500";

#[tokio::test]
async fn a_killed_etl_run_is_never_read_and_the_rerun_publishes_whole() {
    let stack = LocalStack::get();
    let mysql = stack.mysql_database().await;
    let lake = stack.s3_bucket().await;
    let glue_db = unique_name("reco_t_fault_etl_", '_');
    let glue = aws_sdk_glue::Client::new(&stack.sdk_config().await);
    glue.create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(&glue_db)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let env = vec![
        (var::RECO_MYSQL_URL, mysql.url.clone()),
        (var::RECO_DATA_LAKE_BUCKET, lake.name.clone()),
        (var::RECO_GLUE_DATABASE, glue_db.clone()),
        (var::RECO_GLUE_TABLE, "training_ratings".to_owned()),
    ];
    let result = async {
        reco(
            &env,
            &[
                "source",
                "generate",
                "--customers",
                "3000",
                "--products",
                "400",
                "--ratings",
                &RATINGS.to_string(),
            ],
        );
        let mut conn = sqlx::MySqlConnection::connect(&mysql.url).await.unwrap();
        let ratings: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ratings")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(ratings as u64, RATINGS);
        let bucket = stack.bucket(&lake.name);

        // A complete snapshot first.
        let (old, new): (SnapshotDate, SnapshotDate) =
            ("2026-01-01".parse().unwrap(), "2026-01-02".parse().unwrap());
        reco(
            &env,
            &[
                "etl",
                "--snapshot",
                &old.to_string(),
                "--part-rows",
                PART_ROWS,
            ],
        );

        // The next day's run, killed once its first part is in the lake.
        let new_prefix = snapshot_prefix(new);
        let mut child = spawn(
            &env,
            &[
                "etl",
                "--snapshot",
                &new.to_string(),
                "--part-rows",
                PART_ROWS,
            ],
        );
        let started = Instant::now();
        loop {
            let keys = list(&lake, &new_prefix).await;
            if keys
                .iter()
                .any(|k| k.contains("/run=") && k.ends_with(".parquet"))
            {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("reco etl ended ({status}) before a part was seen: make the data larger");
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no part after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            None,
            "reco etl was not killed but ended: {status}"
        );
        let orphans: Vec<String> = list(&lake, &new_prefix).await;
        assert!(
            !orphans.contains(&manifest_key(new)),
            "the killed run published before the kill landed: make the data larger"
        );
        assert!(!orphans.is_empty());

        // Training reads the previous, complete snapshot: every rating, once.
        assert_eq!(newest_snapshot(&bucket).await.unwrap(), old.to_string());
        let (rows, _) = read_snapshot(&bucket, &old.to_string()).await.unwrap();
        assert_eq!(rows.len() as u64, RATINGS);

        // The rerun publishes the new day whole; the killed run's parts are neither read nor kept.
        let rerun = reco(
            &env,
            &[
                "etl",
                "--snapshot",
                &new.to_string(),
                "--part-rows",
                PART_ROWS,
            ],
        );
        let stderr = String::from_utf8_lossy(&rerun.stderr);
        assert_eq!(newest_snapshot(&bucket).await.unwrap(), new.to_string());
        let (rows, _) = read_snapshot(&bucket, &new.to_string()).await.unwrap();
        assert_eq!(rows.len() as u64, RATINGS, "{stderr}");
        let after = list(&lake, &new_prefix).await;
        for orphan in &orphans {
            assert!(
                !after.contains(orphan),
                "{orphan} of the killed run is still there"
            );
        }
        let manifest = bucket.get(&manifest_key(new)).await.unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let files = manifest["files"].as_array().unwrap();
        assert_eq!(files.len(), (RATINGS as usize).div_ceil(1500));
        for file in files {
            let key = file["key"].as_str().unwrap();
            assert!(
                !orphans.iter().any(|o| o == key),
                "{key} was written by the killed run"
            );
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    glue.delete_database().name(&glue_db).send().await.ok();
    result.unwrap();
}
