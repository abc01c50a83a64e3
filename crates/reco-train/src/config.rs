//! The trainer's typed configuration: model hyper-parameters and quality-gate thresholds as
//! clap option groups (each option a flag bound to its `RECO_TRAIN_*` variable, defaults from
//! the named constants), and [`JobConfig`], the plain value a job run takes.
//!
//! `reco train` and the `reco-train-job` Lambda flatten [`TrainOptions`]; `reco eval`
//! flattens [`ModelOptions`]. Nothing here reads the environment itself.

use clap::{ArgAction, Args};
use reco_config::var;
use reco_domain::artifacts::ModelPrefix;

use crate::TrainError;
use crate::als::{self, AlsConfig};
use crate::towers::{self, TrainConfig};
use crate::tuning::{self, TuningConfig};

/// Default largest relative nDCG@10 drop against the champion on the same held-out split before
/// a model is refused: 10% absorbs seed and search noise, not a broken model.
pub const DEFAULT_MAX_NDCG_DROP: f64 = 0.10;
/// Default lowest accepted nDCG@10 (0: only the relative gate applies).
pub const DEFAULT_MIN_NDCG: f64 = 0.0;

/// Model hyper-parameters (shared by `reco train`, `reco eval` and the training job).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct ModelOptions {
    /// Latent factors (embedding dimension D = factors + 1).
    #[arg(long, env = var::RECO_TRAIN_FACTORS, default_value_t = als::DEFAULT_FACTORS)]
    pub factors: usize,
    /// ALS iterations.
    #[arg(long, env = var::RECO_TRAIN_ITERATIONS, default_value_t = als::DEFAULT_ITERATIONS)]
    pub iterations: usize,
    /// L2 regularisation of the factors.
    #[arg(long, env = var::RECO_TRAIN_REGULARIZATION, default_value_t = als::DEFAULT_REGULARIZATION)]
    pub regularization: f64,
    /// Confidence scale: an observed pair weighs 1 + alpha * weight.
    #[arg(long, env = var::RECO_TRAIN_ALPHA, default_value_t = als::DEFAULT_ALPHA)]
    pub alpha: f64,
    /// L2 regularisation of the feature towers.
    #[arg(long, default_value_t = towers::DEFAULT_FEATURE_REGULARIZATION)]
    pub feature_regularization: f64,
    /// Seed of the initial factors and of the held-out split (same seed, same embeddings).
    #[arg(long, env = var::RECO_TRAIN_SEED, default_value_t = als::DEFAULT_SEED)]
    pub seed: u64,
    /// Search the hyper-parameters on a validation split first (the settings above are where
    /// the search starts); `false` trains with them as they are.
    #[arg(long, env = var::RECO_TRAIN_TUNING, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub tuning: bool,
    /// Turn the hyper-parameter search off (same as `--tuning false`).
    #[arg(long)]
    pub no_tuning: bool,
    /// Wall-clock seconds the hyper-parameter search may spend.
    #[arg(long, env = var::RECO_TRAIN_TUNING_BUDGET_SECONDS, default_value_t = tuning::DEFAULT_TUNING_BUDGET_SECONDS)]
    pub tuning_budget_seconds: f64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            factors: als::DEFAULT_FACTORS,
            iterations: als::DEFAULT_ITERATIONS,
            regularization: als::DEFAULT_REGULARIZATION,
            alpha: als::DEFAULT_ALPHA,
            feature_regularization: towers::DEFAULT_FEATURE_REGULARIZATION,
            seed: als::DEFAULT_SEED,
            tuning: true,
            no_tuning: false,
            tuning_budget_seconds: tuning::DEFAULT_TUNING_BUDGET_SECONDS,
        }
    }
}

impl ModelOptions {
    /// The trainer's configuration, checked ([`TrainConfig::validate`]).
    pub fn train_config(&self) -> Result<TrainConfig, TrainError> {
        let config = TrainConfig {
            als: AlsConfig {
                factors: self.factors,
                iterations: self.iterations,
                regularization: self.regularization,
                alpha: self.alpha,
                seed: self.seed,
            },
            feature_regularization: self.feature_regularization,
        };
        config.validate()?;
        Ok(config)
    }

    /// Whether and how long to search, checked.
    pub fn tuning_config(&self) -> Result<TuningConfig, TrainError> {
        if !(self.tuning_budget_seconds >= 0.0 && self.tuning_budget_seconds.is_finite()) {
            return Err(TrainError::InvalidConfig {
                name: "tuning_budget_seconds",
                value: self.tuning_budget_seconds.to_string(),
                reason: "finite and >= 0",
            });
        }
        Ok(TuningConfig {
            enabled: self.tuning && !self.no_tuning,
            budget_seconds: self.tuning_budget_seconds,
        })
    }
}

/// Model hyper-parameters plus the quality gate: what a training job run is told.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct TrainOptions {
    /// Model hyper-parameters.
    #[command(flatten)]
    pub model: ModelOptions,
    /// Refuse the model (LATEST unchanged) when its held-out nDCG@10 is below this.
    #[arg(long, env = var::RECO_TRAIN_MIN_NDCG, default_value_t = DEFAULT_MIN_NDCG)]
    pub min_ndcg: f64,
    /// Refuse the model when its held-out nDCG@10 is more than this fraction below the live
    /// version's re-fitted on the same split (most-popular's when there is no scorable live
    /// version); 1 or more disables the check.
    #[arg(long, env = var::RECO_TRAIN_MAX_NDCG_DROP, default_value_t = DEFAULT_MAX_NDCG_DROP)]
    pub max_ndcg_drop: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            model: ModelOptions::default(),
            min_ndcg: DEFAULT_MIN_NDCG,
            max_ndcg_drop: DEFAULT_MAX_NDCG_DROP,
        }
    }
}

impl TrainOptions {
    /// The job's configuration for versions under `model_prefix`, checked.
    pub fn job_config(&self, model_prefix: &str) -> Result<JobConfig, TrainError> {
        Ok(JobConfig {
            train: self.model.train_config()?,
            tuning: self.model.tuning_config()?,
            model_prefix: ModelPrefix::new(model_prefix),
            min_ndcg: self.min_ndcg,
            max_ndcg_drop: (self.max_ndcg_drop < 1.0).then_some(self.max_ndcg_drop),
            promote: true,
        })
    }
}

/// Settings of a job run, as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct JobConfig {
    /// Model hyper-parameters (where the search starts when tuning is on).
    pub train: TrainConfig,
    /// The hyper-parameter search.
    pub tuning: TuningConfig,
    /// Where model versions live in the artifacts bucket.
    pub model_prefix: ModelPrefix,
    /// Lowest accepted held-out nDCG@10.
    pub min_ndcg: f64,
    /// Largest accepted relative drop of nDCG@10 against the champion (or most-popular) on the
    /// same held-out split.
    pub max_ndcg_drop: Option<f64>,
    /// Whether a version that passes the gate also moves `LATEST` (`reco train`). The daily
    /// loop writes versions with `false` and moves `LATEST` in its last step
    /// ([`crate::publish::promote`]), after the embeddings are loaded and every customer scored.
    pub promote: bool,
}

impl Default for JobConfig {
    fn default() -> Self {
        Self {
            train: TrainConfig::default(),
            tuning: TuningConfig::default(),
            model_prefix: ModelPrefix::default(),
            min_ndcg: DEFAULT_MIN_NDCG,
            max_ndcg_drop: Some(DEFAULT_MAX_NDCG_DROP),
            promote: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        options: TrainOptions,
    }

    #[test]
    fn defaults_are_the_named_constants_and_flags_override_them() {
        let probe = Probe::try_parse_from(["probe"]).unwrap();
        // Unless the test runner's environment sets RECO_TRAIN_*, the defaults apply.
        if std::env::vars().all(|(k, _)| !k.starts_with("RECO_TRAIN_")) {
            assert_eq!(probe.options, TrainOptions::default());
            assert_eq!(
                probe.options.job_config("models").unwrap(),
                JobConfig::default()
            );
        }

        let probe = Probe::try_parse_from([
            "probe",
            "--factors",
            "7",
            "--seed",
            "3",
            "--max-ndcg-drop",
            "1",
            "--min-ndcg",
            "0.2",
            "--no-tuning",
            "--tuning-budget-seconds",
            "12.5",
        ])
        .unwrap();
        let config = probe.options.job_config("/m/").unwrap();
        assert_eq!(
            config.tuning,
            TuningConfig {
                enabled: false,
                budget_seconds: 12.5
            }
        );
        let probe = Probe::try_parse_from(["probe", "--tuning", "false"]).unwrap();
        assert!(!probe.options.job_config("m/").unwrap().tuning.enabled);
        assert_eq!(config.train.als.factors, 7);
        assert_eq!(config.train.als.seed, 3);
        assert_eq!(config.min_ndcg, 0.2);
        assert_eq!(config.max_ndcg_drop, None, "1 disables the relative gate");
        assert_eq!(config.model_prefix.as_str(), "m/");
    }

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        let options = TrainOptions {
            model: ModelOptions {
                factors: 0,
                ..ModelOptions::default()
            },
            ..TrainOptions::default()
        };
        let err = options.job_config("models/").unwrap_err().to_string();
        assert!(err.contains("factors=0"), "{err}");
        let options = TrainOptions {
            model: ModelOptions {
                tuning_budget_seconds: -1.0,
                ..ModelOptions::default()
            },
            ..TrainOptions::default()
        };
        let err = options.job_config("models/").unwrap_err().to_string();
        assert!(err.contains("tuning_budget_seconds=-1"), "{err}");
    }
}
