//! [`VectorStore`]: a PostgreSQL pool plus the options its queries run with.

use std::collections::HashMap;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};

use crate::{StoreError, StoreOptions};

/// The vector store: pgvector tables behind a connection pool.
#[derive(Debug, Clone)]
pub struct VectorStore {
    pub(crate) pool: PgPool,
    pub(crate) options: StoreOptions,
    /// Whether every pooled connection already carries the session settings (pools built by
    /// [`VectorStore::connect`]); otherwise queries set them per transaction.
    pub(crate) session_configured: bool,
}

/// The embeddings version readers currently see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveVersion {
    /// Model version the embeddings came from (the trainer's version folder name).
    pub model_version: String,
    /// Load id of the embeddings (`e` + UTC load time in microseconds).
    pub embedding_version: String,
    /// Dimension of every item and user embedding.
    pub dim: usize,
    /// Number of items.
    pub item_rows: i64,
    /// Number of users.
    pub user_rows: i64,
    /// UTC time the version became active (RFC 3339).
    pub loaded_at: String,
    /// Who loaded it: `reco load-embeddings` or `sql/embeddings.sql`.
    pub loaded_by: String,
}

impl VectorStore {
    /// Connects to `url` (`postgres://...`) with a pool sized by `options`.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let connect_options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Config {
            reason: format!("not a PostgreSQL URL: {e}"),
        })?;
        Self::connect_with(connect_options, options).await
    }

    /// Connects with explicit connect options (e.g. from [`crate::connect_options`]).
    ///
    /// Every connection is opened with the query settings (`hnsw.ef_search`,
    /// `hnsw.iterative_scan`, statement timeout) as startup options, so a k-NN batch is a
    /// single statement: one round trip.
    pub async fn connect_with(
        connect_options: PgConnectOptions,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        options.validate()?;
        let connect_options = connect_options.options(options.session_settings());
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options)
            .await
            .map_err(StoreError::from)?;
        Ok(Self {
            pool,
            options,
            session_configured: true,
        })
    }

    /// Wraps a pool built elsewhere. Its connections do not carry the query settings, so each
    /// k-NN batch runs in a transaction that sets them first (`SET LOCAL`-scoped).
    pub fn from_pool(pool: PgPool, options: StoreOptions) -> Self {
        Self {
            pool,
            options,
            session_configured: false,
        }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The options queries run with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// The version readers currently see, or `None` before the first load.
    pub async fn active_version(&self) -> Result<Option<ActiveVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT model_version, embedding_version, dim, item_rows, user_rows, loaded_by,
                    to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS loaded_at
             FROM reco_embedding_versions WHERE active",
        )
        .fetch_optional(&self.pool)
        .await;
        let row = match row {
            Ok(row) => row,
            // The metadata table does not exist before the first load.
            Err(e) => match StoreError::from(e) {
                StoreError::NoActiveVersion => return Ok(None),
                other => return Err(other),
            },
        };
        Ok(row.map(|row| ActiveVersion {
            model_version: row.get("model_version"),
            embedding_version: row.get("embedding_version"),
            dim: usize::try_from(row.get::<i32, _>("dim")).unwrap_or(0),
            item_rows: row.get("item_rows"),
            user_rows: row.get("user_rows"),
            loaded_at: row.get("loaded_at"),
            loaded_by: row.get("loaded_by"),
        }))
    }

    /// Embeddings of the given users (customer numbers); unknown ids are absent from the map.
    pub async fn user_embeddings(&self, ids: &[i32]) -> Result<HashMap<i32, Vec<f32>>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query("SELECT id, embedding FROM user_emb WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let vector: pgvector::Vector = row.get("embedding");
                (row.get::<i32, _>("id"), vector.to_vec())
            })
            .collect())
    }

    /// Embeddings of the given items (product codes); unknown ids are absent from the map.
    pub async fn item_embeddings(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<f32>>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query("SELECT id::text AS id, embedding FROM item_emb WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let vector: pgvector::Vector = row.get("embedding");
                (row.get::<String, _>("id"), vector.to_vec())
            })
            .collect())
    }

    /// A dedicated connection with the same settings as the pool's, outside the pool (for
    /// loads, which hold one transaction for minutes and should not starve the pool).
    pub async fn dedicated_connection(&self) -> Result<PgConnection, StoreError> {
        let options = self.pool.connect_options();
        PgConnection::connect_with(&options)
            .await
            .map_err(StoreError::from)
    }
}
