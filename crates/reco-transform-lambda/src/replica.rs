//! The in-memory partitioned replica of a large catalogue ([`IvfIndex`]): pgvector stays the
//! source of truth, the replica is read from the active version's own table (immutable per
//! version, like the exact copy of a small catalogue) and answers a batch in memory, scoring
//! only each query's nearest lists.
//!
//! - **Built in the background** when a large version becomes active ([`ReplicaSlot::follow`]
//!   spawns it; the warm-up and cold start never wait for it): a streamed read of the version's
//!   items, k-means and assignment on a blocking thread (rayon), then the calibration. Until
//!   it is ready, or when it cannot be built, batches take the HNSW path with its caches.
//! - **`nprobe` per recall target** (`RECO_KNN_RECALL_TARGET`): calibrated when built on
//!   catalogue-shaped queries against exact search ([`IvfIndex::calibrate`]), then a live
//!   check: a few real queries of each batch are searched exactly on a blocking thread (one
//!   check at a time) and `nprobe` is raised when their measured recall drops below target.
//! - **Bounded** (`RECO_MEMORY_INDEX_MAX_MB`): a version whose estimated replica exceeds the
//!   bound is not read; one whose replica turns out larger once read is dropped (build failed).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reco_domain::transform::KnnQuery;
use reco_vector_store::{
    ActiveVersion, DEFAULT_IVF_SEED, DEFAULT_KNN_K, IvfIndex, IvfParams, RecallSample, ScoredItem,
    StoreError, VectorStore,
};

/// Default of `RECO_MEMORY_INDEX_MAX_MB`: the replica's bound in MiB (vectors, ids, lookup).
/// 1M items x 32 dims with 8-character ids hold 199 MiB (128 MiB of vectors); building
/// holds about 1.7x that for a moment (the read copy and the partitioned one), which the
/// transform Lambda's default 2,048 MB leaves room for, with the HNSW path's caches.
pub const DEFAULT_MEMORY_INDEX_MAX_MB: usize = 512;

/// Default of `RECO_KNN_RECALL_TARGET`: recall@k against exact search the probe count is
/// chosen for.
pub const DEFAULT_KNN_RECALL_TARGET: f64 = 0.95;

/// Bytes per item beyond its vector in the size estimate made before reading (an id held
/// twice with its headers and a lookup slot, for ids of about 10 bytes).
const ITEM_OVERHEAD_BYTES: u64 = 80;

/// Real queries of a batch searched exactly by the live check (about 1M dot products each on
/// a 1M catalogue: a few milliseconds of one core; misses concentrate on a few queries, so
/// the sample must be large to see them).
pub const LIVE_CHECK_QUERIES: usize = 8;

/// Exact items of one query kind the live check must have seen before it raises `nprobe`
/// (20 queries at k = 10).
const LIVE_MIN_ITEMS: u64 = 200;

/// Above this many items the live sample's counts are halved (recent batches weigh more).
const LIVE_MAX_ITEMS: u64 = 20_000;

/// A failed build is tried again after this long (at the next version check).
pub const REPLICA_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What the replica of a version is and does (for logs, metrics and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStats {
    /// The version the replica holds.
    pub embedding_version: String,
    /// Items searched.
    pub items: usize,
    /// k-means lists.
    pub lists: usize,
    /// Lists each query probes now.
    pub nprobe: usize,
    /// Approximate bytes held.
    pub bytes: usize,
    /// Seconds to read the version's items.
    pub read_secs: f64,
    /// Seconds to partition them (k-means and assignment).
    pub partition_secs: f64,
    /// Seconds to calibrate `nprobe`.
    pub calibrate_secs: f64,
    /// recall@k of the calibration queries at the calibrated `nprobe`.
    pub calibrated_recall: f64,
    /// recall@k of the live check's customer queries at the current `nprobe` (`None`: none).
    pub live_recall: Option<f64>,
    /// recall@k of the live check's "similar to" queries at the current `nprobe`.
    pub live_similar_recall: Option<f64>,
    /// Real queries the live check searched exactly.
    pub live_queries: u64,
}

/// A built replica and its live recall check.
#[derive(Debug)]
pub struct Replica {
    index: IvfIndex,
    recall_target: f64,
    /// Live check findings by query kind: customer vectors, then "similar to" sessions.
    live: Mutex<[RecallSample; 2]>,
    checking: AtomicBool,
    /// Batches answered (picks where the live check samples).
    batches: AtomicUsize,
    read_secs: f64,
    partition_secs: f64,
    calibrate_secs: f64,
    calibrated_recall: f64,
}

impl Replica {
    /// The partitioned index.
    pub fn index(&self) -> &IvfIndex {
        &self.index
    }

    fn live(&self) -> MutexGuard<'_, [RecallSample; 2]> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the replica is and does now.
    pub fn stats(&self) -> ReplicaStats {
        let live = self.live();
        ReplicaStats {
            embedding_version: self.index.embedding_version().to_owned(),
            items: self.index.len(),
            lists: self.index.lists(),
            nprobe: self.index.nprobe(),
            bytes: self.index.approximate_bytes(),
            read_secs: self.read_secs,
            partition_secs: self.partition_secs,
            calibrate_secs: self.calibrate_secs,
            calibrated_recall: self.calibrated_recall,
            live_recall: live[0].recall_at(self.index.nprobe()),
            live_similar_recall: live[1].recall_at(self.index.nprobe()),
            live_queries: live[0].queries() + live[1].queries(),
        }
    }

    /// Answers valid `queries` (of the replica's dimension) on a blocking thread, then starts
    /// a live recall check on a few of them unless one is running.
    pub async fn answer(
        self: &Arc<Self>,
        queries: &[KnnQuery],
        k: usize,
    ) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
        let owned = queries.to_vec();
        let replica = self.clone();
        let answers = tokio::task::spawn_blocking(move || replica.index.knn_batch(&owned, k))
            .await
            .map_err(|e| StoreError::BadRequest {
                reason: format!("replica search stopped: {e}"),
            })??;
        self.check_live(queries, k);
        Ok(answers)
    }

    /// Searches [`LIVE_CHECK_QUERIES`] of `queries` exactly in the background and raises
    /// `nprobe` if the recall measured so far is below target.
    fn check_live(self: &Arc<Self>, queries: &[KnnQuery], k: usize) {
        if queries.is_empty() || self.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        // Evenly spread over the batch, shifted each batch so all positions get sampled.
        let step = (queries.len() / LIVE_CHECK_QUERIES).max(1);
        let shift = self.batches.fetch_add(1, Ordering::Relaxed) % step;
        let picked: Vec<KnnQuery> = queries
            .iter()
            .skip(shift)
            .step_by(step)
            .take(LIVE_CHECK_QUERIES)
            .cloned()
            .collect();
        let replica = self.clone();
        tokio::task::spawn_blocking(move || {
            match replica.index.probes_needed_batch(&picked, k) {
                Ok(needs) => replica.record_live(&picked, &needs),
                Err(error) => tracing::warn!(%error, "replica live recall check failed"),
            }
            replica.checking.store(false, Ordering::Release);
        });
    }

    /// Adds the live check's findings and raises `nprobe` when the customer or the "similar
    /// to" queries measure a recall below target.
    fn record_live(&self, queries: &[KnnQuery], needs: &[Vec<u32>]) {
        let mut live = self.live();
        for (query, n) in queries.iter().zip(needs) {
            let kind = usize::from(matches!(query, KnnQuery::SimilarTo { .. }));
            live[kind].add(n);
        }
        let nprobe = self.index.nprobe();
        let mut raised = nprobe;
        let mut recall = 1.0f64;
        for sample in live.iter_mut() {
            if sample.items() > LIVE_MAX_ITEMS {
                sample.halve();
            }
            if sample.items() < LIVE_MIN_ITEMS {
                continue;
            }
            let measured = sample.recall_at(nprobe).unwrap_or(1.0);
            if measured < self.recall_target {
                recall = recall.min(measured);
                raised = raised.max(sample.nprobe_for(self.recall_target).unwrap_or(nprobe));
            }
        }
        if raised > nprobe {
            self.index.set_nprobe(raised);
            tracing::info!(
                embedding_version = %self.index.embedding_version(),
                measured_recall = recall,
                recall_target = self.recall_target,
                live_queries = live[0].queries() + live[1].queries(),
                nprobe_before = nprobe,
                nprobe = raised,
                "replica probes more lists: live recall below target"
            );
        }
    }
}

#[derive(Debug, Default)]
struct SlotState {
    ready: Option<Arc<Replica>>,
    /// The version being built, if any.
    building: Option<String>,
    /// The last version whose build failed, and when.
    failed: Option<(String, Instant)>,
}

/// The replica of the active large version: built in the background, shared by the clones.
#[derive(Debug, Clone)]
pub struct ReplicaSlot {
    state: Arc<Mutex<SlotState>>,
    max_bytes: u64,
    recall_target: f64,
}

impl ReplicaSlot {
    /// A slot for replicas of at most `max_mb` MiB (0: never built) calibrated for
    /// `recall_target` (within 0..=1).
    pub fn new(max_mb: usize, recall_target: f64) -> Self {
        ReplicaSlot {
            state: Arc::default(),
            max_bytes: max_mb as u64 * 1024 * 1024,
            recall_target: recall_target.clamp(0.0, 1.0),
        }
    }

    fn state(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Estimated replica bytes of `active`, before reading it.
    fn estimate(active: &ActiveVersion) -> u64 {
        let rows = u64::try_from(active.item_rows).unwrap_or(0);
        rows * (active.dim as u64 * 4 + ITEM_OVERHEAD_BYTES)
    }

    /// Keeps the replica in step with the active version: `large` says the version is above
    /// the exact-search limit. Starts a background build when a large version that fits the
    /// bound has none (dropping the previous version's replica first: never two in memory);
    /// drops the replica otherwise. Never waits for the build.
    pub fn follow(&self, store: &VectorStore, active: &ActiveVersion, large: bool) {
        let version = active.embedding_version.as_str();
        let mut state = self.state();
        if !large || self.max_bytes == 0 || Self::estimate(active) > self.max_bytes {
            state.ready = None;
            state.building = None;
            return;
        }
        if state
            .ready
            .as_ref()
            .is_some_and(|r| r.index.embedding_version() == version)
            || state.building.as_deref() == Some(version)
            || state
                .failed
                .as_ref()
                .is_some_and(|(v, at)| v == version && at.elapsed() < REPLICA_RETRY_AFTER)
        {
            return;
        }
        state.ready = None;
        state.building = Some(version.to_owned());
        drop(state);
        tracing::info!(
            embedding_version = %version,
            items = active.item_rows,
            estimated_bytes = Self::estimate(active),
            "replica build started in the background"
        );
        let slot = self.clone();
        let store = store.clone();
        let version = version.to_owned();
        tokio::spawn(async move {
            let result = slot.build(&store, &version).await;
            let mut state = slot.state();
            // A newer version may have taken the slot meanwhile: then this one is dropped.
            if state.building.as_deref() != Some(version.as_str()) {
                return;
            }
            state.building = None;
            match result {
                Ok(replica) => {
                    let stats = replica.stats();
                    tracing::info!(
                        embedding_version = %version,
                        items = stats.items,
                        lists = stats.lists,
                        nprobe = stats.nprobe,
                        bytes = stats.bytes,
                        read_s = stats.read_secs,
                        partition_s = stats.partition_secs,
                        calibrate_s = stats.calibrate_secs,
                        calibrated_recall = stats.calibrated_recall,
                        recall_target = slot.recall_target,
                        "replica ready: batches are answered in memory"
                    );
                    state.ready = Some(Arc::new(replica));
                    state.failed = None;
                }
                Err(error) => {
                    tracing::warn!(
                        embedding_version = %version,
                        %error,
                        retry_after_s = REPLICA_RETRY_AFTER.as_secs(),
                        "replica build failed: batches stay on the HNSW path"
                    );
                    state.failed = Some((version, Instant::now()));
                }
            }
        });
    }

    async fn build(&self, store: &VectorStore, version: &str) -> Result<Replica, StoreError> {
        let started = Instant::now();
        let items = store.item_catalogue(version).await?;
        let read_secs = started.elapsed().as_secs_f64();
        let bytes = items.approximate_bytes() as u64;
        tracing::info!(
            embedding_version = %version,
            items = items.len(),
            bytes,
            read_s = read_secs,
            "replica: items read"
        );
        if bytes > self.max_bytes {
            return Err(StoreError::BadRequest {
                reason: format!(
                    "the replica holds {bytes} bytes, above RECO_MEMORY_INDEX_MAX_MB ({} bytes): raise it with the Lambda's memory",
                    self.max_bytes
                ),
            });
        }
        let target = self.recall_target;
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let params = IvfParams::for_items(items.len());
            let index = IvfIndex::build(items, &params);
            let partition_secs = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let calibration = index.calibrate(target, DEFAULT_KNN_K, DEFAULT_IVF_SEED)?;
            let calibrated_recall = calibration.recall_at(index.nprobe()).unwrap_or(1.0);
            Ok(Replica {
                live: Mutex::new([
                    RecallSample::new(index.lists()),
                    RecallSample::new(index.lists()),
                ]),
                index,
                recall_target: target,
                checking: AtomicBool::new(false),
                batches: AtomicUsize::new(0),
                read_secs,
                partition_secs,
                calibrate_secs: started.elapsed().as_secs_f64(),
                calibrated_recall,
            })
        })
        .await
        .map_err(|e| StoreError::BadRequest {
            reason: format!("replica build stopped: {e}"),
        })?
    }

    /// The replica of `embedding_version` when it is ready.
    pub fn ready_for(&self, embedding_version: &str) -> Option<Arc<Replica>> {
        self.state()
            .ready
            .as_ref()
            .filter(|r| r.index.embedding_version() == embedding_version)
            .cloned()
    }

    /// The ready replica's figures, if one is ready.
    pub fn stats(&self) -> Option<ReplicaStats> {
        self.state().ready.as_ref().map(|r| r.stats())
    }

    /// The version being built, if any.
    pub fn building(&self) -> Option<String> {
        self.state().building.clone()
    }

    /// The last version whose build failed, if any (until a build succeeds).
    pub fn failed(&self) -> Option<String> {
        self.state().failed.as_ref().map(|(v, _)| v.clone())
    }
}
