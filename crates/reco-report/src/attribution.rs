//! Attribution: which recommendation impressions were followed, within the window, by a click
//! on the same recommendation and item, and by an add-to-cart or a purchase of the same item by
//! the same customer.
//!
//! Events are fed in any order ([`Attribution::add`]): the lake is partitioned by arrival date,
//! files within a day are not sorted, and an outcome may arrive before its impression. Matching
//! happens once at the end ([`Attribution::finish`]) on sorted compact arrays, so the state is
//! [`IMPRESSION_STATE_BYTES`] per impression event and [`OUTCOME_STATE_BYTES`] per outcome event
//! (plus each distinct item code and variant name once), and nothing else grows with the events.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hasher as _};

use crate::stats::ClusterSums;

/// What an event is, for attribution (`view` events are not read at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A recommended item shown (`rec_impression`).
    Impression,
    /// A recommended item clicked (`rec_click`).
    Click,
    /// An item added to the cart (`add_to_cart`).
    AddToCart,
    /// An item bought (`purchase`).
    Purchase,
}

/// One event as the report needs it, borrowed from a decoded batch.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    /// What happened.
    pub kind: Kind,
    /// The customer.
    pub customer: i64,
    /// Microseconds since the Unix epoch: the producer's `event_time`, else `arrival_time`.
    pub time_us: i64,
    /// The item shown, clicked, added or bought.
    pub item: &'a str,
    /// The recommendation shown or clicked (impressions and clicks).
    pub recommendation_id: Option<&'a str>,
    /// The impression's variant (impressions of the reported experiment only).
    pub variant: Option<&'a str>,
}

/// An impression's compact state: 32 bytes (checked by a test), see [`IMPRESSION_STATE_BYTES`].
#[derive(Debug, Clone, Copy)]
struct Impression {
    /// 64-bit hash of (recommendation_id, item): the unit of the report.
    unit: u64,
    customer: i64,
    time_us: i64,
    /// Interned item code.
    item: u32,
    /// Interned variant name.
    variant: u8,
    /// Bit set of the outcomes that followed it ([`CLICKED`], [`CARTED`], [`PURCHASED`]).
    outcomes: u8,
}

const CLICKED: u8 = 1;
const CARTED: u8 = 2;
const PURCHASED: u8 = 4;

/// Bytes of state per impression event read (before deduplication).
pub const IMPRESSION_STATE_BYTES: usize = size_of::<Impression>();
/// Bytes of state per click, add-to-cart or purchase event read.
pub const OUTCOME_STATE_BYTES: usize = size_of::<(u64, i64)>();

/// Variants per experiment the report can tell apart (the variant index is a byte).
pub const MAX_VARIANTS: usize = 255;

/// The collected events of one experiment; [`finish`](Self::finish) attributes them.
#[derive(Debug)]
pub struct Attribution {
    window_us: i64,
    impressions: Vec<Impression>,
    /// (hash of (recommendation_id, item), time).
    clicks: Vec<(u64, i64)>,
    /// (customer-item key, time).
    carts: Vec<(u64, i64)>,
    purchases: Vec<(u64, i64)>,
    items: HashMap<String, u32>,
    variants: Vec<String>,
    hasher: std::hash::BuildHasherDefault<std::hash::DefaultHasher>,
    /// Impression events without a variant (not attributable to one).
    pub impressions_without_variant: u64,
    /// Events without an item (refused by the event contract; counted, not used).
    pub events_without_item: u64,
}

/// Errors of attribution.
#[derive(Debug, thiserror::Error)]
pub enum AttributionError {
    /// More distinct variants than the compact state can name.
    #[error(
        "the experiment has more than {MAX_VARIANTS} distinct variants: check that `variant` holds the variant name"
    )]
    TooManyVariants,
    /// More distinct item codes than a u32 can name.
    #[error("more than 2^32 distinct item codes in the events")]
    TooManyItems,
}

impl Attribution {
    /// Empty state for a window of `window_us` microseconds.
    pub fn new(window_us: i64) -> Self {
        Self {
            window_us,
            impressions: Vec::new(),
            clicks: Vec::new(),
            carts: Vec::new(),
            purchases: Vec::new(),
            items: HashMap::new(),
            variants: Vec::new(),
            hasher: Default::default(),
            impressions_without_variant: 0,
            events_without_item: 0,
        }
    }

    fn unit_key(&self, recommendation_id: &str, item: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(recommendation_id.as_bytes());
        h.write_u8(0xff);
        h.write(item.as_bytes());
        h.finish()
    }

    fn item_id(&mut self, item: &str) -> Result<u32, AttributionError> {
        if let Some(&id) = self.items.get(item) {
            return Ok(id);
        }
        let id = u32::try_from(self.items.len()).map_err(|_| AttributionError::TooManyItems)?;
        self.items.insert(item.to_owned(), id);
        Ok(id)
    }

    fn variant_id(&mut self, variant: &str) -> Result<u8, AttributionError> {
        if let Some(i) = self.variants.iter().position(|v| v == variant) {
            return Ok(i as u8);
        }
        if self.variants.len() >= MAX_VARIANTS {
            return Err(AttributionError::TooManyVariants);
        }
        self.variants.push(variant.to_owned());
        Ok((self.variants.len() - 1) as u8)
    }

    /// Adds one event. Impressions must already be those of the reported experiment (and of the
    /// reported dates); clicks, add-to-carts and purchases may be any.
    pub fn add(&mut self, event: EventRef<'_>) -> Result<(), AttributionError> {
        if event.item.is_empty() {
            self.events_without_item += 1;
            return Ok(());
        }
        match event.kind {
            Kind::Impression => {
                let (Some(variant), Some(recommendation_id)) =
                    (event.variant, event.recommendation_id)
                else {
                    self.impressions_without_variant += 1;
                    return Ok(());
                };
                let impression = Impression {
                    unit: self.unit_key(recommendation_id, event.item),
                    customer: event.customer,
                    time_us: event.time_us,
                    item: self.item_id(event.item)?,
                    variant: self.variant_id(variant)?,
                    outcomes: 0,
                };
                self.impressions.push(impression);
            }
            Kind::Click => {
                if let Some(recommendation_id) = event.recommendation_id {
                    let key = self.unit_key(recommendation_id, event.item);
                    self.clicks.push((key, event.time_us));
                }
            }
            Kind::AddToCart | Kind::Purchase => {
                let key = customer_item(event.customer, self.item_id(event.item)?);
                let list = if event.kind == Kind::AddToCart {
                    &mut self.carts
                } else {
                    &mut self.purchases
                };
                list.push((key, event.time_us));
            }
        }
        Ok(())
    }

    /// Impression events collected so far (before deduplication).
    pub fn impression_events(&self) -> u64 {
        self.impressions.len() as u64
    }

    /// Bytes held by the compact state now (capacity of the arrays; item codes and variant
    /// names not included).
    pub fn state_bytes(&self) -> usize {
        self.impressions.capacity() * IMPRESSION_STATE_BYTES
            + (self.clicks.capacity() + self.carts.capacity() + self.purchases.capacity())
                * OUTCOME_STATE_BYTES
    }

    /// Deduplicates the impressions (one per (recommendation_id, item): the earliest),
    /// attributes the outcomes within the window and counts per variant. `data_until_us`
    /// (the newest arrival time read) tells which impressions' windows were still open.
    pub fn finish(mut self, data_until_us: Option<i64>) -> Attributed {
        let events = self.impressions.len() as u64;
        self.impressions
            .sort_unstable_by_key(|i| (i.unit, i.time_us, i.variant));
        self.impressions.dedup_by_key(|i| i.unit);
        let duplicates = events - self.impressions.len() as u64;
        for list in [&mut self.clicks, &mut self.carts, &mut self.purchases] {
            list.sort_unstable();
        }
        let window = self.window_us;
        let mut open_windows = 0u64;
        for imp in &mut self.impressions {
            let ci = customer_item(imp.customer, imp.item);
            if followed(&self.clicks, imp.unit, imp.time_us, window) {
                imp.outcomes |= CLICKED;
            }
            if followed(&self.carts, ci, imp.time_us, window) {
                imp.outcomes |= CARTED;
            }
            if followed(&self.purchases, ci, imp.time_us, window) {
                imp.outcomes |= PURCHASED;
            }
            if data_until_us.is_some_and(|until| imp.time_us.saturating_add(window) > until) {
                open_windows += 1;
            }
        }
        drop((self.clicks, self.carts, self.purchases));

        // Per variant, per customer: the impressions and their outcomes, for the clustered
        // statistics and the customer counts.
        self.impressions
            .sort_unstable_by_key(|i| (i.variant, i.customer));
        let mut variants: Vec<VariantCounts> = self
            .variants
            .iter()
            .map(|name| VariantCounts::new(name.clone()))
            .collect();
        let mut customer_variants: HashMap<i64, u8> = HashMap::new();
        let mut in_several = 0u64;
        for group in self
            .impressions
            .chunk_by(|a, b| a.variant == b.variant && a.customer == b.customer)
        {
            let first = group[0];
            match customer_variants.insert(first.customer, first.variant) {
                Some(other) if other != first.variant => in_several += 1,
                _ => {}
            }
            let counts = &mut variants[usize::from(first.variant)];
            let n = group.len() as u64;
            let count = |bit: u8| group.iter().filter(|i| i.outcomes & bit != 0).count() as u64;
            counts.click_through.add_customer(n, count(CLICKED));
            counts.add_to_cart.add_customer(n, count(CARTED));
            counts.purchase.add_customer(n, count(PURCHASED));
        }
        variants.sort_by(|a, b| a.name.cmp(&b.name));
        Attributed {
            variants,
            impression_events: events,
            duplicate_impression_events: duplicates,
            open_window_impressions: open_windows,
            customers_in_several_variants: in_several,
        }
    }
}

/// Key of a (customer, item) pair.
fn customer_item(customer: i64, item: u32) -> u64 {
    // A bijection of (customer, item) when customer numbers fit in 32 bits (classicmodels-
    // shaped numbers do); larger numbers are mixed in, collisions then as unlikely as a hash's.
    (customer as u64).rotate_left(32) ^ u64::from(item)
}

/// Whether `sorted` (by key, then time) holds `key` at a time in `[t, t + window]`.
fn followed(sorted: &[(u64, i64)], key: u64, t: i64, window: i64) -> bool {
    let first = sorted.partition_point(|&(k, time)| (k, time) < (key, t));
    sorted
        .get(first)
        .is_some_and(|&(k, time)| k == key && time <= t.saturating_add(window))
}

/// The counts of one variant: per rate, the sums over its customers.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantCounts {
    /// The variant's name.
    pub name: String,
    /// Impressions followed by a click on the same recommendation and item.
    pub click_through: ClusterSums,
    /// Impressions followed by an add-to-cart of the item by the customer.
    pub add_to_cart: ClusterSums,
    /// Impressions followed by a purchase of the item by the customer.
    pub purchase: ClusterSums,
}

impl VariantCounts {
    fn new(name: String) -> Self {
        Self {
            name,
            click_through: ClusterSums::default(),
            add_to_cart: ClusterSums::default(),
            purchase: ClusterSums::default(),
        }
    }

    /// Impressions (units) of the variant.
    pub fn impressions(&self) -> u64 {
        self.click_through.n as u64
    }

    /// Distinct customers with an impression in the variant.
    pub fn customers(&self) -> u64 {
        self.click_through.customers
    }
}

/// The result of attribution: per variant counts and what was set aside.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributed {
    /// One entry per variant, by name.
    pub variants: Vec<VariantCounts>,
    /// Impression events read (with duplicates).
    pub impression_events: u64,
    /// Impression events of a (recommendation_id, item) already counted: the same event
    /// delivered again (same event_id) or the same recommendation shown again.
    pub duplicate_impression_events: u64,
    /// Impressions whose window had not closed by the newest event read (their outcomes may
    /// still come).
    pub open_window_impressions: u64,
    /// Customers with impressions in more than one variant (assignment changed or leaked).
    pub customers_in_several_variants: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn impression<'a>(customer: i64, rec: &'a str, item: &'a str, t: i64) -> EventRef<'a> {
        EventRef {
            kind: Kind::Impression,
            customer,
            time_us: t,
            item,
            recommendation_id: Some(rec),
            variant: Some(if customer % 2 == 0 {
                "control"
            } else {
                "treatment"
            }),
        }
    }

    fn outcome<'a>(kind: Kind, customer: i64, rec: &'a str, item: &'a str, t: i64) -> EventRef<'a> {
        EventRef {
            kind,
            customer,
            time_us: t,
            item,
            recommendation_id: (kind == Kind::Click).then_some(rec),
            variant: None,
        }
    }

    #[test]
    fn the_state_is_compact() {
        assert_eq!(IMPRESSION_STATE_BYTES, 32);
        assert_eq!(OUTCOME_STATE_BYTES, 16);
    }

    /// An outcome counts from the impression's own time to exactly `window` later, inclusive;
    /// one microsecond before or after does not count. Order of arrival does not matter.
    #[test]
    fn window_edges_are_inclusive_and_order_free() {
        let t = 1_000 * HOUR;
        let w = 24 * HOUR;
        let mut a = Attribution::new(w);
        // Outcomes fed before their impressions.
        a.add(outcome(Kind::Click, 1, "r1", "S10", t + w)).unwrap();
        a.add(outcome(Kind::Click, 1, "r2", "S10", t + w + 1))
            .unwrap();
        a.add(outcome(Kind::Click, 1, "r3", "S10", t - 1)).unwrap();
        a.add(outcome(Kind::Click, 1, "r4", "S10", t)).unwrap();
        for rec in ["r1", "r2", "r3", "r4"] {
            a.add(impression(1, rec, "S10", t)).unwrap();
        }
        let out = a.finish(None);
        assert_eq!(out.variants.len(), 1);
        let treatment = &out.variants[0];
        assert_eq!(treatment.name, "treatment");
        assert_eq!(treatment.impressions(), 4);
        // r1 (at the edge) and r4 (same instant) count; r2 (1 µs late) and r3 (before) not.
        assert_eq!(treatment.click_through.y, 2.0);
    }

    /// A click on another recommendation or item, a purchase by another customer or of
    /// another item: no attribution. A later purchase of the item by the customer counts for
    /// every impression of the item within the window.
    #[test]
    fn outcomes_match_on_their_keys_only() {
        let t = 5_000 * HOUR;
        let mut a = Attribution::new(24 * HOUR);
        a.add(impression(2, "r1", "S10", t)).unwrap();
        a.add(impression(2, "r2", "S10", t + HOUR)).unwrap();
        a.add(impression(2, "r1", "S12", t)).unwrap();
        a.add(impression(4, "r9", "S10", t)).unwrap();
        a.add(outcome(Kind::Click, 2, "r1", "S12", t + 1)).unwrap();
        a.add(outcome(Kind::Click, 2, "r3", "S10", t + 1)).unwrap();
        a.add(outcome(Kind::AddToCart, 2, "", "S10", t + 2 * HOUR))
            .unwrap();
        a.add(outcome(Kind::Purchase, 2, "", "S10", t + 3 * HOUR))
            .unwrap();
        a.add(outcome(Kind::Purchase, 4, "", "S99", t + 3 * HOUR))
            .unwrap();
        a.add(outcome(Kind::Purchase, 6, "", "S10", t + 3 * HOUR))
            .unwrap();
        let out = a.finish(Some(t + 2 * HOUR));
        let control = &out.variants[0];
        assert_eq!(control.name, "control");
        assert_eq!(
            (control.impressions(), control.customers()),
            (4, 2),
            "{control:?}"
        );
        assert_eq!(control.click_through.y, 1.0);
        assert_eq!(control.add_to_cart.y, 2.0);
        assert_eq!(control.purchase.y, 2.0);
        // Customer 2: 3 impressions, 1 click; customer 4: 1 impression, none.
        assert_eq!(control.click_through.yn, 3.0);
        assert_eq!(control.click_through.n2, 10.0);
        // Every window is still open 2 hours in.
        assert_eq!(out.open_window_impressions, 4);
    }

    /// The same (recommendation_id, item) twice (a redelivered event, or shown again) is one
    /// impression, at its earliest time: a click between the two times still counts.
    #[test]
    fn repeated_impressions_are_one_unit_at_the_earliest_time() {
        let t = 9_000 * HOUR;
        let mut a = Attribution::new(HOUR);
        a.add(impression(3, "r1", "S10", t + 30 * 60_000_000))
            .unwrap();
        a.add(impression(3, "r1", "S10", t)).unwrap();
        a.add(impression(3, "r1", "S10", t)).unwrap();
        a.add(outcome(Kind::Click, 3, "r1", "S10", t + 10 * 60_000_000))
            .unwrap();
        let mut no_variant = impression(3, "r7", "S10", t);
        no_variant.variant = None;
        a.add(no_variant).unwrap();
        assert_eq!(a.impression_events(), 3);
        assert_eq!(a.impressions_without_variant, 1);
        let out = a.finish(Some(t + 10 * HOUR));
        assert_eq!(out.impression_events, 3);
        assert_eq!(out.duplicate_impression_events, 2);
        assert_eq!(out.open_window_impressions, 0);
        let v = &out.variants[0];
        assert_eq!((v.impressions(), v.click_through.y), (1, 1.0));
    }

    #[test]
    fn a_customer_seen_in_two_variants_is_counted() {
        let mut a = Attribution::new(HOUR);
        a.add(impression(1, "r1", "S10", 0)).unwrap();
        let mut other = impression(1, "r2", "S10", 0);
        other.variant = Some("control");
        a.add(other).unwrap();
        let out = a.finish(None);
        assert_eq!(out.customers_in_several_variants, 1);
        assert_eq!(out.variants.len(), 2);
    }
}
