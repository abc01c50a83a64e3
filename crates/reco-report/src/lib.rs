//! reco's experiment report: how recommendation impressions of each variant of an experiment
//! turned into clicks, add-to-carts and purchases, read from the raw events in the data lake.
//!
//! - [`read`]: the lake's `events/dt=YYYY-MM-DD/` Parquet (columns of `reco_domain::lake_events`), one object at a time, projected
//!   columns only.
//! - [`attribution`]: impressions (unit: one (recommendation_id, item) shown) and the outcomes
//!   that followed them within the window, on compact sorted arrays.
//! - [`stats`]: Wilson intervals, the two-proportion z-test, customer-clustered (delta-method)
//!   intervals and tests.
//! - [`report`]: the per-variant table and treatment - control differences, as text or JSON.
//!
//! [`run`] ties them together for `reco report`.

pub mod attribution;
pub mod read;
pub mod report;
pub mod stats;

use chrono::{Days, Utc};
use reco_aws::{Bucket, StorageError};

pub use chrono::NaiveDate;

pub use report::Report;

/// Default attribution window: an outcome counts when it happens within this many hours after
/// the impression.
pub const DEFAULT_WINDOW_HOURS: u32 = 24;
/// Longest attribution window accepted (30 days): the state held grows with the days read.
pub const MAX_WINDOW_HOURS: u32 = 720;
/// Default number of days reported (ending today) when no dates are given.
pub const DEFAULT_DAYS: u32 = 14;
/// Days read after the window's end for outcomes that arrive on the stream late (the lake is
/// partitioned by arrival date).
pub const LATE_ARRIVAL_DAYS: u64 = 1;
/// The variant others are compared with.
pub const CONTROL_VARIANT: &str = "control";

/// What to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportConfig {
    /// The experiment's name, as impressions carry it.
    pub experiment: String,
    /// First arrival date (UTC) of the impressions counted.
    pub from: NaiveDate,
    /// Last arrival date (UTC) of the impressions counted, inclusive.
    pub to: NaiveDate,
    /// Attribution window, hours.
    pub window_hours: u32,
    /// The variant the others are compared with.
    pub control: String,
}

impl ReportConfig {
    /// The day partitions to read, ascending, each with whether its impressions count (the
    /// impression dates) or only its outcomes (the days after `to` that the window and late
    /// arrivals reach).
    pub fn days(&self) -> Vec<(NaiveDate, bool)> {
        let window_days = u64::from(self.window_hours.div_ceil(24));
        let last = self
            .to
            .checked_add_days(Days::new(window_days + LATE_ARRIVAL_DAYS))
            .unwrap_or(self.to);
        self.from
            .iter_days()
            .take_while(|d| *d <= last)
            .map(|d| (d, d <= self.to))
            .collect()
    }

    /// The window in microseconds.
    pub fn window_us(&self) -> i64 {
        i64::from(self.window_hours) * 3_600_000_000
    }
}

/// The impression dates `from..=to`: `to` defaults to today (UTC), `from` to `days` days
/// ending with `to`.
pub fn date_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    days: u32,
) -> Result<(NaiveDate, NaiveDate), ReportError> {
    let to = to.unwrap_or_else(|| Utc::now().date_naive());
    let from = match from {
        Some(from) => from,
        None => to
            .checked_sub_days(Days::new(u64::from(days.max(1)) - 1))
            .ok_or_else(|| ReportError::Config(format!("{days} days before {to} is no date")))?,
    };
    Ok((from, to))
}

/// Parses a `YYYY-MM-DD` date (exactly that shape).
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shape
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| format!("{text:?} is not a date YYYY-MM-DD"))
}

/// Errors of the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Listing or reading the lake failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An object is not the raw events Parquet the lake contract describes.
    #[error("{object}: {reason}")]
    Malformed {
        /// The object.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The events cannot be held compactly.
    #[error(transparent)]
    Attribution(#[from] attribution::AttributionError),
    /// The dates or window make no sense.
    #[error("{0}")]
    Config(String),
    /// No impression of the experiment in the dates read.
    #[error("{0}")]
    NoImpressions(String),
}

/// Reads the lake and computes the report; `on_day` gets the running read totals after each
/// day partition (progress).
pub async fn run(
    lake: &Bucket,
    config: &ReportConfig,
    on_day: &mut dyn FnMut(NaiveDate, &read::ReadStats),
) -> Result<Report, ReportError> {
    if config.from > config.to {
        return Err(ReportError::Config(format!(
            "--from {} is after --to {}",
            config.from, config.to
        )));
    }
    if !(1..=MAX_WINDOW_HOURS).contains(&config.window_hours) {
        return Err(ReportError::Config(format!(
            "--window-hours {} is outside 1..={MAX_WINDOW_HOURS}",
            config.window_hours
        )));
    }
    let mut attribution = attribution::Attribution::new(config.window_us());
    let days = config.days();
    let stats = read::read_days(lake, &days, &config.experiment, &mut attribution, on_day).await?;
    let state_bytes = attribution.state_bytes();
    let impression_events = attribution.impression_events();
    let (without_variant, without_item) = (
        attribution.impressions_without_variant,
        attribution.events_without_item,
    );
    if impression_events == 0 {
        return Err(ReportError::NoImpressions(no_impressions(
            lake,
            config,
            &stats,
            without_variant,
        )));
    }
    let attributed = attribution.finish(stats.newest_arrival_us);
    Ok(Report::new(
        config,
        lake.location(read::EVENTS_PREFIX),
        &stats,
        &attributed,
        report::Dropped {
            impressions_without_variant: without_variant,
            events_without_item: without_item,
        },
        state_bytes,
    ))
}

fn no_impressions(
    lake: &Bucket,
    config: &ReportConfig,
    stats: &read::ReadStats,
    without_variant: u64,
) -> String {
    let place = format!(
        "{}dt={}..{}",
        lake.location(read::EVENTS_PREFIX),
        config.from,
        config.to
    );
    if stats.objects == 0 {
        return format!(
            "no events at all under {place}: is the Firehose delivering raw events to the lake \
             (`reco firehose-local` locally), and are the dates right (--from/--to, arrival dates in UTC)?"
        );
    }
    let mut message = format!(
        "no rec_impression events of experiment {:?} under {place} ({} objects, {} rows read)",
        config.experiment, stats.objects, stats.rows
    );
    if without_variant > 0 {
        message.push_str(&format!(
            "; {without_variant} of its impressions had no variant or recommendation_id"
        ));
    }
    if !stats.experiments_seen.is_empty() {
        let names: Vec<&str> = stats.experiments_seen.iter().map(String::as_str).collect();
        message.push_str(&format!(
            "; impressions name other experiments: {}",
            names.join(", ")
        ));
    }
    message.push_str(
        ": check the experiment name, that the experiment is running (the front end sends \
         rec_impression events with experiment and variant) and that the Firehose is delivering",
    );
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_cover_the_window_and_late_arrivals_after_the_last_impression_date() {
        let config = ReportConfig {
            experiment: "e".into(),
            from: parse_date("2026-02-27").unwrap(),
            to: parse_date("2026-03-01").unwrap(),
            window_hours: 25,
            control: CONTROL_VARIANT.into(),
        };
        let days: Vec<(String, bool)> = config
            .days()
            .into_iter()
            .map(|(d, i)| (d.to_string(), i))
            .collect();
        // 25 hours reach two days past 03-01, plus one day of late arrivals.
        assert_eq!(
            days,
            [
                ("2026-02-27", true),
                ("2026-02-28", true),
                ("2026-03-01", true),
                ("2026-03-02", false),
                ("2026-03-03", false),
                ("2026-03-04", false),
            ]
            .map(|(d, i)| (d.to_owned(), i))
        );
        assert_eq!(config.window_us(), 25 * 3_600_000_000);
    }

    #[test]
    fn the_default_range_is_days_ending_with_to() {
        let to = parse_date("2026-03-02").unwrap();
        let (from, end) = date_range(None, Some(to), 14).unwrap();
        assert_eq!((from.to_string(), end), ("2026-02-17".to_owned(), to));
        let given = parse_date("2026-01-05").unwrap();
        assert_eq!(date_range(Some(given), Some(to), 14).unwrap(), (given, to));
        assert_eq!(date_range(None, Some(to), 1).unwrap(), (to, to));
    }

    #[test]
    fn dates_must_be_exactly_yyyy_mm_dd() {
        assert!(parse_date("2026-03-01").is_ok());
        for bad in ["2026-3-1", "2026-02-30", "+2026-03-01", "yesterday"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_empty_lake_and_a_bad_range_say_what_to_check() {
        let lake = Bucket::in_memory("lake");
        let mut config = ReportConfig {
            experiment: "e".into(),
            from: parse_date("2026-03-01").unwrap(),
            to: parse_date("2026-03-02").unwrap(),
            window_hours: 24,
            control: CONTROL_VARIANT.into(),
        };
        let err = run(&lake, &config, &mut |_, _| {}).await.unwrap_err();
        assert!(
            err.to_string().starts_with(
                "no events at all under memory://lake/events/dt=2026-03-01..2026-03-02: is the Firehose delivering"
            ),
            "{err}"
        );
        config.window_hours = 0;
        let err = run(&lake, &config, &mut |_, _| {}).await.unwrap_err();
        assert_eq!(err.to_string(), "--window-hours 0 is outside 1..=720");
        config.window_hours = 24;
        config.from = parse_date("2026-03-05").unwrap();
        let err = run(&lake, &config, &mut |_, _| {}).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "--from 2026-03-05 is after --to 2026-03-02"
        );
    }
}
