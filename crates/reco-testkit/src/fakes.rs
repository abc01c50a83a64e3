//! In-memory fakes of the transform's ports (`reco_transform_lambda::ports`): exact
//! (brute-force) cosine k-NN over a handful of item vectors, and a model store holding
//! embedders by version. They serve the handler's tests, the local Firehose's tests and
//! benchmarks; production uses pgvector and S3.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reco_domain::recommendation::ScoredItem;
use reco_domain::transform::{CustomerEmbedder, KnnAnswer, KnnQuery, QueryRejected};

use reco_transform_lambda::ports::{
    IndexError, IndexVersion, ModelLoadError, ModelStore, NeighbourIndex,
};

/// Exact cosine k-NN over items held in memory.
#[derive(Debug, Default)]
pub struct InMemoryIndex {
    version: Option<IndexVersion>,
    items: Vec<(String, Vec<f32>)>,
    unavailable: AtomicBool,
    knn_calls: AtomicUsize,
}

impl InMemoryIndex {
    /// An index serving `items` as embeddings of `version`.
    pub fn new(version: IndexVersion, items: Vec<(String, Vec<f32>)>) -> Self {
        Self {
            version: Some(version),
            items,
            ..Self::default()
        }
    }

    /// Makes every call fail as an unreachable database would (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Number of `knn_batch` round trips so far.
    pub fn knn_calls(&self) -> usize {
        self.knn_calls.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), IndexError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(IndexError::Unavailable {
                reason: "connection refused (in-memory index set unavailable)".into(),
            });
        }
        Ok(())
    }

    fn nearest(&self, query: &[f32], exclude: &[String], k: usize) -> Vec<ScoredItem> {
        let mut scored: Vec<ScoredItem> = self
            .items
            .iter()
            .filter(|(id, _)| !exclude.contains(id))
            .map(|(id, v)| ScoredItem {
                id: id.clone(),
                score: cosine(query, v),
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        scored.truncate(k);
        scored
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

impl NeighbourIndex for InMemoryIndex {
    async fn active_version(&self) -> Result<Option<IndexVersion>, IndexError> {
        self.check()?;
        Ok(self.version.clone())
    }

    async fn knn_batch(
        &self,
        version: &IndexVersion,
        queries: &[KnnQuery],
        k: usize,
    ) -> Result<Vec<KnnAnswer>, IndexError> {
        self.check()?;
        if self.version.as_ref().map(|v| &v.embedding_version) != Some(&version.embedding_version) {
            return Err(IndexError::VersionGone {
                embedding_version: version.embedding_version.clone(),
            });
        }
        self.knn_calls.fetch_add(1, Ordering::SeqCst);
        let dim = version.dim;
        Ok(queries
            .iter()
            .map(|query| match query {
                KnnQuery::ByVector { vector, exclude } => {
                    // Refused alone, as pgvector refuses a vector of another dimension.
                    if vector.len() != dim {
                        return Err(QueryRejected {
                            reason: format!(
                                "query vector has dimension {}, the embeddings {dim}",
                                vector.len()
                            ),
                        });
                    }
                    Ok(self.nearest(vector, exclude, k))
                }
                KnnQuery::SimilarTo { item_ids, exclude } => {
                    // The session's centroid over the items the index knows; unknown ids
                    // contribute nothing, and a session of only unknown items gets no list.
                    let mut centroid = vec![0.0f32; dim];
                    let mut known = 0;
                    for (id, v) in &self.items {
                        if item_ids.contains(id) {
                            known += 1;
                            centroid.iter_mut().zip(v).for_each(|(c, x)| *c += x);
                        }
                    }
                    if known == 0 {
                        return Ok(Vec::new());
                    }
                    Ok(self.nearest(&centroid, exclude, k))
                }
            })
            .collect())
    }
}

/// Models held in memory by version.
pub struct InMemoryModels<E> {
    models: HashMap<String, Arc<E>>,
    dims: HashMap<String, usize>,
    loads: AtomicUsize,
}

impl<E: CustomerEmbedder> InMemoryModels<E> {
    /// A store of `(model, dim)` pairs, keyed by the model's own version.
    pub fn new(models: impl IntoIterator<Item = (E, usize)>) -> Self {
        let mut by_version = HashMap::new();
        let mut dims = HashMap::new();
        for (model, dim) in models {
            let version = model.model_version().to_owned();
            dims.insert(version.clone(), dim);
            by_version.insert(version, Arc::new(model));
        }
        Self {
            models: by_version,
            dims,
            loads: AtomicUsize::new(0),
        }
    }

    /// Number of loads so far (the handler should load once per container).
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

/// A shared model: the in-memory store hands out clones of one `Arc`.
#[derive(Debug)]
pub struct SharedModel<E> {
    model: Arc<E>,
    dim: usize,
}

impl<E: CustomerEmbedder> CustomerEmbedder for SharedModel<E> {
    fn model_version(&self) -> &str {
        self.model.model_version()
    }
    fn embed_customer(&self, event: &reco_domain::event::ClickEvent) -> Vec<f32> {
        self.model.embed_customer(event)
    }
}

impl<E: CustomerEmbedder + Send + Sync + 'static> ModelStore for InMemoryModels<E> {
    type Model = SharedModel<E>;

    async fn load(&self, version: &str) -> Result<Self::Model, ModelLoadError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let model = self
            .models
            .get(version)
            .ok_or_else(|| ModelLoadError::Fetch {
                version: version.to_owned(),
                location: "memory".to_owned(),
                reason: "no such model".to_owned(),
            })?;
        Ok(SharedModel {
            model: model.clone(),
            dim: self.dims[version],
        })
    }

    fn dim(model: &Self::Model) -> usize {
        model.dim
    }
}
