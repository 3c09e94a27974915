//! Corporate value figures through the plain CSV import: the demo's file loads whole, and bad
//! rows (a rate that is not one, a negative department count, an unknown customer, an
//! individual) are rejected with the field named, the good rows of the same file still loaded.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_service::import::{ImportOptions, NoProgress, import, plain_mapping};
use fincrm_store::Store as _;

#[tokio::test]
async fn corporate_values_import_with_their_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("csv");
    let config = fincrm_demo::DemoConfig {
        customers: 600,
        ..fincrm_demo::DemoConfig::default()
    };
    let summary = fincrm_demo::write_csv(&config, &csv).unwrap();
    assert!(summary.corporate_values > 10, "{summary:?}");
    let store = fincrm_store_sqlite::SqliteStore::open(&dir.path().join("v.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let options = ImportOptions {
        report_dir: dir.path().join("report"),
        ..ImportOptions::default()
    };
    let report = import(&store, &plain_mapping(), &csv, &options, &NoProgress)
        .await
        .unwrap();
    let values = report
        .files
        .iter()
        .find(|f| f.kind == "corporate_values")
        .unwrap();
    assert_eq!(
        (values.loaded, values.rejected),
        (summary.corporate_values, 0)
    );
    let stored = store.analytics_corporate_values().await.unwrap();
    assert_eq!(stored.len() as u64, summary.corporate_values);

    // A second extract of figures: two good rows (a percentage and a fraction), four bad.
    let first = &stored[0].customer_id;
    let second = &stored[1].customer_id;
    let update = dir.path().join("update");
    std::fs::create_dir_all(&update).unwrap();
    std::fs::write(
        update.join("corporate_values.csv"),
        format!(
            "customer_id,avg_yearly_contribution,contribution_growth,departments_used,special_background\n\
             {first},1200000000,16%,3,true\n\
             {second},50000000,0.06,1,false\n\
             {first},100,fast,1,false\n\
             {second},100,0.1,-2,false\n\
             C9999999999,100,0.1,1,false\n\
             P1000000000,100,0.1,1,false\n"
        ),
    )
    .unwrap();
    let report = import(&store, &plain_mapping(), &update, &options, &NoProgress)
        .await
        .unwrap();
    let file = &report.files[0];
    assert_eq!((file.loaded, file.rejected), (2, 4));
    let rejects =
        std::fs::read_to_string(dir.path().join("report/corporate_values.csv.rejects.csv"))
            .unwrap();
    for field in ["contribution_growth", "departments_used", "customer_id"] {
        assert!(rejects.contains(field), "{field} in {rejects}");
    }
    assert!(
        rejects.contains("not a corporate customer"),
        "an individual's figures are refused: {rejects}"
    );
    let now = store.analytics_corporate_values().await.unwrap();
    let row = now.iter().find(|v| &v.customer_id == first).unwrap();
    assert_eq!(
        (
            row.avg_yearly_contribution_minor,
            row.contribution_growth_bp,
            row.departments_used,
            row.special_background
        ),
        (1_200_000_000, 1600, 3, 1)
    );
    let row = now.iter().find(|v| &v.customer_id == second).unwrap();
    assert_eq!(row.contribution_growth_bp, 600);
}
