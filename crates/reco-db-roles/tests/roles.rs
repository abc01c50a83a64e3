//! The roles against the local PostgreSQL, MariaDB and Secrets Manager on the emulator:
//! idempotent migrations, what each role may and may not do (the denials are the servers'
//! own errors), real loads as the loader read back by the reader, secrets that log in,
//! rotation, and a run stopped between setting a password and moving the secret.
//! Every test has its own database, secrets and role names (roles are server-wide).
#![cfg(feature = "integration")]

use std::fmt::Write as _;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_secretsmanager::Client as SecretsClient;
use reco_db_roles::postgres::PgRoleSecrets;
use reco_db_roles::{
    MigrateError, Migration, PasswordAction, RoleNames, RoleSecret, RoleSecretIds, mysql, postgres,
};
use reco_testkit::{LocalStack, TempDatabase, unique_name};
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{StoreOptions, VectorStore};
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection as _, Executor as _};

/// SQLSTATE of a privilege the role does not have (also "must be owner").
const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// SQLSTATE of a refused password.
const INVALID_PASSWORD: &str = "28P01";
/// MySQL: command denied on a table; access denied for a user (login).
const TABLE_ACCESS_DENIED: u16 = 1142;
const DB_ACCESS_DENIED: u16 = 1044;
const ACCESS_DENIED: u16 = 1045;

fn quiet(_: &str) {}

/// A role-name prefix no other test (or run) uses: `t` + 10 hex digits + `_`.
fn role_prefix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ u64::from(COUNTER.fetch_add(1, Ordering::Relaxed)).rotate_left(20);
    format!("t{:010x}_", mixed & 0xff_ffff_ffff)
}

/// A secret of the test's own, created empty as Terraform creates them.
async fn empty_secret(client: &SecretsClient) -> RoleSecret {
    let name = unique_name("reco-t-role-", '-');
    client
        .create_secret()
        .name(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create secret {name}: {e:?}"));
    RoleSecret::new(client.clone(), name)
}

async fn secret_json(client: &SecretsClient, secret: &RoleSecret) -> Value {
    let out = client
        .get_secret_value()
        .secret_id(secret.id())
        .send()
        .await
        .unwrap();
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

fn password_of(json: &Value) -> String {
    json["password"].as_str().unwrap().to_owned()
}

/// A test database and roles, dropped in that order (a role with grants in a database
/// cannot be dropped while the database exists).
struct Fixture {
    db: Option<TempDatabase>,
    names: RoleNames,
    server_url: String,
    postgres: bool,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.db.take());
        let (url, names, postgres) = (self.server_url.clone(), self.names.clone(), self.postgres);
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if postgres {
                    let mut conn = PgConnection::connect(&url).await?;
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "DROP ROLE IF EXISTS {}, {}",
                        names.reader(),
                        names.loader()
                    )))
                    .await?;
                } else {
                    let mut conn = MySqlConnection::connect(&url).await?;
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "DROP USER IF EXISTS '{}'@'%'",
                        names.etl()
                    )))
                    .await?;
                }
                Ok::<_, sqlx::Error>(())
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("warning: test roles not dropped: {e}");
        }
    }
}

impl Fixture {
    async fn postgres() -> Self {
        let stack = LocalStack::get();
        Self {
            db: Some(stack.pg_database().await),
            names: RoleNames::new(&role_prefix()).unwrap(),
            server_url: stack.setting("RECO_PG_URL").to_owned(),
            postgres: true,
        }
    }

    async fn mysql() -> Self {
        let stack = LocalStack::get();
        Self {
            db: Some(stack.mysql_database().await),
            names: RoleNames::new(&role_prefix()).unwrap(),
            server_url: stack.setting("RECO_MYSQL_URL").to_owned(),
            postgres: false,
        }
    }

    fn url(&self) -> &str {
        &self.db.as_ref().unwrap().url
    }
}

async fn secrets_client() -> SecretsClient {
    SecretsClient::new(&LocalStack::get().sdk_config().await)
}

fn embeddings(model: &str, items: usize, shift: f32) -> (String, String) {
    let vector = |i: usize| format!("\"[{},{},{},{}]\"", 1.0 + shift, i as f32, 0.5, -(i as f32));
    let mut item_csv = String::from("id,embedding\n");
    let mut user_csv = String::from("id,embedding\n");
    for i in 0..items {
        writeln!(item_csv, "{model}P{i:04},{}", vector(i)).unwrap();
        writeln!(user_csv, "{},{}", 100 + i, vector(i + 1)).unwrap();
    }
    (item_csv, user_csv)
}

async fn load(
    options: PgConnectOptions,
    model: &str,
    items: usize,
) -> reco_vector_loader::LoadReport {
    let store = VectorStore::connect_with(options, StoreOptions::for_cli())
        .await
        .unwrap();
    let (item_csv, user_csv) = embeddings(model, items, items as f32);
    Loader::new(&store)
        .load_version(EmbeddingSource {
            model_version: model.to_owned(),
            items: EmbeddingFile {
                name: "item_embeddings.csv".to_owned(),
                reader: item_csv.as_bytes(),
            },
            users: EmbeddingFile {
                name: "user_embeddings.csv".to_owned(),
                reader: user_csv.as_bytes(),
            },
        })
        .await
        .unwrap_or_else(|e| panic!("load of {model}: {e}"))
}

fn as_role(admin: &PgConnectOptions, json: &Value) -> PgConnectOptions {
    admin
        .clone()
        .username(json["username"].as_str().unwrap())
        .password(json["password"].as_str().unwrap())
}

fn pg_code(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()).unwrap_or_default(),
        other => panic!("expected a server error, got {other}"),
    }
}

async fn pg_denied(conn: &mut PgConnection, sql: &str) {
    let err = conn
        .execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .expect_err(sql);
    assert_eq!(pg_code(&err), INSUFFICIENT_PRIVILEGE, "{sql}: {err}");
}

#[tokio::test]
async fn postgres_roles_are_idempotent_least_privilege_and_rotate() {
    let fixture = Fixture::postgres().await;
    let admin = PgConnectOptions::from_str(fixture.url()).unwrap();
    let client = secrets_client().await;
    let secrets = PgRoleSecrets {
        reader: empty_secret(&client).await,
        loader: empty_secret(&client).await,
    };
    let names = &fixture.names;

    // A version loaded by the master user before the roles existed (an existing deployment).
    let before = load(admin.clone(), "v1", 5).await;

    let first = postgres::migrate(&admin, names, &secrets, false, &quiet)
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|r| (r.role.as_str(), r.password))
            .collect::<Vec<_>>(),
        [
            (names.reader().as_str(), PasswordAction::Set),
            (names.loader().as_str(), PasswordAction::Set)
        ]
    );
    let reader_json = secret_json(&client, &secrets.reader).await;
    let loader_json = secret_json(&client, &secrets.loader).await;
    assert_eq!(reader_json["username"], names.reader());
    assert_eq!(
        password_of(&reader_json).len(),
        reco_db_roles::password::PASSWORD_LEN
    );

    // Twice: nothing changes, the secrets keep their versions.
    let second = postgres::migrate(&admin, names, &secrets, false, &quiet)
        .await
        .unwrap();
    assert!(
        second.iter().all(|r| r.password == PasswordAction::Kept),
        "{second:?}"
    );
    assert_eq!(secret_json(&client, &secrets.reader).await, reader_json);

    // The reader reads what the master user loaded, through the views and the tables.
    let reader_options = as_role(&admin, &reader_json);
    let mut reader = PgConnection::connect_with(&reader_options).await.unwrap();
    let items: i64 = sqlx::query_scalar("SELECT count(*) FROM item_emb")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(items, 5);
    let active: String =
        sqlx::query_scalar("SELECT model_version FROM reco_embedding_versions WHERE active")
            .fetch_one(&mut reader)
            .await
            .unwrap();
    assert_eq!(active, "v1");
    let table = format!("item_emb_{}", before.embedding_version);
    let direct: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut reader)
            .await
            .unwrap();
    assert_eq!(direct, 5);
    // ... and may do nothing else.
    pg_denied(
        &mut reader,
        "INSERT INTO reco_embedding_versions (embedding_version, model_version, dim, item_rows, user_rows, loaded_by) VALUES ('x', 'x', 4, 0, 0, 'x')",
    )
    .await;
    pg_denied(&mut reader, &format!("DELETE FROM {table}")).await;
    pg_denied(&mut reader, "CREATE TABLE reader_was_here (id int)").await;
    pg_denied(&mut reader, "DROP VIEW item_emb").await;
    pg_denied(&mut reader, &format!("DROP TABLE {table}")).await;
    pg_denied(&mut reader, "CREATE ROLE reader_made_this").await;

    // The loader loads a new version: it took over the master user's objects (it drops the
    // old version and re-points the views), and what it creates is readable by the reader.
    let loader_options = as_role(&admin, &loader_json);
    let after = load(loader_options.clone(), "v2", 7).await;
    assert_eq!(after.cleanup_error, None);
    assert_eq!(
        after.dropped_tables,
        [
            format!("item_emb_{}", before.embedding_version),
            format!("user_emb_{}", before.embedding_version)
        ]
    );
    let items: i64 = sqlx::query_scalar("SELECT count(*) FROM item_emb")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(items, 7);
    let new_table = format!("user_emb_{}", after.embedding_version);
    let users: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {new_table}"
    )))
    .fetch_one(&mut reader)
    .await
    .unwrap();
    assert_eq!(users, 7);
    pg_denied(&mut reader, &format!("DELETE FROM {new_table}")).await;
    // The loader is no administrator either.
    let mut loader = PgConnection::connect_with(&loader_options).await.unwrap();
    pg_denied(&mut loader, "CREATE ROLE loader_made_this").await;
    pg_denied(
        &mut loader,
        &format!("CREATE DATABASE {}_x", names.loader()),
    )
    .await;
    loader.close().await.unwrap();
    reader.close().await.unwrap();

    // Rotation: new passwords in the secrets, the old ones refused by the server.
    let rotated = postgres::migrate(&admin, names, &secrets, true, &quiet)
        .await
        .unwrap();
    assert!(
        rotated
            .iter()
            .all(|r| r.password == PasswordAction::Rotated),
        "{rotated:?}"
    );
    let new_reader_json = secret_json(&client, &secrets.reader).await;
    assert_ne!(password_of(&new_reader_json), password_of(&reader_json));
    let err = PgConnection::connect_with(&reader_options)
        .await
        .unwrap_err();
    assert_eq!(pg_code(&err), INVALID_PASSWORD, "{err}");
    let err = PgConnection::connect_with(&loader_options)
        .await
        .unwrap_err();
    assert_eq!(pg_code(&err), INVALID_PASSWORD, "{err}");
    let mut reader = PgConnection::connect_with(&as_role(&admin, &new_reader_json))
        .await
        .unwrap();
    let items: i64 = sqlx::query_scalar("SELECT count(*) FROM item_emb")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(items, 7);
    reader.close().await.unwrap();

    // A run stopped after the password was set but before the secret moved: the new value is
    // staged (AWSPENDING), readers still get the old one. The next plain run finishes it.
    let staged_password = reco_db_roles::password::generate();
    secrets
        .reader
        .stage(
            &serde_json::json!({"username": names.reader(), "password": staged_password})
                .to_string(),
        )
        .await
        .unwrap();
    let mut master = PgConnection::connect_with(&admin).await.unwrap();
    master
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE {} PASSWORD '{}'",
            names.reader(),
            reco_db_roles::password::scram_sha256_verifier(&staged_password)
        )))
        .await
        .unwrap();
    master.close().await.unwrap();
    assert_eq!(secret_json(&client, &secrets.reader).await, new_reader_json);
    let resumed = postgres::migrate(&admin, names, &secrets, false, &quiet)
        .await
        .unwrap();
    assert_eq!(resumed[0].password, PasswordAction::Resumed);
    assert_eq!(resumed[1].password, PasswordAction::Kept);
    let current = secret_json(&client, &secrets.reader).await;
    assert_eq!(password_of(&current), staged_password);
    PgConnection::connect_with(&as_role(&admin, &current))
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_role_with_powers_the_migration_cannot_remove_is_refused() {
    let fixture = Fixture::postgres().await;
    let admin = PgConnectOptions::from_str(fixture.url()).unwrap();
    let client = secrets_client().await;
    let secrets = PgRoleSecrets {
        reader: empty_secret(&client).await,
        loader: empty_secret(&client).await,
    };
    let mut master = PgConnection::connect_with(&admin).await.unwrap();
    master
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {} LOGIN SUPERUSER",
            fixture.names.loader()
        )))
        .await
        .unwrap();
    master.close().await.unwrap();
    let err = postgres::migrate(&admin, &fixture.names, &secrets, false, &quiet)
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::UnsafeRole { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}: it has SUPERUSER", fixture.names.loader()))
            && message.contains("run `reco db migrate` again"),
        "{message}"
    );
    // No password was handed out.
    let out = client
        .get_secret_value()
        .secret_id(secrets.loader.id())
        .send()
        .await;
    assert!(out.is_err(), "the loader's secret got a value");
}

/// The ETL's connection from its secret (`reco_etl::source_db` reads the same fields; the
/// TLS settings are the local server's, from the master URL).
fn etl_options(admin: &MySqlConnectOptions, json: &Value) -> MySqlConnectOptions {
    admin
        .clone()
        .host(json["host"].as_str().unwrap())
        .port(json["port"].as_u64().unwrap() as u16)
        .username(json["username"].as_str().unwrap())
        .password(json["password"].as_str().unwrap())
        .database(json["dbname"].as_str().unwrap())
}

fn mysql_number(e: &sqlx::Error) -> u16 {
    match e {
        sqlx::Error::Database(d) => d.try_downcast_ref::<MySqlDatabaseError>().unwrap().number(),
        other => panic!("expected a server error, got {other}"),
    }
}

async fn mysql_denied(conn: &mut MySqlConnection, sql: &str, number: u16) {
    let err = conn
        .execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .expect_err(sql);
    assert_eq!(mysql_number(&err), number, "{sql}: {err}");
}

#[tokio::test]
async fn the_etl_user_reads_the_source_and_cannot_write() {
    let fixture = Fixture::mysql().await;
    let other = LocalStack::get().mysql_database().await;
    let admin = MySqlConnectOptions::from_str(fixture.url()).unwrap();
    let mut master = MySqlConnection::connect_with(&admin).await.unwrap();
    for sql in [
        "CREATE TABLE customers (customerNumber int PRIMARY KEY, city varchar(50))",
        "INSERT INTO customers VALUES (103, 'Nantes'), (112, 'Las Vegas')",
    ] {
        master.execute(sql).await.unwrap();
    }
    let mut other_conn = MySqlConnection::connect(&other.url).await.unwrap();
    other_conn
        .execute("CREATE TABLE secret_stuff (id int)")
        .await
        .unwrap();
    other_conn.close().await.unwrap();
    let client = secrets_client().await;
    let secret = empty_secret(&client).await;
    let names = &fixture.names;

    let first = mysql::migrate(&admin, names, &secret, false, &quiet)
        .await
        .unwrap();
    assert_eq!(
        (first.role.as_str(), first.password),
        (names.etl().as_str(), PasswordAction::Set)
    );
    let second = mysql::migrate(&admin, names, &secret, false, &quiet)
        .await
        .unwrap();
    assert_eq!(second.password, PasswordAction::Kept);

    // The secret has the shape of the ETL's source secret: host, port, username, password, dbname.
    let json = secret_json(&client, &secret).await;
    assert_eq!(json["username"], names.etl());
    assert_eq!(json["dbname"], fixture.db.as_ref().unwrap().name);
    assert_eq!(json["host"], admin.get_host());
    assert_eq!(json["port"], admin.get_port());
    let options = etl_options(&admin, &json);
    let mut etl = MySqlConnection::connect_with(&options).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&mut etl)
        .await
        .unwrap();
    assert_eq!(count, 2);
    mysql_denied(
        &mut etl,
        "INSERT INTO customers VALUES (114, 'Melbourne')",
        TABLE_ACCESS_DENIED,
    )
    .await;
    mysql_denied(
        &mut etl,
        "UPDATE customers SET city = 'x'",
        TABLE_ACCESS_DENIED,
    )
    .await;
    mysql_denied(&mut etl, "DELETE FROM customers", TABLE_ACCESS_DENIED).await;
    mysql_denied(&mut etl, "DROP TABLE customers", TABLE_ACCESS_DENIED).await;
    mysql_denied(
        &mut etl,
        "CREATE TABLE etl_was_here (id int)",
        TABLE_ACCESS_DENIED,
    )
    .await;
    mysql_denied(
        &mut etl,
        &format!("SELECT * FROM `{}`.secret_stuff", other.name),
        TABLE_ACCESS_DENIED,
    )
    .await;
    mysql_denied(&mut etl, &format!("USE `{}`", other.name), DB_ACCESS_DENIED).await;
    etl.close().await.unwrap();

    // Rotation: the old password is refused, the secret's new one works.
    let rotated = mysql::migrate(&admin, names, &secret, true, &quiet)
        .await
        .unwrap();
    assert_eq!(rotated.password, PasswordAction::Rotated);
    let err = MySqlConnection::connect_with(&options).await.unwrap_err();
    assert_eq!(mysql_number(&err), ACCESS_DENIED, "{err}");
    let json_after = secret_json(&client, &secret).await;
    assert_ne!(password_of(&json_after), password_of(&json));
    let options = etl_options(&admin, &json_after);
    MySqlConnection::connect_with(&options)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    master.close().await.unwrap();
}

#[tokio::test]
async fn one_run_migrates_both_databases_and_skips_one_without_secrets() {
    let pg = Fixture::postgres().await;
    // The MySQL fixture shares the PostgreSQL fixture's names: one prefix for the whole run.
    let mut my = Fixture::mysql().await;
    my.names = pg.names.clone();
    let client = secrets_client().await;
    let (reader, loader, etl) = (
        empty_secret(&client).await,
        empty_secret(&client).await,
        empty_secret(&client).await,
    );
    let pg_admin = PgConnectOptions::from_str(pg.url()).unwrap();
    let my_admin = MySqlConnectOptions::from_str(my.url()).unwrap();
    let lines = std::sync::Mutex::new(Vec::new());
    let progress = |line: &str| lines.lock().unwrap().push(line.to_owned());

    let ids = RoleSecretIds {
        postgres: Some((reader.id().to_owned(), loader.id().to_owned())),
        mysql: Some(etl.id().to_owned()),
    };
    let both = Migration::new(
        pg.names.clone(),
        false,
        &client,
        &ids,
        Some(pg_admin.clone()),
        Some(my_admin.clone()),
    );
    let reports = both.run(&progress).await.unwrap();
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.engine, r.role.clone(), r.password))
            .collect::<Vec<_>>(),
        [
            ("postgres", pg.names.reader(), PasswordAction::Set),
            ("postgres", pg.names.loader(), PasswordAction::Set),
            ("mysql", pg.names.etl(), PasswordAction::Set),
        ]
    );
    assert_eq!(reports[2].secret, etl.id());

    // Only MySQL configured (an operator's PostgreSQL, say): PostgreSQL is left alone.
    let reader_before = secret_json(&client, &reader).await;
    let mysql_only = Migration::new(
        pg.names.clone(),
        true,
        &client,
        &RoleSecretIds {
            postgres: None,
            mysql: Some(etl.id().to_owned()),
        },
        Some(pg_admin),
        Some(my_admin),
    );
    lines.lock().unwrap().clear();
    let reports = mysql_only.run(&progress).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].engine, reports[0].password),
        ("mysql", PasswordAction::Rotated)
    );
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines[0], "postgres: skipped (no role secrets configured)");
    assert!(lines[1].starts_with("mysql: user "), "{lines:?}");
    // The PostgreSQL passwords were not touched by the rotation.
    let json = secret_json(&client, &reader).await;
    assert_eq!(json, reader_before);
    PgConnection::connect_with(&as_role(
        &PgConnectOptions::from_str(pg.url()).unwrap(),
        &json,
    ))
    .await
    .unwrap()
    .close()
    .await
    .unwrap();
}
