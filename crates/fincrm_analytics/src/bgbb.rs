//! BG/BB, the beta-geometric/beta-binomial model for discrete-time ("was there a transaction in
//! period k?") data (Fader, Hardie & Shang 2010).
//!
//! While alive a customer transacts in each period with probability p ~ Beta(α, β) and dies at
//! the start of each period with probability θ ~ Beta(γ, δ). Data are (frequency x, recency tₓ
//! = the last period with a transaction, n = number of periods observed, weight) patterns; the
//! likelihood is the paper's closed form, summed in log space.

use serde::{Deserialize, Serialize};

use crate::optim::{minimize, numeric_gradient, std_errors};
use crate::special::{ln_beta, ln_gamma};
use crate::{AnalyticsError, FitDiagnostics};

/// BG/BB parameters: transaction probability p ~ Beta(α, β), dropout θ ~ Beta(γ, δ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgBbParams {
    /// First shape of the transaction-probability beta distribution.
    pub alpha: f64,
    /// Second shape of the transaction-probability beta distribution.
    pub beta: f64,
    /// First shape of the dropout-probability beta distribution.
    pub gamma: f64,
    /// Second shape of the dropout-probability beta distribution.
    pub delta: f64,
}

/// A maximum-likelihood BG/BB fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgBbFit {
    /// Parameters at the maximum of the likelihood.
    pub params: BgBbParams,
    /// Asymptotic standard errors, when the Hessian is positive definite.
    pub std_errors: Option<BgBbParams>,
    /// Total log-likelihood at `params`.
    pub log_likelihood: f64,
    /// How the optimiser went.
    pub diagnostics: FitDiagnostics,
}

/// One discrete-time pattern and its weight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgBbPattern {
    /// Number of periods with a transaction (excluding the acquisition period).
    pub frequency: u32,
    /// Last period with a transaction (0 if none).
    pub recency: u32,
    /// Number of periods observed.
    pub n_periods: u32,
    /// Number of customers with this pattern.
    pub weight: f64,
}

/// Validated, deduplicated BG/BB patterns.
#[derive(Debug, Clone, PartialEq)]
pub struct BgBbData {
    patterns: Vec<BgBbPattern>,
    total_weight: f64,
}

impl BgBbData {
    /// Validates (x ≤ tₓ ≤ n, x = 0 ⇔ tₓ = 0, weight ≥ 0) and merges identical patterns.
    pub fn new(patterns: &[BgBbPattern]) -> Result<Self, AnalyticsError> {
        let mut rows: Vec<BgBbPattern> = Vec::with_capacity(patterns.len());
        for (i, p) in patterns.iter().enumerate() {
            let ok = p.frequency <= p.recency
                && p.recency <= p.n_periods
                && (p.frequency == 0) == (p.recency == 0)
                && p.weight.is_finite()
                && p.weight >= 0.0;
            if !ok {
                return Err(AnalyticsError::invalid(
                    "patterns",
                    format!("row {i}: {p:?} is not a valid (x <= t_x <= n, weight >= 0) pattern"),
                ));
            }
            if p.weight > 0.0 {
                rows.push(*p);
            }
        }
        rows.sort_by_key(|p| (p.frequency, p.recency, p.n_periods));
        rows.dedup_by(|next, kept| {
            let same = (next.frequency, next.recency, next.n_periods)
                == (kept.frequency, kept.recency, kept.n_periods);
            if same {
                kept.weight += next.weight;
            }
            same
        });
        let total_weight = rows.iter().map(|p| p.weight).sum();
        if rows.is_empty() {
            return Err(AnalyticsError::NoData("no pattern with a positive weight"));
        }
        Ok(Self {
            patterns: rows,
            total_weight,
        })
    }

    /// The deduplicated patterns.
    pub fn patterns(&self) -> &[BgBbPattern] {
        &self.patterns
    }

    /// Total weight (number of customers).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }
}

impl BgBbParams {
    /// Builds parameters, checking that all four are finite and positive.
    pub fn new(alpha: f64, beta: f64, gamma: f64, delta: f64) -> Result<Self, AnalyticsError> {
        for (name, v) in [
            ("alpha", alpha),
            ("beta", beta),
            ("gamma", gamma),
            ("delta", delta),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AnalyticsError::invalid(
                    name,
                    format!("{v} is not positive"),
                ));
            }
        }
        Ok(Self {
            alpha,
            beta,
            gamma,
            delta,
        })
    }

    /// ln of the "alive through period n + m" term B(α+x, β+n−x)/B(α,β) · B(γ, δ+n+m)/B(γ,δ).
    fn ln_alive_term(&self, x: f64, n: f64, m: f64) -> f64 {
        let Self {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        ln_beta(alpha + x, beta + n - x) - ln_beta(alpha, beta) + ln_beta(gamma, delta + n + m)
            - ln_beta(gamma, delta)
    }

    /// Log-likelihood of one customer with pattern (x, tₓ, n).
    pub fn log_likelihood_one(&self, x: u32, t_x: u32, n: u32) -> f64 {
        let Self {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let (xf, txf) = (f64::from(x), f64::from(t_x));
        let mut ll = self.ln_alive_term(xf, f64::from(n), 0.0);
        let base = -ln_beta(alpha, beta) - ln_beta(gamma, delta);
        for i in 0..n.saturating_sub(t_x) {
            let i = f64::from(i);
            let term = base
                + ln_beta(alpha + xf, beta + txf - xf + i)
                + ln_beta(gamma + 1.0, delta + txf + i);
            ll = crate::special::log_add_exp(ll, term);
        }
        ll
    }

    /// Total (weighted) log-likelihood.
    pub fn log_likelihood(&self, data: &BgBbData) -> f64 {
        data.patterns
            .iter()
            .map(|p| p.weight * self.log_likelihood_one(p.frequency, p.recency, p.n_periods))
            .sum()
    }

    /// Probability of being alive in period n + m (m = 0: at the end of observation).
    pub fn p_alive(&self, m_future: u32, x: u32, t_x: u32, n: u32) -> f64 {
        (self.ln_alive_term(f64::from(x), f64::from(n), f64::from(m_future))
            - self.log_likelihood_one(x, t_x, n))
        .exp()
    }

    /// Expected number of transactions in the next m periods given the pattern (x, tₓ, n).
    pub fn conditional_expected_purchases(&self, m_future: u32, x: u32, t_x: u32, n: u32) -> f64 {
        let Self {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let (xf, nf, mf) = (f64::from(x), f64::from(n), f64::from(m_future));
        let ll = self.log_likelihood_one(x, t_x, n);
        let p2 = ln_beta(alpha + xf + 1.0, beta + nf - xf) - ln_beta(alpha, beta);
        let p3 = delta / (gamma - 1.0) * (ln_gamma(gamma + delta) - ln_gamma(1.0 + delta)).exp();
        let p4 = (ln_gamma(1.0 + delta + nf) - ln_gamma(gamma + delta + nf)).exp();
        let p5 = (ln_gamma(1.0 + delta + nf + mf) - ln_gamma(gamma + delta + nf + mf)).exp();
        (p2 - ll).exp() * p3 * (p4 - p5)
    }

    /// Unconditional expected number of transactions in the first n periods.
    pub fn expected_purchases(&self, n: u32) -> f64 {
        let Self {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let nf = f64::from(n);
        let ratio = (ln_gamma(gamma + delta) - ln_gamma(gamma + delta + nf)
            + ln_gamma(1.0 + delta + nf)
            - ln_gamma(1.0 + delta))
        .exp();
        alpha / (alpha + beta) * delta / (gamma - 1.0) * (1.0 - ratio)
    }
}

/// Maximum-likelihood fit of BG/BB.
pub fn fit(data: &BgBbData) -> Result<BgBbFit, AnalyticsError> {
    let w = data.total_weight;
    let mut value = |u: &[f64; 4]| {
        let [alpha, beta, gamma, delta] = u.map(f64::exp);
        -BgBbParams {
            alpha,
            beta,
            gamma,
            delta,
        }
        .log_likelihood(data)
            / w
    };
    let objective = |u: &[f64; 4], g: &mut [f64; 4]| numeric_gradient(&mut value, u, g);
    let m = minimize(objective, [0.0; 4], 1e-8)?;
    let to_params = |v: [f64; 4]| BgBbParams {
        alpha: v[0],
        beta: v[1],
        gamma: v[2],
        delta: v[3],
    };
    let mut diagnostics = m.diagnostics;
    diagnostics.max_abs_grad *= w;
    Ok(BgBbFit {
        params: to_params(m.u.map(f64::exp)),
        std_errors: m.hess_inv.map(|h| to_params(std_errors(&m.u, &h, w))),
        log_likelihood: -m.f * w,
        diagnostics,
    })
}
