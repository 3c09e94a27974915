//! Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, "The Gamma-Gamma model of
//! monetary value").
//!
//! A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, v) across customers. The
//! model is fitted on repeat buyers only (frequency x > 0) from their mean repeat-transaction
//! value m̄ (the `monetary` of [`crate::summary`]); the likelihood is the density of m̄ given x.
//! It assumes spend is independent of purchase frequency: check the correlation before use.

#![expect(
    clippy::many_single_char_names,
    reason = "the formulas use the papers' one-letter symbols (r, a, b, x, t, ...)"
)]

use serde::{Deserialize, Serialize};

use crate::blocks::sum_blocks;
use crate::optim::{minimize_from, std_errors};
use crate::special::{digamma, ln_gamma};
use crate::{AnalyticsError, FitDiagnostics};

/// Gamma-Gamma parameters (p, q, v); the population mean spend is p v / (q − 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    /// Shape of the per-transaction gamma distribution.
    pub p: f64,
    /// Shape of the across-customer gamma distribution of the rate ν.
    pub q: f64,
    /// Rate of the across-customer gamma distribution (called γ in the paper), in money units.
    pub v: f64,
}

/// A maximum-likelihood Gamma-Gamma fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    /// Parameters at the maximum of the likelihood.
    pub params: GammaGammaParams,
    /// Asymptotic standard errors, when the Hessian is positive definite.
    pub std_errors: Option<GammaGammaParams>,
    /// Total log-likelihood at `params`.
    pub log_likelihood: f64,
    /// How the optimiser went.
    pub diagnostics: FitDiagnostics,
}

/// Repeat buyers' (x, m̄) pairs, deduplicated with weights and grouped by x.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendData {
    xs: Vec<u32>,
    bounds: Vec<usize>,
    group_weight: Vec<f64>,
    group_sum_w_ln_m: Vec<f64>,
    monetary: Vec<f64>,
    weight: Vec<f64>,
    total_weight: f64,
}

impl SpendData {
    /// Keeps the customers with x > 0; their mean repeat spend must be positive and finite.
    pub fn new(frequency: &[u32], monetary: &[f64]) -> Result<Self, AnalyticsError> {
        if monetary.len() != frequency.len() {
            return Err(AnalyticsError::invalid(
                "monetary",
                "length differs from frequency",
            ));
        }
        let mut rows = Vec::new();
        for (i, (&x, &m)) in frequency.iter().zip(monetary).enumerate() {
            if x == 0 {
                continue;
            }
            if !(m.is_finite() && m > 0.0) {
                return Err(AnalyticsError::invalid(
                    "monetary",
                    format!("row {i}: {m} must be positive for a repeat buyer"),
                ));
            }
            rows.push((x, m.to_bits(), 1.0_f64));
        }
        if rows.is_empty() {
            return Err(AnalyticsError::NoData("no repeat buyer"));
        }
        rows.sort_unstable_by_key(|r| (r.0, r.1));
        rows.dedup_by(|next, kept| {
            if (next.0, next.1) == (kept.0, kept.1) {
                kept.2 += next.2;
                true
            } else {
                false
            }
        });
        Ok(Self::from_sorted(&rows))
    }

    /// From distinct (x, monetary bits, weight) rows sorted by (x, monetary).
    fn from_sorted(rows: &[(u32, u64, f64)]) -> Self {
        let mut d = Self {
            xs: Vec::new(),
            bounds: vec![0],
            group_weight: Vec::new(),
            group_sum_w_ln_m: Vec::new(),
            monetary: Vec::with_capacity(rows.len()),
            weight: Vec::with_capacity(rows.len()),
            total_weight: 0.0,
        };
        for (k, &(x, mb, w)) in rows.iter().enumerate() {
            if d.xs.last() != Some(&x) {
                if k > 0 {
                    d.bounds.push(k);
                }
                d.xs.push(x);
                d.group_weight.push(0.0);
                d.group_sum_w_ln_m.push(0.0);
            }
            let m = f64::from_bits(mb);
            d.monetary.push(m);
            d.weight.push(w);
            if let (Some(gw), Some(gl)) = (d.group_weight.last_mut(), d.group_sum_w_ln_m.last_mut())
            {
                *gw += w;
                *gl += w * m.ln();
            }
            d.total_weight += w;
        }
        d.bounds.push(rows.len());
        d
    }

    /// Every `step`th row, weights kept: a systematic sample across frequencies and spends.
    fn sample(&self, step: usize) -> Self {
        let mut rows = Vec::with_capacity(self.weight.len() / step + 1);
        for (g, &x) in self.xs.iter().enumerate() {
            for k in self.bounds[g]..self.bounds[g + 1] {
                if k % step == 0 {
                    rows.push((x, self.monetary[k].to_bits(), self.weight[k]));
                }
            }
        }
        Self::from_sorted(&rows)
    }

    /// Number of repeat buyers (total weight).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }
}

impl GammaGammaParams {
    /// Builds parameters, checking that all three are finite and positive.
    pub fn new(p: f64, q: f64, v: f64) -> Result<Self, AnalyticsError> {
        for (name, val) in [("p", p), ("q", q), ("v", v)] {
            if !(val.is_finite() && val > 0.0) {
                return Err(AnalyticsError::invalid(
                    name,
                    format!("{val} is not positive"),
                ));
            }
        }
        Ok(Self { p, q, v })
    }

    /// Log-density of one repeat buyer's mean spend m̄ over x > 0 transactions.
    pub fn log_likelihood_one(&self, x: u32, monetary: f64) -> f64 {
        let Self { p, q, v } = *self;
        let xf = f64::from(x);
        let px = p * xf;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * v.ln()
            + (px - 1.0) * monetary.ln()
            + px * xf.ln()
            - (px + q) * (xf * monetary + v).ln()
    }

    /// Total log-likelihood of the repeat buyers.
    pub fn log_likelihood(&self, data: &SpendData) -> f64 {
        let mut g = [0.0; 3];
        ll_grad(&[self.p, self.q, self.v], data, &mut g)
    }

    /// Population mean spend per transaction, p v / (q − 1) (infinite for q ≤ 1).
    pub fn mean_spend(&self) -> f64 {
        if self.q <= 1.0 {
            f64::INFINITY
        } else {
            self.p * self.v / (self.q - 1.0)
        }
    }

    /// Expected spend per transaction of a customer with x repeat purchases of mean value m̄.
    ///
    /// A credibility-weighted mean of the population mean and m̄ with weight p x / (p x + q − 1);
    /// for x = 0 it is the population mean.
    pub fn conditional_expected_average_profit(&self, x: u32, monetary: f64) -> f64 {
        let px = self.p * f64::from(x);
        let w = px / (px + self.q - 1.0);
        (1.0 - w) * self.mean_spend_finite() + w * monetary
    }

    fn mean_spend_finite(&self) -> f64 {
        self.p * self.v / (self.q - 1.0)
    }
}

/// Total log-likelihood and its gradient with respect to (p, q, v).
fn ll_grad(theta: &[f64; 3], d: &SpendData, grad: &mut [f64; 3]) -> f64 {
    let [p, q, v] = *theta;
    let (lg_q, dg_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
    let mut ll = 0.0;
    let mut g = [0.0; 3];
    // The terms of x alone, once per x group.
    for (gi, &x) in d.xs.iter().enumerate() {
        let xf = f64::from(x);
        let px = p * xf;
        let (gw, slm) = (d.group_weight[gi], d.group_sum_w_ln_m[gi]);
        let (dg_pxq, ln_x) = (digamma(px + q), xf.ln());
        ll +=
            gw * (ln_gamma(px + q) - ln_gamma(px) - lg_q + q * ln_v + px * ln_x) + (px - 1.0) * slm;
        g[0] += xf * (gw * (dg_pxq - digamma(px) + ln_x) + slm);
        g[1] += gw * (dg_pxq - dg_q + ln_v);
        g[2] += gw * q / v;
    }
    // The terms of each customer's spend, in blocks over all cores.
    let per_customer = sum_blocks(d.weight.len(), |block| spend_terms([p, q, v], d, block));
    ll += per_customer[0];
    for (gi, c) in g.iter_mut().zip(&per_customer[1..]) {
        *gi += c;
    }
    *grad = g;
    ll
}

/// The log-likelihood and gradient terms of the customers in `block` that depend on their
/// spend: `[ll, ∂p, ∂q, ∂v]`.
fn spend_terms([p, q, v]: [f64; 3], d: &SpendData, block: std::ops::Range<usize>) -> [f64; 4] {
    let mut out = [0.0; 4];
    // The x groups the block overlaps: `bounds` is ascending, from 0 to the customer count.
    let first = d.bounds.partition_point(|&start| start <= block.start) - 1;
    for (gi, &x) in d.xs.iter().enumerate().skip(first) {
        if d.bounds[gi] >= block.end {
            break;
        }
        let xf = f64::from(x);
        let px = p * xf;
        let (mut s_ln, mut s_inv) = (0.0, 0.0);
        for k in d.bounds[gi].max(block.start)..d.bounds[gi + 1].min(block.end) {
            let den = xf * d.monetary[k] + v;
            s_ln += d.weight[k] * den.ln();
            s_inv += d.weight[k] / den;
        }
        out[0] -= (px + q) * s_ln;
        out[1] -= xf * s_ln;
        out[2] -= s_ln;
        out[3] -= (px + q) * s_inv;
    }
    out
}

/// Customers above which a fit first runs on a sample of them (as BG/NBD's: see
/// [`crate::bgnbd::fit`]).
const SAMPLE_ABOVE: usize = 100_000;
/// The sampling step of the warm-start fit.
const SAMPLE_EVERY: usize = 16;

/// Maximum-likelihood fit of the Gamma-Gamma model on the repeat buyers.
///
/// Above [`SAMPLE_ABOVE`] distinct customers the fit first runs on every 16th of them and the
/// full fit starts from that optimum and inverse Hessian, then runs to the same tolerance and
/// polish as without it.
pub fn fit(data: &SpendData) -> Result<GammaGammaFit, AnalyticsError> {
    let mean_m = data
        .monetary
        .iter()
        .zip(&data.weight)
        .map(|(m, wt)| m * wt)
        .sum::<f64>()
        / data.total_weight;
    let cold = [0.0, 0.0, mean_m.ln()];
    let warm = (data.weight.len() > SAMPLE_ABOVE)
        .then(|| minimize_mean_ll(&data.sample(SAMPLE_EVERY), cold, None).ok())
        .flatten()
        .filter(|m| m.diagnostics.converged);
    let m = match warm {
        Some(warm) => minimize_mean_ll(data, warm.u, warm.hess_inv)?,
        None => minimize_mean_ll(data, cold, None)?,
    };
    let w = data.total_weight;
    let [p, q, v] = m.u.map(f64::exp);
    let mut diagnostics = m.diagnostics;
    diagnostics.max_abs_grad *= w;
    Ok(GammaGammaFit {
        params: GammaGammaParams { p, q, v },
        std_errors: m.hess_inv.map(|h| {
            let [p, q, v] = std_errors(&m.u, &h, w);
            GammaGammaParams { p, q, v }
        }),
        log_likelihood: -m.f * w,
        diagnostics,
    })
}

/// Minimises the mean negative log-likelihood over ln θ from `u0`.
fn minimize_mean_ll(
    data: &SpendData,
    u0: [f64; 3],
    h_inv0: Option<[[f64; 3]; 3]>,
) -> Result<crate::optim::Minimum<3>, AnalyticsError> {
    let w = data.total_weight;
    let objective = |u: &[f64; 3], g: &mut [f64; 3]| {
        let theta = u.map(f64::exp);
        let mut gt = [0.0; 3];
        let ll = ll_grad(&theta, data, &mut gt);
        for i in 0..3 {
            g[i] = -theta[i] * gt[i] / w;
        }
        -ll / w
    };
    minimize_from(objective, u0, h_inv0, 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Above [`SAMPLE_ABOVE`] customers the fit starts from a sample's optimum: it must reach
    /// the maximum a fit from the usual start reaches.
    #[test]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "test counts drawn in 0..150"
    )]
    fn the_warm_start_reaches_the_cold_start_maximum() {
        let mut rng = crate::kmeans::SplitMix64::new(0x2545_f491_4f6c_dd1d);
        let mut unit = move || rng.next_f64();
        let (mut x, mut m) = (Vec::new(), Vec::new());
        for _ in 0..150_000 {
            x.push(1 + (unit().powi(2) * 40.0) as u32);
            m.push(5.0 + 200.0 * unit() * unit());
        }
        let data = SpendData::new(&x, &m).expect("data");
        assert!(data.weight.len() > SAMPLE_ABOVE);
        let warm = fit(&data).expect("warm fit");
        let mean_m = m.iter().sum::<f64>() / m.len() as f64;
        let cold = minimize_mean_ll(&data, [0.0, 0.0, mean_m.ln()], None).expect("cold");
        assert!(warm.diagnostics.converged && cold.diagnostics.converged);
        let [p, q, v] = cold.u.map(f64::exp);
        for (got, want) in [(warm.params.p, p), (warm.params.q, q), (warm.params.v, v)] {
            assert!((got / want - 1.0).abs() < 1e-6, "{got} vs {want}");
        }
        assert!((warm.log_likelihood / (-cold.f * data.total_weight) - 1.0).abs() < 1e-12);
        assert!(warm.diagnostics.evaluations < cold.diagnostics.evaluations);
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let d = SpendData::new(&[1, 2, 2, 5, 0], &[10.0, 20.0, 35.5, 12.0, 0.0]).unwrap();
        let theta = [6.0, 3.7, 15.0];
        let mut g = [0.0; 3];
        ll_grad(&theta, &d, &mut g);
        for j in 0..3 {
            let h = 1e-6 * theta[j];
            let (mut tp, mut tm) = (theta, theta);
            tp[j] += h;
            tm[j] -= h;
            let mut dummy = [0.0; 3];
            let num = (ll_grad(&tp, &d, &mut dummy) - ll_grad(&tm, &d, &mut dummy)) / (2.0 * h);
            assert!((num - g[j]).abs() < 1e-6 * g[j].abs().max(1.0), "{j}");
        }
    }
}
