//! Caches of the pgvector k-NN path, so that a batch sends HNSW scans only for what earlier
//! batches (or earlier queries of the same batch) have not already answered.
//!
//! Counters of what the caches did: [`KnnCacheStats`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reco_domain::recommendation::ScoredItem;
use reco_domain::transform::KnnQuery;

/// Default of `RECO_KNN_CACHE_ITEMS`: item vectors the caches hold at most. On the 1M x 32
/// session test (`tests/knn_cache_scale.rs`) the caches held 60 MB at 232,000 vectors (3,182
/// neighbour lists, 703 customer lists) and 128 MB at 466,000 (8,667 lists): about 140 MB
/// of vectors and lists at this bound, plus at most 62,500 customer lists and 62,500 answers (about
/// 1 KB each): under a quarter of the transform Lambda's 1,024 MB. 250,000 (one generation
/// of 125,000) held about one batch of that test's new lists: the second batch after a
/// rotation re-fetched lists still in use.
pub const DEFAULT_KNN_CACHE_ITEMS: usize = 500_000;

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
    /// Queries the lists could not answer, answered with the cached answer of the identical
    /// query sent earlier (a session whose history did not change).
    pub answer_hits: u64,
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
    pub(crate) answer_hits: AtomicU64,
    pub(crate) item_hits: AtomicU64,
    pub(crate) item_misses: AtomicU64,
    pub(crate) scans: AtomicU64,
}

impl Counters {
    fn all(&self) -> [&AtomicU64; 8] {
        [
            &self.customer_hits,
            &self.customer_misses,
            &self.similar_merged,
            &self.similar_fallbacks,
            &self.answer_hits,
            &self.item_hits,
            &self.item_misses,
            &self.scans,
        ]
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> KnnCacheStats {
        let [ch, cm, sm, sf, ah, ih, im, sc] = self.all().map(|c| c.load(Ordering::Relaxed));
        KnnCacheStats {
            customer_hits: ch,
            customer_misses: cm,
            similar_merged: sm,
            similar_fallbacks: sf,
            answer_hits: ah,
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

/// Extra items a customer list is fetched with beyond `k`, without the query's exclusions:
/// the list still holds `k` items once a session's browsed items are taken out of it, as
/// long as at most this many of them are among its nearest.
pub const CUSTOMER_MARGIN: usize = 10;

/// Neighbours cached per seed item (at least `k` + [`CUSTOMER_MARGIN`]).
pub const NEIGHBOURS_PER_ITEM: usize = 100;

/// Slack of the certificate, above the rounding of f32 dot products over unit vectors.
const CERTIFICATE_SLACK: f32 = 1e-5;

/// A customer list: the nearest items to a query vector, exclusions not applied.
#[derive(Debug)]
pub(crate) struct CustomerList {
    /// Nearest first, as PostgreSQL ordered them.
    pub(crate) items: Vec<ScoredItem>,
    /// Fewer items than asked: the version holds no other (indexed) item.
    pub(crate) complete: bool,
}

impl CustomerList {
    /// The first `k` items not in `exclude`, when the list proves they are the query's answer
    /// with those exclusions: `k` remain, or the list holds every item.
    pub(crate) fn answer(&self, exclude: &[String], k: usize) -> Option<Vec<ScoredItem>> {
        let kept: Vec<ScoredItem> = self
            .items
            .iter()
            .filter(|item| !exclude.contains(&item.id))
            .take(k)
            .cloned()
            .collect();
        (kept.len() == k || self.complete).then_some(kept)
    }
}

/// A seed item of a version: its unit embedding and its nearest other items.
#[derive(Debug)]
pub(crate) enum SeedItem {
    /// The version does not hold the id (the SQL ignores it too).
    Unknown,
    /// An item and its neighbour list.
    Known(NeighbourList),
}

/// An item's unit embedding and its nearest items, with theirs.
#[derive(Debug)]
pub(crate) struct NeighbourList {
    /// The item's embedding scaled to unit length (zeros for a zero embedding).
    pub(crate) unit: Arc<[f32]>,
    /// Nearest other items, with their unit embeddings.
    pub(crate) neighbours: Vec<(Arc<str>, Arc<[f32]>)>,
    /// Largest similarity to this item of any item not in `neighbours` (other than itself):
    /// the smallest similarity in the list; `None` when the list holds every other item.
    pub(crate) outside_bound: Option<f32>,
}

/// Why a session query could not be answered from the neighbour lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MergeRefused {
    /// A seed's embedding is zero, or the centroid nearly so: the SQL's answer is ill-defined
    /// there, it decides.
    Degenerate,
    /// An item outside every list might score above the k-th candidate.
    Uncertified,
}

/// The answer of `SimilarTo { seeds, exclude }` computed from the seeds' neighbour lists, when
/// it can be proven equal to the index's: centroid `c` = mean of the known seeds' unit
/// embeddings; candidates = the lists' items minus the seeds and `exclude`, scored by cosine
/// to `c`. An item `x` in no list has `dot(x, a_i) <= s_i` for every seed `i` (`s_i` its
/// list's smallest similarity), so `cos(x, c) <= mean(s_i) / |c|`: when the k-th candidate
/// scores at least that, no outside item can enter the top `k`. `lists` are the known seeds'
/// lists, one per seed occurrence (a repeated seed weighs twice, as in the SQL's average).
pub(crate) fn merge_similar(
    lists: &[&NeighbourList],
    skip: &HashSet<&str>,
    k: usize,
) -> Result<Vec<ScoredItem>, MergeRefused> {
    if lists.is_empty() {
        // No seed is known: the SQL has no centroid and answers nothing.
        return Ok(Vec::new());
    }
    let dim = lists[0].unit.len();
    let mut centroid = vec![0.0f32; dim];
    for list in lists {
        if list.unit.len() != dim || list.unit.iter().all(|v| *v == 0.0) {
            return Err(MergeRefused::Degenerate);
        }
        for (c, v) in centroid.iter_mut().zip(list.unit.iter()) {
            *c += v;
        }
    }
    let n = lists.len() as f32;
    for c in &mut centroid {
        *c /= n;
    }
    let norm = dot(&centroid, &centroid).sqrt();
    if norm.is_nan() || norm <= 1e-6 {
        return Err(MergeRefused::Degenerate);
    }
    // Every item outside all lists scores at most this; None: there is no such item.
    let bound = lists
        .iter()
        .map(|l| l.outside_bound)
        .sum::<Option<f32>>()
        .map(|sum| sum / (n * norm));
    let mut seen: HashSet<&str> = HashSet::new();
    let mut candidates: Vec<ScoredItem> = Vec::new();
    for list in lists {
        for (id, unit) in &list.neighbours {
            if skip.contains(&**id) || !seen.insert(id) {
                continue;
            }
            candidates.push(ScoredItem {
                id: id.to_string(),
                score: dot(unit, &centroid) / norm,
            });
        }
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    candidates.truncate(k);
    let certified = match bound {
        None => true,
        Some(bound) => {
            candidates.len() == k && candidates[k - 1].score >= bound + CERTIFICATE_SLACK
        }
    };
    if certified {
        Ok(candidates)
    } else {
        Err(MergeRefused::Uncertified)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `v` scaled to unit length (zeros stay zeros).
pub(crate) fn unit(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

/// Key of a customer list: the query vector's bits.
pub(crate) fn vector_key(vector: &[f32]) -> Box<[u32]> {
    vector.iter().map(|v| v.to_bits()).collect()
}

/// A query's identity, for asking each distinct query of a batch once: the vector's bits or
/// the seeds (with repeats: they weigh in the centroid), the exclusions, and k.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum QueryKey {
    ByVector(Box<[u32]>, Vec<String>, usize),
    SimilarTo(Vec<String>, Vec<String>, usize),
}

impl QueryKey {
    /// The key of `query` asked for `k` items.
    pub(crate) fn of(query: &KnnQuery, k: usize) -> Self {
        let sorted = |ids: &[String]| {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids
        };
        match query {
            KnnQuery::ByVector { vector, exclude } => {
                QueryKey::ByVector(vector_key(vector), sorted(exclude), k)
            }
            KnnQuery::SimilarTo { item_ids, exclude } => {
                QueryKey::SimilarTo(sorted(item_ids), sorted(exclude), k)
            }
        }
    }
}

/// The caches of one embedding version, bounded by a number of item vectors
/// (`RECO_KNN_CACHE_ITEMS`): at most that many item vectors, and an eighth as many of each
/// of neighbour lists, customer lists and answers of queries sent as they are.
///
/// Eviction, with no recency bookkeeping on the hot path: customer lists and answers are
/// cleared whole when full (clear-on-full). Neighbour lists and their vectors live in two
/// generations of half the bound each: when the current one is full it becomes the previous
/// one (the older is dropped), and a hit in the previous generation moves the list and its
/// vectors back to the current one, so the lists sessions still use survive. A batch keeps
/// what it took out, so eviction never changes its answers.
#[derive(Debug)]
pub(crate) struct KnnCache {
    embedding_version: String,
    capacity: usize,
    customers: HashMap<Box<[u32]>, Arc<CustomerList>>,
    seeds: HashMap<Arc<str>, Arc<SeedItem>>,
    /// The previous generation of `seeds`.
    old_seeds: HashMap<Arc<str>, Arc<SeedItem>>,
    /// Answers of queries sent as they are, by query.
    answers: HashMap<QueryKey, Arc<[ScoredItem]>>,
    /// Unit embeddings shared by the neighbour lists (one copy per item).
    vectors: HashMap<Arc<str>, Arc<[f32]>>,
    /// The previous generation of `vectors`.
    old_vectors: HashMap<Arc<str>, Arc<[f32]>>,
}

impl KnnCache {
    /// Empty caches of at most `capacity` item vectors.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            embedding_version: String::new(),
            capacity,
            customers: HashMap::new(),
            seeds: HashMap::new(),
            old_seeds: HashMap::new(),
            answers: HashMap::new(),
            vectors: HashMap::new(),
            old_vectors: HashMap::new(),
        }
    }

    /// Empties the caches when they hold another version's answers.
    pub(crate) fn follow(&mut self, embedding_version: &str) {
        if self.embedding_version != embedding_version {
            self.customers.clear();
            self.seeds.clear();
            self.old_seeds.clear();
            self.answers.clear();
            self.vectors.clear();
            self.old_vectors.clear();
            self.embedding_version = embedding_version.to_owned();
        }
    }

    /// The version whose answers the caches hold ("" before the first batch).
    pub(crate) fn embedding_version(&self) -> &str {
        &self.embedding_version
    }

    fn list_capacity(&self) -> usize {
        (self.capacity / 8).max(1)
    }

    pub(crate) fn customer(&self, key: &[u32]) -> Option<Arc<CustomerList>> {
        self.customers.get(key).cloned()
    }

    /// Vectors one generation holds at most.
    fn generation_vectors(&self) -> usize {
        (self.capacity / 2).max(1)
    }

    /// Neighbour lists one generation holds at most.
    fn generation_seeds(&self) -> usize {
        (self.list_capacity() / 2).max(1)
    }

    /// Seed `id`, moved back to the current generation when found in the previous one.
    pub(crate) fn seed(&mut self, id: &str) -> Option<Arc<SeedItem>> {
        if let Some(seed) = self.seeds.get(id) {
            return Some(seed.clone());
        }
        let (key, seed) = self
            .old_seeds
            .get_key_value(id)
            .map(|(k, s)| (k.clone(), s.clone()))?;
        let neighbours = match &*seed {
            SeedItem::Known(list) => list.neighbours.as_slice(),
            SeedItem::Unknown => &[],
        };
        self.reserve_seed(neighbours.len());
        for (id, v) in neighbours {
            self.vectors.entry(id.clone()).or_insert_with(|| v.clone());
        }
        self.seeds.insert(key, seed.clone());
        Some(seed)
    }

    pub(crate) fn answer(&self, key: &QueryKey) -> Option<Arc<[ScoredItem]>> {
        self.answers.get(key).cloned()
    }

    /// Keeps the answer of a query sent as it is, clearing the answers first when full.
    pub(crate) fn insert_answer(&mut self, key: QueryKey, list: Arc<[ScoredItem]>) {
        if self.answers.len() >= self.list_capacity() {
            self.answers.clear();
        }
        self.answers.insert(key, list);
    }

    /// Keeps `list` for `key`, clearing the customer lists first when they are full.
    pub(crate) fn insert_customer(&mut self, key: Box<[u32]>, list: Arc<CustomerList>) {
        if self.customers.len() >= self.list_capacity() {
            self.customers.clear();
        }
        self.customers.insert(key, list);
    }

    /// The shared unit vector of `id` (`v` already unit length), interned.
    pub(crate) fn intern(&mut self, id: &str, v: Vec<f32>) -> (Arc<str>, Arc<[f32]>) {
        if let Some((id, v)) = self.vectors.get_key_value(id) {
            return (id.clone(), v.clone());
        }
        let (id, v): (Arc<str>, Arc<[f32]>) = match self.old_vectors.get_key_value(id) {
            Some((id, v)) => (id.clone(), v.clone()),
            None => (Arc::from(id), Arc::from(v)),
        };
        if self.vectors.len() < self.generation_vectors() {
            self.vectors.insert(id.clone(), v.clone());
        }
        (id, v)
    }

    /// Makes room for one more seed and its `neighbours` new vectors: the current
    /// generation becomes the previous one when it would overflow.
    pub(crate) fn reserve_seed(&mut self, neighbours: usize) {
        if self.seeds.len() >= self.generation_seeds()
            || self.vectors.len() + neighbours + 1 > self.generation_vectors()
        {
            self.old_seeds = std::mem::take(&mut self.seeds);
            self.old_vectors = std::mem::take(&mut self.vectors);
        }
    }

    /// Keeps seed `id` (after [`KnnCache::reserve_seed`]).
    pub(crate) fn insert_seed(&mut self, id: Arc<str>, seed: Arc<SeedItem>) {
        if self.seeds.len() < self.generation_seeds() {
            self.seeds.insert(id, seed);
        }
    }

    /// Approximate heap bytes held (payloads, Arc headers, map entries; allocator slack
    /// not counted).
    pub(crate) fn approximate_bytes(&self) -> usize {
        const ARC: usize = 16;
        const ENTRY: usize = 40;
        let scored = |items: &[ScoredItem]| {
            items
                .iter()
                .map(|i| std::mem::size_of::<ScoredItem>() + i.id.len())
                .sum::<usize>()
        };
        let vectors: usize = self
            .vectors
            .iter()
            .chain(&self.old_vectors)
            .map(|(id, v)| id.len() + v.len() * 4 + 2 * ARC + ENTRY)
            .sum();
        let seeds: usize = self
            .seeds
            .iter()
            .chain(&self.old_seeds)
            .map(|(id, seed)| {
                let list = match &**seed {
                    SeedItem::Unknown => 0,
                    SeedItem::Known(l) => l.unit.len() * 4 + ARC + l.neighbours.len() * 32,
                };
                id.len() + 2 * ARC + ENTRY + list + 64
            })
            .sum();
        let customers: usize = self
            .customers
            .iter()
            .map(|(key, list)| key.len() * 4 + ARC + ENTRY + scored(&list.items) + 32)
            .sum();
        let answers: usize = self
            .answers
            .iter()
            .map(|(key, list)| {
                let key = match key {
                    QueryKey::ByVector(v, ex, _) => {
                        v.len() * 4 + ex.iter().map(|e| e.len() + 24).sum::<usize>()
                    }
                    QueryKey::SimilarTo(ids, ex, _) => {
                        ids.iter().chain(ex).map(|e| e.len() + 24).sum::<usize>()
                    }
                };
                key + ARC + ENTRY + scored(list) + 64
            })
            .sum();
        vectors + seeds + customers + answers
    }

    /// Entries held: (customer lists, seed items, item vectors; both generations).
    pub(crate) fn sizes(&self) -> (usize, usize, usize) {
        (
            self.customers.len(),
            self.seeds.len() + self.old_seeds.len(),
            self.vectors.len() + self.old_vectors.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(seed: &[f32], catalogue: &[(&str, Vec<f32>)], m: usize) -> NeighbourList {
        let seed = unit(seed);
        let mut scored: Vec<(f32, &str, Vec<f32>)> = catalogue
            .iter()
            .map(|(id, v)| {
                let v = unit(v);
                (dot(&v, &seed), *id, v)
            })
            .filter(|(s, _, _)| *s < 0.999_999)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let complete = scored.len() <= m;
        scored.truncate(m);
        NeighbourList {
            unit: Arc::from(seed),
            outside_bound: (!complete).then(|| scored.last().unwrap().0),
            neighbours: scored
                .into_iter()
                .map(|(_, id, v)| (Arc::from(id), Arc::from(v)))
                .collect(),
        }
    }

    /// Exact top-k by cosine to the centroid of the unit seeds, brute force.
    fn exact(
        seeds: &[&[f32]],
        catalogue: &[(&str, Vec<f32>)],
        skip: &[&str],
        k: usize,
    ) -> Vec<String> {
        let mut c = vec![0.0; seeds[0].len()];
        for s in seeds {
            for (c, v) in c.iter_mut().zip(unit(s)) {
                *c += v;
            }
        }
        let c = unit(&c);
        let mut scored: Vec<(f32, &str)> = catalogue
            .iter()
            .filter(|(id, _)| !skip.contains(id))
            .map(|(id, v)| (dot(&unit(v), &c), *id))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        scored
            .into_iter()
            .take(k)
            .map(|(_, id)| id.to_owned())
            .collect()
    }

    fn ids(items: &[ScoredItem]) -> Vec<String> {
        items.iter().map(|i| i.id.clone()).collect()
    }

    /// Points on a circle, 1 degree apart: item `i` at angle `i` degrees.
    fn circle() -> Vec<(String, Vec<f32>)> {
        (0..360)
            .map(|i| {
                let a = (i as f32).to_radians();
                (format!("i{i:03}"), vec![a.cos(), a.sin()])
            })
            .collect()
    }

    #[test]
    fn close_seeds_are_certified_and_give_the_exact_answer() {
        let owned = circle();
        let catalogue: Vec<(&str, Vec<f32>)> = owned
            .iter()
            .map(|(id, v)| (id.as_str(), v.clone()))
            .collect();
        // Seeds at 10 and 14 degrees, 20 neighbours each (+-10 degrees): the centroid at 12
        // degrees; its 5 nearest (+-3 degrees, minus the seeds) are inside the lists.
        let (a, b) = (&catalogue[10].1, &catalogue[14].1);
        let (la, lb) = (list(a, &catalogue, 20), list(b, &catalogue, 20));
        let skip: HashSet<&str> = ["i010", "i014"].into();
        let merged = merge_similar(&[&la, &lb], &skip, 5).unwrap();
        assert_eq!(
            ids(&merged),
            exact(&[a, b], &catalogue, &["i010", "i014"], 5)
        );
        assert_eq!(ids(&merged)[0], "i012");
        // Scores are cosines to the centroid.
        assert!((merged[0].score - 1.0).abs() < 1e-5, "{}", merged[0].score);
        // A single seed: its own list, in order (minus an exclusion).
        let skip: HashSet<&str> = ["i010", "i011"].into();
        // (i008 and i012 tie at 2 degrees.)
        let mut merged = ids(&merge_similar(&[&la], &skip, 3).unwrap());
        assert_eq!(merged[0], "i009");
        merged.sort();
        assert_eq!(merged, ["i008", "i009", "i012"]);
    }

    #[test]
    fn distant_seeds_fail_the_certificate() {
        let owned = circle();
        let catalogue: Vec<(&str, Vec<f32>)> = owned
            .iter()
            .map(|(id, v)| (id.as_str(), v.clone()))
            .collect();
        // Seeds 90 degrees apart with +-5 degree lists: the best answer (45 degrees) is in
        // neither list, and the bound (cos 5 / cos 45 > 1) proves nothing.
        let (a, b) = (&catalogue[0].1, &catalogue[90].1);
        let (la, lb) = (list(a, &catalogue, 10), list(b, &catalogue, 10));
        let skip: HashSet<&str> = ["i000", "i090"].into();
        assert_eq!(
            merge_similar(&[&la, &lb], &skip, 3),
            Err(MergeRefused::Uncertified)
        );
        // With lists holding every item, nothing is outside: exact again.
        let (la, lb) = (list(a, &catalogue, 400), list(b, &catalogue, 400));
        assert_eq!(la.outside_bound, None);
        let merged = merge_similar(&[&la, &lb], &skip, 3).unwrap();
        assert_eq!(
            ids(&merged),
            exact(&[a, b], &catalogue, &["i000", "i090"], 3)
        );
        assert_eq!(ids(&merged)[0], "i045");
    }

    #[test]
    fn the_bound_is_checked_against_the_kth_candidate() {
        // One seed, list of 3 at similarities 0.9, 0.8, 0.7 (bound 0.7): k = 3 holds the
        // bound itself (not strictly above the slack): refused; k = 2 certified.
        let item = |s: f32| vec![s, (1.0 - s * s).sqrt()];
        let catalogue = [
            ("a", item(0.9)),
            ("b", item(0.8)),
            ("c", item(0.7)),
            ("d", item(0.6)),
        ];
        let l = list(&[1.0, 0.0], &catalogue, 3);
        assert!((l.outside_bound.unwrap() - 0.7).abs() < 1e-6);
        let none = HashSet::new();
        assert_eq!(ids(&merge_similar(&[&l], &none, 2).unwrap()), ["a", "b"]);
        assert_eq!(
            merge_similar(&[&l], &none, 3),
            Err(MergeRefused::Uncertified)
        );
        // Excluding a listed item leaves fewer than k candidates: refused.
        let skip: HashSet<&str> = ["a"].into();
        assert_eq!(
            merge_similar(&[&l], &skip, 3),
            Err(MergeRefused::Uncertified)
        );
        // No known seed: no centroid, no answer (as the SQL); a zero seed: the SQL decides.
        assert_eq!(merge_similar(&[], &none, 3), Ok(Vec::new()));
        let zero = NeighbourList {
            unit: Arc::from(vec![0.0, 0.0]),
            neighbours: Vec::new(),
            outside_bound: None,
        };
        assert_eq!(
            merge_similar(&[&zero], &none, 3),
            Err(MergeRefused::Degenerate)
        );
        // Opposite seeds: the centroid vanishes.
        let (p, q) = (
            list(&[1.0, 0.0], &catalogue, 4),
            list(&[-1.0, 0.0], &catalogue, 4),
        );
        assert_eq!(
            merge_similar(&[&p, &q], &none, 1),
            Err(MergeRefused::Degenerate)
        );
    }

    #[test]
    fn customer_lists_answer_only_when_k_items_remain() {
        let items = |ids: &[&str]| {
            ids.iter()
                .map(|id| ScoredItem {
                    id: (*id).to_owned(),
                    score: 0.5,
                })
                .collect::<Vec<_>>()
        };
        let list = CustomerList {
            items: items(&["a", "b", "c", "d"]),
            complete: false,
        };
        let answer = list.answer(&["b".to_owned()], 3).unwrap();
        assert_eq!(ids(&answer), ["a", "c", "d"]);
        assert_eq!(list.answer(&["b".to_owned(), "c".to_owned()], 3), None);
        let whole = CustomerList {
            items: items(&["a", "b"]),
            complete: true,
        };
        assert_eq!(ids(&whole.answer(&["a".to_owned()], 3).unwrap()), ["b"]);
    }

    #[test]
    fn caches_are_bounded_cleared_when_full_and_per_version() {
        let mut cache = KnnCache::new(16);
        cache.follow("e1");
        for i in 0..3u32 {
            let list = Arc::new(CustomerList {
                items: Vec::new(),
                complete: true,
            });
            cache.insert_customer(Box::new([i]), list);
        }
        // 16 / 8 = 2 customer lists at most: the third insert cleared the first two.
        assert_eq!(cache.sizes().0, 1);
        // Generations of 8 vectors and 1 seed.
        for i in 0..6 {
            cache.intern(&format!("v{i}"), vec![1.0]);
        }
        cache.reserve_seed(1);
        let known = |n: &str| {
            Arc::new(SeedItem::Known(NeighbourList {
                unit: Arc::from(vec![1.0]),
                neighbours: vec![(Arc::from(n), Arc::from(vec![1.0]))],
                outside_bound: Some(0.5),
            }))
        };
        cache.insert_seed(Arc::from("s"), known("v1"));
        assert_eq!(cache.sizes(), (1, 1, 6));
        // A second seed: the current generation becomes the previous one.
        cache.reserve_seed(1);
        cache.insert_seed(Arc::from("t"), known("v9"));
        assert_eq!(cache.sizes(), (1, 2, 6));
        // "s" is found in the previous generation and moved back with its neighbour's
        // vector (the current generation, full with "t", rotates first: v0..v5 go).
        assert!(cache.seed("s").is_some());
        assert_eq!(cache.sizes(), (1, 2, 1));
        cache.reserve_seed(1);
        assert!(cache.seed("t").is_none() && cache.seed("s").is_some());
        assert_eq!(cache.sizes(), (1, 2, 2), "s and v1, in both generations");
        for i in 0..20 {
            cache.intern(&format!("w{i}"), vec![1.0]);
        }
        assert!(cache.sizes().2 <= 16, "{:?}", cache.sizes());
        let (a, _) = cache.intern("w3", vec![2.0]);
        let (b, _) = cache.intern("w3", vec![2.0]);
        assert!(Arc::ptr_eq(&a, &b), "one copy per item");
        let held = cache.approximate_bytes();
        // 9 vectors of 1 value and short ids, 2 one-neighbour lists, one empty customer list.
        assert!((16 * 40..16 * 200).contains(&held), "{held}");
        cache.follow("e2");
        assert_eq!(cache.sizes(), (0, 0, 0));
        assert_eq!(cache.approximate_bytes(), 0);
    }

    #[test]
    fn counters_snapshot_and_reset() {
        let counters = Counters::default();
        Counters::add(&counters.scans, 3);
        Counters::add(&counters.customer_hits, 1);
        let stats = counters.snapshot();
        assert_eq!(
            (stats.scans, stats.customer_hits, stats.item_misses),
            (3, 1, 0)
        );
        counters.reset();
        assert_eq!(counters.snapshot(), KnnCacheStats::default());
    }
}
