//! The daily loop run by the local runner against the local stack: generated source data in
//! MariaDB, the data lake, artifacts and recommendations buckets and the Glue catalog on
//! moto, pgvector in PostgreSQL. Each run has its own databases, buckets and Glue database.
#![cfg(feature = "integration")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use reco_aws::Bucket;
use reco_domain::artifacts::ModelPrefix;
use reco_domain::serving::{LATEST_PREFIX, LatestDocument, POPULAR_DOCUMENT_KEY};
use reco_etl::generate::{GenerateSpec, generate};
use reco_pipeline::exec::{Executor, ServiceArgs, Services, StepError};
use reco_pipeline::io::Request;
use reco_pipeline::runner::{self, Observer, Outcome, RunOptions};
use reco_pipeline::steps::{STEPS, Step};
use reco_testkit::{LocalStack, TempBucket, TempDatabase, unique_name};
use reco_vector_store::{StoreOptions, VectorStore};
use serde_json::Value;
use sqlx::mysql::MySqlConnectOptions;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    services: ServiceArgs,
}

struct Fixture {
    mysql: TempDatabase,
    pg: TempDatabase,
    lake: TempBucket,
    artifacts: TempBucket,
    recs: TempBucket,
    glue_database: String,
}

impl Fixture {
    async fn new() -> Self {
        let stack = LocalStack::get();
        let mysql = stack.mysql_database().await;
        let options: MySqlConnectOptions = mysql.url.parse().unwrap();
        generate(
            &options,
            GenerateSpec {
                customers: 250,
                products: 80,
                ratings: 12_000,
                seed: 11,
            },
        )
        .await
        .unwrap();
        Self {
            mysql,
            pg: stack.pg_database().await,
            lake: stack.s3_bucket().await,
            artifacts: stack.s3_bucket().await,
            recs: stack.s3_bucket().await,
            glue_database: unique_name("reco_t_", '_'),
        }
    }

    /// The steps' settings, as the CLI would parse them, with the quality gate's minimum.
    async fn services(&self, min_ndcg: &str) -> Services {
        let stack = LocalStack::get();
        let aws = stack.aws();
        let mut args: Vec<String> = vec!["test".into()];
        let mut flag = |name: &str, value: &str| {
            args.push(format!("--{name}"));
            args.push(value.to_owned());
        };
        flag("mysql-url", &self.mysql.url);
        flag("pg-url", &self.pg.url);
        flag("artifacts-bucket", &self.artifacts.name);
        flag("model-prefix", "models/");
        flag("data-lake-bucket", &self.lake.name);
        flag("glue-database", &self.glue_database);
        flag("glue-table", "training_ratings");
        flag("recs-bucket", &self.recs.name);
        flag("aws-endpoint-url", aws.endpoint_url.as_deref().unwrap());
        flag("aws-region", aws.region.as_deref().unwrap());
        flag("aws-access-key-id", aws.access_key_id.as_deref().unwrap());
        flag(
            "aws-secret-access-key",
            aws.secret_access_key.as_deref().unwrap(),
        );
        flag("seed", "3");
        flag("min-ndcg", min_ndcg);
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        Services::new(cli.services).await.unwrap()
    }

    fn bucket(&self, b: &TempBucket) -> Bucket {
        LocalStack::get().bucket(&b.name)
    }

    async fn latest(&self) -> Option<String> {
        self.bucket(&self.artifacts)
            .get_opt(&ModelPrefix::default().latest_key())
            .await
            .unwrap()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    /// Every latest document, by key, as stored (bytes as text).
    async fn documents(&self) -> BTreeMap<String, String> {
        let recs = self.bucket(&self.recs);
        let mut out = BTreeMap::new();
        for key in recs.list(LATEST_PREFIX).await.unwrap() {
            let body = recs.get(&key).await.unwrap();
            out.insert(key, String::from_utf8(body.to_vec()).unwrap());
        }
        out
    }

    async fn active_model_version(&self) -> Option<String> {
        let store = VectorStore::connect(&self.pg.url, StoreOptions::for_cli())
            .await
            .unwrap();
        store
            .active_version()
            .await
            .unwrap()
            .map(|v| v.model_version)
    }

    async fn cleanup(self) {
        let sdk = LocalStack::get().sdk_config().await;
        let _ = aws_sdk_glue::Client::new(&sdk)
            .delete_database()
            .name(&self.glue_database)
            .send()
            .await;
    }
}

/// The real steps, with one transient failure injected before the first `fail_step` call.
struct FlakyOnce<'a> {
    inner: &'a Services,
    fail_step: &'static str,
    failed: AtomicBool,
}

impl Executor for FlakyOnce<'_> {
    async fn run(&self, request: Request) -> Result<Value, StepError> {
        if request.step() == self.fail_step && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(StepError::transient(
                "connecting to the vector database: connection refused (injected)",
            ));
        }
        self.inner.run(request).await
    }
}

/// Records the retries the runner announces.
#[derive(Default)]
struct Retries(std::sync::Mutex<Vec<(String, u32)>>);

impl Observer for Retries {
    fn retrying(&self, step: &Step, attempt: u32, _: &StepError, _: std::time::Duration) {
        self.0.lock().unwrap().push((step.name.to_owned(), attempt));
    }
}

fn options() -> RunOptions {
    RunOptions {
        customers_per_shard: 100,
        max_shards: 1000,
        score_concurrency: 2,
        retry_delay_scale: 0.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_makes_a_version_live_and_a_refused_one_changes_nothing() {
    let f = Fixture::new().await;

    // 1. A full run, the load failing once with a transient error: retried, then live.
    let services = f.services("0").await;
    let flaky = FlakyOnce {
        inner: &services,
        fail_step: "load",
        failed: AtomicBool::new(false),
    };
    let retries = Retries::default();
    let report = runner::run(&flaky, &options(), &retries).await;
    let Outcome::Live { model_version } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    let names: Vec<&str> = report.steps.iter().map(|s| s.name).collect();
    let expected: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
    assert_eq!(names, expected);
    assert_eq!(*retries.0.lock().unwrap(), [("load".to_owned(), 1)]);
    let load = &report.steps[2];
    assert_eq!((load.invocations, load.attempts), (1, 2));
    // 250 customers at 100 per shard: three shards.
    let score = &report.steps[4];
    assert_eq!(score.invocations, 3);
    assert_eq!(report.state["plan"]["customers"], 250);
    assert_eq!(f.latest().await.as_deref(), Some(model_version.as_str()));
    assert_eq!(
        f.active_model_version().await.as_deref(),
        Some(model_version.as_str())
    );
    let documents = f.documents().await;
    assert!(documents.contains_key(POPULAR_DOCUMENT_KEY));
    let customers = documents.len() - 1;
    assert_eq!(score.answer["written"].as_u64(), Some(customers as u64));
    // Every customer has a document unless the shard found nothing to recommend (every
    // product rated, or a zero embedding).
    assert_eq!(
        score.answer["written"].as_u64().unwrap() + score.answer["empty"].as_u64().unwrap(),
        250,
        "{}",
        score.answer
    );
    assert!(customers > 150, "{customers} customer documents");
    for body in documents.values() {
        let doc: LatestDocument = serde_json::from_str(body).unwrap();
        assert_eq!(&doc.provenance.model_version, model_version);
    }
    assert!(
        report
            .notification
            .1
            .starts_with(&format!("Model version {model_version} is live"))
    );

    // 2. The same data, a gate no model passes: refused after training, nothing else moves.
    let strict = f.services("1.0").await;
    let refused = runner::run(&strict, &options(), &runner::Quiet).await;
    let Outcome::Refused { message } = &refused.outcome else {
        panic!("{:?}", refused.outcome)
    };
    let names: Vec<&str> = refused.steps.iter().map(|s| s.name).collect();
    assert_eq!(names, ["etl", "train"]);
    let refused_version = refused.state["train"]["model_version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(&refused_version, model_version);
    assert!(
        message.contains(&refused_version) && message.contains("refused"),
        "{message}"
    );
    assert_eq!(f.latest().await.as_deref(), Some(model_version.as_str()));
    assert_eq!(
        f.active_model_version().await.as_deref(),
        Some(model_version.as_str())
    );
    assert_eq!(f.documents().await, documents, "latest documents changed");
    // The refused version was written (for inspection) but cannot be made live.
    let err = strict
        .run(Request::Publish {
            model_version: refused_version.clone(),
        })
        .await
        .unwrap_err();
    assert!(!err.transient);
    assert!(
        err.message.contains("quality gate refused it"),
        "{}",
        err.message
    );
    let missing = strict
        .run(Request::Publish {
            model_version: "20990101T000000Z-s1".into(),
        })
        .await
        .unwrap_err();
    assert!(
        missing.message.contains("does not exist"),
        "{}",
        missing.message
    );
    assert_eq!(f.latest().await.as_deref(), Some(model_version.as_str()));

    f.cleanup().await;
}
