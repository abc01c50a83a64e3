//! The batch scoring kernel: the top `k` items of many users at once, by dense matrix
//! multiplication, with per-user exclusions; the same answers as the streaming k-NN's exact
//! search (`reco_vector_store::ExactIndex`: highest dot product of unit vectors, i.e. cosine
//! similarity, ties broken by item id, excluded items never returned).
//!
//! Users are scored in blocks of [`USER_BLOCK`], one block per task on every core (rayon).
//! A block multiplies its users against [`ITEM_TILE`] items at a time (`sgemm` through
//! nalgebra's `gemm`), so the tile of scores is still in the core's cache when the selection
//! reads it; the selection keeps each user's best `k` in place, compares [`SCAN_WIDTH`] scores
//! at a time with the current k-th best and allocates nothing per score.
//!
//! Pure and synchronous: reading embeddings and writing documents is [`crate::score_all`]'s.

use std::ops::Range;

use nalgebra::{DMatrixView, DMatrixViewMut};
use rayon::prelude::*;

/// Users scored together by one task: large enough that packing an item tile for the
/// multiplication is amortised over many users, small enough that a block's scores of one
/// tile (`USER_BLOCK x ITEM_TILE` floats, 512 KB) fit a core's L2 cache (1 MB per core on
/// current x86 servers) next to the packed operands.
pub const USER_BLOCK: usize = 128;

/// Items multiplied at once per block (see [`USER_BLOCK`]).
pub const ITEM_TILE: usize = 1024;

/// Scores compared at once with a user's current k-th best: one branch-free comparison of
/// the whole run rejects it (most runs, once the list is full); only a hit is scanned one by one.
pub const SCAN_WIDTH: usize = 32;

/// nalgebra's `gemm` hands a product to `matrixmultiply::sgemm` only when every side exceeds
/// this (`blas_uninit.rs`, `SMALL_DIM`); its own loop for smaller ones indexes strided views
/// wrongly, so smaller products (the last few users, tiny test catalogues) are computed here.
const SGEMM_MIN_SIDE: usize = 5;

/// Inputs the kernel refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoringError {
    /// The embedding dimension is zero.
    #[error("embedding dimension must be at least 1")]
    ZeroDimension,
    /// The item values are not `ids.len() x dim`.
    #[error("item matrix has {values} values, expected {items} items x {dim} dimensions")]
    ItemShape {
        /// Values given.
        values: usize,
        /// Item ids given.
        items: usize,
        /// Dimension.
        dim: usize,
    },
    /// An item value is NaN or infinite.
    #[error("item {id:?} has a non-finite value")]
    NonFiniteItem {
        /// The item.
        id: String,
    },
    /// The user values are not a whole number of rows.
    #[error("user matrix has {values} values, not a whole number of {dim}-dimensional rows")]
    UserShape {
        /// Values given.
        values: usize,
        /// Dimension.
        dim: usize,
    },
    /// A user value is NaN or infinite.
    #[error("user row {row} has a non-finite value")]
    NonFiniteUser {
        /// The row.
        row: usize,
    },
    /// The exclusion lists are not one per user.
    #[error("{users} users but {lists} exclusion lists")]
    ExclusionCount {
        /// Users given.
        users: usize,
        /// Lists given.
        lists: usize,
    },
    /// An exclusion names a row outside the matrix it indexes.
    #[error("exclusion of {what} row {row}: only {len} rows")]
    ExclusionRange {
        /// `user` or `item`.
        what: &'static str,
        /// The row.
        row: usize,
        /// Rows there are.
        len: usize,
    },
    /// `k` is zero.
    #[error("k must be at least 1")]
    ZeroK,
}

/// The items: ids and a row-major matrix of their unit embeddings.
#[derive(Debug, Clone)]
pub struct ItemMatrix {
    ids: Vec<String>,
    unit: Vec<f32>,
    dim: usize,
    /// Position of each row's id in id order: ties are broken by id without comparing text.
    rank: Vec<u32>,
    /// The same values tile by tile, each tile of [`ITEM_TILE`] items transposed (dimension
    /// major): `sgemm` packs contiguous rows with a plain copy, strided ones one value at a
    /// time, which cost as much as the multiplication itself at D = 32.
    tiles: Vec<f32>,
}

impl ItemMatrix {
    /// Items `ids[r]` with embedding `unit[r * dim..(r + 1) * dim]` (unit length: the score is
    /// the dot product). Refuses a shape mismatch and non-finite values.
    pub fn new(ids: Vec<String>, unit: Vec<f32>, dim: usize) -> Result<Self, ScoringError> {
        if dim == 0 {
            return Err(ScoringError::ZeroDimension);
        }
        if unit.len() != ids.len() * dim || u32::try_from(ids.len()).is_err() {
            return Err(ScoringError::ItemShape {
                values: unit.len(),
                items: ids.len(),
                dim,
            });
        }
        if let Some(row) = unit
            .chunks_exact(dim)
            .position(|v| v.iter().any(|x| !x.is_finite()))
        {
            return Err(ScoringError::NonFiniteItem {
                id: ids[row].clone(),
            });
        }
        let mut order: Vec<u32> = (0..ids.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]).then(a.cmp(&b)));
        let mut rank = vec![0u32; ids.len()];
        for (position, &row) in order.iter().enumerate() {
            rank[row as usize] = position as u32;
        }
        let mut tiles = vec![0.0f32; unit.len()];
        let mut start = 0;
        while start < ids.len() {
            let width = ITEM_TILE.min(ids.len() - start);
            let tile = &mut tiles[start * dim..(start + width) * dim];
            for (j, v) in unit[start * dim..(start + width) * dim]
                .chunks_exact(dim)
                .enumerate()
            {
                for (p, &x) in v.iter().enumerate() {
                    tile[p * width + j] = x;
                }
            }
            start += width;
        }
        Ok(Self {
            ids,
            unit,
            dim,
            rank,
            tiles,
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Item ids, by row.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The id of item row `row`.
    pub fn id(&self, row: u32) -> &str {
        &self.ids[row as usize]
    }

    /// The embedding of item row `row`.
    pub fn vector(&self, row: u32) -> &[f32] {
        let start = row as usize * self.dim;
        &self.unit[start..start + self.dim]
    }
}

/// Per-user sorted lists of item rows never to return (what each customer already rated),
/// stored as one array with offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    /// `users + 1` offsets into `rows`.
    offsets: Vec<usize>,
    /// Item rows, sorted and distinct within each user's range.
    rows: Vec<u32>,
}

impl Exclusions {
    /// No exclusions for `users` users.
    pub fn none(users: usize) -> Self {
        Self {
            offsets: vec![0; users + 1],
            rows: Vec::new(),
        }
    }

    /// The lists of `users` users from (user row, item row) pairs in any order; duplicates
    /// are kept once. Refuses a user row outside `0..users`.
    pub fn from_pairs(users: usize, mut pairs: Vec<(u32, u32)>) -> Result<Self, ScoringError> {
        if let Some(&(user, _)) = pairs.iter().find(|(u, _)| *u as usize >= users) {
            return Err(ScoringError::ExclusionRange {
                what: "user",
                row: user as usize,
                len: users,
            });
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut offsets = Vec::with_capacity(users + 1);
        offsets.push(0);
        let mut rows = Vec::with_capacity(pairs.len());
        let mut pending = pairs.iter().peekable();
        for user in 0..users as u32 {
            while let Some(&(_, item)) = pending.next_if(|(u, _)| *u == user) {
                rows.push(item);
            }
            offsets.push(rows.len());
        }
        Ok(Self { offsets, rows })
    }

    /// Number of users.
    pub fn users(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Total exclusions over all users.
    pub fn total(&self) -> usize {
        self.rows.len()
    }

    /// The sorted item rows excluded for `user`.
    pub fn of(&self, user: usize) -> &[u32] {
        &self.rows[self.offsets[user]..self.offsets[user + 1]]
    }

    /// The lists of the users in `range`, as the kernel takes them.
    pub fn slice(&self, range: Range<usize>) -> ExclusionLists<'_> {
        ExclusionLists {
            offsets: &self.offsets[range.start..=range.end],
            rows: &self.rows,
        }
    }

    /// The lists of every user.
    pub fn all(&self) -> ExclusionLists<'_> {
        self.slice(0..self.users())
    }
}

/// Borrowed exclusion lists of consecutive users (see [`Exclusions::slice`]).
#[derive(Debug, Clone, Copy)]
pub struct ExclusionLists<'a> {
    /// `users + 1` offsets into `rows` (absolute: a slice shares the whole `rows`).
    offsets: &'a [usize],
    rows: &'a [u32],
}

impl<'a> ExclusionLists<'a> {
    /// Number of users.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sorted item rows excluded for the `user`-th user of these lists.
    pub fn of(&self, user: usize) -> &'a [u32] {
        &self.rows[self.offsets[user]..self.offsets[user + 1]]
    }

    fn sub(&self, range: Range<usize>) -> ExclusionLists<'a> {
        ExclusionLists {
            offsets: &self.offsets[range.start..=range.end],
            rows: self.rows,
        }
    }
}

/// The best items of every user: up to `k` (item row, score) pairs each, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct TopK {
    k: usize,
    lens: Vec<u32>,
    rows: Vec<u32>,
    scores: Vec<f32>,
}

impl TopK {
    /// Number of users.
    pub fn users(&self) -> usize {
        self.lens.len()
    }

    /// The `k` asked for (a user gets fewer when fewer items are left after exclusions, and
    /// none when the user's vector is zero).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The item rows and scores of `user`, best first.
    pub fn of(&self, user: usize) -> (&[u32], &[f32]) {
        let start = user * self.k;
        let end = start + self.lens[user] as usize;
        (&self.rows[start..end], &self.scores[start..end])
    }
}

/// The `k` highest-scoring items of every user: `users` is row-major, `users.len() / dim`
/// rows of `items.dim()` values; `exclusions` has one sorted list of item rows per user.
///
/// The score is the dot product (cosine similarity for unit vectors); ties are broken by
/// item id; excluded items are never returned; a user whose vector is zero gets no items
/// (it has no direction, as pgvector's cosine distance has no value for it).
pub fn top_k(
    items: &ItemMatrix,
    users: &[f32],
    exclusions: ExclusionLists<'_>,
    k: usize,
) -> Result<TopK, ScoringError> {
    let dim = items.dim;
    if k == 0 {
        return Err(ScoringError::ZeroK);
    }
    if !users.len().is_multiple_of(dim) {
        return Err(ScoringError::UserShape {
            values: users.len(),
            dim,
        });
    }
    let n_users = users.len() / dim;
    if exclusions.len() != n_users {
        return Err(ScoringError::ExclusionCount {
            users: n_users,
            lists: exclusions.len(),
        });
    }
    if let Some(row) = users
        .chunks_exact(dim)
        .position(|v| v.iter().any(|x| !x.is_finite()))
    {
        return Err(ScoringError::NonFiniteUser { row });
    }
    for user in 0..n_users {
        let list = exclusions.of(user);
        if let Some(&row) = list.iter().find(|&&r| r as usize >= items.len()) {
            return Err(ScoringError::ExclusionRange {
                what: "item",
                row: row as usize,
                len: items.len(),
            });
        }
        debug_assert!(list.windows(2).all(|w| w[0] < w[1]), "exclusions unsorted");
    }
    let mut out = TopK {
        k,
        lens: vec![0; n_users],
        rows: vec![0; n_users * k],
        scores: vec![f32::NEG_INFINITY; n_users * k],
    };
    if n_users == 0 || items.is_empty() {
        return Ok(out);
    }
    let tile_len = USER_BLOCK * ITEM_TILE.min(items.len());
    users
        .par_chunks(USER_BLOCK * dim)
        .zip(out.lens.par_chunks_mut(USER_BLOCK))
        .zip(out.rows.par_chunks_mut(USER_BLOCK * k))
        .zip(out.scores.par_chunks_mut(USER_BLOCK * k))
        .enumerate()
        .for_each_init(
            || Scratch {
                scores: vec![0.0f32; tile_len],
                users: vec![0.0f32; USER_BLOCK * dim],
            },
            |scratch, (block, (((block_users, lens), rows), scores))| {
                let first = block * USER_BLOCK;
                let lists = exclusions.sub(first..first + lens.len());
                score_block(
                    items,
                    block_users,
                    lists,
                    Best {
                        k,
                        lens,
                        rows,
                        scores,
                    },
                    scratch,
                );
            },
        );
    Ok(out)
}

/// Buffers of one scoring task, reused from block to block.
struct Scratch {
    /// One tile of scores, users x items.
    scores: Vec<f32>,
    /// The block's users transposed (dimension major), for the same reason as the item tiles.
    users: Vec<f32>,
}

/// The output slots of one block's users.
struct Best<'a> {
    k: usize,
    lens: &'a mut [u32],
    rows: &'a mut [u32],
    scores: &'a mut [f32],
}

/// Scores one block of users against every item, tile by tile, keeping each user's best.
fn score_block(
    items: &ItemMatrix,
    users: &[f32],
    exclusions: ExclusionLists<'_>,
    best: Best<'_>,
    scratch: &mut Scratch,
) {
    let dim = items.dim;
    let n_items = items.len();
    let n = users.len() / dim;
    let k = best.k;
    // A zero vector has no direction: such users keep an empty list.
    let mut active = [false; USER_BLOCK];
    for (flag, v) in active.iter_mut().zip(users.chunks_exact(dim)) {
        *flag = v.iter().any(|&x| x != 0.0);
    }
    let large = n > SGEMM_MIN_SIDE && dim > SGEMM_MIN_SIDE;
    let users_t = &mut scratch.users[..n * dim];
    if large {
        for (i, v) in users.chunks_exact(dim).enumerate() {
            for (p, &x) in v.iter().enumerate() {
                users_t[p * n + i] = x;
            }
        }
    }
    // Next exclusion of each user not yet reached by the tiles.
    let mut cursor = [0usize; USER_BLOCK];
    let mut start = 0;
    while start < n_items {
        let width = ITEM_TILE.min(n_items - start);
        let scores = &mut scratch.scores[..n * width];
        if large && width > SGEMM_MIN_SIDE {
            // scores (n x width, row-major) = users (n x dim) * tile (dim x width), both
            // operands stored along the direction sgemm packs them.
            let a = DMatrixView::from_slice_with_strides(users_t, n, dim, 1, n);
            let tile = &items.tiles[start * dim..(start + width) * dim];
            let b = DMatrixView::from_slice_with_strides(tile, dim, width, width, 1);
            let mut c = DMatrixViewMut::from_slice_with_strides_mut(scores, n, width, width, 1);
            c.gemm(1.0, &a, &b, 0.0);
        } else {
            let tile_items = &items.unit[start * dim..(start + width) * dim];
            for (row, u) in scores.chunks_exact_mut(width).zip(users.chunks_exact(dim)) {
                for (score, item) in row.iter_mut().zip(tile_items.chunks_exact(dim)) {
                    *score = u.iter().zip(item).map(|(x, y)| x * y).sum();
                }
            }
        }
        for user in 0..n {
            if !active[user] {
                continue;
            }
            let row = &mut scores[user * width..(user + 1) * width];
            let list = exclusions.of(user);
            let at = &mut cursor[user];
            while let Some(&item) = list.get(*at)
                && (item as usize) < start + width
            {
                row[item as usize - start] = f32::NEG_INFINITY;
                *at += 1;
            }
            let slots = user * k..(user + 1) * k;
            select(
                row,
                start as u32,
                &items.rank,
                &mut best.lens[user],
                &mut best.rows[slots.clone()],
                &mut best.scores[slots],
            );
        }
        start += width;
    }
}

/// Merges one tile row of scores (items `base..base + row.len()`) into a user's best list
/// (`top_rows`/`top_scores`, the first `len` filled, best first).
#[inline]
fn select(
    row: &[f32],
    base: u32,
    rank: &[u32],
    len: &mut u32,
    top_rows: &mut [u32],
    top_scores: &mut [f32],
) {
    let k = top_rows.len();
    let mut filled = *len as usize;
    let mut worst = if filled == k {
        top_scores[k - 1]
    } else {
        f32::NEG_INFINITY
    };
    let mut consider = |offset: usize, score: f32, filled: &mut usize, worst: &mut f32| {
        // Excluded (negative infinity) and NaN scores are never taken.
        if score.is_nan() || score == f32::NEG_INFINITY {
            return;
        }
        let item = base + offset as u32;
        let better =
            |s: f32, r: u32| score > s || (score == s && rank[item as usize] < rank[r as usize]);
        if *filled == k && !better(top_scores[k - 1], top_rows[k - 1]) {
            return;
        }
        let mut at = if *filled == k { k - 1 } else { *filled };
        while at > 0 && better(top_scores[at - 1], top_rows[at - 1]) {
            top_scores[at] = top_scores[at - 1];
            top_rows[at] = top_rows[at - 1];
            at -= 1;
        }
        top_scores[at] = score;
        top_rows[at] = item;
        if *filled < k {
            *filled += 1;
        }
        if *filled == k {
            *worst = top_scores[k - 1];
        }
    };
    let mut runs = row.chunks_exact(SCAN_WIDTH);
    let mut offset = 0;
    for run in runs.by_ref() {
        // `>=`: an equal score may still win its tie on id.
        if any_at_least(run, worst) {
            for (i, &score) in run.iter().enumerate() {
                if score >= worst {
                    consider(offset + i, score, &mut filled, &mut worst);
                }
            }
        }
        offset += SCAN_WIDTH;
    }
    for (i, &score) in runs.remainder().iter().enumerate() {
        consider(offset + i, score, &mut filled, &mut worst);
    }
    *len = filled as u32;
}

/// Whether any of `run` is at least `worst`: compares and ORs without branches, so it
/// compiles to vector compares whatever the target's vector width.
#[inline(always)]
fn any_at_least(run: &[f32], worst: f32) -> bool {
    run.iter().fold(false, |hit, &s| hit | (s >= worst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Vectors of small multiples of 1/2: every dot product is exact in f32 whatever the
    /// summation order, so the kernel and the reference agree bit for bit, ties included.
    fn quantised(rng: &mut ChaCha8Rng, n: usize, dim: usize) -> Vec<f32> {
        (0..n * dim)
            .map(|_| rng.random_range(-2i32..=2) as f32 * 0.5)
            .collect()
    }

    /// Ids in an order unrelated to rows, so ties are broken by id, not by row.
    fn shuffled_ids(rng: &mut ChaCha8Rng, n: usize) -> Vec<String> {
        let mut ids: Vec<String> = (0..n).map(|i| format!("P{i:05}")).collect();
        ids.shuffle(rng);
        ids
    }

    fn naive(
        items: &ItemMatrix,
        users: &[f32],
        exclusions: &Exclusions,
        k: usize,
    ) -> Vec<Vec<(String, f32)>> {
        let dim = items.dim();
        users
            .chunks_exact(dim)
            .enumerate()
            .map(|(u, q)| {
                if q.iter().all(|&x| x == 0.0) {
                    return Vec::new();
                }
                let mut all: Vec<(String, f32)> = (0..items.len() as u32)
                    .filter(|r| !exclusions.of(u).contains(r))
                    .map(|r| {
                        let s = q.iter().zip(items.vector(r)).map(|(a, b)| a * b).sum();
                        (items.id(r).to_owned(), s)
                    })
                    .collect();
                all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                all.truncate(k);
                all
            })
            .collect()
    }

    fn answers(items: &ItemMatrix, top: &TopK) -> Vec<Vec<(String, f32)>> {
        (0..top.users())
            .map(|u| {
                let (rows, scores) = top.of(u);
                rows.iter()
                    .zip(scores)
                    .map(|(&r, &s)| (items.id(r).to_owned(), s))
                    .collect()
            })
            .collect()
    }

    fn random_exclusions(rng: &mut ChaCha8Rng, users: usize, items: usize) -> Exclusions {
        let mut pairs = Vec::new();
        for u in 0..users as u32 {
            for _ in 0..rng.random_range(0..8) {
                pairs.push((u, rng.random_range(0..items as u32)));
            }
        }
        Exclusions::from_pairs(users, pairs).unwrap()
    }

    #[test]
    fn equals_the_naive_reference_across_blocks_tiles_ties_and_exclusions() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // More users than a block and more items than a tile, with a ragged last block/tile.
        let (n_users, n_items, dim) = (USER_BLOCK * 2 + 37, ITEM_TILE * 2 + 123, 8);
        let items = ItemMatrix::new(
            shuffled_ids(&mut rng, n_items),
            quantised(&mut rng, n_items, dim),
            dim,
        )
        .unwrap();
        let mut users = quantised(&mut rng, n_users, dim);
        // One zero user: no direction, no items.
        users[5 * dim..6 * dim].fill(0.0);
        let exclusions = random_exclusions(&mut rng, n_users, n_items);
        for k in [1, 10, 25] {
            let top = top_k(&items, &users, exclusions.all(), k).unwrap();
            let expected = naive(&items, &users, &exclusions, k);
            assert_eq!(answers(&items, &top), expected, "k = {k}");
            assert!(top.of(5).0.is_empty());
            // Quantised data ties a lot: the test would not show tie-breaking otherwise.
            let ties = expected
                .iter()
                .filter(|list| list.windows(2).any(|w| w[0].1 == w[1].1))
                .count();
            assert!(k == 1 || ties > n_users / 2, "only {ties} users with ties");
        }
    }

    #[test]
    fn equals_the_naive_reference_on_random_unit_vectors() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (n_users, n_items, dim) = (300, 1500, 32);
        let unit = |rng: &mut ChaCha8Rng, n: usize| -> Vec<f32> {
            let mut v: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            for row in v.chunks_exact_mut(dim) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                row.iter_mut().for_each(|x| *x /= norm);
            }
            v
        };
        let items = ItemMatrix::new(
            shuffled_ids(&mut rng, n_items),
            unit(&mut rng, n_items),
            dim,
        )
        .unwrap();
        let users = unit(&mut rng, n_users);
        let exclusions = random_exclusions(&mut rng, n_users, n_items);
        let top = top_k(&items, &users, exclusions.all(), 10).unwrap();
        let expected = naive(&items, &users, &exclusions, 10);
        for (got, want) in answers(&items, &top).iter().zip(&expected) {
            assert_eq!(got.len(), 10);
            for (g, w) in got.iter().zip(want) {
                // Summation order differs from the reference: scores agree to rounding, and
                // the ids too unless two scores are within rounding of each other.
                assert!((g.1 - w.1).abs() < 1e-5, "{g:?} vs {w:?}");
                if g.0 != w.0 {
                    let near = want.iter().any(|o| o.0 == g.0 && (o.1 - w.1).abs() < 1e-5);
                    assert!(near, "{g:?} vs {w:?}");
                }
            }
        }
    }

    #[test]
    fn same_answers_as_the_streams_exact_index() {
        use reco_vector_store::{ExactIndex, KnnRequest};
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (n_users, n_items, dim) = (200, 700, 16);
        // Unit vectors with four entries of +-1/2: exact dot products, many ties.
        let sparse_unit = |rng: &mut ChaCha8Rng| -> Vec<f32> {
            let mut v = vec![0.0f32; dim];
            let mut slots: Vec<usize> = (0..dim).collect();
            slots.shuffle(rng);
            for &d in &slots[..4] {
                v[d] = if rng.random_bool(0.5) { 0.5 } else { -0.5 };
            }
            v
        };
        let ids = shuffled_ids(&mut rng, n_items);
        let vectors: Vec<Vec<f32>> = (0..n_items).map(|_| sparse_unit(&mut rng)).collect();
        let items = ItemMatrix::new(ids.clone(), vectors.concat(), dim).unwrap();
        let exact =
            ExactIndex::new("e20261201000000000000", ids.iter().cloned().zip(vectors)).unwrap();
        let users: Vec<Vec<f32>> = (0..n_users).map(|_| sparse_unit(&mut rng)).collect();
        let exclusions = random_exclusions(&mut rng, n_users, n_items);
        let requests: Vec<KnnRequest> = users
            .iter()
            .enumerate()
            .map(|(u, v)| KnnRequest::ByVector {
                vector: v.clone(),
                exclude: exclusions
                    .of(u)
                    .iter()
                    .map(|&r| ids[r as usize].clone())
                    .collect(),
            })
            .collect();
        let want = exact.knn_batch(&requests, 10).unwrap();
        let top = top_k(&items, &users.concat(), exclusions.all(), 10).unwrap();
        for (u, (got, want)) in answers(&items, &top).iter().zip(&want).enumerate() {
            let want: Vec<(String, f32)> = want.iter().map(|i| (i.id.clone(), i.score)).collect();
            assert_eq!(got, &want, "user {u}");
        }
    }

    #[test]
    fn k_above_the_catalogue_returns_every_item_not_excluded() {
        let items = ItemMatrix::new(
            vec!["b".into(), "a".into(), "c".into()],
            vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            2,
        )
        .unwrap();
        let users = [1.0, 0.0, 0.0, 1.0];
        let exclusions = Exclusions::from_pairs(2, vec![(1, 2), (1, 2)]).unwrap();
        let top = top_k(&items, &users, exclusions.all(), 10).unwrap();
        // a and b tie: id order.
        assert_eq!(
            answers(&items, &top)[0],
            [("a".into(), 1.0), ("b".into(), 1.0), ("c".into(), 0.0)]
        );
        assert_eq!(
            answers(&items, &top)[1],
            [("a".into(), 0.0), ("b".into(), 0.0)]
        );
        assert_eq!(exclusions.total(), 1);
    }

    #[test]
    fn empty_inputs_give_empty_answers_and_bad_inputs_are_refused() {
        let items = ItemMatrix::new(vec!["a".into()], vec![1.0, 0.0], 2).unwrap();
        let none = top_k(&items, &[], Exclusions::none(0).all(), 10).unwrap();
        assert_eq!(none.users(), 0);
        let empty = ItemMatrix::new(vec![], vec![], 2).unwrap();
        let top = top_k(&empty, &[1.0, 0.0], Exclusions::none(1).all(), 3).unwrap();
        assert!(top.of(0).0.is_empty());

        assert_eq!(
            top_k(&items, &[1.0, 0.0, 1.0], Exclusions::none(1).all(), 1).unwrap_err(),
            ScoringError::UserShape { values: 3, dim: 2 }
        );
        assert_eq!(
            top_k(&items, &[1.0, 0.0], Exclusions::none(2).all(), 1).unwrap_err(),
            ScoringError::ExclusionCount { users: 1, lists: 2 }
        );
        assert_eq!(
            top_k(&items, &[1.0, 0.0], Exclusions::none(1).all(), 0).unwrap_err(),
            ScoringError::ZeroK
        );
        assert!(matches!(
            top_k(&items, &[f32::NAN, 0.0], Exclusions::none(1).all(), 1),
            Err(ScoringError::NonFiniteUser { row: 0 })
        ));
        let beyond = Exclusions::from_pairs(1, vec![(0, 1)]).unwrap();
        assert!(matches!(
            top_k(&items, &[1.0, 0.0], beyond.all(), 1),
            Err(ScoringError::ExclusionRange { what: "item", .. })
        ));
        assert!(Exclusions::from_pairs(1, vec![(1, 0)]).is_err());
        assert!(ItemMatrix::new(vec!["a".into()], vec![1.0], 2).is_err());
        assert!(ItemMatrix::new(vec!["a".into()], vec![f32::INFINITY, 0.0], 2).is_err());
        assert_eq!(
            ItemMatrix::new(vec![], vec![], 0).unwrap_err(),
            ScoringError::ZeroDimension
        );
    }

    #[test]
    fn exclusions_are_sorted_deduplicated_and_sliced_per_user() {
        let e = Exclusions::from_pairs(4, vec![(2, 9), (0, 3), (2, 1), (2, 9), (0, 1)]).unwrap();
        assert_eq!(e.users(), 4);
        assert_eq!(e.of(0), [1, 3]);
        assert_eq!(e.of(1), [] as [u32; 0]);
        assert_eq!(e.of(2), [1, 9]);
        let s = e.slice(2..4);
        assert_eq!(s.len(), 2);
        assert_eq!(s.of(0), [1, 9]);
        assert!(s.of(1).is_empty());
    }
}
