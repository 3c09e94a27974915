//! The story every adapter must pass, so the same inputs give the same results on both engines.
//!
//! Each adapter's test suite calls [`run_all`] against a fresh, migrated store (a temporary file
//! on SQLite; a fresh schema on PostgreSQL). The functions panic with a message on the first
//! difference, like assertions in a test.

use crate::{BatchMarker, Store, StoreError, tables};
use chrono::{NaiveDate, TimeZone, Utc};
use fincrm_domain::{
    CorporateProfile, Currency, Customer, CustomerId, Direction, Holding, HoldingId, HoldingStatus,
    IdentityDocument, IndividualProfile, Interaction, InteractionId, MobilePhone, Money,
    ProductCode, ProductType, ResidentId, RiskTolerance, Transaction, TransactionId,
    UnifiedSocialCreditCode,
};

/// Runs every story in order against one fresh store.
pub async fn run_all(store: &dyn Store) {
    records_round_trip(store).await;
    writing_the_same_batch_twice_changes_nothing(store).await;
    a_failing_batch_leaves_no_rows_and_no_marker(store).await;
    lookups_report_only_existing_keys(store).await;
    duplicates_are_detected_by_id_number_and_by_phone_and_name(store).await;
    recent_transactions_are_newest_first_and_limited(store).await;
}

fn cid(s: &str) -> CustomerId {
    CustomerId::parse(s).expect("test id")
}

/// An individual with every optional fact set.
pub fn sample_individual(id: &str, id_number: &str, phone: &str, name: &str) -> Customer {
    let mut c = Customer::individual(cid(id), name.to_owned());
    c.document = Some(IdentityDocument::ResidentId(
        ResidentId::parse(id_number).expect("valid id"),
    ));
    c.phone = Some(MobilePhone::parse(phone).expect("valid phone"));
    c.address = Some("杭州市西湖区学府路808号\n2单元".to_owned());
    c.risk_tolerance = Some(RiskTolerance::new(3).expect("level"));
    c.opened_on = NaiveDate::from_ymd_opt(2016, 2, 14);
    c.branch_id = Some("B144".parse().expect("branch"));
    c.primary_rm = Some("RM1228".parse().expect("rm"));
    c.individual = Some(IndividualProfile {
        gender: Some(fincrm_domain::Gender::Female),
        birth_date: NaiveDate::from_ymd_opt(1957, 1, 20),
        occupation: Some("教师".to_owned()),
    });
    c.tags = vec!["代发工资".to_owned(), "vip".to_owned()];
    c
}

fn sample_corporate(id: &str) -> Customer {
    let mut c = Customer::corporate(cid(id), "北京瑞丰能源有限公司".to_owned());
    let uscc = UnifiedSocialCreditCode::parse("9111010181AE80E49E").expect("valid uscc");
    c.document = Some(IdentityDocument::Uscc(uscc.clone()));
    c.corporate = Some(CorporateProfile {
        uscc: Some(uscc),
        ownership: Some(fincrm_domain::OwnershipType::StateOwned),
        industry_code: Some("E48".to_owned()),
        registered_capital: Some(Money::new(40_384_900_000, Currency::Cny)),
        founded_on: NaiveDate::from_ymd_opt(2005, 2, 26),
        group_parent: None,
    });
    c
}

fn sample_holding(id: &str, customer: &str, balance: i64) -> Holding {
    Holding {
        id: HoldingId::parse(id).expect("holding id"),
        customer_id: cid(customer),
        product_code: ProductCode::parse("DEP001").expect("code"),
        product_type: ProductType::Deposit,
        balance: Money::new(balance, Currency::Cny),
        limit: None,
        opened_on: NaiveDate::from_ymd_opt(2017, 6, 19),
        matures_on: NaiveDate::from_ymd_opt(2018, 6, 19),
        status: HoldingStatus::Active,
    }
}

fn sample_transaction(id: &str, customer: &str, holding: &str, secs: i64) -> Transaction {
    Transaction {
        id: TransactionId::parse(id).expect("txn id"),
        customer_id: cid(customer),
        holding_id: HoldingId::parse(holding).expect("holding id"),
        at: Utc
            .timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("time"),
        amount: Money::new(38_348 + secs, Currency::Cny),
        direction: if (secs / 60) % 2 == 0 {
            Direction::Credit
        } else {
            Direction::Debit
        },
        channel: Some("手机银行".to_owned()),
        counterparty: Some("财付通".to_owned()),
        kind: Some("消费".to_owned()),
        memo: Some("备注,含逗号 \"引号\"".to_owned()),
    }
}

async fn records_round_trip(store: &dyn Store) {
    let person = sample_individual("P1", "500103195701208679", "13273878287", "郭东兰");
    let firm = sample_corporate("C1");
    let holding = sample_holding("6222624244768538", "P1", i64::MAX);
    let txn = sample_transaction("T1", "P1", "6222624244768538", 0);
    let contact = Interaction {
        id: InteractionId::parse("I1").expect("id"),
        customer_id: cid("P1"),
        at: Utc
            .with_ymd_and_hms(2025, 12, 9, 5, 39, 0)
            .single()
            .expect("time"),
        channel: fincrm_domain::Channel::WeChat,
        kind: "回访".to_owned(),
        user_id: Some("RM1107".parse().expect("user")),
        content: Some("客户咨询理财产品收益".to_owned()),
    };
    store
        .write(
            None,
            &[
                tables::customers(&[person.clone(), firm.clone()]),
                tables::holdings(std::slice::from_ref(&holding)),
                tables::transactions(std::slice::from_ref(&txn)),
                tables::interactions(std::slice::from_ref(&contact)),
            ],
        )
        .await
        .expect("write");
    assert_eq!(
        store.customer(&cid("P1")).await.expect("read"),
        Some(person)
    );
    assert_eq!(store.customer(&cid("C1")).await.expect("read"), Some(firm));
    assert_eq!(store.customer(&cid("nobody")).await.expect("read"), None);
    assert_eq!(
        store.holdings_of(&cid("P1")).await.expect("read"),
        vec![holding.clone()]
    );
    assert_eq!(
        store.holding(&holding.id).await.expect("read"),
        Some(holding)
    );
    assert_eq!(
        store
            .recent_transactions(&cid("P1"), 10)
            .await
            .expect("read"),
        vec![txn]
    );
    assert_eq!(
        store.interactions_of(&cid("P1"), 10).await.expect("read"),
        vec![contact]
    );
}

async fn writing_the_same_batch_twice_changes_nothing(store: &dyn Store) {
    let before = store.counts().await.expect("counts");
    let mut person = sample_individual("P1", "500103195701208679", "13273878287", "郭东兰");
    let txn = sample_transaction("T1", "P1", "6222624244768538", 0);
    let batch = [
        tables::customers(std::slice::from_ref(&person)),
        tables::transactions(&[txn]),
    ];
    store.write(None, &batch).await.expect("write again");
    assert_eq!(store.counts().await.expect("counts"), before);

    // A corrected customer record replaces the stored one; a transaction never changes.
    "郭东蘭".clone_into(&mut person.name);
    let mut changed = sample_transaction("T1", "P1", "6222624244768538", 0);
    changed.amount = Money::new(1, Currency::Cny);
    store
        .write(
            None,
            &[
                tables::customers(std::slice::from_ref(&person)),
                tables::transactions(&[changed]),
            ],
        )
        .await
        .expect("write corrected");
    assert_eq!(
        store
            .customer(&cid("P1"))
            .await
            .expect("read")
            .map(|c| c.name),
        Some(person.name)
    );
    let stored = store
        .recent_transactions(&cid("P1"), 1)
        .await
        .expect("read");
    assert_eq!(stored[0].amount, Money::new(38_348, Currency::Cny));
    assert_eq!(store.counts().await.expect("counts"), before);
}

async fn a_failing_batch_leaves_no_rows_and_no_marker(store: &dyn Store) {
    let before = store.counts().await.expect("counts");
    let marker = BatchMarker {
        source: "file-abc:holdings".to_owned(),
        batch_no: 7,
        records: 2,
        loaded: 2,
    };
    // The second holding belongs to a customer that does not exist: the foreign key refuses it,
    // and the first holding and the marker must not be committed either.
    let batch = [tables::holdings(&[
        sample_holding("H-OK", "P1", 100),
        sample_holding("H-ORPHAN", "NO-SUCH-CUSTOMER", 100),
    ])];
    let err = store
        .write(Some(&marker), &batch)
        .await
        .expect_err("foreign key must refuse");
    assert!(
        matches!(err, StoreError::Conflict { .. }),
        "expected a conflict, got {err:?}"
    );
    assert_eq!(store.counts().await.expect("counts"), before);
    assert!(
        store
            .committed_batches(&marker.source)
            .await
            .expect("batches")
            .is_empty()
    );

    let good = [tables::holdings(&[sample_holding("H-OK", "P1", 100)])];
    store.write(Some(&marker), &good).await.expect("write");
    let done = store
        .committed_batches(&marker.source)
        .await
        .expect("batches");
    assert_eq!(done.into_iter().collect::<Vec<_>>(), vec![7]);
    // The same marker again is harmless (a re-run that raced with a kill).
    store
        .write(Some(&marker), &good)
        .await
        .expect("write again");
    assert_eq!(
        store.counts().await.expect("counts").import_batches,
        before.import_batches + 1
    );
}

async fn lookups_report_only_existing_keys(store: &dyn Store) {
    let found = store
        .existing_customers(&["P1", "C1", "ghost"])
        .await
        .expect("lookup");
    assert_eq!(found.len(), 2);
    assert!(found.contains("P1") && found.contains("C1"));
    let owners = store
        .existing_holdings(&["6222624244768538", "nope"])
        .await
        .expect("lookup");
    assert_eq!(owners.len(), 1);
    assert_eq!(
        owners.get("6222624244768538").map(String::as_str),
        Some("P1")
    );
    assert!(
        store
            .existing_customers(&[])
            .await
            .expect("empty lookup")
            .is_empty()
    );
    // Lookups of more keys than one statement can bind still work.
    let many: Vec<String> = (0..5000).map(|i| format!("X{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).chain(["P1"]).collect();
    assert_eq!(
        store
            .existing_customers(&refs)
            .await
            .expect("big lookup")
            .len(),
        1
    );
}

async fn duplicates_are_detected_by_id_number_and_by_phone_and_name(store: &dyn Store) {
    let twin = sample_individual("P2", "500103195701208679", "13800000000", "郭东兰");
    let namesake = sample_individual("P3", "110105199801139234", "13273878287", "郭东蘭");
    let other = sample_individual("P4", "110105194604224234", "13273878287", "杨娟");
    store
        .write(None, &[tables::customers(&[twin, namesake, other])])
        .await
        .expect("write");
    let total = store.detect_duplicates().await.expect("detect");
    let pairs = store.duplicate_candidates(100).await.expect("list");
    let got: Vec<(&str, &str, &str)> = pairs
        .iter()
        .map(|p| {
            (
                p.customer_a.as_str(),
                p.customer_b.as_str(),
                p.reason.as_str(),
            )
        })
        .collect();
    // P1 was renamed 郭东蘭 above, so it shares phone and name with P3 and its ID with P2.
    assert_eq!(
        got,
        vec![
            ("P1", "P2", "same_id_number"),
            ("P1", "P3", "same_phone_and_name")
        ]
    );
    assert_eq!(total, 2);
    assert_eq!(
        store.detect_duplicates().await.expect("detect again"),
        2,
        "detection is idempotent"
    );
}

async fn recent_transactions_are_newest_first_and_limited(store: &dyn Store) {
    let txns: Vec<Transaction> = (1..=30)
        .map(|i| sample_transaction(&format!("TX{i:03}"), "C1", "6222624244768538", i * 60))
        .collect();
    store
        .write(None, &[tables::transactions(&txns)])
        .await
        .expect("write");
    let recent = store
        .recent_transactions(&cid("C1"), 5)
        .await
        .expect("read");
    let ids: Vec<&str> = recent.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec!["TX030", "TX029", "TX028", "TX027", "TX026"]);
    assert_eq!(recent[0].signed_minor(), 38_348 + 1800);
    assert_eq!(recent[1].direction, Direction::Debit);
    let counts = store.counts().await.expect("counts");
    assert_eq!(counts.transactions, 31);
    assert_eq!(counts.customers, 5);
}
