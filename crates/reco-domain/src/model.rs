//! The two-tower model artifact (`model.json`): what `reco train` writes and the streaming
//! Lambda loads to embed a customer it has never seen from the features in a click event.
//!
//! # Format (version [`MODEL_FORMAT_VERSION`])
//! A JSON object:
//! - `format_version` (u32), `model_version` (string, sorts by training time), `dim` (D, the
//!   length of every embedding), `factors` (D - 1, the length of a tower's raw output);
//! - `user_tower`, `item_tower`: each a [`Tower`]: its categorical features (name + vocabulary,
//!   one-hot; a missing or unseen value encodes as all zeros), its numeric features (name,
//!   transform, mean and standard deviation; a missing value encodes as 0 plus a "missing"
//!   indicator 1), the feature weights (row-major `input_len x factors`, input 0 is the constant
//!   1) and the learned per-id parts (`ids[i]` has `id_parts[i]`, `factors` long);
//! - `item_max_norm`: the largest raw item vector norm, used to map items onto the unit sphere;
//! - `training`: hyper-parameters, seed, data sizes and time of the run ([`TrainingMetadata`]).
//!
//! # Embeddings and scores
//! A tower's raw vector is `encode(features) . weights + id_part(id)` (the id part only for a
//! known id). Scores are cosine similarities, and the embeddings are built so that the cosine of
//! a user and an item equals their raw dot product divided by constants that do not depend on
//! the item, so ranking by cosine (pgvector `<=>`) ranks exactly like the trained dot product:
//! - user embedding: `[raw / |raw|, 0]` (unit length);
//! - item embedding: `[raw / M, sqrt(1 - |raw|^2 / M^2)]` with `M = item_max_norm` (unit length;
//!   the extra coordinate carries what cosine would otherwise throw away, the item's norm).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Version of the artifact's JSON layout; bumped on any incompatible change.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// Default embedding dimension D (the `item_emb` / `user_emb` vector size in DESIGN.md).
pub const DEFAULT_DIM: usize = 32;

/// Name of the user tower's city feature.
pub const FEATURE_CITY: &str = "city";
/// Name of the user tower's country feature.
pub const FEATURE_COUNTRY: &str = "country";
/// Name of the user tower's credit limit feature.
pub const FEATURE_CREDIT_LIMIT: &str = "credit_limit";
/// Name of the item tower's product line feature.
pub const FEATURE_PRODUCT_LINE: &str = "product_line";
/// Name of the item tower's product scale feature.
pub const FEATURE_PRODUCT_SCALE: &str = "product_scale";
/// Name of the item tower's quantity in stock feature.
pub const FEATURE_QUANTITY_IN_STOCK: &str = "quantity_in_stock";
/// Name of the item tower's buy price feature.
pub const FEATURE_BUY_PRICE: &str = "buy_price";
/// Name of the item tower's MSRP feature.
pub const FEATURE_MSRP: &str = "msrp";

/// What the click event tells about a customer: the user tower's input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerFeatures {
    /// Customer number; a known one adds its learned id part.
    pub customer_number: Option<i64>,
    /// City (categorical).
    pub city: Option<String>,
    /// Country (categorical).
    pub country: Option<String>,
    /// Credit limit (numeric).
    pub credit_limit: Option<f64>,
}

/// What the catalogue tells about a product: the item tower's input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductFeatures {
    /// Product code; a known one adds its learned id part.
    pub product_code: Option<String>,
    /// Product line (categorical).
    pub product_line: Option<String>,
    /// Product scale such as `1:10` (categorical).
    pub product_scale: Option<String>,
    /// Quantity in stock (numeric).
    pub quantity_in_stock: Option<f64>,
    /// Buy price (numeric).
    pub buy_price: Option<f64>,
    /// Manufacturer's suggested retail price (numeric).
    pub msrp: Option<f64>,
}

/// A model artifact that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The bytes are not the artifact's JSON.
    #[error("model artifact is not valid JSON of the expected shape: {source}")]
    Json {
        /// The parser's error (names line and column).
        #[from]
        source: serde_json::Error,
    },
    /// The artifact was written by an incompatible trainer.
    #[error("model artifact has format_version {found}; this build reads only {expected}")]
    UnsupportedFormat {
        /// The artifact's version.
        found: u32,
        /// The version this code reads.
        expected: u32,
    },
    /// Sizes or values inside the artifact disagree.
    #[error("model artifact is inconsistent: {what}")]
    Inconsistent {
        /// What disagrees, naming the field.
        what: String,
    },
}

/// How a numeric feature's raw value is transformed before standardisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumericTransform {
    /// The value itself.
    Identity,
    /// `sign(x) * ln(1 + |x|)`: tames prices, stock and credit limits spanning decades.
    SignedLog,
}

impl NumericTransform {
    /// Applies the transform.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Self::Identity => x,
            Self::SignedLog => x.signum() * x.abs().ln_1p(),
        }
    }
}

/// A one-hot encoded feature: its vocabulary, in encoding order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalFeature {
    /// Feature name (one of the `FEATURE_*` constants).
    pub name: String,
    /// Known values; a value outside it (or missing) encodes as all zeros.
    pub vocabulary: Vec<String>,
}

/// A standardised numeric feature with a missing-value indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericFeature {
    /// Feature name (one of the `FEATURE_*` constants).
    pub name: String,
    /// Transform applied before standardisation.
    pub transform: NumericTransform,
    /// Mean of the transformed training values.
    pub mean: f64,
    /// Standard deviation of the transformed training values (> 0).
    pub std: f64,
}

/// One tower: feature encoding, feature weights and learned per-id parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tower {
    /// Categorical features, in input order.
    pub categorical: Vec<CategoricalFeature>,
    /// Numeric features, in input order after the categorical ones.
    pub numeric: Vec<NumericFeature>,
    /// Row-major `input_len x factors` weights; input 0 is the constant 1.
    pub weights: Vec<f32>,
    /// Known ids (customer numbers as decimal text, product codes).
    pub ids: Vec<String>,
    /// Learned per-id parts, `ids[i]` -> `id_parts[i]`, each `factors` long.
    pub id_parts: Vec<Vec<f32>>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Tower {
    /// A tower from its parts (the index of ids is built here).
    pub fn new(
        categorical: Vec<CategoricalFeature>,
        numeric: Vec<NumericFeature>,
        weights: Vec<f32>,
        ids: Vec<String>,
        id_parts: Vec<Vec<f32>>,
    ) -> Self {
        let mut tower = Self {
            categorical,
            numeric,
            weights,
            ids,
            id_parts,
            index: HashMap::new(),
        };
        tower.build_index();
        tower
    }

    fn build_index(&mut self) {
        self.index = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
    }

    /// Length of the encoded input: the constant, one-hots, and (value, missing) per numeric.
    pub fn input_len(&self) -> usize {
        1 + self
            .categorical
            .iter()
            .map(|c| c.vocabulary.len())
            .sum::<usize>()
            + 2 * self.numeric.len()
    }

    /// Encodes raw feature values (`categorical[i]` for the i-th categorical feature,
    /// `numeric[j]` for the j-th numeric one) into the tower's input vector.
    pub fn encode(&self, categorical: &[Option<&str>], numeric: &[Option<f64>]) -> Vec<f64> {
        let mut x = vec![0.0; self.input_len()];
        x[0] = 1.0;
        let mut at = 1;
        for (i, feature) in self.categorical.iter().enumerate() {
            let value = categorical.get(i).copied().flatten();
            if let Some(pos) = value.and_then(|v| feature.vocabulary.iter().position(|w| w == v)) {
                x[at + pos] = 1.0;
            }
            at += feature.vocabulary.len();
        }
        for (j, feature) in self.numeric.iter().enumerate() {
            match numeric.get(j).copied().flatten().filter(|v| v.is_finite()) {
                Some(v) => x[at] = (feature.transform.apply(v) - feature.mean) / feature.std,
                None => x[at + 1] = 1.0,
            }
            at += 2;
        }
        x
    }

    /// Raw tower output: encoded features times weights, plus the id part of a known `id`.
    pub fn raw(&self, input: &[f64], id: Option<&str>, factors: usize) -> Vec<f64> {
        let mut out = vec![0.0; factors];
        for (i, &xi) in input.iter().enumerate() {
            if xi != 0.0 {
                let row = &self.weights[i * factors..(i + 1) * factors];
                for (o, &w) in out.iter_mut().zip(row) {
                    *o += xi * f64::from(w);
                }
            }
        }
        if let Some(&k) = id.and_then(|id| self.index.get(id)) {
            for (o, &p) in out.iter_mut().zip(&self.id_parts[k]) {
                *o += f64::from(p);
            }
        }
        out
    }

    /// Whether `id` has a learned id part.
    pub fn knows(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    fn validate(&self, tower: &str, factors: usize) -> Result<(), ModelError> {
        let bad = |what: String| Err(ModelError::Inconsistent { what });
        if self.weights.len() != self.input_len() * factors {
            return bad(format!(
                "{tower}.weights has {} values, expected input_len {} x factors {factors}",
                self.weights.len(),
                self.input_len()
            ));
        }
        if self.weights.iter().any(|w| !w.is_finite()) {
            return bad(format!("{tower}.weights holds a non-finite value"));
        }
        if self.ids.len() != self.id_parts.len() {
            return bad(format!(
                "{tower} has {} ids but {} id_parts",
                self.ids.len(),
                self.id_parts.len()
            ));
        }
        if let Some((i, _)) = self
            .id_parts
            .iter()
            .enumerate()
            .find(|(_, p)| p.len() != factors || p.iter().any(|v| !v.is_finite()))
        {
            return bad(format!(
                "{tower}.id_parts[{i}] (id {:?}) is not {factors} finite values",
                self.ids[i]
            ));
        }
        if let Some(f) = self
            .numeric
            .iter()
            .find(|f| !(f.std > 0.0 && f.std.is_finite() && f.mean.is_finite()))
        {
            return bad(format!(
                "{tower}.numeric {:?} has mean {} std {} (std must be finite and > 0)",
                f.name, f.mean, f.std
            ));
        }
        Ok(())
    }
}

/// Hyper-parameters, data sizes and provenance of the run that produced an artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingMetadata {
    /// Training method, e.g. `implicit-als+ridge`.
    pub method: String,
    /// Seed of the initial factors.
    pub seed: u64,
    /// ALS iterations.
    pub iterations: usize,
    /// L2 regularisation of the factors.
    pub regularization: f64,
    /// Confidence scale: an observed pair weighs `1 + alpha * weight`.
    pub alpha: f64,
    /// L2 regularisation of the feature regressions.
    pub feature_regularization: f64,
    /// Where the training rows came from (S3 URI or path).
    pub source: String,
    /// Training rows read.
    pub rows: u64,
    /// Distinct users (customers) trained.
    pub users: u64,
    /// Distinct items (products) trained.
    pub items: u64,
    /// Time the training finished, RFC 3339 UTC.
    pub trained_at: String,
    /// Objective after the last iteration (weighted squared error + regularisation).
    pub final_loss: f64,
}

/// The trained two-tower model, as stored in `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// Layout version, [`MODEL_FORMAT_VERSION`].
    pub format_version: u32,
    /// Version of this model (its folder name under the model prefix).
    pub model_version: String,
    /// Embedding dimension D.
    pub dim: usize,
    /// Raw tower output length, D - 1.
    pub factors: usize,
    /// Customer tower.
    pub user_tower: Tower,
    /// Product tower.
    pub item_tower: Tower,
    /// Largest raw item norm among known items (> 0).
    pub item_max_norm: f64,
    /// Provenance of the run.
    pub training: TrainingMetadata,
}

impl ModelArtifact {
    /// Parses and checks an artifact: refuses an unknown `format_version` or inconsistent shapes.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, ModelError> {
        // Peek at the version first so an incompatible layout reports its version, not a field.
        #[derive(Deserialize)]
        struct Header {
            format_version: u32,
        }
        let header: Header = serde_json::from_slice(bytes)?;
        if header.format_version != MODEL_FORMAT_VERSION {
            return Err(ModelError::UnsupportedFormat {
                found: header.format_version,
                expected: MODEL_FORMAT_VERSION,
            });
        }
        let mut artifact: Self = serde_json::from_slice(bytes)?;
        artifact.user_tower.build_index();
        artifact.item_tower.build_index();
        artifact.validate()?;
        Ok(artifact)
    }

    /// Serialises the artifact (after checking it) to JSON.
    pub fn to_json_vec(&self) -> Result<Vec<u8>, ModelError> {
        self.validate()?;
        Ok(serde_json::to_vec(self)?)
    }

    /// Checks that sizes and values agree.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.format_version != MODEL_FORMAT_VERSION {
            return Err(ModelError::UnsupportedFormat {
                found: self.format_version,
                expected: MODEL_FORMAT_VERSION,
            });
        }
        if self.dim < 2 || self.factors + 1 != self.dim {
            return Err(ModelError::Inconsistent {
                what: format!(
                    "dim {} must be factors {} + 1 and at least 2",
                    self.dim, self.factors
                ),
            });
        }
        if !(self.item_max_norm > 0.0 && self.item_max_norm.is_finite()) {
            return Err(ModelError::Inconsistent {
                what: format!(
                    "item_max_norm {} must be finite and > 0",
                    self.item_max_norm
                ),
            });
        }
        self.user_tower.validate("user_tower", self.factors)?;
        self.item_tower.validate("item_tower", self.factors)?;
        Ok(())
    }

    /// The model's version.
    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    /// Embedding dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the customer has a learned id part.
    pub fn knows_customer(&self, customer_number: i64) -> bool {
        self.user_tower.knows(&customer_number.to_string())
    }

    /// User-tower embedding (L2-normalised), known customers get their learned id part added;
    /// unknown categories handled. All zeros only if the tower's output is exactly zero.
    pub fn embed_customer(&self, features: &CustomerFeatures) -> Vec<f32> {
        let mut categorical = Vec::with_capacity(self.user_tower.categorical.len());
        for f in &self.user_tower.categorical {
            categorical.push(match f.name.as_str() {
                FEATURE_CITY => features.city.as_deref(),
                FEATURE_COUNTRY => features.country.as_deref(),
                _ => None,
            });
        }
        let numeric: Vec<Option<f64>> = self
            .user_tower
            .numeric
            .iter()
            .map(|f| match f.name.as_str() {
                FEATURE_CREDIT_LIMIT => features.credit_limit,
                _ => None,
            })
            .collect();
        let input = self.user_tower.encode(&categorical, &numeric);
        let id = features.customer_number.map(|n| n.to_string());
        let raw = self.user_tower.raw(&input, id.as_deref(), self.factors);
        user_embedding(&raw)
    }

    /// Item-tower embedding (unit length, see the module docs); a known product code adds its
    /// learned id part.
    pub fn embed_product(&self, features: &ProductFeatures) -> Vec<f32> {
        let categorical: Vec<Option<&str>> = self
            .item_tower
            .categorical
            .iter()
            .map(|f| match f.name.as_str() {
                FEATURE_PRODUCT_LINE => features.product_line.as_deref(),
                FEATURE_PRODUCT_SCALE => features.product_scale.as_deref(),
                _ => None,
            })
            .collect();
        let numeric: Vec<Option<f64>> = self
            .item_tower
            .numeric
            .iter()
            .map(|f| match f.name.as_str() {
                FEATURE_QUANTITY_IN_STOCK => features.quantity_in_stock,
                FEATURE_BUY_PRICE => features.buy_price,
                FEATURE_MSRP => features.msrp,
                _ => None,
            })
            .collect();
        let input = self.item_tower.encode(&categorical, &numeric);
        let raw = self
            .item_tower
            .raw(&input, features.product_code.as_deref(), self.factors);
        item_embedding(&raw, self.item_max_norm)
    }
}

/// Maps a raw user vector to its embedding: `[raw / |raw|, 0]`.
pub fn user_embedding(raw: &[f64]) -> Vec<f32> {
    let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut out: Vec<f32> = raw
        .iter()
        .map(|v| if norm > 0.0 { (v / norm) as f32 } else { 0.0 })
        .collect();
    out.push(0.0);
    out
}

/// Maps a raw item vector to its unit-length embedding `[raw / M, sqrt(1 - |raw|^2 / M^2)]`;
/// a raw vector longer than `M` is shortened to `M` first.
pub fn item_embedding(raw: &[f64], max_norm: f64) -> Vec<f32> {
    let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt();
    let scale = if norm > max_norm {
        1.0 / norm
    } else {
        1.0 / max_norm
    };
    let mut out: Vec<f32> = raw.iter().map(|v| (v * scale) as f32).collect();
    let used = (norm * scale).powi(2);
    out.push((1.0 - used).max(0.0).sqrt() as f32);
    out
}

/// Formats an embedding as a pgvector text literal, e.g. `[0.1,-0.2]`.
pub fn pgvector_literal(embedding: &[f32]) -> String {
    let mut s = String::with_capacity(embedding.len() * 12 + 2);
    s.push('[');
    for (i, v) in embedding.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        // `{}` on f32 prints the shortest text that parses back to the same value.
        s.push_str(&v.to_string());
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> TrainingMetadata {
        TrainingMetadata {
            method: "test".into(),
            seed: 1,
            iterations: 1,
            regularization: 0.1,
            alpha: 1.0,
            feature_regularization: 1.0,
            source: "unit".into(),
            rows: 0,
            users: 1,
            items: 1,
            trained_at: "2026-11-22T00:00:00Z".into(),
            final_loss: 0.0,
        }
    }

    fn artifact() -> ModelArtifact {
        let factors = 2;
        let user_tower = Tower::new(
            vec![
                CategoricalFeature {
                    name: FEATURE_CITY.into(),
                    vocabulary: vec!["Nantes".into(), "Paris".into()],
                },
                CategoricalFeature {
                    name: FEATURE_COUNTRY.into(),
                    vocabulary: vec!["France".into()],
                },
            ],
            vec![NumericFeature {
                name: FEATURE_CREDIT_LIMIT.into(),
                transform: NumericTransform::SignedLog,
                mean: 10.0,
                std: 2.0,
            }],
            // rows: const, Nantes, Paris, France, credit, credit-missing
            vec![1.0, 0.0, 0.0, 1.0, 0.0, 2.0, 0.5, 0.5, 0.0, 0.0, 0.0, -1.0],
            vec!["103".into()],
            vec![vec![3.0, 0.0]],
        );
        let item_tower = Tower::new(
            vec![],
            vec![],
            vec![0.5, 0.5],
            vec!["S10_1678".into()],
            vec![vec![1.5, 0.5]],
        );
        ModelArtifact {
            format_version: MODEL_FORMAT_VERSION,
            model_version: "v1".into(),
            dim: factors + 1,
            factors,
            user_tower,
            item_tower,
            item_max_norm: 2.5,
            training: metadata(),
        }
    }

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn known_customer_adds_its_id_part_and_unknown_categories_encode_as_zero() {
        let model = artifact();
        let unknown = model.embed_customer(&CustomerFeatures {
            customer_number: Some(999),
            city: Some("Atlantis".into()),
            country: Some("Nowhere".into()),
            credit_limit: None,
        });
        // const row (1, 0) + missing-credit row (0, -1) -> (1, -1) normalised, then the 0.
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert_eq!(unknown, vec![s, -s, 0.0]);
        let known = model.embed_customer(&CustomerFeatures {
            customer_number: Some(103),
            city: Some("Atlantis".into()),
            country: None,
            credit_limit: None,
        });
        // (1, -1) + id part (3, 0) = (4, -1).
        let n = 17f64.sqrt();
        let expected = [(4.0 / n) as f32, (-1.0 / n) as f32, 0.0];
        assert_eq!(known, expected);
        assert!((norm(&known) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn items_are_unit_length_and_cosine_ranks_like_the_raw_dot_product() {
        let model = artifact();
        let item = model.embed_product(&ProductFeatures {
            product_code: Some("S10_1678".into()),
            ..Default::default()
        });
        // raw (2, 1), M 2.5 -> (0.8, 0.4, sqrt(1 - 0.8)).
        assert!((item[0] - 0.8).abs() < 1e-6 && (item[1] - 0.4).abs() < 1e-6);
        assert!((norm(&item) - 1.0).abs() < 1e-6);
        let long = item_embedding(&[30.0, 40.0], 2.5);
        assert!((norm(&long) - 1.0).abs() < 1e-6);
        assert_eq!(long[2], 0.0);
    }

    #[test]
    fn json_round_trips_and_refuses_other_versions_and_bad_shapes() {
        let model = artifact();
        let bytes = model.to_json_vec().unwrap();
        let back = ModelArtifact::from_json_slice(&bytes).unwrap();
        assert_eq!(back, model);
        assert_eq!(
            back.embed_customer(&CustomerFeatures {
                customer_number: Some(103),
                ..Default::default()
            }),
            model.embed_customer(&CustomerFeatures {
                customer_number: Some(103),
                ..Default::default()
            })
        );

        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        value["format_version"] = 2.into();
        let err = ModelArtifact::from_json_slice(value.to_string().as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::UnsupportedFormat {
                    found: 2,
                    expected: 1
                }
            ),
            "{err}"
        );

        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        value["user_tower"]["weights"].as_array_mut().unwrap().pop();
        let err = ModelArtifact::from_json_slice(value.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("user_tower.weights"), "{err}");

        let err = ModelArtifact::from_json_slice(b"{\"format_version\": 1}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field"), "{err}");
    }

    #[test]
    fn pgvector_literals_round_trip_floats() {
        let v = [0.1f32, -0.25, 1e-8];
        let text = pgvector_literal(&v);
        assert_eq!(text, "[0.1,-0.25,0.00000001]");
        let parsed: Vec<f32> = text[1..text.len() - 1]
            .split(',')
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(parsed, v);
    }
}
