//! Automatic hyper-parameter search on a validation split carved out of the training data.
//!
//! The validation split applies the protocol's own per-user rule to the training part (see
//! [`crate::split::SplitEvents::validation`] for timestamped events and
//! [`crate::train::tune_snapshot`] for snapshots), so the held-out test pairs are never seen by
//! the search. It is built from the compact training events or snapshot rows and dropped after
//! the search; each trial's model is dropped once scored, so the search holds the validation
//! interactions and one model at a time. Factors are searched up to [`MAX_TUNED_FACTORS`]. The search is a coordinate descent on a log scale, in the order
//! of what matters most for implicit ALS: regularization and confidence alpha (steps of 3),
//! factors and iterations (steps of 2), the
//! feature towers' regularization (only when the data has features: the id part alone decides
//! known users and items), then regularization and alpha again with finer steps around the new
//! size. Each line search steps from the best setting so far, in both directions, and keeps
//! walking while validation nDCG@10 improves; nothing is fitted to one dataset: the steps are
//! relative to the start.
//!
//! The budget is wall-clock: before each trial its cost is estimated from the trials so far
//! (seconds per iteration x (factors + 1)^2, the largest seen) and the trial is skipped when
//! it would not fit. Trials run one after the other and each is deterministic for its seed, so
//! a search that finishes inside its budget is deterministic; one cut by the budget says so
//! (`budget_exhausted`).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::evaluation::{Event, RankingMetrics, Truth};
use crate::offline;
use crate::split::SplitEvents;
use crate::towers::{self, TrainConfig, TrainingData};

/// Default wall-clock budget of the search in seconds. The training Lambda stops at 900 s
/// (AWS Lambda's largest timeout); the search gets a third of it, leaving the rest for
/// reading the snapshot, the held-out evaluation model, the champion's re-fit, the full model
/// and publishing (each one fit at most) at the design brief's scale.
pub const DEFAULT_TUNING_BUDGET_SECONDS: f64 = 300.0;
/// Log-scale step of the regularization and alpha line searches.
const COARSE_STEP: f64 = 3.0;
/// Finer step of the second regularization pass.
const FINE_STEP: f64 = 1.732_050_807_568_877_2; // sqrt(3)
/// Step of the factors and iterations searches.
const SIZE_STEP: f64 = 2.0;
/// Step of the feature towers' regularization search.
const FEATURE_STEP: f64 = 10.0;
/// Most steps a line search walks in one direction.
const MAX_STEPS: usize = 3;
/// Fewest iterations tried.
const MIN_ITERATIONS: usize = 2;
/// Fewest factors tried.
const MIN_FACTORS: usize = 2;
/// Most factors the search tries (a larger start is kept as given, never grown): every
/// factor adds 4 bytes per product to each replica of the in-memory k-NN index and to every
/// user and item row of pgvector, and at the brief's scale the search's gains past 128 are
/// within seed noise.
pub const MAX_TUNED_FACTORS: usize = 128;

/// Whether and how long to search (plain values; the CLI and the job's options build it).
#[derive(Debug, Clone, PartialEq)]
pub struct TuningConfig {
    /// Search before the fit (`false`: the given settings as they are).
    pub enabled: bool,
    /// Wall-clock budget in seconds.
    pub budget_seconds: f64,
}

impl Default for TuningConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            budget_seconds: DEFAULT_TUNING_BUDGET_SECONDS,
        }
    }
}

/// The searched hyper-parameters of one setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Latent factors.
    pub factors: usize,
    /// ALS iterations.
    pub iterations: usize,
    /// L2 regularisation of the factors.
    pub regularization: f64,
    /// Confidence scale.
    pub alpha: f64,
    /// L2 regularisation of the feature towers.
    pub feature_regularization: f64,
}

impl Settings {
    /// The searched part of `config`.
    pub fn of(config: &TrainConfig) -> Self {
        Self {
            factors: config.als.factors,
            iterations: config.als.iterations,
            regularization: config.als.regularization,
            alpha: config.als.alpha,
            feature_regularization: config.feature_regularization,
        }
    }

    /// `base` (seed and anything not searched) with these settings.
    pub fn apply(&self, base: &TrainConfig) -> TrainConfig {
        let mut config = base.clone();
        config.als.factors = self.factors;
        config.als.iterations = self.iterations;
        config.als.regularization = self.regularization;
        config.als.alpha = self.alpha;
        config.feature_regularization = self.feature_regularization;
        config
    }

    /// Relative cost of a fit: iterations x (factors + 1)^2 (each solve builds a factors^2
    /// system per observed pair).
    fn cost_units(&self) -> f64 {
        let f = (self.factors + 1) as f64;
        self.iterations as f64 * f * f
    }
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "factors {} iterations {} regularization {:.4} alpha {:.4} feature_regularization {:.4}",
            self.factors,
            self.iterations,
            self.regularization,
            self.alpha,
            self.feature_regularization
        )
    }
}

/// One tried setting and its validation score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The setting.
    #[serde(flatten)]
    pub settings: Settings,
    /// nDCG@10 on the validation split.
    pub validation_ndcg_at_10: f64,
    /// Seconds to fit and score it.
    pub seconds: f64,
}

/// What the search did: `metrics.json`'s `tuning` and `reco eval`'s printout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuningReport {
    /// The budget in seconds.
    pub budget_seconds: f64,
    /// Seconds the search took.
    pub seconds: f64,
    /// Whether a trial was skipped because it would not fit in the budget.
    pub budget_exhausted: bool,
    /// Training events of the validation split.
    pub validation_train_events: usize,
    /// Held-out events of the validation split.
    pub validation_test_events: usize,
    /// Most-popular on the validation split (the tuned model's baseline there).
    pub most_popular: RankingMetrics,
    /// Every setting tried, in order (the first is the given one).
    pub trials: Vec<Trial>,
    /// The best setting (ties keep the earlier, so the given one wins a tie).
    pub winner: Settings,
    /// Its validation nDCG@10.
    pub winner_ndcg_at_10: f64,
    /// Why nothing was searched, when nothing was.
    pub skipped_reason: Option<String>,
}

impl TuningReport {
    /// A report of no search: `base` as it is, with the reason.
    fn skipped(base: &TrainConfig, budget_seconds: f64, reason: String) -> Self {
        Self {
            budget_seconds,
            seconds: 0.0,
            budget_exhausted: false,
            validation_train_events: 0,
            validation_test_events: 0,
            most_popular: RankingMetrics::default(),
            trials: Vec::new(),
            winner: Settings::of(base),
            winner_ndcg_at_10: 0.0,
            skipped_reason: Some(reason),
        }
    }
}

/// `value * factor` rounded to 6 significant digits, so a walk back (x 3 then / 3) meets the
/// setting already tried instead of one a rounding error away.
fn scaled(value: f64, factor: f64) -> f64 {
    let x = value * factor;
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let magnitude = 10f64.powi(5 - x.abs().log10().floor() as i32);
    (x * magnitude).round() / magnitude
}

/// The search's state: trials so far, the best one, and the budget.
struct Search<'a> {
    data: &'a TrainingData,
    truth: &'a Truth,
    base: &'a TrainConfig,
    started: Instant,
    budget_seconds: f64,
    seconds_per_unit: f64,
    budget_exhausted: bool,
    trials: Vec<Trial>,
    best: usize,
}

impl Search<'_> {
    /// Fits and scores `settings` unless already tried or over budget; its score, if run.
    fn try_settings(&mut self, settings: Settings) -> Option<f64> {
        if let Some(t) = self.trials.iter().find(|t| t.settings == settings) {
            return Some(t.validation_ndcg_at_10);
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let estimate = self.seconds_per_unit * settings.cost_units();
        if !self.trials.is_empty() && elapsed + estimate > self.budget_seconds {
            self.budget_exhausted = true;
            return None;
        }
        let started = Instant::now();
        let config = settings.apply(self.base);
        // Each trial's model is dropped once scored: the search holds one model at a time.
        let ndcg = {
            let artifact = towers::fit(self.data, &config, "tuning", "", |_, _| {});
            offline::score_model_truth(&artifact, self.data, self.truth).ndcg_at_10
        };
        let seconds = started.elapsed().as_secs_f64();
        self.seconds_per_unit = self.seconds_per_unit.max(seconds / settings.cost_units());
        tracing::info!(%settings, validation_ndcg_at_10 = ndcg, seconds, "tuning trial");
        self.trials.push(Trial {
            settings,
            validation_ndcg_at_10: ndcg,
            seconds,
        });
        Some(ndcg)
    }

    fn best(&self) -> Settings {
        self.trials[self.best].settings.clone()
    }

    /// Walks `step` up then down from the best setting (`set` builds a neighbour, `None` when
    /// out of range), at most [`MAX_STEPS`] each way, while the score improves.
    fn line_search(&mut self, step: f64, set: impl Fn(&Settings, f64) -> Option<Settings>) {
        for factor in [step, 1.0 / step] {
            for _ in 0..MAX_STEPS {
                let from = self.best();
                let before = self.trials[self.best].validation_ndcg_at_10;
                let Some(next) = set(&from, factor) else {
                    break;
                };
                match self.try_settings(next.clone()) {
                    Some(score) if score > before => {
                        self.best = self
                            .trials
                            .iter()
                            .position(|t| t.settings == next)
                            .expect("a scored setting is a trial");
                    }
                    _ => break,
                }
            }
        }
    }

    /// Line searches of regularization and alpha (`step` on a log scale).
    fn weights(&mut self, step: f64) {
        self.line_search(step, |s, f| {
            Some(Settings {
                regularization: scaled(s.regularization, f),
                ..s.clone()
            })
        });
        self.line_search(step, |s, f| {
            Some(Settings {
                alpha: scaled(s.alpha, f),
                ..s.clone()
            })
        });
    }
}

/// Searches settings around `base` on the validation split (`data` trained, `truth` scored)
/// within the budget; the winner is `report.winner.apply(base)`.
pub fn search(
    data: &TrainingData,
    truth: &Truth,
    base: &TrainConfig,
    budget_seconds: f64,
) -> TuningReport {
    let most_popular = offline::score_popularity_truth(&data.interactions, truth);
    if most_popular.users == 0 {
        return TuningReport::skipped(
            base,
            budget_seconds,
            "the validation split holds no customer with enough positives".to_owned(),
        );
    }
    let mut search = Search {
        data,
        truth,
        base,
        started: Instant::now(),
        budget_seconds,
        seconds_per_unit: 0.0,
        budget_exhausted: false,
        trials: Vec::new(),
        best: 0,
    };
    search.try_settings(Settings::of(base));
    search.weights(COARSE_STEP);
    search.line_search(SIZE_STEP, |s, f| {
        let factors = (s.factors as f64 * f).round() as usize;
        (MIN_FACTORS..=MAX_TUNED_FACTORS.max(base.als.factors))
            .contains(&factors)
            .then(|| Settings {
                factors,
                ..s.clone()
            })
    });
    search.line_search(SIZE_STEP, |s, f| {
        let iterations = (s.iterations as f64 * f).round() as usize;
        (iterations >= MIN_ITERATIONS).then(|| Settings {
            iterations,
            ..s.clone()
        })
    });
    if data.user_features.is_some() || data.item_features.is_some() {
        search.line_search(FEATURE_STEP, |s, f| {
            Some(Settings {
                feature_regularization: scaled(s.feature_regularization, f),
                ..s.clone()
            })
        });
    }
    // The best weights depend on the model's size: a finer pass around the new best.
    search.weights(FINE_STEP);
    let winner = search.best();
    let winner_ndcg_at_10 = search.trials[search.best].validation_ndcg_at_10;
    TuningReport {
        budget_seconds,
        seconds: search.started.elapsed().as_secs_f64(),
        budget_exhausted: search.budget_exhausted,
        validation_train_events: data.rows as usize,
        validation_test_events: truth.events(),
        most_popular,
        trials: search.trials,
        winner,
        winner_ndcg_at_10,
        skipped_reason: None,
    }
}

/// Runs the search when `tuning` says so; otherwise a report of `base` as it is.
pub fn tune(
    data: &TrainingData,
    truth: &Truth,
    base: &TrainConfig,
    tuning: &TuningConfig,
) -> TuningReport {
    if !tuning.enabled {
        return tune_off(base, tuning);
    }
    search(data, truth, base, tuning.budget_seconds)
}

/// The report of a run with tuning turned off: `base` as it is.
pub fn tune_off(base: &TrainConfig, tuning: &TuningConfig) -> TuningReport {
    TuningReport::skipped(base, tuning.budget_seconds, "tuning turned off".to_owned())
}

/// The report of a search that could not run (`reason`): `base` as it is.
pub fn tune_not_possible(
    base: &TrainConfig,
    tuning: &TuningConfig,
    reason: String,
) -> TuningReport {
    TuningReport::skipped(base, tuning.budget_seconds, reason)
}

/// The search for pre-split timestamped training events given as text: [`tune_split`] of
/// their compact form.
pub fn tune_events(
    train: &[Event],
    source: &str,
    base: &TrainConfig,
    tuning: &TuningConfig,
) -> TuningReport {
    if !tuning.enabled {
        return tune_off(base, tuning);
    }
    tune_split(
        &mut SplitEvents::from_events(train, &[]),
        source,
        base,
        tuning,
    )
}

/// The search for a split's training events (`reco eval --ratings` or `--train`): the
/// validation split is [`SplitEvents::validation`] (the protocol's per-user rule applied to
/// the training events again), built from the compact events and dropped after the search.
pub fn tune_split(
    split: &mut SplitEvents,
    source: &str,
    base: &TrainConfig,
    tuning: &TuningConfig,
) -> TuningReport {
    if !tuning.enabled {
        return tune_off(base, tuning);
    }
    match split.validation(source) {
        Ok(v) => search(&v.data, &v.truth, base, tuning.budget_seconds),
        Err(e) => tune_not_possible(base, tuning, format!("no validation split: {e}")),
    }
}

/// Lines describing the search for a terminal (one per trial, then the winner).
pub fn describe(report: &TuningReport) -> Vec<String> {
    if let Some(reason) = &report.skipped_reason {
        return vec![format!("tuning: none ({reason}); {}", report.winner)];
    }
    let mut lines = vec![format!(
        "tuning: {} trials in {:.1} s of {:.0} s{} on a validation split of {} training / {} \
         held-out events (most-popular nDCG@10 {:.4})",
        report.trials.len(),
        report.seconds,
        report.budget_seconds,
        if report.budget_exhausted {
            ", stopped by the budget"
        } else {
            ""
        },
        report.validation_train_events,
        report.validation_test_events,
        report.most_popular.ndcg_at_10
    )];
    for t in &report.trials {
        lines.push(format!(
            "  {}  validation nDCG@10 {:.4}  {:.2} s",
            t.settings, t.validation_ndcg_at_10, t.seconds
        ));
    }
    lines.push(format!(
        "tuning: winner {} (validation nDCG@10 {:.4})",
        report.winner, report.winner_ndcg_at_10
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Interaction, Interactions};

    /// Two taste groups: even users like even items, odd users odd items; the last two of each
    /// user's items are held out.
    fn grouped() -> (TrainingData, Truth) {
        let mut train = Vec::new();
        let mut test = Vec::new();
        for u in 0..30 {
            for k in 0..8 {
                let item = (u % 2) + 2 * ((u * 3 + k) % 12);
                let (user, item) = (format!("u{u}"), format!("i{item}"));
                if k < 6 {
                    train.push(Interaction {
                        user,
                        item,
                        weight: 1.0,
                    });
                } else {
                    test.push(Event {
                        user,
                        item,
                        timestamp: 0.0,
                    });
                }
            }
        }
        let data = TrainingData {
            interactions: Interactions::new(&train),
            user_features: None,
            item_features: None,
            source: "grouped".to_owned(),
            rows: train.len() as u64,
        };
        let truth = Truth::from_events(&data.interactions, &test);
        (data, truth)
    }

    fn small_base() -> TrainConfig {
        let mut base = TrainConfig::default();
        base.als.factors = 4;
        base.als.iterations = 4;
        base
    }

    #[test]
    fn the_search_starts_from_the_given_settings_and_never_ends_below_them() {
        let (data, test) = grouped();
        let base = small_base();
        let report = search(&data, &test, &base, 600.0);
        assert_eq!(report.trials[0].settings, Settings::of(&base));
        assert!(report.trials.len() > 5, "{} trials", report.trials.len());
        let best = report
            .trials
            .iter()
            .map(|t| t.validation_ndcg_at_10)
            .fold(f64::MIN, f64::max);
        assert_eq!(report.winner_ndcg_at_10, best);
        assert!(report.winner_ndcg_at_10 >= report.trials[0].validation_ndcg_at_10);
        assert!(report.most_popular.users > 0);
        assert_eq!(report.validation_test_events, test.events());
        assert!(!report.budget_exhausted);
        // No setting is fitted twice.
        for (i, t) in report.trials.iter().enumerate() {
            assert!(!report.trials[..i].iter().any(|o| o.settings == t.settings));
        }
    }

    #[test]
    fn steps_are_rounded_so_a_walk_back_meets_the_tried_setting() {
        let there = scaled(scaled(1.0 / 3.0, FINE_STEP), FINE_STEP);
        assert_eq!(scaled(there, 1.0 / FINE_STEP), scaled(1.0 / 3.0, FINE_STEP));
        assert_eq!(scaled(10.0, 3.0), 30.0);
        assert_eq!(scaled(10.0, 1.0 / 3.0), 3.33333);
        assert_eq!(scaled(0.0, 3.0), 0.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_search() {
        let (data, test) = grouped();
        let base = small_base();
        let a = search(&data, &test, &base, 600.0);
        let b = search(&data, &test, &base, 600.0);
        let scores = |r: &TuningReport| -> Vec<(Settings, f64)> {
            r.trials
                .iter()
                .map(|t| (t.settings.clone(), t.validation_ndcg_at_10))
                .collect()
        };
        assert_eq!(scores(&a), scores(&b));
        assert_eq!(a.winner, b.winner);
    }

    #[test]
    fn a_zero_budget_runs_only_the_given_settings_and_off_runs_none() {
        let (data, test) = grouped();
        let base = small_base();
        let report = search(&data, &test, &base, 0.0);
        assert_eq!(report.trials.len(), 1);
        assert!(report.budget_exhausted);
        assert_eq!(report.winner, Settings::of(&base));

        let off = TuningConfig {
            enabled: false,
            ..TuningConfig::default()
        };
        let report = tune(&data, &test, &base, &off);
        assert!(report.trials.is_empty());
        assert_eq!(report.skipped_reason.as_deref(), Some("tuning turned off"));
        assert_eq!(report.winner.apply(&base), base);
        assert!(describe(&report)[0].contains("tuning turned off"));
    }

    #[test]
    fn an_empty_validation_split_is_not_searched_and_says_why() {
        let (data, _) = grouped();
        let report = search(&data, &Truth::default(), &small_base(), 600.0);
        assert!(report.trials.is_empty());
        assert!(
            report
                .skipped_reason
                .as_deref()
                .is_some_and(|r| r.contains("no customer")),
            "{:?}",
            report.skipped_reason
        );
    }
}
