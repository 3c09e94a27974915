//! Pareto/NBD on CDNOW against lifetimes 0.11.3 and the published log-likelihood.

mod common;

use common::{assert_rel, cdnow_summary, num, reference};
use fincrm_analytics::data::RfmData;
use fincrm_analytics::pareto_nbd::{self, ParetoNbdParams};
use serde_json::Value;

fn params(r: &Value, key: &str) -> ParetoNbdParams {
    ParetoNbdParams::new(
        num(r, key, &["r"]),
        num(r, key, &["alpha"]),
        num(r, key, &["s"]),
        num(r, key, &["beta"]),
    )
    .expect("test data")
}

#[test]
fn pareto_nbd_matches_lifetimes() {
    let refs = reference();
    let s = cdnow_summary();
    let data = RfmData::new(&s.frequency, &s.recency, &s.age).expect("test data");
    assert_rel(
        params(&refs, "pnbd.published.params").log_likelihood(&data),
        num(&refs, "pnbd.loglik_at_published_params", &[]),
        1e-9,
        "LL at published",
    );
    let lifetimes = params(&refs, "pnbd.lifetimes.params");
    assert_rel(
        lifetimes.log_likelihood(&data),
        num(&refs, "pnbd.lifetimes.loglik", &[]),
        1e-9,
        "LL at lifetimes",
    );
    for row in refs["pnbd.predictions_39w_lifetimes"]
        .as_array()
        .expect("test data")
    {
        let id = row["ID"].as_u64().expect("test data");
        let i = s.id.iter().position(|&v| v == id).expect("test data");
        let (x, tx, t) = (s.frequency[i], s.recency[i], s.age[i]);
        assert_rel(
            lifetimes.conditional_expected_purchases(39.0, x, tx, t),
            row["E_Y39"].as_f64().expect("test data"),
            1e-9,
            &format!("E_Y39 of {id}"),
        );
        assert_rel(
            lifetimes.p_alive(x, tx, t),
            row["P_alive"].as_f64().expect("test data"),
            1e-9,
            "P_alive",
        );
    }
    let fit = pareto_nbd::fit(&data).expect("test data");
    println!("{fit:?}");
    assert_rel(
        fit.log_likelihood,
        num(&refs, "pnbd.tight.loglik", &[]),
        1e-6,
        "fitted LL",
    );
    assert!(fit.log_likelihood >= num(&refs, "pnbd.tight.loglik", &[]) - 1e-4);
}
