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
    /// The file is not a classicmodels dump (checked before anything is changed).
    #[error(
        "{script}: not a classicmodels dump: it creates no table {missing}; nothing was changed"
    )]
    NotADump {
        /// Which script.
        script: String,
        /// The required tables it does not create.
        missing: String,
    },
    /// The connection names no database.
    #[error("the source database URL names no database: add one (mysql://user@host/DATABASE)")]
    NoDatabase,
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

/// Tables a dump must create: those the ratings derivation and the ETL read.
const REQUIRED_TABLES: &[&str] = &[
    "customers",
    "productlines",
    "products",
    "orders",
    "orderdetails",
];

/// Every source table the project knows (a load replaces all of them that exist, so tables
/// of generated data never sit next to the dump's with foreign keys of another shape).
const SOURCE_TABLES: &[&str] = &[
    "payments",
    "orderdetails",
    "orders",
    "ratings",
    "customers",
    "employees",
    "offices",
    "products",
    "productlines",
];

/// Longest MySQL database name.
const MAX_DATABASE_NAME: usize = 64;

/// The table a `CREATE TABLE` statement creates (unquoted, lower-case), if it is one.
fn created_table(statement: &str) -> Option<String> {
    let words: Vec<&str> = statement.split_whitespace().take(6).collect();
    if words.len() < 3
        || !words[0].eq_ignore_ascii_case("CREATE")
        || !words[1].eq_ignore_ascii_case("TABLE")
    {
        return None;
    }
    let mut name = words[2];
    if name.eq_ignore_ascii_case("IF") && words.len() >= 6 {
        name = words[5];
    }
    let name = name.split('(').next().unwrap_or(name);
    let name = name.rsplit('.').next().unwrap_or(name);
    Some(name.trim_matches('`').to_ascii_lowercase())
}

/// The dump split and checked before anything is changed: statements to run and skip.
struct DumpPlan {
    run: Vec<crate::sql_script::Statement>,
    skipped: Vec<String>,
}

/// Splits `dump` and checks that it is a classicmodels dump (it creates every table of
/// [`REQUIRED_TABLES`]); nothing touches the database.
fn plan_dump(dump_name: &str, dump: &str) -> Result<DumpPlan, LoadError> {
    let statements = split_statements(dump).map_err(|source| LoadError::Script {
        script: dump_name.to_owned(),
        source,
    })?;
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    let mut created = Vec::new();
    for statement in statements {
        let head = normalized_head(&statement.text, 2);
        if SKIPPED_STATEMENTS
            .iter()
            .any(|s| head == *s || head.starts_with(&format!("{s} ")))
        {
            skipped.push(preview(&statement.text));
            continue;
        }
        if let Some(table) = created_table(&statement.text) {
            created.push(table);
        }
        run.push(statement);
    }
    let missing: Vec<&str> = REQUIRED_TABLES
        .iter()
        .copied()
        .filter(|t| !created.iter().any(|c| c == t))
        .collect();
    if !missing.is_empty() {
        return Err(LoadError::NotADump {
            script: dump_name.to_owned(),
            missing: missing.join(", "),
        });
    }
    Ok(DumpPlan { run, skipped })
}

/// `<database><suffix>`, the database name cut so that the whole fits MySQL's 64 characters.
fn side_database(database: &str, suffix: &str) -> String {
    let keep = MAX_DATABASE_NAME - suffix.len();
    let cut = database
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|end| *end <= keep)
        .last()
        .unwrap_or(0);
    format!("{}{suffix}", &database[..cut])
}

/// Loads `dump` into the database `options` names and derives `ratings`, replacing the
/// source tables there (generated or an earlier dump) in one step.
///
/// The dump is split and checked first (a file that does not parse or creates none of the
/// classicmodels tables changes nothing). It is then run, with the schema and the ratings
/// derivation, in a staging database `<db>__load` on the same server; only when all of it
/// succeeded are the tables moved in with ONE `RENAME TABLE` (the old ones go to
/// `<db>__old`, dropped afterwards). A failure or a kill before the rename leaves the
/// database as it was (a leftover staging database is dropped by the next load); the
/// rename itself is atomic. The connection's user needs CREATE and DROP on those two
/// databases.
pub async fn load_classicmodels(
    options: &MySqlConnectOptions,
    dump_name: &str,
    dump: &str,
) -> Result<LoadReport, LoadError> {
    let plan = plan_dump(dump_name, dump)?;
    let query = |what| move |source| LoadError::Query { what, source };
    let mut conn = options
        .connect()
        .await
        .map_err(query("cannot connect to the source database"))?;
    let (database, charset, collation): (String, String, String) = sqlx::query_as(
        "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
    )
    .fetch_optional(&mut conn)
    .await
    .map_err(query("reading the source database's name"))?
    .ok_or(LoadError::NoDatabase)?;
    let staging = side_database(&database, "__load");
    let old = side_database(&database, "__old");
    let quote = |name: &str| format!("`{}`", name.replace('`', "``"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {staging_q}; DROP DATABASE IF EXISTS {old_q}; \
         CREATE DATABASE {staging_q} CHARACTER SET {charset} COLLATE {collation}",
        staging_q = quote(&staging),
        old_q = quote(&old),
    )))
    .execute(&mut conn)
    .await
    .map_err(query("creating the staging database (the user needs CREATE and DROP on <db>__load and <db>__old)"))?;

    let staged = stage(&options.clone().database(&staging), dump_name, plan).await;
    let (statements, skipped, counts, tables) = match staged {
        Ok(staged) => staged,
        Err(e) => {
            let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {}",
                quote(&staging)
            )))
            .execute(&mut conn)
            .await;
            if let Err(drop_error) = dropped {
                tracing::warn!(database = %staging, error = %drop_error, "staging database not dropped; the next load drops it");
            }
            return Err(e);
        }
    };

    // Swap: the project's source tables present now go to <db>__old, the staged ones come in,
    // in one RENAME TABLE (foreign keys follow their tables).
    let mut moved_out: Vec<String> = Vec::new();
    for table in sqlx::query_scalar::<_, String>(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(query("listing the source tables"))?
    {
        let lower = table.to_ascii_lowercase();
        if SOURCE_TABLES.contains(&lower.as_str())
            || tables.iter().any(|t| t.eq_ignore_ascii_case(&table))
        {
            moved_out.push(table);
        }
    }
    let mut renames: Vec<String> = moved_out
        .iter()
        .map(|t| {
            format!(
                "{}.{q} TO {}.{q}",
                quote(&database),
                quote(&old),
                q = quote(t)
            )
        })
        .collect();
    renames.extend(tables.iter().map(|t| {
        format!(
            "{}.{q} TO {}.{q}",
            quote(&staging),
            quote(&database),
            q = quote(t)
        )
    }));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {old_q}; SET FOREIGN_KEY_CHECKS = 0; RENAME TABLE {}; SET FOREIGN_KEY_CHECKS = 1",
        renames.join(", "),
        old_q = quote(&old),
    )))
    .execute(&mut conn)
    .await
    .map_err(query("moving the loaded tables in (the database is as it was)"))?;
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {}; DROP DATABASE IF EXISTS {}",
        quote(&old),
        quote(&staging)
    )))
    .execute(&mut conn)
    .await
    {
        tracing::warn!(error = %e, "the replaced tables were not dropped; the next load drops them");
    }
    let (ratings, rated_customers, rated_products) = counts;
    Ok(LoadReport {
        statements,
        skipped,
        ratings,
        rated_customers,
        rated_products,
    })
}

/// What a staged load did: statements run, skipped, ratings counts and the staged tables.
type Staged = (usize, Vec<String>, (i64, i64, i64), Vec<String>);

/// Runs the dump, the schema and the ratings derivation in the staging database.
async fn stage(
    staging: &MySqlConnectOptions,
    dump_name: &str,
    plan: DumpPlan,
) -> Result<Staged, LoadError> {
    let query = |what| move |source| LoadError::Query { what, source };
    let mut conn = staging
        .connect()
        .await
        .map_err(query("cannot connect to the staging database"))?;
    sqlx::raw_sql("SET FOREIGN_KEY_CHECKS = 0")
        .execute(&mut conn)
        .await
        .map_err(query("disabling foreign key checks"))?;
    let statements = plan.run.len();
    for statement in plan.run {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.text.clone()))
            .execute(&mut conn)
            .await
            .map_err(|source| LoadError::Statement {
                script: dump_name.to_owned(),
                line: statement.line,
                statement: preview(&statement.text),
                source,
            })?;
    }
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
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT customerNumber), COUNT(DISTINCT productCode) FROM ratings",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(query("counting ratings"))?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(query("listing the staged tables"))?;
    Ok((statements, plan.skipped, counts, tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_are_checked_before_anything_runs() {
        let err = plan_dump("bad.sql", "this is not a dump").err().unwrap();
        assert_eq!(
            err.to_string(),
            "bad.sql: not a classicmodels dump: it creates no table customers, productlines, \
             products, orders, orderdetails; nothing was changed"
        );
        let err = plan_dump("bad.sql", "CREATE TABLE `customers` (a int);\nINSERT 'x")
            .err()
            .unwrap();
        assert!(matches!(err, LoadError::Script { .. }), "{err}");
        let dump = "USE `classicmodels`;\nCREATE TABLE IF NOT EXISTS `customers` (a int);\n\
            CREATE TABLE productlines(a int); create table `x`.`products` (a int);\n\
            CREATE TABLE orders (a int); CREATE TABLE `orderdetails` (a int)";
        let plan = plan_dump("ok.sql", dump).unwrap();
        assert_eq!(plan.run.len(), 5);
        assert_eq!(plan.skipped, ["USE `classicmodels`"]);
    }

    #[test]
    fn side_databases_fit_mysql_names() {
        assert_eq!(side_database("reco", "__load"), "reco__load");
        let long = "d".repeat(64);
        let name = side_database(&long, "__load");
        assert_eq!(name.len(), 64);
        assert!(name.ends_with("__load"));
    }
}
