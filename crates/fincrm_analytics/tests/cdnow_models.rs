//! BG/NBD, Gamma-Gamma and CLV on CDNOW against lifetimes 0.11.3 and the published values
//! (`shared/data/reference/clv_reference.json`).

mod common;

use common::{assert_rel, cdnow_summary, num, reference};
use fincrm_analytics::bgnbd::{self, BgNbdParams};
use fincrm_analytics::clv::{ClvConfig, MonthConvention, customer_lifetime_values};
use fincrm_analytics::data::RfmData;
use fincrm_analytics::gamma_gamma::{self, GammaGammaParams, SpendData};
use fincrm_analytics::summary::TimeUnit;
use serde_json::Value;

fn bgnbd_params(r: &Value, key: &str) -> BgNbdParams {
    BgNbdParams::new(
        num(r, key, &["r"]),
        num(r, key, &["alpha"]),
        num(r, key, &["a"]),
        num(r, key, &["b"]),
    )
    .expect("test data")
}

fn gg_params(r: &Value, key: &str) -> GammaGammaParams {
    let v = if key.contains("published") {
        "gamma"
    } else {
        "v"
    };
    GammaGammaParams::new(num(r, key, &["p"]), num(r, key, &["q"]), num(r, key, &[v]))
        .expect("test data")
}

fn cdnow_rfm() -> RfmData {
    let s = cdnow_summary();
    RfmData::new(&s.frequency, &s.recency, &s.age).expect("test data")
}

#[test]
fn bgnbd_log_likelihood_matches_the_reference_at_fixed_params() {
    let r = reference();
    let data = cdnow_rfm();
    let published = bgnbd_params(&r, "bgnbd.published.params");
    assert_rel(
        published.log_likelihood(&data),
        num(&r, "bgnbd.loglik_at_published_params", &[]),
        1e-9,
        "LL at published",
    );
    assert_rel(
        bgnbd_params(&r, "bgnbd.lifetimes.params").log_likelihood(&data),
        num(&r, "bgnbd.lifetimes.loglik", &[]),
        1e-9,
        "LL at lifetimes",
    );
    // Per-customer values are stored rounded to 6 decimals: half a unit of the last place.
    let s = cdnow_summary();
    let tight = bgnbd_params(&r, "bgnbd.tight.params");
    for (key, p) in [
        ("bgnbd.per_customer_loglik_first18_at_published", published),
        ("bgnbd.per_customer_loglik_first18_at_tight_mle", tight),
    ] {
        for (i, v) in r[key].as_array().expect("test data").iter().enumerate() {
            let ll = p.log_likelihood_one(s.frequency[i], s.recency[i], s.age[i]);
            let expected = v.as_f64().expect("test data");
            assert!(
                (ll - expected).abs() <= 5e-7 + 1e-12,
                "{key}[{i}]: {ll} vs {expected}"
            );
        }
    }
}

#[test]
fn bgnbd_fit_reaches_the_tight_mle() {
    let r = reference();
    let fit = bgnbd::fit(&cdnow_rfm()).expect("test data");
    let tight = bgnbd_params(&r, "bgnbd.tight.params");
    println!("{fit:?}");
    assert!(fit.diagnostics.converged);
    assert_rel(fit.params.r, tight.r, 1e-5, "r");
    assert_rel(fit.params.alpha, tight.alpha, 1e-5, "alpha");
    assert_rel(fit.params.a, tight.a, 1e-5, "a");
    assert_rel(fit.params.b, tight.b, 1e-5, "b");
    assert_rel(
        fit.log_likelihood,
        num(&r, "bgnbd.tight.loglik", &[]),
        1e-8,
        "LL",
    );
    assert!(fit.log_likelihood >= num(&r, "bgnbd.tight.loglik", &[]) - 1e-7);
    let se = fit.std_errors.expect("test data");
    let key = "bgnbd.tight.std_errors";
    assert_rel(se.r, num(&r, key, &["r"]), 1e-3, "se r");
    assert_rel(se.alpha, num(&r, key, &["alpha"]), 1e-3, "se alpha");
    assert_rel(se.a, num(&r, key, &["a"]), 1e-3, "se a");
    assert_rel(se.b, num(&r, key, &["b"]), 1e-3, "se b");
}

#[test]
fn bgnbd_predictions_match_the_reference() {
    let r = reference();
    let lifetimes = bgnbd_params(&r, "bgnbd.lifetimes.params");
    let published = bgnbd_params(&r, "bgnbd.published.params");
    for row in r["bgnbd.predictions_39w"].as_array().expect("test data") {
        let x = u32::try_from(row["x"].as_u64().expect("test data")).expect("test data");
        let (tx, t) = (
            row["t_x"].as_f64().expect("test data"),
            row["T"].as_f64().expect("test data"),
        );
        let id = &row["ID"];
        let f = |k: &str| row[k].as_f64().expect("test data");
        assert_rel(
            lifetimes.conditional_expected_purchases(39.0, x, tx, t),
            f("E_Y39_lifetimes"),
            1e-9,
            &format!("E_Y39 of {id}"),
        );
        assert_rel(
            published.conditional_expected_purchases(39.0, x, tx, t),
            f("E_Y39_at_published_params"),
            1e-9,
            &format!("E_Y39 at published of {id}"),
        );
        assert_rel(
            lifetimes.p_alive(x, tx, t),
            f("P_alive_lifetimes"),
            1e-9,
            "P_alive",
        );
    }
    for (t, v) in r["bgnbd.uncond_E_X_t_at_lifetimes_params"]
        .as_object()
        .expect("test data")
    {
        let t: f64 = t.parse().expect("test data");
        assert_rel(
            lifetimes.expected_purchases(t),
            v.as_f64().expect("test data"),
            1e-9,
            "E[X(t)]",
        );
    }
    let s = cdnow_summary();
    let sum: f64 = (0..s.id.len())
        .map(|i| {
            lifetimes.conditional_expected_purchases(39.0, s.frequency[i], s.recency[i], s.age[i])
        })
        .sum();
    assert_rel(
        sum,
        num(&r, "bgnbd.cohort_sum_E_Y39_lifetimes", &[]),
        1e-9,
        "cohort sum",
    );
}

#[test]
fn gamma_gamma_matches_the_reference() {
    let r = reference();
    let s = cdnow_summary();
    let data = SpendData::new(&s.frequency, &s.monetary).expect("test data");
    assert_rel(
        data.total_weight(),
        num(&r, "gg.n_returning_customers", &[]),
        0.0,
        "repeat buyers",
    );
    assert_rel(
        gg_params(&r, "gg.published.params").log_likelihood(&data),
        num(&r, "gg.loglik_at_published_params", &[]),
        1e-9,
        "GG LL at published",
    );
    assert_rel(
        gg_params(&r, "gg.lifetimes.params").log_likelihood(&data),
        num(&r, "gg.lifetimes.loglik", &[]),
        1e-9,
        "GG LL at lifetimes",
    );
    let fit = gamma_gamma::fit(&data).expect("test data");
    println!("{fit:?}");
    let tight = gg_params(&r, "gg.tight.params");
    assert!(fit.diagnostics.converged);
    assert_rel(fit.params.p, tight.p, 1e-5, "p");
    assert_rel(fit.params.q, tight.q, 1e-5, "q");
    assert_rel(fit.params.v, tight.v, 1e-5, "v");
    assert_rel(
        fit.log_likelihood,
        num(&r, "gg.tight.loglik", &[]),
        1e-8,
        "GG LL",
    );

    let lifetimes = gg_params(&r, "gg.lifetimes.params");
    assert_rel(
        lifetimes.mean_spend(),
        num(&r, "gg.population_mean_spend_E_Z", &[]),
        1e-9,
        "E[Z]",
    );
    for row in r["gg.conditional_expected_average_profit_first10"]
        .as_array()
        .expect("test data")
    {
        let x = u32::try_from(row["x"].as_u64().expect("test data")).expect("test data");
        let v = lifetimes
            .conditional_expected_average_profit(x, row["zbar"].as_f64().expect("test data"));
        assert_rel(
            v,
            row["lifetimes"].as_f64().expect("test data"),
            1e-9,
            "expected average profit",
        );
    }
}

#[test]
fn clv_matches_lifetimes_for_weekly_and_for_misread_daily_data() {
    let r = reference();
    let s = cdnow_summary();
    let bg = bgnbd_params(&r, "bgnbd.lifetimes.params");
    let gg = gg_params(&r, "gg.lifetimes.params");
    let spend: Vec<f64> = (0..s.id.len())
        .map(|i| gg.conditional_expected_average_profit(s.frequency[i], s.monetary[i]))
        .collect();
    for (unit, key) in [(TimeUnit::Week, "freqW"), (TimeUnit::Day, "freqD")] {
        let cfg = ClvConfig::new(12, 0.01, 1.0, unit, MonthConvention::Lifetimes);
        let clv = customer_lifetime_values(&bg, &s.frequency, &s.recency, &s.age, &spend, &cfg)
            .expect("test data");
        let first10 = &r[format!("clv.time12_disc0.01_{key}.first10").as_str()];
        for (id, v) in first10.as_object().expect("test data") {
            let i =
                s.id.iter()
                    .position(|&x| x.to_string() == *id)
                    .expect("test data");
            assert_rel(
                clv[i],
                v.as_f64().expect("test data"),
                1e-9,
                &format!("CLV {key} of {id}"),
            );
        }
        let total: f64 = clv.iter().sum();
        let key_sum = format!("clv.time12_disc0.01_{key}.sum_all_customers");
        assert_rel(total, num(&r, &key_sum, &[]), 1e-9, "CLV sum");
    }
}
