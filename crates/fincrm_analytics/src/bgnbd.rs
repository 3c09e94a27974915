//! BG/NBD, the beta-geometric/negative-binomial model of repeat purchasing (Fader, Hardie & Lee
//! 2005, "Counting your customers the easy way").
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each purchase
//! they drop out with probability p ~ Beta(a, b). Inputs per customer are the repeat-purchase count
//! x, the recency tₓ (first to last purchase) and the age T (first purchase to the end of
//! calibration), all in the caller's time unit; the fitted α is in that unit too.
//!
//! The log-likelihood is the closed form of the paper, evaluated with log-sum-exp so it stays
//! finite for large x and T. The conditional expectation uses Euler's transformation
//! ₂F₁(r+x, b+x; a+b+x−1; z) = (1−z)^(a−1−r−x) ₂F₁(a+b−1−r, a−1; a+b+x−1; z), which removes the
//! (1−z)^(r+x) prefactor and keeps every term O(1) however large x is. Its terms alternate and
//! cancel for a large r against a small a + b − 1, or a large a (a degenerate fit where every
//! customer's dropout probability is the same): each answer is checked against its rounding, and
//! one not known to six digits is taken from the untransformed series instead, whose terms are all
//! positive (summed in logs). Near z = 1 (a tiny α against the horizon, on a short history) both
//! would need millions of terms, so there, and where neither is known to six digits, the
//! expectation is taken as the integral it stands for, over the dropout probability's posterior
//! (see [`BgNbdParams::expected_purchases_if_alive`]).

#![expect(
    clippy::many_single_char_names,
    reason = "the formulas use the papers' one-letter symbols (r, a, b, x, t, ...)"
)]
#![expect(
    clippy::similar_names,
    reason = "ln Γ and ψ of the same argument: lg_b / dg_b"
)]

use serde::{Deserialize, Serialize};

use crate::blocks::sum_blocks;
use crate::clv::PurchaseModel;
use crate::data::RfmData;
use crate::optim::{minimize_from, std_errors};
use crate::special::{
    digamma, hyp2f1_with_largest_term, integrate, ln_beta, ln_gamma, ln_hyp2f1_positive,
};
use crate::{AnalyticsError, FitDiagnostics};

/// Largest z at which the expectations are summed as a series (at most a few thousand terms);
/// beyond it they are integrated.
const SERIES_Z_MAX: f64 = 0.99;

/// BG/NBD parameters: purchase rate λ ~ Gamma(shape r, rate α), dropout p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    /// Shape of the purchase-rate gamma distribution.
    pub r: f64,
    /// Rate (inverse time scale) of the purchase-rate gamma distribution.
    pub alpha: f64,
    /// First shape of the dropout-probability beta distribution.
    pub a: f64,
    /// Second shape of the dropout-probability beta distribution.
    pub b: f64,
}

/// A maximum-likelihood BG/NBD fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    /// Parameters at the maximum of the likelihood.
    pub params: BgNbdParams,
    /// Asymptotic standard errors (inverse Hessian of −LL), when the Hessian is positive definite.
    pub std_errors: Option<BgNbdParams>,
    /// Total log-likelihood at `params`.
    pub log_likelihood: f64,
    /// How the optimiser went.
    pub diagnostics: FitDiagnostics,
}

impl BgNbdParams {
    /// Builds parameters, checking that all four are finite and positive.
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self, AnalyticsError> {
        for (name, v) in [("r", r), ("alpha", alpha), ("a", a), ("b", b)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AnalyticsError::invalid(
                    name,
                    format!("{v} is not positive"),
                ));
            }
        }
        Ok(Self { r, alpha, a, b })
    }

    fn to_array(self) -> [f64; 4] {
        [self.r, self.alpha, self.a, self.b]
    }

    fn from_array(p: [f64; 4]) -> Self {
        Self {
            r: p[0],
            alpha: p[1],
            a: p[2],
            b: p[3],
        }
    }

    /// Log-likelihood of one customer's (x, tₓ, T).
    pub fn log_likelihood_one(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let xf = f64::from(x);
        let rx = r + xf;
        let base = ln_gamma(rx) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + xf)
            - ln_gamma(b)
            - ln_gamma(a + b + xf);
        let a3 = -rx * (alpha + t_cal).ln();
        if x == 0 {
            return base + a3;
        }
        let a4 = a.ln() - (b + xf - 1.0).ln() - rx * (alpha + t_x).ln();
        base + crate::special::log_add_exp(a3, a4)
    }

    /// Total (weighted) log-likelihood of a data set.
    pub fn log_likelihood(&self, data: &RfmData) -> f64 {
        let mut scratch = Scratch::new(data);
        let mut g = [0.0; 4];
        ll_grad(&self.to_array(), data, &mut scratch, &mut g)
    }

    /// Probability that a customer with history (x, tₓ, T) is still alive at T.
    pub fn p_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        if x == 0 {
            return 1.0;
        }
        let Self { r, alpha, a, b } = *self;
        let xf = f64::from(x);
        let ln_odds =
            a.ln() - (b + xf - 1.0).ln() + (r + xf) * ((alpha + t_cal).ln() - (alpha + t_x).ln());
        1.0 / (1.0 + ln_odds.exp())
    }

    /// Expected purchases in (T, T + t] of a customer who is alive at T with x repeat purchases.
    ///
    /// Multiply by [`p_alive`](Self::p_alive) for the conditional expectation (done by
    /// [`conditional_expected_purchases`](Self::conditional_expected_purchases)).
    pub fn expected_purchases_if_alive(&self, t: f64, x: u32, t_cal: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let xf = f64::from(x);
        let z = t / (self.alpha + t_cal + t);
        // The series' third parameter a + b + x − 1 must be positive (at 0 its first term
        // divides by it); below that, as near z = 1, the integral takes over.
        if z > SERIES_Z_MAX || self.a + self.b + xf - 1.0 <= 0.0 {
            return self.expected_purchases_by_quadrature(t, x, t_cal);
        }
        let series = self.with_a_away_from_one(|p| {
            let am1 = p.a - 1.0;
            let c = p.a + p.b + xf - 1.0;
            known_to_six_digits(euler_bracket(p, xf, z))
                .or_else(|| known_to_six_digits(direct_bracket(p, xf, z)))
                .map_or(f64::NAN, |bracket| c / am1 * bracket)
        });
        if series.is_finite() {
            series
        } else {
            self.expected_purchases_by_quadrature(t, x, t_cal)
        }
    }

    /// [`expected_purchases_if_alive`](Self::expected_purchases_if_alive) as the integral the
    /// closed form stands for: alive at T with x repeat purchases, λ ~ Gamma(r + x, α + T) and
    /// p ~ Beta(a, b + x), and given both a customer buys (1 − e^(−λpt))/p in the next t; so the
    /// expectation is ∫ (1 − ((α+T)/(α+T+pt))^(r+x))/p Beta(p; a, b + x) dp over (0, 1).
    ///
    /// The integral is split at ½, each half in the distance w from its end (p below, 1 − p
    /// above). A Beta shape k below 1 makes its end singular: that half is taken in u with
    /// w = u^(1/k), which absorbs the power. The density is formed in logs, so large shapes
    /// neither overflow nor underflow.
    fn expected_purchases_by_quadrature(&self, t: f64, x: u32, t_cal: f64) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let (rate, shape, b_post) = (alpha + t_cal, r + f64::from(x), b + f64::from(x));
        // (1 − (rate/(rate + pt))^shape)/p, without cancellation for small p; its limit at 0
        // where pt/rate is too small to carry.
        let bought = |p: f64| {
            let y = p * t / rate;
            if y < 1e-12 {
                shape * t / rate
            } else {
                -(-shape * y.ln_1p()).exp_m1() / p
            }
        };
        // The density is scaled by ln B(a, b + x), then divided by its own integral by the same
        // rule: for large shapes ln B is the difference of ln Γ's near 10⁷, good to only 1e-8,
        // and the quadrature's own error cancels in the ratio too.
        let ln_norm = ln_beta(a, b_post);
        // One half, as ∫ bought × density and ∫ density: `near` is the Beta shape of its end,
        // `far` the other; `at` maps the distance w from the end to p.
        let half = |near: f64, far: f64, at: &dyn Fn(f64) -> f64| {
            let both = |with_bought: bool| {
                if near < 1.0 {
                    integrate(
                        |u: f64| {
                            let w = u.powf(1.0 / near);
                            let density = ((far - 1.0) * (-w).ln_1p() - ln_norm).exp() / near;
                            if with_bought {
                                bought(at(w)) * density
                            } else {
                                density
                            }
                        },
                        (0.0, 0.5_f64.powf(near)),
                        0.0,
                        0.0,
                        1e-10,
                    )
                } else {
                    let mode = (near - 1.0) / (near + far - 2.0).max(f64::MIN_POSITIVE);
                    integrate(
                        |w: f64| {
                            if w == 0.0 {
                                return 0.0;
                            }
                            let density = ((near - 1.0) * w.ln() + (far - 1.0) * (-w).ln_1p()
                                - ln_norm)
                                .exp();
                            if with_bought {
                                bought(at(w)) * density
                            } else {
                                density
                            }
                        },
                        (0.0, 0.5),
                        mode.clamp(0.0, 0.5),
                        0.0,
                        1e-10,
                    )
                }
            };
            (both(true), both(false))
        };
        let (lower, upper) = (half(a, b_post, &|w| w), half(b_post, a, &|w| 1.0 - w));
        (lower.0 + upper.0) / (lower.1 + upper.1)
    }

    /// Expected purchases in (T, T + t] of a customer with history (x, tₓ, T).
    pub fn conditional_expected_purchases(&self, t: f64, x: u32, t_x: f64, t_cal: f64) -> f64 {
        self.p_alive(x, t_x, t_cal) * self.expected_purchases_if_alive(t, x, t_cal)
    }

    /// Unconditional expected purchases E[X(t)] in (0, t] of a newly acquired customer.
    pub fn expected_purchases(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        // A new customer: alive at T = 0 with no repeat purchase.
        self.expected_purchases_if_alive(t, 0, 0.0)
    }

    /// Evaluates `f`, averaging a ± 1e-7 when a is within 1e-7 of 1 (a removable singularity).
    fn with_a_away_from_one(&self, f: impl Fn(&Self) -> f64) -> f64 {
        if (self.a - 1.0).abs() < 1e-7 {
            let lo = Self {
                a: 1.0 - 1e-7,
                ..*self
            };
            let hi = Self {
                a: 1.0 + 1e-7,
                ..*self
            };
            0.5 * (f(&lo) + f(&hi))
        } else {
            f(self)
        }
    }
}

impl PurchaseModel for BgNbdParams {
    fn p_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        BgNbdParams::p_alive(self, x, t_x, t_cal)
    }

    fn expected_purchases_if_alive(&self, t: f64, x: u32, t_cal: f64) -> f64 {
        BgNbdParams::expected_purchases_if_alive(self, t, x, t_cal)
    }
}

/// A form's bracket if it is known to six digits (at least 10⁶ times its rounding bound);
/// `None` sends the caller to the next form.
fn known_to_six_digits(form: Option<(f64, f64)>) -> Option<f64> {
    form.filter(|(bracket, rounding)| bracket.abs() >= 1e6 * rounding)
        .map(|(bracket, _)| bracket)
}

/// The bracket 1 − (1−z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z) of the conditional expectation, by
/// Euler's transformation (1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z)), with a bound on its
/// rounding error. Every term stays O(1) however large x is, but for a large r against a small
/// a + b − 1, or a large a, the terms alternate and cancel: the bound then says so.
fn euler_bracket(p: &BgNbdParams, xf: f64, z: f64) -> Option<(f64, f64)> {
    let am1 = p.a - 1.0;
    let (f, largest) =
        hyp2f1_with_largest_term(p.a + p.b - 1.0 - p.r, am1, p.a + p.b + xf - 1.0, z);
    let scale = (am1 * (-z).ln_1p()).exp();
    let bracket = 1.0 - scale * f;
    // The bracket's rounding: the series' largest term's, scaled, and the 1's.
    let rounding = 64.0 * f64::EPSILON * (scale * largest + 1.0);
    (bracket.is_finite() && rounding.is_finite()).then_some((bracket, rounding))
}

/// The same bracket from the untransformed series, whose terms are all positive when
/// a + b + x − 1 > 0: it cannot cancel, and is summed in logs so it cannot overflow. Only the
/// last step, 1 − S with S = (1−z)^(r+x) ₂F₁, can lose digits (S near 1, a short horizon), and
/// the bound says how many. This is the form for large a and b (a fit where nobody's dropout
/// differs: the Beta distribution is a spike), where Euler's terms grow like (az)ⁿ/n! and cancel.
fn direct_bracket(p: &BgNbdParams, xf: f64, z: f64) -> Option<(f64, f64)> {
    let (n, c) = (p.r + xf, p.a + p.b + xf - 1.0);
    if c <= 0.0 {
        return None;
    }
    let (ln_f, terms) = ln_hyp2f1_positive(n, p.b + xf, c, z)?;
    let ln_prefactor = n * (-z).ln_1p();
    let ln_s = ln_prefactor + ln_f;
    let bracket = -ln_s.exp_m1();
    // ln S carries the rounding of its two parts, and each term of the sum that of its
    // product of factors.
    #[expect(clippy::cast_precision_loss, reason = "a term count, far below 2^52")]
    let ln_error = f64::EPSILON * (64.0 * (ln_prefactor.abs() + ln_f.abs() + 1.0) + terms as f64);
    let rounding = ln_s.exp() * ln_error;
    (bracket.is_finite() && rounding.is_finite()).then_some((bracket, rounding))
}

/// Per-evaluation tables of ln(α + t) and 1/(α + t) over the distinct time values.
struct Scratch {
    ln_at: Vec<f64>,
    inv_at: Vec<f64>,
}

impl Scratch {
    fn new(data: &RfmData) -> Self {
        Self {
            ln_at: vec![0.0; data.times.len()],
            inv_at: vec![0.0; data.times.len()],
        }
    }
}

/// Total log-likelihood and its gradient with respect to (r, α, a, b).
fn ll_grad(theta: &[f64; 4], data: &RfmData, s: &mut Scratch, grad: &mut [f64; 4]) -> f64 {
    let [r, alpha, a, b] = *theta;
    for ((l, i), &t) in s.ln_at.iter_mut().zip(s.inv_at.iter_mut()).zip(&data.times) {
        *l = (alpha + t).ln();
        *i = 1.0 / (alpha + t);
    }
    let ln_alpha = alpha.ln();
    let (lg_r, dg_r) = (ln_gamma(r), digamma(r));
    let (lg_ab, dg_ab) = (ln_gamma(a + b), digamma(a + b));
    let (lg_b, dg_b) = (ln_gamma(b), digamma(b));
    let mut ll = 0.0;
    let mut g = [0.0; 4];
    // The terms of x alone, once per x group.
    for (x, gw, _) in data.groups() {
        let xf = f64::from(x);
        let rx = r + xf;
        let dg_abx = digamma(a + b + xf);
        ll += gw
            * (ln_gamma(rx) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + xf)
                - lg_b
                - ln_gamma(a + b + xf));
        g[0] += gw * (digamma(rx) - dg_r + ln_alpha);
        g[1] += gw * r / alpha;
        g[2] += gw * (dg_ab - dg_abx);
        g[3] += gw * (dg_ab + digamma(b + xf) - dg_b - dg_abx);
    }
    // The terms of each pattern's times, in blocks over all cores.
    let tables = &*s;
    let per_pattern = sum_blocks(data.weight.len(), |block| {
        pattern_terms([r, a, b], data, tables, block)
    });
    ll += per_pattern[0];
    for (gi, p) in g.iter_mut().zip(&per_pattern[1..]) {
        *gi += p;
    }
    *grad = g;
    ll
}

/// The log-likelihood and gradient terms of the patterns in `block` that depend on their times:
/// `[ll, ∂r, ∂α, ∂a, ∂b]`.
fn pattern_terms(
    [r, a, b]: [f64; 3],
    data: &RfmData,
    s: &Scratch,
    block: std::ops::Range<usize>,
) -> [f64; 5] {
    let ln_a = a.ln();
    let mut out = [0.0; 5];
    // The x groups the block overlaps: `bounds` is ascending, from 0 to the pattern count.
    let first = data.bounds.partition_point(|&start| start <= block.start) - 1;
    for (gi, &x) in data.xs.iter().enumerate().skip(first) {
        if data.bounds[gi] >= block.end {
            break;
        }
        let range = data.bounds[gi].max(block.start)..data.bounds[gi + 1].min(block.end);
        let xf = f64::from(x);
        let rx = r + xf;
        let (mut s_ll, mut s_r, mut s_alpha, mut s_w4) = (0.0, 0.0, 0.0, 0.0);
        if x == 0 {
            for k in range {
                let w = data.weight[k];
                let it = data.i_age[k] as usize;
                s_ll -= w * s.ln_at[it];
                s_alpha -= w * s.inv_at[it];
            }
            out[0] += rx * s_ll;
            out[1] += s_ll;
            out[2] += rx * s_alpha;
            continue;
        }
        let c4 = ln_a - (b + xf - 1.0).ln();
        for k in range {
            let w = data.weight[k];
            let (it, ix) = (data.i_age[k] as usize, data.i_recency[k] as usize);
            let a3 = -rx * s.ln_at[it];
            let a4 = c4 - rx * s.ln_at[ix];
            let d = a4 - a3;
            let (lse, w4) = if d <= 0.0 {
                let e = d.exp();
                (a3 + e.ln_1p(), e / (1.0 + e))
            } else {
                let e = (-d).exp();
                (a4 + e.ln_1p(), 1.0 / (1.0 + e))
            };
            let w3 = 1.0 - w4;
            s_ll += w * lse;
            s_r -= w * (w3 * s.ln_at[it] + w4 * s.ln_at[ix]);
            s_alpha -= w * (w3 * s.inv_at[it] + w4 * s.inv_at[ix]);
            s_w4 += w * w4;
        }
        out[0] += s_ll;
        out[1] += s_r;
        out[2] += rx * s_alpha;
        out[3] += s_w4 / a;
        out[4] -= s_w4 / (b + xf - 1.0);
    }
    out
}

/// Patterns above which a fit first runs on a sample of them (every [`SAMPLE_EVERY`]th).
const SAMPLE_ABOVE: usize = 100_000;
/// The sampling step of the warm-start fit.
const SAMPLE_EVERY: usize = 16;

/// Maximum-likelihood fit of BG/NBD to compressed customer data.
///
/// Above [`SAMPLE_ABOVE`] patterns the fit first runs on every 16th pattern (a systematic
/// sample across frequencies and times, weights kept), and the full fit starts from that
/// sample's optimum and inverse Hessian: the sample costs about three evaluations on all the
/// data and saves most of BFGS's iterations. The full fit then runs to the same gradient
/// tolerance and Newton polish as without it, so it reaches the same maximum.
pub fn fit(data: &RfmData) -> Result<BgNbdFit, AnalyticsError> {
    let w = data.total_weight();
    let mean_age = data.patterns().map(|p| p.age * p.weight).sum::<f64>() / w;
    let cold = [0.0, mean_age.max(1e-3).ln(), 0.0, 0.0];
    let warm = (data.weight.len() > SAMPLE_ABOVE)
        .then(|| sample(data))
        .and_then(|sample| minimize_mean_ll(&sample?, cold, None).ok())
        .filter(|m| m.diagnostics.converged);
    let m = match warm {
        Some(warm) => minimize_mean_ll(data, warm.u, warm.hess_inv)?,
        None => minimize_mean_ll(data, cold, None)?,
    };
    let params = BgNbdParams::from_array(m.u.map(f64::exp));
    let mut diagnostics = m.diagnostics;
    diagnostics.max_abs_grad *= w;
    Ok(BgNbdFit {
        params,
        std_errors: m
            .hess_inv
            .map(|h| BgNbdParams::from_array(std_errors(&m.u, &h, w))),
        log_likelihood: -m.f * w,
        diagnostics,
    })
}

/// Every [`SAMPLE_EVERY`]th pattern, weights kept; `None` if it cannot be built.
fn sample(data: &RfmData) -> Option<RfmData> {
    let kept: Vec<_> = data.patterns().step_by(SAMPLE_EVERY).collect();
    let column = |f: fn(&crate::data::Pattern) -> f64| kept.iter().map(f).collect::<Vec<f64>>();
    let frequency: Vec<u32> = kept.iter().map(|p| p.frequency).collect();
    RfmData::with_weights(
        &frequency,
        &column(|p| p.recency),
        &column(|p| p.age),
        &column(|p| p.weight),
    )
    .ok()
}

/// Minimises the mean negative log-likelihood over ln θ from `u0`.
fn minimize_mean_ll(
    data: &RfmData,
    u0: [f64; 4],
    h_inv0: Option<[[f64; 4]; 4]>,
) -> Result<crate::optim::Minimum<4>, AnalyticsError> {
    let w = data.total_weight();
    let mut scratch = Scratch::new(data);
    let objective = |u: &[f64; 4], g: &mut [f64; 4]| {
        let theta = u.map(f64::exp);
        let mut gt = [0.0; 4];
        let ll = ll_grad(&theta, data, &mut scratch, &mut gt);
        for i in 0..4 {
            g[i] = -theta[i] * gt[i] / w;
        }
        -ll / w
    };
    minimize_from(objective, u0, h_inv0, 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three forms are the same expectation: where a series form passes its rounding check
    /// it agrees with the integral, and each form is exercised.
    #[test]
    fn the_series_forms_and_the_quadrature_agree_where_they_apply() {
        let (mut by_euler, mut by_direct) = (0, 0);
        for &(r, alpha, a, b) in &[
            (0.243, 4.414, 0.793, 2.426),
            (2.0, 0.3, 0.4, 0.7),
            (0.5, 1.0, 3.0, 40.0),
            (1.2, 0.05, 1.5, 0.8),
            // A degenerate fit (the analytics-run test's year-old demo bank): a and b huge, so
            // every customer's dropout probability is a/(a+b). Euler's series cancels here.
            (0.596, 4.14, 122_333.9, 4_243_821.9),
            (40.0, 2.0, 3000.0, 9000.0),
        ] {
            let p = BgNbdParams::new(r, alpha, a, b).expect("test parameters");
            for &(t, x, t_cal) in &[
                (13.0, 0, 0.0),
                (39.0, 2, 30.0),
                (4.0, 25, 70.0),
                (52.0, 1, 1.0),
                (4.345, 7, 35.57),
            ] {
                let xf = f64::from(x);
                let z = t / (alpha + t_cal + t);
                let quadrature = p.expected_purchases_by_quadrature(t, x, t_cal);
                let c_over_am1 = (a + b + xf - 1.0) / (a - 1.0);
                let accepted =
                    |form: Option<(f64, f64)>| known_to_six_digits(form).map(|b| c_over_am1 * b);
                let euler = accepted(euler_bracket(&p, xf, z));
                let direct = accepted(direct_bracket(&p, xf, z));
                if a > 100_000.0 {
                    assert!(euler.is_none(), "Euler's terms cancel for a = {a}");
                }
                for (form, value, count) in [
                    ("Euler", euler, &mut by_euler),
                    ("direct", direct, &mut by_direct),
                ] {
                    if let Some(series) = value {
                        *count += 1;
                        assert!(
                            (series - quadrature).abs() <= 1e-9 * series.abs(),
                            "{form} {r} {alpha} {a} {b} / {t} {x} {t_cal}: {series} against {quadrature}"
                        );
                    }
                }
                let chosen = p.expected_purchases_if_alive(t, x, t_cal);
                assert!(
                    (chosen - quadrature).abs() <= 1e-9 * quadrature,
                    "{chosen} {quadrature}"
                );
            }
        }
        assert!(by_euler >= 15 && by_direct >= 10, "{by_euler} {by_direct}");
    }

    #[test]
    fn expectations_stay_finite_where_the_series_would_not_converge() {
        for &(a, b) in &[
            (0.5, 2.0),
            (2.0, 0.5),
            (1.5, 50.0),
            (1.0, 1.0),
            (0.01, 0.02),
        ] {
            for alpha in [1e-4, 1e-6, 1e-9] {
                let p = BgNbdParams::new(0.5, alpha, a, b).expect("test parameters");
                let new = p.expected_purchases(13.0);
                let alive = p.expected_purchases_if_alive(13.0, 3, 0.5);
                // Given p, a customer buys at most 1/p, and 1/p has mean (a+b−1)/(a−1) for
                // a > 1; the rate alone caps the count at r·t/α.
                for e in [new, alive] {
                    assert!(e.is_finite() && e > 0.0, "{a} {b} {alpha}: {e}");
                    assert!(e <= 13.0 * 3.5 / alpha, "{a} {b} {alpha}: {e}");
                }
                if a > 1.0 {
                    assert!(
                        new <= (a + b - 1.0) / (a - 1.0) * (1.0 + 1e-9),
                        "{a} {b}: {new}"
                    );
                }
            }
        }
        // a + b = 1 with no repeat purchase: the series would divide by zero.
        let unit = BgNbdParams::new(2.0, 0.3, 0.4, 0.6).expect("test parameters");
        let e = unit.expected_purchases(13.0);
        assert!(e.is_finite() && e > 0.0, "{e}");
        // Continuous across the switch: α = 13·(1/0.99 − 1) puts z at 0.99 for T = 0.
        let edge = 13.0 * (1.0 / 0.99 - 1.0);
        let at = |alpha: f64| {
            BgNbdParams::new(0.7, alpha, 1.3, 2.1)
                .expect("test parameters")
                .expected_purchases(13.0)
        };
        let (series, quadrature) = (at(edge * (1.0 + 1e-9)), at(edge * (1.0 - 1e-9)));
        assert!(
            (series - quadrature).abs() < 1e-8 * series,
            "{series} {quadrature}"
        );
    }

    /// Above [`SAMPLE_ABOVE`] patterns the fit starts from a sample's optimum: it must reach
    /// the maximum a fit from the usual start reaches.
    #[test]
    fn the_warm_start_reaches_the_cold_start_maximum() {
        let mut rng = crate::kmeans::SplitMix64::new(0x853c_49e6_748f_ea9b);
        let mut unit = move || rng.next_f64();
        // BG/NBD data with r = 1 and a = 1, where both mixing draws are one-liners: purchase
        // rates λ = -ln U / α (gamma with shape 1), drop-out p = 1 - U^(1/b) (beta(1, b)).
        let (alpha, b) = (5.0, 3.0);
        let (mut x, mut t_x, mut t) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..150_000_u32 {
            let t_cal = 20.0 + f64::from(i % 40) + unit();
            let lambda = -unit().max(f64::MIN_POSITIVE).ln() / alpha;
            let p = 1.0 - unit().powf(1.0 / b);
            let (mut now, mut n, mut last) = (0.0, 0_u32, 0.0);
            loop {
                now += -unit().max(f64::MIN_POSITIVE).ln() / lambda;
                if now > t_cal {
                    break;
                }
                n += 1;
                last = now;
                if unit() < p {
                    break;
                }
            }
            x.push(n);
            t_x.push(last);
            t.push(t_cal);
        }
        let data = RfmData::new(&x, &t_x, &t).expect("data");
        assert!(
            data.weight.len() > SAMPLE_ABOVE,
            "{} patterns",
            data.weight.len()
        );
        let warm = fit(&data).expect("warm fit");
        let w = data.total_weight();
        let mean_age = data.patterns().map(|p| p.age * p.weight).sum::<f64>() / w;
        let cold = minimize_mean_ll(&data, [0.0, mean_age.ln(), 0.0, 0.0], None).expect("cold");
        assert!(warm.diagnostics.converged && cold.diagnostics.converged);
        let cold_params = cold.u.map(f64::exp);
        for (got, want) in [
            warm.params.r,
            warm.params.alpha,
            warm.params.a,
            warm.params.b,
        ]
        .iter()
        .zip(cold_params)
        {
            assert!((got / want - 1.0).abs() < 1e-6, "{got} vs {want}");
        }
        assert!((warm.log_likelihood / (-cold.f * w) - 1.0).abs() < 1e-12);
        assert!(
            warm.diagnostics.evaluations < cold.diagnostics.evaluations,
            "{} evaluations warm, {} cold",
            warm.diagnostics.evaluations,
            cold.diagnostics.evaluations
        );
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let data = RfmData::new(
            &[0, 1, 2, 7, 30],
            &[0.0, 1.5, 10.0, 29.0, 35.0],
            &[38.0, 20.0, 38.0, 38.0, 36.0],
        )
        .unwrap();
        let theta = [0.3, 4.0, 0.8, 2.5];
        let mut s = Scratch::new(&data);
        let mut g = [0.0; 4];
        ll_grad(&theta, &data, &mut s, &mut g);
        for j in 0..4 {
            let h = 1e-6 * theta[j];
            let (mut tp, mut tm) = (theta, theta);
            tp[j] += h;
            tm[j] -= h;
            let mut dummy = [0.0; 4];
            let num = (ll_grad(&tp, &data, &mut s, &mut dummy)
                - ll_grad(&tm, &data, &mut s, &mut dummy))
                / (2.0 * h);
            assert!(
                (num - g[j]).abs() < 1e-6 * g[j].abs().max(1.0),
                "{j}: {num} vs {}",
                g[j]
            );
        }
        let p = BgNbdParams::from_array(theta);
        let per: f64 = data
            .patterns()
            .map(|q| q.weight * p.log_likelihood_one(q.frequency, q.recency, q.age))
            .sum();
        assert!((per - p.log_likelihood(&data)).abs() < 1e-10);
    }
}
