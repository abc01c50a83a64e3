//! The neighbour index on PostgreSQL + pgvector, through `reco-vector-store`.
//!
//! Two ways to answer a batch, chosen per embedding version by the catalogue's size:
//! - up to `exact_max_items` items (`RECO_EXACT_KNN_MAX_ITEMS`): the version's item
//!   embeddings are read from pgvector once, when the version becomes active, and every batch
//!   is answered exactly in memory ([`reco_vector_store::ExactIndex`]): no query per batch;
//! - larger catalogues: one batched HNSW query per batch over the version's own table
//!   ([`VectorStore::knn_batch_in_version`]), so the items are those of the model that
//!   embedded the customers even while a load swaps the view.
//!
//! Either way each query is checked first ([`reco_vector_store::validate_request`]): one the
//! database would refuse is answered as refused alone; and a batch the database still refuses
//! for a value is split until the refused queries stand alone ([`crate::isolate`]).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use reco_domain::transform::{KnnAnswer, KnnQuery, QueryRejected};
use reco_vector_store::{
    ActiveVersion, ExactIndex, MAX_K, StoreError, VectorStore, validate_request,
};

use crate::isolate::{Isolated, PartFailure, answer_isolating};
use crate::knn_cache::{Counters, DEFAULT_KNN_CACHE_ITEMS, KnnCacheStats};
use crate::ports::{IndexError, IndexVersion, NeighbourIndex};

/// Default of `RECO_EXACT_KNN_MAX_ITEMS`: catalogues up to this size are searched exactly in
/// memory. `make bench BENCH=streaming` (crossover table, 5,400 queries = one 1 MB batch,
/// 32 dims, 2 cores; three runs) measured exact search at 0.03-0.04x the time of the HNSW
/// batch for 2,000 items, 0.19-0.33x for 20,000 and 0.78-1.13x for 50,000. At 20,000 items
/// the copy holds 2.6 MB and is read in 25-50 ms when a version becomes active.
pub const DEFAULT_EXACT_KNN_MAX_ITEMS: usize = 20_000;

/// pgvector as a [`NeighbourIndex`]; the store's pool is reused across invocations.
#[derive(Debug, Clone)]
pub struct PgVectorIndex {
    store: VectorStore,
    exact_max_items: usize,
    /// The active version's catalogue when it is small enough to search in memory.
    catalogue: Arc<Mutex<Option<Arc<ExactIndex>>>>,
    /// Item vectors the k-NN caches hold at most (0: caches off).
    knn_cache_items: usize,
    /// What the caches did, shared by the clones.
    counters: Arc<Counters>,
}

impl PgVectorIndex {
    /// Wraps a connected store. Catalogues of at most `exact_max_items` items are searched in
    /// memory (0: always query pgvector's HNSW index); larger ones through pgvector with the
    /// k-NN caches on, [`DEFAULT_KNN_CACHE_ITEMS`] item vectors at most
    /// ([`PgVectorIndex::with_knn_cache_items`] sets another size).
    pub fn new(store: VectorStore, exact_max_items: usize) -> Self {
        Self {
            store,
            exact_max_items,
            catalogue: Arc::default(),
            knn_cache_items: DEFAULT_KNN_CACHE_ITEMS,
            counters: Arc::default(),
        }
    }

    /// This index with caches of at most `items` item vectors (`RECO_KNN_CACHE_ITEMS`;
    /// 0: caches off, every query sent as it is).
    pub fn with_knn_cache_items(mut self, items: usize) -> Self {
        self.knn_cache_items = items;
        self
    }

    /// What the k-NN caches did since the index was built or the last
    /// [`PgVectorIndex::reset_cache_stats`].
    pub fn cache_stats(&self) -> KnnCacheStats {
        self.counters.snapshot()
    }

    /// Sets the counters of [`PgVectorIndex::cache_stats`] back to zero (the caches stay).
    pub fn reset_cache_stats(&self) {
        self.counters.reset();
    }

    /// The in-memory catalogue in use, if any (for logs and tests).
    pub fn exact_catalogue(&self) -> Option<Arc<ExactIndex>> {
        self.catalogue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Answers `queries` with pgvector's HNSW index over `embedding_version`'s table, as they
    /// are (unchecked): a statement the database refuses for a value is split until the
    /// refused queries stand alone ([`answer_isolating`]).
    pub async fn knn_in_version(
        &self,
        embedding_version: &str,
        queries: &[KnnQuery],
        k: usize,
    ) -> Result<Isolated, IndexError> {
        answer_isolating(queries, |part| async move {
            Counters::add(&self.counters.scans, part.len());
            self.store
                .knn_batch_in_version(embedding_version, part, k)
                .await
                .map_err(|e| part_failure(e, embedding_version))
        })
        .await
    }

    /// Keeps the in-memory catalogue in step with the version readers see: loads it when a
    /// small version becomes active, drops it for a large one.
    async fn follow(&self, active: &ActiveVersion) -> Result<(), StoreError> {
        let wanted =
            usize::try_from(active.item_rows).is_ok_and(|rows| rows <= self.exact_max_items);
        let current = self.exact_catalogue();
        if !wanted {
            if current.is_some() {
                *self.catalogue.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            return Ok(());
        }
        if current.is_some_and(|c| c.embedding_version() == active.embedding_version) {
            return Ok(());
        }
        let started = Instant::now();
        let catalogue = self.store.item_catalogue(&active.embedding_version).await?;
        tracing::info!(
            embedding_version = %active.embedding_version,
            items = catalogue.len(),
            bytes = catalogue.approximate_bytes(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "item catalogue loaded for exact in-memory search"
        );
        *self.catalogue.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(catalogue));
        Ok(())
    }
}

fn index_error(error: StoreError) -> IndexError {
    match error {
        StoreError::Authentication { .. } => IndexError::Authentication {
            reason: error.to_string(),
        },
        e if e.is_retryable() => IndexError::Unavailable {
            reason: e.to_string(),
        },
        e => IndexError::Rejected {
            reason: e.to_string(),
        },
    }
}

/// How a statement over one version's table failed, for [`answer_isolating`].
fn part_failure(error: StoreError, embedding_version: &str) -> PartFailure {
    match error {
        // A value of some query: which one, the database does not say.
        StoreError::BadRequest { reason } => PartFailure::Refused { reason },
        // The version's table is gone: a newer load dropped it.
        StoreError::NoActiveVersion => PartFailure::Index(IndexError::VersionGone {
            embedding_version: embedding_version.to_owned(),
        }),
        other => PartFailure::Index(index_error(other)),
    }
}

impl NeighbourIndex for PgVectorIndex {
    async fn active_version(&self) -> Result<Option<IndexVersion>, IndexError> {
        // A load may replace the version between reading it and reading its items (its
        // table is then gone): read the version again, a few times at most.
        let mut attempts = 0;
        loop {
            let active = match self.store.active_version().await {
                Ok(Some(active)) => active,
                Ok(None) | Err(StoreError::NoActiveVersion) => return Ok(None),
                Err(e) => return Err(index_error(e)),
            };
            match self.follow(&active).await {
                Ok(()) => {
                    return Ok(Some(IndexVersion {
                        model_version: active.model_version,
                        embedding_version: active.embedding_version,
                        dim: active.dim,
                    }));
                }
                Err(StoreError::NoActiveVersion) if attempts < 3 => attempts += 1,
                Err(e) => return Err(index_error(e)),
            }
        }
    }

    async fn knn_batch(
        &self,
        version: &IndexVersion,
        queries: &[KnnQuery],
        k: usize,
    ) -> Result<Vec<KnnAnswer>, IndexError> {
        if k == 0 || k > MAX_K {
            return Err(IndexError::Rejected {
                reason: format!("k = {k} must be within 1..={MAX_K}"),
            });
        }
        // Queries the database would refuse are answered here, the rest sent.
        let checked: Vec<Result<(), String>> = queries
            .iter()
            .map(|q| validate_request(q, version.dim))
            .collect();
        let valid: Vec<KnnQuery>;
        let to_send = if checked.iter().all(Result::is_ok) {
            queries
        } else {
            valid = queries
                .iter()
                .zip(&checked)
                .filter(|(_, c)| c.is_ok())
                .map(|(q, _)| q.clone())
                .collect();
            &valid
        };
        let embedding_version = version.embedding_version.as_str();
        let sent = match self
            .exact_catalogue()
            .filter(|c| c.embedding_version() == embedding_version)
        {
            // Validated queries of the right dimension: the exact search refuses none.
            Some(catalogue) => catalogue
                .knn_batch(to_send, k)
                .map_err(index_error)?
                .into_iter()
                .map(Ok)
                .collect(),
            None => {
                self.knn_in_version(embedding_version, to_send, k)
                    .await?
                    .answers
            }
        };
        if sent.len() != to_send.len() {
            return Err(IndexError::Rejected {
                reason: format!(
                    "k-NN returned {} answer lists for {} queries",
                    sent.len(),
                    to_send.len()
                ),
            });
        }
        let mut sent = sent.into_iter();
        let answers = checked
            .into_iter()
            .map(|check| match check {
                // As many answers as valid queries, checked above.
                Ok(()) => sent.next().unwrap_or(Ok(Vec::new())),
                Err(reason) => Err(QueryRejected { reason }),
            })
            .collect();
        Ok(answers)
    }

    async fn refresh_credentials(&self) -> Result<bool, IndexError> {
        self.store.refresh_credentials().await.map_err(index_error)
    }
}
