//! Generated experiment traffic written as the lake's raw events (`events/dt=.../` Parquet with
//! the contract's schema, `reco_domain::lake_events::events_schema`), and a naive reference
//! attribution to check the report against.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use reco_aws::Bucket;
use reco_domain::lake_events;
use reco_report::{ReportConfig, parse_date};

pub const HOUR: i64 = 3_600_000_000;
/// 2026-03-01T00:00:00Z in µs.
pub const START_US: i64 = 1_772_323_200 * 1_000_000;
pub const EXPERIMENT: &str = "rec-ranker-v2";

/// One raw event as the lake holds it.
#[derive(Debug, Clone)]
pub struct Row {
    pub event_id: Option<String>,
    pub event_type: &'static str,
    pub session_id: String,
    pub customer: i64,
    pub event_time: Option<i64>,
    pub arrival: i64,
    pub item: Option<String>,
    pub recommendation_id: Option<String>,
    pub experiment: Option<String>,
    pub variant: Option<String>,
}

/// A variant's behaviour: probabilities per impression (scaled by the customer's own
/// propensity, the same for all their impressions: impressions of one customer correlate).
#[derive(Debug, Clone, Copy)]
pub struct Propensities {
    pub click: f64,
    pub cart_after_click: f64,
    pub purchase_after_cart: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    pub customers: i64,
    pub sessions_per_customer: usize,
    pub items_per_recommendation: usize,
    pub seed: u64,
    pub control: Propensities,
    pub treatment: Propensities,
}

fn event(
    event_type: &'static str,
    customer: i64,
    session: &str,
    t: i64,
    rng: &mut ChaCha8Rng,
    n: &mut u64,
) -> Row {
    *n += 1;
    Row {
        event_id: Some(format!("ev-{n}")),
        event_type,
        session_id: session.to_owned(),
        customer,
        // 5% of producers send no event time: the report falls back to the arrival time.
        event_time: (rng.random::<f64>() >= 0.05).then_some(t),
        arrival: t + rng.random_range(0..5_000_000),
        item: None,
        recommendation_id: None,
        experiment: None,
        variant: None,
    }
}

/// Generates the traffic of three days from [`START_US`]: per session one recommendation of
/// several items shown (impressions), clicks, add-to-carts and purchases following by the
/// variant's propensities, some outcomes after the 24 h window, views, impressions of another
/// experiment, and 3% of impressions delivered twice (same event id).
pub fn generate(traffic: &Traffic) -> Vec<Row> {
    let mut rng = ChaCha8Rng::seed_from_u64(traffic.seed);
    let mut rows = Vec::new();
    let mut n = 0u64;
    for customer in 100..100 + traffic.customers {
        let treatment = rng.random::<f64>() < 0.5;
        let (variant, p) = if treatment {
            ("treatment", traffic.treatment)
        } else {
            ("control", traffic.control)
        };
        let propensity = rng.random_range(0.3..1.7);
        for s in 0..traffic.sessions_per_customer {
            let session = format!("s-{customer}-{s}");
            let t = START_US + rng.random_range(HOUR..71 * HOUR);
            let recommendation = format!("rec-{customer}-{s}");
            let mut view = event("view", customer, &session, t - 60_000_000, &mut rng, &mut n);
            view.item = Some(format!("S{}", rng.random_range(0..40)));
            rows.push(view);
            for slot in 0..traffic.items_per_recommendation {
                let item = format!("S{}", rng.random_range(0..40));
                let mut imp = event("rec_impression", customer, &session, t, &mut rng, &mut n);
                imp.item = Some(item.clone());
                imp.recommendation_id = Some(recommendation.clone());
                imp.experiment = Some(EXPERIMENT.to_owned());
                imp.variant = Some(variant.to_owned());
                if rng.random::<f64>() < 0.03 {
                    let mut again = imp.clone();
                    again.arrival += 40 * 60_000_000;
                    rows.push(again);
                }
                rows.push(imp);
                // The same slot shown in another experiment's widget: never counted here.
                if slot == 0 && rng.random::<f64>() < 0.2 {
                    let mut other =
                        event("rec_impression", customer, &session, t, &mut rng, &mut n);
                    other.item = Some(item.clone());
                    other.recommendation_id = Some(format!("other-{customer}-{s}"));
                    other.experiment = Some("other-experiment".to_owned());
                    other.variant = Some("treatment".to_owned());
                    rows.push(other);
                }
                if rng.random::<f64>() >= p.click * propensity {
                    continue;
                }
                // 10% of clicks come after the window.
                let late = rng.random::<f64>() < 0.1;
                let delay = if late {
                    rng.random_range(25 * HOUR..40 * HOUR)
                } else {
                    rng.random_range(0..20 * HOUR)
                };
                let tc = t + delay;
                let mut click = event("rec_click", customer, &session, tc, &mut rng, &mut n);
                click.item = Some(item.clone());
                click.recommendation_id = Some(recommendation.clone());
                click.experiment = Some(EXPERIMENT.to_owned());
                click.variant = Some(variant.to_owned());
                rows.push(click);
                if rng.random::<f64>() >= p.cart_after_click * propensity {
                    continue;
                }
                let ta = tc + rng.random_range(0..HOUR);
                let mut cart = event("add_to_cart", customer, &session, ta, &mut rng, &mut n);
                cart.item = Some(item.clone());
                rows.push(cart);
                if rng.random::<f64>() >= p.purchase_after_cart {
                    continue;
                }
                let tp = ta + rng.random_range(0..2 * HOUR);
                let mut purchase = event("purchase", customer, &session, tp, &mut rng, &mut n);
                purchase.item = Some(item);
                rows.push(purchase);
            }
        }
    }
    rows
}

/// `rows` as one Parquet object.
pub fn parquet(rows: &[Row]) -> Bytes {
    let mut event_id = StringBuilder::new();
    let mut event_type = StringBuilder::new();
    let mut session = StringBuilder::new();
    let mut customer = Int64Builder::new();
    let mut event_time = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut arrival = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut item = StringBuilder::new();
    let mut recommendation = StringBuilder::new();
    let mut experiment = StringBuilder::new();
    let mut variant = StringBuilder::new();
    let mut browsed = ListBuilder::new(StringBuilder::new());
    let mut cart = ListBuilder::new(StringBuilder::new());
    for r in rows {
        event_id.append_option(r.event_id.as_deref());
        event_type.append_value(r.event_type);
        session.append_value(&r.session_id);
        customer.append_value(r.customer);
        event_time.append_option(r.event_time);
        arrival.append_value(r.arrival);
        item.append_option(r.item.as_deref());
        recommendation.append_option(r.recommendation_id.as_deref());
        experiment.append_option(r.experiment.as_deref());
        variant.append_option(r.variant.as_deref());
        if let Some(code) = r.item.as_deref().filter(|_| r.event_type == "view") {
            browsed.values().append_value(code);
        }
        browsed.append(true);
        cart.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(event_id.finish()),
        Arc::new(event_type.finish()),
        Arc::new(session.finish()),
        Arc::new(customer.finish()),
        Arc::new(event_time.finish()),
        Arc::new(arrival.finish()),
        Arc::new(item.finish()),
        Arc::new(recommendation.finish()),
        Arc::new(experiment.finish()),
        Arc::new(variant.finish()),
        Arc::new(browsed.finish()),
        Arc::new(cart.finish()),
    ];
    let batch = RecordBatch::try_new(lake_events::events_schema(), columns).unwrap();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    Bytes::from(out)
}

/// UTC date of µs since the epoch.
pub fn day_of(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

/// Writes `rows` to the lake as the Firehose would: partitioned by arrival date, three objects
/// per day (rows in generation order, not sorted by time). Returns the objects written.
pub async fn write_lake(lake: &Bucket, rows: &[Row]) -> usize {
    let mut by_day: HashMap<String, Vec<Row>> = HashMap::new();
    for r in rows {
        by_day.entry(day_of(r.arrival)).or_default().push(r.clone());
    }
    let mut objects = 0;
    for (day, rows) in by_day {
        let part = rows.len().div_ceil(3);
        for (i, chunk) in rows.chunks(part).enumerate() {
            lake.put(
                &format!("events/dt={day}/part-{i:05}.parquet"),
                parquet(chunk),
                "application/vnd.apache.parquet",
            )
            .await
            .unwrap();
            objects += 1;
        }
    }
    objects
}

/// The report's settings for generated traffic: the three generated days, 24 h window.
pub fn config() -> ReportConfig {
    ReportConfig {
        experiment: EXPERIMENT.to_owned(),
        from: parse_date("2026-03-01").unwrap(),
        to: parse_date("2026-03-03").unwrap(),
        window_hours: 24,
        control: "control".to_owned(),
    }
}

/// Expected counts of one variant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expected {
    pub impressions: u64,
    pub customers: u64,
    pub clicks: u64,
    pub carts: u64,
    pub purchases: u64,
}

/// Attribution the slow, obvious way (every impression against every event of its customer),
/// to check the streaming implementation against.
pub fn reference(rows: &[Row], window_hours: i64) -> HashMap<String, Expected> {
    let window = window_hours * HOUR;
    let time = |r: &Row| r.event_time.unwrap_or(r.arrival);
    let mut by_customer: HashMap<i64, Vec<&Row>> = HashMap::new();
    for r in rows {
        by_customer.entry(r.customer).or_default().push(r);
    }
    let mut out: HashMap<String, Expected> = HashMap::new();
    for events in by_customer.values() {
        // (recommendation, item) -> earliest impression.
        let mut units: HashMap<(&str, &str), &Row> = HashMap::new();
        for r in events.iter().filter(|r| {
            r.event_type == "rec_impression"
                && r.experiment.as_deref() == Some(EXPERIMENT)
                && day_of(r.arrival).as_str() <= "2026-03-03"
        }) {
            let key = (
                r.recommendation_id.as_deref().unwrap(),
                r.item.as_deref().unwrap(),
            );
            let keep = units.get(&key).is_none_or(|old| time(r) < time(old));
            if keep {
                units.insert(key, r);
            }
        }
        let mut variants_seen = std::collections::HashSet::new();
        for ((rec, item), imp) in units {
            let t = time(imp);
            let within = |r: &&&Row| time(r) >= t && time(r) <= t + window;
            let e = out.entry(imp.variant.clone().unwrap()).or_default();
            e.impressions += 1;
            if variants_seen.insert(imp.variant.clone()) {
                e.customers += 1;
            }
            let hit = |kind: &str, by_rec: bool| {
                events.iter().filter(within).any(|r| {
                    r.event_type == kind
                        && r.item.as_deref() == Some(item)
                        && (!by_rec || r.recommendation_id.as_deref() == Some(rec))
                })
            };
            e.clicks += u64::from(hit("rec_click", true));
            e.carts += u64::from(hit("add_to_cart", false));
            e.purchases += u64::from(hit("purchase", false));
        }
    }
    out
}
