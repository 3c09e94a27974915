//! Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987), in the
//! formulation of lifetimes and Fader, Hardie & Lee 2005.
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α) and dies after an
//! exponential lifetime with rate μ ~ Gamma(s, β). The likelihood involves
//! A₀ = ₂F₁(r+s+x, t; r+s+x+1; |α−β|/(max(α,β)+tₓ)) / (max+tₓ)^(r+s+x) − (same at T), with the
//! case split t = r + x when α < β and t = s + 1 otherwise. Each ₂F₁ is evaluated after Euler's
//! transformation, ₂F₁(a, b; a+1; z) = (1−z)^(1−b) ₂F₁(1, a+1−b; a+1; z), whose terms are
//! bounded by zⁿ, so the series neither overflows for large x nor loses precision.
//!
//! Near z = 1 (one rate parameter thousands of times the other, on a short history) the series
//! would need millions of terms, so there the died-before-T term is taken as the integral it
//! stands for, ∫ (α+τ)^−(r+x) (β+τ)^−(s+1) dτ over (tₓ, T], by quadrature.
//!
//! The fit uses central-difference gradients (no analytic gradient is implemented); its
//! parameters are poorly determined on typical data (a flat likelihood), so compare fits by their
//! log-likelihood.

use serde::{Deserialize, Serialize};

use crate::clv::PurchaseModel;
use crate::data::RfmData;
use crate::optim::{minimize, numeric_gradient, std_errors};
use crate::special::{hyp2f1, integrate, ln_gamma, log_add_exp, log_sub_exp};
use crate::{AnalyticsError, FitDiagnostics};

/// Pareto/NBD parameters: purchase rate λ ~ Gamma(r, α), dropout rate μ ~ Gamma(s, β).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdParams {
    /// Shape of the purchase-rate gamma distribution.
    pub r: f64,
    /// Rate of the purchase-rate gamma distribution.
    pub alpha: f64,
    /// Shape of the dropout-rate gamma distribution.
    pub s: f64,
    /// Rate of the dropout-rate gamma distribution.
    pub beta: f64,
}

/// A maximum-likelihood Pareto/NBD fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdFit {
    /// Parameters at the maximum of the likelihood.
    pub params: ParetoNbdParams,
    /// Asymptotic standard errors, when the (numeric) Hessian is positive definite.
    pub std_errors: Option<ParetoNbdParams>,
    /// Total log-likelihood at `params`.
    pub log_likelihood: f64,
    /// How the optimiser went.
    pub diagnostics: FitDiagnostics,
}

/// ln ₂F₁(a, b; a + 1; z) for 0 ≤ z < 1 via Euler's transformation.
fn ln_hyp2f1_a_a1(a: f64, b: f64, z: f64) -> f64 {
    (1.0 - b) * (-z).ln_1p() + hyp2f1(1.0, a + 1.0 - b, a + 1.0, z).ln()
}

/// Largest z at which the died-before-T term is summed as a series (at most a few thousand
/// terms); beyond it [`ln_death_integral`] integrates.
const SERIES_Z_MAX: f64 = 0.99;

/// ln ∫ (lo+τ)^−`e_lo` (hi+τ)^−`e_hi` dτ over (tₓ, T], by quadrature in w = ln(lo + τ).
///
/// In w the integrand is exp(h(w)) with h(w) = (1 − `e_lo`) w − `e_hi` ln(hi − lo + eʷ), which is
/// concave, so its largest value is at the root of h′ clamped to the range. The integrand is
/// scaled by that value, and the tolerance is set from a lower bound on the scaled integral (the
/// chords from the peak to the ends lie below a concave h), so the result is accurate relative
/// to itself however narrow the peak, to about 10⁻¹² or the rounding in h (which grows with x).
fn ln_death_integral(lo: f64, hi: f64, e_lo: f64, e_hi: f64, t_x: f64, t_cal: f64) -> f64 {
    let (w0, w1) = ((lo + t_x).ln(), (lo + t_cal).ln());
    if w1 <= w0 {
        return f64::NEG_INFINITY;
    }
    let ln_gap = (hi - lo).ln();
    let h = |w: f64| (1.0 - e_lo) * w - e_hi * log_add_exp(ln_gap, w);
    // h′(w) = (1 − e_lo) − e_hi eʷ/(hi − lo + eʷ) = 0 where eʷ/(hi − lo + eʷ) = p; e_lo + e_hi > 1
    // keeps p below 1, and p ≤ 0 means h falls all the way.
    let p = (1.0 - e_lo) / e_hi;
    let peak = if p > 0.0 && hi > lo {
        (ln_gap + p.ln() - (-p).ln_1p()).clamp(w0, w1)
    } else {
        w0
    };
    let top = h(peak);
    let chord = |length: f64, drop: f64| {
        if drop > 0.0 {
            -length * (-drop).exp_m1() / drop
        } else {
            length
        }
    };
    let lower_bound = chord(peak - w0, top - h(w0)) + chord(w1 - peak, top - h(w1));
    // h(w) − top loses about ε·|h| to rounding; asking for more would halve panels in vain.
    let noise = 16.0 * f64::EPSILON * (h(w0).abs() + h(w1).abs());
    let scaled = integrate(
        |w| (h(w) - top).exp(),
        (w0, w1),
        peak,
        1e-12 * lower_bound,
        noise,
    );
    top + scaled.ln()
}

impl ParetoNbdParams {
    /// Builds parameters, checking that all four are finite and positive.
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<Self, AnalyticsError> {
        for (name, v) in [("r", r), ("alpha", alpha), ("s", s), ("beta", beta)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AnalyticsError::invalid(
                    name,
                    format!("{v} is not positive"),
                ));
            }
        }
        Ok(Self { r, alpha, s, beta })
    }

    /// The two terms of the likelihood in logs: (alive-at-T term, died-before-T term), both
    /// without the common A₁ = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β.
    fn log_terms(&self, x: u32, t_x: f64, t_cal: f64) -> (f64, f64) {
        let Self { r, alpha, s, beta } = *self;
        let xf = f64::from(x);
        let rsx = r + s + xf;
        let (lo, hi, t) = if alpha < beta {
            (alpha, beta, r + xf)
        } else {
            (beta, alpha, s + 1.0)
        };
        let alive = -(r + xf) * (alpha + t_cal).ln() - s * (beta + t_cal).ln();
        let (q1, q2) = (hi + t_x, hi + t_cal);
        if (hi - lo) / q1 > SERIES_Z_MAX {
            // t is the exponent of the smaller rate's factor; the other is r + x or s + 1.
            let e_hi = rsx + 1.0 - t;
            return (
                alive,
                s.ln() + ln_death_integral(lo, hi, t, e_hi, t_x, t_cal),
            );
        }
        let lp1 = ln_hyp2f1_a_a1(rsx, t, (hi - lo) / q1) - rsx * q1.ln();
        let lp2 = ln_hyp2f1_a_a1(rsx, t, (hi - lo) / q2) - rsx * q2.ln();
        let log_a0 = if lp2 >= lp1 {
            f64::NEG_INFINITY
        } else {
            log_sub_exp(lp1, lp2)
        };
        (alive, s.ln() + log_a0 - rsx.ln())
    }

    fn a1(&self, x: u32) -> f64 {
        let xf = f64::from(x);
        ln_gamma(self.r + xf) - ln_gamma(self.r)
            + self.r * self.alpha.ln()
            + self.s * self.beta.ln()
    }

    /// Log-likelihood of one customer's (x, tₓ, T).
    pub fn log_likelihood_one(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        let (alive, dead) = self.log_terms(x, t_x, t_cal);
        self.a1(x) + log_add_exp(alive, dead)
    }

    /// Total (weighted) log-likelihood of a data set.
    pub fn log_likelihood(&self, data: &RfmData) -> f64 {
        let mut ll = 0.0;
        for (x, gw, range) in data.groups() {
            ll += gw * self.a1(x);
            for k in range {
                let tx = data.times[data.i_recency[k] as usize];
                let t = data.times[data.i_age[k] as usize];
                let (alive, dead) = self.log_terms(x, tx, t);
                ll += data.weight[k] * log_add_exp(alive, dead);
            }
        }
        ll
    }

    /// Probability that a customer with history (x, tₓ, T) is alive at T.
    pub fn p_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        let (alive, dead) = self.log_terms(x, t_x, t_cal);
        (alive - log_add_exp(alive, dead)).exp()
    }

    /// Expected purchases in (T, T + t] of a customer alive at T with x repeat purchases.
    pub fn expected_purchases_if_alive(&self, t: f64, x: u32, t_cal: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let Self { r, alpha, s, beta } = *self;
        let k = (t / (beta + t_cal)).ln_1p();
        let sm1 = s - 1.0;
        let integral = if sm1.abs() < 1e-12 {
            k
        } else {
            -(-sm1 * k).exp_m1() / sm1
        };
        (r + f64::from(x)) * (beta + t_cal) / (alpha + t_cal) * integral
    }

    /// Expected purchases in (T, T + t] of a customer with history (x, tₓ, T).
    pub fn conditional_expected_purchases(&self, t: f64, x: u32, t_x: f64, t_cal: f64) -> f64 {
        self.p_alive(x, t_x, t_cal) * self.expected_purchases_if_alive(t, x, t_cal)
    }
}

impl PurchaseModel for ParetoNbdParams {
    fn p_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        ParetoNbdParams::p_alive(self, x, t_x, t_cal)
    }

    fn expected_purchases_if_alive(&self, t: f64, x: u32, t_cal: f64) -> f64 {
        ParetoNbdParams::expected_purchases_if_alive(self, t, x, t_cal)
    }
}

/// Maximum-likelihood fit of Pareto/NBD to compressed customer data.
pub fn fit(data: &RfmData) -> Result<ParetoNbdFit, AnalyticsError> {
    let w = data.total_weight();
    let mean_age = (data.patterns().map(|p| p.age * p.weight).sum::<f64>() / w).max(1e-3);
    let u0 = [0.0, mean_age.ln(), 0.0, mean_age.ln()];
    let mut value = |u: &[f64; 4]| {
        let [r, alpha, s, beta] = u.map(f64::exp);
        -ParetoNbdParams { r, alpha, s, beta }.log_likelihood(data) / w
    };
    let objective = |u: &[f64; 4], g: &mut [f64; 4]| numeric_gradient(&mut value, u, g);
    let m = minimize(objective, u0, 1e-8)?;
    let [r, alpha, s, beta] = m.u.map(f64::exp);
    let mut diagnostics = m.diagnostics;
    diagnostics.max_abs_grad *= w;
    Ok(ParetoNbdFit {
        params: ParetoNbdParams { r, alpha, s, beta },
        std_errors: m.hess_inv.map(|h| {
            let [r, alpha, s, beta] = std_errors(&m.u, &h, w);
            ParetoNbdParams { r, alpha, s, beta }
        }),
        log_likelihood: -m.f * w,
        diagnostics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ln ∫ over (tₓ, T] from the series, as `log_terms` sums it.
    fn ln_death_series(p: &ParetoNbdParams, x: u32, t_x: f64, t_cal: f64) -> f64 {
        let (_, dead) = p.log_terms(x, t_x, t_cal);
        dead - p.s.ln()
    }

    #[test]
    fn quadrature_matches_the_series_where_both_apply() {
        for &(r, alpha, s, beta) in &[
            (0.55, 10.6, 0.61, 11.7),
            (2.0, 1.0, 0.3, 40.0),
            (0.2, 60.0, 3.0, 2.0),
        ] {
            let p = ParetoNbdParams::new(r, alpha, s, beta).expect("test parameters");
            for &(x, t_x, t_cal) in &[
                (0, 0.0, 30.0),
                (3, 12.5, 39.0),
                (40, 70.0, 75.0),
                (1, 0.5, 2000.0),
            ] {
                let xf = f64::from(x);
                let (lo, hi, e_lo, e_hi) = if alpha < beta {
                    (alpha, beta, r + xf, s + 1.0)
                } else {
                    (beta, alpha, s + 1.0, r + xf)
                };
                assert!((hi - lo) / (hi + t_x) <= SERIES_Z_MAX, "the series applies");
                let series = ln_death_series(&p, x, t_x, t_cal);
                let quadrature = ln_death_integral(lo, hi, e_lo, e_hi, t_x, t_cal);
                assert!(
                    (series - quadrature).abs() < 1e-11 * series.abs().max(1.0),
                    "{r} {alpha} {s} {beta} / {x} {t_x} {t_cal}: {series} against {quadrature}"
                );
            }
        }
    }

    #[test]
    fn likelihood_stays_finite_where_the_series_would_not_converge() {
        // Found by the property test: α/β ≈ 10⁻⁵ with no history puts z within 10⁻⁵ of 1.
        let p = ParetoNbdParams::new(1.0, 0.001_521_206_209_226_461_9, 1.0, 141.275_439_896_678_9)
            .expect("test parameters");
        for &(x, t_x, t_cal) in &[
            (0, 0.0, 0.0),
            (0, 0.0, 1e-3),
            (2, 0.01, 5.0),
            (9_000, 1.0, 9_999.0),
        ] {
            let ll = p.log_likelihood_one(x, t_x, t_cal);
            assert!(ll.is_finite(), "{x} {t_x} {t_cal}: {ll}");
            assert!((0.0..=1.0).contains(&p.p_alive(x, t_x, t_cal)));
        }
        // No time between the last purchase and T: the customer cannot have died unseen.
        assert!((p.p_alive(0, 0.0, 0.0) - 1.0).abs() < 1e-15);
        // The likelihood is continuous across the switch from series to quadrature: α = 1,
        // β = 101 puts z at 0.99 for tₓ = 0.
        let q = |alpha: f64| ParetoNbdParams::new(0.7, alpha, 1.3, 101.0).expect("test parameters");
        let below = q(1.0 + 1e-9).log_likelihood_one(2, 0.0, 20.0);
        let above = q(1.0 - 1e-9).log_likelihood_one(2, 0.0, 20.0);
        assert!((below - above).abs() < 1e-8, "{below} against {above}");
    }
}
