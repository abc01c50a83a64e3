//! Known customers' stored embeddings, kept across batches.
//!
//! The function's model holds the towers only (`model.bin`, see `reco_domain::model`), so a
//! customer the daily training knows is served the vector it stored in the version's user
//! table: read by primary key, once per batch for the customers no earlier batch asked about,
//! and kept here. Customers the version does not hold are kept too (as absent), so that a new
//! customer's events do not ask again until the next version. Entries belong to one embedding
//! version; at most two versions are kept (an experiment's control and treatment), the one
//! used least recently goes first.
//!
//! Bounded by two generations per version: when the newer one reaches half the capacity it
//! becomes the older and the older is dropped; a hit in the older is moved to the newer. A
//! customer seen in the last half-capacity distinct lookups is therefore never asked again.

use std::collections::HashMap;
use std::sync::Arc;

/// Default of `RECO_CUSTOMER_VECTOR_CACHE`: customers whose stored vector (or absence) is
/// kept. At 32 dimensions an entry takes about 200 bytes with the map's overhead: 40 MB at
/// this bound, a twentieth of the transform Lambda's memory.
pub const DEFAULT_CUSTOMER_VECTOR_CACHE: usize = 200_000;

/// Versions kept at once: an experiment's two variants.
const VERSIONS_KEPT: usize = 2;

type Entry = Option<Arc<[f32]>>;

#[derive(Debug, Default)]
struct Generations {
    newer: HashMap<i64, Entry>,
    older: HashMap<i64, Entry>,
}

/// What the cache did since the index was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CustomerVectorStats {
    /// Customers answered from the cache (stored vector or known absence).
    pub hits: u64,
    /// Customers read from the database.
    pub reads: u64,
    /// Of those, customers the version holds.
    pub stored: u64,
}

/// The cache of a [`crate::pg_index::PgVectorIndex`] (see the module docs).
#[derive(Debug)]
pub(crate) struct CustomerVectorCache {
    capacity: usize,
    /// Most recently used first.
    versions: Vec<(String, Generations)>,
    stats: CustomerVectorStats,
}

impl CustomerVectorCache {
    /// A cache of at most `capacity` customers per version (0: nothing kept, every batch
    /// reads its customers).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            versions: Vec::new(),
            stats: CustomerVectorStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> CustomerVectorStats {
        self.stats
    }

    /// Customers held in all versions.
    pub(crate) fn len(&self) -> usize {
        self.versions
            .iter()
            .map(|(_, g)| g.newer.len() + g.older.len())
            .sum()
    }

    fn generations(&mut self, embedding_version: &str) -> &mut Generations {
        match self
            .versions
            .iter()
            .position(|(v, _)| v == embedding_version)
        {
            Some(0) => {}
            Some(at) => {
                let used = self.versions.remove(at);
                self.versions.insert(0, used);
            }
            None => {
                self.versions
                    .insert(0, (embedding_version.to_owned(), Generations::default()));
                self.versions.truncate(VERSIONS_KEPT);
            }
        }
        &mut self.versions[0].1
    }

    /// The stored vectors of `customers` the cache holds for `embedding_version`, and the
    /// customers it knows nothing about (to read).
    pub(crate) fn lookup(
        &mut self,
        embedding_version: &str,
        customers: &[i64],
    ) -> (HashMap<i64, Vec<f32>>, Vec<i64>) {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        if self.capacity == 0 {
            return (found, customers.to_vec());
        }
        let mut hits = 0;
        let half = self.capacity.div_ceil(2);
        let generations = self.generations(embedding_version);
        for &customer in customers {
            let entry = match generations.newer.get(&customer) {
                Some(entry) => Some(entry.clone()),
                None => generations.older.remove(&customer).inspect(|entry| {
                    Self::keep(generations, half, customer, entry.clone());
                }),
            };
            match entry {
                Some(entry) => {
                    hits += 1;
                    if let Some(vector) = entry {
                        found.insert(customer, vector.to_vec());
                    }
                }
                None => missing.push(customer),
            }
        }
        self.stats.hits += hits;
        (found, missing)
    }

    /// Keeps what the database answered for `asked` (customers absent from `answered` are
    /// kept as absent).
    pub(crate) fn insert(
        &mut self,
        embedding_version: &str,
        asked: &[i64],
        answered: &HashMap<i64, Vec<f32>>,
    ) {
        self.stats.reads += asked.len() as u64;
        self.stats.stored += answered.len() as u64;
        if self.capacity == 0 {
            return;
        }
        let half = self.capacity.div_ceil(2);
        let generations = self.generations(embedding_version);
        for customer in asked {
            let entry = answered.get(customer).map(|v| Arc::from(v.as_slice()));
            Self::keep(generations, half, *customer, entry);
        }
    }

    fn keep(generations: &mut Generations, half: usize, customer: i64, entry: Entry) {
        if generations.newer.len() >= half {
            generations.older = std::mem::take(&mut generations.newer);
        }
        generations.newer.insert(customer, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(pairs: &[(i64, f32)]) -> HashMap<i64, Vec<f32>> {
        pairs.iter().map(|&(c, v)| (c, vec![v, 0.0])).collect()
    }

    #[test]
    fn keeps_stored_vectors_and_absences_per_version() {
        let mut cache = CustomerVectorCache::new(100);
        let (found, missing) = cache.lookup("e1", &[1, 2, 3]);
        assert!(found.is_empty());
        assert_eq!(missing, vec![1, 2, 3]);
        cache.insert("e1", &missing, &answered(&[(1, 0.5), (3, 0.25)]));
        let (found, missing) = cache.lookup("e1", &[1, 2, 3, 4]);
        assert_eq!(found, answered(&[(1, 0.5), (3, 0.25)]));
        assert_eq!(missing, vec![4], "2 is known to be absent");
        // Another version knows nothing of the first's customers.
        let (found, missing) = cache.lookup("e2", &[1]);
        assert!(found.is_empty());
        assert_eq!(missing, vec![1]);
        assert_eq!(
            cache.stats(),
            CustomerVectorStats {
                hits: 3,
                reads: 3,
                stored: 2
            }
        );
    }

    #[test]
    fn holds_two_versions_and_about_its_capacity() {
        let mut cache = CustomerVectorCache::new(10);
        for version in ["e1", "e2", "e3"] {
            let asked: Vec<i64> = (0..4).collect();
            cache.insert(version, &asked, &answered(&[(0, 1.0)]));
        }
        assert_eq!(cache.len(), 8, "e1 dropped");
        assert_eq!(cache.lookup("e1", &[0]).1, vec![0]);
        let mut cache = CustomerVectorCache::new(10);
        let asked: Vec<i64> = (0..100).collect();
        cache.insert("e1", &asked, &HashMap::new());
        assert!(cache.len() <= 10, "{}", cache.len());
        // The newest customers stay; a hit in the older generation moves to the newer.
        let (_, missing) = cache.lookup("e1", &[99, 95, 90, 0]);
        assert_eq!(missing, vec![0]);
        let asked: Vec<i64> = (100..104).collect();
        cache.insert("e1", &asked, &HashMap::new());
        assert!(cache.lookup("e1", &[95]).1.is_empty());
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut cache = CustomerVectorCache::new(0);
        cache.insert("e1", &[1], &answered(&[(1, 1.0)]));
        assert_eq!(cache.lookup("e1", &[1]).1, vec![1]);
        assert_eq!(cache.len(), 0);
    }
}
