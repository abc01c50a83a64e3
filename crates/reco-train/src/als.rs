//! Implicit-feedback alternating least squares (Hu, Koren and Volinsky, 2008).
//!
//! Every observed pair has preference 1 and confidence `1 + alpha * weight`; every other pair
//! preference 0 and confidence 1. Each half-iteration solves one small ridge system per user
//! (then per item), `(Y^T Y + reg I + sum (c - 1) y y^T) x = sum c y`, by a few conjugate-gradient
//! steps warm-started from the row's previous vector (Takacs, Pilaszy and Tikk, 2011; implicit's
//! CPU solver does the same): `Y^T Y` is computed once per half-iteration and each step costs
//! one pass over the row's observed pairs, instead of building and factorising a `k x k`
//! matrix per row.
//!
//! Factors are `f32` rows padded to a multiple of [`LANES`] (zero padding stays zero through
//! every step), so the inner loops vectorise. The solves are independent, so rayon runs them on
//! every core, and each solve sums in a fixed order: the result does not depend on scheduling
//! or on the thread count.

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
/// Conjugate-gradient steps per row and half-iteration (implicit's CPU default); warm-started,
/// so the iterations accumulate them.
pub const CG_STEPS: usize = 3;
/// Width of the inner loops: factor rows are padded to a multiple of it.
pub const LANES: usize = 8;
/// Squared residual norm under which a row counts as solved.
const CG_TOLERANCE: f32 = 1e-20;

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
    let stride = k.next_multiple_of(LANES);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    // Same draws in the same order as the f64 trainer had, rounded to f32.
    let mut init = |n: usize| -> Vec<f32> {
        let mut out = vec![0.0f32; n * stride];
        for row in out.chunks_exact_mut(stride) {
            for v in &mut row[..k] {
                *v = ((rng.random::<f64>() - 0.5) * 2.0 * INIT_SCALE) as f32;
            }
        }
        out
    };
    let mut users = init(data.users.len());
    let mut items = init(data.items.len());
    let mut losses = Vec::with_capacity(config.iterations);
    let solver = Solver {
        factors: k,
        stride,
        regularization: config.regularization,
        alpha: config.alpha as f32,
    };
    for iteration in 0..config.iterations {
        solver.solve_side(&data.by_user, &items, &mut users);
        solver.solve_side(&data.by_item, &users, &mut items);
        let loss = loss(&data.by_user, &users, &items, stride, config);
        progress(iteration + 1, loss);
        losses.push(loss);
    }
    let unpad = |m: &[f32]| -> Vec<f64> {
        m.chunks_exact(stride)
            .flat_map(|row| row[..k].iter().map(|&v| f64::from(v)))
            .collect()
    };
    AlsFactors {
        factors: k,
        users: unpad(&users),
        items: unpad(&items),
        losses,
    }
}

/// `Y^T Y` of padded row-major `y` (`n x stride`), summed in f64 in row order.
fn gram(y: &[f32], stride: usize) -> Vec<f64> {
    let mut g = vec![0.0f64; stride * stride];
    for row in y.chunks_exact(stride) {
        for a in 0..stride {
            let ra = f64::from(row[a]);
            if ra == 0.0 {
                continue;
            }
            let ga = &mut g[a * stride..(a + 1) * stride];
            for b in a..stride {
                ga[b] += ra * f64::from(row[b]);
            }
        }
    }
    for a in 0..stride {
        for b in 0..a {
            g[a * stride + b] = g[b * stride + a];
        }
    }
    g
}

/// Dot product of two padded rows, summed in [`LANES`] fixed partial sums (vectorises, and the
/// order does not depend on anything but the length).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum()
}

/// `out += s * x` over padded rows.
#[inline]
fn axpy(out: &mut [f32], s: f32, x: &[f32]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o += s * v;
    }
}

/// `out = g * x` for the padded symmetric `g`.
#[inline]
fn matvec(out: &mut [f32], g: &[f32], x: &[f32]) {
    let stride = x.len();
    for (o, row) in out.iter_mut().zip(g.chunks_exact(stride)) {
        *o = dot(row, x);
    }
}

struct Solver {
    factors: usize,
    stride: usize,
    regularization: f64,
    alpha: f32,
}

impl Solver {
    /// Updates every row of `out` for its row of `rows` given the other side's factors `fixed`.
    fn solve_side(&self, rows: &Csr, fixed: &[f32], out: &mut [f32]) {
        let s = self.stride;
        let mut g = gram(fixed, s);
        // Only the real coordinates get the ridge: padding stays exactly zero either way, but
        // this keeps `g` the unpadded system's.
        for d in 0..self.factors {
            g[d * s + d] += self.regularization;
        }
        let g: Vec<f32> = g.iter().map(|&v| v as f32).collect();
        out.par_chunks_mut(s).enumerate().for_each_init(
            || vec![0.0f32; 3 * s],
            |scratch, (r, x)| {
                let (cols, weights) = rows.row(r);
                if cols.is_empty() {
                    x.fill(0.0);
                    return;
                }
                self.solve_row(&g, fixed, cols, weights, x, scratch);
            },
        );
    }

    /// A few CG steps on one row's system, from its current vector `x`.
    fn solve_row(
        &self,
        g: &[f32],
        fixed: &[f32],
        cols: &[u32],
        weights: &[f32],
        x: &mut [f32],
        scratch: &mut [f32],
    ) {
        let s = self.stride;
        let (r, rest) = scratch.split_at_mut(s);
        let (p, ap) = rest.split_at_mut(s);
        let y = |c: u32| &fixed[c as usize * s..(c as usize + 1) * s];
        // r = b - A x = sum c y - (G + reg) x - sum (c - 1) (y.x) y
        matvec(r, g, x);
        r.iter_mut().for_each(|v| *v = -*v);
        for (&c, &w) in cols.iter().zip(weights) {
            let yc = y(c);
            let extra = self.alpha * w;
            axpy(r, 1.0 + extra - extra * dot(yc, x), yc);
        }
        p.copy_from_slice(r);
        let mut rs_old = dot(r, r);
        for _ in 0..CG_STEPS {
            if rs_old < CG_TOLERANCE {
                break;
            }
            matvec(ap, g, p);
            for (&c, &w) in cols.iter().zip(weights) {
                let yc = y(c);
                axpy(ap, self.alpha * w * dot(yc, p), yc);
            }
            let pap = dot(p, ap);
            if pap.is_nan() || pap <= 0.0 {
                break;
            }
            let step = rs_old / pap;
            axpy(x, step, p);
            axpy(r, -step, ap);
            let rs_new = dot(r, r);
            let beta = rs_new / rs_old;
            for (pv, rv) in p.iter_mut().zip(r.iter()) {
                *pv = rv + beta * *pv;
            }
            rs_old = rs_new;
        }
    }
}

/// The objective: sum over all pairs of `c (p - x.y)^2` plus `reg (|X|^2 + |Y|^2)`.
fn loss(by_user: &Csr, users: &[f32], items: &[f32], stride: usize, config: &AlsConfig) -> f64 {
    let g: Vec<f32> = gram(items, stride).iter().map(|&v| v as f32).collect();
    let alpha = config.alpha;
    let per_user: Vec<f64> = users
        .par_chunks(stride)
        .enumerate()
        .map_init(
            || vec![0.0f32; stride],
            |gx, (u, x)| {
                // Every pair as if unobserved: x^T (Y^T Y) x; then correct the observed ones.
                matvec(gx, &g, x);
                let mut total = f64::from(dot(x, gx));
                let (cols, weights) = by_user.row(u);
                for (&c, &w) in cols.iter().zip(weights) {
                    let y = &items[c as usize * stride..(c as usize + 1) * stride];
                    let s = f64::from(dot(x, y));
                    let conf = 1.0 + alpha * f64::from(w);
                    total += (conf - 1.0) * s * s - 2.0 * conf * s + conf;
                }
                total + config.regularization * f64::from(dot(x, x))
            },
        )
        .collect();
    let item_norms: f64 = items
        .chunks_exact(stride)
        .map(|y| f64::from(dot(y, y)))
        .sum();
    per_user.iter().sum::<f64>() + config.regularization * item_norms
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
    fn repeated_cg_steps_reach_the_exact_solution_of_a_row() {
        // One user's system against 12 random item vectors (5 factors, padded to 8), 4 observed.
        let (k, s) = (5, LANES);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut fixed = vec![0.0f32; 12 * s];
        for row in fixed.chunks_exact_mut(s) {
            for v in &mut row[..k] {
                *v = rng.random::<f32>() - 0.5;
            }
        }
        let (cols, weights) = ([1u32, 4, 7, 10], [1.0f32, 3.0, 0.5, 2.0]);
        let solver = Solver {
            factors: k,
            stride: s,
            regularization: 0.5,
            alpha: 2.0,
        };
        let mut g = gram(&fixed, s);
        for d in 0..k {
            g[d * s + d] += solver.regularization;
        }
        // Direct solve of the same system in f64.
        let mut a = nalgebra::DMatrix::<f64>::zeros(k, k);
        let mut b = nalgebra::DVector::<f64>::zeros(k);
        for p in 0..k {
            for q in 0..k {
                a[(p, q)] = g[p * s + q];
            }
        }
        for (&c, &w) in cols.iter().zip(&weights) {
            let y = &fixed[c as usize * s..c as usize * s + k];
            let conf = 1.0 + 2.0 * f64::from(w);
            for p in 0..k {
                b[p] += conf * f64::from(y[p]);
                for q in 0..k {
                    a[(p, q)] += (conf - 1.0) * f64::from(y[p]) * f64::from(y[q]);
                }
            }
        }
        let exact = a.cholesky().unwrap().solve(&b);
        let g: Vec<f32> = g.iter().map(|&v| v as f32).collect();
        let mut x = vec![0.0f32; s];
        let mut scratch = vec![0.0f32; 3 * s];
        solver.solve_row(&g, &fixed, &cols, &weights, &mut x, &mut scratch);
        let first_error: f64 = (0..k).map(|p| (f64::from(x[p]) - exact[p]).abs()).sum();
        for _ in 0..10 {
            solver.solve_row(&g, &fixed, &cols, &weights, &mut x, &mut scratch);
        }
        for p in 0..k {
            assert!(
                (f64::from(x[p]) - exact[p]).abs() < 1e-4,
                "{x:?} vs {exact}"
            );
        }
        assert!(x[k..].iter().all(|&v| v == 0.0), "padding moved: {x:?}");
        assert!(
            first_error > 1e-4,
            "3 steps from zero already exact: {first_error}"
        );
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
