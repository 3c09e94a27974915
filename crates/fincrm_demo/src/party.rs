//! Customers: individuals with households, corporates with groups, and their hidden profiles.

use crate::chunk::ChunkGen;
use crate::context::{date_of, day_of};
use crate::names::{FORM_GROUP, FirmName, PersonName};
use crate::tables::{
    CITIES, COMMON_ROADS, ESTATES, MIGRANT_REGIONS, MOBILE_PREFIXES, OCCUPATIONS, SHOPS,
};
use crate::util::{
    Rand, USCC_CHARSET, fen_round, org_code_check, put_digits, resident_id_check, to_u32,
    uscc_check,
};
use chrono::{Datelike, NaiveDate};
use fincrm_domain::{
    CorporateProfile, Currency, Customer, CustomerId, CustomerStatus, Gender, IdentityDocument,
    IndividualProfile, MobilePhone, Money, OwnershipType, Relationship, RelationshipKind,
    ResidentId, RiskTolerance, UnifiedSocialCreditCode,
};

/// What the generator knows about a customer beyond what the bank records.
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent facts of a customer"
)]
pub(crate) struct Profile {
    pub local: usize,
    pub global: u64,
    pub individual: bool,
    pub city: usize,
    pub rm: usize,
    pub age: i32,
    pub name: PersonName,
    /// Monthly income (individuals) or monthly turnover (corporates), in yuan.
    pub income: f64,
    pub salaried: bool,
    pub employer: FirmName,
    pub pay_day: u32,
    /// Target assets under management, in yuan.
    pub aum: f64,
    pub tolerance: u8,
    pub open_day: i32,
    /// Last day of activity, for dormant and churned customers.
    pub stop_day: Option<i32>,
    pub churned: bool,
    /// Target number of transactions.
    pub n_tx: u32,
    pub self_employed: bool,
}

/// A household being filled: the head's facts the next members share.
pub(crate) struct Household {
    pub head: usize,
    pub head_name: PersonName,
    pub head_male: bool,
    pub head_age: i32,
    pub rm: usize,
    pub address: String,
    pub roles: Vec<&'static str>,
}

/// Age bands of individual customers (18–85).
const AGE_BANDS: [(i32, i32); 7] = [
    (18, 24),
    (25, 34),
    (35, 44),
    (45, 54),
    (55, 64),
    (65, 74),
    (75, 85),
];
/// Shares of the age bands, in percent.
const AGE_WEIGHTS: [u32; 7] = [8, 20, 21, 20, 16, 10, 5];

/// Log-scale spread of AUM: with a median of 12.3k yuan, 73% hold < 50k, 5% ≥ 500k and 0.3%
/// ≥ 6M.
const AUM_SIGMA: f64 = 2.25;
const AUM_MEDIAN: f64 = 12_300.0;
/// Log-scale spread of the number of transactions: median 9 and mean 20 give p99 ≈ 170.
pub(crate) const TX_SIGMA: f64 = 1.264;
/// How many times more transactions a corporate makes than an individual, at the median.
const CORPORATE_ACTIVITY: f64 = 2.0;

fn occupation_cum() -> &'static [u64] {
    static CUM: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    CUM.get_or_init(|| {
        let mut total = 0;
        OCCUPATIONS
            .iter()
            .map(|o| {
                total += u64::from(o.1);
                total
            })
            .collect()
    })
}

fn customer_id(individual: bool, global: u64) -> CustomerId {
    let id = if individual {
        format!("P{}", 1_000_000_000 + global)
    } else {
        format!("C{}", 2_000_000_000 + global)
    };
    CustomerId::parse(&id).unwrap_or_else(|_| unreachable!("customer numbers are ASCII"))
}

fn mobile(rng: &mut Rand) -> Option<MobilePhone> {
    let mut b = [0u8; 11];
    put_digits(&mut b, u64::from(*rng.pick(MOBILE_PREFIXES)), 3);
    put_digits(&mut b[3..], rng.u64() % 100_000_000, 8);
    std::str::from_utf8(&b)
        .ok()
        .and_then(|s| MobilePhone::parse(s).ok())
}

/// A home address in the city, half the time in the district of the customer's sub-branch.
fn home_address(rng: &mut Rand, city: usize, near: usize) -> String {
    let c = &CITIES[city];
    let district = if rng.chance(0.5) {
        c.districts[near].0
    } else {
        rng.pick(c.districts).0
    };
    let road = if rng.chance(0.6) {
        rng.pick(c.roads)
    } else {
        rng.pick(COMMON_ROADS)
    };
    format!(
        "{}市{}{}{}号{}{}幢{}单元{}{:02}室",
        c.name,
        district,
        road,
        1 + rng.below(600),
        rng.pick(ESTATES),
        1 + rng.below(30),
        1 + rng.below(4),
        1 + rng.below(28),
        1 + rng.below(4),
    )
}

fn office_address(rng: &mut Rand, city: usize, brand: &str) -> String {
    let c = &CITIES[city];
    format!(
        "{}市{}{}{}号{}大厦{}层",
        c.name,
        rng.pick(c.districts).0,
        rng.pick(c.roads),
        1 + rng.below(900),
        brand,
        1 + rng.below(30),
    )
}

/// A valid resident ID: region of birth, birth date, sequence with the sex digit, check digit.
fn resident_id(rng: &mut Rand, city: usize, birth: NaiveDate, male: bool) -> Option<ResidentId> {
    let region = if rng.chance(0.78) {
        rng.pick(CITIES[city].districts).1
    } else {
        *rng.pick(MIGRANT_REGIONS)
    };
    let mut body = [b'0'; 17];
    put_digits(&mut body, u64::from(region), 6);
    put_digits(
        &mut body[6..],
        u64::try_from(birth.year()).unwrap_or(1970),
        4,
    );
    put_digits(&mut body[10..], u64::from(birth.month()), 2);
    put_digits(&mut body[12..], u64::from(birth.day()), 2);
    put_digits(&mut body[14..], rng.u64() % 100, 2);
    let sex = u8::try_from(rng.below(5)).unwrap_or(0) * 2 + u8::from(male);
    body[16] = b'0' + sex;
    let mut full = [0u8; 18];
    full[..17].copy_from_slice(&body);
    full[17] = resident_id_check(&body);
    std::str::from_utf8(&full)
        .ok()
        .and_then(|s| ResidentId::parse(s).ok())
}

/// A valid unified social credit code: registration authority and type, region, organisation
/// code (GB 11714 check), GB 32100 check character.
fn credit_code(
    rng: &mut Rand,
    city: usize,
    ownership: OwnershipType,
    founded: NaiveDate,
) -> Option<UnifiedSocialCreditCode> {
    let mut b = [b'0'; 18];
    let (authority, kind) = match ownership {
        OwnershipType::IndividualBusiness => (b'9', b'2'),
        OwnershipType::Other => (b'1', b'2'),
        _ => (b'9', b'1'),
    };
    b[0] = authority;
    b[1] = kind;
    put_digits(
        &mut b[2..],
        u64::from(rng.pick(CITIES[city].districts).1),
        6,
    );
    // Codes issued since the 2015 reform mostly start with MA; older ones carry the old
    // organisation code's digits.
    if founded.year() >= 2016 {
        b[8] = b'M';
        b[9] = b'A';
        for slot in &mut b[10..16] {
            *slot = USCC_CHARSET[rng.below(USCC_CHARSET.len())];
        }
    } else {
        put_digits(&mut b[8..], rng.u64() % 100_000_000, 8);
    }
    b[16] = org_code_check(&b[8..16]);
    if !USCC_CHARSET.contains(&b[16]) {
        b[16] = b'0';
    }
    b[17] = uscc_check(&b[..17]);
    std::str::from_utf8(&b)
        .ok()
        .and_then(|s| UnifiedSocialCreditCode::parse(s).ok())
}

fn birth_date(rng: &mut Rand, end_day: i32, age: i32) -> NaiveDate {
    let end = date_of(end_day);
    let year = end.year() - age - 1;
    let day_of_year = rng.below(365);
    NaiveDate::from_yo_opt(year, u32::try_from(day_of_year).unwrap_or(0) + 1)
        .and_then(|d| {
            // Someone exactly `age` on the end date was born within the year before it.
            let shifted = d + chrono::Days::new(u64::from(end.ordinal()));
            (shifted <= end).then_some(shifted).or(Some(d))
        })
        .unwrap_or(end)
}

fn tolerance(rng: &mut Rand, age: i32) -> u8 {
    let t = [1u8, 2, 3, 4, 5][rng.weighted(&[10, 30, 35, 18, 7])];
    if age >= 70 { t.min(3) } else { t }
}

impl ChunkGen<'_> {
    /// Draws activity, dormancy and churn for a customer whose relationship began on `open_day`.
    fn lifecycle(&mut self, p: &mut Profile) {
        let cfg = &self.ctx.config;
        let median_ind = 0.45 * cfg.transactions_per_customer.max(0.0)
            / (1.0 - cfg.corporate_share + cfg.corporate_share * CORPORATE_ACTIVITY);
        let median = if p.individual {
            median_ind
        } else {
            median_ind * CORPORATE_ACTIVITY
        };
        p.n_tx = to_u32(self.rng.lognormal(median, TX_SIGMA).round()).min(9_000);
        let lo = p.open_day.max(self.ctx.start_day) + 30;
        let hi = self.ctx.end_day - 200;
        let u = self.rng.f();
        if u < 0.23 && lo < hi {
            p.stop_day =
                Some(i32::try_from(self.rng.int(i64::from(lo), i64::from(hi))).unwrap_or(hi));
            p.churned = u < 0.08;
        }
    }

    /// The next customer of the chunk: a household member, a corporate or an individual.
    pub(crate) fn next_customer(&mut self, local: usize) -> Profile {
        let global = self.base + u64::try_from(local).unwrap_or(0);
        // Corporates come first, so that households do not dilute their share.
        if self.rng.chance(self.ctx.config.corporate_share) {
            return self.corporate(local, global);
        }
        if let Some(mut hh) = self.household.take() {
            let role = hh.roles.pop();
            let p = self.individual(local, global, Some((&hh, role.unwrap_or("配偶"))));
            self.out.relationships.push(Relationship {
                from: self.out.customers[hh.head].id.clone(),
                to: self.out.customers[local].id.clone(),
                kind: RelationshipKind::Household,
                role: role.map(str::to_owned),
            });
            if !hh.roles.is_empty() {
                self.household = Some(hh);
            }
            return p;
        }
        let p = self.individual(local, global, None);
        // About 30% of individuals live in households of 2–4 (13.5% of heads start one).
        if self.rng.chance(0.135) {
            let size = [2, 3, 4][self.rng.weighted(&[45, 35, 20])];
            let mut roles = Vec::with_capacity(3);
            if size == 2 {
                roles.push(["配偶", "子女", "父母"][self.rng.weighted(&[70, 20, 10])]);
            } else {
                roles.push("配偶");
                for _ in 2..size {
                    roles.push(if self.rng.chance(0.8) {
                        "子女"
                    } else {
                        "父母"
                    });
                }
            }
            // Children must be adults and parents at most 85.
            for r in &mut roles {
                if *r == "子女" && p.age < 43 {
                    *r = "父母";
                } else if *r == "父母" && p.age > 55 {
                    *r = "子女";
                }
            }
            roles.reverse();
            let c = &self.out.customers[local];
            self.household = Some(Household {
                head: local,
                head_name: p.name,
                head_male: c.individual.as_ref().and_then(|i| i.gender) == Some(Gender::Male),
                head_age: p.age,
                rm: p.rm,
                address: c.address.clone().unwrap_or_default(),
                roles,
            });
        }
        p
    }

    fn pick_rm(&mut self, corporate: bool) -> usize {
        let (rms, cum) = if corporate {
            &self.ctx.org.corporate
        } else {
            &self.ctx.org.retail
        };
        rms[self.rng.cumulative(cum)]
    }

    #[expect(clippy::too_many_lines, reason = "one linear recipe of an individual")]
    fn individual(
        &mut self,
        local: usize,
        global: u64,
        household: Option<(&Household, &'static str)>,
    ) -> Profile {
        let end_day = self.ctx.end_day;
        let rng = &mut self.rng;
        let (rm, male, age) = if let Some((hh, role)) = household {
            let offset =
                |rng: &mut Rand, lo: i64, hi: i64| i32::try_from(rng.int(lo, hi)).unwrap_or(0);
            let (male, age) = match role {
                "配偶" => (!hh.head_male, hh.head_age + offset(rng, -4, 4)),
                "子女" => (rng.chance(0.5), hh.head_age - offset(rng, 24, 31)),
                _ => (rng.chance(0.45), hh.head_age + offset(rng, 24, 30)),
            };
            (hh.rm, male, age.clamp(18, 85))
        } else {
            let band = AGE_BANDS[rng.weighted(&AGE_WEIGHTS)];
            let age = i32::try_from(rng.int(i64::from(band.0), i64::from(band.1))).unwrap_or(40);
            (usize::MAX, rng.chance(0.49), age)
        };
        let rm = if rm == usize::MAX {
            self.pick_rm(false)
        } else {
            rm
        };
        let rng = &mut self.rng;
        let sub = &self.ctx.org.subs[self.ctx.org.rms[rm].sub];
        let city = sub.city;
        let birth = birth_date(rng, end_day, age);
        let mut name = PersonName::random(rng, male, birth.year());
        if let Some((hh, "子女")) = household {
            name = name.with_surname_of(hh.head_name);
        }
        let address = match household {
            Some((hh, _)) => hh.address.clone(),
            None => home_address(rng, city, sub.district),
        };

        // Occupation and pay.
        let (occupation, salaried, pay_pct) = if age < 23 && rng.chance(0.7) {
            ("学生", false, 20)
        } else if age >= 60 && rng.chance(0.85) {
            ("退休", false, 60)
        } else {
            let o = &OCCUPATIONS[rng.cumulative(occupation_cum())];
            (o.0, o.2, o.3)
        };
        let z = rng.normal();
        let aum = AUM_MEDIAN * (AUM_SIGMA * z + 0.012 * f64::from(age - 40)).exp();
        let income = 7_500.0 * f64::from(CITIES[city].pay_pct) / 100.0 * f64::from(pay_pct) / 100.0
            * (0.35 * (0.5 * z + 0.87 * rng.normal())).exp();

        let earliest = day_of(birth) + 18 * 365 + 5;
        let open_lo = earliest.max(end_day - 15 * 365);
        let open_day =
            i32::try_from(rng.int(i64::from(open_lo), i64::from(end_day - 7))).unwrap_or(end_day);
        let tol = tolerance(rng, age);

        let mut c = Customer::individual(customer_id(true, global), name.chinese());
        c.name_latin = Some(name.pinyin());
        c.document = resident_id(rng, city, birth, male).map(IdentityDocument::ResidentId);
        c.phone = mobile(rng);
        if rng.chance(if age < 50 { 0.45 } else { 0.15 }) {
            let domain = rng.pick(&[
                "qq.com",
                "163.com",
                "126.com",
                "sina.com",
                "foxmail.com",
                "139.com",
            ]);
            c.email = Some(if *domain == "qq.com" {
                format!("{}@qq.com", 10_000_000 + rng.u64() % 2_000_000_000)
            } else {
                format!("{}{:02}@{domain}", name.login(), birth.year() % 100)
            });
        }
        c.address = Some(address);
        c.branch_id = Some(self.ctx.org.data.branches[sub.branch].id.clone());
        c.primary_rm = Some(self.ctx.org.rm_id(rm).clone());
        c.risk_tolerance = RiskTolerance::new(tol).ok();
        c.opened_on = Some(date_of(open_day));
        c.individual = Some(IndividualProfile {
            gender: Some(if male { Gender::Male } else { Gender::Female }),
            birth_date: Some(birth),
            occupation: Some(occupation.to_owned()),
        });
        let pay_day = *rng.pick(&[5, 10, 10, 15, 15, 20, 25]);
        let employer = FirmName::random(rng, city);
        let mut p = Profile {
            local,
            global,
            individual: true,
            city,
            rm,
            age,
            name,
            income,
            salaried,
            employer,
            pay_day,
            aum,
            tolerance: tol,
            open_day,
            stop_day: None,
            churned: false,
            n_tx: 0,
            self_employed: matches!(occupation, "个体工商户" | "私营企业主"),
        };
        self.lifecycle(&mut p);
        if p.churned {
            c.status = CustomerStatus::Closed;
        }
        self.out.customers.push(c);
        self.individuals.push(local);
        p
    }

    #[expect(clippy::too_many_lines, reason = "one linear recipe of a corporate")]
    fn corporate(&mut self, local: usize, global: u64) -> Profile {
        let end_day = self.ctx.end_day;
        let rm = self.pick_rm(true);
        let city = self.ctx.org.subs[self.ctx.org.rms[rm].sub].city;
        let sub_branch = self.ctx.org.data.branches
            [self.ctx.org.subs[self.ctx.org.rms[rm].sub].branch]
            .id
            .clone();
        let rng = &mut self.rng;
        let ownership = [
            OwnershipType::Private,
            OwnershipType::StateOwned,
            OwnershipType::Foreign,
            OwnershipType::Collective,
            OwnershipType::IndividualBusiness,
            OwnershipType::Other,
        ][rng.weighted(&[62, 8, 5, 2, 18, 5])];

        // Groups: join an open group of the chunk (sharing its brand), or found one.
        let mut firm = FirmName::random(rng, city);
        let mut parent = None;
        if ownership != OwnershipType::IndividualBusiness && ownership != OwnershipType::Other {
            if !self.groups.is_empty() && rng.chance(0.2) {
                let g = rng.below(self.groups.len());
                let (p_local, p_firm, members) = &mut self.groups[g];
                firm.brand = p_firm.brand;
                parent = Some(*p_local);
                *members += 1;
                if *members >= 5 {
                    self.groups.swap_remove(g);
                }
            } else if rng.chance(0.06) {
                firm.form = FORM_GROUP;
            }
        }
        let (name, industry) = if ownership == OwnershipType::IndividualBusiness {
            let shop = rng.pick(SHOPS);
            let c = &CITIES[city];
            let male = rng.chance(0.6);
            let owner = PersonName::random(rng, male, 1975);
            let mut n = format!("{}市{}", c.name, rng.pick(c.districts).0);
            if rng.chance(0.5) {
                n.push_str(owner.surname());
                n.push('记');
            } else {
                n.push_str(crate::tables::BRAND_CHARS[usize::from(firm.brand[0])]);
                n.push_str(crate::tables::BRAND_CHARS[usize::from(firm.brand[1])]);
            }
            n.push_str(shop.0);
            (n, shop.1)
        } else if ownership == OwnershipType::Other {
            let c = &CITIES[city];
            let n = format!(
                "{}市{}",
                c.name,
                rng.pick(&[
                    "第一人民医院",
                    "实验中学",
                    "职业技术学院",
                    "图书馆",
                    "科学技术协会",
                    "疾病预防控制中心"
                ])
            );
            let code = if n.contains("医院") || n.contains("疾病") {
                "Q84"
            } else if n.contains("学") {
                "P83"
            } else {
                "R88"
            };
            (n, code)
        } else {
            (firm.text(), firm.industry_code())
        };

        let age = i32::try_from(rng.int(1, 30)).unwrap_or(5);
        let founded = date_of(end_day - age * 365 - i32::try_from(rng.below(365)).unwrap_or(0));
        let scale = match ownership {
            OwnershipType::StateOwned => 20.0,
            OwnershipType::Foreign => 6.0,
            OwnershipType::IndividualBusiness => 0.05,
            _ => 1.0,
        } * if firm.form == FORM_GROUP { 10.0 } else { 1.0 };
        let capital_yuan = rng.lognormal(5_000_000.0 * scale, 1.0).max(30_000.0);
        let open_lo = day_of(founded).max(end_day - 15 * 365);
        let open_day =
            i32::try_from(rng.int(i64::from(open_lo), i64::from(end_day - 7))).unwrap_or(end_day);
        let tol = tolerance(rng, 40);

        let mut c = Customer::corporate(customer_id(false, global), name);
        c.document = credit_code(rng, city, ownership, founded).map(IdentityDocument::Uscc);
        c.phone = mobile(rng);
        let brand = format!(
            "{}{}",
            crate::tables::BRAND_CHARS[usize::from(firm.brand[0])],
            crate::tables::BRAND_CHARS[usize::from(firm.brand[1])]
        );
        c.address = Some(office_address(rng, city, &brand));
        c.branch_id = Some(sub_branch);
        c.primary_rm = Some(self.ctx.org.rm_id(rm).clone());
        c.risk_tolerance = RiskTolerance::new(tol).ok();
        c.opened_on = Some(date_of(open_day));
        c.corporate = Some(CorporateProfile {
            uscc: None,
            ownership: Some(ownership),
            industry_code: Some(industry.to_owned()),
            registered_capital: Some(Money::new(fen_round(capital_yuan, 10_000), Currency::Cny)),
            founded_on: Some(founded),
            group_parent: parent.map(|p: usize| self.out.customers[p].id.clone()),
        });
        if let Some(prof) = c.corporate.as_mut() {
            prof.uscc = match &c.document {
                Some(IdentityDocument::Uscc(u)) => Some(u.clone()),
                _ => None,
            };
        }
        if let Some(p) = parent {
            self.out.relationships.push(Relationship {
                from: self.out.customers[p].id.clone(),
                to: c.id.clone(),
                kind: RelationshipKind::CorporateGroup,
                role: Some("子公司".to_owned()),
            });
        }
        let income = (capital_yuan * rng.lognormal(0.08, 0.6)).max(20_000.0);
        let aum = (income * rng.lognormal(1.5, 0.8)).max(5_000.0);
        let employer = firm;
        let mut p = Profile {
            local,
            global,
            individual: false,
            city,
            rm,
            age,
            name: PersonName::random(rng, true, 1975),
            income,
            salaried: ownership != OwnershipType::IndividualBusiness,
            employer,
            pay_day: *rng.pick(&[5, 10, 15]),
            aum,
            tolerance: tol,
            open_day,
            stop_day: None,
            churned: false,
            n_tx: 0,
            self_employed: false,
        };
        self.lifecycle(&mut p);
        if p.churned {
            c.status = CustomerStatus::Closed;
        }
        if firm.form == FORM_GROUP && parent.is_none() {
            self.groups.push((local, firm, 0));
        }
        self.out.customers.push(c);
        self.corporates.push(local);
        self.link_people(&p);
        p
    }

    /// Legal representative and beneficial owner of a corporate among the chunk's individuals.
    fn link_people(&mut self, p: &Profile) {
        if self.individuals.is_empty() || !self.rng.chance(0.5) {
            return;
        }
        let person = self.individuals[self.rng.below(self.individuals.len())];
        let firm = self.out.customers[p.local].id.clone();
        let who = self.out.customers[person].id.clone();
        if let Some(ind) = self.out.customers[person].individual.as_mut()
            && ind.occupation.as_deref() != Some("退休")
        {
            ind.occupation = Some("私营企业主".to_owned());
        }
        self.out.relationships.push(Relationship {
            from: who.clone(),
            to: firm.clone(),
            kind: RelationshipKind::LegalRepresentative,
            role: Some("法定代表人".to_owned()),
        });
        if self.rng.chance(0.6) {
            let share = 25 + self.rng.below(76);
            self.out.relationships.push(Relationship {
                from: who,
                to: firm,
                kind: RelationshipKind::BeneficialOwner,
                role: Some(format!("持股{share}%")),
            });
        }
    }
}
