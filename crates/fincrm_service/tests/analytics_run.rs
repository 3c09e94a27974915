//! The analytics run over a store holding the demo bank: every customer scored, history kept,
//! a second run of the same day does nothing, an interrupted run resumes, the AUM trend reads
//! the run of a year before, a merged family is scored as one, corporates get corporate tiers.
//! On SQLite, and on PostgreSQL when `FINCRM_TEST_PG_URL` is set.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use chrono::NaiveDate;
use fincrm_service::analytics::{RunError, RunOptions, run};
use fincrm_store::Store;

/// Lists filter on the latest run's tier and stage: as many customers as the run reported.
async fn lists_filter_on_the_latest_run(
    store: &dyn Store,
    report: &fincrm_service::analytics::RunReport,
) {
    for (tier, n) in &report.tiers {
        let query = fincrm_store::CustomerQuery {
            tier: Some(tier.clone()),
            limit: 5000,
            ..fincrm_store::CustomerQuery::default()
        };
        let found = store
            .find_customers(&fincrm_store::CustomerScope::All, &query)
            .await
            .unwrap();
        assert_eq!(found.len(), *n, "tier {tier}");
    }
    for (stage, n) in &report.stages {
        assert!(fincrm_service::schema::LIFECYCLE_STAGES.contains(&stage.as_str()));
        let query = fincrm_store::CustomerQuery {
            stage: Some(stage.clone()),
            limit: 5000,
            ..fincrm_store::CustomerQuery::default()
        };
        let found = store
            .find_customers(&fincrm_store::CustomerScope::All, &query)
            .await
            .unwrap();
        assert_eq!(found.len(), *n, "stage {stage}");
    }
}

/// The 360 (one statement on PostgreSQL, one job on SQLite) reads what the separate reads do.
async fn the_360_reads_the_same_scores(
    store: &dyn Store,
    id: &fincrm_domain::CustomerId,
    history: &[fincrm_store::analytics::ScoreRow],
) {
    let limits = fincrm_store::View360Limits {
        latest: 20,
        scores: 10,
    };
    let whole = store
        .customer_360(&fincrm_store::CustomerScope::All, id, limits)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(whole.scores, history);
    assert_eq!(whole.holdings, store.holdings_of(id).await.unwrap());
    assert_eq!(
        whole.transactions,
        store.recent_transactions(id, 20).await.unwrap()
    );
}

/// Segments are named by spend, highest first, so a name means the same from run to run; and
/// each name is its centroid's.
async fn segments_are_named_by_their_centroids(
    store: &dyn Store,
    report: &fincrm_service::analytics::RunReport,
) {
    let spends: Vec<f64> = report.params["segments"]["centroids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[2].as_f64().unwrap())
        .collect();
    assert_eq!(spends.len(), 8);
    assert!(spends.windows(2).all(|w| w[0] >= w[1]), "{spends:?}");
    // Each segment's name is its centroid's: the mean AUM feature of the customers a segment
    // names is the AUM coordinate of the centroid listed under that name.
    let centroids = report.params["segments"]["centroids"].as_array().unwrap();
    let mut aum_features = vec![(0.0, 0_u32); centroids.len()];
    // The demo numbers individuals P1000000000 + i and corporates C2000000000 + i.
    let ids = (0..1500_u64).flat_map(|i| [1_000_000_000 + i, 2_000_000_000 + i]);
    for (i, number) in ids.enumerate() {
        let prefix = if i % 2 == 0 { 'P' } else { 'C' };
        let id = fincrm_domain::CustomerId::parse(&format!("{prefix}{number}")).unwrap();
        let history = store.score_history(&id, 1).await.unwrap();
        let Some(s) = history.first() else { continue };
        if let Some(name) = &s.segment {
            let k: usize = name.trim_start_matches('k').parse().unwrap();
            let feature = (s.aum_minor as f64 / 100.0).max(0.0).ln_1p();
            aum_features[k - 1].0 += feature;
            aum_features[k - 1].1 += 1;
        }
    }
    let segmented: u32 = aum_features.iter().map(|(_, n)| n).sum();
    assert_eq!(segmented as usize, report.active_customers);
    for (k, (sum, n)) in aum_features.iter().enumerate() {
        let centroid = centroids[k][3].as_f64().unwrap();
        assert!(*n > 0, "k{}", k + 1);
        let mean = sum / f64::from(*n);
        assert!(
            (mean - centroid).abs() < 1e-9 * centroid.abs().max(1.0),
            "k{}: {mean} vs {centroid}",
            k + 1
        );
    }
}

/// Marks the run of `options` started, as another process that never finished it would have.
async fn start_elsewhere(store: &dyn Store, options: &RunOptions) {
    store
        .start_analytics_run(&fincrm_store::analytics::AnalyticsRun {
            run_id: options.run_id(),
            as_of: options.as_of,
            model_version: fincrm_service::analytics::MODEL_VERSION.to_owned(),
            params: "{}".to_owned(),
            started_at: chrono::Utc::now(),
            finished_at: None,
            status: "running".to_owned(),
            customers: 0,
        })
        .await
        .unwrap();
}

async fn story(store: &dyn Store) {
    let demo = fincrm_demo::DemoConfig {
        customers: 1500,
        ..fincrm_demo::DemoConfig::default()
    };
    let counts = fincrm_service::demo::load(store, &demo, &()).await.unwrap();
    assert_eq!(counts.customers, 1500);

    let as_of = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let mut options = RunOptions::new(as_of);
    options.page_size = 400; // several pages
    let report = run(store, &options, &()).await.unwrap();
    assert_eq!(report.customers, 1500);
    assert!(report.active_customers > 1000, "{report:?}");
    assert!(
        report
            .warnings
            .iter()
            .all(|w| w.starts_with("Gamma-Gamma q")),
        "{:?}",
        report.warnings
    );
    assert_eq!(report.pages_written, 4);
    assert_eq!(report.tiers.values().sum::<usize>(), 1500);
    assert!(
        report.tiers.len() >= 3,
        "AUM tiers spread over the bands: {:?}",
        report.tiers
    );
    assert!(
        report.stages.contains_key("dormant") || report.stages.contains_key("churned"),
        "{:?}",
        report.stages
    );
    assert_eq!(report.params["segments"]["k"], 8);
    let silhouette = report.params["segments"]["silhouette"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&silhouette));
    let r = report.params["bgnbd"]["r"].as_f64().unwrap();
    assert!(r > 0.0 && r.is_finite());

    lists_filter_on_the_latest_run(store, &report).await;

    // Every customer has a score row with sane values.
    let mut with_clv = 0;
    for i in [0u64, 17, 499, 1499] {
        let id = fincrm_domain::CustomerId::parse(&format!("P{}", 1_000_000_000 + i)).unwrap();
        let Some(customer) = store.customer(&id).await.unwrap() else {
            continue;
        };
        let history = store.score_history(&customer.id, 10).await.unwrap();
        assert_eq!(history.len(), 1);
        let s = &history[0];
        if let Some(p) = s.p_alive {
            assert!((0.0..=1.0).contains(&p), "{s:?}");
        }
        if let Some(clv) = s.clv_minor {
            assert!(clv >= 0, "{s:?}");
            with_clv += 1;
        }
        assert!(!s.tier.is_empty() && !s.stage.is_empty());
        if s.frequency.is_some() {
            assert!(
                s.segment.as_deref().is_some_and(|seg| seg.starts_with('k')),
                "{s:?}"
            );
        }
    }
    assert!(with_clv > 0);
    segments_are_named_by_their_centroids(store, &report).await;

    // The same day again: nothing to do.
    let again = run(store, &options, &()).await.unwrap();
    assert!(again.already_completed);

    // A run that was started elsewhere and never completed is not run twice by accident…
    let next = RunOptions::new(as_of.succ_opt().unwrap());
    start_elsewhere(store, &next).await;
    assert!(matches!(
        run(store, &next, &()).await,
        Err(RunError::InProgress(_))
    ));
    // …and --resume completes it, keeping tier history from the previous day's run.
    let mut resume = next.clone();
    resume.resume = true;
    let resumed = run(store, &resume, &()).await.unwrap();
    assert_eq!(resumed.customers, 1500);
    let id = fincrm_domain::CustomerId::parse("P1000000000").unwrap();
    let history = store.score_history(&id, 10).await.unwrap();
    assert_eq!(history.len(), 2, "one row per run");
    the_360_reads_the_same_scores(store, &id, &history).await;
    assert_eq!(history[0].as_of, as_of.succ_opt().unwrap());
    assert_eq!(
        history[0].tier_since, history[1].tier_since,
        "an unchanged tier keeps its start day"
    );
}

/// The AUM trend reads the run of about a year before: every balance up 50 % since then, and no
/// customer the trend can reach stays "mature" or "loyal" — they are "growing".
async fn aum_trend_story(store: &dyn Store) {
    let demo = fincrm_demo::DemoConfig {
        customers: 400,
        ..fincrm_demo::DemoConfig::default()
    };
    fincrm_service::demo::load(store, &demo, &()).await.unwrap();
    let year_ago = NaiveDate::from_ymd_opt(2025, 10, 31).unwrap();
    let before = run(store, &RunOptions::new(year_ago), &()).await.unwrap();
    let settled = before.stages.get("mature").copied().unwrap_or(0)
        + before.stages.get("loyal").copied().unwrap_or(0);
    assert!(
        settled > 0,
        "a neutral trend leaves customers settled: {:?}",
        before.stages
    );

    let mut raised = Vec::new();
    for i in 0..400u64 {
        let id = fincrm_domain::CustomerId::parse(&format!("P{}", 1_000_000_000 + i)).unwrap();
        for mut h in store.holdings_of(&id).await.unwrap() {
            h.balance = fincrm_domain::Money::new(h.balance.minor * 3 / 2, h.balance.currency);
            raised.push(h);
        }
    }
    assert!(!raised.is_empty());
    store
        .write(None, &[fincrm_store::tables::holdings(&raised)])
        .await
        .unwrap();

    let now = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let after = run(store, &RunOptions::new(now), &()).await.unwrap();
    assert!(
        after.stages.get("growing").copied().unwrap_or(0) > 0,
        "{:?}",
        after.stages
    );
    let (mut checked, mut predicted) = (0, 0);
    for i in 0..400u64 {
        let id = fincrm_domain::CustomerId::parse(&format!("P{}", 1_000_000_000 + i)).unwrap();
        let history = store.score_history(&id, 2).await.unwrap();
        let [latest, earlier] = history.as_slice() else {
            continue;
        };
        // The year-old demo bank fits a degenerate BG/NBD (a and b in the hundred thousands:
        // everyone's dropout probability the same), where the usual series cancels to garbage;
        // every scored customer still gets a prediction, and one with repeat purchases a CLV.
        for score in [earlier, latest] {
            if score.p_alive.is_some() {
                assert!(
                    score
                        .expected_purchases_90d
                        .is_some_and(|e| e.is_finite() && e >= 0.0)
                        // Without a repeat purchase the CLV may be left empty on purpose
                        // (a Gamma-Gamma q ≤ 1 has no population mean spend).
                        && (score.frequency == Some(0)
                            || score.clv_minor.is_some_and(|clv| clv >= 0)),
                    "{score:?}"
                );
                predicted += 1;
            }
        }
        if earlier.aum_minor > 0 {
            checked += 1;
            assert!(
                latest.stage != "mature" && latest.stage != "loyal",
                "AUM up 50 % in a year is growth, not {}: {latest:?}",
                latest.stage
            );
        }
    }
    assert!(checked > 100, "{checked}");
    assert!(predicted > 400, "{predicted}");
}

/// Repeat purchase days (distinct local days of debits up to `as_of`, less the first) of
/// `transactions`, as the run counts them.
fn repeat_days(
    transactions: &[fincrm_domain::Transaction],
    offset_secs: i32,
    as_of: NaiveDate,
) -> i64 {
    let offset = chrono::Duration::seconds(i64::from(offset_secs));
    let days: std::collections::BTreeSet<NaiveDate> = transactions
        .iter()
        .filter(|t| t.direction == fincrm_domain::Direction::Debit)
        .map(|t| (t.at + offset).date_naive())
        .filter(|d| *d <= as_of)
        .collect();
    i64::try_from(days.len()).unwrap() - 1
}

/// A merged family is scored as one customer: the survivor with the family's purchase days
/// and balances, the merged record not at all.
async fn family_story(store: &dyn Store) {
    let demo = fincrm_demo::DemoConfig {
        customers: 300,
        ..fincrm_demo::DemoConfig::default()
    };
    fincrm_service::demo::load(store, &demo, &()).await.unwrap();
    let first_run = RunOptions::new(NaiveDate::from_ymd_opt(2026, 10, 30).unwrap());
    run(store, &first_run, &()).await.unwrap();

    // Two customers with purchases: the survivor and the record merged into it.
    let mut pair = Vec::new();
    for i in 0..300_u64 {
        let id = fincrm_domain::CustomerId::parse(&format!("P{}", 1_000_000_000 + i)).unwrap();
        let Some(c) = store.customer(&id).await.unwrap() else {
            continue;
        };
        let scores = store.score_history(&c.id, 1).await.unwrap();
        if c.merged_into.is_none() && scores[0].frequency.is_some_and(|f| f > 2) {
            pair.push((c, scores[0].clone()));
        }
        if pair.len() == 2 {
            break;
        }
    }
    let [(survivor, survivor_before), (merged, merged_before)] = <[_; 2]>::try_from(pair).unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let offset = RunOptions::new(as_of).utc_offset_secs;
    let mut family = store
        .recent_transactions(&survivor.id, 100_000)
        .await
        .unwrap();
    assert_eq!(
        repeat_days(&family, offset, first_run.as_of),
        survivor_before.frequency.unwrap(),
        "the test counts days as the run does"
    );
    family.extend(
        store
            .recent_transactions(&merged.id, 100_000)
            .await
            .unwrap(),
    );

    let merge = fincrm_store::merge::MergeRecord {
        merge_id: "M-family".to_owned(),
        survivor_id: survivor.id.as_str().to_owned(),
        merged_id: merged.id.as_str().to_owned(),
        merged_at: chrono::Utc::now(),
        merged_by: "test".to_owned(),
        reason: "the same ID number, confirmed at the counter".to_owned(),
        prior_status: "active".to_owned(),
        undone_at: None,
        undone_by: None,
    };
    assert!(store.merge_customers(&merge, &[]).await.unwrap());
    let report = run(store, &RunOptions::new(as_of), &()).await.unwrap();
    assert_eq!(report.customers, 299, "the merged record is not scored");
    assert_eq!(report.params["merged_records_scored_with_survivor"], 1);

    let after = &store.score_history(&survivor.id, 1).await.unwrap()[0];
    assert_eq!(after.as_of, as_of);
    assert_eq!(after.frequency, Some(repeat_days(&family, offset, as_of)));
    assert!(after.frequency > survivor_before.frequency, "{after:?}");
    assert_eq!(
        after.aum_minor,
        survivor_before.aum_minor + merged_before.aum_minor,
        "balances of the family"
    );
    let merged_scores = store.score_history(&merged.id, 5).await.unwrap();
    assert!(
        merged_scores.iter().all(|s| s.as_of != as_of),
        "no score of its own: {merged_scores:?}"
    );
}

/// Corporates are tiered on their value figures by the corporate rules (公司级 / 部门级 / 一般),
/// individuals on AUM; a corporate without figures is 一般.
/// A run that died after writing some pages resumes with the others: the pages its markers
/// name are skipped (their customers keep what the first attempt wrote; here, nothing), every
/// other page is written, the last one included.
async fn partial_resume_story(store: &dyn Store) {
    let demo = fincrm_demo::DemoConfig {
        customers: 500,
        ..fincrm_demo::DemoConfig::default()
    };
    fincrm_service::demo::load(store, &demo, &()).await.unwrap();
    let mut options = RunOptions::new(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
    options.page_size = 120; // pages 0..=4, the last one short
    options.resume = true;
    start_elsewhere(store, &options).await;
    // The first attempt got as far as committing page 1's marker.
    let marker = fincrm_store::BatchMarker {
        source: options.run_id(),
        batch_no: 1,
        records: 120,
        loaded: 120,
    };
    store.write(Some(&marker), &[]).await.unwrap();

    let report = run(store, &options, &()).await.unwrap();
    assert_eq!((report.pages_written, report.pages_resumed), (4, 1));
    // Customers are paged in key order (the order `analytics_customers` lists them in): page 1
    // is the 121st to the 240th.
    let customers = store.analytics_customers(None, 1_000).await.unwrap();
    assert_eq!(customers.len(), 500);
    let mut unscored = Vec::new();
    for (k, c) in customers.iter().enumerate() {
        let id = fincrm_domain::CustomerId::parse(&c.customer_id).unwrap();
        let history = store.score_history(&id, 10).await.unwrap();
        if !history.iter().any(|s| s.run_id == options.run_id()) {
            unscored.push(k);
        }
    }
    assert_eq!(unscored, (120..240).collect::<Vec<_>>());
}

async fn corporate_tier_story(store: &dyn Store) {
    use fincrm_analytics::tiers::{CorporateTierInput, CorporateTierRules};
    use fincrm_service::analytics::CORPORATE_TIER_NAMES;
    let demo = fincrm_demo::DemoConfig {
        customers: 1000,
        ..fincrm_demo::DemoConfig::default()
    };
    fincrm_service::demo::load(store, &demo, &()).await.unwrap();
    let values = store.analytics_corporate_values().await.unwrap();
    assert!(values.len() > 10, "the demo gives corporates figures");
    // One corporate made firm level by its contribution alone.
    let firm = values[0].customer_id.clone();
    let big = fincrm_domain::CorporateValue {
        customer_id: firm.parse().unwrap(),
        avg_yearly_contribution: fincrm_domain::Money::new(
            2_000_000_000,
            fincrm_domain::Currency::Cny,
        ),
        contribution_growth_bp: 0,
        departments_used: 1,
        special_background: false,
    };
    store
        .write(None, &[fincrm_store::tables::corporate_values(&[big])])
        .await
        .unwrap();

    let as_of = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let report = run(store, &RunOptions::new(as_of), &()).await.unwrap();
    let rules = CorporateTierRules::default();
    let inputs: std::collections::HashMap<String, CorporateTierInput> = store
        .analytics_corporate_values()
        .await
        .unwrap()
        .into_iter()
        .map(|v| {
            let input = CorporateTierInput {
                avg_yearly_contribution_minor: v.avg_yearly_contribution_minor,
                departments_used: u32::try_from(v.departments_used).unwrap(),
                forecast_growth_rate: v.contribution_growth_bp as f64 / 10_000.0,
                special_background: v.special_background == 1,
            };
            (v.customer_id, input)
        })
        .collect();
    let mut seen = std::collections::HashMap::new();
    let mut without_figures = 0;
    let everyone = store
        .find_customers(
            &fincrm_store::CustomerScope::All,
            &fincrm_store::CustomerQuery {
                limit: 5000,
                ..fincrm_store::CustomerQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(everyone.len(), 1000);
    for c in everyone {
        let tier = store.score_history(&c.id, 1).await.unwrap()[0].tier.clone();
        if c.kind == fincrm_domain::CustomerKind::Corporate {
            let want = inputs.get(c.id.as_str()).map_or_else(
                || {
                    without_figures += 1;
                    0
                },
                |input| rules.evaluate(input) as usize,
            );
            assert_eq!(tier, CORPORATE_TIER_NAMES[want], "{}", c.id.as_str());
            *seen.entry(tier).or_insert(0) += 1;
        } else {
            assert!(!CORPORATE_TIER_NAMES.contains(&tier.as_str()), "{tier}");
        }
    }
    assert!(
        seen.len() >= 2,
        "corporates spread over the tiers: {seen:?}"
    );
    assert!(
        without_figures > 0,
        "a corporate without figures is 一般: {seen:?} {}",
        inputs.len()
    );
    let firm_tier = &store
        .score_history(&firm.parse().unwrap(), 1)
        .await
        .unwrap()[0];
    assert_eq!(firm_tier.tier, "公司级");
    assert_eq!(
        report.tiers.values().sum::<usize>(),
        report.customers,
        "every customer has one tier"
    );
}

/// A story run as two tests: on a temporary SQLite file, and on PostgreSQL in a schema of its
/// own (dropped after) when `FINCRM_TEST_PG_URL` is set.
macro_rules! on_both_engines {
    ($story:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = tempfile::tempdir().unwrap();
            let store = fincrm_store_sqlite::SqliteStore::open(&dir.path().join("a.db"))
                .await
                .unwrap();
            store.migrate().await.unwrap();
            $story(&store).await;
        }

        #[tokio::test]
        async fn $postgres() {
            use fincrm_store_pg::testing::{TestSchema, url_or_skip};
            let Some(url) = url_or_skip(stringify!($story)) else {
                return;
            };
            let schema = TestSchema::migrated(&url, "analytics").await.unwrap();
            $story(&schema.store).await;
            schema.drop().await.unwrap();
        }
    };
}

on_both_engines!(
    story,
    analytics_run_scores_every_customer_on_sqlite,
    analytics_run_scores_every_customer_on_postgres
);
on_both_engines!(
    aum_trend_story,
    the_aum_trend_reads_the_run_of_a_year_before_on_sqlite,
    the_aum_trend_reads_the_run_of_a_year_before_on_postgres
);
on_both_engines!(
    family_story,
    a_merged_family_is_scored_as_its_survivor_on_sqlite,
    a_merged_family_is_scored_as_its_survivor_on_postgres
);
on_both_engines!(
    partial_resume_story,
    a_run_resumes_with_the_pages_it_had_not_written_on_sqlite,
    a_run_resumes_with_the_pages_it_had_not_written_on_postgres
);
on_both_engines!(
    corporate_tier_story,
    corporates_are_tiered_on_their_value_figures_on_sqlite,
    corporates_are_tiered_on_their_value_figures_on_postgres
);
