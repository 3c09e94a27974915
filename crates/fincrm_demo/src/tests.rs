use super::*;
use crate::context::{beijing_day, day_of};
use fincrm_domain::{
    CustomerKind, Gender, IdentityDocument, MobilePhone, ResidentId, UnifiedSocialCreditCode,
};
use std::collections::HashSet;
use std::path::Path;

fn config(customers: u64, chunk: usize) -> DemoConfig {
    DemoConfig {
        customers,
        chunk_customers: chunk,
        ..DemoConfig::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_chunk_and_another_seed_another() {
    let cfg = config(300, 300);
    let a = chunks(&cfg).next();
    let b = chunks(&cfg).next();
    assert!(a.is_some());
    assert_eq!(a, b);
    let other = DemoConfig { seed: 7, ..cfg };
    let c = chunks(&other).next();
    assert_ne!(a, c);
}

#[test]
fn chunks_are_independent_of_each_other() {
    let cfg = config(500, 200);
    let all: Vec<DemoChunk> = chunks(&cfg).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].customers.len(), 100);
    let g = Generator::new(&cfg);
    assert_eq!(g.chunk(1), all[1]);
    assert_ne!(all[0].customers[0].name, all[1].customers[0].name);
}

#[test]
fn identity_numbers_and_phones_are_valid() {
    let cfg = config(2_000, 2_000);
    let chunk = Generator::new(&cfg).chunk(0);
    let mut ids = HashSet::new();
    let mut corporates = 0;
    for c in &chunk.customers {
        let phone = c
            .phone
            .as_ref()
            .map(MobilePhone::expose)
            .unwrap_or_default();
        assert!(MobilePhone::parse(phone).is_ok(), "{phone}");
        match (&c.document, c.kind) {
            (Some(IdentityDocument::ResidentId(id)), CustomerKind::Individual) => {
                let parsed = ResidentId::parse(id.expose());
                assert!(parsed.is_ok(), "{}", id.expose());
                let ind = c.individual.as_ref();
                assert_eq!(ind.and_then(|i| i.birth_date), Some(id.birth_date()));
                let male = ind.and_then(|i| i.gender) == Some(Gender::Male);
                assert_eq!(male, id.is_male());
                let age = cfg.end_date.years_since(id.birth_date()).unwrap_or(0);
                assert!((18..=86).contains(&age), "age {age}");
            }
            (Some(IdentityDocument::Uscc(code)), CustomerKind::Corporate) => {
                assert!(
                    UnifiedSocialCreditCode::parse(code.as_str()).is_ok(),
                    "{code:?}"
                );
                corporates += 1;
            }
            other => panic!("unexpected document {other:?}"),
        }
        assert!(ids.insert(c.document.as_ref().map(|d| d.expose().to_owned())));
    }
    assert!((50..=160).contains(&corporates), "{corporates} corporates");
}

#[test]
fn every_reference_resolves_within_its_chunk() {
    let cfg = config(1_200, 400);
    let org = organisation(&cfg);
    let staff: HashSet<&str> = org.staff.iter().map(|u| u.id.as_str()).collect();
    let branches: HashSet<&str> = org.branches.iter().map(|b| b.id.as_str()).collect();
    let products: HashSet<&str> = org.products.iter().map(|p| p.code.as_str()).collect();
    let mut all_holdings = HashSet::new();
    let mut all_tx = HashSet::new();
    for chunk in chunks(&cfg) {
        let customers: HashSet<&str> = chunk.customers.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(customers.len(), chunk.customers.len());
        for c in &chunk.customers {
            assert!(branches.contains(c.branch_id.as_ref().map_or("", |b| b.as_str())));
            assert!(staff.contains(c.primary_rm.as_ref().map_or("", |u| u.as_str())));
            if let Some(parent) = c.corporate.as_ref().and_then(|k| k.group_parent.as_ref()) {
                assert!(customers.contains(parent.as_str()));
            }
        }
        let mut owner = std::collections::HashMap::new();
        for h in &chunk.holdings {
            assert!(customers.contains(h.customer_id.as_str()));
            assert!(products.contains(h.product_code.as_str()));
            assert!(all_holdings.insert(h.id.clone()), "duplicate {}", h.id);
            assert!((16..=19).contains(&h.id.as_str().len()));
            owner.insert(h.id.as_str(), h.customer_id.as_str());
        }
        for t in &chunk.transactions {
            assert_eq!(
                owner.get(t.holding_id.as_str()),
                Some(&t.customer_id.as_str())
            );
            assert!(t.amount.minor > 0);
            assert!(all_tx.insert(t.id.clone()), "duplicate {}", t.id);
        }
        for c in &chunk.coverage {
            assert!(customers.contains(c.customer_id.as_str()));
            assert!(staff.contains(c.user_id.as_str()));
        }
        for r in &chunk.relationships {
            assert!(customers.contains(r.from.as_str()) && customers.contains(r.to.as_str()));
            assert_ne!(r.from, r.to);
        }
        for i in &chunk.interactions {
            assert!(customers.contains(i.customer_id.as_str()));
            assert!(
                i.user_id
                    .as_ref()
                    .is_none_or(|u| staff.contains(u.as_str()))
            );
        }
        for c in &chunk.consents {
            assert!(customers.contains(c.customer_id.as_str()));
        }
        let primaries = chunk
            .coverage
            .iter()
            .filter(|c| c.role == fincrm_domain::CoverageRole::Primary)
            .count();
        assert_eq!(primaries, chunk.customers.len());
    }
}

#[test]
fn transaction_counts_follow_the_configured_shape() {
    let cfg = config(2_000, 2_000);
    let g = Generator::new(&cfg);
    let raw = g.raw_chunk(0);
    let mut per = vec![0_u32; raw.chunk.customers.len()];
    for t in &raw.txs {
        per[t.cust as usize] += 1;
    }
    let mean = f64::from(per.iter().sum::<u32>()) / per.len() as f64;
    per.sort_unstable();
    let median = per[per.len() / 2];
    let p99 = per[per.len() * 99 / 100];
    assert!((16.0..=24.0).contains(&mean), "mean {mean}");
    assert!((6..=12).contains(&median), "median {median}");
    assert!((100..=280).contains(&p99), "p99 {p99}");
    let holdings = raw.chunk.holdings.len() as f64 / per.len() as f64;
    assert!(
        (2.6..=3.9).contains(&holdings),
        "holdings per customer {holdings}"
    );
}

#[test]
fn dormant_and_churned_customers_stop_transacting() {
    let cfg = config(2_000, 2_000);
    let raw = Generator::new(&cfg).raw_chunk(0);
    let stopped = raw.truth.iter().filter(|t| t.stop_day.is_some()).count();
    let churned = raw.truth.iter().filter(|t| t.churned).count();
    assert!((300..=560).contains(&stopped), "{stopped} stopped");
    assert!((100..=230).contains(&churned), "{churned} churned");
    let end = day_of(cfg.end_date);
    for t in &raw.txs {
        let day = beijing_day(t.at);
        let limit = raw.truth[t.cust as usize].stop_day.unwrap_or(end);
        assert!(day <= limit, "transaction on day {day} after {limit}");
    }
    for (i, truth) in raw.truth.iter().enumerate() {
        if truth.churned {
            let c = &raw.chunk.customers[i];
            assert_eq!(c.status, fincrm_domain::CustomerStatus::Closed);
            assert!(
                raw.chunk
                    .holdings
                    .iter()
                    .filter(|h| h.customer_id == c.id)
                    .all(|h| h.status == fincrm_domain::HoldingStatus::Closed)
            );
        }
    }
}

#[test]
fn csv_files_have_the_documented_headers_and_are_reproducible() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = config(500, 200);
    let summary = write_csv(&cfg, dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(summary.customers, 500);
    let expected = [
        ("branches.csv", "branch_id,name,parent_id,level"),
        ("staff.csv", "user_id,name,branch_id,role"),
        ("products.csv", "product_code,name,product_type,risk_level"),
        (
            "customers.csv",
            "customer_id,kind,name,name_latin,id_type,id_number,gender,birth_date,phone,email,address,branch_id,primary_rm,risk_tolerance,opened_on,status,occupation,ownership,industry_code,registered_capital,founded_on,group_parent",
        ),
        ("coverage.csv", "customer_id,user_id,role"),
        (
            "holdings.csv",
            "holding_id,customer_id,product_code,product_type,balance,currency,limit,opened_on,matures_on,status",
        ),
        (
            "transactions.csv",
            "transaction_id,customer_id,holding_id,posted_at,amount,currency,direction,channel,counterparty,kind,memo",
        ),
        (
            "interactions.csv",
            "interaction_id,customer_id,occurred_at,channel,kind,user_id,content",
        ),
        (
            "relationships.csv",
            "from_customer_id,to_customer_id,kind,role",
        ),
        (
            "consents.csv",
            "customer_id,purpose,channel,recorded_at,granted",
        ),
        (
            "corporate_values.csv",
            "customer_id,avg_yearly_contribution,contribution_growth,departments_used,special_background",
        ),
    ];
    let read = |name: &str, d: &Path| std::fs::read_to_string(d.join(name)).unwrap_or_default();
    for (name, header) in expected {
        let text = read(name, dir.path());
        assert_eq!(text.lines().next(), Some(header), "{name}");
        assert!(text.lines().count() > 1, "{name} is empty");
    }
    let rows = |name: &str| read(name, dir.path()).lines().count() as u64 - 1;
    assert_eq!(rows("transactions.csv"), summary.transactions);
    assert_eq!(rows("holdings.csv"), summary.holdings);
    let tx = read("transactions.csv", dir.path());
    let first = tx.lines().nth(1).unwrap_or_default();
    let fields: Vec<&str> = first.split(',').collect();
    assert_eq!(fields.len(), 11, "{first}");
    assert!(
        fields[0].starts_with('T') && fields[0].len() == 13,
        "{first}"
    );
    assert!(fields[3].ends_with('Z') && fields[3].len() == 20, "{first}");
    assert!(fields[4].parse::<i64>().is_ok_and(|a| a > 0), "{first}");

    let again = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_csv(&cfg, again.path()).unwrap_or_else(|e| panic!("{e:#}"));
    for (name, _) in expected {
        assert!(
            read(name, dir.path()) == read(name, again.path()),
            "{name} differs"
        );
    }
}
