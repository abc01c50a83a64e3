//! Test support for reco's integration tests.
//!
//! Tests call [`LocalStack::get`], which brings the local stack up through the same
//! `scripts/local-up.sh` an operator runs (idempotent, and serialised by the script's own
//! lock), then reads `.local/env`. Every test gets its own database, bucket or stream
//! names from [`unique_name`] and drops them when done, so runs never see each other's data.
//! A test that stops the database gets a server of its own ([`PrivatePostgres`]).

pub mod fakes;
pub mod private_pg;

pub use private_pg::PrivatePostgres;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use reco_aws::{AwsArgs, Bucket};
use reco_config::var;
use sqlx::Connection;

/// The local stack, up, with the settings it wrote to `.local/env`.
#[derive(Debug)]
pub struct LocalStack {
    /// Settings: the process environment over `.local/env`.
    settings: BTreeMap<String, String>,
    root: PathBuf,
}

static STACK: OnceLock<LocalStack> = OnceLock::new();

impl LocalStack {
    /// Brings the local stack up (once per test process) and returns it.
    ///
    /// Panics with the script's output when the stack cannot be started: an integration
    /// test without its services must fail loudly, not skip.
    pub fn get() -> &'static LocalStack {
        STACK.get_or_init(|| {
            let root = repo_root();
            let output = Command::new("bash")
                .arg(root.join("scripts/local-up.sh"))
                .current_dir(&root)
                .output()
                .expect("cannot run bash scripts/local-up.sh");
            assert!(
                output.status.success(),
                "scripts/local-up.sh failed ({}):\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let mut settings: BTreeMap<String, String> =
                reco_config::local::read_file(&root.join(".local/env"))
                    .expect("cannot read .local/env")
                    .into_iter()
                    .collect();
            settings.extend(std::env::vars());
            LocalStack { settings, root }
        })
    }

    /// The repository's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A required setting of the stack.
    pub fn setting(&self, name: &str) -> &str {
        self.settings
            .get(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| panic!("{name} is not set in .local/env nor in the environment"))
    }

    /// Every setting of the stack (`.local/env` under the process environment), as the
    /// `KEY=value` pairs a child process such as the `reco` binary would read.
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    /// The AWS options of the stack: the emulator's endpoint, region and dummy keys.
    pub fn aws(&self) -> AwsArgs {
        let get = |name: &str| self.settings.get(name).cloned();
        AwsArgs {
            endpoint_url: get(var::AWS_ENDPOINT_URL),
            region: get(var::AWS_REGION),
            access_key_id: get(var::AWS_ACCESS_KEY_ID),
            secret_access_key: get(var::AWS_SECRET_ACCESS_KEY),
            session_token: get(var::AWS_SESSION_TOKEN),
        }
    }

    /// AWS SDK configuration pointed at the stack's emulator.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        reco_aws::sdk_config(&self.aws()).await
    }

    /// The emulator's bucket `name` as the object-store seam opens it.
    pub fn bucket(&self, name: &str) -> Bucket {
        Bucket::s3(&self.aws(), name).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn s3_client(&self) -> aws_sdk_s3::Client {
        let sdk = self.sdk_config().await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        )
    }

    /// A fresh MySQL database of its own, dropped when the guard is dropped.
    ///
    /// Names come from [`unique_name`] (ASCII letters, digits, `_`), so they are safe to splice into DDL.
    pub async fn mysql_database(&self) -> TempDatabase {
        let server = self.setting(var::RECO_MYSQL_URL);
        let name = unique_name("reco_t_", '_');
        let mut conn = sqlx::MySqlConnection::connect(server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to MySQL at {server}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
        )))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE failed");
        TempDatabase {
            url: replace_database(server, &name),
            admin_url: server.to_owned(),
            name,
            kind: DatabaseKind::MySql,
        }
    }

    /// A fresh PostgreSQL database of its own with the `vector` extension, dropped on drop.
    pub async fn pg_database(&self) -> TempDatabase {
        let server = self.setting(var::RECO_PG_URL);
        let name = unique_name("reco_t_", '_');
        let mut conn = sqlx::PgConnection::connect(server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {server}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE failed");
        let url = replace_database(server, &name);
        let mut db = sqlx::PgConnection::connect(&url).await.expect("connect");
        sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS vector")
            .execute(&mut db)
            .await
            .expect("CREATE EXTENSION vector failed");
        TempDatabase {
            url,
            admin_url: server.to_owned(),
            name,
            kind: DatabaseKind::Postgres,
        }
    }

    /// A fresh S3 bucket on the emulator, emptied and deleted when the guard is dropped.
    pub async fn s3_bucket(&self) -> TempBucket {
        let client = self.s3_client().await;
        let name = unique_name("reco-t-", '-');
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot create bucket {name}: {e:?}"));
        TempBucket { name, client }
    }
}

/// The database engines of the local stack.
#[derive(Debug, Clone, Copy)]
enum DatabaseKind {
    MySql,
    Postgres,
}

/// A database created for one test; dropped (with `FORCE` on PostgreSQL) when this is dropped.
#[derive(Debug)]
pub struct TempDatabase {
    /// Connection URL of the database.
    pub url: String,
    /// Its name.
    pub name: String,
    admin_url: String,
    kind: DatabaseKind,
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (admin_url, name, kind) = (self.admin_url.clone(), self.name.clone(), self.kind);
        // Drop runs inside the test's runtime, so the async cleanup gets a thread and runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                match kind {
                    DatabaseKind::MySql => {
                        let mut conn = sqlx::MySqlConnection::connect(&admin_url).await?;
                        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS `{name}`"
                        )))
                        .execute(&mut conn)
                        .await?;
                    }
                    DatabaseKind::Postgres => {
                        let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await?;
                    }
                }
                Ok::<_, sqlx::Error>(())
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// An S3 bucket created for one test; emptied and deleted when this is dropped.
#[derive(Debug)]
pub struct TempBucket {
    /// The bucket's name.
    pub name: String,
    client: aws_sdk_s3::Client,
}

impl TempBucket {
    /// The S3 client the bucket was created with.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }
}

impl Drop for TempBucket {
    fn drop(&mut self) {
        let (client, name) = (self.client.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut pages = client
                    .list_objects_v2()
                    .bucket(&name)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    for object in page.map_err(|e| format!("{e:?}"))?.contents() {
                        if let Some(key) = object.key() {
                            client
                                .delete_object()
                                .bucket(&name)
                                .key(key)
                                .send()
                                .await
                                .map_err(|e| format!("{e:?}"))?;
                        }
                    }
                }
                client
                    .delete_bucket()
                    .bucket(&name)
                    .send()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                Ok::<_, String>(())
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("warning: could not delete test bucket {}: {e}", self.name);
        }
    }
}

/// A name no other test run uses: `prefix`, the process id, the time and a counter,
/// lowercase ASCII joined by `separator` (use `_` for SQL names, `-` for S3 and Kinesis).
pub fn unique_name(prefix: &str, separator: char) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() % 1_000_000_000)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}{}{separator}{micros}{separator}{n}",
        std::process::id()
    )
}

/// The repository root, two levels above this crate.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// `url` with its database path replaced by `database`.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_in_url_is_replaced_and_query_kept() {
        assert_eq!(
            replace_database("mysql://u:p@127.0.0.1:1/reco", "t1"),
            "mysql://u:p@127.0.0.1:1/t1"
        );
        assert_eq!(
            replace_database("postgres://u@h:2/reco?sslmode=disable", "t2"),
            "postgres://u@h:2/t2?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u@h:2", "t3"),
            "postgres://u@h:2/t3"
        );
    }

    #[test]
    fn unique_names_differ_and_use_the_separator() {
        let a = unique_name("reco-t-", '-');
        let b = unique_name("reco-t-", '-');
        assert_ne!(a, b);
        assert!(a.starts_with("reco-t-") && !a.contains('_'), "{a}");
    }
}
