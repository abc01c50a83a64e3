//! The statistics of the report: Wilson score intervals for a rate, the two-proportion z-test
//! and the unpooled interval of a difference, and customer-clustered (delta-method) standard
//! errors for rates whose impressions are grouped by customer.
//!
//! Pure functions on counts; `sql/report_experiment.sql` computes the same formulas in SQL
//! (same normal approximation, same constants).

/// The two-sided 95% standard normal quantile, Φ⁻¹(0.975).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A confidence interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// The 95% Wilson score interval of `successes` out of `trials` (Wilson 1927; Newcombe 1998,
/// method 3). `None` without trials. Unlike the Wald interval it stays inside [0, 1] and keeps
/// its coverage for small rates such as purchase rates.
pub fn wilson(successes: u64, trials: u64) -> Option<Interval> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// The complementary error function, erfc(x), by the Chebyshev fit of Numerical Recipes
/// (`erfcc`, fractional error below 1.2e-7 everywhere): enough for p-values printed with three
/// significant digits. The SQL version uses the same coefficients.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The two-sided p-value of a standard normal statistic `z`: P(|Z| >= |z|) = erfc(|z| / √2).
pub fn two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// Treatment versus control on one rate, at the impression level (impressions taken as
/// independent trials).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProportionTest {
    /// Treatment rate - control rate.
    pub difference: f64,
    /// 95% interval of the difference with the unpooled standard error
    /// √(p₁(1-p₁)/n₁ + p₂(1-p₂)/n₂) (Newcombe 1998, method 1).
    pub interval: Interval,
    /// The z statistic with the pooled standard error (the test of equal rates).
    pub z: f64,
    /// Two-sided p-value of `z`.
    pub p_value: f64,
}

/// Two-proportion z-test and interval of `x1/n1 - x2/n2`; `None` when a side has no trials.
/// When both rates are 0 or both 1 the pooled error is 0: z is 0 and the p-value 1 (no
/// evidence of a difference).
pub fn two_proportions(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<ProportionTest> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (p1, p2) = (x1 as f64 / n1f, x2 as f64 / n2f);
    let difference = p1 - p2;
    let unpooled = (p1 * (1.0 - p1) / n1f + p2 * (1.0 - p2) / n2f).sqrt();
    let pooled_rate = (x1 + x2) as f64 / (n1f + n2f);
    let pooled = (pooled_rate * (1.0 - pooled_rate) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    let z = if pooled > 0.0 {
        difference / pooled
    } else {
        0.0
    };
    Some(ProportionTest {
        difference,
        interval: Interval {
            low: difference - Z_95 * unpooled,
            high: difference + Z_95 * unpooled,
        },
        z,
        p_value: two_sided_p(z),
    })
}

/// Sums over the customers of one variant for one rate, enough for the delta-method variance
/// of the ratio R = Σyᵢ / Σnᵢ (customer i had nᵢ impressions, yᵢ of them successes).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClusterSums {
    /// Customers (clusters), K.
    pub customers: u64,
    /// Σnᵢ: impressions.
    pub n: f64,
    /// Σyᵢ: successes.
    pub y: f64,
    /// Σnᵢ².
    pub n2: f64,
    /// Σyᵢ².
    pub y2: f64,
    /// Σyᵢnᵢ.
    pub yn: f64,
}

impl ClusterSums {
    /// Adds one customer with `n` impressions, `y` of them successes.
    pub fn add_customer(&mut self, n: u64, y: u64) {
        let (n, y) = (n as f64, y as f64);
        self.customers += 1;
        self.n += n;
        self.y += y;
        self.n2 += n * n;
        self.y2 += y * y;
        self.yn += y * n;
    }

    /// The rate Σy / Σn.
    pub fn rate(&self) -> Option<f64> {
        (self.n > 0.0).then(|| self.y / self.n)
    }

    /// Delta-method (linearisation) variance of the rate with customers as the independent
    /// units: K/(K-1) · Σ(yᵢ - R·nᵢ)² / (Σn)². `None` with fewer than two customers.
    pub fn variance(&self) -> Option<f64> {
        if self.customers < 2 || self.n <= 0.0 {
            return None;
        }
        let r = self.y / self.n;
        let k = self.customers as f64;
        // Σ(y - R n)² expanded; clamp the rounding of a (near) zero residual sum.
        let residual = (self.y2 - 2.0 * r * self.yn + r * r * self.n2).max(0.0);
        Some(k / (k - 1.0) * residual / (self.n * self.n))
    }

    /// The rate's 95% interval from the clustered variance (normal approximation, clipped to
    /// [0, 1]).
    pub fn interval(&self) -> Option<Interval> {
        let (r, v) = (self.rate()?, self.variance()?);
        let half = Z_95 * v.sqrt();
        Some(Interval {
            low: (r - half).max(0.0),
            high: (r + half).min(1.0),
        })
    }
}

/// Treatment versus control on one rate with customers as the independent units (each
/// customer belongs to one variant, so the two variances add).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusteredTest {
    /// Treatment rate - control rate.
    pub difference: f64,
    /// 95% interval of the difference.
    pub interval: Interval,
    /// difference / standard error.
    pub z: f64,
    /// Two-sided p-value of `z`.
    pub p_value: f64,
}

/// The clustered comparison of `treatment` against `control`; `None` when a side has fewer
/// than two customers. A zero standard error (every customer at the same rate) gives z 0 and
/// p 1 when the rates are equal, and p 0 when they differ.
pub fn clustered_difference(
    treatment: &ClusterSums,
    control: &ClusterSums,
) -> Option<ClusteredTest> {
    let difference = treatment.rate()? - control.rate()?;
    let se = (treatment.variance()? + control.variance()?).sqrt();
    let z = if se > 0.0 {
        difference / se
    } else if difference == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(difference)
    };
    Some(ClusteredTest {
        difference,
        interval: Interval {
            low: difference - Z_95 * se,
            high: difference + Z_95 * se,
        },
        z,
        p_value: two_sided_p(z),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table II,
    /// method 3 (Wilson score): 81/263 -> 0.2553-0.3662, 15/148 -> 0.0624-0.1605,
    /// 0/20 -> 0-0.1611. 5/10 by hand: centre (0.5 + 1.9208/10) / 1.38415 = 0.5, half
    /// 1.95996/1.38415 * √(0.025 + 0.0096037) = 0.26341 -> 0.2366-0.7634.
    #[test]
    fn wilson_matches_newcombes_table_and_a_hand_computation() {
        for (x, n, low, high) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (5, 10, 0.2366, 0.7634),
        ] {
            let ci = wilson(x, n).unwrap();
            assert!(
                close(ci.low, low, 5e-5) && close(ci.high, high, 5e-5),
                "{x}/{n}: {ci:?}"
            );
        }
        assert_eq!(wilson(0, 0), None);
        let all = wilson(20, 20).unwrap();
        assert!(close(all.high, 1.0, 1e-12) && close(all.low, 1.0 - 0.1611, 5e-5));
    }

    /// Φ(1) = 0.841345 and the two-sided p of z = 1.959964 is 0.05 (standard normal tables).
    #[test]
    fn normal_tail_matches_the_tables() {
        assert!(close(
            1.0 - 0.5 * erfc(1.0 / std::f64::consts::SQRT_2),
            0.841_345,
            1e-6
        ));
        assert!(close(two_sided_p(Z_95), 0.05, 1e-7));
        assert!(close(two_sided_p(-Z_95), 0.05, 1e-7));
        assert!(close(two_sided_p(0.0), 1.0, 1e-7));
        assert!(two_sided_p(10.0) < 1e-20);
        assert!(close(erfc(-1.0), 2.0 - erfc(1.0), 1e-15));
    }

    /// Newcombe (1998), "Interval estimation for the difference between independent
    /// proportions", example (a): 56/70 - 48/80 = 0.2, method 1 (unpooled Wald) 0.0575-0.3425.
    /// Pooled z by hand: p = 104/150 = 0.69333, se = √(0.69333 · 0.30667 · (1/70 + 1/80))
    /// = 0.075467, z = 0.2 / 0.075467 = 2.6502, two-sided p = 0.00805.
    #[test]
    fn two_proportions_match_newcombes_example_and_the_pooled_z_by_hand() {
        let test = two_proportions(56, 70, 48, 80).unwrap();
        assert!(close(test.difference, 0.2, 1e-12));
        assert!(close(test.interval.low, 0.0575, 5e-5), "{test:?}");
        assert!(close(test.interval.high, 0.3425, 5e-5), "{test:?}");
        assert!(close(test.z, 2.6502, 1e-4), "{test:?}");
        assert!(close(test.p_value, 0.00805, 1e-5), "{test:?}");
        // Mirror image: same p, opposite sign.
        let mirror = two_proportions(48, 80, 56, 70).unwrap();
        assert!(close(mirror.z, -test.z, 1e-12) && close(mirror.p_value, test.p_value, 1e-12));
        // No trials on a side: nothing to test; identical all-zero rates: no evidence.
        assert_eq!(two_proportions(1, 0, 1, 2), None);
        let zero = two_proportions(0, 50, 0, 60).unwrap();
        assert_eq!((zero.z, zero.p_value), (0.0, 1.0));
    }

    /// One impression per customer: the clustered variance is the Bernoulli one times K/(K-1).
    /// Customers with 10 identical impressions each: the clustered variance is ten times the
    /// impression-level one (the design effect 1 + (m-1)ρ with ρ = 1).
    #[test]
    fn clustered_variance_reduces_to_the_binomial_and_grows_with_correlation() {
        let mut single = ClusterSums::default();
        for i in 0..100 {
            single.add_customer(1, u64::from(i < 30));
        }
        let binomial = 0.3 * 0.7 / 100.0;
        assert!(close(
            single.variance().unwrap(),
            binomial * 100.0 / 99.0,
            1e-15
        ));

        let mut grouped = ClusterSums::default();
        for i in 0..100 {
            grouped.add_customer(10, if i < 30 { 10 } else { 0 });
        }
        let per_impression = 0.3 * 0.7 / 1000.0;
        assert!(close(grouped.rate().unwrap(), 0.3, 1e-15));
        assert!(close(
            grouped.variance().unwrap(),
            10.0 * per_impression * 100.0 / 99.0,
            1e-15
        ));
        let ci = grouped.interval().unwrap();
        assert!(ci.low < 0.3 && ci.high > 0.3);

        let mut one = ClusterSums::default();
        one.add_customer(5, 2);
        assert_eq!(one.variance(), None);
        assert_eq!(clustered_difference(&grouped, &one), None);
    }

    #[test]
    fn clustered_difference_adds_the_variances() {
        let mut treatment = ClusterSums::default();
        let mut control = ClusterSums::default();
        for i in 0..200 {
            treatment.add_customer(4, u64::from(i % 2 == 0) * 2);
            control.add_customer(4, u64::from(i % 4 == 0) * 2);
        }
        let test = clustered_difference(&treatment, &control).unwrap();
        let se = (treatment.variance().unwrap() + control.variance().unwrap()).sqrt();
        assert!(close(test.difference, 0.25 - 0.125, 1e-12));
        assert!(close(test.z, test.difference / se, 1e-12));
        assert!(close(
            test.interval.high - test.interval.low,
            2.0 * Z_95 * se,
            1e-12
        ));
        assert!(test.p_value < 0.05);
        let same = clustered_difference(&control, &control).unwrap();
        assert_eq!((same.z, same.p_value), (0.0, 1.0));
    }
}
