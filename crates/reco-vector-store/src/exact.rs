//! Exact k-NN over a whole item catalogue held in memory: the same answers as
//! [`VectorStore::knn_batch`] (cosine similarity, exclusions, "similar to these items"
//! centroids), computed by brute force instead of HNSW scans.
//!
//! For a small catalogue this is both exact and far cheaper than pgvector: scoring 400 items
//! costs a few microseconds per query, an HNSW scan at `ef_search` 200 about a millisecond.
//! The catalogue is read once per embedding version from that version's own table
//! ([`VectorStore::item_catalogue`]), so it is exactly what pgvector serves for that version;
//! versions are immutable, so the copy never goes stale, it only gets replaced.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use rayon::prelude::*;
use sqlx::Row;

use crate::knn::{KnnRequest, ScoredItem};
use crate::options::MAX_K;
use crate::schema::{is_embedding_version, item_table};
use crate::{StoreError, VectorStore};

/// Below this many multiply-adds a batch is scored on the calling thread; above it the
/// queries are scored in parallel on rayon's pool (handing work to it costs microseconds).
const PARALLEL_MIN_WORK: usize = 4_000_000;

/// Item embeddings of one version, L2-normalised, row-major, with their ids.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    pub(crate) embedding_version: String,
    pub(crate) dim: usize,
    pub(crate) ids: Vec<String>,
    /// `ids.len() * dim` values; row `r` is item `ids[r]`, unit length.
    pub(crate) unit: Vec<f32>,
    pub(crate) rows: HashMap<String, u32>,
}

impl ExactIndex {
    /// An index over `items` (id, embedding) of `embedding_version`. Items whose embedding has
    /// zero length are left out, as pgvector's cosine HNSW index leaves them out. Errors on
    /// mixed dimensions, non-finite values and duplicate ids.
    pub fn new(
        embedding_version: &str,
        items: impl IntoIterator<Item = (String, Vec<f32>)>,
    ) -> Result<Self, StoreError> {
        let mut index = ExactIndex::empty(embedding_version);
        for (id, vector) in items {
            index.push(id, &vector)?;
        }
        Ok(index)
    }

    fn empty(embedding_version: &str) -> Self {
        ExactIndex {
            embedding_version: embedding_version.to_owned(),
            dim: 0,
            ids: Vec::new(),
            unit: Vec::new(),
            rows: HashMap::new(),
        }
    }

    /// Adds one item (see [`ExactIndex::new`] for what is refused or left out).
    fn push(&mut self, id: String, vector: &[f32]) -> Result<(), StoreError> {
        if self.ids.is_empty() && self.dim == 0 {
            self.dim = vector.len();
        }
        if vector.len() != self.dim || vector.is_empty() {
            return Err(StoreError::BadRequest {
                reason: format!(
                    "item {id:?} has dimension {}, the catalogue {}",
                    vector.len(),
                    self.dim
                ),
            });
        }
        if vector.iter().any(|v| !v.is_finite()) {
            return Err(StoreError::BadRequest {
                reason: format!("item {id:?} has a non-finite value"),
            });
        }
        let norm = norm(vector);
        if norm == 0.0 {
            return Ok(());
        }
        let row = u32::try_from(self.ids.len()).map_err(|_| StoreError::BadRequest {
            reason: "catalogue exceeds 4 billion items".into(),
        })?;
        if self.rows.insert(id.clone(), row).is_some() {
            return Err(StoreError::BadRequest {
                reason: format!("duplicate item id {id:?}"),
            });
        }
        self.ids.push(id);
        self.unit.extend(vector.iter().map(|v| v / norm));
        Ok(())
    }

    /// The embedding version the items belong to.
    pub fn embedding_version(&self) -> &str {
        &self.embedding_version
    }

    /// Number of items searched.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no item is searched.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Embedding dimension (0 for an empty catalogue).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes held by the vectors and ids (for logs and sizing).
    pub fn approximate_bytes(&self) -> usize {
        // Each id is held twice (the row's id and the lookup key): a 24-byte header and its
        // heap bytes each, plus the map slot's row number and control byte.
        self.unit.len() * 4
            + self
                .ids
                .iter()
                .map(|id| 2 * (id.len() + 24) + 5)
                .sum::<usize>()
    }

    pub(crate) fn vector(&self, row: u32) -> &[f32] {
        let start = row as usize * self.dim;
        &self.unit[start..start + self.dim]
    }

    /// The `k` nearest items of every request, in request order, nearest first: the answers
    /// [`VectorStore::knn_batch`] gives for the same version, computed exactly. Ties are broken
    /// by id. A request whose query has zero length (or whose seeds are all unknown) gets an
    /// empty list.
    pub fn knn_batch(
        &self,
        requests: &[KnnRequest],
        k: usize,
    ) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
        let queries = self.queries(requests, k)?;
        let work = queries.len() * self.unit.len();
        if work < PARALLEL_MIN_WORK || queries.len() < 2 {
            let mut scores = Vec::new();
            return Ok(queries
                .iter()
                .map(|q| self.nearest(q, k, &mut scores))
                .collect());
        }
        // In request order; each rayon job reuses one score buffer for its queries.
        Ok(queries
            .par_iter()
            .map_init(Vec::new, |scores, q| self.nearest(q, k, scores))
            .collect())
    }

    /// A request as a unit query vector (or none) and the rows it must not return.
    /// Every request's query (see [`ExactIndex::query`]), after checking `k`: what the exact
    /// and the partitioned searches both start from.
    pub(crate) fn queries(
        &self,
        requests: &[KnnRequest],
        k: usize,
    ) -> Result<Vec<Query>, StoreError> {
        if k == 0 || k > MAX_K {
            return Err(StoreError::BadRequest {
                reason: format!("k = {k} must be within 1..={MAX_K}"),
            });
        }
        requests
            .iter()
            .enumerate()
            .map(|(index, request)| self.query(index, request))
            .collect()
    }

    pub(crate) fn query(&self, index: usize, request: &KnnRequest) -> Result<Query, StoreError> {
        let (vector, mut skip) = match request {
            KnnRequest::ByVector { vector, exclude } => {
                if vector.len() != self.dim {
                    return Err(StoreError::BadRequest {
                        reason: format!(
                            "request {index}: query vector has dimension {}, the items {}",
                            vector.len(),
                            self.dim
                        ),
                    });
                }
                if let Some(bad) = vector.iter().position(|v| !v.is_finite()) {
                    return Err(StoreError::BadRequest {
                        reason: format!("request {index}: element {bad} is not finite"),
                    });
                }
                (vector.clone(), self.rows_of(exclude))
            }
            KnnRequest::SimilarTo { item_ids, exclude } => {
                // The SQL averages the unit embeddings of the known seeds (a seed listed twice
                // counts twice) and never returns a seed.
                let seeds = self.rows_of(item_ids);
                let mut centroid = vec![0.0f32; self.dim];
                for &row in &seeds {
                    for (c, v) in centroid.iter_mut().zip(self.vector(row)) {
                        *c += v;
                    }
                }
                if seeds.is_empty() {
                    return Ok(Query {
                        unit: None,
                        skip: Vec::new(),
                    });
                }
                let mut skip = self.rows_of(exclude);
                skip.extend(seeds);
                (centroid, skip)
            }
        };
        skip.sort_unstable();
        skip.dedup();
        let n = norm(&vector);
        let unit = (n > 0.0).then(|| vector.iter().map(|v| v / n).collect());
        Ok(Query { unit, skip })
    }

    fn rows_of(&self, ids: &[String]) -> Vec<u32> {
        ids.iter()
            .filter_map(|id| self.rows.get(id).copied())
            .collect()
    }

    pub(crate) fn nearest(
        &self,
        query: &Query,
        k: usize,
        scores: &mut Vec<f32>,
    ) -> Vec<ScoredItem> {
        let Some(q) = query.unit.as_deref() else {
            return Vec::new();
        };
        scores.clear();
        scores.extend(self.unit.chunks_exact(self.dim).map(|item| dot(q, item)));
        for &row in &query.skip {
            scores[row as usize] = f32::NEG_INFINITY;
        }
        // Best k (score descending, id ascending), kept sorted; most candidates are rejected
        // by one comparison with the current k-th.
        let mut top: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
        for (row, &score) in scores.iter().enumerate() {
            if score == f32::NEG_INFINITY {
                continue;
            }
            let row = row as u32;
            if top.len() == k {
                let &(last_score, last_row) = &top[k - 1];
                if score < last_score
                    || (score == last_score
                        && self.ids[row as usize] >= self.ids[last_row as usize])
                {
                    continue;
                }
            }
            let at = top.partition_point(|&(s, r)| {
                s > score || (s == score && self.ids[r as usize] < self.ids[row as usize])
            });
            top.insert(at, (score, row));
            top.truncate(k);
        }
        top.into_iter()
            .map(|(score, row)| ScoredItem {
                id: self.ids[row as usize].clone(),
                score: score.clamp(-1.0, 1.0),
            })
            .collect()
    }
}

pub(crate) struct Query {
    /// Unit query vector; `None` when the request cannot be answered (zero length, no seed).
    pub(crate) unit: Option<Vec<f32>>,
    /// Rows never returned, sorted.
    pub(crate) skip: Vec<u32>,
}

#[inline]
fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// Dot product with eight independent accumulators, so the compiler can keep them in SIMD
/// registers (a single running sum is a serial dependency chain). Inlined into the scoring
/// loop: a call per item costs as much as the arithmetic at 32 dimensions.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (a8, a_rest) = a.split_at(a.len() - a.len() % 8);
    let (b8, b_rest) = b.split_at(a8.len());
    for (x, y) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

impl VectorStore {
    /// Every item embedding of `embedding_version`, read from that version's table (not the
    /// view, which a concurrent load may re-point), as an [`ExactIndex`].
    ///
    /// Fails with [`StoreError::NoActiveVersion`] when the version's table is gone (a newer
    /// load replaced it): read the active version again.
    pub async fn item_catalogue(&self, embedding_version: &str) -> Result<ExactIndex, StoreError> {
        if !is_embedding_version(embedding_version) {
            return Err(StoreError::BadRequest {
                reason: format!("{embedding_version:?} is not an embedding version"),
            });
        }
        let sql = format!(
            "SELECT id::text AS id, embedding FROM {} ORDER BY id",
            item_table(embedding_version)
        );
        // Streamed: rows go straight into the index (a 1M-item catalogue is never held twice).
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&self.pool);
        let mut index = ExactIndex::empty(embedding_version);
        while let Some(row) = rows.try_next().await? {
            let vector: pgvector::Vector = row.try_get("embedding")?;
            index.push(row.try_get::<String, _>("id")?, vector.as_slice())?;
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> ExactIndex {
        ExactIndex::new(
            "e20261130000000000000",
            [
                ("a", vec![1.0, 0.0]),
                ("b", vec![0.9, 0.1]),
                ("c", vec![0.0, 1.0]),
                ("d", vec![-1.0, 0.0]),
                ("z", vec![0.0, 0.0]),
                ("e", vec![2.0, 0.0]),
            ]
            .map(|(id, v)| (id.to_owned(), v)),
        )
        .unwrap()
    }

    fn ids(list: &[ScoredItem]) -> Vec<&str> {
        list.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn nearest_by_cosine_with_exclusions_ties_and_centroids() {
        let index = catalogue();
        assert_eq!(index.len(), 5, "the zero vector is not searchable");
        let answers = index
            .knn_batch(
                &[
                    KnnRequest::ByVector {
                        vector: vec![3.0, 0.0],
                        exclude: vec![],
                    },
                    KnnRequest::ByVector {
                        vector: vec![3.0, 0.0],
                        exclude: vec!["a".into(), "unknown".into()],
                    },
                    KnnRequest::SimilarTo {
                        item_ids: vec!["c".into()],
                        exclude: vec!["b".into()],
                    },
                    KnnRequest::SimilarTo {
                        item_ids: vec!["nope".into()],
                        exclude: vec![],
                    },
                    KnnRequest::ByVector {
                        vector: vec![0.0, 0.0],
                        exclude: vec![],
                    },
                ],
                3,
            )
            .unwrap();
        // a and e point the same way: a tie, broken by id.
        assert_eq!(ids(&answers[0]), ["a", "e", "b"]);
        assert!((answers[0][0].score - 1.0).abs() < 1e-6);
        assert!((answers[0][2].score - 0.9 / 0.82f32.sqrt()).abs() < 1e-5);
        assert_eq!(ids(&answers[1]), ["e", "b", "c"]);
        // c itself (a seed) and b (excluded) are never returned.
        // The rest are orthogonal to the centroid: ties, by id.
        assert_eq!(ids(&answers[2]), ["a", "d", "e"]);
        assert!(answers[3].is_empty());
        assert!(answers[4].is_empty());
    }

    #[test]
    fn bad_requests_and_catalogues_are_refused() {
        let index = catalogue();
        let wrong_dim = [KnnRequest::ByVector {
            vector: vec![1.0, 0.0, 0.0],
            exclude: vec![],
        }];
        let err = index.knn_batch(&wrong_dim, 3).unwrap_err().to_string();
        assert!(err.contains("dimension 3"), "{err}");
        assert!(index.knn_batch(&[], 0).is_err());
        let nan = [KnnRequest::ByVector {
            vector: vec![f32::NAN, 0.0],
            exclude: vec![],
        }];
        assert!(!index.knn_batch(&nan, 1).unwrap_err().is_retryable());
        let dup = ExactIndex::new(
            "e20261130000000000000",
            [("a".to_owned(), vec![1.0]), ("a".to_owned(), vec![2.0])],
        );
        assert!(dup.unwrap_err().to_string().contains("duplicate"));
        let mixed = ExactIndex::new(
            "e20261130000000000000",
            [
                ("a".to_owned(), vec![1.0]),
                ("b".to_owned(), vec![2.0, 1.0]),
            ],
        );
        assert!(mixed.unwrap_err().to_string().contains("dimension"));
    }

    #[test]
    fn parallel_scoring_gives_the_serial_answers() {
        let items: Vec<(String, Vec<f32>)> = (0..3000)
            .map(|i| {
                let v = (0..32)
                    .map(|d| ((i * 31 + d * 17) % 97) as f32 - 48.0)
                    .collect();
                (format!("P{i:05}"), v)
            })
            .collect();
        let index = ExactIndex::new("e20261130000000000000", items.clone()).unwrap();
        let requests: Vec<KnnRequest> = (0..200)
            .map(|i| KnnRequest::ByVector {
                vector: items[i * 7].1.clone(),
                exclude: vec![items[i * 7].0.clone()],
            })
            .collect();
        assert!(requests.len() * index.unit.len() >= PARALLEL_MIN_WORK);
        let parallel = index.knn_batch(&requests, 10).unwrap();
        let mut scores = Vec::new();
        for (request, answer) in requests.iter().zip(&parallel) {
            let serial = index.nearest(&index.query(0, request).unwrap(), 10, &mut scores);
            assert_eq!(&serial, answer);
            assert_eq!(answer.len(), 10);
            assert!(answer.windows(2).all(|w| w[0].score >= w[1].score));
        }
    }
}
