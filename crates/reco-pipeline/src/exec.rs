//! Running one step: the [`Executor`] seam (the runner calls it; tests put a fake behind it)
//! and [`Services`], the real one, which both the local runner and the pipeline Lambda use:
//! the same code answers a request on a laptop and in a function.

use std::error::Error as StdError;
use std::future::Future;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use clap::Args;
use object_store::ObjectStoreExt as _;
use parquet::file::FOOTER_SIZE;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
use reco_aws::storage::StorageErrorKind;
use reco_aws::{Bucket, StorageError};
use reco_config::{AwsArgs, ConfigError, ModelStoreArgs, MysqlArgs, PgArgs, required, var};
use reco_db_roles::{Migration, RoleSecretArgs, SecretsClient};
use reco_domain::artifacts::{ModelPrefix, USER_EMBEDDINGS_PARQUET};
use reco_domain::training::SnapshotDate;
use reco_etl::catalog::TrainingCatalog;
use reco_etl::{EtlConfig, run_etl, source_db};
use reco_serving::documents::DocumentStore;
use reco_serving::score_all::{DEFAULT_K, MAX_K, ScoreAllConfig, ScoreAllError, Shard, score_all};
use reco_train::config::{JobConfig, TrainOptions};
use reco_train::{job, publish, read};
use reco_vector_loader::{Loader, ModelArtifacts};
use reco_vector_store::{StoreOptions, VectorStore};
use serde::Serialize;
use serde_json::Value;

use crate::io::{
    EtlResponse, LoadResponse, MigrateResponse, MigratedRole, PlanResponse, PublishResponse,
    Request, ScoreResponse, ShardRequest, TrainResponse, shard_count,
};
use crate::steps::{INVALID_ERROR, TRANSIENT_ERROR};

/// A step failed: whether a retry may help, and why in a line or two.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// A database or storage outage, a throttle: retried with backoff.
    pub transient: bool,
    /// What failed and what to do.
    pub message: String,
}

impl StepError {
    /// A failure no retry can fix.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            transient: false,
            message: message.into(),
        }
    }

    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            message: message.into(),
        }
    }

    /// `context: error`, transient when a cause in the error's chain is (see [`is_transient`]).
    pub fn from_error(context: &str, error: &(dyn StdError + 'static)) -> Self {
        Self {
            transient: is_transient(error),
            message: format!("{context}: {error}"),
        }
    }

    /// The Lambda `errorType` (what the state machine's `Retry` matches).
    pub fn error_type(&self) -> &'static str {
        if self.transient {
            TRANSIENT_ERROR
        } else {
            INVALID_ERROR
        }
    }
}

impl From<ConfigError> for StepError {
    fn from(e: ConfigError) -> Self {
        Self::invalid(e.to_string())
    }
}

/// Whether a cause in `error`'s chain is an outage a retry may outlast: an I/O error, a
/// connection pool timeout, a database error of SQLSTATE class 08 (connection), 40
/// (serialisation, deadlock), 53 (resources) or 57 (operator intervention, e.g. a restart),
/// a storage failure other than missing/conflict/configuration.
pub fn is_transient(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<std::io::Error>() {
            return true;
        }
        // Storage errors, also where a library wraps them transparently (which hides them
        // from `source()`).
        let storage = e.downcast_ref::<StorageError>().or_else(|| {
            match (
                e.downcast_ref::<reco_train::TrainError>(),
                e.downcast_ref::<reco_vector_loader::LoadError>(),
                e.downcast_ref::<ScoreAllError>(),
            ) {
                (Some(reco_train::TrainError::Storage(s)), _, _)
                | (_, Some(reco_vector_loader::LoadError::Storage(s)), _)
                | (_, _, Some(ScoreAllError::Store(s))) => Some(s),
                _ => None,
            }
        });
        if let Some(s) = storage {
            return s.kind == StorageErrorKind::Other;
        }
        if let Some(db) = e.downcast_ref::<sqlx::Error>() {
            return match db {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
                sqlx::Error::Database(d) => d
                    .code()
                    .is_some_and(|c| ["08", "40", "53", "57"].iter().any(|p| c.starts_with(p))),
                _ => false,
            };
        }
        next = e.source();
    }
    false
}

/// Runs one step's request and answers with its JSON.
pub trait Executor: Sync {
    /// Runs `request`.
    fn run(&self, request: Request) -> impl Future<Output = Result<Value, StepError>> + Send;
}

/// What the steps need, every field a flag bound to its variable; each step checks only what
/// it uses (a missing variable is named when the step runs).
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// The source database (ETL).
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// The vector database (load).
    #[command(flatten)]
    pub pg: PgArgs,
    /// The artifacts bucket and model prefix.
    #[command(flatten)]
    pub models: ModelStoreArgs,
    /// Model hyper-parameters and the quality gate (train).
    #[command(flatten)]
    pub train: TrainOptions,
    /// The data lake bucket (training Parquet).
    #[arg(long, env = var::RECO_DATA_LAKE_BUCKET, value_name = "BUCKET")]
    pub data_lake_bucket: Option<String>,
    /// The Glue database of the training table (ETL).
    #[arg(long, env = var::RECO_GLUE_DATABASE, value_name = "NAME")]
    pub glue_database: Option<String>,
    /// The Glue table of training rows (ETL).
    #[arg(long, env = var::RECO_GLUE_TABLE, value_name = "NAME")]
    pub glue_table: Option<String>,
    /// How the data lake's click events become training rows (ETL).
    #[command(flatten)]
    pub events: reco_etl::events::EventArgs,
    /// The recommendations bucket (score).
    #[arg(long, env = var::RECO_RECS_BUCKET, value_name = "BUCKET")]
    pub recs_bucket: Option<String>,
    /// Products per customer document (score).
    #[arg(long = "k", env = var::RECO_KNN_K, default_value_t = DEFAULT_K as u16,
          value_parser = clap::value_parser!(u16).range(1..=MAX_K as i64))]
    pub k: u16,
    /// The role secrets the migrate step writes (the migrate function's only).
    #[command(flatten)]
    pub roles: RoleSecretArgs,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The real steps, against the configured databases and buckets.
pub struct Services {
    args: ServiceArgs,
    sdk: SdkConfig,
    job: JobConfig,
}

impl Services {
    /// Checks the training settings and loads the AWS configuration.
    pub async fn new(args: ServiceArgs) -> Result<Self, StepError> {
        let mut job = args
            .train
            .job_config(&args.models.model_prefix)
            .map_err(|e| StepError::invalid(e.to_string()))?;
        // The loop moves LATEST in its last step, after load and score-all.
        job.promote = false;
        let sdk = reco_aws::sdk_config(&args.aws).await;
        Ok(Self { args, sdk, job })
    }

    fn prefix(&self) -> ModelPrefix {
        ModelPrefix::new(&self.args.models.model_prefix)
    }

    fn bucket(&self, variable: &'static str, name: &Option<String>) -> Result<Bucket, StepError> {
        let name = required(variable, name)?;
        Bucket::s3(&self.args.aws, name).map_err(|e| StepError::from_error("opening a bucket", &e))
    }

    fn artifacts(&self) -> Result<Bucket, StepError> {
        self.bucket(
            var::RECO_ARTIFACTS_BUCKET,
            &self.args.models.artifacts_bucket,
        )
    }

    fn lake(&self) -> Result<Bucket, StepError> {
        self.bucket(var::RECO_DATA_LAKE_BUCKET, &self.args.data_lake_bucket)
    }

    async fn etl(&self, snapshot: Option<String>) -> Result<EtlResponse, StepError> {
        let snapshot = match snapshot {
            Some(s) => s
                .parse::<SnapshotDate>()
                .map_err(|e| StepError::invalid(e.to_string()))?,
            None => SnapshotDate::today(),
        };
        let database = required(var::RECO_GLUE_DATABASE, &self.args.glue_database)?;
        let table = required(var::RECO_GLUE_TABLE, &self.args.glue_table)?;
        let lake = self.lake()?;
        let source = self.args.mysql.target()?;
        // Connected per run: a rotated secret is read afresh.
        let options = source_db::connect_options(&source, &self.sdk)
            .await
            .map_err(|e| StepError::from_error("reading the source database settings", &e))?;
        let pool = source_db::connect(options)
            .await
            .map_err(|e| StepError::from_error("connecting to the source database", &e))?;
        let catalog = TrainingCatalog::new(aws_sdk_glue::Client::new(&self.sdk), database, table);
        let config = EtlConfig {
            events: self.args.events.settings(),
            ..EtlConfig::new(snapshot)
        };
        let result = run_etl(&pool, &lake, &catalog, &config).await;
        pool.close().await;
        let report = result
            .map_err(|e| StepError::from_error(&format!("etl of snapshot {snapshot}"), &e))?;
        Ok(EtlResponse {
            snapshot: snapshot.to_string(),
            rows_read: report.rows_read,
            rows_written: report.rows_written,
            rejected: report.rejected_total(),
            events_read: report.events.events_read,
            event_rows: report.events.pairs,
            location: report.manifest.location.clone(),
            seconds: report.elapsed.as_secs_f64(),
        })
    }

    async fn train(&self, snapshot: &str) -> Result<TrainResponse, StepError> {
        let started = Instant::now();
        let lake = self.lake()?;
        let artifacts = self.artifacts()?;
        let fail = |e: reco_train::TrainError| {
            StepError::from_error(&format!("training on snapshot {snapshot}"), &e)
        };
        let (rows, source) = read::read_training_snapshot(&lake, snapshot)
            .await
            .map_err(fail)?;
        // Products nobody rated get item embeddings too (cold start).
        let catalogue = publish::read_catalogue(&lake).await.map_err(fail)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let report = job::run_with_catalogue(rows, catalogue, source, &artifacts, &self.job, now)
            .await
            .map_err(fail)?;
        let m = &report.metrics;
        Ok(TrainResponse {
            model_version: report.model_version.clone(),
            accepted: m.gate.passed,
            reason: m.gate.reason.clone(),
            customers: m.training.users,
            products: m.training.items,
            ndcg_at_10: m.evaluation.model.ndcg_at_10,
            popularity_ndcg_at_10: m.evaluation.most_popular.ndcg_at_10,
            champion_ndcg_at_10: m
                .champion
                .as_ref()
                .and_then(|c| c.refit.as_ref().or(c.as_is.as_ref()).map(|r| r.ndcg_at_10)),
            training_seconds: m.full_train_seconds,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    async fn load(&self, model_version: &str) -> Result<LoadResponse, StepError> {
        let started = Instant::now();
        let artifacts = ModelArtifacts::new(self.artifacts()?, self.prefix());
        let target = self.args.pg.target()?;
        let options = reco_vector_store::connect_options(&target, &self.sdk)
            .await
            .map_err(|e| StepError::from_error("reading the vector database settings", &e))?;
        let store = VectorStore::connect_with(options, StoreOptions::for_cli())
            .await
            .map_err(|e| StepError::from_error("connecting to the vector database", &e))?;
        let report = Loader::new(&store)
            .load_from(&artifacts, Some(model_version))
            .await
            .map_err(|e| {
                StepError::from_error(&format!("loading the embeddings of {model_version}"), &e)
            });
        drop(store);
        let report = report?;
        Ok(LoadResponse {
            model_version: report.model_version,
            embedding_version: report.embedding_version,
            items: report.item_rows,
            users: report.user_rows,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    async fn plan(
        &self,
        model_version: &str,
        customers_per_shard: u64,
        max_shards: u32,
    ) -> Result<PlanResponse, StepError> {
        let artifacts = self.artifacts()?;
        let key = self.prefix().key(model_version, USER_EMBEDDINGS_PARQUET);
        let customers = parquet_rows(&artifacts, &key).await?;
        let count = shard_count(customers, customers_per_shard, max_shards);
        let generated_at = ScoreAllConfig::new(self.prefix()).generated_at;
        let shards = (0..count)
            .map(|index| {
                Request::Score(ShardRequest {
                    model_version: model_version.to_owned(),
                    index,
                    count,
                    generated_at: generated_at.clone(),
                })
            })
            .collect();
        Ok(PlanResponse {
            customers,
            shard_count: count,
            shards,
        })
    }

    async fn score(&self, shard: ShardRequest) -> Result<ScoreResponse, StepError> {
        let mut config = ScoreAllConfig::new(self.prefix());
        config.model_version = Some(shard.model_version.clone());
        config.shard =
            Shard::new(shard.index, shard.count).map_err(|e| StepError::invalid(e.to_string()))?;
        config.generated_at = shard.generated_at.clone();
        config.k = usize::from(self.args.k);
        config
            .validate()
            .map_err(|e| StepError::invalid(e.to_string()))?;
        let artifacts = self.artifacts()?;
        let lake = self.lake()?;
        let recs = self.bucket(var::RECO_RECS_BUCKET, &self.args.recs_bucket)?;
        let documents = DocumentStore::new(recs);
        let report = score_all(&config, &artifacts, &lake, &documents)
            .await
            .map_err(|e| StepError::from_error(&format!("scoring shard {}", config.shard), &e))?;
        Ok(ScoreResponse {
            shard: report.shard.to_string(),
            customers: report.customers,
            written: report.written,
            kept: report.kept,
            empty: report.empty,
            seconds: report.seconds,
        })
    }

    /// The roles and their secrets, connected as the master users (`RECO_PG_SECRET_ARN`,
    /// `RECO_MYSQL_SECRET_ARN` of the migrate function); a database whose role secrets are
    /// not configured is skipped.
    async fn migrate(&self, rotate: bool) -> Result<MigrateResponse, StepError> {
        let invalid = |e: reco_db_roles::MigrateError| StepError::invalid(e.to_string());
        let ids = self.args.roles.ids().map_err(invalid)?;
        let names = self.args.roles.names().map_err(invalid)?;
        let postgres = match &ids.postgres {
            Some(_) => Some(
                reco_vector_store::connect_options(&self.args.pg.target()?, &self.sdk)
                    .await
                    .map_err(|e| {
                        StepError::from_error("reading the vector database's master secret", &e)
                    })?,
            ),
            None => None,
        };
        let mysql = match &ids.mysql {
            Some(_) => Some(
                source_db::connect_options(&self.args.mysql.target()?, &self.sdk)
                    .await
                    .map_err(|e| {
                        StepError::from_error("reading the source database's master secret", &e)
                    })?,
            ),
            None => None,
        };
        let migration = Migration::new(
            names,
            rotate,
            &SecretsClient::new(&self.sdk),
            &ids,
            postgres,
            mysql,
        );
        let reports = migration
            .run(&|line| tracing::info!(progress = line, "migrate"))
            .await
            .map_err(|e| match &e {
                reco_db_roles::MigrateError::Database { error, .. } if is_transient(error) => {
                    StepError::transient(e.to_string())
                }
                _ => StepError::invalid(e.to_string()),
            })?;
        Ok(MigrateResponse {
            roles: reports
                .into_iter()
                .map(|r| MigratedRole {
                    role: r.role,
                    engine: r.engine.to_owned(),
                    password: r.password.to_string(),
                    secret: r.secret,
                })
                .collect(),
        })
    }

    async fn publish(&self, model_version: &str) -> Result<PublishResponse, StepError> {
        let artifacts = self.artifacts()?;
        let previous = publish::promote(&artifacts, &self.prefix(), model_version)
            .await
            .map_err(|e| StepError::from_error("publishing the version", &e))?;
        Ok(PublishResponse {
            model_version: model_version.to_owned(),
            previous,
        })
    }
}

/// Rows of the Parquet object at `key`, from its footer alone: two ranged reads, whatever the
/// file's size (the user embeddings of millions of customers are hundreds of MB).
async fn parquet_rows(bucket: &Bucket, key: &str) -> Result<u64, StepError> {
    let location = bucket.location(key);
    let storage = |operation, e| {
        let e = StorageError::from_store(operation, location.clone(), e);
        StepError::from_error("reading the customer count", &e)
    };
    let unreadable = |reason: String| StepError::invalid(format!("{location}: {reason}"));
    let path = object_store::path::Path::parse(key).map_err(|e| unreadable(e.to_string()))?;
    let store = bucket.store();
    let size = store
        .head(&path)
        .await
        .map_err(|e| storage("head", e))?
        .size;
    let tail_len = FOOTER_SIZE as u64;
    if size < tail_len + 4 {
        return Err(unreadable(format!("{size} bytes is too short for Parquet")));
    }
    let tail = store
        .get_range(&path, size - tail_len..size)
        .await
        .map_err(|e| storage("get", e))?;
    let footer = FooterTail::try_from(&tail[..]).map_err(|e| unreadable(e.to_string()))?;
    let metadata_len = footer.metadata_length() as u64;
    if metadata_len + tail_len > size {
        return Err(unreadable("the footer is longer than the file".to_owned()));
    }
    let metadata = store
        .get_range(&path, size - tail_len - metadata_len..size - tail_len)
        .await
        .map_err(|e| storage("get", e))?;
    let metadata =
        ParquetMetaDataReader::decode_metadata(&metadata).map_err(|e| unreadable(e.to_string()))?;
    Ok(metadata.file_metadata().num_rows().max(0) as u64)
}

fn to_json<T: Serialize>(value: T) -> Result<Value, StepError> {
    serde_json::to_value(value).map_err(|e| StepError::invalid(format!("answer not JSON: {e}")))
}

impl Executor for Services {
    async fn run(&self, request: Request) -> Result<Value, StepError> {
        match request {
            Request::Etl { snapshot } => to_json(self.etl(snapshot).await?),
            Request::Train { snapshot } => to_json(self.train(&snapshot).await?),
            Request::Load { model_version } => to_json(self.load(&model_version).await?),
            Request::Plan {
                model_version,
                customers_per_shard,
                max_shards,
            } => to_json(
                self.plan(&model_version, customers_per_shard, max_shards)
                    .await?,
            ),
            Request::Score(shard) => to_json(self.score(shard).await?),
            Request::Publish { model_version } => to_json(self.publish(&model_version).await?),
            Request::Migrate { rotate } => to_json(self.migrate(rotate).await?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_transient_and_bad_input_is_not() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_transient(&io));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        let storage = |kind| StorageError {
            operation: "get",
            location: "s3://b/k".into(),
            kind,
            reason: "x".into(),
        };
        assert!(is_transient(&storage(StorageErrorKind::Other)));
        assert!(!is_transient(&storage(StorageErrorKind::NoBucket)));
        // Found through the chain of a wrapping error.
        let wrapped = reco_train::TrainError::Storage(storage(StorageErrorKind::Other));
        assert!(is_transient(&wrapped));
        let e = StepError::from_error("training", &wrapped);
        assert_eq!(e.error_type(), TRANSIENT_ERROR);
        assert!(
            e.message.starts_with("training: get s3://b/k failed"),
            "{}",
            e.message
        );
        let invalid = reco_train::TrainError::Empty {
            source_name: "s3://lake/x".into(),
            reason: "no rows".into(),
        };
        assert_eq!(
            StepError::from_error("training", &invalid).error_type(),
            INVALID_ERROR
        );
    }
}
