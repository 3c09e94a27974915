//! BG/BB on the donations data against lifetimes 0.11.3 and Fader, Hardie & Shang 2010.

mod common;

use common::{DATA, assert_rel, num, reference};
use fincrm_analytics::bgbb::{self, BgBbData, BgBbParams, BgBbPattern};
use serde_json::Value;

fn donations() -> Vec<BgBbPattern> {
    let mut rdr = csv::Reader::from_path(format!("{DATA}/donations.csv")).expect("test data");
    rdr.records()
        .map(|r| {
            let r = r.expect("test data");
            BgBbPattern {
                frequency: r[0].parse().expect("test data"),
                recency: r[1].parse().expect("test data"),
                n_periods: r[2].parse().expect("test data"),
                weight: r[3].parse().expect("test data"),
            }
        })
        .collect()
}

fn params(r: &Value, key: &str) -> BgBbParams {
    BgBbParams::new(
        num(r, key, &["alpha"]),
        num(r, key, &["beta"]),
        num(r, key, &["gamma"]),
        num(r, key, &["delta"]),
    )
    .expect("test data")
}

#[test]
fn bgbb_matches_the_reference() {
    let r = reference();
    let rows = donations();
    let data = BgBbData::new(&rows).expect("test data");
    assert_rel(
        data.total_weight(),
        num(&r, "bgbb.n_donors", &[]),
        0.0,
        "donors",
    );
    let published = params(&r, "bgbb.published.params");
    let tight = params(&r, "bgbb.tight.params");
    assert_rel(
        published.log_likelihood(&data),
        num(&r, "bgbb.loglik_at_published_params", &[]),
        1e-9,
        "LL at published",
    );
    assert_rel(
        params(&r, "bgbb.lifetimes.params").log_likelihood(&data),
        num(&r, "bgbb.lifetimes.loglik", &[]),
        1e-9,
        "LL at lifetimes",
    );
    // Per-pattern values are stored rounded to 8 decimals: half a unit of the last place.
    for (i, row) in r["bgbb.per_pattern_loglik_at_published"]
        .as_array()
        .expect("test data")
        .iter()
        .enumerate()
    {
        let p = rows[i];
        assert_eq!(
            u64::from(p.frequency),
            row["x"].as_u64().expect("test data")
        );
        let ll = published.log_likelihood_one(p.frequency, p.recency, p.n_periods);
        assert!(
            (ll - row["ll"].as_f64().expect("test data")).abs() <= 5e-9 + 1e-12,
            "pattern {i}: {ll}"
        );
        let ll = tight.log_likelihood_one(p.frequency, p.recency, p.n_periods);
        let expected = r["bgbb.per_pattern_loglik_at_tight_mle"][i]
            .as_f64()
            .expect("test data");
        assert!(
            (ll - expected).abs() <= 5e-9 + 1e-12,
            "pattern {i} at MLE: {ll}"
        );
    }
    let fit = bgbb::fit(&data).expect("test data");
    println!("{fit:?}");
    assert_rel(fit.params.alpha, tight.alpha, 1e-5, "alpha");
    assert_rel(fit.params.beta, tight.beta, 1e-5, "beta");
    assert_rel(fit.params.gamma, tight.gamma, 1e-5, "gamma");
    assert_rel(fit.params.delta, tight.delta, 1e-5, "delta");
    assert_rel(
        fit.log_likelihood,
        num(&r, "bgbb.tight.loglik", &[]),
        1e-8,
        "LL",
    );
}

#[test]
fn bgbb_predictions_are_consistent() {
    let p = BgBbParams::new(1.204, 0.750, 0.657, 2.783).expect("test data");
    // A donor active in every period is almost surely alive; P(alive) falls with the gap.
    assert!(p.p_alive(0, 6, 6, 6) > p.p_alive(0, 6, 3, 6));
    assert!((p.p_alive(0, 0, 0, 0) - 1.0).abs() < 1e-12);
    // Conditional expectation for a brand-new customer (n = 0) equals the unconditional one.
    assert_rel(
        p.conditional_expected_purchases(5, 0, 0, 0),
        p.expected_purchases(5),
        1e-12,
        "E",
    );
}
