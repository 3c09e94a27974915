//! The story every adapter must pass, so the same inputs give the same results on both engines.
//!
//! Each adapter's test suite calls [`run_all`] against a fresh, migrated store (a temporary file
//! on SQLite; a fresh schema on PostgreSQL). The functions panic with a message on the first
//! difference, like assertions in a test.

use crate::pii::CustomerPi;
use crate::{BatchMarker, Store, StoreError, tables};
use chrono::{NaiveDate, TimeZone, Utc};
use fincrm_crypto::{KeyId, Keyring};
use fincrm_domain::{
    CorporateProfile, Currency, Customer, CustomerId, Direction, Holding, HoldingId, HoldingStatus,
    IdentityDocument, IndividualProfile, Interaction, InteractionId, MobilePhone, Money,
    ProductCode, ProductType, ResidentId, RiskTolerance, Transaction, TransactionId,
    UnifiedSocialCreditCode,
};
use std::sync::Arc;

/// Runs every story in order against one fresh store.
pub async fn run_all(store: &dyn Store) {
    records_round_trip(store).await;
    writing_the_same_batch_twice_changes_nothing(store).await;
    a_failing_batch_leaves_no_rows_and_no_marker(store).await;
    lookups_report_only_existing_keys(store).await;
    duplicates_are_detected_by_id_number_and_by_phone_and_name(store).await;
    recent_transactions_are_newest_first_and_limited(store).await;
    customer_scope_follows_the_branch_tree_and_the_book(store).await;
    lookups_by_key_follow_the_scope_and_put_the_number_first(store).await;
    customer_search_matches_names_within_scope_and_pages(store).await;
    consents_read_back_newest_first(store).await;
    a_merge_points_the_duplicate_at_the_survivor_and_undoes(store).await;
    relationships_read_from_both_sides_and_erasure_clears_contacts(store).await;
    the_360_reads_as_its_parts(store).await;
    a_create_never_overwrites_a_stored_key(store).await;
    score_pages_read_back_and_record_their_marker(store).await;
    a_long_score_page_keeps_each_rows_run(store).await;
    debits_kept_on_write_give_the_days_of_the_transactions(store).await;
}

const LIMITS_360: crate::View360Limits = crate::View360Limits {
    latest: 20,
    scores: 12,
};

/// `customer_360` (one trip on some adapters) gives what the separate reads give, for the
/// customers the stories above left with holdings, transactions, contacts, consents, merges and
/// relationships.
async fn the_360_reads_as_its_parts(store: &dyn Store) {
    let all = crate::CustomerScope::All;
    for id in ["P1", "C1", "MG1", "MG2", "RL1", "RL2"] {
        let id = cid(id);
        let whole = store
            .customer_360(&all, &id, LIMITS_360)
            .await
            .expect("360")
            .expect("the customer exists");
        assert_eq!(
            Some(&whole.customer),
            store.customer(&id).await.expect("read").as_ref()
        );
        assert_eq!(whole.holdings, store.holdings_of(&id).await.expect("read"));
        assert_eq!(
            whole.transactions,
            store.recent_transactions(&id, 20).await.expect("read")
        );
        assert_eq!(
            whole.interactions,
            store.interactions_of(&id, 20).await.expect("read")
        );
        assert_eq!(
            whole.scores,
            store.score_history(&id, 12).await.expect("read")
        );
        assert_eq!(
            whole.relationships,
            store.relationships_of(&id).await.expect("read")
        );
        assert_eq!(whole.consents, store.consents_of(&id).await.expect("read"));
    }
    let seen = async |id: &str| {
        let v = store
            .customer_360(&all, &cid(id), LIMITS_360)
            .await
            .expect("360")
            .expect("exists");
        (
            v.holdings.len(),
            v.transactions.len(),
            v.interactions.len(),
            v.consents.len(),
            v.relationships.len(),
        )
    };
    let (holdings, transactions, interactions, _, _) = seen("P1").await;
    assert!(
        holdings > 0 && transactions > 0 && interactions > 0,
        "P1 has activity to compare"
    );
    assert!(seen("RL1").await.4 > 0, "RL1 has relationships to compare");
    assert!(seen("C1").await.3 > 0, "C1 has consents to compare");
    assert!(
        store
            .customer_360(&all, &cid("NOBODY"), LIMITS_360)
            .await
            .expect("360")
            .is_none()
    );
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

/// A transaction of `customer` posted `secs` after 2023-11-14T22:13:20Z: a credit in even
/// minutes, a debit in odd ones.
pub fn sample_transaction(id: &str, customer: &str, holding: &str, secs: i64) -> Transaction {
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

/// `create_audited` writes new rows; a key stored meanwhile (a racing create) refuses the whole
/// write with `Conflict`: the stored row, its name index and the other batches stay as they were.
async fn a_create_never_overwrites_a_stored_key(store: &dyn Store) {
    let at = Utc
        .with_ymd_and_hms(2025, 12, 9, 5, 39, 0)
        .single()
        .expect("time");
    let entry = |key: &str| crate::NewAuditEntry::new(at, "u1", "customer.create", "customer", key);
    let first = sample_individual("NEW1", "110101199003070417", "13800138000", "欧阳明");
    store
        .create_audited(
            &[tables::customers(std::slice::from_ref(&first))],
            &[entry("NEW1")],
        )
        .await
        .expect("a new key is created");
    let before = store.counts().await.expect("counts");
    let mut rival = first.clone();
    "司马青".clone_into(&mut rival.name);
    let other = sample_individual("NEW2", "110101199003070433", "13800138001", "诸葛亮");
    let e = store
        .create_audited(
            &[tables::customers(&[other, rival])],
            &[entry("NEW1"), entry("NEW2")],
        )
        .await
        .expect_err("a stored key is refused");
    assert!(matches!(e, crate::StoreError::Conflict { .. }), "{e:?}");
    assert_eq!(
        store.customer(&cid("NEW1")).await.expect("read"),
        Some(first),
        "the stored row is not overwritten"
    );
    assert_eq!(store.customer(&cid("NEW2")).await.expect("read"), None);
    assert_eq!(store.counts().await.expect("counts"), before);
    let query = crate::CustomerQuery {
        terms: crate::search::query_terms("司马青"),
        limit: 10,
        ..crate::CustomerQuery::default()
    };
    let found = store
        .find_customers(&crate::CustomerScope::All, &query)
        .await
        .expect("search");
    assert!(found.is_empty(), "the refused name is not indexed");
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

/// `customer_in_scope` and `customers_by_key`: the branch subtree (recursive over
/// `branch.parent_id`) and the book (primary RM or a coverage row); out of scope reads exactly
/// like a missing customer.
#[expect(clippy::too_many_lines, reason = "one fixture, then its cases")]
async fn customer_scope_follows_the_branch_tree_and_the_book(store: &dyn Store) {
    use crate::{CustomerScope, KeyMatch};
    use fincrm_domain::{Branch, BranchLevel, Coverage, CoverageRole};
    let branch = |id: &str, parent: Option<&str>, level| Branch {
        id: id.parse().expect("branch"),
        name: format!("branch {id}"),
        parent: parent.map(|p| p.parse().expect("parent")),
        level,
    };
    let customer = |id: &str, branch_id: &str, rm: &str| {
        let mut c = Customer::individual(cid(id), format!("客户{id}"));
        c.branch_id = Some(branch_id.parse().expect("branch"));
        c.primary_rm = Some(rm.parse().expect("rm"));
        // One phone for both: a lookup by it finds whom the scope lets it.
        c.phone = Some(MobilePhone::parse("13800000001").expect("phone"));
        c
    };
    store
        .write(
            None,
            &[
                tables::branches(&[
                    branch("SCOPE-HO", None, BranchLevel::HeadOffice),
                    branch("SCOPE-B1", Some("SCOPE-HO"), BranchLevel::Branch),
                    branch("SCOPE-B11", Some("SCOPE-B1"), BranchLevel::SubBranch),
                    branch("SCOPE-B2", Some("SCOPE-HO"), BranchLevel::Branch),
                ]),
                tables::customers(&[
                    customer("SC1", "SCOPE-B11", "SCOPE-RM1"),
                    customer("SC2", "SCOPE-B2", "SCOPE-RM2"),
                ]),
                tables::coverage(&[Coverage {
                    customer_id: cid("SC2"),
                    user_id: "SCOPE-CO".parse().expect("user"),
                    role: CoverageRole::CoRm,
                }]),
            ],
        )
        .await
        .expect("write scope fixtures");
    let sees = async |scope: CustomerScope, id: &str| {
        let found = store
            .customer_in_scope(&scope, &cid(id))
            .await
            .expect("scoped read");
        if let Some(c) = &found {
            assert_eq!(c.id.as_str(), id);
        }
        let whole = store
            .customer_360(&scope, &cid(id), LIMITS_360)
            .await
            .expect("scoped 360");
        let by_number = store
            .customers_by_key(&scope, Some(&cid(id)), None)
            .await
            .expect("scoped lookup by number");
        assert_eq!(
            by_number,
            found
                .clone()
                .map_or(KeyMatch::Neither, |c| KeyMatch::Number(Box::new(c))),
            "a lookup by number is scoped as the customer read"
        );
        assert_eq!(
            whole.map(|v| v.customer),
            found,
            "the 360 is scoped as the customer read"
        );
        found.is_some()
    };
    let branches = |b: &str| CustomerScope::Branches(b.to_owned());
    let book = |u: &str| CustomerScope::Book(u.to_owned());
    assert!(sees(CustomerScope::All, "SC1").await);
    assert!(sees(CustomerScope::All, "SC2").await);
    assert!(!sees(CustomerScope::All, "SC-MISSING").await);
    assert!(
        sees(branches("SCOPE-HO"), "SC1").await,
        "head office sees the whole tree"
    );
    assert!(sees(branches("SCOPE-HO"), "SC2").await);
    assert!(
        sees(branches("SCOPE-B1"), "SC1").await,
        "a branch sees its sub-branches"
    );
    assert!(
        !sees(branches("SCOPE-B1"), "SC2").await,
        "but not a sibling branch"
    );
    assert!(sees(branches("SCOPE-B11"), "SC1").await);
    assert!(!sees(branches("SCOPE-B2"), "SC1").await);
    assert!(!sees(branches("SCOPE-NONE"), "SC1").await);
    assert!(sees(book("SCOPE-RM1"), "SC1").await, "primary RM");
    assert!(!sees(book("SCOPE-RM1"), "SC2").await);
    assert!(sees(book("SCOPE-CO"), "SC2").await, "coverage row");
    assert!(!sees(book("SCOPE-CO"), "SC1").await);
    assert!(!sees(book("SCOPE-RM1"), "SC-MISSING").await);

    let tree = store.branches().await.expect("branches");
    let b11 = tree
        .iter()
        .find(|b| b.id.as_str() == "SCOPE-B11")
        .expect("written branch reads back");
    assert_eq!(
        b11.parent.as_ref().map(fincrm_domain::BranchId::as_str),
        Some("SCOPE-B1")
    );
    assert_eq!(b11.level, BranchLevel::SubBranch);
    assert!(tree.windows(2).all(|w| w[0].id.as_str() < w[1].id.as_str()));
}

/// `customers_by_key` on the scope story's customers, who share a phone: the phone finds whom
/// the scope lets it; a customer number in scope comes first.
async fn lookups_by_key_follow_the_scope_and_put_the_number_first(store: &dyn Store) {
    use crate::{CustomerScope, KeyMatch, PiKey};
    let branches = |b: &str| CustomerScope::Branches(b.to_owned());
    let book = |u: &str| CustomerScope::Book(u.to_owned());
    let phone = PiKey::Phone("+86 138-0000-0001");
    let by_key = async |scope: CustomerScope, number: Option<&str>, pi: Option<PiKey<'_>>| {
        let number = number.map(cid);
        match store
            .customers_by_key(&scope, number.as_ref(), pi)
            .await
            .expect("lookup by key")
        {
            KeyMatch::Number(c) => format!("number {}", c.id.as_str()),
            KeyMatch::Pi(found) => {
                let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
                format!("pi [{}]", ids.join(" "))
            }
            KeyMatch::Neither => "neither".to_owned(),
        }
    };
    assert_eq!(
        by_key(CustomerScope::All, None, Some(phone)).await,
        "pi [SC1 SC2]"
    );
    assert_eq!(
        by_key(branches("SCOPE-B1"), None, Some(phone)).await,
        "pi [SC1]"
    );
    assert_eq!(
        by_key(book("SCOPE-CO"), None, Some(phone)).await,
        "pi [SC2]"
    );
    assert_eq!(
        by_key(branches("SCOPE-NONE"), None, Some(phone)).await,
        "pi []"
    );
    assert_eq!(
        by_key(CustomerScope::All, Some("SC2"), Some(phone)).await,
        "number SC2"
    );
    assert_eq!(
        by_key(branches("SCOPE-B1"), Some("SC2"), Some(phone)).await,
        "pi [SC1]",
        "a number out of scope is no number"
    );
    assert_eq!(
        by_key(CustomerScope::All, Some("SC-MISSING"), Some(phone)).await,
        "pi [SC1 SC2]"
    );
    assert_eq!(
        by_key(CustomerScope::All, Some("SC-MISSING"), None).await,
        "neither"
    );
    assert_eq!(
        by_key(CustomerScope::All, None, Some(PiKey::Phone("not a phone"))).await,
        "pi []"
    );
    assert_eq!(
        by_key(CustomerScope::All, None, Some(PiKey::IdNumber("?!"))).await,
        "pi []"
    );
}

/// `find_customers`: the name index (characters, pinyin, Latin), the scope, filters, keyset
/// pages, and a renamed customer losing its old terms.
#[expect(clippy::too_many_lines, reason = "one fixture, then its cases")]
async fn customer_search_matches_names_within_scope_and_pages(store: &dyn Store) {
    use crate::search::query_terms;
    use crate::{CustomerQuery, CustomerScope};
    use fincrm_domain::{Branch, BranchLevel};
    let branch = |id: &str, parent: Option<&str>, level| Branch {
        id: id.parse().expect("branch"),
        name: format!("branch {id}"),
        parent: parent.map(|p| p.parse().expect("parent")),
        level,
    };
    let customer = |id: &str, name: &str, branch_id: &str, rm: &str| {
        let mut c = Customer::individual(cid(id), name.to_owned());
        c.branch_id = Some(branch_id.parse().expect("branch"));
        c.primary_rm = Some(rm.parse().expect("rm"));
        c
    };
    let mut zhuge = customer("SR3", "诸葛亮", "SR-B1", "SR-RM1");
    zhuge.name_latin = Some("Zhuge Liang".to_owned());
    store
        .write(
            None,
            &[
                tables::branches(&[
                    branch("SR-HO", None, BranchLevel::HeadOffice),
                    branch("SR-B1", Some("SR-HO"), BranchLevel::Branch),
                    branch("SR-B2", Some("SR-HO"), BranchLevel::Branch),
                ]),
                tables::customers(&[
                    customer("SR1", "欧阳小明", "SR-B1", "SR-RM1"),
                    customer("SR2", "欧阳小红", "SR-B2", "SR-RM2"),
                    zhuge,
                    customer("SR4", "欧阳小明", "SR-B2", "SR-RM2"),
                ]),
            ],
        )
        .await
        .expect("write search fixtures");
    let find = async |scope: CustomerScope, q: &str, edit: &dyn Fn(&mut CustomerQuery)| {
        let mut query = CustomerQuery {
            terms: query_terms(q),
            limit: 50,
            ..CustomerQuery::default()
        };
        edit(&mut query);
        let found = store.find_customers(&scope, &query).await.expect("find");
        found
            .iter()
            .map(|c| c.id.as_str().to_owned())
            .filter(|id| id.starts_with("SR"))
            .collect::<Vec<_>>()
    };
    let none = |_: &mut CustomerQuery| {};
    let all = || CustomerScope::All;
    assert_eq!(find(all(), "欧阳小", &none).await, ["SR1", "SR2", "SR4"]);
    assert_eq!(find(all(), "欧阳小明", &none).await, ["SR1", "SR4"]);
    assert_eq!(find(all(), "ouyangxiaoming", &none).await, ["SR1", "SR4"]);
    assert_eq!(find(all(), "OYXM", &none).await, ["SR1", "SR4"]);
    assert_eq!(find(all(), "Zhuge Liang", &none).await, ["SR3"]);
    assert_eq!(find(all(), "zhugeliang", &none).await, ["SR3"], "pinyin");
    assert!(
        find(all(), "ouyangx", &none).await.is_empty(),
        "no prefixes"
    );
    let b1 = || CustomerScope::Branches("SR-B1".to_owned());
    assert_eq!(find(b1(), "oyxm", &none).await, ["SR1"]);
    let rm1 = || CustomerScope::Book("SR-RM1".to_owned());
    assert_eq!(find(rm1(), "欧", &none).await, ["SR1"]);
    assert_eq!(
        find(rm1(), "", &none).await,
        ["SR1", "SR3"],
        "the whole book"
    );
    assert_eq!(
        find(all(), "欧阳", &|q: &mut CustomerQuery| q.limit = 2).await,
        ["SR1", "SR2"]
    );
    assert_eq!(
        find(all(), "欧阳", &|q: &mut CustomerQuery| q.after =
            Some("SR2".to_owned()))
        .await,
        ["SR4"],
        "the next page"
    );
    assert_eq!(
        find(all(), "欧阳", &|q: &mut CustomerQuery| q.branch_id =
            Some("SR-B2".to_owned()))
        .await,
        ["SR2", "SR4"]
    );
    store
        .write(
            None,
            &[tables::customers(&[customer(
                "SR3", "孔明", "SR-B1", "SR-RM1",
            )])],
        )
        .await
        .expect("rename");
    assert!(find(all(), "诸葛", &none).await.is_empty(), "old name gone");
    assert!(
        find(all(), "zhuge", &none).await.is_empty(),
        "old Latin gone"
    );
    assert_eq!(find(all(), "kongming", &none).await, ["SR3"]);
}

async fn consents_read_back_newest_first(store: &dyn Store) {
    use fincrm_domain::{Channel, Consent, ConsentPurpose};
    let at = |h| {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-03-01T{h:02}:00:00+08:00"))
            .expect("instant")
            .with_timezone(&chrono::Utc)
    };
    let granted = Consent {
        customer_id: cid("C1"),
        purpose: ConsentPurpose::Marketing,
        channel: None,
        granted: true,
        at: at(9),
    };
    let withdrawn_sms = Consent {
        channel: Some(Channel::Sms),
        granted: false,
        at: at(10),
        ..granted.clone()
    };
    store
        .write(
            None,
            &[tables::consents(&[granted.clone(), withdrawn_sms.clone()])],
        )
        .await
        .expect("write consents");
    let read = store.consents_of(&cid("C1")).await.expect("read");
    assert_eq!(read, vec![withdrawn_sms, granted]);
    assert!(
        store
            .consents_of(&cid("C2"))
            .await
            .expect("read")
            .is_empty()
    );
}

/// `merge_customers` / `undo_merge`: the survivor's reads cover the merged record, the merged
/// record reads as merged (even after an extract rewrites it), and an undo restores both.
#[expect(clippy::too_many_lines, reason = "one merge story, step by step")]
async fn a_merge_points_the_duplicate_at_the_survivor_and_undoes(store: &dyn Store) {
    use crate::MergeRecord;
    let mut dup = Customer::individual(cid("MG2"), "合并乙".to_owned());
    dup.status = fincrm_domain::CustomerStatus::Prospect;
    store
        .write(
            None,
            &[
                tables::customers(&[
                    Customer::individual(cid("MG1"), "合并甲".to_owned()),
                    dup.clone(),
                ]),
                tables::holdings(&[sample_holding("MG2-ACC", "MG2", 1000)]),
            ],
        )
        .await
        .expect("write merge fixtures");
    let holdings = async |id: &str| {
        store
            .holdings_of(&cid(id))
            .await
            .expect("holdings")
            .iter()
            .map(|h| h.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(holdings("MG1").await.is_empty());
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00+08:00")
        .expect("instant")
        .with_timezone(&chrono::Utc);
    let record = MergeRecord {
        merge_id: "MERGE-1".to_owned(),
        survivor_id: "MG1".to_owned(),
        merged_id: "MG2".to_owned(),
        merged_at: at,
        merged_by: "u1".to_owned(),
        reason: "same person".to_owned(),
        prior_status: "prospect".to_owned(),
        undone_at: None,
        undone_by: None,
    };
    let entry = crate::NewAuditEntry::new(at, "u1", "customer.merge", "customer", "MG2");
    assert!(
        store
            .merge_customers(&record, std::slice::from_ref(&entry))
            .await
            .expect("merge")
    );
    assert_eq!(
        holdings("MG1").await,
        ["MG2-ACC"],
        "the survivor sees the duplicate's"
    );
    let merged = store
        .customer(&cid("MG2"))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(merged.status, fincrm_domain::CustomerStatus::Merged);
    assert_eq!(merged.merged_into, Some(cid("MG1")));
    // The nightly extract rewrites the duplicate: the merge holds.
    store
        .write(None, &[tables::customers(&[dup])])
        .await
        .expect("re-import");
    let merged = store
        .customer(&cid("MG2"))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(merged.status, fincrm_domain::CustomerStatus::Merged);
    let again = MergeRecord {
        merge_id: "MERGE-2".to_owned(),
        ..record.clone()
    };
    assert!(
        !store
            .merge_customers(&again, std::slice::from_ref(&entry))
            .await
            .expect("second merge"),
        "already merged: refused, nothing written"
    );
    assert!(store.merge_record("MERGE-2").await.expect("read").is_none());
    let undone = store
        .undo_merge("MERGE-1", "u2", at, std::slice::from_ref(&entry))
        .await
        .expect("undo")
        .expect("in force");
    assert_eq!(undone.undone_by.as_deref(), Some("u2"));
    assert!(holdings("MG1").await.is_empty());
    let back = store
        .customer(&cid("MG2"))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(back.status, fincrm_domain::CustomerStatus::Prospect);
    assert_eq!(back.merged_into, None);
    assert!(
        store
            .undo_merge("MERGE-1", "u2", at, &[entry])
            .await
            .expect("undo")
            .is_none()
    );
    let lineage = store.merges_of(&cid("MG2")).await.expect("lineage");
    assert_eq!(lineage.len(), 1);
    assert_eq!(lineage[0].undone_at, Some(at));
    assert_eq!(
        store.merges_of(&cid("MG1")).await.expect("lineage"),
        lineage
    );
}

async fn relationships_read_from_both_sides_and_erasure_clears_contacts(store: &dyn Store) {
    use fincrm_domain::{Channel, Interaction, InteractionId, Relationship, RelationshipKind};
    let rel = Relationship {
        from: cid("RL1"),
        to: cid("RL2"),
        kind: RelationshipKind::Household,
        role: Some("配偶".to_owned()),
    };
    let contact = Interaction {
        id: InteractionId::parse("RL1-I1").expect("id"),
        customer_id: cid("RL1"),
        at: chrono::Utc::now(),
        channel: Channel::Phone,
        kind: "咨询".to_owned(),
        user_id: None,
        content: Some("住在西湖区".to_owned()),
    };
    store
        .write(
            None,
            &[
                tables::customers(&[
                    Customer::individual(cid("RL1"), "关系甲".to_owned()),
                    Customer::individual(cid("RL2"), "关系乙".to_owned()),
                ]),
                tables::relationships(std::slice::from_ref(&rel)),
                tables::interactions(&[contact]),
            ],
        )
        .await
        .expect("write");
    assert_eq!(
        store.relationships_of(&cid("RL1")).await.expect("read"),
        std::slice::from_ref(&rel)
    );
    assert_eq!(
        store.relationships_of(&cid("RL2")).await.expect("read"),
        [rel]
    );
    let mut anonymised = Customer::individual(cid("RL1"), "已注销客户".to_owned());
    anonymised.status = fincrm_domain::CustomerStatus::Closed;
    let entry = crate::NewAuditEntry::new(
        chrono::Utc::now(),
        "u1",
        "customer.erase",
        "customer",
        "RL1",
    );
    store
        .erase_customer(&anonymised, &[entry])
        .await
        .expect("erase");
    let contacts = store.interactions_of(&cid("RL1"), 10).await.expect("read");
    assert_eq!(contacts.len(), 1, "the contact is kept");
    assert_eq!(contacts[0].content, None, "its free text is not");
    let read = store
        .customer(&cid("RL1"))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(read.name, "已注销客户");
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
    let page = |before: Option<&Transaction>, limit| crate::TimeWindow {
        before: before.map(|t| (t.at, t.id.as_str().to_owned())),
        limit,
        ..crate::TimeWindow::default()
    };
    let first = store
        .transactions_page(&cid("C1"), &page(None, 5))
        .await
        .expect("page");
    assert_eq!(first, recent, "the first page is the most recent");
    let second = store
        .transactions_page(&cid("C1"), &page(first.last(), 3))
        .await
        .expect("page");
    let ids: Vec<&str> = second.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["TX025", "TX024", "TX023"],
        "continues after the cursor"
    );
    let window = crate::TimeWindow {
        from: Some(recent[4].at),
        to: Some(recent[1].at),
        limit: 100,
        ..crate::TimeWindow::default()
    };
    let windowed = store
        .transactions_page(&cid("C1"), &window)
        .await
        .expect("window");
    let ids: Vec<&str> = windowed.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec!["TX028", "TX027", "TX026"], "[from, to)");
    let counts = store.counts().await.expect("counts");
    assert_eq!(counts.transactions, 31);
    assert_eq!(counts.customers, 5);
}

/// What the keyring story needs from an adapter's test besides the [`Store`] trait: stores over
/// the same database with other keyrings, and the raw PI columns read with SQL directly.
#[async_trait::async_trait]
pub trait KeyringHarness: Send + Sync {
    /// A store over the same database with `keyring` (`None`: plaintext mode).
    fn store_with(&self, keyring: Option<Arc<Keyring>>) -> Box<dyn Store>;
    /// Every customer's PI columns exactly as stored, read with SQL (not through the store).
    async fn raw_pi(&self) -> Vec<CustomerPi>;
}

async fn raw_row(h: &dyn KeyringHarness, id: &str) -> CustomerPi {
    h.raw_pi()
        .await
        .into_iter()
        .find(|r| r.customer_id == id)
        .unwrap_or_else(|| panic!("{id} is stored"))
}

fn sealed_values(r: &CustomerPi) -> Vec<&str> {
    [&r.id_number_enc, &r.phone_enc, &r.email_enc, &r.address_enc]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect()
}

/// Runs `reencrypt_customers` page by page to the end: (scanned, rewritten).
async fn rotate_all(store: &dyn Store, page: i64) -> (u64, u64) {
    let (mut scanned, mut rewritten) = (0, 0);
    let mut after: Option<String> = None;
    loop {
        let p = store
            .reencrypt_customers(after.as_deref(), page)
            .await
            .expect("rotation page");
        scanned += p.scanned;
        rewritten += p.rewritten;
        match p.last_key {
            Some(k) => after = Some(k),
            None => return (scanned, rewritten),
        }
    }
}

fn ids(v: &[CustomerId]) -> Vec<&str> {
    v.iter().map(CustomerId::as_str).collect()
}

/// The personal-information story, against a fresh, migrated, empty database: with a keyring
/// the PI columns are sealed (no plaintext in the raw columns), values round-trip, duplicates
/// and exact lookups work through the blind indexes, a store without the key cannot read them,
/// and rotation to a new key re-encrypts everything (plaintext rows left from before keys were
/// configured included), resumably and idempotently.
#[expect(
    clippy::too_many_lines,
    reason = "one story, told in order, like run_all"
)]
pub async fn keyring_story(h: &dyn KeyringHarness) {
    let k1 = Arc::new(Keyring::generate().expect("keyring"));
    let store = h.store_with(Some(Arc::clone(&k1)));
    let mut p1 = sample_individual("P1", "500103195701208679", "13273878287", "郭东蘭");
    p1.email = Some("guo.donglan@example.cn".to_owned());
    let twin = sample_individual("P2", "500103195701208679", "13800000000", "郭东兰");
    let namesake = sample_individual("P3", "110105199801139234", "13273878287", "郭东蘭");
    let other = sample_individual("P4", "110105194604224234", "13273878287", "杨娟");
    let firm = sample_corporate("C1");
    store
        .write(
            None,
            &[tables::customers(&[
                p1.clone(),
                twin,
                namesake,
                other,
                firm.clone(),
            ])],
        )
        .await
        .expect("write sealed");

    // Values round-trip.
    assert_eq!(
        store.customer(&cid("P1")).await.expect("read"),
        Some(p1.clone())
    );
    assert_eq!(
        store.customer(&cid("C1")).await.expect("read"),
        Some(firm.clone())
    );

    // The raw columns hold envelopes under k1 and no plaintext.
    let raw = h.raw_pi().await;
    assert_eq!(raw.len(), 5);
    for r in &raw {
        assert_eq!(
            (&r.id_number, &r.phone, &r.email, &r.address),
            (&None, &None, &None, &None),
            "{}: plaintext columns are NULL",
            r.customer_id
        );
        for v in sealed_values(r) {
            assert!(v.starts_with("v1:k1:"), "{}: {v}", r.customer_id);
        }
    }
    let dump = format!("{raw:?}");
    for canary in [
        "500103195701208679",
        "13273878287",
        "guo.donglan",
        "学府路",
        "9111010181AE80E49E",
    ] {
        assert!(
            !dump.contains(canary),
            "plaintext {canary} in the raw columns"
        );
    }
    let r1 = raw_row(h, "P1").await;
    let r2 = raw_row(h, "P2").await;
    let r3 = raw_row(h, "P3").await;
    assert_eq!(r1.id_number_bidx.as_ref().map(String::len), Some(32));
    assert_eq!(r1.id_number_bidx, r2.id_number_bidx, "same ID, same index");
    assert_eq!(r1.phone_bidx, r3.phone_bidx, "same phone, same index");
    assert_ne!(r1.phone_bidx, r2.phone_bidx);
    assert!(r1.email_enc.is_some() && r2.email_enc.is_none());
    let c1 = raw_row(h, "C1").await;
    assert!(c1.id_number_enc.is_some() && c1.phone_enc.is_none() && c1.phone_bidx.is_none());

    // Without the key a sealed row is an error, never plaintext or a silent NULL.
    assert!(h.store_with(None).customer(&cid("P1")).await.is_err());

    // Duplicate detection finds the same pairs as in plaintext mode.
    assert_eq!(store.detect_duplicates().await.expect("detect"), 2);
    let pairs: Vec<(String, String, String)> = store
        .duplicate_candidates(100)
        .await
        .expect("list")
        .into_iter()
        .map(|p| (p.customer_a, p.customer_b, p.reason))
        .collect();
    let expected_pairs = vec![
        (
            "P1".to_owned(),
            "P2".to_owned(),
            "same_id_number".to_owned(),
        ),
        (
            "P1".to_owned(),
            "P3".to_owned(),
            "same_phone_and_name".to_owned(),
        ),
    ];
    assert_eq!(pairs, expected_pairs);
    assert_eq!(store.detect_duplicates().await.expect("again"), 2);

    // Exact lookups through the blind index, input normalised like stored values.
    let by_phone = store
        .customers_by_phone("+86 132-7387-8287")
        .await
        .expect("lookup");
    assert_eq!(ids(&by_phone), ["P1", "P3", "P4"]);
    let by_id = store
        .customers_by_id_number(" 500103195701208679 ")
        .await
        .expect("lookup");
    assert_eq!(ids(&by_id), ["P1", "P2"]);
    let by_uscc = store
        .customers_by_id_number("9111010181ae80e49e")
        .await
        .expect("lookup");
    assert_eq!(ids(&by_uscc), ["C1"]);
    assert!(
        store
            .customers_by_phone("13900000000")
            .await
            .expect("none")
            .is_empty()
    );
    assert!(
        store
            .customers_by_phone("not a phone")
            .await
            .expect("invalid")
            .is_empty()
    );
    assert!(
        store
            .customers_by_id_number("?!")
            .await
            .expect("invalid")
            .is_empty()
    );

    // A row written in plaintext mode (before keys were configured) still reads with the key.
    let legacy = sample_individual("P5", "11010519491231002X", "13912345678", "李四");
    h.store_with(None)
        .write(None, &[tables::customers(std::slice::from_ref(&legacy))])
        .await
        .expect("write plaintext");
    assert_eq!(
        raw_row(h, "P5").await.phone.as_deref(),
        Some("13912345678"),
        "plaintext mode writes plaintext"
    );
    assert_eq!(
        store.customer(&cid("P5")).await.expect("read"),
        Some(legacy.clone())
    );

    // Rotation: add k2, make it active, re-encrypt. An interrupted first run (one page) …
    let k2_id = KeyId::new("k2").expect("key id");
    let k2 = Arc::new(
        k1.with_generated_key(k2_id.clone())
            .and_then(|k| k.with_active(&k2_id))
            .expect("keyring with k2 active"),
    );
    let rotating = h.store_with(Some(Arc::clone(&k2)));
    let first = rotating
        .reencrypt_customers(None, 2)
        .await
        .expect("first page");
    assert_eq!((first.scanned, first.rewritten), (2, 2));
    assert!(first.last_key.is_some());
    // … then the whole job from the start: rows already under k2 are skipped.
    assert_eq!(rotate_all(rotating.as_ref(), 2).await, (6, 4));
    let raw = h.raw_pi().await;
    for r in &raw {
        assert_eq!(
            (&r.id_number, &r.phone, &r.email, &r.address),
            (&None, &None, &None, &None),
            "{}: no plaintext after rotation",
            r.customer_id
        );
        let sealed = sealed_values(r);
        assert!(!sealed.is_empty(), "{}", r.customer_id);
        for v in sealed {
            assert!(v.starts_with("v1:k2:"), "{}: {v}", r.customer_id);
        }
    }
    assert_eq!(
        raw_row(h, "P1").await.phone_bidx,
        r1.phone_bidx,
        "indexes stay"
    );
    assert!(
        !format!("{raw:?}").contains("13912345678"),
        "legacy row sealed"
    );
    // Values still decrypt, and the legacy row is now found through its index.
    assert_eq!(
        rotating.customer(&cid("P1")).await.expect("read"),
        Some(p1.clone())
    );
    assert_eq!(
        rotating.customer(&cid("C1")).await.expect("read"),
        Some(firm)
    );
    assert_eq!(
        rotating.customer(&cid("P5")).await.expect("read"),
        Some(legacy)
    );
    assert_eq!(
        ids(&rotating
            .customers_by_phone("13912345678")
            .await
            .expect("lookup")),
        ["P5"]
    );
    // A second rotation rewrites nothing.
    assert_eq!(rotate_all(rotating.as_ref(), 4).await, (6, 0));
    // The old key can go: a keyring without it reads everything; k1 alone reads nothing.
    let k2_only = Arc::new(
        k2.without_key(&KeyId::new("k1").expect("id"))
            .expect("remove k1"),
    );
    assert_eq!(
        h.store_with(Some(k2_only))
            .customer(&cid("P1"))
            .await
            .expect("read"),
        Some(p1)
    );
    assert!(h.store_with(Some(k1)).customer(&cid("P1")).await.is_err());
    // Rotation needs a keyring.
    assert!(
        h.store_with(None)
            .reencrypt_customers(None, 10)
            .await
            .is_err()
    );
}

/// Customers for [`names_found_by_the_index`]: one three-character name and one that shares
/// its first two characters.
pub async fn write_index_rebuild_fixtures(store: &dyn Store) {
    store
        .write(
            None,
            &[tables::customers(&[
                Customer::individual(cid("RB1"), "赵超然".to_owned()),
                Customer::individual(cid("RB2"), "赵超".to_owned()),
            ])],
        )
        .await
        .expect("write rebuild fixtures");
}

/// What the name index finds for the fixtures of [`write_index_rebuild_fixtures`]: the full
/// name (its triple) and the shared pair. An adapter's test empties the index behind the
/// store's back (as migration 0011 does) and shows `migrate` builds it again.
pub async fn names_found_by_the_index(store: &dyn Store) -> (Vec<String>, Vec<String>) {
    let find = async |q: &str| {
        let query = crate::CustomerQuery {
            terms: crate::search::query_terms(q),
            limit: 10,
            ..crate::CustomerQuery::default()
        };
        store
            .find_customers(&crate::CustomerScope::All, &query)
            .await
            .expect("find")
            .into_iter()
            .map(|c| c.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    (find("赵超然").await, find("赵超").await)
}

/// A name-index build cut short is finished by the next `migrate`, in both of the ways one can
/// be left: by a build that records its progress (a `store_task` cursor after the first
/// customer) and by one from before builds could (some customers without terms and no task;
/// migration 0014, run again here by forgetting it was applied). `raw` runs SQL behind the
/// store's back, as an operator or a crash would leave the database.
pub async fn migrate_finishes_a_name_index_build_cut_short(
    store: &dyn Store,
    raw: impl AsyncFn(&str),
) {
    write_index_rebuild_fixtures(store).await;
    let indexed = (
        vec!["RB1".to_owned()],
        vec!["RB1".to_owned(), "RB2".to_owned()],
    );
    assert_eq!(names_found_by_the_index(store).await, indexed);
    let cut_short = (vec!["RB1".to_owned()], vec!["RB1".to_owned()]);

    raw("DELETE FROM customer_search WHERE customer_id = 'RB2'").await;
    raw("INSERT INTO store_task (name, cursor) VALUES ('customer_search', 'RB1')").await;
    assert_eq!(names_found_by_the_index(store).await, cut_short);
    store.migrate().await.expect("migrate");
    assert_eq!(
        names_found_by_the_index(store).await,
        indexed,
        "resumed after the cursor"
    );

    raw("DELETE FROM customer_search WHERE customer_id = 'RB2'").await;
    assert_eq!(names_found_by_the_index(store).await, cut_short);
    store.migrate().await.expect("migrate");
    assert_eq!(
        names_found_by_the_index(store).await,
        cut_short,
        "an index with terms is not scanned on every start"
    );
    raw("DELETE FROM _sqlx_migrations WHERE version = 14").await;
    store.migrate().await.expect("migrate");
    assert_eq!(
        names_found_by_the_index(store).await,
        indexed,
        "migration 0014 found the customer without terms"
    );
}

/// A page of scores written by `write_scores` (the analytics run's write; an engine may take a
/// road of its own) reads back field by field and records its marker; writing the same
/// customer and run again replaces the score; a page of a run that does not exist is refused
/// whole, marker included.
async fn score_pages_read_back_and_record_their_marker(store: &dyn Store) {
    use crate::analytics::AnalyticsRun;
    let day = |d| NaiveDate::from_ymd_opt(2030, 1, d).expect("a January day");
    let run_id = "2030-01-31/conformance";
    let started = AnalyticsRun {
        run_id: run_id.to_owned(),
        as_of: day(31),
        model_version: "conformance".to_owned(),
        params: "{}".to_owned(),
        started_at: Utc::now(),
        finished_at: None,
        status: "running".to_owned(),
        customers: 0,
    };
    assert!(store.start_analytics_run(&started).await.expect("start"));
    let full = |tier: &str| full_score(run_id, tier);
    let sparse = tables::CustomerScore {
        customer_id: "C1".to_owned(),
        frequency: None,
        recency_weeks: None,
        age_weeks: None,
        monetary_minor: None,
        rfm: None,
        rfm_segment: None,
        p_alive: None,
        expected_purchases_90d: None,
        clv_minor: None,
        aum_minor: 0,
        tier_below_since: None,
        stage: "prospect".to_owned(),
        segment: None,
        ..full("一般")
    };
    let marker = |source: &str, batch_no| BatchMarker {
        source: source.to_owned(),
        batch_no,
        records: 2,
        loaded: 2,
    };
    let written = store
        .write_scores(&marker(run_id, 0), vec![full("gold"), sparse.clone()])
        .await
        .expect("a page of scores");
    assert_eq!(written, 2);
    store
        .write_scores(&marker(run_id, 1), vec![full("silver")])
        .await
        .expect("the same customer and run again");
    assert_eq!(
        store.committed_batches(run_id).await.expect("markers"),
        [0, 1].into_iter().collect()
    );
    store
        .finish_analytics_run(run_id, "completed", 2, "{}")
        .await
        .expect("finish");
    let read = |id| async move {
        let history = store.score_history(&cid(id), 12).await.expect("history");
        history
            .into_iter()
            .find(|s| s.run_id == run_id)
            .expect("the run's score")
    };
    for (id, want) in [("P1", full("silver")), ("C1", sparse)] {
        let got = read(id).await;
        assert_eq!(got, as_stored(want), "{id}");
    }

    let orphan = tables::CustomerScore {
        run_id: "no-such-run".to_owned(),
        ..full("gold")
    };
    let refused = store
        .write_scores(&marker("no-such-run", 0), vec![orphan])
        .await
        .expect_err("a score of a run that does not exist");
    assert!(
        matches!(&refused, StoreError::Conflict { constraint } if constraint == "customer_score_run_fkey"),
        "refused by the run's foreign key: {refused:?}"
    );
    assert!(
        store
            .committed_batches("no-such-run")
            .await
            .expect("markers")
            .is_empty(),
        "a refused page leaves no marker"
    );
}

/// A long page of scores, as a run writes them (an engine may batch its rows), with rows of a
/// second run among the first run's: each row reads back with its own run's columns.
async fn a_long_score_page_keeps_each_rows_run(store: &dyn Store) {
    use crate::analytics::AnalyticsRun;
    let day = |d| NaiveDate::from_ymd_opt(2030, 2, d).expect("a February day");
    let run = |run_id: &str, as_of, model_version: &str| AnalyticsRun {
        run_id: run_id.to_owned(),
        as_of,
        model_version: model_version.to_owned(),
        params: "{}".to_owned(),
        started_at: Utc::now(),
        finished_at: None,
        status: "running".to_owned(),
        customers: 0,
    };
    let (run_id, other_run) = ("2030-02-28/conformance", "2030-02-27/conformance");
    for started in [
        run(run_id, day(28), "conformance"),
        run(other_run, day(27), "conformance-2"),
    ] {
        assert!(store.start_analytics_run(&started).await.expect("start"));
    }
    let long_page: Vec<_> = (0..70)
        .map(|i| {
            let first_run = tables::CustomerScore {
                customer_id: format!("L{i:02}"),
                as_of: day(28),
                aum_minor: i,
                ..full_score(run_id, "gold")
            };
            if (40..45).contains(&i) {
                tables::CustomerScore {
                    run_id: other_run.to_owned(),
                    as_of: day(27),
                    model_version: "conformance-2".to_owned(),
                    ..first_run
                }
            } else {
                first_run
            }
        })
        .collect();
    let marker = BatchMarker {
        source: run_id.to_owned(),
        batch_no: 0,
        records: 70,
        loaded: 70,
    };
    let written = store
        .write_scores(&marker, long_page.clone())
        .await
        .expect("a long page");
    assert_eq!(written, 70);
    for finished in [run_id, other_run] {
        store
            .finish_analytics_run(finished, "completed", 70, "{}")
            .await
            .expect("finish");
    }
    for i in [0_usize, 31, 32, 39, 40, 44, 45, 63, 64, 69] {
        let want = &long_page[i];
        let history = store
            .score_history(&cid(&want.customer_id), 12)
            .await
            .expect("history");
        assert_eq!(
            history,
            [as_stored(want.clone())],
            "row {i} of the long page"
        );
    }
}

/// The row `score_history` gives for a written score.
fn as_stored(score: tables::CustomerScore) -> crate::analytics::ScoreRow {
    let (r, f, m) = score
        .rfm
        .map_or((None, None, None), |(r, f, m)| (Some(r), Some(f), Some(m)));
    crate::analytics::ScoreRow {
        customer_id: score.customer_id,
        run_id: score.run_id,
        as_of: score.as_of,
        model_version: score.model_version,
        frequency: score.frequency,
        recency_weeks: score.recency_weeks,
        age_weeks: score.age_weeks,
        monetary_minor: score.monetary_minor,
        rfm_r: r,
        rfm_f: f,
        rfm_m: m,
        rfm_segment: score.rfm_segment,
        p_alive: score.p_alive,
        expected_purchases_90d: score.expected_purchases_90d,
        clv_minor: score.clv_minor,
        aum_minor: score.aum_minor,
        tier: score.tier,
        tier_since: score.tier_since,
        tier_below_since: score.tier_below_since,
        stage: score.stage,
        segment: score.segment,
    }
}

/// A score with every field set, of customer P1 in `run_id` (as of 2030-01-31).
fn full_score(run_id: &str, tier: &str) -> tables::CustomerScore {
    let day = |d| NaiveDate::from_ymd_opt(2030, 1, d).expect("a January day");
    tables::CustomerScore {
        customer_id: "P1".to_owned(),
        run_id: run_id.to_owned(),
        as_of: day(31),
        model_version: "conformance".to_owned(),
        frequency: Some(7),
        recency_weeks: Some(20.142_857_142_857_142),
        age_weeks: Some(51.5),
        monetary_minor: Some(12_345.678),
        rfm: Some((5, 4, 3)),
        rfm_segment: Some("champions".to_owned()),
        p_alive: Some(0.987_654_321),
        expected_purchases_90d: Some(1.25),
        clv_minor: Some(9_876_543),
        aum_minor: 123_456_789,
        tier: tier.to_owned(),
        tier_since: day(2),
        tier_below_since: Some(day(20)),
        stage: "loyal".to_owned(),
        segment: Some("k3".to_owned()),
    }
}

fn branch_created(branch: &fincrm_domain::Branch) -> crate::tree::TreeDecision {
    crate::tree::TreeDecision::Write {
        branch: branch.clone(),
        entry: Box::new(crate::NewAuditEntry::new(
            Utc::now(),
            "admin",
            "branch.create",
            "branch",
            branch.id.as_str(),
        )),
    }
}

/// [`Store::edit_branches`] from two handles on one database, as from two server processes: an
/// edit that starts while another is deciding waits for it, and decides against the tree the
/// first one leaves. Without that, two changes each valid alone could both pass.
///
/// The first edit holds its decision for 300 ms on a blocked thread, so the caller's runtime
/// needs two worker threads (`#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`).
pub async fn tree_edits_wait_for_each_other(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    use crate::tree::{TreeDecision, TreeRefusal};
    use fincrm_domain::{Branch, BranchLevel};
    let head = Branch {
        id: "TREE-HO".parse().expect("branch"),
        name: "总行".to_owned(),
        parent: None,
        level: BranchLevel::HeadOffice,
    };
    let deciding = Arc::new(tokio::sync::Notify::new());
    let first_edit = {
        let (deciding, head) = (Arc::clone(&deciding), head.clone());
        tokio::spawn(async move {
            first
                .edit_branches(&|_tree: &[Branch]| {
                    deciding.notify_one();
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    Ok(branch_created(&head))
                })
                .await
        })
    };
    deciding.notified().await;
    let seen = std::sync::Mutex::new(Vec::new());
    let second_edit = second
        .edit_branches(&|tree: &[Branch]| {
            if let Ok(mut seen) = seen.lock() {
                seen.extend(tree.iter().map(|b| b.id.as_str().to_owned()));
            }
            if tree.iter().any(|b| b.id == head.id) {
                Err(TreeRefusal::Taken)
            } else {
                Ok(branch_created(&head))
            }
        })
        .await
        .expect("the second edit runs");
    let first_edit = first_edit
        .await
        .expect("the first edit's task")
        .expect("the first edit runs");
    assert_eq!(first_edit.expect("the first edit writes"), head);
    assert!(
        matches!(second_edit, Err(TreeRefusal::Taken)),
        "the second edit decided before the first was written: it saw the tree {seen:?} and \
         returned {second_edit:?}"
    );

    // A refusal and an unchanged decision write nothing.
    let refused = second
        .edit_branches(&|_tree: &[Branch]| {
            Err(TreeRefusal::Invalid(fincrm_domain::ValidationError::new(
                "level", "refused",
            )))
        })
        .await
        .expect("a refused edit runs");
    assert!(matches!(refused, Err(TreeRefusal::Invalid(_))));
    let unchanged = second
        .edit_branches(&|tree: &[Branch]| {
            tree.iter()
                .find(|b| b.id == head.id)
                .cloned()
                .map(TreeDecision::Unchanged)
                .ok_or(TreeRefusal::NotFound)
        })
        .await
        .expect("an unchanged edit runs");
    assert_eq!(unchanged.expect("unchanged"), head);
    assert_eq!(second.branches().await.expect("tree"), vec![head]);
}

/// The analytics run's purchases by day come from each customer's debits kept on write
/// (`customer_debits`): after new batches, a batch written again and a batch of old and new
/// rows, in customer orders that interleave, they are what the transactions themselves give,
/// at any offset from UTC.
async fn debits_kept_on_write_give_the_days_of_the_transactions(store: &dyn Store) {
    use crate::analytics::ActivityByDay;
    use std::collections::BTreeMap;
    let customers = ["ZD01", "ZD02", "ZD03", "ZD04"];
    // A fixed pseudo-random walk: instants around local midnights, repeats within a day,
    // fractions of a second, credits among the debits.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut all = Vec::new();
    for i in 0..90_u32 {
        let customer = customers[usize::try_from(next(3)).expect("small")];
        let secs = i64::try_from(next(40 * 86_400)).expect("small");
        let millis = u32::try_from(next(1000)).expect("small");
        let mut t = sample_transaction(&format!("ZDT{i:03}"), customer, "ZDH1", 0);
        t.at = Utc
            .timestamp_opt(1_780_000_000 + secs, millis * 1_000_000)
            .single()
            .expect("instant");
        t.amount = Money::new(
            i64::try_from(next(90_000)).expect("small") + 1,
            Currency::Cny,
        );
        t.direction = if next(4) == 0 {
            Direction::Credit
        } else {
            Direction::Debit
        };
        all.push(t);
    }
    let write = |rows: &[Transaction]| {
        let batch = tables::transactions(rows);
        async move {
            store
                .write(None, &[batch])
                .await
                .expect("write transactions")
        }
    };
    write(&all[..40]).await;
    write(&all[40..70]).await;
    // Written again: nothing new, nothing counted twice.
    write(&all[40..70]).await;
    // Old and new rows together, out of order.
    let mut mixed: Vec<Transaction> = all[60..90].iter().rev().cloned().collect();
    mixed.extend(all[..5].iter().cloned());
    write(&mixed).await;
    // Another customer's debit, later in key order, so the range below must end before it.
    let mut outside = sample_transaction("ZDT999", "ZD05", "ZDH1", 60);
    outside.direction = Direction::Debit;
    write(&[outside]).await;

    for offset in [28_800, 0, -18_000] {
        let mut expected: BTreeMap<(String, NaiveDate), (i64, i64)> = BTreeMap::new();
        for t in all.iter().filter(|t| t.direction == Direction::Debit) {
            let day = (t.at + chrono::Duration::seconds(i64::from(offset))).date_naive();
            let entry = expected
                .entry((t.customer_id.as_str().to_owned(), day))
                .or_default();
            entry.0 += t.amount.minor;
            entry.1 += 1;
        }
        let mut want = ActivityByDay::default();
        for ((customer, day), (amount, count)) in expected {
            want.push(&customer, day, amount, count);
        }
        let got = store
            .analytics_activity("ZD01", "ZD04", offset)
            .await
            .expect("activity");
        assert_eq!(got, want, "purchases by day at offset {offset}");
    }
}
