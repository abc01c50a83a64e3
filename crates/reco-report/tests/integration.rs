//! The report against the local stack: generated traffic in an S3 bucket of the emulator, and
//! sql/report_experiment.sql run on PostgreSQL over the same events, figure for figure equal to
//! the Rust report.

#![cfg(feature = "integration")]

mod support;

use reco_aws::Bucket;
use reco_report::{Report, ReportError};
use reco_testkit::LocalStack;
use sqlx::{Connection as _, PgConnection, Row as _};
use support::{Propensities, Traffic};

fn ab_traffic(seed: u64) -> Traffic {
    let control = Propensities {
        click: 0.08,
        cart_after_click: 0.35,
        purchase_after_cart: 0.5,
    };
    Traffic {
        customers: 800,
        sessions_per_customer: 5,
        items_per_recommendation: 4,
        seed,
        control,
        treatment: Propensities {
            click: 0.12,
            ..control
        },
    }
}

#[tokio::test]
async fn the_report_reads_the_lake_in_s3_and_says_when_the_experiment_has_no_impressions() {
    let stack = LocalStack::get();
    let temp = stack.s3_bucket().await;
    let lake = stack.bucket(&temp.name);
    let rows = support::generate(&ab_traffic(3));
    let objects = support::write_lake(&lake, &rows).await;
    let report = reco_report::run(&lake, &support::config(), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.read.objects as usize, objects);
    assert!(
        report.source.starts_with("s3://reco-t-"),
        "{}",
        report.source
    );
    let expected = support::reference(&rows, 24);
    for v in &report.variants {
        let e = &expected[&v.variant];
        assert_eq!(
            (
                v.impressions,
                v.click_through.successes,
                v.purchase.successes
            ),
            (e.impressions, e.clicks, e.purchases)
        );
    }
    let d = report.difference("treatment", "click_through").unwrap();
    assert!(d.difference > 0.0 && d.significant, "{d:?}");

    let mut config = support::config();
    config.experiment = "not-running".to_owned();
    let err = reco_report::run(&lake, &config, &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ReportError::NoImpressions(_)));
    let message = err.to_string();
    assert!(
        message.contains("no rec_impression events of experiment \"not-running\"")
            && message
                .contains("impressions name other experiments: other-experiment, rec-ranker-v2")
            && message.contains("is delivering"),
        "{message}"
    );
}

/// The CSV `COPY` of generated events into a `click_events` table shaped like the Glue table.
fn events_csv(rows: &[support::Row]) -> String {
    let time = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    };
    let mut out = String::new();
    for r in rows {
        let fields = [
            r.event_id.clone().unwrap_or_default(),
            r.event_type.to_owned(),
            r.session_id.clone(),
            r.customer.to_string(),
            r.event_time.map(time).unwrap_or_default(),
            time(r.arrival),
            r.item.clone().unwrap_or_default(),
            r.recommendation_id.clone().unwrap_or_default(),
            r.experiment.clone().unwrap_or_default(),
            r.variant.clone().unwrap_or_default(),
            support::day_of(r.arrival),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn close(what: &str, sql: f64, rust: f64) {
    let tolerance = 1e-9_f64.max(rust.abs() * 1e-6);
    assert!(
        (sql - rust).abs() <= tolerance,
        "{what}: SQL {sql} vs Rust {rust}"
    );
}

#[tokio::test]
async fn report_experiment_sql_on_postgresql_gives_the_rust_reports_figures() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE click_events (
            event_id text, event_type text NOT NULL, session_id text NOT NULL,
            customer_number bigint NOT NULL, event_time timestamptz, arrival_time timestamptz NOT NULL,
            item text, recommendation_id text, experiment text, variant text, dt text NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let rows = support::generate(&ab_traffic(5));
    let mut copy = conn
        .copy_in_raw("COPY click_events FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    copy.send(events_csv(&rows).into_bytes()).await.unwrap();
    copy.finish().await.unwrap();

    let lake = Bucket::in_memory("lake");
    support::write_lake(&lake, &rows).await;
    let config = support::config();
    let report: Report = reco_report::run(&lake, &config, &mut |_, _| {})
        .await
        .unwrap();

    let sql_file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../sql/report_experiment.sql"
    ))
    .unwrap();
    let mut sql = sql_file.clone();
    for value in [
        format!("'{}'", config.experiment),
        format!("'{}'", config.from),
        format!("'{}'", config.to),
        config.window_hours.to_string(),
    ] {
        sql = sql.replacen("CAST(? AS", &format!("CAST({value} AS"), 1);
    }
    assert!(!sql.contains("CAST(? AS"), "more than four parameters");
    let query = format!(
        "SELECT variant, metric, customers::bigint AS customers, impressions::bigint AS impressions,
                successes::bigint AS successes, rate::float8 AS rate, ci_low::float8 AS ci_low,
                ci_high::float8 AS ci_high, customer_ci_low::float8 AS customer_ci_low,
                customer_ci_high::float8 AS customer_ci_high, versus, difference::float8 AS difference,
                difference_ci_low::float8 AS difference_ci_low, difference_ci_high::float8 AS difference_ci_high,
                z::float8 AS z, p_value::float8 AS p_value,
                difference_customer_ci_low::float8 AS difference_customer_ci_low,
                difference_customer_ci_high::float8 AS difference_customer_ci_high,
                customer_p_value::float8 AS customer_p_value, significant
         FROM ({}) report",
        sql.trim_end().trim_end_matches(';')
    );
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(query))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(result.len(), 6, "two variants x three metrics");
    for row in &result {
        let variant: String = row.get("variant");
        let metric: String = row.get("metric");
        let v = report
            .variants
            .iter()
            .find(|v| v.variant == variant)
            .unwrap();
        let rate = match metric.as_str() {
            "click_through" => &v.click_through,
            "add_to_cart" => &v.add_to_cart,
            "purchase" => &v.purchase,
            other => panic!("unknown metric {other}"),
        };
        let what = format!("{variant} {metric}");
        let count = |name: &str| row.get::<i64, _>(name) as u64;
        assert_eq!(
            (count("customers"), count("impressions"), count("successes")),
            (v.customers, v.impressions, rate.successes),
            "{what}"
        );
        let f = |name: &str| row.get::<f64, _>(name);
        close(&format!("{what} rate"), f("rate"), rate.rate);
        close(&format!("{what} ci_low"), f("ci_low"), rate.ci.low);
        close(&format!("{what} ci_high"), f("ci_high"), rate.ci.high);
        let customer_ci = rate.customer_ci.unwrap();
        close(
            &format!("{what} customer_ci_low"),
            f("customer_ci_low"),
            customer_ci.low,
        );
        close(
            &format!("{what} customer_ci_high"),
            f("customer_ci_high"),
            customer_ci.high,
        );
        match report.difference(&variant, &metric) {
            None => assert_eq!(row.get::<Option<String>, _>("versus"), None, "{what}"),
            Some(d) => {
                assert_eq!(row.get::<String, _>("versus"), d.versus);
                close(&format!("{what} difference"), f("difference"), d.difference);
                close(&format!("{what} ci low"), f("difference_ci_low"), d.ci.low);
                close(
                    &format!("{what} ci high"),
                    f("difference_ci_high"),
                    d.ci.high,
                );
                close(&format!("{what} z"), f("z"), d.z);
                close(&format!("{what} p"), f("p_value"), d.p_value);
                let ci = d.customer_ci.unwrap();
                close(
                    &format!("{what} customer ci low"),
                    f("difference_customer_ci_low"),
                    ci.low,
                );
                close(
                    &format!("{what} customer ci high"),
                    f("difference_customer_ci_high"),
                    ci.high,
                );
                close(
                    &format!("{what} customer p"),
                    f("customer_p_value"),
                    d.customer_p_value.unwrap(),
                );
                assert_eq!(row.get::<bool, _>("significant"), d.significant, "{what}");
            }
        }
    }
    drop(conn);
}
