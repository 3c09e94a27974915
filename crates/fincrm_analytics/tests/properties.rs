//! Property tests: log-likelihoods stay finite over wide parameter ranges, and fits recover the
//! parameters of data simulated from known values.

use fincrm_analytics::bgbb::BgBbParams;
use fincrm_analytics::bgnbd::{self, BgNbdParams};
use fincrm_analytics::data::RfmData;
use fincrm_analytics::gamma_gamma::{self, GammaGammaParams, SpendData};
use fincrm_analytics::kmeans::SplitMix64;
use fincrm_analytics::pareto_nbd::ParetoNbdParams;
use proptest::prelude::*;

fn param() -> impl Strategy<Value = f64> {
    (-3.0_f64..3.0).prop_map(|e| 10_f64.powf(e))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bgnbd_and_pareto_log_likelihoods_and_predictions_are_finite(
        r in param(), alpha in param(), a in param(), b in param(),
        x in 0_u32..10_000, frac in 0.0_f64..=1.0, t in 0.0_f64..10_000.0,
    ) {
        let tx = if x == 0 { 0.0 } else { frac * t };
        let ll = BgNbdParams::new(r, alpha, a, b).expect("test data").log_likelihood_one(x, tx, t);
        prop_assert!(ll.is_finite(), "BG/NBD {ll}");
        let p = ParetoNbdParams::new(r, alpha, a, b).expect("test data");
        let ll = p.log_likelihood_one(x, tx, t);
        prop_assert!(ll.is_finite(), "Pareto/NBD {ll}");
        let pa = p.p_alive(x, tx, t);
        prop_assert!((0.0..=1.0).contains(&pa));
        let bg = BgNbdParams::new(r, alpha, a, b).expect("test data");
        let e = bg.p_alive(x, tx, t);
        prop_assert!((0.0..=1.0).contains(&e));
        // Predictions over a quarter in the same unit: finite and not negative.
        for expected in [
            bg.conditional_expected_purchases(13.0, x, tx, t),
            bg.expected_purchases(13.0),
            p.conditional_expected_purchases(13.0, x, tx, t),
        ] {
            prop_assert!(expected.is_finite() && expected >= 0.0, "prediction {expected}");
        }
        // Dropping out only takes purchases away: alive, a customer buys at most what the rate's
        // posterior mean, (r + x)/(α + T), gives over the horizon.
        let alive = bg.expected_purchases_if_alive(13.0, x, t);
        let ceiling = (r + f64::from(x)) / (alpha + t) * 13.0;
        prop_assert!(alive <= ceiling * (1.0 + 1e-9), "{alive} above {ceiling}");
    }

    #[test]
    fn gamma_gamma_and_bgbb_log_likelihoods_are_finite(
        p in param(), q in param(), v in param(), d in param(),
        x in 1_u32..10_000, m in 0.01_f64..1e6, n in 0_u32..200, tx_raw in 0_u32..200, x_raw in 0_u32..200,
    ) {
        let ll = GammaGammaParams::new(p, q, v).expect("test data").log_likelihood_one(x, m);
        prop_assert!(ll.is_finite(), "GG {ll}");
        let tx = tx_raw % (n + 1);
        let xx = x_raw % (tx + 1);
        let (xx, tx) = if xx == 0 || tx == 0 { (0, 0) } else { (xx, tx) };
        let ll = BgBbParams::new(p, q, v, d).expect("test data").log_likelihood_one(xx, tx, n);
        prop_assert!(ll.is_finite() && ll <= 1e-12, "BG/BB {ll}");
    }
}

/// Gamma(shape, 1) by Marsaglia & Tsang, with the shape < 1 boost.
#[expect(
    clippy::many_single_char_names,
    reason = "the published algorithm's symbols"
)]
fn gamma(rng: &mut SplitMix64, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = rng.next_f64().max(f64::MIN_POSITIVE);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        // Standard normal by Box-Muller.
        let (u1, u2) = (rng.next_f64().max(f64::MIN_POSITIVE), rng.next_f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.next_f64().max(f64::MIN_POSITIVE);
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn beta(rng: &mut SplitMix64, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    x / (x + gamma(rng, b))
}

fn within_3_se(what: &str, fitted: f64, se: f64, truth: f64) {
    assert!(
        (fitted - truth).abs() <= 3.0 * se,
        "{what}: fitted {fitted} ± {se}, truth {truth}"
    );
}

#[test]
fn bgnbd_fit_recovers_simulated_parameters() {
    let truth = BgNbdParams::new(0.5, 5.0, 0.8, 2.5).expect("test data");
    let mut rng = SplitMix64::new(2024);
    let (mut xs, mut txs, mut ts) = (vec![], vec![], vec![]);
    for i in 0..20_000 {
        let t_cal = 20.0 + f64::from(i % 40); // staggered acquisition
        let lambda = gamma(&mut rng, truth.r) / truth.alpha;
        let p = beta(&mut rng, truth.a, truth.b);
        let (mut t, mut x, mut tx) = (0.0, 0_u32, 0.0);
        loop {
            t += -rng.next_f64().max(f64::MIN_POSITIVE).ln() / lambda;
            if t > t_cal {
                break;
            }
            x += 1;
            tx = t;
            if rng.next_f64() < p {
                break; // dies right after this purchase
            }
        }
        xs.push(x);
        txs.push(tx);
        ts.push(t_cal);
    }
    let fit = bgnbd::fit(&RfmData::new(&xs, &txs, &ts).expect("test data")).expect("test data");
    let se = fit.std_errors.expect("test data");
    within_3_se("r", fit.params.r, se.r, truth.r);
    within_3_se("alpha", fit.params.alpha, se.alpha, truth.alpha);
    within_3_se("a", fit.params.a, se.a, truth.a);
    within_3_se("b", fit.params.b, se.b, truth.b);
}

#[test]
fn gamma_gamma_fit_recovers_simulated_parameters() {
    let truth = GammaGammaParams::new(6.0, 4.0, 15.0).expect("test data");
    let mut rng = SplitMix64::new(7);
    let (mut xs, mut ms) = (vec![], vec![]);
    for i in 0..20_000_u32 {
        let x = 1 + i % 10;
        let nu = gamma(&mut rng, truth.q) / truth.v;
        let total: f64 = (0..x).map(|_| gamma(&mut rng, truth.p) / nu).sum();
        xs.push(x);
        ms.push(total / f64::from(x));
    }
    let fit = gamma_gamma::fit(&SpendData::new(&xs, &ms).expect("test data")).expect("test data");
    let se = fit.std_errors.expect("test data");
    within_3_se("p", fit.params.p, se.p, truth.p);
    within_3_se("q", fit.params.q, se.q, truth.q);
    within_3_se("v", fit.params.v, se.v, truth.v);
}
