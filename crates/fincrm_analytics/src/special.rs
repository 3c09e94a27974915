//! Special functions the models need: log-gamma, digamma, log-beta, the Gauss hypergeometric
//! series and stable log-sum-exp helpers.

#![expect(
    clippy::many_single_char_names,
    reason = "the series' standard symbols a, b, c, z, n"
)]

/// Natural logarithm of the absolute value of the gamma function (musl's algorithm via `libm`).
#[inline]
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// Natural logarithm of the beta function B(a, b) for a, b > 0.
#[inline]
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Digamma function ψ(x) for x > 0, accurate to about 1e-15 relative.
///
/// Uses the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 10, then the asymptotic series.
pub fn digamma(x: f64) -> f64 {
    let mut x = x;
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // Bernoulli terms B_2k / (2k x^2k), k = 1..6.
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * 691.0 / 32760.0)))));
    acc + x.ln() - 0.5 * inv - series
}

/// `ln(exp(a) + exp(b))` without overflow or underflow.
#[inline]
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln(exp(a) - exp(b))` for a ≥ b (returns −∞ when a = b, NaN when a < b).
#[inline]
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    a + (-(b - a).exp_m1()).ln()
}

/// Maximum number of terms summed by [`hyp2f1`] before it gives up and returns NaN.
pub const HYP2F1_MAX_TERMS: usize = 1_000_000;

/// Gauss hypergeometric function ₂F₁(a, b; c; z) by its power series, for 0 ≤ z < 1.
///
/// Sums terms until they no longer change the sum in double precision. Callers in this crate
/// first apply Euler's transformation so that the series is well scaled (see the model modules);
/// it returns NaN if `z` is outside [0, 1) or the series needs more than [`HYP2F1_MAX_TERMS`]
/// terms.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(0.0..1.0).contains(&z) {
        return f64::NAN;
    }
    let mut sum = 1.0;
    let mut term = 1.0;
    let mut n = 0.0;
    for _ in 0..HYP2F1_MAX_TERMS {
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() <= f64::EPSILON * 0.25 * sum.abs() || term == 0.0 {
            return sum;
        }
        n += 1.0;
    }
    f64::NAN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_matches_known_values() {
        // ψ(1) = −γ, ψ(0.5) = −γ − 2 ln 2.
        let euler = 0.577_215_664_901_532_9_f64;
        assert!((digamma(1.0) + euler).abs() < 1e-14);
        assert!((digamma(0.5) + euler + 2.0 * std::f64::consts::LN_2).abs() < 1e-14);
        assert!((digamma(100.0) - 4.600_161_852_738_087).abs() < 1e-13);
    }

    #[test]
    fn digamma_is_the_derivative_of_ln_gamma() {
        for &x in &[0.01, 0.3, 2.5, 17.0, 1234.5] {
            let h = 1e-6 * x;
            let num = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!(
                (num - digamma(x)).abs() < 1e-6 * digamma(x).abs().max(1.0),
                "{x}"
            );
        }
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // 2F1(1, 1; 2; z) = −ln(1 − z) / z.
        let z = 0.7;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) + (1.0_f64 - z).ln() / z).abs() < 1e-14);
        // 2F1(a, b; b; z) = (1 − z)^−a.
        assert!((hyp2f1(2.5, 3.0, 3.0, 0.4) - 0.6_f64.powf(-2.5)).abs() < 1e-13);
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_nan());
    }

    #[test]
    fn log_exp_helpers_are_stable() {
        assert!((log_add_exp(-1000.0, -1000.0) - (-1000.0 + std::f64::consts::LN_2)).abs() < 1e-12);
        assert!((log_sub_exp(0.0, -1.0) - (1.0 - (-1.0_f64).exp()).ln()).abs() < 1e-15);
        assert!((log_add_exp(f64::NEG_INFINITY, 3.0) - 3.0).abs() < 1e-15);
    }
}
