//! Approximate k-NN over a large catalogue held in memory, partitioned IVF-style: the items
//! are grouped into lists around k-means centroids and a query scores only the items of its
//! `nprobe` nearest lists. Same answers' shape, order, tie rule, exclusions and "similar to
//! these items" centroids as [`ExactIndex`] (it is built from one, and with `nprobe` = all
//! lists it gives exactly its answers).
//!
//! `nprobe` is chosen per recall target, not fixed: an item of a query's exact top k is found
//! exactly when its list is probed (whatever else is probed cannot push it out of the top k),
//! so the exact answers of a sample of queries give, for each of their items, the probe count
//! that finds it ([`IvfIndex::probes_needed`]); a [`RecallSample`] of those counts gives the
//! smallest `nprobe` reaching a recall@k target, and the recall any `nprobe` gets.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::StoreError;
use crate::exact::{ExactIndex, Query, dot};
use crate::knn::{KnnRequest, ScoredItem};

/// Rows sampled per list to train the centroids: enough for stable centroids (FAISS warns
/// below 39), a small share of a large catalogue (64,000 of 1M at 1,000 lists).
pub const KMEANS_SAMPLE_PER_LIST: usize = 64;
/// k-means iterations over the sample (assignments change little after a few).
pub const KMEANS_ITERATIONS: usize = 10;
/// Seed of the k-means sample and initial centroids: every Lambda partitions a version alike.
pub const DEFAULT_IVF_SEED: u64 = 0x1F5E_ED00;
/// Queries of a calibration ([`IvfIndex::calibrate`]): 10 items each at k = 10, so the
/// measured recall's standard error is about 0.003 at 0.95.
pub const CALIBRATION_QUERIES: usize = 512;
/// Query shapes of a calibration (see [`IvfIndex::calibration_requests`]).
const CALIBRATION_SHAPES: usize = 3;

/// Below this many multiply-adds a batch is searched on the calling thread (as in
/// [`ExactIndex`]); above it in parallel on rayon's pool.
const PARALLEL_MIN_WORK: usize = 4_000_000;

/// How the partition is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfParams {
    /// Number of lists (the centroids), at least 1, at most the number of items.
    pub lists: usize,
    /// Seed of the sample and the initial centroids.
    pub seed: u64,
    /// Rows sampled per list for k-means.
    pub sample_per_list: usize,
    /// k-means iterations.
    pub iterations: usize,
}

impl IvfParams {
    /// About `sqrt(items)` lists (the usual IVF balance: scoring the centroids costs about as
    /// much as scoring one list), the default seed, sample and iterations.
    pub fn for_items(items: usize) -> Self {
        IvfParams {
            lists: ((items as f64).sqrt().round() as usize).max(1),
            seed: DEFAULT_IVF_SEED,
            sample_per_list: KMEANS_SAMPLE_PER_LIST,
            iterations: KMEANS_ITERATIONS,
        }
    }
}

/// A version's items grouped by list (rows of a list contiguous, unit vectors), the lists'
/// unit centroids and the probe count in use.
pub struct IvfIndex {
    /// Rows ordered by list; row order within a list is the catalogue's (id) order.
    items: ExactIndex,
    /// `lists * dim` values, unit length.
    centroids: Vec<f32>,
    /// `lists + 1` row offsets: list `l` is rows `offsets[l]..offsets[l + 1]`.
    offsets: Vec<u32>,
    nprobe: AtomicUsize,
}

impl std::fmt::Debug for IvfIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IvfIndex")
            .field("embedding_version", &self.items.embedding_version())
            .field("items", &self.len())
            .field("lists", &self.lists())
            .field("nprobe", &self.nprobe())
            .finish()
    }
}

impl IvfIndex {
    /// Partitions `items` (k-means on a sample, then every item to its nearest centroid).
    /// CPU-heavy (about `items * lists * dim` multiply-adds, on rayon's pool): call it from a
    /// blocking thread. Starts probing every list; [`IvfIndex::calibrate`] lowers that.
    pub fn build(mut items: ExactIndex, params: &IvfParams) -> Self {
        let n = items.len();
        let dim = items.dim();
        let lists = params.lists.clamp(1, n.max(1));
        if n == 0 {
            return IvfIndex {
                items,
                centroids: Vec::new(),
                offsets: vec![0],
                nprobe: AtomicUsize::new(1),
            };
        }
        let centroids = kmeans(&items.unit, dim, lists, params);
        let assignment: Vec<u32> = items
            .unit
            .par_chunks_exact(dim)
            .map(|v| nearest_centroid(&centroids, dim, v))
            .collect();
        let mut offsets = vec![0u32; lists + 1];
        for &list in &assignment {
            offsets[list as usize + 1] += 1;
        }
        for l in 0..lists {
            offsets[l + 1] += offsets[l];
        }
        let mut next = offsets.clone();
        let mut order = vec![0u32; n];
        for (row, &list) in assignment.iter().enumerate() {
            order[next[list as usize] as usize] = row as u32;
            next[list as usize] += 1;
        }
        drop(assignment);
        let mut unit = Vec::with_capacity(n * dim);
        for &row in &order {
            unit.extend_from_slice(items.vector(row));
        }
        let mut old_ids: Vec<Option<String>> = std::mem::take(&mut items.ids)
            .into_iter()
            .map(Some)
            .collect();
        let ids: Vec<String> = order
            .iter()
            .map(|&row| old_ids[row as usize].take().unwrap_or_default())
            .collect();
        for (row, id) in ids.iter().enumerate() {
            if let Some(slot) = items.rows.get_mut(id.as_str()) {
                *slot = row as u32;
            }
        }
        items.unit = unit;
        items.ids = ids;
        IvfIndex {
            items,
            centroids,
            offsets,
            nprobe: AtomicUsize::new(lists),
        }
    }

    /// The embedding version the items belong to.
    pub fn embedding_version(&self) -> &str {
        self.items.embedding_version()
    }

    /// Number of items searched.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no item is searched.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Embedding dimension (0 for an empty catalogue).
    pub fn dim(&self) -> usize {
        self.items.dim()
    }

    /// Number of lists.
    pub fn lists(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Items of each list, in list order (for logs and tests).
    pub fn list_sizes(&self) -> Vec<usize> {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .collect()
    }

    /// Lists each query probes now.
    pub fn nprobe(&self) -> usize {
        self.nprobe.load(Ordering::Relaxed)
    }

    /// Probes `nprobe` lists per query from now on (clamped to `1..=lists`).
    pub fn set_nprobe(&self, nprobe: usize) {
        self.nprobe
            .store(nprobe.clamp(1, self.lists().max(1)), Ordering::Relaxed);
    }

    /// Bytes held by the vectors, ids and centroids (for logs and sizing).
    pub fn approximate_bytes(&self) -> usize {
        self.items.approximate_bytes() + self.centroids.len() * 4 + self.offsets.len() * 4
    }

    /// The `k` nearest items of every request found in the `nprobe` ([`IvfIndex::nprobe`])
    /// nearest lists of its query, in request order, nearest first, ties by id; refused and
    /// empty answers as [`ExactIndex::knn_batch`]'s.
    pub fn knn_batch(
        &self,
        requests: &[KnnRequest],
        k: usize,
    ) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
        self.knn_batch_probing(requests, k, self.nprobe())
    }

    /// [`IvfIndex::knn_batch`] probing `nprobe` lists per query (clamped to `1..=lists`).
    pub fn knn_batch_probing(
        &self,
        requests: &[KnnRequest],
        k: usize,
        nprobe: usize,
    ) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
        let queries = self.items.queries(requests, k)?;
        let nprobe = nprobe.clamp(1, self.lists().max(1));
        let per_query = (nprobe * self.len() / self.lists().max(1) + self.lists()) * self.dim();
        let threads = rayon::current_num_threads();
        if queries.len() * per_query < PARALLEL_MIN_WORK || queries.len() < 2 || threads < 2 {
            return Ok(self.search(&queries, k, nprobe));
        }
        // One share of the queries per thread: the bigger a share, the more of its queries
        // probe each list, so the list is read from memory once for all of them.
        let share = queries.len().div_ceil(threads);
        Ok(queries
            .par_chunks(share)
            .map(|part| self.search(part, k, nprobe))
            .collect::<Vec<_>>()
            .into_iter()
            .flatten()
            .collect())
    }

    /// Scores of `query` against every centroid.
    fn centroid_scores(&self, query: &[f32]) -> Vec<(f32, u32)> {
        self.centroids
            .chunks_exact(self.dim())
            .enumerate()
            .map(|(l, c)| (dot(query, c), l as u32))
            .collect()
    }

    /// The `nprobe` lists whose centroids are nearest to `query` (ties by list number).
    fn probes(&self, query: &[f32], nprobe: usize) -> Vec<(f32, u32)> {
        let mut scores = self.centroid_scores(query);
        if nprobe < scores.len() {
            scores.select_nth_unstable_by(nprobe - 1, probe_order);
            scores.truncate(nprobe);
        }
        scores
    }

    /// Answers `queries` probing `nprobe` lists each: (list, query) pairs sorted by list, so
    /// each probed list is streamed once for all its queries, while it is in cache.
    fn search(&self, queries: &[Query], k: usize, nprobe: usize) -> Vec<Vec<ScoredItem>> {
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(queries.len() * nprobe);
        for (at, query) in queries.iter().enumerate() {
            if let Some(unit) = query.unit.as_deref() {
                pairs.extend(
                    self.probes(unit, nprobe)
                        .into_iter()
                        .map(|(_, l)| (l, at as u32)),
                );
            }
        }
        pairs.sort_unstable();
        let dim = self.dim();
        let ids = &self.items.ids;
        let mut tops: Vec<Vec<(f32, u32)>> = vec![Vec::new(); queries.len()];
        for &(list, at) in &pairs {
            let query = &queries[at as usize];
            let Some(unit) = query.unit.as_deref() else {
                continue;
            };
            let top = &mut tops[at as usize];
            let start = self.offsets[list as usize];
            let end = self.offsets[list as usize + 1];
            let rows = &self.items.unit[start as usize * dim..end as usize * dim];
            for (row, item) in (start..end).zip(rows.chunks_exact(dim)) {
                let score = dot(unit, item);
                if top.len() == k {
                    let (last_score, last_row) = top[k - 1];
                    if score < last_score
                        || (score == last_score && ids[row as usize] >= ids[last_row as usize])
                    {
                        continue;
                    }
                }
                if query.skip.binary_search(&row).is_ok() {
                    continue;
                }
                let at = top.partition_point(|&(s, r)| {
                    s > score || (s == score && ids[r as usize] < ids[row as usize])
                });
                top.insert(at, (score, row));
                top.truncate(k);
            }
        }
        tops.into_iter()
            .map(|top| {
                top.into_iter()
                    .map(|(score, row)| ScoredItem {
                        id: ids[row as usize].clone(),
                        score: score.clamp(-1.0, 1.0),
                    })
                    .collect()
            })
            .collect()
    }

    fn list_of(&self, row: u32) -> usize {
        self.offsets.partition_point(|&o| o <= row) - 1
    }

    /// For each item of `request`'s exact top `k`, the probe count that finds it (the rank of
    /// its list among the query's nearest lists, from 1), in answer order. Exact search of the
    /// whole catalogue: one query costs what the brute force does.
    pub fn probes_needed(&self, request: &KnnRequest, k: usize) -> Result<Vec<u32>, StoreError> {
        self.probes_needed_batch(std::slice::from_ref(request), k)
            .map(|mut v| v.pop().unwrap_or_default())
    }

    /// [`IvfIndex::probes_needed`] of every request (in parallel on rayon's pool).
    pub fn probes_needed_batch(
        &self,
        requests: &[KnnRequest],
        k: usize,
    ) -> Result<Vec<Vec<u32>>, StoreError> {
        let queries = self.items.queries(requests, k)?;
        Ok(queries
            .par_iter()
            .map_init(Vec::new, |scores, query| {
                let Some(unit) = query.unit.as_deref() else {
                    return Vec::new();
                };
                let exact = self.items.nearest(query, k, scores);
                let mut order = self.centroid_scores(unit);
                order.sort_unstable_by(probe_order);
                let mut rank = vec![0u32; order.len()];
                for (r, &(_, l)) in order.iter().enumerate() {
                    rank[l as usize] = r as u32 + 1;
                }
                exact
                    .iter()
                    .filter_map(|item| self.items.rows.get(&item.id))
                    .map(|&row| rank[self.list_of(row)])
                    .collect()
            })
            .collect())
    }

    /// Requests shaped like the handler's, drawn from the catalogue with `seed`, in turn (query
    /// `q` has shape `q % CALIBRATION_SHAPES`): "similar to this item"; "similar to these 2-5
    /// items" drawn from the first item's list (a session browsing neighbouring items); and
    /// the same where each further item is drawn from the whole catalogue half the time (a
    /// session that also jumps elsewhere).
    pub fn calibration_requests(&self, queries: usize, seed: u64) -> Vec<KnnRequest> {
        let n = self.len();
        if n == 0 {
            return Vec::new();
        }
        let mut rng = SplitMix64(seed);
        (0..queries)
            .map(|q| {
                let first = rng.below(n) as u32;
                let mut item_ids = vec![self.items.ids[first as usize].clone()];
                let shape = q % CALIBRATION_SHAPES;
                if shape > 0 {
                    let list = self.list_of(first);
                    let (start, end) = (self.offsets[list], self.offsets[list + 1]);
                    for _ in 0..1 + rng.below(4) {
                        let row = if shape == 2 && rng.below(2) == 0 {
                            rng.below(n)
                        } else {
                            start as usize + rng.below((end - start) as usize)
                        };
                        item_ids.push(self.items.ids[row].clone());
                    }
                }
                KnnRequest::SimilarTo {
                    item_ids,
                    exclude: Vec::new(),
                }
            })
            .collect()
    }

    /// Measures recall@`k` on [`CALIBRATION_QUERIES`] catalogue-shaped queries against exact
    /// search and sets the probe count to the smallest with which every shape of
    /// [`IvfIndex::calibration_requests`] reaches `target` (all lists if none does); returns
    /// the whole sample. CPU-heavy (that many brute-force queries): call it from a blocking
    /// thread.
    pub fn calibrate(&self, target: f64, k: usize, seed: u64) -> Result<RecallSample, StoreError> {
        let requests = self.calibration_requests(CALIBRATION_QUERIES, seed);
        let mut sample = RecallSample::new(self.lists());
        let mut shapes = vec![RecallSample::new(self.lists()); CALIBRATION_SHAPES];
        for (q, needs) in self.probes_needed_batch(&requests, k)?.iter().enumerate() {
            sample.add(needs);
            shapes[q % CALIBRATION_SHAPES].add(needs);
        }
        let nprobe = shapes
            .iter()
            .filter_map(|s| s.nprobe_for(target))
            .max()
            .unwrap_or(self.lists());
        self.set_nprobe(nprobe);
        Ok(sample)
    }
}

/// Nearest centroid first, ties by list number.
fn probe_order(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// For items of exact answers, the probe count that found each: the recall@k any probe
/// count gets on the queries they came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecallSample {
    /// `found_at[p - 1]`: items first found with `p` probes.
    found_at: Vec<u64>,
    items: u64,
    queries: u64,
}

impl RecallSample {
    /// An empty sample for an index of `lists` lists.
    pub fn new(lists: usize) -> Self {
        RecallSample {
            found_at: vec![0; lists.max(1)],
            items: 0,
            queries: 0,
        }
    }

    /// Adds one query's [`IvfIndex::probes_needed`].
    pub fn add(&mut self, needs: &[u32]) {
        self.queries += 1;
        for &p in needs {
            let at = (p.max(1) as usize - 1).min(self.found_at.len() - 1);
            self.found_at[at] += 1;
            self.items += 1;
        }
    }

    /// Items of exact answers in the sample.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Queries in the sample.
    pub fn queries(&self) -> u64 {
        self.queries
    }

    /// Share of the sample's exact items found probing `nprobe` lists (`None`: no item).
    pub fn recall_at(&self, nprobe: usize) -> Option<f64> {
        (self.items > 0).then(|| {
            let found: u64 = self.found_at.iter().take(nprobe).sum();
            found as f64 / self.items as f64
        })
    }

    /// The smallest probe count whose recall reaches `target` (`None`: no item).
    pub fn nprobe_for(&self, target: f64) -> Option<usize> {
        if self.items == 0 {
            return None;
        }
        let wanted = (target.clamp(0.0, 1.0) * self.items as f64).ceil() as u64;
        let mut found = 0;
        for (p, &n) in self.found_at.iter().enumerate() {
            found += n;
            if found >= wanted {
                return Some(p + 1);
            }
        }
        Some(self.found_at.len())
    }

    /// Halves every count (older queries weigh less once the sample is large).
    pub fn halve(&mut self) {
        for n in &mut self.found_at {
            *n /= 2;
        }
        self.items = self.found_at.iter().sum();
        self.queries /= 2;
    }
}

/// Spherical k-means (unit centroids, nearest by cosine) on a sample of `unit`'s rows.
fn kmeans(unit: &[f32], dim: usize, lists: usize, params: &IvfParams) -> Vec<f32> {
    let n = unit.len() / dim;
    let mut rng = SplitMix64(params.seed);
    let sample_size = (lists * params.sample_per_list.max(1)).clamp(lists, n);
    // A partial Fisher-Yates shuffle: the first `sample_size` rows are a uniform sample, the
    // first `lists` of them the initial centroids.
    let mut rows: Vec<u32> = (0..n as u32).collect();
    for i in 0..sample_size {
        let j = i + rng.below(n - i);
        rows.swap(i, j);
    }
    rows.truncate(sample_size);
    let row = |r: u32| &unit[r as usize * dim..(r as usize + 1) * dim];
    let mut centroids: Vec<f32> = rows[..lists]
        .iter()
        .flat_map(|&r| row(r))
        .copied()
        .collect();
    rows.sort_unstable();
    let sample: Vec<f32> = rows.iter().flat_map(|&r| row(r)).copied().collect();
    let mut sums = vec![0.0f32; lists * dim];
    let mut counts = vec![0u32; lists];
    for _ in 0..params.iterations {
        let assignment: Vec<u32> = sample
            .par_chunks_exact(dim)
            .map(|v| nearest_centroid(&centroids, dim, v))
            .collect();
        sums.fill(0.0);
        counts.fill(0);
        for (v, &l) in sample.chunks_exact(dim).zip(&assignment) {
            counts[l as usize] += 1;
            for (s, x) in sums[l as usize * dim..(l as usize + 1) * dim]
                .iter_mut()
                .zip(v)
            {
                *s += x;
            }
        }
        for l in 0..lists {
            let sum = &sums[l * dim..(l + 1) * dim];
            let norm = dot(sum, sum).sqrt();
            let centroid = &mut centroids[l * dim..(l + 1) * dim];
            if counts[l] == 0 || norm == 0.0 {
                // An empty list restarts at a random sample row.
                let r = rng.below(sample_size);
                centroid.copy_from_slice(&sample[r * dim..(r + 1) * dim]);
            } else {
                for (c, s) in centroid.iter_mut().zip(sum) {
                    *c = s / norm;
                }
            }
        }
    }
    centroids
}

/// The centroid with the largest dot product with `v` (ties: the lowest list number).
#[inline]
fn nearest_centroid(centroids: &[f32], dim: usize, v: &[f32]) -> u32 {
    let mut best = (f32::NEG_INFINITY, 0u32);
    for (l, c) in centroids.chunks_exact(dim).enumerate() {
        let s = dot(v, c);
        if s > best.0 {
            best = (s, l as u32);
        }
    }
    best.1
}

/// SplitMix64: a tiny deterministic generator for sampling (no dependency, same sequence on
/// every platform).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; the modulo bias is negligible for catalogue sizes).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clusters` clusters of `per` items around random centres, 16 dims, ids by position.
    fn clustered(clusters: usize, per: usize, seed: u64) -> ExactIndex {
        let mut rng = SplitMix64(seed);
        let mut uniform = move || (rng.next() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..16).map(|_| uniform()).collect())
            .collect();
        let mut items = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for i in 0..per {
                let v: Vec<f32> = centre.iter().map(|x| x + 0.4 * uniform()).collect();
                items.push((format!("P{:06}", c * per + i), v));
            }
        }
        ExactIndex::new("e20261203000000000000", items).unwrap()
    }

    fn requests(index: &IvfIndex) -> Vec<KnnRequest> {
        let mut out = index.calibration_requests(60, 5);
        // Vector queries off the items, with exclusions, and ones that cannot be answered.
        out.push(KnnRequest::ByVector {
            vector: vec![0.3; 16],
            exclude: vec!["P000001".into(), "P000002".into()],
        });
        out.push(KnnRequest::ByVector {
            vector: vec![0.0; 16],
            exclude: vec![],
        });
        out.push(KnnRequest::SimilarTo {
            item_ids: vec!["unknown".into()],
            exclude: vec![],
        });
        out
    }

    #[test]
    fn partition_is_deterministic_and_covers_every_item() {
        let a = IvfIndex::build(clustered(20, 50, 1), &IvfParams::for_items(1000));
        let b = IvfIndex::build(clustered(20, 50, 1), &IvfParams::for_items(1000));
        assert_eq!(a.lists(), 32);
        assert_eq!(a.list_sizes(), b.list_sizes());
        assert_eq!(a.centroids, b.centroids);
        assert_eq!(a.items.ids, b.items.ids);
        assert_eq!(a.list_sizes().iter().sum::<usize>(), 1000);
        // Every item sits in the list of its nearest centroid, and its lookup row is its row.
        for (row, v) in a.items.unit.chunks_exact(16).enumerate() {
            let list = a.list_of(row as u32);
            assert_eq!(nearest_centroid(&a.centroids, 16, v) as usize, list);
            assert_eq!(a.items.rows[&a.items.ids[row]] as usize, row);
        }
        let other = IvfIndex::build(
            clustered(20, 50, 1),
            &IvfParams {
                seed: 99,
                ..IvfParams::for_items(1000)
            },
        );
        assert_ne!(other.centroids, a.centroids, "the seed picks the sample");
    }

    #[test]
    fn all_lists_probed_gives_the_exact_answers() {
        let exact = clustered(20, 50, 2);
        let ivf = IvfIndex::build(exact.clone(), &IvfParams::for_items(1000));
        let requests = requests(&ivf);
        let want = exact.knn_batch(&requests, 10).unwrap();
        let got = ivf.knn_batch_probing(&requests, 10, ivf.lists()).unwrap();
        assert_eq!(got, want);
        assert!(got[got.len() - 2].is_empty() && got[got.len() - 1].is_empty());
        // A batch big enough for the parallel path: the same answers as one query at a time.
        let many: Vec<KnnRequest> = requests.iter().cycle().take(2000).cloned().collect();
        let parallel = ivf.knn_batch_probing(&many, 10, 8).unwrap();
        for (request, answer) in many.iter().zip(&parallel) {
            let one = ivf
                .knn_batch_probing(std::slice::from_ref(request), 10, 8)
                .unwrap();
            assert_eq!(&one[0], answer);
        }
        let err = ivf.knn_batch(&requests, 0).unwrap_err();
        assert!(err.to_string().contains("k = 0"), "{err}");
    }

    #[test]
    fn recall_follows_the_probe_counts_the_exact_answers_need() {
        let exact = clustered(30, 40, 3);
        let ivf = IvfIndex::build(exact.clone(), &IvfParams::for_items(1200));
        let requests = ivf.calibration_requests(80, 9);
        let truth = exact.knn_batch(&requests, 10).unwrap();
        let needs = ivf.probes_needed_batch(&requests, 10).unwrap();
        let mut sample = RecallSample::new(ivf.lists());
        for n in &needs {
            sample.add(n);
        }
        for nprobe in [1, 2, 4, 8] {
            let got = ivf.knn_batch_probing(&requests, 10, nprobe).unwrap();
            let hits: usize = truth
                .iter()
                .zip(&got)
                .map(|(t, g)| t.iter().filter(|i| g.contains(i)).count())
                .sum();
            let total: usize = truth.iter().map(Vec::len).sum();
            let measured = hits as f64 / total as f64;
            assert!((sample.recall_at(nprobe).unwrap() - measured).abs() < 1e-9);
        }
        let sample = ivf.calibrate(0.95, 10, 4).unwrap();
        let nprobe = ivf.nprobe();
        assert!(sample.recall_at(nprobe).unwrap() >= 0.95);
        // Every shape reaches the target at `nprobe`, and one of them misses it with fewer.
        let requests = ivf.calibration_requests(CALIBRATION_QUERIES, 4);
        let needs = ivf.probes_needed_batch(&requests, 10).unwrap();
        let mut shapes = vec![RecallSample::new(ivf.lists()); CALIBRATION_SHAPES];
        for (q, n) in needs.iter().enumerate() {
            shapes[q % CALIBRATION_SHAPES].add(n);
        }
        assert!(shapes.iter().all(|s| s.recall_at(nprobe).unwrap() >= 0.95));
        assert!(
            nprobe == 1
                || shapes
                    .iter()
                    .any(|s| s.recall_at(nprobe - 1).unwrap() < 0.95)
        );
        assert!(nprobe < ivf.lists(), "clustered items need few lists");
    }

    #[test]
    fn recall_sample_quantiles() {
        let mut s = RecallSample::new(4);
        assert_eq!(s.nprobe_for(0.9), None);
        s.add(&[1, 1, 2, 4]);
        s.add(&[1, 3, 9]);
        assert_eq!((s.items(), s.queries()), (7, 2));
        assert_eq!(s.recall_at(1), Some(3.0 / 7.0));
        assert_eq!(s.nprobe_for(0.5), Some(2));
        assert_eq!(s.nprobe_for(1.0), Some(4));
        s.halve();
        assert_eq!(s.items(), 2);
    }
}
