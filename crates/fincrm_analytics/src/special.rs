//! Special functions the models need: log-gamma, digamma, log-beta, the Gauss hypergeometric
//! series, adaptive Gauss–Legendre quadrature and stable log-sum-exp helpers.

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
    hyp2f1_with_largest_term(a, b, c, z).0
}

/// [`hyp2f1`] and the largest magnitude of a term it summed: a sum far smaller than its largest
/// term has lost that ratio's digits to cancellation, which a caller can check.
pub fn hyp2f1_with_largest_term(a: f64, b: f64, c: f64, z: f64) -> (f64, f64) {
    if !(0.0..1.0).contains(&z) {
        return (f64::NAN, f64::NAN);
    }
    let mut sum = 1.0;
    let mut term = 1.0;
    let mut largest: f64 = 1.0;
    let mut n = 0.0;
    for _ in 0..HYP2F1_MAX_TERMS {
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        largest = largest.max(term.abs());
        if term.abs() <= f64::EPSILON * 0.25 * sum.abs() || term == 0.0 {
            return (sum, largest);
        }
        n += 1.0;
    }
    (f64::NAN, f64::NAN)
}

/// ln ₂F₁(a, b; c; z) for a, b, c > 0 and 0 ≤ z < 1, where every term of the series is
/// positive, and the number of terms summed; `None` if it needs more than
/// [`HYP2F1_MAX_TERMS`].
///
/// The sum is rescaled whenever it grows past 2^900, so a series far beyond f64's range (a
/// large a against a z near 1) still gives its logarithm.
pub fn ln_hyp2f1_positive(a: f64, b: f64, c: f64, z: f64) -> Option<(f64, usize)> {
    const RESCALE_ABOVE: f64 = 8.452_712_498_170_644e270; // 2^900
    if !((0.0..1.0).contains(&z) && a > 0.0 && b > 0.0 && c > 0.0) {
        return None;
    }
    let mut sum = 1.0;
    let mut term = 1.0;
    let mut ln_scale = 0.0;
    let mut n = 0.0;
    for terms in 1..=HYP2F1_MAX_TERMS {
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term <= f64::EPSILON * 0.25 * sum {
            return Some((ln_scale + sum.ln(), terms));
        }
        if sum > RESCALE_ABOVE {
            sum /= RESCALE_ABOVE;
            term /= RESCALE_ABOVE;
            ln_scale += 900.0 * std::f64::consts::LN_2;
        }
        n += 1.0;
    }
    None
}

/// Points of the Gauss–Legendre rule [`integrate`] applies to each panel.
const GAUSS_LEGENDRE_POINTS: usize = 10;

/// Nodes and weights of the Gauss–Legendre rule on [−1, 1], found once by Newton's method on the
/// Legendre polynomial (its k-th root lies near cos(π(k − ¼)/(n + ½))).
fn gauss_legendre() -> &'static [(f64, f64); GAUSS_LEGENDRE_POINTS] {
    static RULE: std::sync::OnceLock<[(f64, f64); GAUSS_LEGENDRE_POINTS]> =
        std::sync::OnceLock::new();
    RULE.get_or_init(|| {
        let n = GAUSS_LEGENDRE_POINTS as f64;
        std::array::from_fn(|k| {
            let mut x = (std::f64::consts::PI * (k as f64 + 0.75) / (n + 0.5)).cos();
            let mut slope = 1.0;
            for _ in 0..100 {
                // P_n(x) and P_{n−1}(x) by the three-term recurrence.
                let (mut p_prev, mut p) = (1.0, x);
                for m in 2..=GAUSS_LEGENDRE_POINTS {
                    let m = m as f64;
                    (p_prev, p) = (p, ((2.0 * m - 1.0) * x * p - (m - 1.0) * p_prev) / m);
                }
                slope = n * (x * p - p_prev) / (x * x - 1.0);
                let step = p / slope;
                x -= step;
                if step.abs() <= 1e-16 {
                    break;
                }
            }
            (x, 2.0 / ((1.0 - x * x) * slope * slope))
        })
    })
}

/// Panels [`integrate`] halves at most; past it every panel left is taken as it stands.
const MAX_HALVINGS: usize = 20_000;

/// Halvings from the whole range to the narrowest first panel [`integrate`] sets beside the peak.
const PEAK_GRADING_STEPS: i32 = 40;

/// ∫ₐᵇ f by adaptive Gauss–Legendre quadrature, for a smooth integrand largest at `peak`.
///
/// Adaptive rules can be fooled by a peak narrower than their nodes' spacing (every estimate
/// then agrees on nearly nothing), so the first panels are graded geometrically from `peak`
/// toward both ends, the narrowest 2⁻⁴⁰ of the range. Each panel is then halved until its halves
/// agree with it to within its share of `abs_tol`, or to within `noise` relative (how precisely
/// `f` itself is computed, at least rounding), at most 48 times and [`MAX_HALVINGS`] panels in
/// all. The caller scales `f` so that it neither overflows nor underflows where it matters.
pub fn integrate(
    f: impl Fn(f64) -> f64,
    (a, b): (f64, f64),
    peak: f64,
    abs_tol: f64,
    noise: f64,
) -> f64 {
    if b <= a {
        return 0.0;
    }
    let rule = |lo: f64, hi: f64| {
        let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
        half * gauss_legendre()
            .iter()
            .map(|&(x, w)| w * f(mid + half * x))
            .sum::<f64>()
    };
    let peak = peak.clamp(a, b);
    let mut breaks = vec![a, peak, b];
    for k in 1..=PEAK_GRADING_STEPS {
        let offset = (b - a) * 2_f64.powi(-k);
        breaks.extend(
            [peak - offset, peak + offset]
                .into_iter()
                .filter(|p| a < *p && *p < b),
        );
    }
    breaks.sort_by(f64::total_cmp);
    breaks.dedup();
    let width = b - a;
    // An explicit stack instead of recursion: (lo, hi, estimate on [lo, hi], tolerance, depth).
    let mut panels: Vec<_> = breaks
        .windows(2)
        .map(|p| {
            (
                p[0],
                p[1],
                rule(p[0], p[1]),
                abs_tol * (p[1] - p[0]) / width,
                0_u32,
            )
        })
        .collect();
    let mut total = 0.0;
    let mut panels_halved = 0_usize;
    while let Some((lo, hi, whole, tol, depth)) = panels.pop() {
        let mid = 0.5 * (lo + hi);
        let (left, right) = (rule(lo, mid), rule(mid, hi));
        let halves = left + right;
        let error = (halves - whole).abs();
        panels_halved += 1;
        // The cap bounds the work whatever `f` does (an `f` noisier than `noise` says would
        // otherwise halve panels down to the depth limit, 2⁴⁸ of them).
        if depth >= 48
            || panels_halved >= MAX_HALVINGS
            || error <= tol
            || error <= noise.max(4.0 * f64::EPSILON) * halves.abs()
        {
            total += halves;
        } else {
            panels.push((lo, mid, left, 0.5 * tol, depth + 1));
            panels.push((mid, hi, right, 0.5 * tol, depth + 1));
        }
    }
    total
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
    fn ln_hyp2f1_positive_goes_beyond_f64s_range() {
        // ₂F₁(a, b; b; z) = (1 − z)^−a: at a = 2000, z = 0.9 that is e^4605, far past f64.
        let (ln_f, terms) = ln_hyp2f1_positive(2000.0, 3.0, 3.0, 0.9).expect("converges");
        let want = -2000.0 * (0.1_f64).ln();
        assert!((ln_f - want).abs() < 1e-12 * want, "{ln_f} {want}");
        assert!(terms > 20_000, "{terms}");
        // Where the plain sum fits it agrees with `hyp2f1`.
        let (ln_f, _) = ln_hyp2f1_positive(1.5, 2.5, 3.5, 0.7).expect("converges");
        assert!((ln_f.exp() / hyp2f1(1.5, 2.5, 3.5, 0.7) - 1.0).abs() < 1e-14);
        assert!(ln_hyp2f1_positive(1.0, -1.0, 2.0, 0.5).is_none());
        assert!(ln_hyp2f1_positive(1.0, 1.0, 2.0, 1.0).is_none());
    }

    #[test]
    fn log_exp_helpers_are_stable() {
        assert!((log_add_exp(-1000.0, -1000.0) - (-1000.0 + std::f64::consts::LN_2)).abs() < 1e-12);
        assert!((log_sub_exp(0.0, -1.0) - (1.0 - (-1.0_f64).exp()).ln()).abs() < 1e-15);
        assert!((log_add_exp(f64::NEG_INFINITY, 3.0) - 3.0).abs() < 1e-15);
    }

    #[test]
    fn gauss_legendre_weights_integrate_polynomials_exactly() {
        let rule = gauss_legendre();
        assert!((rule.iter().map(|&(_, w)| w).sum::<f64>() - 2.0).abs() < 1e-14);
        // A 10-point rule is exact up to degree 19: ∫₋₁¹ x¹⁸ = 2/19.
        let x18: f64 = rule.iter().map(|&(x, w)| w * x.powi(18)).sum();
        assert!((x18 - 2.0 / 19.0).abs() < 1e-14, "{x18}");
    }

    #[test]
    fn integrate_resolves_smooth_and_sharply_peaked_integrands() {
        let sine = integrate(f64::sin, (0.0, std::f64::consts::PI), 1.5, 1e-14, 0.0);
        assert!((sine - 2.0).abs() < 1e-13, "{sine}");
        // All the mass within 1e-3 of the lower end of a range 16 wide: ∫ e^(−10⁴ w) = 10⁻⁴.
        let peak = integrate(|w| (-1e4 * w).exp(), (0.0, 16.0), 0.0, 1e-18, 0.0);
        assert!((peak / 1e-4 - 1.0).abs() < 1e-12, "{peak}");
        assert!(integrate(f64::exp, (1.0, 1.0), 1.0, 1e-14, 0.0).abs() < 1e-300);
        // An integrand noisier than the caller says still ends, near its value.
        let noisy = integrate(|w| 1.0 + 1e-9 * (1e9 * w).sin(), (0.0, 1.0), 0.5, 0.0, 0.0);
        assert!((noisy - 1.0).abs() < 1e-8, "{noisy}");
        // A peak inside the range: ∫₋₁¹ e^(−10⁶ (w − 0.3)²) = √(π/10⁶).
        let inner = integrate(
            |w| (-1e6 * (w - 0.3) * (w - 0.3)).exp(),
            (-1.0, 1.0),
            0.3,
            1e-18,
            0.0,
        );
        assert!(
            (inner / (std::f64::consts::PI / 1e6).sqrt() - 1.0).abs() < 1e-12,
            "{inner}"
        );
    }
}
