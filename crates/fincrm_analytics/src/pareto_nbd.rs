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
//! The fit uses central-difference gradients (no analytic gradient is implemented); its
//! parameters are poorly determined on typical data (a flat likelihood), so compare fits by their
//! log-likelihood.

use serde::{Deserialize, Serialize};

use crate::clv::PurchaseModel;
use crate::data::RfmData;
use crate::optim::{minimize, numeric_gradient, std_errors};
use crate::special::{hyp2f1, ln_gamma, log_add_exp, log_sub_exp};
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
        let (q1, q2) = (hi + t_x, hi + t_cal);
        let lp1 = ln_hyp2f1_a_a1(rsx, t, (hi - lo) / q1) - rsx * q1.ln();
        let lp2 = ln_hyp2f1_a_a1(rsx, t, (hi - lo) / q2) - rsx * q2.ln();
        let log_a0 = if lp2 >= lp1 {
            f64::NEG_INFINITY
        } else {
            log_sub_exp(lp1, lp2)
        };
        let alive = -(r + xf) * (alpha + t_cal).ln() - s * (beta + t_cal).ln();
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
