//! The organisation: head office, city branches, sub-branches, staff and the product catalogue.

use crate::names::PersonName;
use crate::tables::{CITIES, PRODUCTS};
use crate::util::{Rand, to_u32};
use crate::{DemoConfig, OrgData};
use fincrm_domain::{
    Branch, BranchId, BranchLevel, Product, ProductCode, ProductRiskLevel, StaffRole, User, UserId,
};

/// The stream of the organisation's random numbers; chunk streams are their chunk index.
const ORG_STREAM: u64 = u64::MAX;

/// A sub-branch (支行), where customers are booked.
pub(crate) struct SubBranch {
    /// Index into [`OrgData::branches`].
    pub branch: usize,
    /// Index into [`CITIES`].
    pub city: usize,
    /// Index into the city's districts.
    pub district: usize,
}

/// A relationship manager.
pub(crate) struct Rm {
    /// Index into [`OrgData::staff`].
    pub user: usize,
    /// Index into [`OrgIndex::subs`].
    pub sub: usize,
}

/// The organisation with the lookups the customer generator needs.
pub(crate) struct OrgIndex {
    pub data: OrgData,
    pub subs: Vec<SubBranch>,
    pub rms: Vec<Rm>,
    /// Retail RMs (indexes into `rms`) and the prefix sums of their book weights.
    pub retail: (Vec<usize>, Vec<u64>),
    /// Corporate RMs (indexes into `rms`) and the prefix sums of their book weights.
    pub corporate: (Vec<usize>, Vec<u64>),
    /// Service agents (indexes into staff) of each city.
    pub agents: Vec<Vec<usize>>,
}

impl OrgIndex {
    /// The RM `rm`'s employee number.
    pub(crate) fn rm_id(&self, rm: usize) -> &UserId {
        &self.data.staff[self.rms[rm].user].id
    }
}

struct StaffBuilder<'a> {
    rng: &'a mut Rand,
    staff: Vec<User>,
    next: [u32; 8],
}

impl StaffBuilder<'_> {
    fn add(&mut self, role: StaffRole, branch: &BranchId) -> usize {
        let (prefix, slot, base) = match role {
            StaffRole::Admin => ("AD", 0, 1),
            StaffRole::RelationshipManager => ("RM", 1, 1001),
            StaffRole::BranchManager => ("BM", 2, 2001),
            StaffRole::ServiceAgent => ("SA", 3, 3001),
            StaffRole::RiskOfficer => ("RO", 4, 4001),
            StaffRole::Marketing => ("MK", 5, 5001),
            StaffRole::Auditor => ("AU", 6, 6001),
            StaffRole::HeadOfficeAnalyst => ("HA", 7, 7001),
        };
        let n = base + self.next[slot];
        self.next[slot] += 1;
        let id = if role == StaffRole::Admin {
            format!("{prefix}{n:04}")
        } else {
            format!("{prefix}{n}")
        };
        let male = self.rng.chance(0.5);
        let birth_year = 1965 + i32::try_from(self.rng.below(36)).unwrap_or(0);
        let name = PersonName::random(self.rng, male, birth_year).chinese();
        self.staff.push(User {
            id: UserId::parse(&id).unwrap_or_else(|_| unreachable_id()),
            name,
            branch_id: branch.clone(),
            role,
        });
        self.staff.len() - 1
    }
}

/// Identifiers built here are ASCII letters and digits by construction.
fn unreachable_id() -> UserId {
    UserId::parse("X").unwrap_or_else(|_| unreachable!("a one-letter id is valid"))
}

pub(crate) fn branch_id(code: &str) -> BranchId {
    BranchId::parse(code).unwrap_or_else(|_| unreachable!("branch codes are ASCII"))
}

fn short_district(name: &str) -> &str {
    name.strip_suffix("新区")
        .or_else(|| name.strip_suffix('区'))
        .unwrap_or(name)
}

/// Builds the organisation for a configuration.
#[expect(
    clippy::too_many_lines,
    reason = "one linear recipe of the organisation"
)]
pub(crate) fn build(config: &DemoConfig) -> OrgIndex {
    let mut rng = Rand::new(config.seed, ORG_STREAM);
    let head = branch_id("HO");
    let mut branches = vec![Branch {
        id: head.clone(),
        name: "总行".to_owned(),
        parent: None,
        level: BranchLevel::HeadOffice,
    }];
    let mut subs = Vec::new();
    let mut city_branch = Vec::new();
    for (ci, city) in CITIES.iter().enumerate() {
        let code = format!("B{}", 101 + ci);
        let id = branch_id(&code);
        branches.push(Branch {
            id: id.clone(),
            name: format!("{}分行", city.name),
            parent: Some(head.clone()),
            level: BranchLevel::Branch,
        });
        city_branch.push(branches.len() - 1);
        let n = (3 + rng.below(4)).min(city.districts.len());
        let mut order: Vec<usize> = (0..city.districts.len()).collect();
        for i in 0..n {
            let j = i + rng.below(order.len() - i);
            order.swap(i, j);
            let district = order[i];
            branches.push(Branch {
                id: branch_id(&format!("{code}-{:02}", i + 1)),
                name: format!(
                    "{}{}支行",
                    city.name,
                    short_district(city.districts[district].0)
                ),
                parent: Some(id.clone()),
                level: BranchLevel::SubBranch,
            });
            subs.push(SubBranch {
                branch: branches.len() - 1,
                city: ci,
                district,
            });
        }
    }

    let mut sb = StaffBuilder {
        rng: &mut rng,
        staff: Vec::new(),
        next: [0; 8],
    };
    sb.add(StaffRole::Admin, &head);
    for _ in 0..2 {
        sb.add(StaffRole::HeadOfficeAnalyst, &head);
        sb.add(StaffRole::Auditor, &head);
        sb.add(StaffRole::RiskOfficer, &head);
        sb.add(StaffRole::Marketing, &head);
    }
    sb.add(StaffRole::Marketing, &head);
    for &b in &city_branch {
        let id = branches[b].id.clone();
        sb.add(StaffRole::BranchManager, &id);
        sb.add(StaffRole::RiskOfficer, &id);
        sb.add(StaffRole::Marketing, &id);
    }
    for s in &subs {
        let id = branches[s.branch].id.clone();
        sb.add(StaffRole::BranchManager, &id);
    }
    let n_agents = usize::try_from((config.customers / 25_000).max(2)).unwrap_or(2);
    let mut agents = vec![Vec::new(); CITIES.len()];
    for a in 0..n_agents {
        let city = a % CITIES.len();
        let id = branches[city_branch[city]].id.clone();
        agents[city].push(sb.add(StaffRole::ServiceAgent, &id));
    }

    // RMs: about one per 500 customers, spread over sub-branches by city size; about one in
    // seven covers corporates (对公客户经理).
    let n_rms = usize::try_from(config.customers.div_ceil(500).max(5)).unwrap_or(5);
    let sub_weights: Vec<u32> = subs
        .iter()
        .map(|s| {
            let in_city = subs.iter().filter(|t| t.city == s.city).count();
            CITIES[s.city].weight * 60 / u32::try_from(in_city).unwrap_or(1)
        })
        .collect();
    let mut rms = Vec::with_capacity(n_rms);
    let mut retail = (Vec::new(), Vec::new());
    let mut corporate = (Vec::new(), Vec::new());
    // Every sub-branch gets one RM when there are enough; the rest are spread in proportion to
    // the weights (systematic sampling, so a city's share does not depend on luck).
    let first = if n_rms >= subs.len() { subs.len() } else { 0 };
    let total: u64 = sub_weights.iter().map(|&w| u64::from(w)).sum();
    let offset = sb.rng.f();
    let mut cum = Vec::with_capacity(sub_weights.len());
    let mut acc = 0;
    for &w in &sub_weights {
        acc += u64::from(w);
        cum.push(acc);
    }
    for r in 0..n_rms {
        let sub = if r < first {
            r
        } else {
            let k = (r - first) as f64 + offset;
            let at = to_u32(k / (n_rms - first) as f64 * total as f64);
            cum.partition_point(|&c| c <= u64::from(at))
                .min(subs.len() - 1)
        };
        let id = branches[subs[sub].branch].id.clone();
        let user = sb.add(StaffRole::RelationshipManager, &id);
        rms.push(Rm { user, sub });
        let weight = u64::from(to_u32(sb.rng.lognormal(1000.0, 0.35)).max(1));
        let book = if r % 7 == 3 || (r == n_rms - 1 && corporate.0.is_empty()) {
            &mut corporate
        } else {
            &mut retail
        };
        let total = book.1.last().copied().unwrap_or(0);
        book.0.push(r);
        book.1.push(total + weight);
    }
    let staff = sb.staff;

    let products = PRODUCTS
        .iter()
        .map(|p| Product {
            code: ProductCode::parse(p.code).unwrap_or_else(|_| unreachable!("codes are ASCII")),
            name: p.name.to_owned(),
            product_type: p.kind,
            risk_level: ProductRiskLevel::new(p.risk)
                .unwrap_or_else(|_| unreachable!("levels are 1-5")),
        })
        .collect();

    OrgIndex {
        data: OrgData {
            branches,
            staff,
            products,
        },
        subs,
        rms,
        retail,
        corporate,
        agents,
    }
}
