//! Fault: the transform's database password changed mid-run. Against the local PostgreSQL
//! (verify-full TLS with the local CA) and Secrets Manager on the emulator, each test with its
//! own login role, secret and database: the password is changed (ALTER ROLE), the secret
//! updated and the role's sessions terminated (as a rotation plus the pool's connections being
//! replaced). The next call is refused with `StoreError::Authentication`; after
//! `refresh_credentials` the same store answers, and a `Transformer` over `PgVectorIndex`
//! answers the next invocation on its own (it refreshes once and retries).
#![cfg(feature = "integration")]

use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reco_config::groups::PgTarget;
use reco_config::tls::DbCa;
use reco_domain::event::ClickEvent;
use reco_domain::firehose::{FirehoseEvent, FirehoseResult};
use reco_domain::transform::CustomerEmbedder;
use reco_testkit::fakes::InMemoryModels;
use reco_testkit::{LocalStack, TempDatabase, unique_name};
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::{TransformOptions, Transformer};
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{StoreError, StoreOptions, VectorStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// A login role and its Secrets Manager secret, both removed on drop.
struct RotatingLogin {
    role: String,
    admin_url: String,
    secrets: aws_sdk_secretsmanager::Client,
    arn: String,
}

impl RotatingLogin {
    /// Role `reco_t_login_...` with `password`, allowed to read every table of `db`, and a
    /// secret `{"username","password"}` holding its credentials.
    async fn create(stack: &LocalStack, db: &TempDatabase, password: &str) -> Self {
        let role = unique_name("reco_t_login_", '_');
        let mut admin = PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}';
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{role}\";"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk_config().await);
        let arn = secrets
            .create_secret()
            .name(unique_name("reco-t-login-", '-'))
            .secret_string(secret_json(&role, password))
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        Self {
            role,
            admin_url: db.url.clone(),
            secrets,
            arn,
        }
    }

    /// Changes the password as a rotation does (database, then secret), then ends the role's
    /// sessions so that the next call needs a new connection, as when the pool replaces an old
    /// or broken one.
    async fn rotate(&self, password: &str) {
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        let role = &self.role;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE \"{role}\" PASSWORD '{password}'"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        self.secrets
            .put_secret_value()
            .secret_id(&self.arn)
            .secret_string(secret_json(role, password))
            .send()
            .await
            .unwrap();
        terminate_sessions(&mut admin, role).await;
    }

    /// The RDS-style target: the secret plus host, port and database, verify-full against the
    /// local CA.
    fn secret_target(&self, stack: &LocalStack, db: &TempDatabase) -> PgTarget {
        let url = PgConnectOptions::from_str(&db.url).unwrap();
        PgTarget::Secret {
            arn: self.arn.clone(),
            host: url.get_host().to_owned(),
            port: url.get_port(),
            database: db.name.clone(),
            ca: DbCa::File(stack.setting("RECO_DB_CA_FILE").into()),
        }
    }
}

impl Drop for RotatingLogin {
    fn drop(&mut self) {
        let (admin_url, role, secrets, arn) = (
            self.admin_url.clone(),
            self.role.clone(),
            self.secrets.clone(),
            self.arn.clone(),
        );
        // Drop runs inside the test's runtime: the cleanup gets a thread and runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let _ = secrets
                    .delete_secret()
                    .secret_id(&arn)
                    .force_delete_without_recovery(true)
                    .send()
                    .await;
                let mut admin = PgConnection::connect(&admin_url).await?;
                terminate_sessions(&mut admin, &role).await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP OWNED BY \"{role}\"; DROP ROLE IF EXISTS \"{role}\""
                )))
                .execute(&mut admin)
                .await?;
                Ok::<_, sqlx::Error>(())
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("warning: could not drop test role {}: {e}", self.role);
        }
    }
}

fn secret_json(username: &str, password: &str) -> String {
    serde_json::json!({ "username": username, "password": password }).to_string()
}

async fn terminate_sessions(admin: &mut PgConnection, role: &str) {
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
        .bind(role)
        .execute(&mut *admin)
        .await
        .unwrap();
    // pg_terminate_backend only signals: wait until the sessions are gone.
    for _ in 0..100 {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
                .bind(role)
                .fetch_one(&mut *admin)
                .await
                .unwrap();
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("sessions of {role} still open after pg_terminate_backend");
}

/// Who the store's next pooled connection is logged in as.
async fn current_user(store: &VectorStore) -> Result<String, StoreError> {
    sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(store.pool())
        .await
        .map_err(StoreError::from)
}

fn assert_refused(result: Result<String, StoreError>) {
    match result {
        Err(e @ StoreError::Authentication { .. }) => {
            assert!(!e.is_retryable(), "{e}");
            let message = e.to_string();
            assert!(
                message.contains("refused the credentials")
                    && message.contains("password authentication failed"),
                "{message}"
            );
            let StoreError::Authentication {
                source: sqlx::Error::Database(db),
            } = &e
            else {
                panic!("not a database error: {e:?}");
            };
            assert_eq!(db.code().as_deref(), Some("28P01"), "{e}");
        }
        other => panic!("expected the credentials to be refused, got {other:?}"),
    }
}

fn small_pool() -> StoreOptions {
    let mut options = StoreOptions::for_lambda();
    options.acquire_timeout = Duration::from_secs(5);
    options
}

#[tokio::test]
async fn a_password_changed_mid_run_is_refused_then_re_read_from_the_secret() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let login = RotatingLogin::create(stack, &db, "first-pw").await;
    let sdk = stack.sdk_config().await;
    let store = VectorStore::connect_target(&login.secret_target(stack, &db), &sdk, small_pool())
        .await
        .unwrap();
    assert_eq!(current_user(&store).await.unwrap(), login.role);
    // The connection is TLS (verify-full against the local CA: the target's only root).
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(ssl, "the connection from the secret is not TLS");

    login.rotate("second-pw").await;
    assert_refused(current_user(&store).await);
    assert!(
        store.refresh_credentials().await.unwrap(),
        "the secret changed: the connect options must change"
    );
    assert_eq!(current_user(&store).await.unwrap(), login.role);

    // A refresh right after another does not read the secret again (an outage refusing every
    // login must not hammer Secrets Manager): it reports the last read and changes nothing.
    login.rotate("third-pw").await;
    assert!(store.refresh_credentials().await.unwrap());
    assert_refused(current_user(&store).await);
    tokio::time::sleep(VectorStore::CREDENTIAL_REFRESH_INTERVAL).await;
    assert!(store.refresh_credentials().await.unwrap());
    assert_eq!(current_user(&store).await.unwrap(), login.role);

    // Nothing changed since: the secret is read, the options are kept.
    tokio::time::sleep(VectorStore::CREDENTIAL_REFRESH_INTERVAL).await;
    assert!(!store.refresh_credentials().await.unwrap());
    assert_eq!(current_user(&store).await.unwrap(), login.role);
}

#[tokio::test]
async fn a_url_with_a_credentials_secret_takes_the_secrets_login_and_re_reads_it() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let login = RotatingLogin::create(stack, &db, "url-first").await;
    let sdk = stack.sdk_config().await;
    // The URL (local TLS settings, the superuser's login) gives the place; the secret the login.
    let target = PgTarget::UrlWithSecret {
        url: db.url.clone(),
        arn: login.arn.clone(),
    };
    let store = VectorStore::connect_target(&target, &sdk, small_pool())
        .await
        .unwrap();
    assert_eq!(current_user(&store).await.unwrap(), login.role);
    login.rotate("url-second").await;
    assert_refused(current_user(&store).await);
    assert!(store.refresh_credentials().await.unwrap());
    assert_eq!(current_user(&store).await.unwrap(), login.role);

    // A plain URL has nothing to re-read.
    let fixed = VectorStore::connect_target(&PgTarget::Url(db.url.clone()), &sdk, small_pool())
        .await
        .unwrap();
    assert!(!fixed.refresh_credentials().await.unwrap());
}

/// Embeds every customer as (1, 0, 0): the model of the loaded test embeddings.
struct FixedEmbedder;

const MODEL: &str = "m-credentials";

impl CustomerEmbedder for FixedEmbedder {
    fn model_version(&self) -> &str {
        MODEL
    }
    fn embed_customer(&self, _event: &ClickEvent) -> Vec<f32> {
        vec![1.0, 0.0, 0.0]
    }
}

fn batch(first_id: usize, records: usize) -> FirehoseEvent {
    let records: Vec<serde_json::Value> = (first_id..first_id + records)
        .map(|i| {
            let event = serde_json::json!({
                "session_id": format!("sess-{i}"),
                "customer_number": 100 + i,
                "country": "France",
                // A product of its own per event: the next batch's session queries are not
                // in the k-NN caches, so that invocation reads the database.
                "browse_history": [{ "product_code": format!("S10_{:04}", i % 12), "quantity": 1 }],
                "event_id": format!("evt-{i}"),
            });
            serde_json::json!({
                "recordId": format!("r{i}"),
                "approximateArrivalTimestamp": 1_763_780_000_000_i64,
                "data": BASE64.encode(event.to_string()),
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "invocationId": "inv", "records": records }))
        .unwrap()
}

#[tokio::test]
async fn the_transform_answers_the_next_invocation_after_its_password_changed() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let loader = VectorStore::connect(&db.url, StoreOptions::for_cli())
        .await
        .unwrap();
    let items: String = std::iter::once("id,embedding\n".to_owned())
        .chain((0..12).map(|i| {
            let angle = i as f32 / 12.0 * std::f32::consts::FRAC_PI_2;
            format!("S10_{i:04},\"[{},{},0]\"\n", angle.cos(), angle.sin())
        }))
        .collect();
    Loader::new(&loader)
        .load_version(EmbeddingSource {
            model_version: MODEL.to_owned(),
            items: EmbeddingFile {
                name: "items".to_owned(),
                reader: items.as_bytes(),
            },
            users: EmbeddingFile {
                name: "users".to_owned(),
                reader: "id,embedding\n1,\"[1,0,0]\"\n".as_bytes(),
            },
        })
        .await
        .unwrap();
    // Created after the load: its SELECT grant covers the loaded tables and views.
    let login = RotatingLogin::create(stack, &db, "transform-first").await;
    let sdk = stack.sdk_config().await;
    let store = VectorStore::connect_target(&login.secret_target(stack, &db), &sdk, small_pool())
        .await
        .unwrap();
    let options = TransformOptions {
        knn_k: 3,
        // Always the batched HNSW query: every invocation reads the database.
        exact_knn_max_items: 0,
        ..TransformOptions::default()
    };
    let transformer = Transformer::new(
        PgVectorIndex::new(store, 0),
        InMemoryModels::new([(FixedEmbedder, 3)]),
        &options,
    );

    let first = transformer.transform(batch(0, 5)).await.unwrap();
    assert_eq!((first.counts.records, first.counts.ok), (5, 5));
    assert_eq!(first.database.retries.credential_refreshes, 0);

    login.rotate("transform-second").await;
    let next = transformer
        .transform(batch(5, 5))
        .await
        .expect("the invocation after the password change must succeed");
    assert!(
        next.response
            .records
            .iter()
            .all(|r| r.result == FirehoseResult::Ok),
        "{:?}",
        next.failures
    );
    assert_eq!((next.counts.records, next.counts.ok), (5, 5));
    assert_eq!(
        next.database.retries.credential_refreshes, 1,
        "the refused login was re-read once"
    );
}
