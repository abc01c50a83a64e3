//! The ETL with raw click events in the data lake, against the local stack (MariaDB, S3 and
//! Glue on the emulator): rating rows and `events` rows in one snapshot.
#![cfg(feature = "integration")]

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int8Type, Int32Type};
use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use reco_aws::Bucket;
use reco_domain::event::EventType;
use reco_domain::lake_events::{LakeEvent, partition_prefix, to_record_batch};
use reco_domain::training::{
    COL_CITY, COL_CUSTOMER_NUMBER, COL_EVENT_WEIGHT, COL_PRODUCT_CODE, COL_PRODUCT_LINE,
    COL_RATING, COL_SOURCE, SOURCE_EVENTS, SOURCE_RATING, SnapshotDate,
};
use reco_etl::catalog::TrainingCatalog;
use reco_etl::classicmodels::load_classicmodels;
use reco_etl::events::{EventSettings, EventStats};
use reco_etl::pipeline::read_manifest;
use reco_etl::sql_script::decode_script;
use reco_etl::{EtlConfig, run_etl, source_db};
use reco_testkit::{LocalStack, unique_name};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap()
}

/// An event of `customer` that happened and arrived `age_days` before [`now`].
fn event(
    id: &str,
    kind: EventType,
    customer: i64,
    age_days: i64,
    item: &str,
    browsed: &[&str],
) -> LakeEvent {
    let at = now() - Duration::days(age_days);
    LakeEvent {
        event_id: Some(id.to_owned()),
        event_type: kind,
        session_id: format!("session-{customer}"),
        customer_number: customer,
        event_time: Some(at),
        arrival_time: at,
        item: Some(item.to_owned()),
        recommendation_id: matches!(kind, EventType::RecImpression | EventType::RecClick)
            .then(|| "rec-1".to_owned()),
        experiment: None,
        variant: None,
        browsed_items: browsed.iter().map(|s| (*s).to_owned()).collect(),
        cart_items: Vec::new(),
    }
}

async fn put_events(lake: &Bucket, key: &str, events: &[LakeEvent]) {
    let batch = to_record_batch(events).unwrap();
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    let body = writer.into_inner().unwrap();
    lake.put(key, Bytes::from(body), "application/vnd.apache.parquet")
        .await
        .unwrap();
}

/// A snapshot's rows: (customer, product, source) -> (rating, event weight, city, line).
type Rows = BTreeMap<(i32, String, String), (Option<i8>, Option<f64>, String, String)>;

async fn read_rows(lake: &Bucket, snapshot: SnapshotDate) -> Rows {
    let manifest = read_manifest(lake, snapshot).await.unwrap().unwrap();
    let mut rows = Rows::new();
    for part in &manifest.files {
        let body = lake.get(&part.key).await.unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(body)
            .unwrap()
            .build()
            .unwrap()
        {
            let batch = batch.unwrap();
            let col = |name| batch.column_by_name(name).unwrap();
            let customer = col(COL_CUSTOMER_NUMBER).as_primitive::<Int32Type>();
            let product = col(COL_PRODUCT_CODE).as_string::<i32>();
            let source = col(COL_SOURCE).as_string::<i32>();
            let rating = col(COL_RATING).as_primitive::<Int8Type>();
            let weight = col(COL_EVENT_WEIGHT).as_primitive::<Float64Type>();
            let city = col(COL_CITY).as_string::<i32>();
            let line = col(COL_PRODUCT_LINE).as_string::<i32>();
            for i in 0..batch.num_rows() {
                let previous = rows.insert(
                    (
                        customer.value(i),
                        product.value(i).to_owned(),
                        source.value(i).to_owned(),
                    ),
                    (
                        rating.is_valid(i).then(|| rating.value(i)),
                        weight.is_valid(i).then(|| weight.value(i)),
                        city.value(i).to_owned(),
                        line.value(i).to_owned(),
                    ),
                );
                assert!(previous.is_none(), "one row per pair and source");
            }
        }
    }
    rows
}

#[tokio::test]
async fn events_in_the_lake_become_weighted_rows_next_to_the_ratings() {
    let stack = LocalStack::get();
    let db = stack.mysql_database().await;
    let bucket = stack.s3_bucket().await;
    let glue = aws_sdk_glue::Client::new(&stack.sdk_config().await);
    let glue_database = unique_name("reco_t_", '_');
    let catalog = TrainingCatalog::new(glue.clone(), &glue_database, "training_ratings");
    let lake = stack.bucket(&bucket.name);
    let options = db.url.parse().unwrap();
    let dump = decode_script(
        &std::fs::read(stack.root().join("../shared/data/classicmodels.sql")).unwrap(),
    );
    load_classicmodels(&options, "classicmodels.sql", &dump)
        .await
        .unwrap();
    let pool = source_db::connect(options).await.unwrap();
    let config = |snapshot: &str| EtlConfig {
        now: now(),
        ..EtlConfig::new(snapshot.parse().unwrap())
    };

    // No events prefix: the snapshot is the ratings alone, as before events existed.
    let before = config("2026-03-30");
    let report = run_etl(&pool, &lake, &catalog, &before).await.unwrap();
    assert_eq!(
        (report.rows_written, report.events.clone()),
        (2532, EventStats::default())
    );
    let rows = read_rows(&lake, before.snapshot).await;
    assert_eq!(rows.len(), 2532);
    assert!(rows.iter().all(
        |((_, _, source), (rating, weight, _, _))| source == SOURCE_RATING
            && rating.is_some()
            && weight.is_none()
    ));

    use EventType::*;
    let today = partition_prefix(now().date_naive());
    let two_weeks_ago = now() - Duration::days(14);
    let mut rec_click = event("k1", RecClick, 112, 14, "S10_1949", &[]);
    rec_click.event_time = None; // decays from its arrival time
    let mut carted = event("e2", View, 103, 0, "S10_1949", &["S10_1678", "S10_1949"]);
    carted.cart_items = vec!["S10_1678".into()];
    let viewed = event("e1", View, 103, 0, "S10_1678", &["S10_1678"]);
    put_events(
        &lake,
        &format!("{today}events-a.parquet"),
        &[
            viewed.clone(),
            viewed, // redelivered: counted once
            carted,
            event("i1", RecImpression, 112, 0, "S10_2016", &[]),
            event("e3", View, 999_999, 0, "S10_1678", &[]), // unknown customer
            event("e4", View, 112, 0, "NOPE_1", &["NOPE_1"]), // unknown product, twice
        ],
    )
    .await;
    put_events(
        &lake,
        &format!(
            "{}events-b.parquet",
            partition_prefix(two_weeks_ago.date_naive())
        ),
        &[event("p1", Purchase, 112, 14, "S10_2016", &[]), rec_click],
    )
    .await;
    // Older than the 30-day window: not read.
    put_events(
        &lake,
        &format!(
            "{}events-c.parquet",
            partition_prefix((now() - Duration::days(40)).date_naive())
        ),
        &[event("p2", Purchase, 103, 40, "S12_1099", &[])],
    )
    .await;
    lake.put(
        &format!("{today}stray.parquet"),
        Bytes::from_static(b"not parquet"),
        "application/octet-stream",
    )
    .await
    .unwrap();

    let with_events = config("2026-03-31");
    assert_eq!(with_events.events, EventSettings::default());
    let report = run_etl(&pool, &lake, &catalog, &with_events).await.unwrap();
    assert_eq!(
        report.events,
        EventStats {
            files_read: 2,
            files_skipped: 1,
            events_read: 8,
            events_duplicate: 1,
            events_unknown_customer: 1,
            items_unknown_product: 2,
            pairs: 4,
        }
    );
    assert_eq!(report.rows_written, 2532 + 4);
    let rows = read_rows(&lake, with_events.snapshot).await;
    let events: Vec<(i32, &str, f64, &str, &str)> = rows
        .iter()
        .filter(|((_, _, source), _)| source == SOURCE_EVENTS)
        .map(|((c, p, _), (rating, weight, city, line))| {
            assert_eq!(*rating, None, "events rows have no rating");
            (
                *c,
                p.as_str(),
                weight.unwrap(),
                city.as_str(),
                line.as_str(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            // Browsed (1) and in the cart (3) in today's session.
            (103, "S10_1678", 4.0, "Nantes", "Motorcycles"),
            (103, "S10_1949", 1.0, "Nantes", "Classic Cars"),
            // A click on a recommendation (2) and a purchase (5), both 14 days old: halved.
            (112, "S10_1949", 1.0, "Las Vegas", "Classic Cars"),
            (112, "S10_2016", 2.5, "Las Vegas", "Motorcycles"),
        ]
    );
    let ratings = rows
        .iter()
        .filter(|((_, _, source), (rating, weight, _, _))| {
            source == SOURCE_RATING && rating.is_some() && weight.is_none()
        })
        .count();
    assert_eq!(ratings, 2532);

    // Glue: Athena sees the new columns and the nullable rating.
    let table = glue
        .get_table()
        .database_name(&glue_database)
        .name("training_ratings")
        .send()
        .await
        .unwrap();
    let columns: Vec<String> = table
        .table()
        .unwrap()
        .storage_descriptor()
        .unwrap()
        .columns()
        .iter()
        .map(|c| {
            format!(
                "{}:{}:{}",
                c.name(),
                c.r#type().unwrap_or(""),
                c.comment().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        columns[12..],
        [
            "rating:tinyint:nullable",
            "source:string:not null",
            "event_weight:double:nullable"
        ]
    );

    let _ = glue.delete_database().name(&glue_database).send().await;
    pool.close().await;
    drop(bucket);
    drop(db);
}
