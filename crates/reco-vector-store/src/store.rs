//! [`VectorStore`]: a PostgreSQL pool plus the options its queries run with, and where its
//! credentials come from so a rotated password can be re-read
//! ([`VectorStore::refresh_credentials`]).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use reco_config::groups::PgTarget;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};

use crate::connection::{PgSecret, SecretSource, resolve};
use crate::exact::ExactIndex;
use crate::schema::{is_embedding_version, user_table};
use crate::{StoreError, StoreOptions};

/// The vector store: pgvector tables behind a connection pool.
#[derive(Debug, Clone)]
pub struct VectorStore {
    pub(crate) pool: PgPool,
    pub(crate) options: StoreOptions,
    /// Whether every pooled connection already carries the session settings (pools built by
    /// [`VectorStore::connect`]); otherwise queries set them per transaction.
    pub(crate) session_configured: bool,
    /// Where the credentials come from; shared by every clone of the store.
    credentials: Arc<Credentials>,
}

/// The credentials' source and the last re-read, shared by a store's clones.
#[derive(Debug, Default)]
struct Credentials {
    /// The secret the credentials come from; `None`: fixed (a URL's, or a pool built elsewhere).
    source: Option<SecretSource>,
    /// Serialises re-reads: callers that fail at once share one read.
    state: tokio::sync::Mutex<RefreshState>,
}

#[derive(Debug, Default)]
struct RefreshState {
    /// The credentials the pool's connect options carry.
    current: Option<PgSecret>,
    /// When the secret was last re-read (successfully or not).
    last_read: Option<Instant>,
    /// Whether that re-read changed the connect options.
    last_changed: bool,
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
    /// Shortest time between two reads of the credentials' secret by
    /// [`VectorStore::refresh_credentials`]: during an outage that refuses every login, the
    /// secret is read at most once per interval, not once per failing call.
    pub const CREDENTIAL_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

    /// Connects to `target` with a pool sized by `options`, reading the secret (RDS target, or
    /// a URL with a credentials secret) through `sdk_config`. The store remembers the secret,
    /// so [`VectorStore::refresh_credentials`] can re-read it after the password is rotated.
    ///
    /// Every connection of the (small, a function's) pool is opened now and at once, so their
    /// set-ups (TCP, TLS, login) overlap instead of one following the other: otherwise the
    /// pool opens its second connection later, when a query finds the first one still being
    /// returned (sqlx pings a released connection before it is idle again), in the middle of
    /// the model's warm-up or of the first batch. Returns once the first connection is open
    /// (the others keep opening in the background, so init does not wait for the slowest
    /// handshake). Fails when no connection opens; one that does not (the server's
    /// connection limit) is logged and left to the pool to open on demand.
    pub async fn connect_target(
        target: &PgTarget,
        sdk_config: &aws_config::SdkConfig,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let reading = Instant::now();
        let (connect_options, secret) = resolve(target, sdk_config).await?;
        if secret.is_some() {
            // Logged so that cold-start measurements can tell the secret's read from the rest.
            tracing::info!(
                elapsed_ms = reading.elapsed().as_secs_f64() * 1e3,
                "database credentials read from the secret"
            );
        }
        let connections = options.max_connections;
        let mut store = Self::open(connect_options, options, connections).await?;
        if let Some((source, current)) = secret {
            store.credentials = Arc::new(Credentials {
                source: Some(source),
                state: tokio::sync::Mutex::new(RefreshState {
                    current: Some(current),
                    ..RefreshState::default()
                }),
            });
        }
        Ok(store)
    }

    /// Re-reads the credentials' secret and, when the user or password changed, makes the pool
    /// open its next connections with them (connections already open are kept: the server
    /// authenticated them). Returns whether the connect options changed.
    ///
    /// Call it when a call failed with [`StoreError::Authentication`], then retry once. A store
    /// whose credentials are fixed (a plain URL, or [`VectorStore::from_pool`]) returns
    /// `Ok(false)`. The secret is read at most once per [`Self::CREDENTIAL_REFRESH_INTERVAL`]:
    /// a call within it returns the outcome of the last read without reading again (callers
    /// failing at the same time share one read).
    pub async fn refresh_credentials(&self) -> Result<bool, StoreError> {
        let Some(source) = &self.credentials.source else {
            return Ok(false);
        };
        let mut state = self.credentials.state.lock().await;
        if let Some(last) = state.last_read
            && last.elapsed() < Self::CREDENTIAL_REFRESH_INTERVAL
        {
            return Ok(state.last_changed);
        }
        state.last_read = Some(Instant::now());
        state.last_changed = false;
        let secret = match source.read().await {
            Ok(secret) => secret,
            Err(e) => {
                tracing::warn!(secret = %source.arn, error = %e, "cannot re-read the database credentials");
                return Err(e);
            }
        };
        let changed = state.current.as_ref() != Some(&secret);
        if changed {
            let options = secret.apply((*self.pool.connect_options()).clone());
            self.pool.set_connect_options(options);
            tracing::info!(
                secret = %source.arn,
                user = %secret.username,
                "database credentials re-read from the secret: new connections use them"
            );
            state.current = Some(secret);
        } else {
            tracing::warn!(
                secret = %source.arn,
                "database credentials re-read: the secret still holds the refused ones"
            );
        }
        state.last_changed = changed;
        Ok(changed)
    }

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
        Self::open(connect_options, options, 1).await
    }

    /// A pool with `connections` connections opened concurrently (at least one, at most the
    /// pool's maximum), then idle in it; the first error when none opened.
    async fn open(
        connect_options: PgConnectOptions,
        options: StoreOptions,
        connections: u32,
    ) -> Result<Self, StoreError> {
        options.validate()?;
        let connect_options = connect_options.options(options.session_settings());
        let pool_options = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout);
        let wanted = connections.clamp(1, options.max_connections.max(1));
        let pool = if wanted == 1 {
            // One connection, idle in the pool on return.
            pool_options
                .connect_with(connect_options)
                .await
                .map_err(StoreError::from)?
        } else {
            let pool = pool_options.connect_lazy_with(connect_options);
            // Each acquire opens a connection of its own (the pool is empty); once released
            // the pool is full, so a query waits for one of them, never opens another. The
            // store is ready with the first connection that opens: the others finish opening
            // in the background (a query meanwhile takes the open one) instead of the store
            // waiting for the slowest handshake.
            let mut opening: FuturesUnordered<_> = (0..wanted).map(|_| pool.acquire()).collect();
            let mut errors = Vec::new();
            let mut opened = false;
            while let Some(result) = opening.next().await {
                match result {
                    Ok(connection) => {
                        drop(connection);
                        opened = true;
                        break;
                    }
                    Err(error) => errors.push(error),
                }
            }
            if !opened && let Some(error) = errors.pop() {
                return Err(StoreError::from(error));
            }
            for error in &errors {
                tracing::warn!(error = %error, "a connection of the pool did not open at start; the pool opens it when needed");
            }
            tokio::spawn(async move {
                while let Some(result) = opening.next().await {
                    if let Err(error) = result {
                        tracing::warn!(error = %error, "a connection of the pool did not open at start; the pool opens it when needed");
                    }
                }
            });
            pool
        };
        Ok(Self {
            pool,
            options,
            session_configured: true,
            credentials: Arc::default(),
        })
    }

    /// Wraps a pool built elsewhere. Its connections do not carry the query settings, so each
    /// k-NN batch runs in a transaction that sets them first (`SET LOCAL`-scoped).
    pub fn from_pool(pool: PgPool, options: StoreOptions) -> Self {
        Self {
            pool,
            options,
            session_configured: false,
            credentials: Arc::default(),
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

    /// The newest loaded embeddings of `model_version` whose tables still exist, active or not
    /// (an A/B experiment's treatment is loaded with `reco load-embeddings --inactive`);
    /// `None` when that model version is not loaded. `ActiveVersion` describes any version here.
    pub async fn loaded_version_of(
        &self,
        model_version: &str,
    ) -> Result<Option<ActiveVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT model_version, embedding_version, dim, item_rows, user_rows, loaded_by,
                    to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS loaded_at
             FROM reco_embedding_versions
             WHERE model_version = $1
               AND to_regclass('item_emb_' || embedding_version) IS NOT NULL
               AND to_regclass('user_emb_' || embedding_version) IS NOT NULL
             ORDER BY active DESC, embedding_version DESC
             LIMIT 1",
        )
        .bind(model_version)
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

    /// The version readers currently see and, when it has at most `max_items` items and is
    /// not `held` (the embedding version the caller already holds in memory), its item
    /// catalogue as an [`ExactIndex`]; `None` before the first load.
    ///
    /// One statement, so one round trip and one snapshot: the loader re-points the view
    /// `item_emb` and marks the version active in the same transaction, so the items read
    /// through the view are the active version's. A larger (or held) version's items are not
    /// read: the statement's row gate is evaluated once, before any item is scanned. The
    /// vectors come as `real[]` (a built-in type), so a fresh connection does not first look
    /// up pgvector's type.
    pub async fn active_version_and_catalogue(
        &self,
        max_items: usize,
        held: Option<&str>,
    ) -> Result<Option<(ActiveVersion, Option<ExactIndex>)>, StoreError> {
        let max_items = i64::try_from(max_items).unwrap_or(i64::MAX);
        // The version's row has no id; each item row has only an id and a vector.
        let rows = sqlx::query(
            "WITH v AS (
                 SELECT model_version, embedding_version, dim, item_rows, user_rows, loaded_by,
                        to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS loaded_at
                 FROM reco_embedding_versions WHERE active)
             SELECT v.model_version, v.embedding_version, v.dim, v.item_rows, v.user_rows,
                    v.loaded_by, v.loaded_at, NULL::text AS id, NULL::real[] AS embedding
             FROM v
             UNION ALL
             SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, i.id::text, i.embedding::real[]
             FROM v CROSS JOIN LATERAL (
                 SELECT id, embedding FROM item_emb
                 WHERE v.item_rows <= $1 AND v.embedding_version IS DISTINCT FROM $2
                 ORDER BY id) i",
        )
        .bind(max_items)
        .bind(held)
        .fetch_all(&self.pool)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            // The metadata table does not exist before the first load.
            Err(e) => match StoreError::from(e) {
                StoreError::NoActiveVersion => return Ok(None),
                other => return Err(other),
            },
        };
        let mut active = None;
        let mut items = Vec::new();
        for row in rows {
            match row.try_get::<Option<String>, _>("id")? {
                Some(id) => items.push((id, row.try_get::<Vec<f32>, _>("embedding")?)),
                None => {
                    active = Some(ActiveVersion {
                        model_version: row.try_get("model_version")?,
                        embedding_version: row.try_get("embedding_version")?,
                        dim: usize::try_from(row.try_get::<i32, _>("dim")?).unwrap_or(0),
                        item_rows: row.try_get("item_rows")?,
                        user_rows: row.try_get("user_rows")?,
                        loaded_at: row.try_get("loaded_at")?,
                        loaded_by: row.try_get("loaded_by")?,
                    });
                }
            }
        }
        let Some(active) = active else {
            return Ok(None);
        };
        let wanted =
            active.item_rows <= max_items && held != Some(active.embedding_version.as_str());
        let catalogue = if wanted {
            Some(ExactIndex::new(&active.embedding_version, items)?)
        } else {
            None
        };
        Ok(Some((active, catalogue)))
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

    /// Stored embeddings of the given customers in `embedding_version` (that version's own
    /// table, not the view a concurrent load may re-point), one round trip by primary key;
    /// customers the version does not hold (new ones, numbers outside the key's range) are
    /// absent from the answer. What the transform uses for known customers, so that its
    /// model needs no learned part per customer.
    ///
    /// Fails with [`StoreError::NoActiveVersion`] when the version's table is gone (a newer
    /// load replaced it): read the active version again.
    pub async fn customer_embeddings_in_version(
        &self,
        embedding_version: &str,
        customers: &[i64],
    ) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
        if !is_embedding_version(embedding_version) {
            return Err(StoreError::BadRequest {
                reason: format!("{embedding_version:?} is not an embedding version"),
            });
        }
        let ids: Vec<i32> = customers
            .iter()
            .filter_map(|&c| i32::try_from(c).ok())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // real[]: no lookup of the extension's type on a fresh connection.
        let sql = format!(
            "SELECT id, embedding::real[] AS embedding FROM {} WHERE id = ANY($1)",
            user_table(embedding_version)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    i64::from(row.get::<i32, _>("id")),
                    row.get::<Vec<f32>, _>("embedding"),
                )
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
