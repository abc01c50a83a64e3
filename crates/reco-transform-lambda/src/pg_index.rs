//! The neighbour index on PostgreSQL + pgvector, through `reco-vector-store`.
//!
//! Two ways to answer a batch, chosen per embedding version by the catalogue's size:
//! - up to `exact_max_items` items (`RECO_EXACT_KNN_MAX_ITEMS`): the version's item
//!   embeddings are read from pgvector once, when the version becomes active, and every batch
//!   is answered exactly in memory ([`reco_vector_store::ExactIndex`]): no query per batch;
//! - larger catalogues: one batched HNSW query per batch over the version's own table
//!   ([`VectorStore::knn_batch_in_version`]), so the items are those of the model that
//!   embedded the customers even while a load swaps the view. With `RECO_KNN_CACHE_ITEMS`
//!   above 0 (the default) the batch first goes through the k-NN caches
//!   ([`crate::knn_cache`]): identical queries asked once, customer lists, session answers
//!   merged from per-item neighbour lists with a certificate, answers of unchanged sessions;
//!   only what they cannot answer is sent. Like the in-memory copy, a batch the caches answer
//!   whole reads no table, so it is answered (and stamped) with the version it was asked for
//!   even if a load replaced it since the handler last read the active version.
//! - larger catalogues up to `RECO_MEMORY_INDEX_MAX_MB`, once their replica is ready: the
//!   version's items are read in the background when it becomes active, partitioned into
//!   k-means lists and searched in memory, each query probing as many lists as the recall
//!   target needs ([`crate::replica`]); until then (or if the build fails) the HNSW path above.
//!
//! Known customers' vectors come from the version's user table too (the function's model holds
//! the towers only): one primary-key read per batch for the customers not in the customer
//! vector cache ([`crate::customer_vectors`]).
//!
//! Either way each query is checked first ([`reco_vector_store::validate_request`]): one the
//! database would refuse is answered as refused alone; and a batch the database still refuses
//! for a value is split until the refused queries stand alone ([`crate::isolate`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use reco_domain::transform::{KnnAnswer, KnnQuery, QueryRejected};
use reco_vector_store::{
    ActiveVersion, ExactIndex, MAX_K, StoreError, VectorStore, validate_request,
};

use crate::customer_vectors::{
    CustomerVectorCache, CustomerVectorStats, DEFAULT_CUSTOMER_VECTOR_CACHE,
};
use crate::isolate::{Isolated, PartFailure, answer_isolating};
use crate::knn_cache::{
    CUSTOMER_MARGIN, Counters, CustomerList, DEFAULT_KNN_CACHE_ITEMS, KnnCache, KnnCacheStats,
    NEIGHBOURS_PER_ITEM, NeighbourList, QueryKey, SeedItem, merge_similar, unit, vector_key,
};
use crate::ports::{IndexError, IndexVersion, NeighbourIndex};
use crate::replica::{DEFAULT_KNN_RECALL_TARGET, ReplicaSlot, ReplicaStats};

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
    /// The k-NN caches of the pgvector path, shared by the clones.
    cache: Arc<Mutex<KnnCache>>,
    /// Item vectors the k-NN caches hold at most (0: caches off).
    knn_cache_items: usize,
    /// What the caches did, shared by the clones.
    counters: Arc<Counters>,
    /// The in-memory partitioned replica of the active large version, shared by the clones.
    replica: ReplicaSlot,
    /// The embedding version the last active-version read found: only its queries go
    /// through the k-NN caches (an experiment's other version is asked directly, so that
    /// the caches are not emptied twice a batch).
    active_embedding: Arc<Mutex<Option<String>>>,
    /// Known customers' stored vectors, shared by the clones.
    customers: Arc<Mutex<CustomerVectorCache>>,
}

impl PgVectorIndex {
    /// Wraps a connected store. Catalogues of at most `exact_max_items` items are searched in
    /// memory (0: always query pgvector's HNSW index); larger ones through pgvector with the
    /// k-NN caches on, [`DEFAULT_KNN_CACHE_ITEMS`] item vectors at most
    /// ([`PgVectorIndex::with_knn_cache_items`] sets another size), and no in-memory replica
    /// ([`PgVectorIndex::with_memory_index`] turns it on; the Lambda's default is
    /// [`crate::replica::DEFAULT_MEMORY_INDEX_MAX_MB`]).
    pub fn new(store: VectorStore, exact_max_items: usize) -> Self {
        Self {
            store,
            exact_max_items,
            catalogue: Arc::default(),
            cache: Arc::new(Mutex::new(KnnCache::new(DEFAULT_KNN_CACHE_ITEMS))),
            knn_cache_items: DEFAULT_KNN_CACHE_ITEMS,
            counters: Arc::default(),
            replica: ReplicaSlot::new(0, DEFAULT_KNN_RECALL_TARGET),
            active_embedding: Arc::default(),
            customers: Arc::new(Mutex::new(CustomerVectorCache::new(
                DEFAULT_CUSTOMER_VECTOR_CACHE,
            ))),
        }
    }

    /// This index keeping at most `customers` known customers' stored vectors per version
    /// (`RECO_CUSTOMER_VECTOR_CACHE`; 0: every batch reads its customers).
    pub fn with_customer_vector_cache(mut self, customers: usize) -> Self {
        self.customers = Arc::new(Mutex::new(CustomerVectorCache::new(customers)));
        self
    }

    /// What the customer vector cache did, and how many customers it holds now.
    pub fn customer_vector_stats(&self) -> (CustomerVectorStats, usize) {
        let cache = self.customers.lock().unwrap_or_else(|p| p.into_inner());
        (cache.stats(), cache.len())
    }

    /// Whether `embedding_version`'s queries use the k-NN caches: the active version's (or
    /// any before the active version was read).
    fn caches_version(&self, embedding_version: &str) -> bool {
        self.active_embedding
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            .is_none_or(|active| active == embedding_version)
    }

    /// This index with in-memory replicas of large catalogues of at most `max_mb` MiB
    /// (`RECO_MEMORY_INDEX_MAX_MB`; 0: never, the HNSW path serves), probing as many lists
    /// as recall@k `recall_target` needs (`RECO_KNN_RECALL_TARGET`).
    pub fn with_memory_index(mut self, max_mb: usize, recall_target: f64) -> Self {
        self.replica = ReplicaSlot::new(max_mb, recall_target);
        self
    }

    /// The replica slot (ready replica, build in progress, failure), for logs and tests.
    pub fn replica(&self) -> &ReplicaSlot {
        &self.replica
    }

    /// The ready replica's figures (items, lists, nprobe, build times, recalls), if any.
    pub fn replica_stats(&self) -> Option<ReplicaStats> {
        self.replica.stats()
    }

    /// This index with caches of at most `items` item vectors (`RECO_KNN_CACHE_ITEMS`;
    /// 0: caches off, every query sent as it is).
    pub fn with_knn_cache_items(mut self, items: usize) -> Self {
        self.knn_cache_items = items;
        self.cache = Arc::new(Mutex::new(KnnCache::new(items)));
        self
    }

    /// What the k-NN caches did since the index was built or the last
    /// [`PgVectorIndex::reset_cache_stats`].
    pub fn cache_stats(&self) -> KnnCacheStats {
        self.counters.snapshot()
    }

    /// Entries the k-NN caches hold now: (customer lists, seed items, item vectors).
    pub fn cache_entries(&self) -> (usize, usize, usize) {
        self.cache().sizes()
    }

    /// Approximate heap bytes the k-NN caches hold now.
    pub fn cache_bytes(&self) -> usize {
        self.cache().approximate_bytes()
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

    fn cache(&self) -> MutexGuard<'_, KnnCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers valid `queries` over `embedding_version`'s table through the caches
    /// ([`crate::knn_cache`]): identical queries are asked once; a customer query is answered
    /// from the list of its vector without exclusions when `k` items remain once they go; a
    /// session query from its seeds' neighbour lists when the merge is certified. Lists
    /// missing from the cache are fetched first (one round trip: customer lists and
    /// neighbour lists at once); whatever the caches cannot answer is sent as it is
    /// ([`PgVectorIndex::knn_in_version`]: a refused query fails alone).
    async fn knn_cached(
        &self,
        embedding_version: &str,
        queries: &[KnnQuery],
        k: usize,
    ) -> Result<Vec<KnnAnswer>, IndexError> {
        let fetch_k = (k + CUSTOMER_MARGIN).min(MAX_K);
        let m = NEIGHBOURS_PER_ITEM.max(fetch_k).min(MAX_K);
        let counters = &self.counters;

        // What the caches hold for this batch, and what to fetch.
        let mut customers: HashMap<Box<[u32]>, Arc<CustomerList>> = HashMap::new();
        let mut seeds: HashMap<String, Arc<SeedItem>> = HashMap::new();
        let mut fetch_customers: Vec<(Box<[u32]>, Vec<f32>)> = Vec::new();
        let mut fetch_seeds: Vec<String> = Vec::new();
        let (mut customer_cached, mut seen_keys) = (HashSet::new(), HashSet::new());
        let mut asked: HashSet<&str> = HashSet::new();
        {
            let mut cache = self.cache();
            cache.follow(embedding_version);
            for query in queries {
                match query {
                    KnnQuery::ByVector { vector, .. } => {
                        let key = vector_key(vector);
                        if !seen_keys.insert(key.clone()) {
                            continue;
                        }
                        match cache.customer(&key) {
                            Some(list) => {
                                customer_cached.insert(key.clone());
                                customers.insert(key, list);
                            }
                            None => fetch_customers.push((key, vector.clone())),
                        }
                    }
                    KnnQuery::SimilarTo { item_ids, .. } => {
                        for id in item_ids {
                            if seeds.contains_key(id) || !asked.insert(id.as_str()) {
                                continue;
                            }
                            match cache.seed(id) {
                                Some(seed) => {
                                    seeds.insert(id.clone(), seed);
                                }
                                None => fetch_seeds.push(id.clone()),
                            }
                        }
                    }
                }
            }
        }
        Counters::add(&counters.item_hits, seeds.len());
        Counters::add(&counters.item_misses, fetch_seeds.len());

        // Fetch the missing lists at once; a refused value leaves its queries to the plain path.
        Counters::add(&counters.scans, fetch_customers.len() + fetch_seeds.len());
        let customer_requests: Vec<KnnQuery> = fetch_customers
            .iter()
            .map(|(_, vector)| KnnQuery::ByVector {
                vector: vector.clone(),
                exclude: Vec::new(),
            })
            .collect();
        let (customer_lists, seed_lists) = tokio::join!(
            async {
                if customer_requests.is_empty() {
                    return Ok(Vec::new());
                }
                self.store
                    .knn_batch_in_version(embedding_version, &customer_requests, fetch_k)
                    .await
            },
            async {
                if fetch_seeds.is_empty() {
                    return Ok(Vec::new());
                }
                self.store
                    .item_neighbours_in_version(embedding_version, &fetch_seeds, m)
                    .await
            },
        );
        let customer_lists = fetched(customer_lists, embedding_version)?;
        let seed_lists = fetched(seed_lists, embedding_version)?;
        {
            let mut cache = self.cache();
            // A concurrent batch of another version may have switched the caches.
            let keep = cache.embedding_version() == embedding_version;
            for ((key, _), items) in fetch_customers
                .into_iter()
                .zip(customer_lists.unwrap_or_default())
            {
                let list = Arc::new(CustomerList {
                    complete: items.len() < fetch_k,
                    items,
                });
                if keep {
                    cache.insert_customer(key.clone(), list.clone());
                }
                customers.insert(key, list);
            }
            for (id, found) in fetch_seeds.into_iter().zip(seed_lists.unwrap_or_default()) {
                let seed = match found {
                    None => SeedItem::Unknown,
                    Some(found) => {
                        if keep {
                            cache.reserve_seed(found.neighbours.len());
                        }
                        let unit_seed: Arc<[f32]> = Arc::from(unit(&found.embedding));
                        let complete = found.neighbours.len() < m;
                        let neighbours: Vec<(Arc<str>, Arc<[f32]>)> = found
                            .neighbours
                            .into_iter()
                            .map(|n| {
                                let v = unit(&n.embedding);
                                if keep {
                                    cache.intern(&n.id, v)
                                } else {
                                    (Arc::from(n.id.as_str()), Arc::from(v))
                                }
                            })
                            .collect();
                        let outside_bound = (!complete).then(|| {
                            neighbours
                                .iter()
                                .map(|(_, v)| {
                                    v.iter()
                                        .zip(unit_seed.iter())
                                        .map(|(a, b)| a * b)
                                        .sum::<f32>()
                                })
                                .fold(f32::INFINITY, f32::min)
                        });
                        SeedItem::Known(NeighbourList {
                            unit: unit_seed,
                            neighbours,
                            outside_bound,
                        })
                    }
                };
                let seed = Arc::new(seed);
                if keep {
                    cache.insert_seed(Arc::from(id.as_str()), seed.clone());
                }
                seeds.insert(id, seed);
            }
        }

        // Answer from the lists, then from the answers of identical queries sent before; the
        // rest goes to PostgreSQL, each distinct query once.
        let mut answers: Vec<Option<KnnAnswer>> = vec![None; queries.len()];
        let mut to_send: Vec<KnnQuery> = Vec::new();
        let mut sent_index: HashMap<QueryKey, usize> = HashMap::new();
        let mut sent_for: Vec<(usize, usize)> = Vec::new();
        {
            let cache = self.cache();
            let keep = cache.embedding_version() == embedding_version;
            for (at, query) in queries.iter().enumerate() {
                let answer = match query {
                    KnnQuery::ByVector { vector, exclude } => {
                        let key = vector_key(vector);
                        let answer = customers.get(&key).and_then(|list| list.answer(exclude, k));
                        let counter = if answer.is_some() && customer_cached.contains(&key) {
                            &counters.customer_hits
                        } else {
                            &counters.customer_misses
                        };
                        Counters::add(counter, 1);
                        answer
                    }
                    KnnQuery::SimilarTo { item_ids, exclude } => {
                        let mut lists: Vec<&NeighbourList> = Vec::with_capacity(item_ids.len());
                        let mut all_present = true;
                        for id in item_ids {
                            match seeds.get(id).map(|s| &**s) {
                                Some(SeedItem::Known(list)) => lists.push(list),
                                Some(SeedItem::Unknown) => {}
                                None => all_present = false,
                            }
                        }
                        let skip: HashSet<&str> =
                            item_ids.iter().chain(exclude).map(String::as_str).collect();
                        let merged = if all_present {
                            merge_similar(&lists, &skip, k)
                                .inspect_err(|refused| {
                                    tracing::trace!(?refused, "session query sent")
                                })
                                .ok()
                        } else {
                            None
                        };
                        let counter = if merged.is_some() {
                            &counters.similar_merged
                        } else {
                            &counters.similar_fallbacks
                        };
                        Counters::add(counter, 1);
                        merged
                    }
                };
                if let Some(list) = answer {
                    answers[at] = Some(Ok(list));
                    continue;
                }
                let key = QueryKey::of(query, k);
                if let Some(list) = keep.then(|| cache.answer(&key)).flatten() {
                    Counters::add(&counters.answer_hits, 1);
                    answers[at] = Some(Ok(list.to_vec()));
                    continue;
                }
                let index = *sent_index.entry(key).or_insert_with(|| {
                    to_send.push(query.clone());
                    to_send.len() - 1
                });
                sent_for.push((at, index));
            }
        }
        if !to_send.is_empty() {
            let sent = self.knn_in_version(embedding_version, &to_send, k).await?;
            if sent.answers.len() != to_send.len() {
                return Err(IndexError::Rejected {
                    reason: format!(
                        "k-NN returned {} answer lists for {} queries",
                        sent.answers.len(),
                        to_send.len()
                    ),
                });
            }
            for (at, index) in sent_for {
                answers[at] = Some(sent.answers[index].clone());
            }
            let mut cache = self.cache();
            if cache.embedding_version() == embedding_version {
                for (key, index) in sent_index {
                    if let Ok(list) = &sent.answers[index] {
                        cache.insert_answer(key, Arc::from(list.as_slice()));
                    }
                }
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.unwrap_or(Ok(Vec::new())))
            .collect())
    }

    /// Keeps the in-memory catalogue in step with the version readers see: loads it when a
    /// small version becomes active, drops it for a large one.
    async fn follow(&self, active: &ActiveVersion) -> Result<(), StoreError> {
        let wanted =
            usize::try_from(active.item_rows).is_ok_and(|rows| rows <= self.exact_max_items);
        // Never waits: a large version's replica is built in the background.
        self.replica.follow(&self.store, active, !wanted);
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

/// The lists a cache fetch returned; `None` when the database refused a value in it (the
/// queries that needed them are then sent as they are, and isolated).
fn fetched<T>(
    result: Result<Vec<T>, StoreError>,
    embedding_version: &str,
) -> Result<Option<Vec<T>>, IndexError> {
    match result {
        Ok(lists) => Ok(Some(lists)),
        Err(e) => match part_failure(e, embedding_version) {
            PartFailure::Refused { .. } => Ok(None),
            PartFailure::Index(error) => Err(error),
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
            // The version and, when small and not held yet, its items: one round trip.
            let held = self
                .exact_catalogue()
                .map(|c| c.embedding_version().to_owned());
            let started = Instant::now();
            let read = self
                .store
                .active_version_and_catalogue(self.exact_max_items, held.as_deref())
                .await;
            let active = match read {
                Ok(Some((active, catalogue))) => {
                    if let Some(catalogue) = catalogue {
                        tracing::info!(
                            embedding_version = %active.embedding_version,
                            items = catalogue.len(),
                            bytes = catalogue.approximate_bytes(),
                            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                            "item catalogue loaded for exact in-memory search (with the version)"
                        );
                        *self.catalogue.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(Arc::new(catalogue));
                    }
                    active
                }
                Ok(None) | Err(StoreError::NoActiveVersion) => return Ok(None),
                Err(e) => return Err(index_error(e)),
            };
            match self.follow(&active).await {
                Ok(()) => {
                    *self
                        .active_embedding
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) =
                        Some(active.embedding_version.clone());
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
        let exact = self
            .exact_catalogue()
            .filter(|c| c.embedding_version() == embedding_version);
        let replica = self.replica.ready_for(embedding_version);
        let sent = if let Some(catalogue) = exact {
            // Validated queries of the right dimension: the exact search refuses none.
            catalogue
                .knn_batch(to_send, k)
                .map_err(index_error)?
                .into_iter()
                .map(Ok)
                .collect()
        } else if let Some(replica) = replica {
            // The HNSW path's caches are not needed while the replica serves.
            if self.cache().sizes() != (0, 0, 0) {
                *self.cache() = KnnCache::new(self.knn_cache_items);
            }
            replica
                .answer(to_send, k)
                .await
                .map_err(index_error)?
                .into_iter()
                .map(Ok)
                .collect()
        } else if self.knn_cache_items > 0 && self.caches_version(embedding_version) {
            self.knn_cached(embedding_version, to_send, k).await?
        } else {
            self.knn_in_version(embedding_version, to_send, k)
                .await?
                .answers
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

    async fn loaded_version_of(
        &self,
        model_version: &str,
    ) -> Result<Option<IndexVersion>, IndexError> {
        match self.store.loaded_version_of(model_version).await {
            Ok(loaded) => Ok(loaded.map(|v| IndexVersion {
                model_version: v.model_version,
                embedding_version: v.embedding_version,
                dim: v.dim,
            })),
            Err(StoreError::NoActiveVersion) => Ok(None),
            Err(e) => Err(index_error(e)),
        }
    }

    async fn customer_vectors(
        &self,
        version: &IndexVersion,
        customers: &[i64],
    ) -> Result<HashMap<i64, Vec<f32>>, IndexError> {
        let embedding_version = version.embedding_version.as_str();
        let (mut found, missing) = self
            .customers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lookup(embedding_version, customers);
        if missing.is_empty() {
            return Ok(found);
        }
        let read: HashMap<i64, Vec<f32>> = match self
            .store
            .customer_embeddings_in_version(embedding_version, &missing)
            .await
        {
            Ok(rows) => rows
                .into_iter()
                .filter(|(_, vector)| vector.len() == version.dim)
                .collect(),
            Err(StoreError::NoActiveVersion) => {
                return Err(IndexError::VersionGone {
                    embedding_version: embedding_version.to_owned(),
                });
            }
            Err(e) => return Err(index_error(e)),
        };
        self.customers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(embedding_version, &missing, &read);
        found.extend(read);
        Ok(found)
    }

    async fn refresh_credentials(&self) -> Result<bool, IndexError> {
        self.store.refresh_credentials().await.map_err(index_error)
    }
}
