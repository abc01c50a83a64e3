//! Loading the classicmodels dump into the configured database and deriving `ratings`
//! (rule documented in `sql/classicmodels_ratings.sql`).
//!
//! The dump is read as given (UTF-8, or Latin-1 when it is not valid UTF-8; CRLF or LF;
//! MySQL executable comments) and split into statements here, so that it lands in the
//! database of the connection: its `CREATE DATABASE` and `USE` statements are skipped,
//! and so are `SET NAMES` ones (the text was already decoded; the connection is utf8mb4).

use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, MySqlConnection};

use crate::sql_script::{ScriptError, normalized_head, split_statements};

/// The source schema (`sql/source_schema.sql`): every table is `IF NOT EXISTS`.
pub const SOURCE_SCHEMA_SQL: &str = include_str!("../../../sql/source_schema.sql");
/// The ratings derivation (`sql/classicmodels_ratings.sql`).
pub const CLASSICMODELS_RATINGS_SQL: &str = include_str!("../../../sql/classicmodels_ratings.sql");

/// Statement prefixes of a dump that would leave the configured database or re-encode text.
const SKIPPED_STATEMENTS: &[&str] = &[
    "CREATE DATABASE",
    "CREATE SCHEMA",
    "USE",
    "SET NAMES",
    "SET CHARACTER",
];

/// Loading failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The script could not be split into statements.
    #[error("{script}: {source}")]
    Script {
        /// Which script.
        script: String,
        /// Where and why.
        source: ScriptError,
    },
    /// A statement failed.
    #[error("{script} line {line}: `{statement}` failed: {source}")]
    Statement {
        /// Which script.
        script: String,
        /// 1-based line of the statement.
        line: usize,
        /// The statement's beginning.
        statement: String,
        /// The server's error.
        source: sqlx::Error,
    },
    /// Another query failed.
    #[error("{what}: {source}")]
    Query {
        /// What was being done.
        what: &'static str,
        /// The server's error.
        source: sqlx::Error,
    },
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Statements executed from the dump.
    pub statements: usize,
    /// Statements skipped (beginning of each).
    pub skipped: Vec<String>,
    /// Ratings derived.
    pub ratings: i64,
    /// Distinct customers with a rating.
    pub rated_customers: i64,
    /// Distinct products with a rating.
    pub rated_products: i64,
}

fn preview(statement: &str) -> String {
    let flat: String = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &flat[..i]),
        None => flat,
    }
}

/// Executes every statement of `script` on `conn`, skipping those starting with `skip`.
/// Returns (executed, skipped previews).
pub async fn execute_script(
    conn: &mut MySqlConnection,
    name: &str,
    script: &str,
    skip: &[&str],
) -> Result<(usize, Vec<String>), LoadError> {
    let statements = split_statements(script).map_err(|source| LoadError::Script {
        script: name.to_owned(),
        source,
    })?;
    let mut executed = 0;
    let mut skipped = Vec::new();
    for statement in statements {
        let head = normalized_head(&statement.text, 2);
        if skip
            .iter()
            .any(|s| head == *s || head.starts_with(&format!("{s} ")))
        {
            skipped.push(preview(&statement.text));
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.text.clone()))
            .execute(&mut *conn)
            .await
            .map_err(|source| LoadError::Statement {
                script: name.to_owned(),
                line: statement.line,
                statement: preview(&statement.text),
                source,
            })?;
        executed += 1;
    }
    Ok((executed, skipped))
}

/// Loads `dump` into the database `options` names and derives `ratings`.
pub async fn load_classicmodels(
    options: &MySqlConnectOptions,
    dump_name: &str,
    dump: &str,
) -> Result<LoadReport, LoadError> {
    let query = |what| move |source| LoadError::Query { what, source };
    let mut conn = options
        .connect()
        .await
        .map_err(query("cannot connect to the source database"))?;
    // The dump drops and recreates tables that `ratings` sits next to; start clean.
    sqlx::raw_sql("SET FOREIGN_KEY_CHECKS = 0; DROP TABLE IF EXISTS ratings")
        .execute(&mut conn)
        .await
        .map_err(query("dropping the old ratings table"))?;
    let (statements, skipped) =
        execute_script(&mut conn, dump_name, dump, SKIPPED_STATEMENTS).await?;
    execute_script(&mut conn, "sql/source_schema.sql", SOURCE_SCHEMA_SQL, &[]).await?;
    execute_script(
        &mut conn,
        "sql/classicmodels_ratings.sql",
        CLASSICMODELS_RATINGS_SQL,
        &[],
    )
    .await?;
    sqlx::raw_sql("SET FOREIGN_KEY_CHECKS = 1")
        .execute(&mut conn)
        .await
        .map_err(query("restoring foreign key checks"))?;
    let (ratings, rated_customers, rated_products): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT customerNumber), COUNT(DISTINCT productCode) FROM ratings",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(query("counting ratings"))?;
    Ok(LoadReport {
        statements,
        skipped,
        ratings,
        rated_customers,
        rated_products,
    })
}
