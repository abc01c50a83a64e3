//! Caches of the pgvector k-NN path, so that a batch sends HNSW scans only for what earlier
//! batches (or earlier queries of the same batch) have not already answered.
//!
//! Counters of what the caches did: [`KnnCacheStats`].

use std::sync::atomic::{AtomicU64, Ordering};

/// Default of `RECO_KNN_CACHE_ITEMS`: item vectors the caches hold at most.
pub const DEFAULT_KNN_CACHE_ITEMS: usize = 250_000;

/// What the k-NN caches of a [`crate::pg_index::PgVectorIndex`] did since it was built (or
/// since [`crate::pg_index::PgVectorIndex::reset_cache_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KnnCacheStats {
    /// Customer (`ByVector`) queries answered from a cached list.
    pub customer_hits: u64,
    /// Customer queries whose list was not cached (or too short once their exclusions went).
    pub customer_misses: u64,
    /// Session (`SimilarTo`) queries answered by merging cached neighbour lists.
    pub similar_merged: u64,
    /// Session queries sent to PostgreSQL as they are (the merge could not prove its answer).
    pub similar_fallbacks: u64,
    /// Seed items whose neighbour list was cached.
    pub item_hits: u64,
    /// Seed items whose neighbour list was fetched.
    pub item_misses: u64,
    /// HNSW sub-queries actually sent to PostgreSQL.
    pub scans: u64,
}

/// The counters behind [`KnnCacheStats`], shared by the clones of an index.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) customer_hits: AtomicU64,
    pub(crate) customer_misses: AtomicU64,
    pub(crate) similar_merged: AtomicU64,
    pub(crate) similar_fallbacks: AtomicU64,
    pub(crate) item_hits: AtomicU64,
    pub(crate) item_misses: AtomicU64,
    pub(crate) scans: AtomicU64,
}

impl Counters {
    fn all(&self) -> [&AtomicU64; 7] {
        [
            &self.customer_hits,
            &self.customer_misses,
            &self.similar_merged,
            &self.similar_fallbacks,
            &self.item_hits,
            &self.item_misses,
            &self.scans,
        ]
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> KnnCacheStats {
        let [ch, cm, sm, sf, ih, im, sc] = self.all().map(|c| c.load(Ordering::Relaxed));
        KnnCacheStats {
            customer_hits: ch,
            customer_misses: cm,
            similar_merged: sm,
            similar_fallbacks: sf,
            item_hits: ih,
            item_misses: im,
            scans: sc,
        }
    }

    pub(crate) fn reset(&self) {
        for counter in self.all() {
            counter.store(0, Ordering::Relaxed);
        }
    }
}
