//! The neighbour index on PostgreSQL + pgvector, through `reco-vector-store`.

use reco_domain::recommendation::ScoredItem;
use reco_domain::transform::KnnQuery;
use reco_vector_store::{KnnRequest, StoreError, VectorStore};

use crate::ports::{IndexError, IndexVersion, NeighbourIndex};

/// pgvector as a [`NeighbourIndex`]; the store's pool is reused across invocations.
#[derive(Debug, Clone)]
pub struct PgVectorIndex {
    store: VectorStore,
}

impl PgVectorIndex {
    /// Wraps a connected store.
    pub fn new(store: VectorStore) -> Self {
        Self { store }
    }
}

fn index_error(error: StoreError) -> IndexError {
    if error.is_retryable() {
        IndexError::Unavailable {
            reason: error.to_string(),
        }
    } else {
        IndexError::Rejected {
            reason: error.to_string(),
        }
    }
}

impl NeighbourIndex for PgVectorIndex {
    async fn active_version(&self) -> Result<Option<IndexVersion>, IndexError> {
        match self.store.active_version().await {
            Ok(version) => Ok(version.map(|v| IndexVersion {
                model_version: v.model_version,
                embedding_version: v.embedding_version,
                dim: v.dim,
            })),
            Err(StoreError::NoActiveVersion) => Ok(None),
            Err(e) => Err(index_error(e)),
        }
    }

    async fn knn_batch(
        &self,
        queries: &[KnnQuery],
        k: usize,
    ) -> Result<Vec<Vec<ScoredItem>>, IndexError> {
        let requests: Vec<KnnRequest> = queries
            .iter()
            .map(|q| match q {
                KnnQuery::ByVector { vector, exclude } => KnnRequest::ByVector {
                    vector: vector.clone(),
                    exclude: exclude.clone(),
                },
                KnnQuery::SimilarTo { item_ids, exclude } => KnnRequest::SimilarTo {
                    item_ids: item_ids.clone(),
                    exclude: exclude.clone(),
                },
            })
            .collect();
        let answers = self
            .store
            .knn_batch(&requests, k)
            .await
            .map_err(index_error)?;
        Ok(answers
            .into_iter()
            .map(|list| {
                list.into_iter()
                    .map(|item| ScoredItem {
                        id: item.id,
                        score: item.score,
                    })
                    .collect()
            })
            .collect())
    }
}
