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
//!
//! # Compact binary copy (`model.bin`, layout [`MODEL_BIN_LAYOUT`])
//! The artifact's towers, written next to `model.json` for readers on a cold-start budget (the
//! transform Lambda), parsed without text-to-float conversions. `reco train` writes it
//! without the learned per-id parts ([`ModelArtifact::without_id_parts`]): their size grows
//! with the customers and products (134 MB for a million customers at 32 factors, 1.5 s of a
//! cold start), while the function reads a known customer's stored embedding from the vector
//! database and embeds the others from their features. The layout can hold id parts (a
//! `model.bin` of any artifact reads back equal to it). All integers little-endian:
//! - 8 bytes magic [`MODEL_BIN_MAGIC`], u32 layout version, u32 header length `H`, u64 body
//!   length `B`;
//! - `H` bytes of header: JSON holding everything but the large arrays (`format_version`,
//!   `model_version`, `dim`, `factors`, `item_max_norm`, `training`, and per tower its
//!   `categorical` and `numeric` features and the counts `weights` and `ids`);
//! - `B` bytes of body, the user tower then the item tower, each: its weights (`f32` x count),
//!   its id parts (`f32` x ids x factors, row `i` for `ids[i]`), then its ids (u32 byte length
//!   + UTF-8 each);
//! - a u32 CRC-32 (IEEE) of every byte before it.
//!
//! A file of another length than its header says, with a bad checksum or with inconsistent
//! counts is refused ([`ModelError::Binary`]) before anything of it is used.

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
    /// The bytes are not a complete, intact `model.bin`.
    #[error(
        "model.bin is unusable: {what}; publish the version again (`reco train`) or remove model.bin so readers take model.json"
    )]
    Binary {
        /// What is wrong: truncated, bad checksum, unknown layout, counts that disagree.
        what: String,
    },
}

/// First bytes of a `model.bin`.
pub const MODEL_BIN_MAGIC: &[u8; 8] = b"RECOMODL";
/// Version of `model.bin`'s binary layout (the artifact inside keeps its
/// [`MODEL_FORMAT_VERSION`]); bumped on any incompatible change.
pub const MODEL_BIN_LAYOUT: u32 = 1;
/// Bytes before `model.bin`'s header: magic, layout, header length, body length.
const BIN_PREFIX: usize = 8 + 4 + 4 + 8;

/// `model.bin`'s header: the artifact without its large arrays.
#[derive(Serialize, Deserialize)]
struct BinHeader {
    format_version: u32,
    model_version: String,
    dim: usize,
    factors: usize,
    item_max_norm: f64,
    training: TrainingMetadata,
    user_tower: BinTowerHeader,
    item_tower: BinTowerHeader,
}

/// A tower in `model.bin`'s header: its features and the counts of what the body holds.
#[derive(Serialize, Deserialize)]
struct BinTowerHeader {
    categorical: Vec<CategoricalFeature>,
    numeric: Vec<NumericFeature>,
    /// Number of weights (`f32`).
    weights: usize,
    /// Number of ids (each with `factors` id-part values).
    ids: usize,
}

/// Reads `model.bin`'s body in order, refusing to read past its end.
struct BinReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> BinReader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(ModelError::Binary {
                what: format!("the body ends at byte {} inside {what}", self.bytes.len()),
            });
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn f32s(&mut self, n: usize, what: &str) -> Result<Vec<f32>, ModelError> {
        let len = n.checked_mul(4).ok_or_else(|| ModelError::Binary {
            what: format!("{what} count {n} is too large"),
        })?;
        Ok(self
            .take(len, what)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn tower(
        &mut self,
        name: &str,
        header: BinTowerHeader,
        factors: usize,
    ) -> Result<Tower, ModelError> {
        let weights = self.f32s(header.weights, &format!("{name}.weights"))?;
        let flat = self.f32s(
            header.ids.saturating_mul(factors),
            &format!("{name}.id_parts"),
        )?;
        let id_parts: Vec<Vec<f32>> = flat.chunks_exact(factors).map(<[f32]>::to_vec).collect();
        let mut ids = Vec::with_capacity(header.ids.min(self.bytes.len() / 4));
        for i in 0..header.ids {
            let what = format!("{name}.ids[{i}]");
            let len = self.u32(&what)? as usize;
            let text =
                std::str::from_utf8(self.take(len, &what)?).map_err(|e| ModelError::Binary {
                    what: format!("{what} is not UTF-8: {e}"),
                })?;
            ids.push(text.to_owned());
        }
        Ok(Tower::new(
            header.categorical,
            header.numeric,
            weights,
            ids,
            id_parts,
        ))
    }
}

/// Appends a tower's body to `out`.
fn write_tower_body(out: &mut Vec<u8>, tower: &Tower) {
    out.extend(tower.weights.iter().flat_map(|w| w.to_le_bytes()));
    out.extend(
        tower
            .id_parts
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes()),
    );
    for id in &tower.ids {
        let len = u32::try_from(id.len()).expect("an id shorter than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(id.as_bytes());
    }
}

/// CRC-32 (IEEE, as zlib's `crc32`) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
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

    /// Serialises the artifact (after checking it) to its compact binary copy, `model.bin`
    /// (layout in the module docs).
    pub fn to_bin_vec(&self) -> Result<Vec<u8>, ModelError> {
        self.validate()?;
        let tower_header = |t: &Tower| BinTowerHeader {
            categorical: t.categorical.clone(),
            numeric: t.numeric.clone(),
            weights: t.weights.len(),
            ids: t.ids.len(),
        };
        let header = serde_json::to_vec(&BinHeader {
            format_version: self.format_version,
            model_version: self.model_version.clone(),
            dim: self.dim,
            factors: self.factors,
            item_max_norm: self.item_max_norm,
            training: self.training.clone(),
            user_tower: tower_header(&self.user_tower),
            item_tower: tower_header(&self.item_tower),
        })?;
        let values = self.user_tower.weights.len()
            + self.item_tower.weights.len()
            + (self.user_tower.ids.len() + self.item_tower.ids.len()) * self.factors;
        let mut body = Vec::with_capacity(
            values * 4 + 16 * (self.user_tower.ids.len() + self.item_tower.ids.len()),
        );
        write_tower_body(&mut body, &self.user_tower);
        write_tower_body(&mut body, &self.item_tower);
        let mut out = Vec::with_capacity(BIN_PREFIX + header.len() + body.len() + 4);
        out.extend_from_slice(MODEL_BIN_MAGIC);
        out.extend_from_slice(&MODEL_BIN_LAYOUT.to_le_bytes());
        let header_len = u32::try_from(header.len()).map_err(|_| ModelError::Inconsistent {
            what: "the model's features do not fit model.bin's header (4 GiB)".into(),
        })?;
        out.extend_from_slice(&header_len.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&body);
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Parses and checks a `model.bin`: refuses a truncated or corrupted file (length and
    /// checksum), an unknown layout or `format_version`, and inconsistent shapes, as
    /// [`ModelArtifact::from_json_slice`] does for `model.json`.
    pub fn from_bin_slice(bytes: &[u8]) -> Result<Self, ModelError> {
        let bad = |what: String| ModelError::Binary { what };
        if bytes.len() < BIN_PREFIX + 4 || &bytes[..8] != MODEL_BIN_MAGIC {
            return Err(bad(format!(
                "not a model.bin ({} bytes, no {:?} magic at its start)",
                bytes.len(),
                std::str::from_utf8(MODEL_BIN_MAGIC).unwrap_or_default()
            )));
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let layout = u32_at(8);
        if layout != MODEL_BIN_LAYOUT {
            return Err(bad(format!(
                "binary layout {layout}; this build reads only {MODEL_BIN_LAYOUT}"
            )));
        }
        let header_len = u32_at(12) as u64;
        let mut body_len = [0u8; 8];
        body_len.copy_from_slice(&bytes[16..24]);
        let body_len = u64::from_le_bytes(body_len);
        let expected = (BIN_PREFIX as u64 + 4)
            .checked_add(header_len)
            .and_then(|n| n.checked_add(body_len));
        if expected != Some(bytes.len() as u64) {
            return Err(bad(format!(
                "{} bytes where its header announces {} (truncated or padded)",
                bytes.len(),
                expected.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string())
            )));
        }
        let (content, stored) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
        let computed = crc32(content);
        if stored != computed {
            return Err(bad(format!(
                "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupted"
            )));
        }
        let header_end = BIN_PREFIX + header_len as usize;
        let header: BinHeader = serde_json::from_slice(&content[BIN_PREFIX..header_end])?;
        if header.format_version != MODEL_FORMAT_VERSION {
            return Err(ModelError::UnsupportedFormat {
                found: header.format_version,
                expected: MODEL_FORMAT_VERSION,
            });
        }
        let factors = header.factors;
        if factors == 0 || header.dim != factors + 1 {
            return Err(ModelError::Inconsistent {
                what: format!(
                    "dim {} must be factors {factors} + 1 and at least 2",
                    header.dim
                ),
            });
        }
        let mut body = BinReader {
            bytes: &content[header_end..],
            at: 0,
        };
        let user_tower = body.tower("user_tower", header.user_tower, factors)?;
        let item_tower = body.tower("item_tower", header.item_tower, factors)?;
        if body.at != body.bytes.len() {
            return Err(bad(format!(
                "{} bytes of body left after the item tower's ids",
                body.bytes.len() - body.at
            )));
        }
        let artifact = Self {
            format_version: header.format_version,
            model_version: header.model_version,
            dim: header.dim,
            factors,
            user_tower,
            item_tower,
            item_max_norm: header.item_max_norm,
            training: header.training,
        };
        artifact.validate()?;
        Ok(artifact)
    }

    /// This artifact without the learned per-id parts of either tower (features, weights
    /// and norms only): what a reader that takes known ids' embeddings from elsewhere needs
    /// (`model.bin`; the transform reads known customers' vectors from the vector database).
    /// Embeds every customer and product as the full artifact embeds one it does not know.
    pub fn without_id_parts(&self) -> Self {
        let towers_only = |t: &Tower| {
            Tower::new(
                t.categorical.clone(),
                t.numeric.clone(),
                t.weights.clone(),
                Vec::new(),
                Vec::new(),
            )
        };
        Self {
            format_version: self.format_version,
            model_version: self.model_version.clone(),
            dim: self.dim,
            factors: self.factors,
            user_tower: towers_only(&self.user_tower),
            item_tower: towers_only(&self.item_tower),
            item_max_norm: self.item_max_norm,
            training: self.training.clone(),
        }
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

    /// Rewrites `bin`'s checksum after an edit, so that only the edit is refused.
    fn reseal(bin: &mut [u8]) {
        let end = bin.len() - 4;
        let crc = crc32(&bin[..end]);
        bin[end..].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn bin_round_trips_and_gives_the_embeddings_and_scores_of_json() {
        let model = artifact();
        let bin = model.to_bin_vec().unwrap();
        let from_bin = ModelArtifact::from_bin_slice(&bin).unwrap();
        let from_json = ModelArtifact::from_json_slice(&model.to_json_vec().unwrap()).unwrap();
        assert_eq!(from_bin, model);
        assert_eq!(from_bin, from_json);
        for customer in [
            CustomerFeatures {
                customer_number: Some(103),
                city: Some("Paris".into()),
                country: Some("France".into()),
                credit_limit: Some(21_000.0),
            },
            CustomerFeatures {
                customer_number: Some(999),
                credit_limit: Some(-5.0),
                ..Default::default()
            },
        ] {
            assert_eq!(
                from_bin.embed_customer(&customer),
                from_json.embed_customer(&customer)
            );
            assert!(from_bin.knows_customer(103) && !from_bin.knows_customer(999));
        }
        let product = ProductFeatures {
            product_code: Some("S10_1678".into()),
            ..Default::default()
        };
        assert_eq!(
            from_bin.embed_product(&product),
            from_json.embed_product(&product)
        );
        // Every value survives bit for bit (f32 little-endian), so scores are equal too.
        assert_eq!(from_bin.user_tower.weights, model.user_tower.weights);
        assert_eq!(from_bin.item_tower.id_parts, model.item_tower.id_parts);
    }

    #[test]
    fn bin_refuses_truncated_corrupted_and_foreign_files() {
        let bin = artifact().to_bin_vec().unwrap();
        let refused = |bytes: &[u8]| match ModelArtifact::from_bin_slice(bytes) {
            Err(e @ ModelError::Binary { .. }) => e.to_string(),
            other => panic!("not refused as a bad model.bin: {other:?}"),
        };
        let err = refused(&bin[..bin.len() - 10]);
        assert!(err.contains("truncated"), "{err}");
        assert!(err.contains("publish the version again"), "{err}");
        let err = refused(&bin[..5]);
        assert!(err.contains("not a model.bin"), "{err}");
        let mut padded = bin.clone();
        padded.push(0);
        assert!(refused(&padded).contains("truncated or padded"));
        // One flipped bit in the body.
        let mut flipped = bin.clone();
        let middle = flipped.len() - 40;
        flipped[middle] ^= 0x10;
        let err = refused(&flipped);
        assert!(err.contains("checksum mismatch"), "{err}");
        let err = refused(b"{\"format_version\": 1, \"model_version\": \"v1\"} plus more text");
        assert!(err.contains("not a model.bin"), "{err}");
        // Another layout, correctly sealed.
        let mut other = bin.clone();
        other[8..12].copy_from_slice(&2u32.to_le_bytes());
        reseal(&mut other);
        let err = refused(&other);
        assert!(err.contains("binary layout 2"), "{err}");
        // Counts that disagree with the body: one id more than the body holds.
        let header_len = u32::from_le_bytes(bin[12..16].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bin[BIN_PREFIX..BIN_PREFIX + header_len]).unwrap();
        let edited = header.replacen("\"ids\":1}", "\"ids\":2}", 1);
        assert_ne!(edited, header);
        let mut lying = bin[..BIN_PREFIX].to_vec();
        lying.extend_from_slice(edited.as_bytes());
        lying.extend_from_slice(&bin[BIN_PREFIX + header_len..]);
        reseal(&mut lying);
        let err = refused(&lying);
        assert!(
            err.contains("inside item_tower") || err.contains("inside user_tower"),
            "{err}"
        );
    }

    #[test]
    fn bin_refuses_another_format_version_and_bad_shapes_like_json() {
        // `to_bin_vec` refuses such models: edit a valid file's header (and reseal it).
        let bin = artifact().to_bin_vec().unwrap();
        let header_len = u32::from_le_bytes(bin[12..16].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bin[BIN_PREFIX..BIN_PREFIX + header_len]).unwrap();
        let rewrite = |from: &str, to: &str| {
            let edited = header.replacen(from, to, 1);
            assert_ne!(edited, header, "{from} not in the header");
            let mut out = bin[..BIN_PREFIX].to_vec();
            out[12..16].copy_from_slice(&(edited.len() as u32).to_le_bytes());
            out.extend_from_slice(edited.as_bytes());
            out.extend_from_slice(&bin[BIN_PREFIX + header_len..]);
            reseal(&mut out);
            ModelArtifact::from_bin_slice(&out).unwrap_err()
        };
        let err = rewrite("\"format_version\":1", "\"format_version\":2");
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
        let err = rewrite("\"item_max_norm\":2.5", "\"item_max_norm\":-1.0").to_string();
        assert!(err.contains("item_max_norm"), "{err}");
        let err = rewrite("\"dim\":3", "\"dim\":4").to_string();
        assert!(err.contains("dim 4"), "{err}");
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
