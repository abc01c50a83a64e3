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

/// [`Interactions::from_indexed`]'s result: the interactions and how their indices relate to
/// the larger index.
#[derive(Debug, Clone)]
pub struct Subset {
    /// The interactions.
    pub interactions: Interactions,
    /// Per index of the larger user list, the interactions' user index (`u32::MAX`: absent).
    pub user_map: Vec<u32>,
    /// Per index of the larger item list, the interactions' item index (`u32::MAX`: absent).
    pub item_map: Vec<u32>,
    /// Per interactions user index, its index in the larger list.
    pub users: Vec<u32>,
    /// Per interactions item index, its index in the larger list.
    pub items: Vec<u32>,
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

    /// Rows from (row, column, weight) triples, by a counting sort: no copy of the triples is
    /// sorted. A repeated (row, column) pair keeps the sum of its weights, added in input
    /// order (in f64).
    fn from_triples(rows: usize, triples: Vec<(u32, u32, f32)>) -> Self {
        let mut indptr = vec![0usize; rows + 1];
        for &(r, _, _) in &triples {
            indptr[r as usize + 1] += 1;
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        let mut indices = vec![0u32; triples.len()];
        let mut weights = vec![0f32; triples.len()];
        let mut next = indptr.clone();
        for (r, c, w) in triples {
            let at = &mut next[r as usize];
            indices[*at] = c;
            weights[*at] = w;
            *at += 1;
        }
        // Sort each row by column (stable: duplicates keep input order), merge duplicates and
        // compact in place (the write position never passes the read position).
        let mut row: Vec<(u32, f32)> = Vec::new();
        let mut write = 0;
        for r in 0..rows {
            let (a, b) = (indptr[r], indptr[r + 1]);
            row.clear();
            row.extend(
                indices[a..b]
                    .iter()
                    .copied()
                    .zip(weights[a..b].iter().copied()),
            );
            row.sort_by_key(|&(c, _)| c);
            indptr[r] = write;
            let mut i = 0;
            while i < row.len() {
                let c = row[i].0;
                let mut sum = 0.0f64;
                while i < row.len() && row[i].0 == c {
                    sum += f64::from(row[i].1);
                    i += 1;
                }
                indices[write] = c;
                weights[write] = sum as f32;
                write += 1;
            }
        }
        indptr[rows] = write;
        indices.truncate(write);
        indices.shrink_to_fit();
        weights.truncate(write);
        weights.shrink_to_fit();
        Self {
            indptr,
            indices,
            weights,
        }
    }

    /// The transpose (`columns` rows), rows sorted by index since `self`'s rows are.
    fn transpose(&self, columns: usize) -> Self {
        let mut indptr = vec![0usize; columns + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..columns {
            indptr[c + 1] += indptr[c];
        }
        let mut indices = vec![0u32; self.indices.len()];
        let mut weights = vec![0f32; self.indices.len()];
        let mut next = indptr.clone();
        for r in 0..self.rows() {
            let (cols, ws) = self.row(r);
            for (&c, &w) in cols.iter().zip(ws) {
                let at = &mut next[c as usize];
                indices[*at] = r as u32;
                weights[*at] = w;
                *at += 1;
            }
        }
        Self {
            indptr,
            indices,
            weights,
        }
    }
}

/// Text ids interned to dense `u32` indices in first-seen order, each id stored once.
#[derive(Debug, Default)]
pub struct Ids {
    index: HashMap<Box<str>, u32>,
}

impl Ids {
    /// Dense index of `id` (first-seen order), adding it when new.
    pub fn index(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.index.len() as u32;
        self.index.insert(id.into(), i);
        i
    }

    /// Distinct ids seen.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no id was seen.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The ids sorted, and each first-seen index's position in that order.
    pub fn into_sorted(self) -> (Vec<String>, Vec<u32>) {
        let mut by_name: Vec<(Box<str>, u32)> = self.index.into_iter().collect();
        by_name.sort_unstable();
        let mut rank = vec![0u32; by_name.len()];
        let names = by_name
            .into_iter()
            .enumerate()
            .map(|(position, (name, first_seen))| {
                rank[first_seen as usize] = position as u32;
                name.into_string()
            })
            .collect();
        (names, rank)
    }
}

/// Builds [`Interactions`] one pair at a time without keeping the ids of every row: each
/// distinct id is stored once and a pair takes 12 bytes (u32 user, u32 item, f32 weight), so
/// a reader can stream a file or a Parquet decode straight into it.
#[derive(Debug, Default)]
pub struct InteractionsBuilder {
    users: Ids,
    items: Ids,
    triples: Vec<(u32, u32, f32)>,
}

impl InteractionsBuilder {
    /// An empty builder with room for `pairs` pairs.
    pub fn with_capacity(pairs: usize) -> Self {
        Self {
            triples: Vec::with_capacity(pairs),
            ..Self::default()
        }
    }

    /// Adds one observation; a repeated (user, item) pair keeps the sum of its weights.
    pub fn push(&mut self, user: &str, item: &str, weight: f64) {
        let u = self.users.index(user);
        let i = self.items.index(item);
        self.triples.push((u, i, weight as f32));
    }

    /// Observations pushed so far (before merging repeated pairs).
    pub fn len(&self) -> usize {
        self.triples.len()
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.triples.is_empty()
    }

    /// The interactions, users and items sorted by id.
    pub fn build(self) -> Interactions {
        let (users, user_rank) = self.users.into_sorted();
        let (items, item_rank) = self.items.into_sorted();
        let mut triples = self.triples;
        for t in &mut triples {
            *t = (user_rank[t.0 as usize], item_rank[t.1 as usize], t.2);
        }
        Interactions::from_triples(users, items, triples)
    }
}

impl Interactions {
    /// Indexes `interactions`; a repeated (user, item) pair keeps the sum of its weights.
    pub fn new(interactions: &[Interaction]) -> Self {
        let mut builder = InteractionsBuilder::with_capacity(interactions.len());
        for i in interactions {
            builder.push(&i.user, &i.item, i.weight);
        }
        builder.build()
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
        let triples: Vec<(u32, u32, f32)> = interactions
            .iter()
            .map(|i| {
                (
                    user_index[i.user.as_str()],
                    item_index[i.item.as_str()],
                    i.weight as f32,
                )
            })
            .collect();
        drop((user_index, item_index));
        Self::from_triples(users, items, triples)
    }

    /// Interactions of `triples` indexed into `users` and `items` (both sorted by id): only the
    /// users and items that occur are kept, in the same order, so a subset of a larger index
    /// (a split's training part) is indexed like [`InteractionsBuilder`] would index it.
    pub fn from_indexed(
        users: &[String],
        items: &[String],
        triples: Vec<(u32, u32, f32)>,
    ) -> Subset {
        let mut user_map = vec![u32::MAX; users.len()];
        let mut item_map = vec![u32::MAX; items.len()];
        for &(u, i, _) in &triples {
            user_map[u as usize] = 0;
            item_map[i as usize] = 0;
        }
        let keep = |map: &mut Vec<u32>| -> Vec<u32> {
            let mut kept = Vec::new();
            for (global, slot) in map.iter_mut().enumerate() {
                if *slot != u32::MAX {
                    *slot = kept.len() as u32;
                    kept.push(global as u32);
                }
            }
            kept
        };
        let (kept_users, kept_items) = (keep(&mut user_map), keep(&mut item_map));
        let mut triples = triples;
        for t in &mut triples {
            *t = (user_map[t.0 as usize], item_map[t.1 as usize], t.2);
        }
        let names = |kept: &[u32], all: &[String]| -> Vec<String> {
            kept.iter().map(|&g| all[g as usize].clone()).collect()
        };
        Subset {
            interactions: Self::from_triples(
                names(&kept_users, users),
                names(&kept_items, items),
                triples,
            ),
            user_map,
            item_map,
            users: kept_users,
            items: kept_items,
        }
    }

    fn from_triples(users: Vec<String>, items: Vec<String>, triples: Vec<(u32, u32, f32)>) -> Self {
        let by_user = Csr::from_triples(users.len(), triples);
        let by_item = by_user.transpose(items.len());
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
