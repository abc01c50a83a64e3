//! The report: per variant the three rates with their intervals, and every other variant
//! against the control with the difference, its intervals and p-values. [`Report`] serialises
//! to the `--json` output (field names are stable; see the README's "Experiment report"), and
//! [`Report::render`] prints the table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::ReportConfig;
use crate::attribution::{Attributed, IMPRESSION_STATE_BYTES, OUTCOME_STATE_BYTES};
use crate::read::ReadStats;
use crate::stats::{self, ClusterSums, Interval};

/// Significance level of every "significant" flag (95% intervals).
pub const ALPHA: f64 = 0.05;

/// Events read but not attributable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// Impressions of the experiment without a variant or a recommendation_id.
    pub impressions_without_variant: u64,
    /// Impressions, clicks, add-to-carts or purchases without an item.
    pub events_without_item: u64,
}

/// The report of one experiment (the `--json` document).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The experiment's name.
    pub experiment: String,
    /// First arrival date of the impressions counted (YYYY-MM-DD, UTC).
    pub from: String,
    /// Last arrival date of the impressions counted, inclusive.
    pub to: String,
    /// Attribution window, hours.
    pub window_hours: u32,
    /// The confidence level of every interval (0.95).
    pub confidence: f64,
    /// Where the events were read: `s3://bucket/events/`.
    pub source: String,
    /// What was read.
    pub read: ReadStats,
    /// Impression events of the experiment read, duplicates included.
    pub impression_events: u64,
    /// Impression events of a (recommendation_id, item) already counted (redelivered or shown
    /// again): not counted twice.
    pub duplicate_impression_events: u64,
    /// Impressions whose window had not closed at the newest event read: their rates may
    /// still rise.
    pub open_window_impressions: u64,
    /// Customers with impressions in more than one variant.
    pub customers_in_several_variants: u64,
    /// Events set aside.
    pub dropped: Dropped,
    /// Bytes of attribution state held at the end of the read (32 per impression event, 16
    /// per click / add-to-cart / purchase event).
    pub state_bytes: u64,
    /// The variant the others are compared with.
    pub control: String,
    /// One entry per variant, by name.
    pub variants: Vec<VariantReport>,
    /// Each variant other than the control against the control, per metric.
    pub differences: Vec<Difference>,
}

/// The metrics, in the order of the tables.
pub const METRICS: [&str; 3] = ["click_through", "add_to_cart", "purchase"];

/// One variant's rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantReport {
    /// The variant's name.
    pub variant: String,
    /// Distinct customers with an impression.
    pub customers: u64,
    /// Impressions (distinct (recommendation_id, item)).
    pub impressions: u64,
    /// Share of impressions followed by a click on the same recommendation and item.
    pub click_through: Rate,
    /// Share of impressions followed by an add-to-cart of the item by the customer.
    pub add_to_cart: Rate,
    /// Share of impressions followed by a purchase of the item by the customer.
    pub purchase: Rate,
}

/// A rate with its intervals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// Impressions followed by the outcome.
    pub successes: u64,
    /// successes / impressions.
    pub rate: f64,
    /// 95% Wilson interval, impressions taken as independent.
    pub ci: Interval,
    /// 95% interval with customers as the independent units (delta method); null with fewer
    /// than two customers.
    pub customer_ci: Option<Interval>,
}

/// One variant against the control on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The variant.
    pub variant: String,
    /// The control it is compared with.
    pub versus: String,
    /// `click_through`, `add_to_cart` or `purchase`.
    pub metric: &'static str,
    /// Variant rate - control rate.
    pub difference: f64,
    /// 95% interval (unpooled standard error), impressions taken as independent.
    pub ci: Interval,
    /// Two-proportion z (pooled standard error).
    pub z: f64,
    /// Its two-sided p-value.
    pub p_value: f64,
    /// 95% interval with customers as the independent units (delta method); null with fewer
    /// than two customers on a side.
    pub customer_ci: Option<Interval>,
    /// Two-sided p-value with customers as the independent units.
    pub customer_p_value: Option<f64>,
    /// Whether the difference is significant at 95%: by the customer-level p-value when there
    /// is one (impressions of one customer are not independent), else the impression-level one.
    pub significant: bool,
    /// `customers` or `impressions`: which p-value `significant` used.
    pub significance_basis: &'static str,
}

fn rate(sums: &ClusterSums) -> Rate {
    let (successes, trials) = (sums.y as u64, sums.n as u64);
    Rate {
        successes,
        rate: sums.rate().unwrap_or(0.0),
        ci: stats::wilson(successes, trials).unwrap_or(Interval {
            low: 0.0,
            high: 1.0,
        }),
        customer_ci: sums.interval(),
    }
}

impl Report {
    /// Assembles the report.
    pub fn new(
        config: &ReportConfig,
        source: String,
        read: &ReadStats,
        attributed: &Attributed,
        dropped: Dropped,
        state_bytes: usize,
    ) -> Self {
        let variants: Vec<VariantReport> = attributed
            .variants
            .iter()
            .map(|v| VariantReport {
                variant: v.name.clone(),
                customers: v.customers(),
                impressions: v.impressions(),
                click_through: rate(&v.click_through),
                add_to_cart: rate(&v.add_to_cart),
                purchase: rate(&v.purchase),
            })
            .collect();
        let mut differences = Vec::new();
        if let Some(control) = attributed
            .variants
            .iter()
            .find(|v| v.name == config.control)
        {
            for variant in attributed
                .variants
                .iter()
                .filter(|v| v.name != control.name)
            {
                let pairs = [
                    (&variant.click_through, &control.click_through),
                    (&variant.add_to_cart, &control.add_to_cart),
                    (&variant.purchase, &control.purchase),
                ];
                for (metric, (t, c)) in METRICS.into_iter().zip(pairs) {
                    let Some(test) =
                        stats::two_proportions(t.y as u64, t.n as u64, c.y as u64, c.n as u64)
                    else {
                        continue;
                    };
                    let clustered = stats::clustered_difference(t, c);
                    let (significant, basis) = match clustered {
                        Some(c) => (c.p_value < ALPHA, "customers"),
                        None => (test.p_value < ALPHA, "impressions"),
                    };
                    differences.push(Difference {
                        variant: variant.name.clone(),
                        versus: control.name.clone(),
                        metric,
                        difference: test.difference,
                        ci: test.interval,
                        z: test.z,
                        p_value: test.p_value,
                        customer_ci: clustered.map(|c| c.interval),
                        customer_p_value: clustered.map(|c| c.p_value),
                        significant,
                        significance_basis: basis,
                    });
                }
            }
        }
        Self {
            experiment: config.experiment.clone(),
            from: config.from.to_string(),
            to: config.to.to_string(),
            window_hours: config.window_hours,
            confidence: 1.0 - ALPHA,
            source,
            read: read.clone(),
            impression_events: attributed.impression_events,
            duplicate_impression_events: attributed.duplicate_impression_events,
            open_window_impressions: attributed.open_window_impressions,
            customers_in_several_variants: attributed.customers_in_several_variants,
            dropped,
            state_bytes: state_bytes as u64,
            control: config.control.clone(),
            variants,
            differences,
        }
    }

    /// The difference of `variant` against the control on `metric`, if computed.
    pub fn difference(&self, variant: &str, metric: &str) -> Option<&Difference> {
        self.differences
            .iter()
            .find(|d| d.variant == variant && d.metric == metric)
    }

    /// The report as a readable table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "experiment {}  impressions arriving {} .. {} (UTC)  window {} h  from {}",
            self.experiment, self.from, self.to, self.window_hours, self.source
        );
        let _ = writeln!(
            out,
            "read {} day(s), {} object(s), {:.1} MB, {} rows; {} impression events, {} duplicates \
             not counted; {} B of state ({IMPRESSION_STATE_BYTES} B per impression, \
             {OUTCOME_STATE_BYTES} B per outcome event)",
            self.read.partitions,
            self.read.objects,
            self.read.bytes as f64 / 1e6,
            self.read.rows,
            self.impression_events,
            self.duplicate_impression_events,
            self.state_bytes,
        );
        let _ = writeln!(
            out,
            "\n{:<14} {:>9} {:>11}  {:<27} {:<27} purchase [95% CI]",
            "variant", "customers", "impressions", "click-through [95% CI]", "add-to-cart [95% CI]",
        );
        for v in &self.variants {
            let _ = writeln!(
                out,
                "{:<14} {:>9} {:>11}  {:<27} {:<27} {}",
                v.variant,
                v.customers,
                v.impressions,
                percent_with_ci(&v.click_through),
                percent_with_ci(&v.add_to_cart),
                percent_with_ci(&v.purchase),
            );
        }
        if self.differences.is_empty() {
            let _ = writeln!(
                out,
                "\nno difference computed: no variant named {:?} to compare with (--control)",
                self.control
            );
        } else {
            let labels: Vec<String> = self
                .differences
                .iter()
                .map(|d| {
                    format!(
                        "{} - {}: {}",
                        d.variant,
                        d.versus,
                        d.metric.replace('_', "-")
                    )
                })
                .collect();
            let width = labels.iter().map(String::len).max().unwrap_or(0).max(15);
            let _ = writeln!(
                out,
                "\n{:<width$} {:>8}  {:<18} {:>9}  {:<20} {:>9}  significant at 95%",
                "difference (pp)", "value", "95% CI, customers", "p", "95% CI, impressions", "p",
            );
            for (d, label) in self.differences.iter().zip(&labels) {
                let _ = writeln!(
                    out,
                    "{label:<width$} {:>+8.2}  {:<18} {:>9}  {:<20} {:>9}  {}",
                    d.difference * 100.0,
                    d.customer_ci
                        .map_or_else(|| "-".to_owned(), |ci| pp_interval(&ci)),
                    d.customer_p_value.map_or_else(|| "-".to_owned(), p_text),
                    pp_interval(&d.ci),
                    p_text(d.p_value),
                    if d.significant { "yes" } else { "no" },
                );
            }
        }
        let mut notes = Vec::new();
        notes.push(
            "rates: share of impressions (one per recommendation_id and item) followed within the \
             window; intervals: Wilson by impression, delta method by customer; \"significant\" \
             uses the customer-level p-value (a customer's impressions are not independent)"
                .to_owned(),
        );
        if self.open_window_impressions > 0 {
            notes.push(format!(
                "{} impression(s) are younger than the window at the newest event read: their \
                 outcomes may still come",
                self.open_window_impressions
            ));
        }
        if self.customers_in_several_variants > 0 {
            notes.push(format!(
                "{} customer(s) saw more than one variant: check the assignment",
                self.customers_in_several_variants
            ));
        }
        if self.dropped.impressions_without_variant + self.dropped.events_without_item > 0 {
            notes.push(format!(
                "set aside: {} impression(s) without variant or recommendation_id, {} event(s) \
                 without item",
                self.dropped.impressions_without_variant, self.dropped.events_without_item
            ));
        }
        out.push('\n');
        for note in notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

fn percent_with_ci(rate: &Rate) -> String {
    format!(
        "{:.2}% [{:.2}, {:.2}]",
        rate.rate * 100.0,
        rate.ci.low * 100.0,
        rate.ci.high * 100.0
    )
}

fn pp_interval(ci: &Interval) -> String {
    format!("[{:+.2}, {:+.2}]", ci.low * 100.0, ci.high * 100.0)
}

fn p_text(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}
