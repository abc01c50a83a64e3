//! Offline evaluation runs: train on a split's training events, rank, score against the test
//! events, next to the most-popular baseline.

use std::collections::HashMap;

use reco_domain::model::ModelArtifact;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::evaluation::{self, Event, RankingMetrics, TOP_K, Truth};
use crate::interactions::{Interactions, InteractionsBuilder};
use crate::towers::{self, TrainConfig, TrainingData};

/// Metrics of the model and of the baseline on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Trained model.
    pub model: RankingMetrics,
    /// Most-popular baseline.
    pub most_popular: RankingMetrics,
    /// Training events of the split.
    pub train_events: usize,
    /// Test events of the split.
    pub test_events: usize,
    /// Seconds spent training.
    pub train_seconds: f64,
}

/// A run's report plus the model's top lists.
#[derive(Debug, Clone)]
pub struct EvalRun {
    /// Metrics.
    pub report: EvalReport,
    /// Top-[`TOP_K`] of every training user (item indices of the run's interactions; ids by
    /// [`EvalRun::named`]).
    pub recommendations: Vec<Vec<u32>>,
}

impl EvalRun {
    /// The top lists as ids (user id, item ids by rank); `train` is the run's interactions.
    pub fn named(&self, train: &Interactions) -> Vec<(String, Vec<String>)> {
        self.recommendations
            .iter()
            .enumerate()
            .map(|(u, list)| {
                (
                    train.users[u].clone(),
                    list.iter()
                        .map(|&i| train.items[i as usize].clone())
                        .collect(),
                )
            })
            .collect()
    }
}

/// Builds training data from split events (weight 1 each, no features).
pub fn data_from_events(events: &[Event], source: &str) -> Result<TrainingData, TrainError> {
    if events.is_empty() {
        return Err(TrainError::Empty {
            source_name: source.to_owned(),
            reason: "the training split has no events".to_owned(),
        });
    }
    let mut interactions = InteractionsBuilder::with_capacity(events.len());
    for e in events {
        interactions.push(&e.user, &e.item, 1.0);
    }
    Ok(TrainingData {
        interactions: interactions.build(),
        user_features: None,
        item_features: None,
        source: source.to_owned(),
        rows: events.len() as u64,
    })
}

/// Top-[`TOP_K`] lists of every training user of `data` under `artifact` (any model version:
/// users and items it does not know are embedded from their features alone).
pub fn rank_all(artifact: &ModelArtifact, data: &TrainingData) -> Vec<Vec<u32>> {
    let m = &data.interactions;
    let dim = artifact.dim;
    let item_matrix: Vec<f32> = (0..m.items.len())
        .flat_map(|i| towers::item_embedding(artifact, data, i))
        .collect();
    evaluation::recommend_all(m, |u, seen| {
        let user = towers::user_embedding(artifact, data, u);
        let scores: Vec<f32> = item_matrix
            .chunks_exact(dim)
            .map(|item| item.iter().zip(&user).map(|(a, b)| a * b).sum())
            .collect();
        evaluation::top_k(&scores, seen, TOP_K)
    })
}

/// Metrics of `artifact` ranking `data`'s catalogue for `data`'s users, against `test`.
pub fn score_model(
    artifact: &ModelArtifact,
    data: &TrainingData,
    test: &[Event],
) -> RankingMetrics {
    score_model_truth(
        artifact,
        data,
        &Truth::from_events(&data.interactions, test),
    )
}

/// [`score_model`] against held-out items already indexed on `data`.
pub fn score_model_truth(
    artifact: &ModelArtifact,
    data: &TrainingData,
    truth: &Truth,
) -> RankingMetrics {
    evaluation::score_truth(&data.interactions, &rank_all(artifact, data), truth)
}

/// Metrics of most-popular (training users per item) on `train`, against `test`.
pub fn score_popularity(train: &Interactions, test: &[Event]) -> RankingMetrics {
    score_popularity_truth(train, &Truth::from_events(train, test))
}

/// [`score_popularity`] against held-out items already indexed on `train`.
pub fn score_popularity_truth(train: &Interactions, truth: &Truth) -> RankingMetrics {
    let popularity = evaluation::popularity_scores(train);
    let recs =
        evaluation::recommend_all(train, |_, seen| evaluation::top_k(&popularity, seen, TOP_K));
    evaluation::score_truth(train, &recs, truth)
}

/// Trains on `data`, ranks every training user's unseen catalogue items and scores `test`.
pub fn evaluate(
    data: &TrainingData,
    test: &[Event],
    config: &TrainConfig,
    progress: impl FnMut(usize, f64),
) -> EvalRun {
    let truth = Truth::from_events(&data.interactions, test);
    evaluate_truth(data, &truth, config, progress)
}

/// [`evaluate`] against held-out items already indexed on `data`.
pub fn evaluate_truth(
    data: &TrainingData,
    truth: &Truth,
    config: &TrainConfig,
    progress: impl FnMut(usize, f64),
) -> EvalRun {
    let started = std::time::Instant::now();
    let artifact = towers::fit(data, config, "offline-eval", "", progress);
    let train_seconds = started.elapsed().as_secs_f64();
    let m = &data.interactions;
    let model_recs = rank_all(&artifact, data);
    drop(artifact);
    let report = EvalReport {
        model: evaluation::score_truth(m, &model_recs, truth),
        most_popular: score_popularity_truth(m, truth),
        train_events: data.rows as usize,
        test_events: truth.events(),
        train_seconds,
    };
    EvalRun {
        report,
        recommendations: model_recs,
    }
}

/// Scores top lists produced elsewhere (user id, item ids by rank) with the same metrics;
/// items outside the training catalogue count as misses and not toward coverage.
pub fn score_external(
    train: &Interactions,
    recs: &[(String, Vec<String>)],
    test: &[Event],
) -> RankingMetrics {
    score_external_truth(train, recs, &Truth::from_events(train, test))
}

/// [`score_external`] against held-out items already indexed on `train`.
pub fn score_external_truth(
    train: &Interactions,
    recs: &[(String, Vec<String>)],
    truth: &Truth,
) -> RankingMetrics {
    let item_index: HashMap<&str, u32> = train
        .items
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i as u32))
        .collect();
    let user_index: HashMap<&str, usize> = train
        .users
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut lists = vec![Vec::new(); train.users.len()];
    for (user, items) in recs {
        if let Some(&u) = user_index.get(user.as_str()) {
            // Items outside the training catalogue cannot be hits under the protocol (the
            // catalogue is what is ranked), so they are left out of the list.
            lists[u] = items
                .iter()
                .filter_map(|i| item_index.get(i.as_str()).copied())
                .collect();
        }
    }
    evaluation::score_truth(train, &lists, truth)
}
