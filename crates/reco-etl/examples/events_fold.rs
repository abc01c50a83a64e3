//! Measures folding click events into pair weights ([`reco_etl::events::EventAggregator`]):
//! time and peak memory for generated events, no services needed.
//!
//! `cargo run --release -p reco-etl --example events_fold -- [EVENTS] [CUSTOMERS] [PRODUCTS] [DAYS]`
//! (defaults 5000000, 100000, 10000, 30). The events are spread over DAYS daily partitions,
//! oldest first, folded as the ETL reads them (`end_partition` after each; DAYS = 1 is one
//! partition holding every session to the end). Sessions of 10 events; each view carries the session's
//! growing browse history (up to 10 items), one event in 8 is an add-to-cart, one in 40 a
//! purchase, one in 20 a recommendation click, one in 5 an impression; 1% are redelivered
//! (same event id).

use std::collections::HashMap;
use std::time::Instant;

use chrono::{Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_domain::event::EventType;
use reco_domain::lake_events::LakeEvent;
use reco_domain::source::{Customer, Product};
use reco_domain::training::Cents;
use reco_etl::events::{EventAggregator, EventSettings};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("counts are whole numbers"))
    };
    let (events, n_customers, n_products) = (arg(1, 5_000_000), arg(2, 100_000), arg(3, 10_000));
    let days = arg(4, 30).max(1);
    let per_day = events.div_ceil(days);
    let customers: HashMap<i32, Customer> = (0..n_customers as i32)
        .map(|n| {
            let customer = Customer {
                customer_number: n,
                city: "Nantes".into(),
                state: None,
                postal_code: None,
                country: "France".into(),
                credit_limit: None,
            };
            (n, customer)
        })
        .collect();
    let products: HashMap<String, Product> = (0..n_products)
        .map(|i| {
            let code = format!("S{i:07}");
            let product = Product {
                product_code: code.clone(),
                product_name: code.clone(),
                product_line: "Classic Cars".into(),
                product_scale: "1:18".into(),
                quantity_in_stock: 1,
                buy_price: Cents(100),
                msrp: Cents(200),
            };
            (code, product)
        })
        .collect();
    let baseline = peak_rss_mib();
    let now = Utc::now();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut aggregator = EventAggregator::new(EventSettings::default(), now, &customers, &products);
    let started = Instant::now();
    let mut history: Vec<String> = Vec::new();
    let mut customer = 0i64;
    let mut session = 0u64;
    let mut most_open = 0;
    for i in 0..events {
        if i > 0 && i % per_day == 0 {
            aggregator.end_partition();
            most_open = most_open.max(aggregator.open_sessions());
        }
        let day = (i / per_day) as i64;
        if i % 10 == 0 {
            history.clear();
            customer = rng.random_range(0..n_customers as i64);
            session += 1;
        }
        let item = format!("S{:07}", rng.random_range(0..n_products));
        let roll = rng.random_range(0..40u32);
        let event_type = match roll {
            0 => EventType::Purchase,
            1..=5 => EventType::AddToCart,
            6..=7 => EventType::RecClick,
            8..=15 => EventType::RecImpression,
            _ => EventType::View,
        };
        if event_type == EventType::View && history.len() < 10 {
            history.push(item.clone());
        }
        let id = if rng.random_range(0..100u32) == 0 && i > 0 {
            i - 1
        } else {
            i
        };
        // Oldest day first; a time within the event's day.
        let at = now
            - Duration::days(days as i64 - 1 - day)
            - Duration::minutes(rng.random_range(0..24 * 60));
        let event = LakeEvent {
            event_id: Some(format!("{id:032x}")),
            event_type,
            session_id: format!("session-{session}"),
            customer_number: customer,
            event_time: Some(at),
            arrival_time: at,
            item: Some(item),
            recommendation_id: None,
            experiment: None,
            variant: None,
            browsed_items: history.clone(),
            cart_items: history.iter().take(1).cloned().collect(),
        };
        aggregator.add(&event);
    }
    aggregator.end_partition();
    most_open = most_open.max(aggregator.open_sessions());
    let folded = started.elapsed();
    let (pairs, stats, _) = aggregator.finish();
    let peak = peak_rss_mib();
    println!(
        "events {events} over {days} partitions, customers {n_customers}, products {n_products}: {} duplicates, {} pairs, at most {most_open} open sessions; fold {:.2} s ({:.0} events/s), finish {:.2} s; peak RSS {:.0} MiB ({:.0} MiB above the dimensions: {:.0} bytes per pair, {:.0} per event)",
        stats.events_duplicate,
        pairs.len(),
        folded.as_secs_f64(),
        events as f64 / folded.as_secs_f64(),
        (started.elapsed() - folded).as_secs_f64(),
        peak,
        peak - baseline,
        (peak - baseline) * 1_048_576.0 / pairs.len().max(1) as f64,
        (peak - baseline) * 1_048_576.0 / events.max(1) as f64,
    );
}
