//! Fault: `reco load-embeddings` killed with SIGKILL in the middle of its COPY, then run
//! again. The active version answers whole (all its rows) before, during and after the kill;
//! the killed load's lock and tables go with its connection, so the rerun neither waits nor
//! finds half tables, and ends with only the new version's tables.
#![cfg(feature = "integration")]

mod fault_support;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fault_support::{reco, spawn};
use reco_config::var;
use reco_testkit::LocalStack;
use reco_vector_loader::schema::LOAD_LOCK_TIMEOUT;
use sqlx::{Connection as _, PgConnection};

const DIM: usize = 16;
/// The active version before the kill.
const OLD: (&str, i64, i64) = ("v1", 500, 200);
/// The version being loaded: many users, so the COPY lasts long enough to be killed in.
const NEW: (&str, i64, i64) = ("v2", 1_000, 300_000);

/// An embeddings CSV of `n` rows with ids from `id(i)` and pseudo-random vectors.
fn csv(n: i64, seed: u64, id: impl Fn(i64) -> String) -> String {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut out = String::with_capacity(n as usize * (DIM * 8 + 16));
    out.push_str("id,embedding\n");
    for i in 0..n {
        write!(out, "{},\"[", id(i)).unwrap();
        for d in 0..DIM {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let x = ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0;
            if d > 0 {
                out.push(',');
            }
            write!(out, "{x:.4}").unwrap();
        }
        out.push_str("]\"\n");
    }
    out
}

/// (active model version, item rows, user rows) as one statement sees them.
async fn live(conn: &mut PgConnection) -> (String, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT model_version FROM reco_embedding_versions WHERE active),
                (SELECT count(*) FROM item_emb), (SELECT count(*) FROM user_emb)",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

async fn versioned_tables(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'
         AND tablename ~ '^(item|user)_emb_e' ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_killed_load_leaves_the_live_version_whole_and_no_lock() {
    let stack = LocalStack::get();
    let pg = stack.pg_database().await;
    let artifacts = stack.s3_bucket().await;
    let bucket = stack.bucket(&artifacts.name);
    for (version, items, users) in [OLD, NEW] {
        let files = [
            ("item_embeddings.csv", csv(items, 1, |i| format!("P{i:06}"))),
            (
                "user_embeddings.csv",
                csv(users, 2, |i| (100 + i).to_string()),
            ),
            (
                "model.json",
                format!(r#"{{"format_version":1,"model_version":"{version}","dim":{DIM}}}"#),
            ),
        ];
        for (file, body) in files {
            bucket
                .put(&format!("models/{version}/{file}"), body.into(), "text/csv")
                .await
                .unwrap();
        }
    }
    let env = vec![
        (var::RECO_PG_URL, pg.url.clone()),
        (var::RECO_ARTIFACTS_BUCKET, artifacts.name.clone()),
    ];
    reco(&env, &["load-embeddings", "--model", OLD.0]);
    let mut conn = PgConnection::connect(&pg.url).await.unwrap();
    let old_tables = versioned_tables(&mut conn).await;
    let old = (OLD.0.to_owned(), OLD.1, OLD.2);
    assert_eq!(live(&mut conn).await, old);

    // A reader checks the live version all along: the old one whole, or the new one whole.
    let stop = Arc::new(AtomicBool::new(false));
    let seen_new = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (url, stop, seen_new) = (pg.url.clone(), stop.clone(), seen_new.clone());
        let old = old.clone();
        tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            let new = (NEW.0.to_owned(), NEW.1, NEW.2);
            let mut reads = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let state = live(&mut conn).await;
                assert!(state == old || state == new, "a reader saw {state:?}");
                if state == new {
                    seen_new.fetch_add(1, Ordering::Relaxed);
                }
                reads += 1;
            }
            reads
        })
    };

    // Kill the load while it copies the users.
    let mut child = spawn(&env, &["load-embeddings", "--model", NEW.0]);
    let started = Instant::now();
    let copied = loop {
        // The new tables are not visible outside the load's transaction (no name to match):
        // a COPY past the item count is the users'.
        let copying: Option<i64> = sqlx::query_scalar(
            "SELECT tuples_processed FROM pg_stat_progress_copy
             WHERE datname = current_database() AND tuples_processed > $1",
        )
        .bind(NEW.1)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
        if let Some(copied) = copying {
            break copied;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("reco load-embeddings ended ({status}) before its COPY was seen");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no COPY after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        None,
        "the load was not killed but ended: {status}"
    );
    assert!(copied < NEW.2, "the COPY had finished ({copied} rows)");

    // The server sees the connection gone: the transaction, its tables and its lock go too.
    let gone = Instant::now();
    loop {
        let locks: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
             WHERE l.locktype = 'advisory' AND d.datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if locks == 0 {
            break;
        }
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "the killed load's lock is still held after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(versioned_tables(&mut conn).await, old_tables);
    assert_eq!(live(&mut conn).await, old);
    assert_eq!(seen_new.load(Ordering::Relaxed), 0);

    // The rerun loads without waiting on a lock and leaves only its own tables.
    let rerun = Instant::now();
    reco(&env, &["load-embeddings", "--model", NEW.0]);
    let took = rerun.elapsed();
    assert!(
        took < LOAD_LOCK_TIMEOUT,
        "the rerun took {took:?}, past the lock timeout"
    );
    stop.store(true, Ordering::Relaxed);
    let reads = reader.await.unwrap();
    assert!(reads > 10, "the reader only read {reads} times");
    assert_eq!(live(&mut conn).await, (NEW.0.to_owned(), NEW.1, NEW.2));
    let active: String =
        sqlx::query_scalar("SELECT embedding_version FROM reco_embedding_versions WHERE active")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        versioned_tables(&mut conn).await,
        [format!("item_emb_{active}"), format!("user_emb_{active}")]
    );
    eprintln!(
        "killed after {copied} of {} user rows; rerun {:.1}s; reader {reads} reads",
        NEW.2,
        took.as_secs_f64()
    );
}
