//! The quality gate: a new version moves `LATEST` only if its held-out nDCG@10 is above the
//! minimum and not much below the previous good version's (read from that version's
//! `metrics.json`).

use reco_aws::Bucket;
use reco_domain::artifacts::{METRICS_FILE, ModelPrefix};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::config::JobConfig;
use crate::evaluation::{MIN_POSITIVES, POSITIVE_RATING, RankingMetrics};
use crate::metrics::Metrics;

/// Outcome of the quality gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Whether `LATEST` was (or would be) moved to this version.
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
    /// nDCG@10 of the previous good version, if there was one.
    pub previous_ndcg_at_10: Option<f64>,
    /// The previous good version, if any.
    pub previous_version: Option<String>,
}

/// The version `LATEST` points at and its held-out nDCG@10.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousVersion {
    /// The version string.
    pub version: String,
    /// Its held-out nDCG@10 (from its `metrics.json`).
    pub ndcg_at_10: f64,
}

/// The previous good version under `prefix`: `None` when there is no `LATEST` or the version
/// it names has no `metrics.json`.
pub async fn previous_version(
    artifacts: &Bucket,
    prefix: &ModelPrefix,
) -> Result<Option<PreviousVersion>, TrainError> {
    let Some(latest) = artifacts.get_opt(&prefix.latest_key()).await? else {
        return Ok(None);
    };
    let version = String::from_utf8_lossy(&latest).trim().to_owned();
    let key = prefix.key(&version, METRICS_FILE);
    let Some(body) = artifacts.get_opt(&key).await? else {
        return Ok(None);
    };
    let metrics: Metrics = serde_json::from_slice(&body).map_err(|e| TrainError::Malformed {
        source_name: artifacts.location(&key),
        line: e.line(),
        reason: format!("previous metrics unreadable: {e}"),
    })?;
    Ok(Some(PreviousVersion {
        version,
        ndcg_at_10: metrics.evaluation.model.ndcg_at_10,
    }))
}

/// Decides whether a model with held-out `metrics` may become `LATEST`.
pub fn decide(
    config: &JobConfig,
    metrics: &RankingMetrics,
    previous: Option<PreviousVersion>,
) -> Gate {
    let ndcg = metrics.ndcg_at_10;
    let previous_ndcg = previous.as_ref().map(|p| p.ndcg_at_10);
    let mut gate = Gate {
        passed: true,
        reason: String::new(),
        previous_ndcg_at_10: previous_ndcg,
        previous_version: previous.map(|p| p.version),
    };
    if metrics.users == 0 {
        gate.reason = format!(
            "no held-out customers (none has {MIN_POSITIVES} ratings >= {POSITIVE_RATING}): gate \
             not applicable"
        );
    } else if ndcg < config.min_ndcg {
        gate.passed = false;
        gate.reason = format!("nDCG@10 {ndcg:.4} is below the minimum {}", config.min_ndcg);
    } else if let (Some(prev), Some(drop)) = (previous_ndcg, config.max_ndcg_drop)
        && ndcg < prev * (1.0 - drop)
    {
        gate.passed = false;
        gate.reason = format!(
            "nDCG@10 {ndcg:.4} is more than {:.0}% below the previous good version's {prev:.4}",
            drop * 100.0
        );
    } else {
        gate.reason = format!("nDCG@10 {ndcg:.4} accepted");
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

    fn previous(ndcg: f64) -> Option<PreviousVersion> {
        Some(PreviousVersion {
            version: "v1".to_owned(),
            ndcg_at_10: ndcg,
        })
    }

    #[test]
    fn the_gate_checks_the_minimum_then_the_drop_against_the_previous_version() {
        let config = JobConfig {
            min_ndcg: 0.05,
            ..JobConfig::default()
        };
        let gate = decide(&config, &metrics(0.2, 10), None);
        assert!(gate.passed, "{}", gate.reason);
        assert_eq!(gate.reason, "nDCG@10 0.2000 accepted");
        assert_eq!(gate.previous_version, None);

        let gate = decide(&config, &metrics(0.04, 10), previous(0.01));
        assert!(!gate.passed);
        assert!(
            gate.reason.contains("below the minimum 0.05"),
            "{}",
            gate.reason
        );

        // 10% below 0.2 is 0.18: 0.181 passes, 0.179 is refused.
        assert!(decide(&config, &metrics(0.181, 10), previous(0.2)).passed);
        let gate = decide(&config, &metrics(0.179, 10), previous(0.2));
        assert!(!gate.passed);
        assert!(
            gate.reason.contains("more than 10% below"),
            "{}",
            gate.reason
        );
        assert_eq!(gate.previous_version.as_deref(), Some("v1"));
        assert_eq!(gate.previous_ndcg_at_10, Some(0.2));

        let no_drop_check = JobConfig {
            max_ndcg_drop: None,
            ..config.clone()
        };
        assert!(decide(&no_drop_check, &metrics(0.1, 10), previous(0.2)).passed);

        let gate = decide(&config, &metrics(0.0, 0), previous(0.2));
        assert!(gate.passed);
        assert!(gate.reason.contains("not applicable"), "{}", gate.reason);
    }
}
