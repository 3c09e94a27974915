//! A second source with other headers, encodings, delimiters, formats and codes, written by the
//! test itself: the same importer reads it through a different mapping, with no code change.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use fincrm_domain::{CustomerId, Direction};
use fincrm_service::import::{ImportOptions, Mapping, NoProgress, import};
use fincrm_store::Store;
use std::path::Path;

const MAPPING: &str = r#"
[source]
name = "another bank"
delimiter = ";"
timezone = "UTC"
date_formats = ["%d.%m.%Y"]
timestamp_formats = ["%Y/%m/%d %H:%M:%S"]
amount_unit = "fen"

[codes.risk_tolerance]
"A" = "C1"
"B" = "C2"
"C" = "C3"

[codes.direction]
"DR" = "debit"
"CR" = "credit"

[codes.product_type]
"SAV" = "deposit"

[[file]]
name = "KH.TXT"
kind = "customers"
encoding = "gb18030"
defaults = { kind = "individual", id_type = "resident_id" }
[file.columns]
customer_id = "CUST_NO"
name = "FULL_NAME"
id_number = "CERT_NO"
phone = "MOBILE"
risk_tolerance = "RISK"
opened_on = "OPEN_DT"

[[file]]
name = "ZH.TXT"
kind = "holdings"
[file.columns]
holding_id = "ACCT"
customer_id = "CUST_NO"
product_code = "PROD"
product_type = "PROD_TYPE"
balance = "BAL_CENTS"
currency = "CCY"

[[file]]
name = "LS.TXT"
kind = "transactions"
[file.columns]
transaction_id = "SERIAL"
holding_id = "ACCT"
posted_at = "TS"
amount = "AMT_CENTS"
direction = "DC"
memo = "NOTE"
"#;

fn write_gb18030(path: &Path, text: &str) {
    let (bytes, _, _) = encoding_rs::GB18030.encode(text);
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn another_banks_layout_loads_through_its_own_mapping() {
    let dir = tempfile::tempdir().unwrap();
    write_gb18030(
        &dir.path().join("KH.TXT"),
        "CUST_NO;FULL_NAME;CERT_NO;MOBILE;RISK;OPEN_DT\n\
         K001;欧阳娜娜;11010519510513022x;(+86)139-0000-1111;B;05.03.2019\n\
         K002; 司马 光 ;500103195701208679;13900002222;C;31.12.2020\n\
         K003;诸葛亮;500103195701208679;13900003333;A;31.02.2020\n",
    );
    std::fs::write(
        dir.path().join("ZH.TXT"),
        "ACCT;CUST_NO;PROD;PROD_TYPE;BAL_CENTS;CCY\n\
         A-1;K001;S1;SAV;123456;840\n\
         A-2;K002;S1;SAV;-500;CNY\n\
         A-3;K003;S1;SAV;1;CNY\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("LS.TXT"),
        "SERIAL;ACCT;TS;AMT_CENTS;DC;NOTE\n\
         S-1;A-1;2025/01/02 03:04:05;999;DR;\"semi;colon\"\n\
         S-2;A-2;2025/01/02 03:04:06;1;CR;\n\
         S-3;A-2;2025/13/02 03:04:06;1;CR;\n",
    )
    .unwrap();

    let db = tempfile::tempdir().unwrap();
    let store = fincrm_store_sqlite::SqliteStore::open(&db.path().join("other.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mapping = Mapping::from_toml(MAPPING).unwrap();
    let options = ImportOptions {
        batch_size: 2,
        dry_run: false,
        report_dir: db.path().join("report"),
    };
    let report = import(&store, &mapping, dir.path(), &options, &NoProgress)
        .await
        .unwrap();

    let per_file: Vec<(u64, u64)> = report
        .files
        .iter()
        .map(|f| (f.loaded, f.rejected))
        .collect();
    // K003's birthday 31.02 does not exist; so its account A-3 refers to an unknown customer;
    // S-3's month 13 does not exist.
    assert_eq!(per_file, vec![(2, 1), (2, 1), (2, 1)]);

    let k1 = store
        .customer(&CustomerId::parse("K001").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k1.name, "欧阳娜娜");
    assert_eq!(k1.document.unwrap().expose(), "11010519510513022X");
    assert_eq!(k1.phone.unwrap().expose(), "13900001111");
    assert_eq!(k1.risk_tolerance.unwrap().to_string(), "C2");
    assert_eq!(k1.opened_on.unwrap().to_string(), "2019-03-05");
    let k2 = store
        .customer(&CustomerId::parse("K002").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k2.name, "司马 光");

    let a1 = store
        .holding(&"A-1".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a1.balance.minor, a1.balance.currency.code()),
        (123_456, "USD")
    );
    let t = store
        .recent_transactions(&CustomerId::parse("K001").unwrap(), 5)
        .await
        .unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(
        t[0].customer_id.as_str(),
        "K001",
        "the customer is taken from the account"
    );
    assert_eq!(t[0].direction, Direction::Debit);
    assert_eq!(t[0].at.to_rfc3339(), "2025-01-02T03:04:05+00:00");
    assert_eq!(t[0].memo.as_deref(), Some("semi;colon"));

    let rejects = std::fs::read_to_string(options.report_dir.join("KH.TXT.rejects.csv")).unwrap();
    assert!(
        rejects.contains("KH.TXT,3,OPEN_DT,invalid date"),
        "{rejects}"
    );
    let rejects = std::fs::read_to_string(options.report_dir.join("ZH.TXT.rejects.csv")).unwrap();
    assert!(
        rejects.contains("ZH.TXT,3,CUST_NO,unknown customer"),
        "{rejects}"
    );
}
