//! `load_classicmodels` on the local MariaDB: it replaces generated data (whose foreign keys
//! have another shape) and leaves the database exactly as it was when the dump is malformed
//! or fails part-way.
#![cfg(feature = "integration")]

use reco_etl::classicmodels::{LoadError, load_classicmodels};
use reco_etl::generate::{GenerateSpec, generate};
use reco_etl::sql_script::decode_script;
use reco_testkit::{LocalStack, TempDatabase};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{Connection as _, MySqlConnection};

fn real_dump() -> String {
    decode_script(
        &std::fs::read(
            LocalStack::get()
                .root()
                .join("../shared/data/classicmodels.sql"),
        )
        .unwrap(),
    )
}

/// Row counts of the source tables, and the databases named after the test database (the
/// staging and replaced-tables databases must be gone after every load).
async fn state(db: &TempDatabase) -> (Vec<(String, i64)>, Vec<String>) {
    let mut conn = MySqlConnection::connect(&db.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM `{table}`"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        counts.push((table, n));
    }
    let side: Vec<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE CONCAT(?, '\\_\\_%')",
    )
    .bind(&db.name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    (counts, side)
}

fn count(state: &[(String, i64)], table: &str) -> i64 {
    state
        .iter()
        .find(|(t, _)| t == table)
        .unwrap_or_else(|| panic!("no table {table} in {state:?}"))
        .1
}

#[tokio::test]
async fn the_real_dump_replaces_generated_data() {
    let db = LocalStack::get().mysql_database().await;
    let options: MySqlConnectOptions = db.url.parse().unwrap();
    generate(
        &options,
        GenerateSpec {
            customers: 40,
            products: 15,
            ratings: 300,
            seed: 7,
        },
    )
    .await
    .unwrap();
    let (generated, _) = state(&db).await;
    assert_eq!(count(&generated, "ratings"), 300);

    let report = load_classicmodels(&options, "classicmodels.sql", &real_dump())
        .await
        .unwrap();
    assert_eq!(
        (
            report.ratings,
            report.rated_customers,
            report.rated_products
        ),
        (2532, 98, 109)
    );
    let (loaded, side) = state(&db).await;
    assert_eq!(side, Vec::<String>::new(), "staging databases left behind");
    for (table, rows) in [
        ("customers", 122),
        ("products", 110),
        ("productlines", 7),
        ("orders", 326),
        ("orderdetails", 2996),
        ("payments", 273),
        ("employees", 23),
        ("offices", 7),
        ("ratings", 2532),
    ] {
        assert_eq!(count(&loaded, table), rows, "{table}");
    }
    // Foreign keys are live on the moved tables: an order line for an unknown product is refused.
    let mut conn = MySqlConnection::connect(&db.url).await.unwrap();
    let refused = sqlx::raw_sql("INSERT INTO orderdetails VALUES (10100, 'NO_SUCH', 1, 1.00, 1)")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("foreign key"), "{refused}");

    // And back: generated data replaces the dump, then the dump replaces it again.
    generate(
        &options,
        GenerateSpec {
            customers: 10,
            products: 5,
            ratings: 20,
            seed: 1,
        },
    )
    .await
    .unwrap();
    load_classicmodels(&options, "classicmodels.sql", &real_dump())
        .await
        .unwrap();
    assert_eq!(state(&db).await, (loaded, Vec::new()));
}

#[tokio::test]
async fn a_malformed_or_failing_dump_changes_nothing() {
    let db = LocalStack::get().mysql_database().await;
    let options: MySqlConnectOptions = db.url.parse().unwrap();
    load_classicmodels(&options, "classicmodels.sql", &real_dump())
        .await
        .unwrap();
    let before = state(&db).await;
    assert_eq!(count(&before.0, "ratings"), 2532);

    // One line that is no dump: refused before anything runs.
    let err = load_classicmodels(&options, "bad.sql", "this is not a dump\n")
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::NotADump { .. }), "{err}");
    assert_eq!(state(&db).await, before);

    // One line with an unterminated quote: refused by the splitter.
    let err = load_classicmodels(&options, "bad.sql", "INSERT INTO ratings VALUES (1, 'x\n")
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::Script { .. }), "{err}");
    assert_eq!(state(&db).await, before);

    // A dump that parses but fails half-way (after dropping and creating its tables).
    let mut failing = real_dump();
    failing.push_str("\nINSERT INTO `products` VALUES ('S10_1678', 'duplicate');\n");
    let err = load_classicmodels(&options, "failing.sql", &failing)
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::Statement { .. }), "{err}");
    assert!(err.to_string().starts_with("failing.sql line "), "{err}");
    assert_eq!(state(&db).await, before);
}
