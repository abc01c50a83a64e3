//! The runtime boundary: the real `bootstrap` (S3 model store, pgvector index) under
//! `cargo lambda watch`, invoked with `cargo lambda invoke` with a Firehose event. The model
//! is trained by reco-train on a small synthetic snapshot, its artifact put in a fresh
//! bucket and its embeddings loaded into a fresh database.

#![cfg(feature = "integration")]

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reco_config::var;
use reco_domain::artifacts::{MODEL_FILE, ModelPrefix};
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::transform::decode_record_data;
use reco_testkit::LocalStack;
use reco_train::publish::{embeddings_csv, item_embeddings, user_embeddings};
use reco_train::snapshot::{SnapshotRow, training_data};
use reco_train::towers::{TrainConfig, fit};
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{StoreOptions, VectorStore};

/// `cargo lambda watch` compiles the debug binary itself: cold, that takes minutes here.
const WATCH_TIMEOUT: Duration = Duration::from_secs(900);
const MODEL_VERSION: &str = "20260101T000000Z-s1";

fn snapshot() -> Vec<SnapshotRow> {
    let mut rows = Vec::new();
    for c in 0..16i64 {
        let france = c % 2 == 0;
        for p in 0..10 {
            // French customers like the first half of the catalogue, the others the second.
            if (p < 5) == france && (c + p) % 3 != 0 {
                rows.push(SnapshotRow {
                    customer_number: 100 + c,
                    city: Some(if france { "Nantes" } else { "Boston" }.to_owned()),
                    country: Some(if france { "France" } else { "USA" }.to_owned()),
                    credit_limit: Some(10_000.0 + 1_000.0 * c as f64),
                    product_code: format!("S10_{p:04}"),
                    product_line: Some(if p < 5 { "Classic Cars" } else { "Ships" }.to_owned()),
                    product_scale: Some("1:10".to_owned()),
                    quantity_in_stock: Some(100.0),
                    buy_price: Some(50.0 + p as f64),
                    msrp: Some(90.0 + p as f64),
                    rating: 4.0 + (p % 2) as f64,
                });
            }
        }
    }
    rows
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cargo_lambda() -> PathBuf {
    let bin = LocalStack::get()
        .root()
        .join(".local/venv/bin/cargo-lambda");
    assert!(
        bin.exists(),
        "{} missing: run `bash scripts/local-install.sh --with-cargo-lambda`",
        bin.display()
    );
    bin
}

/// Kills the `cargo lambda watch` process group when dropped.
struct Watch(std::process::Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn bootstrap_answers_a_firehose_event_through_the_lambda_runtime() {
    let stack = LocalStack::get();
    let pg = stack.pg_database().await;
    let bucket = stack.s3_bucket().await;

    // Train, publish the artifact, load the embeddings.
    let rows = snapshot();
    let data = training_data(&rows, "runtime-boundary-test").unwrap();
    let artifact = fit(
        &data,
        &TrainConfig::default(),
        MODEL_VERSION,
        "2026-01-01T00:00:00Z",
        |_, _| {},
    );
    stack
        .bucket(&bucket.name)
        .put(
            &ModelPrefix::default().key(MODEL_VERSION, MODEL_FILE),
            artifact.to_json_vec().unwrap().into(),
            "application/json",
        )
        .await
        .unwrap();
    let items = embeddings_csv(&item_embeddings(&artifact, &rows));
    let users: Vec<(String, Vec<f32>)> = user_embeddings(&artifact, &rows)
        .into_iter()
        .map(|(id, v)| (id.to_string(), v))
        .collect();
    let users = embeddings_csv(&users);
    let store = VectorStore::connect(&pg.url, StoreOptions::for_cli())
        .await
        .unwrap();
    Loader::new(&store)
        .load_version(EmbeddingSource {
            model_version: MODEL_VERSION.to_owned(),
            items: EmbeddingFile {
                name: "item_embeddings.csv".into(),
                reader: items.as_ref(),
            },
            users: EmbeddingFile {
                name: "user_embeddings.csv".into(),
                reader: users.as_ref(),
            },
        })
        .await
        .unwrap();

    // The function's environment, as the Lambda would have it (URL instead of the secret).
    let dir = std::env::temp_dir().join(reco_testkit::unique_name("reco-t-watch-", '-'));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join("function.env");
    let mut env = std::fs::File::create(&env_file).unwrap();
    // Single-quoted: the database URL carries its TLS settings as a query (`&`, `%2F`),
    // which the env file's parser refuses bare.
    let mut line = |name: &str, value: &str| {
        assert!(!value.contains('\''), "{name} holds a quote");
        writeln!(env, "{name}='{value}'").unwrap();
    };
    for name in [
        var::AWS_ENDPOINT_URL,
        var::AWS_REGION,
        var::AWS_ACCESS_KEY_ID,
        var::AWS_SECRET_ACCESS_KEY,
    ] {
        line(name, stack.setting(name));
    }
    line(var::RECO_PG_URL, &pg.url);
    line(var::RECO_ARTIFACTS_BUCKET, &bucket.name);
    line(var::RECO_KNN_K, "3");
    drop(env);

    let port = free_port().to_string();
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let log = std::fs::File::create(dir.join("watch.log")).unwrap();
    let mut watch = Watch(
        Command::new(cargo_lambda())
            .args([
                "lambda",
                "watch",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port,
            ])
            .arg("--env-file")
            .arg(&env_file)
            .current_dir(&crate_dir)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    stack.root().join(".local/venv/bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("cannot start cargo lambda watch"),
    );

    let events = ["good.json", "unknown-customer.json", "non-json.txt"];
    let records: Vec<serde_json::Value> = events
        .iter()
        .map(|name| {
            let bytes = std::fs::read(crate_dir.join("tests/fixtures/events").join(name)).unwrap();
            serde_json::json!({"recordId": name, "approximateArrivalTimestamp": 1_763_780_000_000i64, "data": BASE64.encode(bytes)})
        })
        .collect();
    let event_file = dir.join("event.json");
    std::fs::write(
        &event_file,
        serde_json::to_vec(&serde_json::json!({
            "invocationId": "inv", "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/t",
            "region": "us-east-1", "records": records
        }))
        .unwrap(),
    )
    .unwrap();

    // The first invocation waits for watch to compile and start the function.
    let started = Instant::now();
    let output = loop {
        let output = Command::new(cargo_lambda())
            .args([
                "lambda",
                "invoke",
                "bootstrap",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port,
                "--output-format",
                "json",
            ])
            .arg("--data-file")
            .arg(&event_file)
            .current_dir(&crate_dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if output.status.success() {
            break output;
        }
        // A watch that exited (e.g. refused its env file) will never answer.
        if let Ok(Some(status)) = watch.0.try_wait() {
            panic!(
                "cargo lambda watch exited ({status}):\n{}",
                std::fs::read_to_string(dir.join("watch.log")).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < WATCH_TIMEOUT,
            "cargo lambda invoke kept failing: {}\nwatch log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(dir.join("watch.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let results: Vec<(&str, &str)> = response["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["recordId"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("good.json", "Ok"),
            ("unknown-customer.json", "Ok"),
            ("non-json.txt", "ProcessingFailed")
        ]
    );
    for index in 0..2 {
        // One gzip member of one NDJSON line (RECO_RECORD_GZIP defaults to true).
        let line =
            decode_record_data(response["records"][index]["data"].as_str().unwrap()).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        let record: RecommendationRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(record.model_version, MODEL_VERSION);
        assert_eq!(record.recommended_items.len(), 3);
        let browsed: Vec<&str> = record
            .event
            .browsed_items
            .iter()
            .map(String::as_str)
            .collect();
        assert!(
            record
                .recommended_items
                .iter()
                .all(|i| !browsed.contains(&i.id.as_str()))
        );
        assert!(
            record
                .recommended_items
                .iter()
                .all(|i| i.id.starts_with("S10_"))
        );
    }
    // The binary writes the invocation's metrics as one EMF line on stdout (the watch log).
    let metrics = loop {
        let log = std::fs::read_to_string(dir.join("watch.log")).unwrap_or_default();
        let emf = log
            .lines()
            .filter_map(|line| line.find("{\"").map(|start| &line[start..]))
            .filter_map(|json| serde_json::from_str::<serde_json::Value>(json).ok())
            .find(|doc| doc.get("_aws").is_some());
        if let Some(doc) = emf {
            break doc;
        }
        assert!(
            started.elapsed() < WATCH_TIMEOUT,
            "no EMF line in the watch log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(metrics["Service"], "transform");
    assert_eq!(metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"], "reco");
    assert_eq!(
        (
            &metrics["BatchRecords"],
            &metrics["RecordsOk"],
            &metrics["RecordsFailed"]
        ),
        (
            &serde_json::json!(3),
            &serde_json::json!(2),
            &serde_json::json!(1)
        )
    );
    assert!(metrics["KnnMilliseconds"].as_f64().is_some());
    std::fs::remove_dir_all(&dir).ok();
}
