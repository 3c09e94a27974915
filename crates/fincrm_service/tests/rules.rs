//! Tier and lifecycle rules: versioned, validated, audited, and used by the analytics run.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_service::rules::{RulesError, save_lifecycle_rules, save_tier_rules, tier_rules};
use fincrm_store::{AuditStore, Store};

const TIERS: &str = r#"
grace_days = 30
[[retail.bands]]
name = "普通"
min_aum_minor = -9223372036854775808
[[retail.bands]]
name = "贵宾"
min_aum_minor = 10000000
"#;

#[tokio::test]
async fn rules_are_versioned_audited_and_used_by_the_analytics_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = fincrm_store_sqlite::SqliteStore::open(&dir.path().join("r.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();

    let (version, defaults) = tier_rules(&store).await.unwrap();
    assert_eq!(version, 0);
    assert_eq!(defaults.retail.bands.len(), 4);

    assert_eq!(save_tier_rules(&store, TIERS, "admin").await.unwrap(), 1);
    assert_eq!(save_tier_rules(&store, TIERS, "admin").await.unwrap(), 2);
    let (version, rules) = tier_rules(&store).await.unwrap();
    assert_eq!(
        (
            version,
            rules.grace_days,
            rules.retail.bands[1].name.as_str()
        ),
        (2, 30, "贵宾")
    );

    // Invalid rules are refused with the reason, and nothing is saved.
    let unordered = TIERS.replace("10000000", "-9223372036854775808");
    let err = save_tier_rules(&store, &unordered, "admin")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RulesError::Invalid { .. }) && err.to_string().contains("min_aum_minor"),
        "{err}"
    );
    let err = save_tier_rules(&store, "grace_days = \"soon\"", "admin")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid tiers rules"), "{err}");
    let err = save_lifecycle_rules(
        &store,
        "dormant_after_days = 400\nchurned_after_days = 365",
        "admin",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("dormant_after_days"), "{err}");
    assert_eq!(tier_rules(&store).await.unwrap().0, 2);

    // Each change is in the audit trail, with before and after, and the chain verifies.
    let records = store.records(1, 100).await.unwrap();
    let changes: Vec<_> = records
        .iter()
        .filter(|r| r.entry.action == "rule_set.update")
        .collect();
    assert_eq!(changes.len(), 2);
    assert!(changes[0].entry.before_json.is_none() && changes[1].entry.before_json.is_some());
    assert!(
        fincrm_store::audit::verify(&store, None, 100)
            .await
            .unwrap()
            .is_ok()
    );

    // The analytics run assigns the administrator's tiers.
    let demo = fincrm_demo::DemoConfig {
        customers: 300,
        ..fincrm_demo::DemoConfig::default()
    };
    fincrm_service::demo::load(&store, &demo, &())
        .await
        .unwrap();
    let options = fincrm_service::analytics::RunOptions::new(
        chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
    );
    let report = fincrm_service::analytics::run(&store, &options, &())
        .await
        .unwrap();
    // Individuals get the administrator's AUM tiers, corporates the corporate tiers.
    let corporate = fincrm_service::analytics::CORPORATE_TIER_NAMES;
    let (mut retail, corporate_used): (Vec<&String>, Vec<&String>) = report
        .tiers
        .keys()
        .partition(|t| !corporate.contains(&t.as_str()));
    retail.sort();
    assert_eq!(retail, vec!["普通", "贵宾"]);
    assert!(!corporate_used.is_empty(), "{:?}", report.tiers);
    assert_eq!(report.params["tier_rules_version"], 2);
}
