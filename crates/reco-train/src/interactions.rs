//! User x item interactions in compressed sparse rows, both ways, with dense indices.

use std::collections::HashMap;

/// One observed (user, item) pair with its weight (1 for implicit data, scaled rating otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// User id (customer number as text, or the source's user id).
    pub user: String,
    /// Item id (product code, or the source's item id).
    pub item: String,
    /// Strength of the observation (> 0); its confidence is `1 + alpha * weight`.
    pub weight: f64,
}

/// Interactions indexed densely: users and items sorted by id, rows sorted by index.
#[derive(Debug, Clone)]
pub struct Interactions {
    /// User ids by dense index.
    pub users: Vec<String>,
    /// Item ids by dense index.
    pub items: Vec<String>,
    /// Per user, the (item index, weight) pairs, sorted by item index.
    pub by_user: Csr,
    /// Per item, the (user index, weight) pairs, sorted by user index.
    pub by_item: Csr,
}

/// Compressed sparse rows: row `r` is `indices[indptr[r]..indptr[r + 1]]` with its weights.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    /// Row starts, `rows + 1` long.
    pub indptr: Vec<usize>,
    /// Column indices.
    pub indices: Vec<u32>,
    /// Weights, aligned with `indices`.
    pub weights: Vec<f32>,
}

impl Csr {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Row `r`: column indices and weights.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.weights[a..b])
    }

    fn from_triples(rows: usize, mut triples: Vec<(u32, u32, f32)>) -> Self {
        triples.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0usize; rows + 1];
        for &(r, _, _) in &triples {
            indptr[r as usize + 1] += 1;
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        Self {
            indptr,
            indices: triples.iter().map(|t| t.1).collect(),
            weights: triples.iter().map(|t| t.2).collect(),
        }
    }
}

impl Interactions {
    /// Indexes `interactions`; a repeated (user, item) pair keeps the sum of its weights.
    pub fn new(interactions: &[Interaction]) -> Self {
        let mut users: Vec<String> = interactions.iter().map(|i| i.user.clone()).collect();
        users.sort_unstable();
        users.dedup();
        let mut items: Vec<String> = interactions.iter().map(|i| i.item.clone()).collect();
        items.sort_unstable();
        items.dedup();
        Self::with_index(users, items, interactions)
    }

    /// Indexes `interactions` over given user and item lists (every id must be listed).
    pub fn with_index(
        users: Vec<String>,
        items: Vec<String>,
        interactions: &[Interaction],
    ) -> Self {
        let user_index: HashMap<&str, u32> = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.as_str(), i as u32))
            .collect();
        let item_index: HashMap<&str, u32> = items
            .iter()
            .enumerate()
            .map(|(i, u)| (u.as_str(), i as u32))
            .collect();
        let mut merged: HashMap<(u32, u32), f64> = HashMap::with_capacity(interactions.len());
        for i in interactions {
            let key = (user_index[i.user.as_str()], item_index[i.item.as_str()]);
            *merged.entry(key).or_insert(0.0) += i.weight;
        }
        let triples: Vec<(u32, u32, f32)> = merged
            .into_iter()
            .map(|((u, i), w)| (u, i, w as f32))
            .collect();
        let by_item = Csr::from_triples(
            items.len(),
            triples.iter().map(|&(u, i, w)| (i, u, w)).collect(),
        );
        let by_user = Csr::from_triples(users.len(), triples);
        Self {
            users,
            items,
            by_user,
            by_item,
        }
    }

    /// Number of distinct (user, item) pairs.
    pub fn nnz(&self) -> usize {
        self.by_user.indices.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_indexed_both_ways_and_duplicates_merge() {
        let rows = [
            ("b", "x", 1.0),
            ("a", "y", 2.0),
            ("a", "x", 0.5),
            ("a", "y", 1.0),
        ]
        .map(|(u, i, w)| Interaction {
            user: u.into(),
            item: i.into(),
            weight: w,
        });
        let m = Interactions::new(&rows);
        assert_eq!(m.users, ["a", "b"]);
        assert_eq!(m.items, ["x", "y"]);
        assert_eq!(m.nnz(), 3);
        assert_eq!(m.by_user.row(0), (&[0u32, 1][..], &[0.5f32, 3.0][..]));
        assert_eq!(m.by_item.row(0), (&[0u32, 1][..], &[0.5f32, 1.0][..]));
    }
}
