//! The quality gate, champion against challenger on the same data: a new version (the
//! challenger) moves `LATEST` only if its held-out nDCG@10 is above the minimum and not much
//! below the live version's (the champion, the one `LATEST` names) measured on the SAME
//! held-out split of the new snapshot.
//!
//! The champion is measured by re-fitting its recorded settings (its `model.json`: factors,
//! iterations, regularization, alpha, feature regularization, seed) on the split's training
//! part, exactly as the challenger's evaluation model is: the live artifact itself was trained
//! on an earlier snapshot that holds most of today's held-out pairs, so scoring it as it is
//! would reward memory, not quality (its as-is score is recorded next to it, not gated on).
//! When there is no champion, or it cannot be scored (its `model.json` missing, unreadable or
//! with settings the trainer refuses), the challenger is gated against most-popular on the
//! same split, and the reason says so.

use reco_aws::Bucket;
use reco_domain::artifacts::{MODEL_FILE, ModelPrefix};
use reco_domain::model::ModelArtifact;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::config::JobConfig;
use crate::evaluation::{MIN_POSITIVES, POSITIVE_RATING, RankingMetrics};
use crate::offline::EvalReport;
use crate::towers::TrainConfig;
use crate::tuning::Settings;

/// Outcome of the quality gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Whether `LATEST` was (or would be) moved to this version.
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
    /// What the challenger was compared with: `champion`, `most-popular` or `none`.
    pub reference: String,
    /// nDCG@10 of the reference on the same held-out split.
    pub reference_ndcg_at_10: Option<f64>,
    /// The champion's version (`LATEST` before this run), if there was one.
    #[serde(default)]
    pub champion_version: Option<String>,
}

/// The live version as the gate needs it, read before training.
#[derive(Debug, Clone, PartialEq)]
pub enum Champion {
    /// No `LATEST`: this is the first version.
    Absent,
    /// `LATEST` names a version whose artifact loaded.
    Live {
        /// The version.
        version: String,
        /// Its artifact.
        artifact: Box<ModelArtifact>,
    },
    /// `LATEST` names a version that cannot be scored.
    Unscorable {
        /// The version.
        version: String,
        /// Why, in words.
        reason: String,
    },
}

/// The champion measured on the challenger's held-out split (`metrics.json`'s `champion`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChampionEvaluation {
    /// The champion's version.
    pub version: String,
    /// Its recorded settings, when its artifact loaded.
    pub settings: Option<Settings>,
    /// Its settings re-fitted on the split's training part: what the gate compares.
    pub refit: Option<RankingMetrics>,
    /// The live artifact as it is (trained on an earlier snapshot, which may hold held-out
    /// pairs): recorded, not gated on.
    pub as_is: Option<RankingMetrics>,
    /// Why it could not be scored, when it could not.
    pub unscorable_reason: Option<String>,
}

/// Reads the champion under `prefix`: [`Champion::Absent`] without `LATEST`,
/// [`Champion::Unscorable`] when its `model.json` is missing or unreadable.
pub async fn champion(artifacts: &Bucket, prefix: &ModelPrefix) -> Result<Champion, TrainError> {
    let Some(latest) = artifacts.get_opt(&prefix.latest_key()).await? else {
        return Ok(Champion::Absent);
    };
    let version = String::from_utf8_lossy(&latest).trim().to_owned();
    let key = prefix.key(&version, MODEL_FILE);
    let Some(body) = artifacts.get_opt(&key).await? else {
        return Ok(Champion::Unscorable {
            reason: format!("its {} is missing", artifacts.location(&key)),
            version,
        });
    };
    Ok(match ModelArtifact::from_json_slice(&body) {
        Ok(artifact) => Champion::Live {
            version,
            artifact: Box::new(artifact),
        },
        Err(e) => Champion::Unscorable {
            reason: format!("its {} is unreadable: {e}", artifacts.location(&key)),
            version,
        },
    })
}

/// The settings the champion was trained with, checked by the trainer's own rules.
pub fn champion_config(artifact: &ModelArtifact) -> Result<TrainConfig, TrainError> {
    let mut config = TrainConfig::default();
    let t = &artifact.training;
    config.als.factors = artifact.factors;
    config.als.iterations = t.iterations;
    config.als.regularization = t.regularization;
    config.als.alpha = t.alpha;
    config.als.seed = t.seed;
    config.feature_regularization = t.feature_regularization;
    config.validate()?;
    Ok(config)
}

/// Decides whether the challenger (held-out `evaluation`, with most-popular on the same split)
/// may become `LATEST`, given the champion measured on the same split.
pub fn decide(
    config: &JobConfig,
    evaluation: &EvalReport,
    champion: Option<&ChampionEvaluation>,
) -> Gate {
    let ndcg = evaluation.model.ndcg_at_10;
    let champion_version = champion.map(|c| c.version.clone());
    let (reference, reference_ndcg, reference_words) =
        match champion.and_then(|c| c.refit.as_ref().map(|m| (c, m))) {
            Some((c, m)) => (
                "champion",
                m.ndcg_at_10,
                format!("the live version {}'s", c.version),
            ),
            None => {
                let why = match champion {
                    None => "no live version".to_owned(),
                    Some(c) => format!(
                        "the live version {} cannot be scored: {}",
                        c.version,
                        c.unscorable_reason.as_deref().unwrap_or("no settings")
                    ),
                };
                (
                    "most-popular",
                    evaluation.most_popular.ndcg_at_10,
                    format!("most-popular's ({why})"),
                )
            }
        };
    let mut gate = Gate {
        passed: true,
        reason: String::new(),
        reference: reference.to_owned(),
        reference_ndcg_at_10: Some(reference_ndcg),
        champion_version,
    };
    if evaluation.model.users == 0 {
        gate.reference = "none".to_owned();
        gate.reference_ndcg_at_10 = None;
        gate.reason = format!(
            "no held-out customers (none has {MIN_POSITIVES} ratings >= {POSITIVE_RATING}): gate \
             not applicable"
        );
    } else if ndcg < config.min_ndcg {
        gate.passed = false;
        gate.reason = format!("nDCG@10 {ndcg:.4} is below the minimum {}", config.min_ndcg);
    } else if let Some(drop) = config.max_ndcg_drop
        && ndcg < reference_ndcg * (1.0 - drop)
    {
        gate.passed = false;
        gate.reason = format!(
            "nDCG@10 {ndcg:.4} is more than {:.0}% below {reference_words} {reference_ndcg:.4} \
             on the same held-out split",
            drop * 100.0
        );
    } else {
        gate.reason = format!(
            "nDCG@10 {ndcg:.4} accepted against {reference_words} {reference_ndcg:.4} on the \
             same held-out split"
        );
    }
    gate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(ndcg: f64, users: usize) -> RankingMetrics {
        RankingMetrics {
            ndcg_at_10: ndcg,
            users,
            ..RankingMetrics::default()
        }
    }

    fn report(model: f64, popular: f64, users: usize) -> EvalReport {
        EvalReport {
            model: metrics(model, users),
            most_popular: metrics(popular, users),
            train_events: 100,
            test_events: 20,
            train_seconds: 0.0,
        }
    }

    fn champion(refit: Option<f64>) -> ChampionEvaluation {
        ChampionEvaluation {
            version: "v1".to_owned(),
            settings: None,
            refit: refit.map(|n| metrics(n, 10)),
            as_is: None,
            unscorable_reason: refit
                .is_none()
                .then(|| "its models/v1/model.json is missing".to_owned()),
        }
    }

    #[test]
    fn the_challenger_is_gated_against_the_champion_on_the_same_split() {
        let config = JobConfig {
            min_ndcg: 0.05,
            ..JobConfig::default()
        };
        // 10% below 0.2 is 0.18: 0.181 passes, 0.179 is refused.
        let gate = decide(&config, &report(0.181, 0.1, 10), Some(&champion(Some(0.2))));
        assert!(gate.passed, "{}", gate.reason);
        assert_eq!(gate.reference, "champion");
        assert_eq!(gate.reference_ndcg_at_10, Some(0.2));
        assert_eq!(gate.champion_version.as_deref(), Some("v1"));
        assert_eq!(
            gate.reason,
            "nDCG@10 0.1810 accepted against the live version v1's 0.2000 on the same held-out \
             split"
        );
        let gate = decide(&config, &report(0.179, 0.1, 10), Some(&champion(Some(0.2))));
        assert!(!gate.passed);
        assert!(
            gate.reason
                .contains("more than 10% below the live version v1's 0.2000"),
            "{}",
            gate.reason
        );

        // A champion that scores low on new data (e.g. trained on other data) does not block.
        assert!(
            decide(
                &JobConfig::default(),
                &report(0.046, 0.03, 10),
                Some(&champion(Some(0.04)))
            )
            .passed
        );

        // The minimum applies first; 1 or more as the drop disables the relative check.
        let gate = decide(
            &config,
            &report(0.04, 0.01, 10),
            Some(&champion(Some(0.01))),
        );
        assert!(!gate.passed);
        assert!(
            gate.reason.contains("below the minimum 0.05"),
            "{}",
            gate.reason
        );
        let no_drop_check = JobConfig {
            max_ndcg_drop: None,
            ..config.clone()
        };
        assert!(
            decide(
                &no_drop_check,
                &report(0.1, 0.1, 10),
                Some(&champion(Some(0.2)))
            )
            .passed
        );
    }

    #[test]
    fn without_a_scorable_champion_the_reference_is_most_popular_and_the_reason_says_why() {
        let config = JobConfig::default();
        let gate = decide(&config, &report(0.2, 0.1, 10), None);
        assert!(gate.passed, "{}", gate.reason);
        assert_eq!(gate.reference, "most-popular");
        assert!(gate.reason.contains("no live version"), "{}", gate.reason);

        let gate = decide(&config, &report(0.08, 0.1, 10), Some(&champion(None)));
        assert!(!gate.passed);
        assert_eq!(gate.reference, "most-popular");
        assert!(
            gate.reason.contains("more than 10% below most-popular's")
                && gate.reason.contains(
                    "the live version v1 cannot be scored: its models/v1/model.json is missing"
                ),
            "{}",
            gate.reason
        );
        assert_eq!(gate.champion_version.as_deref(), Some("v1"));

        let gate = decide(&config, &report(0.0, 0.0, 0), Some(&champion(Some(0.2))));
        assert!(gate.passed);
        assert!(gate.reason.contains("not applicable"), "{}", gate.reason);
    }

    #[test]
    fn the_champion_settings_come_from_its_artifact_and_are_checked() {
        let mut train = TrainConfig::default();
        train.als.factors = 5;
        train.als.iterations = 3;
        train.als.regularization = 2.5;
        train.als.alpha = 0.5;
        train.als.seed = 9;
        train.feature_regularization = 0.3;
        let data = crate::offline::data_from_events(
            &[crate::evaluation::Event {
                user: "u".into(),
                item: "i".into(),
                timestamp: 0.0,
            }],
            "one",
        )
        .unwrap();
        let mut artifact = crate::towers::fit(&data, &train, "v1", "", |_, _| {});
        assert_eq!(champion_config(&artifact).unwrap(), train);
        artifact.training.regularization = 0.0;
        let err = champion_config(&artifact).unwrap_err().to_string();
        assert!(err.contains("regularization=0"), "{err}");
    }
}
