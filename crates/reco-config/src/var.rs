//! Every environment variable reco reads, named and documented once. Binaries bind them to
//! flags with clap (`env = var::...`); the local scripts share the `RECO_LOCAL_*` names.

/// Endpoint of the AWS emulator; unset against real AWS.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// AWS region of every client.
pub const AWS_REGION: &str = "AWS_REGION";
/// Static access key (the local stack's dummy credentials); unset to use the default chain.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// Static secret key paired with `AWS_ACCESS_KEY_ID`.
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// Optional session token paired with the static keys.
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// Which environment every command targets: `aws` (the default: real AWS, settings from
/// `.local/outputs-aws.env` written by `make deploy-*`) or `local` (the emulator and local
/// databases: `.local/env` from `make local-up`, then `.local/outputs-local.env`). The
/// Makefile's `ENV` is the same switch.
pub const RECO_ENV: &str = "RECO_ENV";
/// Folder holding `env` and `outputs-<RECO_ENV>.env`; default: the nearest `.local/` upwards.
pub const RECO_LOCAL_DIR: &str = "RECO_LOCAL_DIR";
/// Source database URL (`mysql://user:pass@host:port/db`), local use.
pub const RECO_MYSQL_URL: &str = "RECO_MYSQL_URL";
/// Secrets Manager secret (JSON: host, port, username, password, dbname) of the source database.
pub const RECO_MYSQL_SECRET_ARN: &str = "RECO_MYSQL_SECRET_ARN";
/// Vector database URL (`postgres://user:pass@host:port/db`), local use. Its query carries
/// the TLS settings (`sslmode=verify-full&sslrootcert=...` from `make local-up`).
pub const RECO_PG_URL: &str = "RECO_PG_URL";
/// With `RECO_PG_URL`: a secret (JSON username, password) whose credentials replace the URL's,
/// re-read when the database refuses them (a password changed while the process runs).
pub const RECO_PG_CREDENTIALS_SECRET_ARN: &str = "RECO_PG_CREDENTIALS_SECRET_ARN";
/// PEM file of the certificate authorities that sign the database servers' certificates, for
/// the connections built from a secret (PostgreSQL and MySQL); unset: the Amazon RDS CA bundle
/// built into the binaries (`certs/rds-global-bundle.pem`).
pub const RECO_DB_CA_FILE: &str = "RECO_DB_CA_FILE";
/// RDS-managed master secret (JSON: username, password) of the vector database.
pub const RECO_PG_SECRET_ARN: &str = "RECO_PG_SECRET_ARN";
/// Vector database host, used with `RECO_PG_SECRET_ARN`.
pub const RECO_PG_HOST: &str = "RECO_PG_HOST";
/// Vector database (RDS) port, used with `RECO_PG_SECRET_ARN` (default 5432). The local
/// stack's own port is `RECO_LOCAL_PG_PORT`.
pub const RECO_PG_PORT: &str = "RECO_PG_PORT";
/// Vector database name, used with `RECO_PG_SECRET_ARN`.
pub const RECO_PG_DATABASE: &str = "RECO_PG_DATABASE";
/// S3 bucket of the training data lake (Parquet snapshots).
pub const RECO_DATA_LAKE_BUCKET: &str = "RECO_DATA_LAKE_BUCKET";
/// S3 bucket of model artifacts and embeddings.
pub const RECO_ARTIFACTS_BUCKET: &str = "RECO_ARTIFACTS_BUCKET";
/// Key prefix of model versions inside the artifacts bucket.
pub const RECO_MODEL_PREFIX: &str = "RECO_MODEL_PREFIX";
/// Training: latent factors (embedding dimension D = factors + 1; default 31).
pub const RECO_TRAIN_FACTORS: &str = "RECO_TRAIN_FACTORS";
/// Training: ALS iterations (default 15).
pub const RECO_TRAIN_ITERATIONS: &str = "RECO_TRAIN_ITERATIONS";
/// Training: L2 regularisation of the factors (default 10).
pub const RECO_TRAIN_REGULARIZATION: &str = "RECO_TRAIN_REGULARIZATION";
/// Training: confidence scale alpha, a pair weighs 1 + alpha * rating / 5 (default 1).
pub const RECO_TRAIN_ALPHA: &str = "RECO_TRAIN_ALPHA";
/// Training: seed of the initial factors (default 42).
pub const RECO_TRAIN_SEED: &str = "RECO_TRAIN_SEED";
/// Training gate: lowest held-out nDCG@10 for a version to become LATEST (default 0).
pub const RECO_TRAIN_MIN_NDCG: &str = "RECO_TRAIN_MIN_NDCG";
/// Training gate: largest relative nDCG@10 drop against the live version re-fitted on the
/// same held-out split (most-popular when there is none; default 0.10).
pub const RECO_TRAIN_MAX_NDCG_DROP: &str = "RECO_TRAIN_MAX_NDCG_DROP";
/// Training: automatic hyper-parameter search before the fit (`true` by default; `false`
/// trains with the given settings as they are).
pub const RECO_TRAIN_TUNING: &str = "RECO_TRAIN_TUNING";
/// Training: seconds the hyper-parameter search may spend (default 300).
pub const RECO_TRAIN_TUNING_BUDGET_SECONDS: &str = "RECO_TRAIN_TUNING_BUDGET_SECONDS";
/// S3 bucket the delivery stream writes recommendations to.
pub const RECO_RECS_BUCKET: &str = "RECO_RECS_BUCKET";
/// Glue Data Catalog database of the training table.
pub const RECO_GLUE_DATABASE: &str = "RECO_GLUE_DATABASE";
/// Glue Data Catalog table of the training rows.
pub const RECO_GLUE_TABLE: &str = "RECO_GLUE_TABLE";
/// ETL: days of raw click events (`events/dt=...` in the data lake) turned into `events`
/// training rows, back from the run's date (default 30; 0: none).
pub const RECO_EVENTS_LOOKBACK_DAYS: &str = "RECO_EVENTS_LOOKBACK_DAYS";
/// ETL: half-life in days of an event's weight, decay `0.5^(age / half-life)` (default 14).
pub const RECO_EVENTS_HALF_LIFE_DAYS: &str = "RECO_EVENTS_HALF_LIFE_DAYS";
/// ETL: largest weight of one customer x product pair from events (default 20; 0: no cap).
pub const RECO_EVENTS_MAX_PAIR_WEIGHT: &str = "RECO_EVENTS_MAX_PAIR_WEIGHT";
/// ETL: weight of a product browsed in a session (default 1).
pub const RECO_EVENT_WEIGHT_VIEW: &str = "RECO_EVENT_WEIGHT_VIEW";
/// ETL: weight of a product put in the cart in a session (default 3).
pub const RECO_EVENT_WEIGHT_ADD_TO_CART: &str = "RECO_EVENT_WEIGHT_ADD_TO_CART";
/// ETL: weight of a purchase (default 5).
pub const RECO_EVENT_WEIGHT_PURCHASE: &str = "RECO_EVENT_WEIGHT_PURCHASE";
/// ETL: weight of a click on a recommendation (default 2).
pub const RECO_EVENT_WEIGHT_REC_CLICK: &str = "RECO_EVENT_WEIGHT_REC_CLICK";
/// ETL: weight of a recommendation shown (default 0: exposure, not interest).
pub const RECO_EVENT_WEIGHT_REC_IMPRESSION: &str = "RECO_EVENT_WEIGHT_REC_IMPRESSION";
/// Kinesis stream of click events.
pub const RECO_CLICK_STREAM: &str = "RECO_CLICK_STREAM";
/// Firehose delivery stream from the click stream to the recommendations bucket.
pub const RECO_DELIVERY_STREAM: &str = "RECO_DELIVERY_STREAM";
/// Name of the deployed transformation Lambda.
pub const RECO_TRANSFORM_FUNCTION: &str = "RECO_TRANSFORM_FUNCTION";
/// Number of recommended items per event.
pub const RECO_KNN_K: &str = "RECO_KNN_K";
/// HNSW `ef_search` used by k-NN queries.
pub const RECO_EF_SEARCH: &str = "RECO_EF_SEARCH";
/// Statements a large batched k-NN query is split into, run at once.
pub const RECO_KNN_PARALLELISM: &str = "RECO_KNN_PARALLELISM";
/// Largest item catalogue the transform Lambda searches exactly in memory (0: always HNSW).
pub const RECO_EXACT_KNN_MAX_ITEMS: &str = "RECO_EXACT_KNN_MAX_ITEMS";
/// Item vectors the transform Lambda's k-NN caches hold at most (0: caches off).
pub const RECO_KNN_CACHE_ITEMS: &str = "RECO_KNN_CACHE_ITEMS";
/// Known customers whose stored vectors the transform Lambda keeps per version (0: every
/// batch reads its customers).
pub const RECO_CUSTOMER_VECTOR_CACHE: &str = "RECO_CUSTOMER_VECTOR_CACHE";
/// Bound of the transform Lambda's in-memory partitioned replica of a large catalogue, in MiB
/// of vectors and ids (0: never built, the HNSW path serves).
pub const RECO_MEMORY_INDEX_MAX_MB: &str = "RECO_MEMORY_INDEX_MAX_MB";
/// recall@k against exact search that the in-memory replica's probe count is chosen for.
pub const RECO_KNN_RECALL_TARGET: &str = "RECO_KNN_RECALL_TARGET";
/// Whether the transform gzips each delivered record on its own (one gzip member per record;
/// default true; the delivery stream then does not compress).
pub const RECO_RECORD_GZIP: &str = "RECO_RECORD_GZIP";
/// Whether the transform's `Ok` records carry `metadata.partitionKeys` (only for a delivery
/// stream with dynamic partitioning; default false).
pub const RECO_PARTITION_KEYS: &str = "RECO_PARTITION_KEYS";
/// Model version the transform Lambda must use; unset: the version of the loaded embeddings.
pub const RECO_MODEL_VERSION: &str = "RECO_MODEL_VERSION";

/// Port of the local MariaDB (scripts only; default 13306). Not the RDS port.
pub const RECO_LOCAL_MYSQL_PORT: &str = "RECO_LOCAL_MYSQL_PORT";
/// Port of the local PostgreSQL + pgvector (scripts only; default 15432). Not the RDS port.
pub const RECO_LOCAL_PG_PORT: &str = "RECO_LOCAL_PG_PORT";
/// Port of the local AWS emulator (scripts only; default 15000).
pub const RECO_LOCAL_MOTO_PORT: &str = "RECO_LOCAL_MOTO_PORT";

/// What to do when `name` is missing: which command writes it, or how to set it.
pub fn hint(name: &str) -> &'static str {
    match name {
        RECO_DATA_LAKE_BUCKET | RECO_GLUE_DATABASE | RECO_GLUE_TABLE | RECO_ARTIFACTS_BUCKET => {
            "deploy the etl part first (`make deploy-etl`, or `ENV=local make deploy-etl` for the \
             local stack with RECO_ENV=local), which writes .local/outputs-<env>.env"
        }
        RECO_RECS_BUCKET | RECO_CLICK_STREAM | RECO_DELIVERY_STREAM | RECO_TRANSFORM_FUNCTION => {
            "deploy the streaming part first (`make deploy-streaming`, or `ENV=local make \
             deploy-streaming` with RECO_ENV=local), which writes .local/outputs-<env>.env"
        }
        RECO_PG_URL
        | RECO_PG_SECRET_ARN
        | RECO_PG_HOST
        | RECO_PG_DATABASE
        | RECO_PG_CREDENTIALS_SECRET_ARN => {
            "set RECO_PG_URL for a local database (`make local-up` writes it; RECO_ENV=local), \
             or deploy the vector-db part (`make deploy-vector-db`) for the secret and host"
        }
        RECO_MYSQL_URL | RECO_MYSQL_SECRET_ARN => {
            "set RECO_MYSQL_URL for a local database (`make local-up` writes it; RECO_ENV=local), \
             or deploy the etl part (`make deploy-etl`) for the secret"
        }
        _ => "export it, or pass the matching flag (see --help)",
    }
}
