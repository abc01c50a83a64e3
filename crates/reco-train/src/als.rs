//! Implicit-feedback alternating least squares (Hu, Koren and Volinsky, 2008).
//!
//! Every observed pair has preference 1 and confidence `1 + alpha * weight`; every other pair
//! preference 0 and confidence 1. Each half-iteration solves one small ridge system per user
//! (then per item) by Cholesky. The solves are independent, so rayon runs them on every core,
//! and each solve sums in a fixed order: the result does not depend on scheduling.

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::interactions::{Csr, Interactions};

/// Default number of latent factors: D - 1 for the default D = 32 (one coordinate maps the
/// item norm onto the unit sphere, see `reco_domain::model`).
pub const DEFAULT_FACTORS: usize = 31;
/// Default iterations; on MovieLens 100k (bench/model) nDCG@10 is flat from ~10 to 25.
pub const DEFAULT_ITERATIONS: usize = 15;
/// Default L2 regularisation; tuned on MovieLens 100k with the protocol: a grid over
/// {1, 5, 10, 20} x alpha {1, 2, 4, 8} peaked at 10 / 1 (nDCG@10 0.1447..0.1463 over 4 seeds).
pub const DEFAULT_REGULARIZATION: f64 = 10.0;
/// Default confidence scale; tuned with [`DEFAULT_REGULARIZATION`].
pub const DEFAULT_ALPHA: f64 = 1.0;
/// Default seed of the initial factors.
pub const DEFAULT_SEED: u64 = 42;
/// Scale of the uniform initial factors, small so the first solves are driven by the data.
const INIT_SCALE: f64 = 0.01;

/// Hyper-parameters of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsConfig {
    /// Latent factors per user and item.
    pub factors: usize,
    /// Full iterations (users then items).
    pub iterations: usize,
    /// L2 regularisation of every factor vector.
    pub regularization: f64,
    /// Confidence scale.
    pub alpha: f64,
    /// Seed of the initial factors.
    pub seed: u64,
}

impl Default for AlsConfig {
    fn default() -> Self {
        Self {
            factors: DEFAULT_FACTORS,
            iterations: DEFAULT_ITERATIONS,
            regularization: DEFAULT_REGULARIZATION,
            alpha: DEFAULT_ALPHA,
            seed: DEFAULT_SEED,
        }
    }
}

/// Learned factors, row-major (`users x factors`, `items x factors`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlsFactors {
    /// Factors per row.
    pub factors: usize,
    /// User factors.
    pub users: Vec<f64>,
    /// Item factors.
    pub items: Vec<f64>,
    /// Objective after each iteration.
    pub losses: Vec<f64>,
}

impl AlsFactors {
    /// Factor vector of user `u`.
    pub fn user(&self, u: usize) -> &[f64] {
        &self.users[u * self.factors..(u + 1) * self.factors]
    }

    /// Factor vector of item `i`.
    pub fn item(&self, i: usize) -> &[f64] {
        &self.items[i * self.factors..(i + 1) * self.factors]
    }
}

/// Trains factors on `data`; `progress(iteration, loss)` is called after each iteration.
pub fn train(
    data: &Interactions,
    config: &AlsConfig,
    mut progress: impl FnMut(usize, f64),
) -> AlsFactors {
    let k = config.factors;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut init = |n: usize| -> Vec<f64> {
        (0..n * k)
            .map(|_| (rng.random::<f64>() - 0.5) * 2.0 * INIT_SCALE)
            .collect()
    };
    let mut users = init(data.users.len());
    let mut items = init(data.items.len());
    let mut losses = Vec::with_capacity(config.iterations);
    for iteration in 0..config.iterations {
        solve_side(&data.by_user, &items, &mut users, config);
        solve_side(&data.by_item, &users, &mut items, config);
        let loss = loss(&data.by_user, &users, &items, config);
        progress(iteration + 1, loss);
        losses.push(loss);
    }
    AlsFactors {
        factors: k,
        users,
        items,
        losses,
    }
}

/// `Y^T Y` of row-major `y` (`n x k`), summed in row order.
fn gram(y: &[f64], k: usize) -> Vec<f64> {
    let mut g = vec![0.0; k * k];
    for row in y.chunks_exact(k) {
        for a in 0..k {
            let ra = row[a];
            if ra == 0.0 {
                continue;
            }
            let ga = &mut g[a * k..a * k + k];
            for b in a..k {
                ga[b] += ra * row[b];
            }
        }
    }
    for a in 0..k {
        for b in 0..a {
            g[a * k + b] = g[b * k + a];
        }
    }
    g
}

/// Solves every row of `rows` for `out` given the other side's factors `fixed`.
fn solve_side(rows: &Csr, fixed: &[f64], out: &mut [f64], config: &AlsConfig) {
    let k = config.factors;
    let mut base = gram(fixed, k);
    for d in 0..k {
        base[d * k + d] += config.regularization;
    }
    out.par_chunks_mut(k).enumerate().for_each(|(r, x)| {
        let (cols, weights) = rows.row(r);
        if cols.is_empty() {
            x.fill(0.0);
            return;
        }
        let mut a = base.clone();
        let mut b = vec![0.0; k];
        for (&c, &w) in cols.iter().zip(weights) {
            let y = &fixed[c as usize * k..(c as usize + 1) * k];
            let conf = 1.0 + config.alpha * f64::from(w);
            let extra = conf - 1.0;
            for p in 0..k {
                let yp = y[p];
                b[p] += conf * yp;
                let scaled = extra * yp;
                let ap = &mut a[p * k..p * k + k];
                for q in p..k {
                    ap[q] += scaled * y[q];
                }
            }
        }
        for p in 0..k {
            for q in 0..p {
                a[p * k + q] = a[q * k + p];
            }
        }
        let matrix = DMatrix::from_row_slice(k, k, &a);
        let rhs = DVector::from_vec(b);
        // base holds regularization > 0 on the diagonal plus Gram matrices, so it is positive
        // definite; a failure can only come from a non-positive regularization.
        let solution = match matrix.cholesky() {
            Some(chol) => chol.solve(&rhs),
            None => DVector::zeros(k),
        };
        x.copy_from_slice(solution.as_slice());
    });
}

/// The objective: sum over all pairs of `c (p - x.y)^2` plus `reg (|X|^2 + |Y|^2)`.
fn loss(by_user: &Csr, users: &[f64], items: &[f64], config: &AlsConfig) -> f64 {
    let k = config.factors;
    let g = gram(items, k);
    let per_user: Vec<f64> = users
        .par_chunks(k)
        .enumerate()
        .map(|(u, x)| {
            // Every pair as if unobserved: x^T (Y^T Y) x; then correct the observed ones.
            let mut total = 0.0;
            for p in 0..k {
                let row = &g[p * k..p * k + k];
                total += x[p] * row.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
            }
            let (cols, weights) = by_user.row(u);
            for (&c, &w) in cols.iter().zip(weights) {
                let y = &items[c as usize * k..(c as usize + 1) * k];
                let s: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
                let conf = 1.0 + config.alpha * f64::from(w);
                total += (conf - 1.0) * s * s - 2.0 * conf * s + conf;
            }
            total + config.regularization * x.iter().map(|v| v * v).sum::<f64>()
        })
        .collect();
    per_user.iter().sum::<f64>() + config.regularization * items.iter().map(|v| v * v).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::Interaction;

    fn blocks() -> Interactions {
        // Two taste groups: users 0-3 like items a-c, users 4-7 like items d-f; each user
        // misses one item of its group, which the model must rank first.
        let mut rows = Vec::new();
        for u in 0..8 {
            let group = if u < 4 {
                ["a", "b", "c"]
            } else {
                ["d", "e", "f"]
            };
            for (j, item) in group.iter().enumerate() {
                if j != u % 3 {
                    rows.push(Interaction {
                        user: format!("u{u}"),
                        item: (*item).into(),
                        weight: 1.0,
                    });
                }
            }
        }
        Interactions::new(&rows)
    }

    #[test]
    fn loss_decreases_and_missing_items_of_the_group_rank_first() {
        let data = blocks();
        let config = AlsConfig {
            factors: 4,
            iterations: 10,
            regularization: 0.1,
            alpha: 10.0,
            seed: 7,
        };
        let mut seen = Vec::new();
        let model = train(&data, &config, |i, l| seen.push((i, l)));
        assert_eq!(seen.len(), 10);
        assert!(seen[9].1 < seen[0].1, "{seen:?}");
        for u in 0..8 {
            let (train_items, _) = data.by_user.row(u);
            let best = (0..data.items.len())
                .filter(|i| !train_items.contains(&(*i as u32)))
                .max_by(|&a, &b| {
                    let sa: f64 = model
                        .user(u)
                        .iter()
                        .zip(model.item(a))
                        .map(|(x, y)| x * y)
                        .sum();
                    let sb: f64 = model
                        .user(u)
                        .iter()
                        .zip(model.item(b))
                        .map(|(x, y)| x * y)
                        .sum();
                    sa.total_cmp(&sb)
                })
                .unwrap();
            let group = if u < 4 { 0..3 } else { 3..6 };
            assert!(group.contains(&best), "user {u} got item {best}");
        }
    }

    #[test]
    fn same_seed_same_factors_other_seed_other_factors() {
        let data = blocks();
        let config = AlsConfig {
            factors: 4,
            iterations: 3,
            ..AlsConfig::default()
        };
        let a = train(&data, &config, |_, _| {});
        let b = train(&data, &config, |_, _| {});
        assert_eq!(a, b);
        let c = train(
            &data,
            &AlsConfig {
                seed: 8,
                ..config.clone()
            },
            |_, _| {},
        );
        assert_ne!(a.users, c.users);
    }
}
