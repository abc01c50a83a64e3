//! The load: embeddings CSV streams -> binary `COPY` into new versioned tables -> primary
//! keys and HNSW index -> views re-pointed and the version marked active.
//!
//! Everything up to the swap happens in ONE transaction on a dedicated connection, under an
//! advisory lock that serialises loads: a malformed line, a database error or a crash rolls
//! it all back, so the active version is untouched and nothing is left behind. Readers keep
//! querying the old tables through the views meanwhile and see the new version, whole, from
//! the commit on. Old versions are dropped afterwards, in a transaction of their own.

use std::time::{Duration, Instant};

use reco_vector_store::{VectorStore, schema};
use sqlx::{Connection, PgConnection};
use tokio::io::AsyncBufRead;

use crate::copy::copy_file;
use crate::encode::Kind;
use crate::records::{Record, RecordReader};
use crate::schema::{
    CREATE_VERSIONS_SQL, DEFAULT_MAINTENANCE_WORK_MEM, HNSW_EF_CONSTRUCTION, HNSW_M, LOAD_LOCK_KEY,
    LOAD_LOCK_TIMEOUT, NEW_VERSION_SQL,
};
use crate::swap::{self, NewVersion};
use crate::{LoadError, ModelArtifacts};

/// Longest accepted model version name (it is stored, and shown in recommendations).
const MAX_MODEL_VERSION_LEN: usize = 200;

/// One embeddings file: a name for messages and a buffered stream of its bytes.
#[derive(Debug)]
pub struct EmbeddingFile<R> {
    /// Name used in error messages (a file name or an `s3://` location).
    pub name: String,
    /// The CSV bytes.
    pub reader: R,
}

/// The embeddings of one model version.
#[derive(Debug)]
pub struct EmbeddingSource<I, U> {
    /// Model version the embeddings belong to (recorded as active after the swap).
    pub model_version: String,
    /// `item_embeddings.csv`: product code, embedding (and the cold-start flag, when the
    /// header is `id,embedding,cold`).
    pub items: EmbeddingFile<I>,
    /// `user_embeddings.csv`: customer number, embedding.
    pub users: EmbeddingFile<U>,
}

/// A model version's embeddings with both files past their header and their first records
/// read: the dimension is known and checked before the database is touched.
pub struct PreparedSource<I, U> {
    model_version: String,
    dim: usize,
    items: (RecordReader<I>, Record),
    users: (RecordReader<U>, Record),
}

impl<I, U> std::fmt::Debug for PreparedSource<I, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedSource")
            .field("model_version", &self.model_version)
            .field("dim", &self.dim)
            .field("items", &self.items.0.file)
            .field("users", &self.users.0.file)
            .finish()
    }
}

impl<I: AsyncBufRead + Unpin, U: AsyncBufRead + Unpin> PreparedSource<I, U> {
    /// Checks the version name, reads both headers and first records: refuses files with no
    /// row, items and users of different dimensions, and (when `model_dim` is given, from the
    /// version's `model.json`) files whose dimension is not the model's.
    pub async fn prepare(
        source: EmbeddingSource<I, U>,
        model_dim: Option<usize>,
    ) -> Result<Self, LoadError> {
        check_model_version(&source.model_version)?;
        let items = open_file(source.items, true).await?;
        let users = open_file(source.users, false).await?;
        let dim = items.1.vector.len();
        if let Some(model_dim) = model_dim {
            for (file, file_dim) in [(&items.0.file, dim), (&users.0.file, users.1.vector.len())] {
                if file_dim != model_dim {
                    return Err(LoadError::ModelDimensionMismatch {
                        version: source.model_version,
                        model_dim,
                        file: file.clone(),
                        file_dim,
                    });
                }
            }
        }
        if users.1.vector.len() != dim {
            return Err(LoadError::DimensionMismatch {
                items: dim,
                users: users.1.vector.len(),
            });
        }
        Ok(Self {
            model_version: source.model_version,
            dim,
            items,
            users,
        })
    }

    /// The model version.
    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    /// The embeddings' dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// What a load did, with the time of each phase.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Model version now active.
    pub model_version: String,
    /// Embedding version (load id) now active.
    pub embedding_version: String,
    /// Dimension of the embeddings.
    pub dim: usize,
    /// Item rows loaded.
    pub item_rows: u64,
    /// User rows loaded.
    pub user_rows: u64,
    /// Time parsing, encoding and copying the items.
    pub copy_items: Duration,
    /// Time parsing, encoding and copying the users.
    pub copy_users: Duration,
    /// Time adding the primary keys.
    pub primary_keys: Duration,
    /// Time building the HNSW index.
    pub hnsw_index: Duration,
    /// Time of the swap and commit.
    pub swap: Duration,
    /// Old versioned tables dropped after the swap.
    pub dropped_tables: Vec<String>,
    /// Why dropping old versions failed, if it did (the load itself succeeded; the next
    /// load retries the drop).
    pub cleanup_error: Option<String>,
}

/// Loads model versions into a [`VectorStore`]'s database, one at a time (loads are
/// serialised by an advisory lock, so concurrent loaders queue rather than interleave).
#[derive(Debug, Clone)]
pub struct Loader<'a> {
    store: &'a VectorStore,
    maintenance_work_mem: String,
    /// Whether the load becomes the active version (`false`: `--inactive`, staged for an A/B
    /// experiment's treatment).
    activate: bool,
    /// What the cleanup after the load keeps; `None`: [`Loader::load_from`] reads the running
    /// experiment from the artifacts bucket, other loads keep no experiment version.
    retention: Option<Retention>,
}

/// Which versions the cleanup after a load keeps besides the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retention {
    /// Keep the newest load of each of these model versions (the running A/B experiment's) and
    /// every version loaded after the active one (staged with `--inactive`, not yet used);
    /// drop the rest.
    Keep(Vec<String>),
    /// Drop nothing: the running experiment could not be read, so any version may be in use.
    DropNothing,
}

impl<'a> Loader<'a> {
    /// A loader into `store`'s database, with the default `maintenance_work_mem`
    /// ([`DEFAULT_MAINTENANCE_WORK_MEM`]) for the HNSW build.
    pub fn new(store: &'a VectorStore) -> Self {
        Self {
            store,
            maintenance_work_mem: DEFAULT_MAINTENANCE_WORK_MEM.to_owned(),
            activate: true,
            retention: None,
        }
    }

    /// Loads without activating: the version is recorded (inactive) and kept, the views and
    /// the active version are unchanged (`reco load-embeddings --inactive`).
    pub fn inactive(mut self) -> Self {
        self.activate = false;
        self
    }

    /// Sets what the cleanup after the load keeps (default: see [`Retention`]).
    pub fn retaining(mut self, retention: Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    /// The same loader with `maintenance_work_mem` (a PostgreSQL size, e.g. `"512MB"`) for
    /// the HNSW build.
    pub fn with_maintenance_work_mem(mut self, value: impl Into<String>) -> Self {
        self.maintenance_work_mem = value.into();
        self
    }

    /// Loads the embeddings of one model version and makes it the active version atomically.
    /// Progress (rows copied, phases) is reported as `tracing` events.
    pub async fn load_version<I, U>(
        &self,
        source: EmbeddingSource<I, U>,
    ) -> Result<LoadReport, LoadError>
    where
        I: AsyncBufRead + Unpin + Send,
        U: AsyncBufRead + Unpin + Send,
    {
        self.load_prepared(PreparedSource::prepare(source, None).await?)
            .await
    }

    /// Loads a version whose files were opened and checked ([`PreparedSource::prepare`],
    /// [`ModelArtifacts::open_checked`]) and makes it the active version atomically.
    pub async fn load_prepared<I, U>(
        &self,
        source: PreparedSource<I, U>,
    ) -> Result<LoadReport, LoadError>
    where
        I: AsyncBufRead + Unpin + Send,
        U: AsyncBufRead + Unpin + Send,
    {
        let mut conn =
            self.store
                .dedicated_connection()
                .await
                .map_err(|source| LoadError::Database {
                    step: "connecting",
                    source,
                })?;
        let mut report =
            load_in_transaction(&mut conn, source, &self.maintenance_work_mem, self.activate)
                .await?;
        let retention = self
            .retention
            .clone()
            .unwrap_or(Retention::Keep(Vec::new()));
        let cleanup = match &retention {
            Retention::Keep(model_versions) => {
                swap::drop_old_versions(&mut conn, model_versions).await
            }
            Retention::DropNothing => {
                tracing::warn!("old embedding versions kept: the running experiment is unknown");
                Ok(Vec::new())
            }
        };
        match cleanup {
            Ok(dropped) => {
                if !dropped.is_empty() {
                    tracing::info!(tables = %dropped.join(", "), "old versions dropped");
                }
                report.dropped_tables = dropped;
            }
            Err(e) => {
                tracing::warn!(error = %e, "old embedding versions not dropped; the next load retries");
                report.cleanup_error = Some(e.to_string());
            }
        }
        // The dedicated connection closes here; nothing of the load stays in the pool.
        conn.close().await.ok();
        Ok(report)
    }

    /// Loads model `version` (default: the one named by `LATEST`) from `artifacts`, streaming
    /// both embeddings files, and activates it. Before the database is touched, the version's
    /// `model.json` must exist and declare the embeddings files' dimension.
    pub async fn load_from(
        &self,
        artifacts: &ModelArtifacts,
        version: Option<&str>,
    ) -> Result<LoadReport, LoadError> {
        let version = match version {
            Some(v) => v.to_owned(),
            None => artifacts.latest_version().await?,
        };
        tracing::info!(
            model_version = %version,
            from = %artifacts.location(&version),
            "loading model version"
        );
        let source = artifacts.open_checked(&version).await?;
        match &self.retention {
            Some(_) => self.load_prepared(source).await,
            None => {
                let retention = artifacts.experiment_retention().await;
                self.clone()
                    .retaining(retention)
                    .load_prepared(source)
                    .await
            }
        }
    }
}

pub(crate) fn check_model_version(version: &str) -> Result<(), LoadError> {
    let reason = if version.is_empty() {
        "it is empty"
    } else if version.len() > MAX_MODEL_VERSION_LEN {
        "it is longer than 200 bytes"
    } else if version.chars().any(|c| c.is_control() || c == '/') {
        "it contains '/' or a control character"
    } else {
        return Ok(());
    };
    Err(LoadError::InvalidVersion {
        version: version.to_owned(),
        reason: reason.to_owned(),
    })
}

async fn load_in_transaction<I, U>(
    conn: &mut PgConnection,
    source: PreparedSource<I, U>,
    maintenance_work_mem: &str,
    activate: bool,
) -> Result<LoadReport, LoadError>
where
    I: AsyncBufRead + Unpin + Send,
    U: AsyncBufRead + Unpin + Send,
{
    let mut tx = conn
        .begin()
        .await
        .map_err(LoadError::db("starting the transaction"))?;
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", LOAD_LOCK_TIMEOUT.as_millis()))
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("configuring the session"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOAD_LOCK_KEY)
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db(
            "waiting (10 minutes at most) for another load to finish: pg_locks names its pid",
        ))?;
    sqlx::query(
        "SELECT set_config('statement_timeout', '0', true),
                set_config('lock_timeout', '0', true),
                set_config('maintenance_work_mem', $1, true)",
    )
    .bind(maintenance_work_mem)
    .execute(&mut *tx)
    .await
    .map_err(LoadError::db("configuring the session"))?;
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS vector")
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("creating the vector extension"))?;
    sqlx::raw_sql(CREATE_VERSIONS_SQL)
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("creating the metadata table"))?;
    let version: String = sqlx::query_scalar(NEW_VERSION_SQL)
        .fetch_one(&mut *tx)
        .await
        .map_err(LoadError::db("naming the new version"))?;
    if !schema::is_embedding_version(&version) {
        return Err(LoadError::InvalidVersion {
            version,
            reason: "the server generated an unexpected embedding version name".to_owned(),
        });
    }
    let item_table = schema::item_table(&version);
    let user_table = schema::user_table(&version);

    let started = Instant::now();
    let dim = source.dim;
    let (items, first_item) = source.items;
    let item_rows = copy_file(&mut tx, &item_table, Kind::Items, dim, items, first_item).await?;
    let copy_items = started.elapsed();

    let started = Instant::now();
    let (users, first_user) = source.users;
    let user_rows = copy_file(&mut tx, &user_table, Kind::Users, dim, users, first_user).await?;
    let copy_users = started.elapsed();

    // Keys after the copy: one sorted build is faster than maintaining the index per row.
    // Duplicates were already refused with their line numbers; the key is the backstop.
    let started = Instant::now();
    for table in [&item_table, &user_table] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} ADD PRIMARY KEY (id)"
        )))
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("adding the primary keys"))?;
    }
    let primary_keys = started.elapsed();

    tracing::info!(
        items = item_rows,
        m = HNSW_M,
        ef_construction = HNSW_EF_CONSTRUCTION,
        "building the HNSW index"
    );
    let started = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE INDEX {item_table}_hnsw ON {item_table} USING hnsw (embedding vector_cosine_ops) \
         WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    )))
    .execute(&mut *tx)
    .await
    .map_err(LoadError::db("building the HNSW index"))?;
    let hnsw_index = started.elapsed();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ANALYZE {item_table}; ANALYZE {user_table}"
    )))
    .execute(&mut *tx)
    .await
    .map_err(LoadError::db("analyzing the new tables"))?;

    let started = Instant::now();
    let new_version = NewVersion {
        embedding_version: &version,
        model_version: &source.model_version,
        dim,
        item_rows,
        user_rows,
    };
    if activate {
        swap::activate(&mut tx, &new_version).await?;
    } else {
        swap::record_inactive(&mut tx, &new_version).await?;
    }
    tx.commit()
        .await
        .map_err(LoadError::db("committing the swap"))?;
    let swap = started.elapsed();
    tracing::info!(
        model_version = %source.model_version,
        embedding_version = %version,
        items = item_rows,
        users = user_rows,
        dim,
        active = activate,
        "version loaded"
    );
    Ok(LoadReport {
        model_version: source.model_version,
        embedding_version: version,
        dim,
        item_rows,
        user_rows,
        copy_items,
        copy_users,
        primary_keys,
        hnsw_index,
        swap,
        dropped_tables: Vec::new(),
        cleanup_error: None,
    })
}
/// A reader over `file` past its header, and the file's first record (which fixes the
/// dimension); a file with no record, or with the cold-start flag where it has none
/// (`flag_allowed` false: user files), is refused.
async fn open_file<R: AsyncBufRead + Unpin>(
    file: EmbeddingFile<R>,
    flag_allowed: bool,
) -> Result<(RecordReader<R>, Record), LoadError> {
    let mut reader = RecordReader::new(file);
    reader.read_header().await?;
    if reader.flagged && !flag_allowed {
        return Err(LoadError::BadFile {
            file: reader.file.clone(),
            reason: format!(
                "user embeddings carry no cold-start flag: the header must be {:?}",
                crate::csv::HEADER
            ),
        });
    }
    let first = reader
        .next_record()
        .await?
        .ok_or_else(|| LoadError::BadFile {
            file: reader.file.clone(),
            reason: "no embeddings after the header".to_owned(),
        })?;
    Ok((reader, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_versions_are_checked() {
        check_model_version("2026-11-22T03-00-00Z").unwrap();
        assert!(check_model_version("").is_err());
        assert!(check_model_version("a/b").is_err());
        assert!(check_model_version(&"x".repeat(201)).is_err());
    }
}
