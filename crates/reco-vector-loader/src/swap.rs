//! The version swap: views re-pointed and the version marked active inside the load's
//! transaction, then old versions dropped in a transaction of their own.

use reco_vector_store::schema;
use sqlx::{Connection, PgConnection, Row};

use crate::LoadError;
use crate::schema::{LOAD_LOCK_KEY, VERSIONED_TABLE_REGEX};

/// How long dropping an old version waits for readers still using it before giving up (the
/// next load retries): a stuck reader must not make a finished load hang.
const DROP_LOCK_TIMEOUT: &str = "30s";

/// The versioned tables to drop: not the active version's, not the newest (still present)
/// load of a model version in `$2`, not loaded after the active one. sql/embeddings.sql keeps
/// the same versions (it reads the experiment's versions from a psql variable).
const KEPT_AND_DROPPED_SQL: &str = "
    WITH kept AS (
        SELECT embedding_version FROM reco_embedding_versions WHERE active
        UNION
        SELECT embedding_version FROM reco_embedding_versions
        WHERE embedding_version > COALESCE(
            (SELECT max(embedding_version) FROM reco_embedding_versions WHERE active), '')
        UNION
        (SELECT DISTINCT ON (model_version) embedding_version FROM reco_embedding_versions
         WHERE model_version = ANY($2::text[])
           AND to_regclass('item_emb_' || embedding_version) IS NOT NULL
         ORDER BY model_version, embedding_version DESC))
    SELECT c.relname::text AS name
    FROM pg_class c
    WHERE c.relkind = 'r'
      AND c.relnamespace = current_schema()::regnamespace
      AND c.relname ~ $1
      AND NOT EXISTS (
          SELECT 1 FROM kept k
          WHERE c.relname IN ('item_emb_' || k.embedding_version, 'user_emb_' || k.embedding_version))
    ORDER BY 1";

/// `loaded_by` value recorded by this loader (sql/embeddings.sql records its own name).
const LOADED_BY: &str = "reco load-embeddings";

/// A loaded version about to become active.
pub(crate) struct NewVersion<'a> {
    /// The load id (`e` + UTC time), already checked by [`schema::is_embedding_version`].
    pub(crate) embedding_version: &'a str,
    /// The model version the embeddings came from.
    pub(crate) model_version: &'a str,
    /// Dimension of every embedding.
    pub(crate) dim: usize,
    /// Item rows copied.
    pub(crate) item_rows: u64,
    /// User rows copied.
    pub(crate) user_rows: u64,
}

/// Points the views at the new tables. `CREATE OR REPLACE VIEW` keeps the view (and readers'
/// cached plans) when the column types are unchanged; a new dimension changes the column type,
/// which only a drop and re-create can do. Both happen inside the load's transaction.
async fn swap_views(
    conn: &mut PgConnection,
    item_table: &str,
    user_table: &str,
    dim: usize,
) -> Result<(), LoadError> {
    for (view, table) in [
        (schema::ITEM_VIEW, item_table),
        (schema::USER_VIEW, user_table),
    ] {
        let current: Option<String> = sqlx::query_scalar(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding'",
        )
        .bind(view)
        .fetch_optional(&mut *conn)
        .await
        .map_err(LoadError::db("inspecting the current views"))?;
        let replace = if current.as_deref() == Some(format!("vector({dim})").as_str()) {
            format!("CREATE OR REPLACE VIEW {view} AS SELECT id, embedding FROM {table}")
        } else {
            format!(
                "DROP VIEW IF EXISTS {view}; CREATE VIEW {view} AS SELECT id, embedding FROM {table}"
            )
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(replace))
            .execute(&mut *conn)
            .await
            .map_err(LoadError::db("swapping the views"))?;
    }
    Ok(())
}

/// The swap, inside the load's transaction: the views re-pointed at the new tables and the
/// version recorded as the only active one. Readers see it, whole, from the commit on.
pub(crate) async fn activate(
    conn: &mut PgConnection,
    version: &NewVersion<'_>,
) -> Result<(), LoadError> {
    let item_table = schema::item_table(version.embedding_version);
    let user_table = schema::user_table(version.embedding_version);
    swap_views(conn, &item_table, &user_table, version.dim).await?;
    sqlx::query("UPDATE reco_embedding_versions SET active = false WHERE active")
        .execute(&mut *conn)
        .await
        .map_err(LoadError::db("recording the active version"))?;
    record(conn, version, true).await
}

/// Records a loaded version without activating it (`--inactive`): the views and the active
/// version are unchanged; readers reach it only by its embedding version.
pub(crate) async fn record_inactive(
    conn: &mut PgConnection,
    version: &NewVersion<'_>,
) -> Result<(), LoadError> {
    record(conn, version, false).await
}

async fn record(
    conn: &mut PgConnection,
    version: &NewVersion<'_>,
    active: bool,
) -> Result<(), LoadError> {
    sqlx::query(
        "INSERT INTO reco_embedding_versions
             (embedding_version, model_version, dim, item_rows, user_rows, loaded_by, loaded_at, active)
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), $7)",
    )
    .bind(version.embedding_version)
    .bind(version.model_version)
    .bind(version.dim as i32)
    .bind(version.item_rows as i64)
    .bind(version.user_rows as i64)
    .bind(LOADED_BY)
    .bind(active)
    .execute(&mut *conn)
    .await
    .map_err(LoadError::db("recording the active version"))?;
    Ok(())
}

/// Drops every versioned table that is not kept: kept are the active version's, the newest
/// load of each of `keep_model_versions` (a running A/B experiment's) and every version loaded
/// after the active one (staged with `--inactive`; embedding versions are load times, so they
/// sort as text). Skipped (returns nothing) while another load holds the lock: that load drops
/// them when it finishes.
pub(crate) async fn drop_old_versions(
    conn: &mut PgConnection,
    keep_model_versions: &[String],
) -> Result<Vec<String>, LoadError> {
    let mut tx = conn
        .begin()
        .await
        .map_err(LoadError::db("starting the cleanup"))?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOAD_LOCK_KEY)
        .fetch_one(&mut *tx)
        .await
        .map_err(LoadError::db("locking for cleanup"))?;
    if !locked {
        return Ok(Vec::new());
    }
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(DROP_LOCK_TIMEOUT)
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("configuring the cleanup"))?;
    let rows = sqlx::query(KEPT_AND_DROPPED_SQL)
        .bind(VERSIONED_TABLE_REGEX)
        .bind(keep_model_versions)
        .fetch_all(&mut *tx)
        .await
        .map_err(LoadError::db("listing old versions"))?;
    let names: Vec<String> = rows.iter().map(|r| r.get("name")).collect();
    for name in &names {
        // Names matched VERSIONED_TABLE_REGEX: letters, digits and '_' only.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&mut *tx)
            .await
            .map_err(LoadError::db("dropping old versions"))?;
    }
    tx.commit()
        .await
        .map_err(LoadError::db("committing the cleanup"))?;
    Ok(names)
}
