//! Event-derived interactions: the raw click events of the data lake
//! (`events/dt=YYYY-MM-DD/`, [`reco_domain::lake_events`]) folded into one weight per
//! customer x product pair, written into the snapshot as `source = events` training rows.
//!
//! What an event says about a product:
//! - **browsing** (weight [`EventWeights::view`]): the event's browsed items, and the `item` of
//!   a `view` event; **cart** (weight [`EventWeights::add_to_cart`]): its cart items, and the
//!   `item` of an `add_to_cart` event. A browse history is cumulative (every view of a
//!   session repeats the products seen before), so these two signals count **once per session
//!   and product**, at the recency of the session's newest event carrying them;
//! - **purchase**, **rec_click** and **rec_impression** count their `item` once per event (a
//!   second purchase is a second signal); impressions weigh 0 by default: they are exposure,
//!   not interest.
//!
//! Each signal is multiplied by the recency decay `0.5^(age_days / half_life_days)`, age
//! counted from the event's producer time (its arrival time when absent) to the run's time;
//! a pair's weight is the sum of its signals, capped at [`EventSettings::max_pair_weight`]
//! (0: no cap). Events repeated by at-least-once delivery (same `event_id`) count once.
//! Events of customers, and items of products, unknown to the source database are skipped
//! and counted.
//!
//! Memory: product codes are interned to `u32` indexes of the source's products, so the
//! state is one `u64 -> f64` entry per pair and one `u64 -> f32` entry per session x product
//! signal (16 bytes each, 18-37 bytes with the hash table's control byte and load factor),
//! 8 bytes (9-18) per distinct `event_id` (its 64-bit hash), and one interned session id.
//! Files are read one at a time and decoded batch by batch, partition by partition, oldest
//! first. Only pairs grow with the window: at the end of each partition
//! ([`EventAggregator::end_partition`]) the sessions it did not continue are folded into their
//! pairs and forgotten, and the event ids of the partition before it are dropped. Sessions and
//! ids are held for two partitions (a session running over midnight, a redelivery on the next
//! day still count once); a session resumed after a whole partition without events counts as
//! a new one.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use reco_aws::{Bucket, StorageError};
use reco_config::var;
use reco_domain::event::EventType;
use reco_domain::lake_events::{self, LakeEvent};
use reco_domain::source::{Customer, Product};

/// Default days of event partitions read, back from the run's date.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// Default half-life of the recency decay, in days.
pub const DEFAULT_HALF_LIFE_DAYS: f64 = 14.0;
/// Default cap of a pair's weight (a few purchases' worth: one compulsive clicker does not
/// outweigh everything else the customer did).
pub const DEFAULT_MAX_PAIR_WEIGHT: f64 = 20.0;
/// Interval of progress lines while reading events.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Weight of one signal of each event type, before the recency decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventWeights {
    /// A product browsed in a session (browsed items, `view` items).
    pub view: f64,
    /// A product put in the cart in a session (cart items, `add_to_cart` items).
    pub add_to_cart: f64,
    /// A product bought.
    pub purchase: f64,
    /// A recommended product clicked.
    pub rec_click: f64,
    /// A recommended product shown.
    pub rec_impression: f64,
}

impl Default for EventWeights {
    fn default() -> Self {
        Self {
            view: 1.0,
            add_to_cart: 3.0,
            purchase: 5.0,
            rec_click: 2.0,
            rec_impression: 0.0,
        }
    }
}

/// How events become pair weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventSettings {
    /// Per-type weights.
    pub weights: EventWeights,
    /// Days of partitions read: `dt` from the run's date minus this many days to the run's
    /// date (0: events off).
    pub lookback_days: u32,
    /// Half-life of the recency decay, in days (> 0).
    pub half_life_days: f64,
    /// Largest weight of a pair (0: no cap).
    pub max_pair_weight: f64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            weights: EventWeights::default(),
            lookback_days: DEFAULT_LOOKBACK_DAYS,
            half_life_days: DEFAULT_HALF_LIFE_DAYS,
            max_pair_weight: DEFAULT_MAX_PAIR_WEIGHT,
        }
    }
}

impl EventSettings {
    /// The recency decay of a signal `age_days` old (a future time counts as age 0).
    pub fn decay(&self, age_days: f64) -> f64 {
        0.5f64.powf(age_days.max(0.0) / self.half_life_days)
    }

    /// A pair's final weight from the sum of its signals.
    pub fn capped(&self, weight: f64) -> f64 {
        if self.max_pair_weight > 0.0 {
            weight.min(self.max_pair_weight)
        } else {
            weight
        }
    }

    /// The partition dates to read for a run at `now`, oldest first.
    pub fn partition_dates(&self, now: DateTime<Utc>) -> Vec<NaiveDate> {
        if self.lookback_days == 0 {
            return Vec::new();
        }
        let today = now.date_naive();
        (0..=self.lookback_days)
            .rev()
            .filter_map(|back| today.checked_sub_days(chrono::Days::new(u64::from(back))))
            .collect()
    }
}

fn non_negative_weight(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(w) if w.is_finite() && w >= 0.0 => Ok(w),
        _ => Err(format!(
            "{text:?} is not a weight: give a number >= 0 (0 ignores the signal)"
        )),
    }
}

fn positive_days(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(d) if d.is_finite() && d > 0.0 => Ok(d),
        _ => Err(format!(
            "{text:?} is not a half-life: give a number of days > 0, such as 14 or 3.5"
        )),
    }
}

/// The event settings as flags bound to their variables (`reco etl` and the ETL job).
#[derive(Debug, Clone, Args)]
pub struct EventArgs {
    /// Days of raw click events (lake partitions events/dt=...) turned into training rows; 0: none.
    #[arg(long = "events-lookback-days", env = var::RECO_EVENTS_LOOKBACK_DAYS, value_name = "DAYS", default_value_t = DEFAULT_LOOKBACK_DAYS)]
    pub lookback_days: u32,
    /// Half-life of an event's weight, in days (recency decay 0.5^(age/half-life)).
    #[arg(long = "events-half-life-days", env = var::RECO_EVENTS_HALF_LIFE_DAYS, value_name = "DAYS", default_value_t = DEFAULT_HALF_LIFE_DAYS, value_parser = positive_days)]
    pub half_life_days: f64,
    /// Largest weight of one customer x product pair from events; 0: no cap.
    #[arg(long = "events-max-pair-weight", env = var::RECO_EVENTS_MAX_PAIR_WEIGHT, value_name = "WEIGHT", default_value_t = DEFAULT_MAX_PAIR_WEIGHT, value_parser = non_negative_weight)]
    pub max_pair_weight: f64,
    /// Weight of a product browsed in a session.
    #[arg(long = "event-weight-view", env = var::RECO_EVENT_WEIGHT_VIEW, value_name = "WEIGHT", default_value_t = EventWeights::default().view, value_parser = non_negative_weight)]
    pub view: f64,
    /// Weight of a product put in the cart in a session.
    #[arg(long = "event-weight-add-to-cart", env = var::RECO_EVENT_WEIGHT_ADD_TO_CART, value_name = "WEIGHT", default_value_t = EventWeights::default().add_to_cart, value_parser = non_negative_weight)]
    pub add_to_cart: f64,
    /// Weight of a purchase.
    #[arg(long = "event-weight-purchase", env = var::RECO_EVENT_WEIGHT_PURCHASE, value_name = "WEIGHT", default_value_t = EventWeights::default().purchase, value_parser = non_negative_weight)]
    pub purchase: f64,
    /// Weight of a click on a recommendation.
    #[arg(long = "event-weight-rec-click", env = var::RECO_EVENT_WEIGHT_REC_CLICK, value_name = "WEIGHT", default_value_t = EventWeights::default().rec_click, value_parser = non_negative_weight)]
    pub rec_click: f64,
    /// Weight of a recommendation shown (exposure, not interest: 0 by default).
    #[arg(long = "event-weight-rec-impression", env = var::RECO_EVENT_WEIGHT_REC_IMPRESSION, value_name = "WEIGHT", default_value_t = EventWeights::default().rec_impression, value_parser = non_negative_weight)]
    pub rec_impression: f64,
}

impl EventArgs {
    /// The settings these flags describe.
    pub fn settings(&self) -> EventSettings {
        EventSettings {
            weights: EventWeights {
                view: self.view,
                add_to_cart: self.add_to_cart,
                purchase: self.purchase,
                rec_click: self.rec_click,
                rec_impression: self.rec_impression,
            },
            lookback_days: self.lookback_days,
            half_life_days: self.half_life_days,
            max_pair_weight: self.max_pair_weight,
        }
    }
}

/// What reading the events did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventStats {
    /// Event files read.
    pub files_read: u64,
    /// Objects under the partitions that are not readable event files (skipped, logged).
    pub files_skipped: u64,
    /// Event rows read.
    pub events_read: u64,
    /// Rows repeating an `event_id` already read (at-least-once delivery), not counted again.
    pub events_duplicate: u64,
    /// Events of customers unknown to the source database, skipped.
    pub events_unknown_customer: u64,
    /// Product mentions (item, browsed or cart item) of products unknown to the source
    /// database, skipped.
    pub items_unknown_product: u64,
    /// Customer x product pairs with a weight > 0.
    pub pairs: u64,
}

/// A pair's weight: customer number, index of the product in the aggregator's product list,
/// weight.
pub type PairWeight = (i32, u32, f64);

fn pack(high: u32, low: u32) -> u64 {
    (u64::from(high) << 32) | u64::from(low)
}

fn unpack(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// A session whose browsing and cart signals are not folded into pairs yet.
#[derive(Debug, Clone, Copy)]
struct OpenSession {
    id: u32,
    customer: i32,
    last_partition: u32,
}

/// Folds events into pair weights (see the module documentation for the rules).
#[derive(Debug)]
pub struct EventAggregator<'a> {
    settings: EventSettings,
    now: DateTime<Utc>,
    customers: &'a HashMap<i32, Customer>,
    products: Vec<&'a Product>,
    product_index: HashMap<&'a str, u32>,
    /// Event id hashes of the current partition and of the one before it.
    seen_ids: HashSet<u64>,
    seen_ids_before: HashSet<u64>,
    /// (customer, session id) -> the session's number and the partition it was last seen in.
    sessions: HashMap<(i32, Box<str>), OpenSession>,
    next_session: u32,
    /// Partitions ended so far (the current partition's number).
    partition: u32,
    /// (session, product) -> decay of the newest browsing signal.
    browsed: HashMap<u64, f32>,
    /// (session, product) -> decay of the newest cart signal.
    carted: HashMap<u64, f32>,
    /// (customer as u32, product) -> summed per-event signals.
    pairs: HashMap<u64, f64>,
    stats: EventStats,
}

impl<'a> EventAggregator<'a> {
    /// An empty aggregator for a run at `now` over the source's `customers` and `products`.
    pub fn new(
        settings: EventSettings,
        now: DateTime<Utc>,
        customers: &'a HashMap<i32, Customer>,
        products: &'a HashMap<String, Product>,
    ) -> Self {
        let mut list: Vec<&Product> = products.values().collect();
        list.sort_by(|a, b| a.product_code.cmp(&b.product_code));
        let product_index = list
            .iter()
            .enumerate()
            .map(|(i, p)| (p.product_code.as_str(), i as u32))
            .collect();
        Self {
            settings,
            now,
            customers,
            products: list,
            product_index,
            seen_ids: HashSet::new(),
            seen_ids_before: HashSet::new(),
            sessions: HashMap::new(),
            next_session: 0,
            partition: 0,
            browsed: HashMap::new(),
            carted: HashMap::new(),
            pairs: HashMap::new(),
            stats: EventStats::default(),
        }
    }

    /// The product at `index` of [`PairWeight`]s.
    pub fn product(&self, index: u32) -> &'a Product {
        self.products[index as usize]
    }

    /// What was read so far.
    pub fn stats(&self) -> &EventStats {
        &self.stats
    }

    fn product_of(&mut self, code: &str) -> Option<u32> {
        let found = self.product_index.get(code).copied();
        if found.is_none() {
            self.stats.items_unknown_product += 1;
        }
        found
    }

    fn session_signal(which: &mut HashMap<u64, f32>, session: u32, product: u32, decay: f64) {
        let decay = decay as f32;
        which
            .entry(pack(session, product))
            .and_modify(|d| *d = d.max(decay))
            .or_insert(decay);
    }

    /// Adds one event.
    pub fn add(&mut self, event: &LakeEvent) {
        self.stats.events_read += 1;
        if let Some(id) = &event.event_id {
            let mut hasher = DefaultHasher::new();
            id.hash(&mut hasher);
            let hash = hasher.finish();
            if self.seen_ids_before.contains(&hash) || !self.seen_ids.insert(hash) {
                self.stats.events_duplicate += 1;
                return;
            }
        }
        let Some(customer) = i32::try_from(event.customer_number)
            .ok()
            .filter(|n| self.customers.contains_key(n))
        else {
            self.stats.events_unknown_customer += 1;
            return;
        };
        let time = event.event_time.unwrap_or(event.arrival_time);
        let age_days = (self.now - time).num_milliseconds() as f64 / 86_400_000.0;
        let decay = self.settings.decay(age_days);
        let partition = self.partition;
        let session = match self
            .sessions
            .entry((customer, event.session_id.as_str().into()))
        {
            Entry::Occupied(mut e) => {
                e.get_mut().last_partition = partition;
                e.get().id
            }
            Entry::Vacant(e) => {
                let id = self.next_session;
                self.next_session = self.next_session.wrapping_add(1);
                e.insert(OpenSession {
                    id,
                    customer,
                    last_partition: partition,
                })
                .id
            }
        };
        let weights = self.settings.weights;
        if weights.view > 0.0 {
            for code in &event.browsed_items {
                if let Some(p) = self.product_of(code) {
                    Self::session_signal(&mut self.browsed, session, p, decay);
                }
            }
        }
        if weights.add_to_cart > 0.0 {
            for code in &event.cart_items {
                if let Some(p) = self.product_of(code) {
                    Self::session_signal(&mut self.carted, session, p, decay);
                }
            }
        }
        let Some(item) = &event.item else { return };
        // Browsing and cart items count once per session; the other types once per event.
        let (weight, per_event) = match event.event_type {
            EventType::View => (weights.view, false),
            EventType::AddToCart => (weights.add_to_cart, false),
            EventType::Purchase => (weights.purchase, true),
            EventType::RecClick => (weights.rec_click, true),
            EventType::RecImpression => (weights.rec_impression, true),
        };
        if weight <= 0.0 {
            return;
        }
        let Some(p) = self.product_of(item) else {
            return;
        };
        if per_event {
            *self.pairs.entry(pack(customer as u32, p)).or_default() += weight * decay;
        } else if event.event_type == EventType::AddToCart {
            Self::session_signal(&mut self.carted, session, p, decay);
        } else {
            Self::session_signal(&mut self.browsed, session, p, decay);
        }
    }

    /// Ends the partition (a day of events) read since the last call: folds the sessions it
    /// did not continue into their pairs and forgets them, and drops the event ids of the
    /// partition before it. Call it after each partition, oldest first.
    pub fn end_partition(&mut self) {
        let ended = self.partition;
        self.fold_sessions(|s| s.last_partition < ended);
        self.seen_ids_before = std::mem::take(&mut self.seen_ids);
        self.partition += 1;
    }

    /// Sessions still held (not folded into pairs yet).
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Folds the browsing and cart signals of the sessions `done` picks into their pairs and
    /// forgets those sessions.
    fn fold_sessions(&mut self, done: impl Fn(&OpenSession) -> bool) {
        let mut folded: HashMap<u32, i32> = HashMap::new();
        self.sessions.retain(|_, s| {
            if done(s) {
                folded.insert(s.id, s.customer);
                false
            } else {
                true
            }
        });
        if folded.is_empty() {
            return;
        }
        let weights = self.settings.weights;
        for (which, weight) in [
            (&mut self.browsed, weights.view),
            (&mut self.carted, weights.add_to_cart),
        ] {
            which.retain(|&key, &mut decay| {
                let (session, product) = unpack(key);
                let Some(&customer) = folded.get(&session) else {
                    return true;
                };
                *self
                    .pairs
                    .entry(pack(customer as u32, product))
                    .or_default() += weight * f64::from(decay);
                false
            });
        }
    }

    /// The pairs with a weight > 0, sorted by customer then product code, and the counts.
    pub fn finish(mut self) -> (Vec<PairWeight>, EventStats, Vec<&'a Product>) {
        self.fold_sessions(|_| true);
        let mut pairs: Vec<PairWeight> = self
            .pairs
            .into_iter()
            .filter_map(|(key, weight)| {
                let (customer, product) = unpack(key);
                let weight = self.settings.capped(weight);
                (weight > 0.0).then_some((customer as i32, product, weight))
            })
            .collect();
        // Product indexes follow the code order, so this is customer then product code.
        pairs.sort_unstable_by_key(|&(c, p, _)| (c, p));
        self.stats.pairs = pairs.len() as u64;
        (pairs, self.stats, self.products)
    }
}

/// Reading the events failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// Listing or reading the data lake failed.
    #[error("reading the click events of the data lake failed: {0}")]
    Store(#[from] StorageError),
}

/// Reads the event partitions of the window ending at `now` from `lake` into `aggregator`.
/// Absent partitions are fine (no events); an object that is not a readable event file is
/// skipped with a warning and counted.
pub async fn read_events(
    lake: &Bucket,
    aggregator: &mut EventAggregator<'_>,
    now: DateTime<Utc>,
) -> Result<(), EventsError> {
    let started = Instant::now();
    let mut next_progress = started + PROGRESS_INTERVAL;
    for day in aggregator.settings.partition_dates(now) {
        let prefix = lake_events::partition_prefix(day);
        for key in lake.list(&prefix).await? {
            let name = key.rsplit('/').next().unwrap_or_default();
            if name.starts_with('_') || name.starts_with('.') || name.is_empty() {
                continue;
            }
            let body = lake.get(&key).await?;
            match read_file(body, aggregator) {
                Ok(()) => aggregator.stats.files_read += 1,
                Err(reason) => {
                    aggregator.stats.files_skipped += 1;
                    tracing::warn!(key = %key, reason = %reason, "not a readable event file; skipped");
                }
            }
            if Instant::now() >= next_progress {
                next_progress = Instant::now() + PROGRESS_INTERVAL;
                tracing::info!(
                    partition = %day,
                    files_read = aggregator.stats.files_read,
                    events_read = aggregator.stats.events_read,
                    open_sessions = aggregator.open_sessions(),
                    "reading click events"
                );
            }
        }
        aggregator.end_partition();
    }
    Ok(())
}

fn read_file(body: bytes::Bytes, aggregator: &mut EventAggregator<'_>) -> Result<(), String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let events = lake_events::from_record_batch(&batch).map_err(|e| e.to_string())?;
        for event in &events {
            aggregator.add(event);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use reco_domain::training::Cents;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap()
    }

    fn days_ago(days: i64) -> DateTime<Utc> {
        now() - chrono::Duration::days(days)
    }

    fn customers() -> HashMap<i32, Customer> {
        [103, 112]
            .into_iter()
            .map(|n| {
                (
                    n,
                    Customer {
                        customer_number: n,
                        city: "Nantes".into(),
                        state: None,
                        postal_code: None,
                        country: "France".into(),
                        credit_limit: None,
                    },
                )
            })
            .collect()
    }

    fn products() -> HashMap<String, Product> {
        ["A", "B", "C", "D"]
            .into_iter()
            .map(|code| {
                (
                    code.to_owned(),
                    Product {
                        product_code: code.into(),
                        product_name: format!("product {code}"),
                        product_line: "Motorcycles".into(),
                        product_scale: "1:10".into(),
                        quantity_in_stock: 1,
                        buy_price: Cents(100),
                        msrp: Cents(200),
                    },
                )
            })
            .collect()
    }

    fn event(
        id: &str,
        kind: EventType,
        session: &str,
        customer: i64,
        age_days: i64,
        item: Option<&str>,
    ) -> LakeEvent {
        LakeEvent {
            event_id: (!id.is_empty()).then(|| id.to_owned()),
            event_type: kind,
            session_id: session.into(),
            customer_number: customer,
            event_time: Some(days_ago(age_days)),
            arrival_time: days_ago(age_days),
            item: item.map(str::to_owned),
            recommendation_id: None,
            experiment: None,
            variant: None,
            browsed_items: Vec::new(),
            cart_items: Vec::new(),
        }
    }

    /// `event` with a browse history: its `browsed` items, `cart` of them in the cart.
    fn with_history(mut event: LakeEvent, browsed: &[&str], cart: &[&str]) -> LakeEvent {
        event.browsed_items = browsed.iter().map(|s| (*s).to_owned()).collect();
        event.cart_items = cart.iter().map(|s| (*s).to_owned()).collect();
        event
    }

    /// `finish`'s pairs with their product codes, weights rounded to 1e-9.
    fn named(pairs: Vec<PairWeight>, list: &[&Product]) -> Vec<(i32, String, f64)> {
        pairs
            .into_iter()
            .map(|(c, p, w)| {
                (
                    c,
                    list[p as usize].product_code.clone(),
                    (w * 1e9).round() / 1e9,
                )
            })
            .collect()
    }

    /// The pairs as (customer, product code, weight rounded to 1e-9).
    fn weights(
        events: &[LakeEvent],
        settings: EventSettings,
    ) -> (Vec<(i32, String, f64)>, EventStats) {
        let (customers, products) = (customers(), products());
        let mut aggregator = EventAggregator::new(settings, now(), &customers, &products);
        for e in events {
            aggregator.add(e);
        }
        let (pairs, stats, list) = aggregator.finish();
        (named(pairs, &list), stats)
    }

    #[test]
    fn browsing_and_cart_count_once_per_session_at_the_newest_recency() {
        use EventType::*;
        let events = [
            // A session of three views: the history grows, A is repeated by every view.
            with_history(event("e1", View, "s1", 103, 28, Some("A")), &["A"], &[]),
            with_history(
                event("e2", View, "s1", 103, 14, Some("B")),
                &["A", "B"],
                &["A"],
            ),
            with_history(event("e3", View, "s1", 103, 0, None), &["A", "B"], &["A"]),
            // Another session of the same customer: A browsed again, 14 days ago.
            with_history(event("e4", View, "s2", 103, 14, None), &["A"], &[]),
        ];
        let (pairs, stats) = weights(&events, EventSettings::default());
        // A: browsed in s1 (newest today: 1.0) + in s2 (14 days: 0.5) + cart in s1 (3 x 1.0).
        // B: browsed in s1 (newest today: 1.0).
        assert_eq!(
            pairs,
            [(103, "A".to_owned(), 4.5), (103, "B".to_owned(), 1.0)]
        );
        assert_eq!((stats.events_read, stats.pairs), (4, 2));
    }

    #[test]
    fn types_weigh_as_configured_and_impressions_weigh_nothing_by_default() {
        use EventType::*;
        let events = [
            event("p1", Purchase, "s1", 103, 0, Some("C")),
            event("p2", Purchase, "s2", 103, 14, Some("C")),
            event("c1", AddToCart, "s1", 103, 0, Some("D")),
            with_history(event("c2", AddToCart, "s1", 103, 0, Some("D")), &[], &["D"]),
            event("k1", RecClick, "s1", 112, 0, Some("A")),
            event("i1", RecImpression, "s1", 112, 0, Some("B")),
        ];
        let (pairs, _) = weights(&events, EventSettings::default());
        assert_eq!(
            pairs,
            [
                // Two purchases: 5 + 5 x 0.5; the cart counts once in its session.
                (103, "C".to_owned(), 7.5),
                (103, "D".to_owned(), 3.0),
                (112, "A".to_owned(), 2.0),
            ]
        );
        let settings = EventSettings {
            weights: EventWeights {
                rec_impression: 0.25,
                purchase: 10.0,
                ..EventWeights::default()
            },
            max_pair_weight: 12.0,
            ..EventSettings::default()
        };
        let (pairs, _) = weights(&events, settings);
        assert_eq!(
            pairs,
            [
                (103, "C".to_owned(), 12.0), // 10 + 5, capped
                (103, "D".to_owned(), 3.0),
                (112, "A".to_owned(), 2.0),
                (112, "B".to_owned(), 0.25),
            ]
        );
    }

    #[test]
    fn repeated_event_ids_unknown_customers_and_products_are_skipped_and_counted() {
        use EventType::*;
        let events = [
            event("p1", Purchase, "s1", 103, 0, Some("C")),
            event("p1", Purchase, "s1", 103, 0, Some("C")),
            // No event id: cannot be deduplicated, counts.
            event("", Purchase, "s1", 103, 0, Some("C")),
            event("p3", Purchase, "s1", 999, 0, Some("C")),
            event("p4", Purchase, "s1", i64::MAX, 0, Some("C")),
            with_history(
                event("v1", View, "s1", 112, 0, Some("ZZZ")),
                &["A", "YYY"],
                &["XXX"],
            ),
        ];
        let (pairs, stats) = weights(&events, EventSettings::default());
        assert_eq!(
            pairs,
            [(103, "C".to_owned(), 10.0), (112, "A".to_owned(), 1.0)]
        );
        assert_eq!(
            stats,
            EventStats {
                events_read: 6,
                events_duplicate: 1,
                events_unknown_customer: 2,
                items_unknown_product: 3,
                pairs: 2,
                ..EventStats::default()
            }
        );
    }

    #[test]
    fn decay_halves_every_half_life_and_the_window_ends_today() {
        let settings = EventSettings::default();
        assert_eq!(settings.decay(0.0), 1.0);
        assert_eq!(settings.decay(-3.0), 1.0, "a future time counts as now");
        assert!((settings.decay(14.0) - 0.5).abs() < 1e-12);
        assert!((settings.decay(42.0) - 0.125).abs() < 1e-12);
        let dates = settings.partition_dates(now());
        assert_eq!(dates.len(), 31);
        assert_eq!(dates[0].to_string(), "2026-03-01");
        assert_eq!(dates[30].to_string(), "2026-03-31");
        let off = EventSettings {
            lookback_days: 0,
            ..settings
        };
        assert!(off.partition_dates(now()).is_empty());
        assert_eq!(settings.capped(25.0), 20.0);
        let uncapped = EventSettings {
            max_pair_weight: 0.0,
            ..settings
        };
        assert_eq!(uncapped.capped(25.0), 25.0);
    }

    #[test]
    fn flags_and_variables_parse_with_clear_errors() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            events: EventArgs,
        }
        let cli = Cli::try_parse_from(["etl"]).unwrap();
        assert_eq!(cli.events.settings(), EventSettings::default());
        let cli = Cli::try_parse_from([
            "etl",
            "--event-weight-purchase",
            "8",
            "--events-half-life-days",
            "3.5",
            "--events-lookback-days",
            "7",
        ])
        .unwrap();
        let settings = cli.events.settings();
        assert_eq!(
            (
                settings.weights.purchase,
                settings.half_life_days,
                settings.lookback_days
            ),
            (8.0, 3.5, 7)
        );
        let err = Cli::try_parse_from(["etl", "--event-weight-view=-1"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("give a number >= 0"), "{err}");
        let err = Cli::try_parse_from(["etl", "--events-half-life-days", "0"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("number of days > 0"), "{err}");
    }

    /// The pairs of `days` of events, one partition a day (oldest first), with
    /// `end_partition` after each, and the sessions held after each partition.
    fn weights_by_partition(days: &[Vec<LakeEvent>]) -> (Vec<(i32, String, f64)>, Vec<usize>) {
        let (customers, products) = (customers(), products());
        let mut aggregator =
            EventAggregator::new(EventSettings::default(), now(), &customers, &products);
        let mut open = Vec::new();
        for day in days {
            for e in day {
                aggregator.add(e);
            }
            aggregator.end_partition();
            open.push(aggregator.open_sessions());
        }
        let (pairs, _, list) = aggregator.finish();
        (named(pairs, &list), open)
    }

    #[test]
    fn partitions_fold_finished_sessions_and_keep_the_rules_across_midnight() {
        use EventType::*;
        let days = vec![
            // Day 0: session s1 (customer 103) browses A; s2 (112) browses B and buys it.
            vec![
                with_history(event("e1", View, "s1", 103, 3, Some("A")), &["A"], &[]),
                with_history(event("e2", View, "s2", 112, 3, Some("B")), &["B"], &["B"]),
                event("e3", Purchase, "s2", 112, 3, Some("B")),
            ],
            // Day 1: s1 goes on past midnight (A again: still once per session); e3 is
            // redelivered (counts once).
            vec![
                with_history(event("e4", View, "s1", 103, 2, Some("C")), &["A", "C"], &[]),
                event("e3", Purchase, "s2", 112, 3, Some("B")),
            ],
            // Day 2 and 3: nothing for s1 and s2; s3 (103) browses D on day 3.
            vec![],
            vec![with_history(
                event("e5", View, "s3", 103, 0, Some("D")),
                &["D"],
                &[],
            )],
        ];
        let (by_partition, open) = weights_by_partition(&days);
        // The same events folded as one partition: the same pairs.
        let all: Vec<LakeEvent> = days.iter().flatten().cloned().collect();
        let (at_once, stats) = weights(&all, EventSettings::default());
        assert_eq!(by_partition, at_once);
        assert_eq!(stats.events_duplicate, 1);
        // After day 0 both sessions are open; after day 1 s2 (not seen that day) is folded;
        // after day 2 s1 too; after day 3 only s3 is held.
        assert_eq!(open, [2, 1, 0, 1]);
        let decay = |days: f64| 0.5f64.powf(days / DEFAULT_HALF_LIFE_DAYS);
        // Session signals keep their decay as f32.
        let session_decay = |days: f64| f64::from(decay(days) as f32);
        let round = |w: f64| (w * 1e9).round() / 1e9;
        assert_eq!(
            by_partition,
            [
                // A browsed in s1, newest on day 1 (2 days ago); C too; D today.
                (103, "A".to_owned(), round(session_decay(2.0))),
                (103, "C".to_owned(), round(session_decay(2.0))),
                (103, "D".to_owned(), 1.0),
                // B browsed (1) + in the cart (3) + bought once (5), 3 days ago.
                (
                    112,
                    "B".to_owned(),
                    round(4.0 * session_decay(3.0) + 5.0 * decay(3.0))
                ),
            ]
        );
    }

    #[test]
    fn only_two_partitions_of_event_ids_are_held() {
        use EventType::*;
        let purchase = || event("e1", Purchase, "s1", 103, 1, Some("A"));
        // Redelivered the next day: once. Redelivered two partitions later: the ids of the
        // first partition are gone, so it counts again (a redelivery comes within minutes).
        let (next_day, _) = weights_by_partition(&[vec![purchase()], vec![purchase()]]);
        let (later, _) = weights_by_partition(&[vec![purchase()], vec![], vec![purchase()]]);
        let once = (5.0 * 0.5f64.powf(1.0 / DEFAULT_HALF_LIFE_DAYS) * 1e9).round() / 1e9;
        assert_eq!(next_day, [(103, "A".to_owned(), once)]);
        assert_eq!(
            later,
            [(103, "A".to_owned(), (2.0 * once * 1e9).round() / 1e9)]
        );
    }
}
