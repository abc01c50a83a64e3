//! The two towers: ALS id factors plus ridge regressions from features to those factors.
//!
//! Each tower's feature part is the ridge regression of the learned factors on the encoded
//! features (so a customer never seen in training still gets a sensible vector from city,
//! country and credit limit); the id part is the residual, so a known id's raw vector is
//! exactly its ALS factor vector.

use std::collections::BTreeMap;

use nalgebra::DMatrix;
use rayon::prelude::*;
use reco_domain::model::{
    self, CategoricalFeature, MODEL_FORMAT_VERSION, ModelArtifact, NumericFeature,
    NumericTransform, Tower, TrainingMetadata,
};

use crate::TrainError;
use crate::als::{self, AlsConfig, AlsFactors};
use crate::interactions::Interactions;

/// Default L2 regularisation of the feature regressions (on standardised inputs).
pub const DEFAULT_FEATURE_REGULARIZATION: f64 = 1.0;
/// Most frequent values kept per categorical feature: bounds the regression's size on
/// generated data with many cities (rarer values encode as unknown).
pub const MAX_VOCABULARY: usize = 256;

/// Features of the user tower: categorical names, numeric names with their transform.
pub const USER_CATEGORICAL: [&str; 2] = [model::FEATURE_CITY, model::FEATURE_COUNTRY];
/// Numeric features of the user tower.
pub const USER_NUMERIC: [(&str, NumericTransform); 1] =
    [(model::FEATURE_CREDIT_LIMIT, NumericTransform::SignedLog)];
/// Categorical features of the item tower.
pub const ITEM_CATEGORICAL: [&str; 2] = [model::FEATURE_PRODUCT_LINE, model::FEATURE_PRODUCT_SCALE];
/// Numeric features of the item tower.
pub const ITEM_NUMERIC: [(&str, NumericTransform); 3] = [
    (
        model::FEATURE_QUANTITY_IN_STOCK,
        NumericTransform::SignedLog,
    ),
    (model::FEATURE_BUY_PRICE, NumericTransform::SignedLog),
    (model::FEATURE_MSRP, NumericTransform::SignedLog),
];

/// Raw feature values of one user or item, in the tower's feature order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityFeatures {
    /// Categorical values.
    pub categorical: Vec<Option<String>>,
    /// Numeric values.
    pub numeric: Vec<Option<f64>>,
}

/// What a run trains on: interactions and, when the source has them, per-entity features
/// aligned with `interactions.users` / `interactions.items`.
#[derive(Debug, Clone)]
pub struct TrainingData {
    /// The interactions.
    pub interactions: Interactions,
    /// Customer features per user index (none for sources without features).
    pub user_features: Option<Vec<EntityFeatures>>,
    /// Product features per item index.
    pub item_features: Option<Vec<EntityFeatures>>,
    /// Where the rows came from.
    pub source: String,
    /// Rows read.
    pub rows: u64,
}

/// Hyper-parameters of a full run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// ALS settings.
    pub als: AlsConfig,
    /// Ridge regularisation of the feature regressions.
    pub feature_regularization: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            als: AlsConfig::default(),
            feature_regularization: DEFAULT_FEATURE_REGULARIZATION,
        }
    }
}

impl TrainConfig {
    /// Refuses settings the solver cannot use, naming the setting.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |name, value: String, reason| {
            Err(TrainError::InvalidConfig {
                name,
                value,
                reason,
            })
        };
        if self.als.factors == 0 || self.als.factors > MAX_FACTORS {
            return bad("factors", self.als.factors.to_string(), "1..=1023");
        }
        if self.als.iterations == 0 {
            return bad("iterations", "0".into(), "at least 1");
        }
        if !(self.als.regularization > 0.0 && self.als.regularization.is_finite()) {
            return bad(
                "regularization",
                self.als.regularization.to_string(),
                "finite and > 0 (keeps every solve positive definite)",
            );
        }
        if !(self.als.alpha >= 0.0 && self.als.alpha.is_finite()) {
            return bad("alpha", self.als.alpha.to_string(), "finite and >= 0");
        }
        if !(self.feature_regularization > 0.0 && self.feature_regularization.is_finite()) {
            return bad(
                "feature_regularization",
                self.feature_regularization.to_string(),
                "finite and > 0",
            );
        }
        Ok(())
    }
}

/// Largest factor count: pgvector's HNSW index takes vectors up to 2,000 dimensions; 1,023 keeps
/// the per-solve Cholesky cheap and far inside that.
pub const MAX_FACTORS: usize = 1023;

/// Trains ALS and fits both towers; `progress(iteration, loss)` after each ALS iteration.
pub fn fit(
    data: &TrainingData,
    config: &TrainConfig,
    model_version: &str,
    trained_at: &str,
    progress: impl FnMut(usize, f64),
) -> ModelArtifact {
    let factors = als::train(&data.interactions, &config.als, progress);
    assemble(data, config, &factors, model_version, trained_at)
}

/// Builds the artifact from learned factors.
pub fn assemble(
    data: &TrainingData,
    config: &TrainConfig,
    factors: &AlsFactors,
    model_version: &str,
    trained_at: &str,
) -> ModelArtifact {
    let k = factors.factors;
    let (user_cat, user_num): (&[&str], &[(&str, NumericTransform)]) = match data.user_features {
        Some(_) => (&USER_CATEGORICAL, &USER_NUMERIC),
        None => (&[], &[]),
    };
    let (item_cat, item_num): (&[&str], &[(&str, NumericTransform)]) = match data.item_features {
        Some(_) => (&ITEM_CATEGORICAL, &ITEM_NUMERIC),
        None => (&[], &[]),
    };
    let user_tower = fit_tower(
        user_cat,
        user_num,
        data.user_features.as_deref(),
        &data.interactions.users,
        &factors.users,
        k,
        config.feature_regularization,
    );
    let item_tower = fit_tower(
        item_cat,
        item_num,
        data.item_features.as_deref(),
        &data.interactions.items,
        &factors.items,
        k,
        config.feature_regularization,
    );
    let item_max_norm = (0..data.interactions.items.len())
        .map(|i| {
            let input = encode(&item_tower, data.item_features.as_deref(), i);
            let raw = item_tower.raw(&input, Some(&data.interactions.items[i]), k);
            raw.iter().map(|v| v * v).sum::<f64>().sqrt()
        })
        .fold(0.0, f64::max);
    ModelArtifact {
        format_version: MODEL_FORMAT_VERSION,
        model_version: model_version.to_owned(),
        dim: k + 1,
        factors: k,
        user_tower,
        item_tower,
        // An all-zero model (no data signal) still needs a positive scale.
        item_max_norm: if item_max_norm > 0.0 {
            item_max_norm
        } else {
            1.0
        },
        training: TrainingMetadata {
            method: "implicit-als+ridge-towers".to_owned(),
            seed: config.als.seed,
            iterations: config.als.iterations,
            regularization: config.als.regularization,
            alpha: config.als.alpha,
            feature_regularization: config.feature_regularization,
            source: data.source.clone(),
            rows: data.rows,
            users: data.interactions.users.len() as u64,
            items: data.interactions.items.len() as u64,
            trained_at: trained_at.to_owned(),
            final_loss: factors.losses.last().copied().unwrap_or(0.0),
        },
    }
}

fn encode(tower: &Tower, features: Option<&[EntityFeatures]>, row: usize) -> Vec<f64> {
    match features {
        Some(f) => {
            let cat: Vec<Option<&str>> = f[row].categorical.iter().map(|c| c.as_deref()).collect();
            tower.encode(&cat, &f[row].numeric)
        }
        None => tower.encode(&[], &[]),
    }
}

/// User embedding of training user `row` (features + id part), as `embed_customer` computes it.
pub fn user_embedding(artifact: &ModelArtifact, data: &TrainingData, row: usize) -> Vec<f32> {
    let input = encode(&artifact.user_tower, data.user_features.as_deref(), row);
    let raw = artifact.user_tower.raw(
        &input,
        Some(&data.interactions.users[row]),
        artifact.factors,
    );
    model::user_embedding(&raw)
}

/// Item embedding of training item `row` (features + id part).
pub fn item_embedding(artifact: &ModelArtifact, data: &TrainingData, row: usize) -> Vec<f32> {
    let input = encode(&artifact.item_tower, data.item_features.as_deref(), row);
    let raw = artifact.item_tower.raw(
        &input,
        Some(&data.interactions.items[row]),
        artifact.factors,
    );
    model::item_embedding(&raw, artifact.item_max_norm)
}

fn vocabulary(values: impl Iterator<Item = Option<String>>) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for v in values.flatten() {
        *counts.entry(v).or_default() += 1;
    }
    let mut by_count: Vec<(String, usize)> = counts.into_iter().collect();
    // Most frequent first, ties alphabetical: deterministic.
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    by_count.truncate(MAX_VOCABULARY);
    let mut vocab: Vec<String> = by_count.into_iter().map(|(v, _)| v).collect();
    vocab.sort();
    vocab
}

fn fit_tower(
    categorical: &[&str],
    numeric: &[(&str, NumericTransform)],
    features: Option<&[EntityFeatures]>,
    ids: &[String],
    targets: &[f64],
    k: usize,
    lambda: f64,
) -> Tower {
    let n = ids.len();
    let cats: Vec<CategoricalFeature> = categorical
        .iter()
        .enumerate()
        .map(|(c, name)| CategoricalFeature {
            name: (*name).to_owned(),
            vocabulary: vocabulary(
                features
                    .unwrap_or(&[])
                    .iter()
                    .map(|f| f.categorical.get(c).cloned().flatten()),
            ),
        })
        .collect();
    let nums: Vec<NumericFeature> = numeric
        .iter()
        .enumerate()
        .map(|(j, (name, transform))| {
            let values: Vec<f64> = features
                .unwrap_or(&[])
                .iter()
                .filter_map(|f| f.numeric.get(j).copied().flatten())
                .filter(|v| v.is_finite())
                .map(|v| transform.apply(v))
                .collect();
            let count = values.len().max(1) as f64;
            let mean = values.iter().sum::<f64>() / count;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count;
            let std = var.sqrt();
            NumericFeature {
                name: (*name).to_owned(),
                transform: *transform,
                mean,
                std: if std > 1e-12 { std } else { 1.0 },
            }
        })
        .collect();
    let mut tower = Tower::new(cats, nums, Vec::new(), Vec::new(), Vec::new());
    let p = tower.input_len();
    let inputs: Vec<Vec<f64>> = (0..n).map(|r| encode(&tower, features, r)).collect();
    // Normal equations (X^T X + lambda I) W = X^T F, intercept unpenalised.
    let mut xtx = vec![0.0; p * p];
    let mut xtf = vec![0.0; p * k];
    for (x, f) in inputs.iter().zip(targets.chunks_exact(k)) {
        let nz: Vec<(usize, f64)> = x
            .iter()
            .copied()
            .enumerate()
            .filter(|v| v.1 != 0.0)
            .collect();
        for &(a, xa) in &nz {
            for &(b, xb) in &nz {
                xtx[a * p + b] += xa * xb;
            }
            for (d, &fd) in f.iter().enumerate() {
                xtf[a * k + d] += xa * fd;
            }
        }
    }
    for d in 0..p {
        xtx[d * p + d] += if d == 0 { 1e-9 } else { lambda };
    }
    let weights = match DMatrix::from_row_slice(p, p, &xtx).cholesky() {
        Some(chol) => {
            let rhs = DMatrix::from_row_slice(p, k, &xtf);
            let w = chol.solve(&rhs);
            let mut out = Vec::with_capacity(p * k);
            for a in 0..p {
                for d in 0..k {
                    out.push(w[(a, d)] as f32);
                }
            }
            out
        }
        // Only without any row (n = 0): no feature signal, all-zero weights.
        None => vec![0.0; p * k],
    };
    tower.weights = weights;
    let id_parts: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|r| {
            let feature_part = tower.raw(&inputs[r], None, k);
            targets[r * k..(r + 1) * k]
                .iter()
                .zip(&feature_part)
                .map(|(t, f)| (t - f) as f32)
                .collect()
        })
        .collect();
    Tower::new(
        tower.categorical,
        tower.numeric,
        tower.weights,
        ids.to_vec(),
        id_parts,
    )
}
