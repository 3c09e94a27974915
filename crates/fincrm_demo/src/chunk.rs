//! One chunk of customers with everything that hangs off them.

use crate::DemoChunk;
use crate::context::{Context, date_of, instant, is_weekend};
use crate::names::{FirmName, PersonName};
use crate::party::{Household, Profile};
use crate::tables::{
    CITIES, P_BUSINESS_LOAN, P_CARD, P_CD, P_CONSUMER_LOAN, P_CORP_CURRENT, P_CORP_TERM, P_CURRENT,
    P_FIXED_ASSET, P_FUND, P_INSURANCE, P_MORTGAGE, P_TERM_3M, P_WEALTH, P_WORKING_CAPITAL,
    PRODUCTS,
};
use crate::util::{Rand, fen, fen_round, luhn_check, put_digits, to_i64};
use chrono::{DateTime, Utc};
use fincrm_domain::{
    Channel, Consent, ConsentPurpose, CorporateValue, Coverage, CoverageRole, Currency, Direction,
    Holding, HoldingId, HoldingStatus, Interaction, InteractionId, Money, ProductCode, ProductType,
    Relationship, RelationshipKind, Transaction, TransactionId,
};

/// A counterparty of a transaction, rendered only when written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Party {
    None,
    Static(&'static str),
    Person(PersonName),
    Firm(FirmName),
    /// 国家税务总局 + city + 市税务局.
    Tax(u8),
    /// City + 市社会保险事业管理中心.
    SocialSecurity(u8),
}

impl Party {
    /// Appends the counterparty's name; `false` when there is none.
    pub(crate) fn push_to(self, out: &mut String) -> bool {
        match self {
            Party::None => return false,
            Party::Static(s) => out.push_str(s),
            Party::Person(p) => p.push_to(out),
            Party::Firm(f) => f.push_to(out),
            Party::Tax(c) => {
                out.push_str("国家税务总局");
                out.push_str(CITIES[usize::from(c)].name);
                out.push_str("市税务局");
            }
            Party::SocialSecurity(c) => {
                out.push_str(CITIES[usize::from(c)].name);
                out.push_str("市社会保险事业管理中心");
            }
        }
        true
    }
}

/// A transaction in compact form: the CSV writer renders it without allocating, and
/// [`Tx::to_domain`] builds the domain record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tx {
    /// Index of the customer in the chunk.
    pub cust: u32,
    /// Index of the holding in the chunk.
    pub holding: u32,
    /// Sequence number within the customer, in time order.
    pub seq: u16,
    pub credit: bool,
    /// UTC instant, seconds since 1970.
    pub at: i64,
    /// Amount in fen, positive.
    pub amount: i64,
    /// Channel as the source names it; empty for none.
    pub channel: &'static str,
    pub kind: &'static str,
    pub memo: &'static str,
    pub counterparty: Party,
}

impl Tx {
    /// The run-wide serial number: the customer's global index times 10,000 plus the sequence.
    pub(crate) fn serial(&self, base: u64) -> u64 {
        (base + u64::from(self.cust)) * 10_000 + u64::from(self.seq)
    }

    pub(crate) fn to_domain(self, chunk: &DemoChunk, base: u64) -> Transaction {
        let mut counterparty = String::new();
        let has_cp = self.counterparty.push_to(&mut counterparty);
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Transaction {
            id: TransactionId::parse(&format!("T{:012}", self.serial(base)))
                .unwrap_or_else(|_| unreachable!("serials are ASCII")),
            customer_id: chunk.customers[self.cust as usize].id.clone(),
            holding_id: chunk.holdings[self.holding as usize].id.clone(),
            at: DateTime::<Utc>::from_timestamp(self.at, 0).unwrap_or_default(),
            amount: Money::new(self.amount, Currency::Cny),
            direction: if self.credit {
                Direction::Credit
            } else {
                Direction::Debit
            },
            channel: opt(self.channel),
            counterparty: has_cp.then_some(counterparty),
            kind: opt(self.kind),
            memo: opt(self.memo),
        }
    }
}

/// Ground truth the bank does not record, kept for tests.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(test), expect(dead_code, reason = "read by tests only"))]
pub(crate) struct Truth {
    /// Last day of activity of a dormant or churned customer.
    pub stop_day: Option<i32>,
    pub churned: bool,
}

/// A holding of the current customer, with what the transaction generator needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    pub idx: usize,
    pub product: usize,
    pub open_day: i32,
    pub matures: Option<i32>,
    pub balance: i64,
    pub limit: i64,
}

/// A generated chunk before transactions are turned into domain records.
pub(crate) struct RawChunk {
    pub chunk: DemoChunk,
    pub txs: Vec<Tx>,
    /// Global index of the chunk's first customer.
    pub base: u64,
    #[cfg_attr(not(test), expect(dead_code, reason = "read by tests only"))]
    pub truth: Vec<Truth>,
}

impl RawChunk {
    pub(crate) fn into_chunk(self) -> DemoChunk {
        let mut chunk = self.chunk;
        let txs: Vec<Transaction> = self
            .txs
            .iter()
            .map(|t| t.to_domain(&chunk, self.base))
            .collect();
        chunk.transactions = txs;
        chunk
    }
}

/// The generator of one chunk.
pub(crate) struct ChunkGen<'a> {
    pub ctx: &'a Context,
    pub rng: Rand,
    pub base: u64,
    pub out: DemoChunk,
    pub txs: Vec<Tx>,
    pub truth: Vec<Truth>,
    pub scratch: Vec<Tx>,
    pub held: Vec<Held>,
    pub household: Option<Household>,
    /// Open corporate groups: parent's index, its name, members so far.
    pub groups: Vec<(usize, FirmName, u8)>,
    pub individuals: Vec<usize>,
    pub corporates: Vec<usize>,
}

pub(crate) fn generate(ctx: &Context, index: u64) -> RawChunk {
    let per = ctx.config.chunk_customers.max(1) as u64;
    let base = index * per;
    let n = usize::try_from(ctx.config.customers.saturating_sub(base).min(per)).unwrap_or(0);
    let expected_tx = usize::try_from(to_i64(ctx.config.transactions_per_customer * 1.1))
        .unwrap_or(0)
        .saturating_mul(n);
    let mut g = ChunkGen {
        ctx,
        rng: Rand::new(ctx.config.seed, index),
        base,
        out: DemoChunk {
            customers: Vec::with_capacity(n),
            coverage: Vec::with_capacity(n + n / 50),
            holdings: Vec::with_capacity(n * 7 / 2),
            transactions: Vec::new(),
            interactions: Vec::with_capacity(n * 5),
            relationships: Vec::with_capacity(n / 4),
            consents: Vec::with_capacity(n + n / 2),
            corporate_values: Vec::new(),
        },
        txs: Vec::with_capacity(expected_tx),
        truth: Vec::with_capacity(n),
        scratch: Vec::new(),
        held: Vec::new(),
        household: None,
        groups: Vec::new(),
        individuals: Vec::new(),
        corporates: Vec::new(),
    };
    for local in 0..n {
        let p = g.next_customer(local);
        g.coverage(&p);
        g.holdings(&p);
        g.guarantors(&p);
        g.transactions(&p);
        g.interactions(&p);
        g.consents(&p);
        g.corporate_value(&p);
        g.truth.push(Truth {
            stop_day: p.stop_day,
            churned: p.churned,
        });
    }
    RawChunk {
        chunk: g.out,
        txs: g.txs,
        base,
        truth: g.truth,
    }
}

fn holding_id(p: &Profile, product: usize, ordinal: usize) -> HoldingId {
    let mut b = [0u8; 19];
    let len = if PRODUCTS[product].kind == ProductType::CreditCard {
        b[..4].copy_from_slice(b"6222");
        put_digits(&mut b[4..], p.global, 10);
        put_digits(&mut b[14..], ordinal as u64, 1);
        16
    } else {
        let family = match PRODUCTS[product].kind {
            ProductType::Deposit => 2,
            ProductType::Loan => 81,
            ProductType::WealthManagement => 35,
            ProductType::Fund => 36,
            _ => 88,
        };
        b[..4].copy_from_slice(b"6222");
        put_digits(&mut b[4..], family, 2);
        put_digits(&mut b[6..], p.city as u64, 1);
        put_digits(&mut b[7..], p.global, 10);
        put_digits(&mut b[17..], ordinal as u64, 1);
        19
    };
    b[len - 1] = luhn_check(&b[..len - 1]);
    std::str::from_utf8(&b[..len])
        .ok()
        .and_then(|s| HoldingId::parse(s).ok())
        .unwrap_or_else(|| unreachable!("account numbers are digits"))
}

impl ChunkGen<'_> {
    fn coverage(&mut self, p: &Profile) {
        let id = self.out.customers[p.local].id.clone();
        self.out.coverage.push(Coverage {
            customer_id: id.clone(),
            user_id: self.ctx.org.rm_id(p.rm).clone(),
            role: CoverageRole::Primary,
        });
        let (rms, _) = &self.ctx.org.corporate;
        if !p.individual && rms.len() > 1 && self.rng.chance(0.1) {
            let mut co = rms[self.rng.below(rms.len())];
            if co == p.rm {
                co = rms[(rms.iter().position(|&r| r == co).unwrap_or(0) + 1) % rms.len()];
            }
            self.out.coverage.push(Coverage {
                customer_id: id,
                user_id: self.ctx.org.rm_id(co).clone(),
                role: CoverageRole::CoRm,
            });
        }
    }

    /// The last day the customer may act on.
    pub(crate) fn last_day(&self, p: &Profile) -> i32 {
        p.stop_day.unwrap_or(self.ctx.end_day)
    }

    pub(crate) fn day_between(&mut self, lo: i32, hi: i32) -> i32 {
        i32::try_from(self.rng.int(i64::from(lo), i64::from(hi.max(lo)))).unwrap_or(lo)
    }

    /// Opening day of a term product of `months` still running at the end (or at the stop).
    fn term_open(&mut self, p: &Profile, months: u32) -> i32 {
        let last = self.last_day(p);
        let span = i32::try_from(months * 30).unwrap_or(30);
        self.day_between((last - span + 1).max(p.open_day), last)
    }

    fn suitable(&mut self, first: usize, count: usize, tolerance: u8) -> usize {
        let n = (0..count)
            .filter(|&i| PRODUCTS[first + i].risk <= tolerance)
            .count()
            .max(1);
        first + self.rng.below(n)
    }

    /// Chooses products and their balances: everyone has a current account; wealthier customers
    /// hold term deposits, wealth management and funds within their risk tolerance; some have
    /// cards and loans.
    fn holdings(&mut self, p: &Profile) {
        self.held.clear();
        // (product, weight of AUM or credit limit in fen, open day, maturity)
        let mut plan: Vec<(usize, f64, i32, Option<i32>)> = Vec::with_capacity(10);
        let last = self.last_day(p);
        let aum = p.aum;
        let w0 = self.rng.lognormal(1.0, 0.5) * if aum < 50_000.0 { 3.0 } else { 1.0 };
        if p.individual {
            plan.push((P_CURRENT, w0, p.open_day, None));
            // A second debit account (二类户, a payroll card of another employer).
            if self.rng.chance(0.5) {
                let d = self.day_between(p.open_day, last);
                plan.push((P_CURRENT, 0.2, d, None));
            }
            let terms = if aum > 100_000.0 {
                1 + self.rng.below(2)
            } else {
                1
            };
            for _ in 0..terms {
                if aum > 2_000.0 && self.rng.chance(if aum > 100_000.0 { 0.65 } else { 0.45 }) {
                    let product = P_TERM_3M + self.rng.below(3);
                    let months = PRODUCTS[product].term_months;
                    let d = self.term_open(p, months);
                    plan.push((product, 1.5, d, Some(add_months(d, months))));
                }
            }
            if aum >= 300_000.0 && self.rng.chance(0.5) {
                let d = self.term_open(p, 36);
                plan.push((P_CD, 2.0, d, Some(add_months(d, 36))));
            }
            let ln = (aum / 10_000.0).ln();
            for (first, p_hold) in [(P_WEALTH, 0.16 * ln), (P_FUND, 0.13 * ln)] {
                if aum >= 10_000.0 && self.rng.chance(p_hold.min(0.8)) {
                    let count = 1 + if aum > 300_000.0 {
                        self.rng.below(3)
                    } else {
                        0
                    };
                    for _ in 0..count {
                        let product = self.suitable(first, 5, p.tolerance);
                        let term = PRODUCTS[product].term_months;
                        let (d, m) = if term > 0 {
                            let d = self.term_open(p, term);
                            (d, Some(add_months(d, term)))
                        } else {
                            (self.day_between(p.open_day, last), None)
                        };
                        let w = self.rng.lognormal(1.0, 0.6);
                        plan.push((product, w, d, m));
                    }
                }
            }
            if (25..=65).contains(&p.age)
                && self.rng.chance(if aum > 100_000.0 { 0.3 } else { 0.15 })
            {
                let product = P_INSURANCE + self.rng.below(3);
                let (d, m) = if PRODUCTS[product].term_months > 0 {
                    let d = self.term_open(p, 12);
                    (d, Some(add_months(d, 12)))
                } else {
                    (self.day_between(p.open_day, last), None)
                };
                plan.push((product, 0.4, d, m));
            }
            let n_assets = plan.len();
            self.individual_credit(p, &mut plan);
            self.materialise(p, &plan, n_assets);
        } else {
            plan.push((P_CORP_CURRENT, w0, p.open_day, None));
            if self.rng.chance(0.2) {
                let d = self.day_between(p.open_day, last);
                plan.push((P_CORP_CURRENT, 0.3, d, None));
            }
            if self.rng.chance(0.35) {
                let d = self.term_open(p, 12);
                plan.push((P_CORP_TERM, 1.5, d, Some(add_months(d, 12))));
            }
            if self.rng.chance(0.25) {
                let product = self.suitable(P_WEALTH, 2, p.tolerance);
                let d = self.day_between(p.open_day, last);
                let term = PRODUCTS[product].term_months;
                plan.push((product, 1.0, d, (term > 0).then(|| add_months(d, term))));
            }
            let n_assets = plan.len();
            if self.rng.chance(0.35) {
                let limit = p.income * self.rng.lognormal(2.5, 0.5);
                let d = self.term_open(p, 12);
                plan.push((P_WORKING_CAPITAL, limit, d, Some(add_months(d, 12))));
            }
            if p.income > 400_000.0 && self.rng.chance(0.12) {
                let limit = p.income * self.rng.lognormal(8.0, 0.5);
                let years = 3 + u32::try_from(self.rng.below(8)).unwrap_or(0);
                let d = self.term_open(p, years * 12);
                plan.push((P_FIXED_ASSET, limit, d, Some(add_months(d, years * 12))));
            }
            self.materialise(p, &plan, n_assets);
        }
    }

    fn individual_credit(&mut self, p: &Profile, plan: &mut Vec<(usize, f64, i32, Option<i32>)>) {
        let last = self.last_day(p);
        let income = p.income;
        if (20..=65).contains(&p.age) && self.rng.chance(if p.salaried { 0.6 } else { 0.35 }) {
            let (tier, limit) = if income > 20_000.0 || p.aum > 500_000.0 {
                (2, self.rng.int(50, 200) * 1_000)
            } else if income > 8_000.0 {
                (1, self.rng.int(20, 50) * 1_000)
            } else {
                (0, self.rng.int(5, 20) * 1_000)
            };
            let d = self.day_between(p.open_day, last);
            #[expect(clippy::cast_precision_loss, reason = "limits are small")]
            plan.push((P_CARD + tier, limit as f64, d, None));
            if self.rng.chance(0.25) {
                let d = self.day_between(p.open_day, last);
                #[expect(clippy::cast_precision_loss, reason = "limits are small")]
                plan.push((P_CARD + tier.saturating_sub(1), limit as f64 / 2.0, d, None));
            }
        }
        if (28..=55).contains(&p.age) && self.rng.chance(0.18) {
            let house = f64::from(CITIES[p.city].house_pct) / 100.0;
            let principal = self.rng.lognormal(900_000.0 * house, 0.4);
            let years = [20, 25, 30][self.rng.below(3)];
            let lo = p.open_day.max(self.ctx.end_day - 12 * 365);
            let d = self.day_between(lo, last);
            plan.push((P_MORTGAGE, principal, d, Some(add_months(d, years * 12))));
        }
        if (22..=50).contains(&p.age) && self.rng.chance(0.07) {
            let months = [12, 24, 36][self.rng.below(3)];
            let d = self.term_open(p, months);
            let principal = self.rng.lognormal(80_000.0, 0.6).min(300_000.0);
            plan.push((P_CONSUMER_LOAN, principal, d, Some(add_months(d, months))));
        }
        if p.self_employed && self.rng.chance(0.45) {
            let d = self.term_open(p, 12);
            let principal = self.rng.lognormal(400_000.0, 0.7).min(3_000_000.0);
            plan.push((P_BUSINESS_LOAN, principal, d, Some(add_months(d, 12))));
        }
    }

    /// Turns a plan into holdings: the first `n_assets` entries share the AUM by weight, the
    /// rest are credit lines with the given limit in yuan.
    fn materialise(
        &mut self,
        p: &Profile,
        plan: &[(usize, f64, i32, Option<i32>)],
        n_assets: usize,
    ) {
        let total_w: f64 = plan[..n_assets].iter().map(|e| e.1).sum();
        let end = self.ctx.end_day;
        let last = self.last_day(p);
        let dormant = p.stop_day.is_some_and(|s| s < end - 365);
        for (ordinal, &(product, w, open, matures)) in plan.iter().take(8).enumerate() {
            let def = &PRODUCTS[product];
            let (balance, limit) = if ordinal < n_assets {
                let yuan = p.aum * w / total_w.max(1e-9);
                let b = match def.kind {
                    ProductType::Deposit if product == P_CD => {
                        fen_round(yuan.max(200_000.0), 10_000)
                    }
                    ProductType::Deposit if def.term_months > 0 => fen_round(yuan.max(50.0), 100),
                    ProductType::WealthManagement => fen_round(yuan.max(10_000.0), 1_000),
                    ProductType::Insurance => fen_round(yuan.clamp(2_000.0, 2_000_000.0), 100),
                    _ => fen(yuan),
                };
                (b, 0)
            } else if def.kind == ProductType::CreditCard {
                let limit = fen_round(w, 1_000);
                let used = if self.rng.chance(0.25) {
                    0
                } else {
                    to_i64(to_f64(limit) * self.rng.f() * 0.6)
                };
                (used, limit)
            } else {
                let limit = fen_round(w, 10_000);
                let total = f64::from((matures.unwrap_or(end) - open).max(1));
                let left = (f64::from(matures.unwrap_or(end) - end) / total).clamp(0.0, 1.0);
                let balance = if product == P_WORKING_CAPITAL {
                    to_i64(to_f64(limit) * (0.5 + 0.5 * self.rng.f()))
                } else {
                    to_i64(to_f64(limit) * left.powf(0.85))
                };
                (balance / 100 * 100, limit)
            };
            let mut status = HoldingStatus::Active;
            let mut balance = balance;
            if p.churned {
                status = HoldingStatus::Closed;
                balance = 0;
            } else if matures.is_some_and(|m| m < last.min(end)) {
                // Matured and not rolled over, or repaid.
                status = if def.kind == ProductType::Deposit {
                    HoldingStatus::Overdue
                } else {
                    balance = 0;
                    HoldingStatus::Closed
                };
            } else if ordinal == 0 && dormant {
                status = HoldingStatus::Dormant;
            } else if ordinal == 0 && self.rng.chance(0.004) {
                status = HoldingStatus::Frozen;
            } else if def.kind.is_credit() && balance > 0 && self.rng.chance(0.03) {
                status = HoldingStatus::Overdue;
            } else if ordinal > 0 && def.kind == ProductType::Deposit && self.rng.chance(0.06) {
                status = HoldingStatus::Closed;
                balance = 0;
            }
            let code = ProductCode::parse(def.code).unwrap_or_else(|_| unreachable!("ASCII"));
            self.out.holdings.push(Holding {
                id: holding_id(p, product, ordinal),
                customer_id: self.out.customers[p.local].id.clone(),
                product_code: code,
                product_type: def.kind,
                balance: Money::new(balance, Currency::Cny),
                limit: (limit > 0).then(|| Money::new(limit, Currency::Cny)),
                opened_on: Some(date_of(open)),
                matures_on: matures.map(date_of),
                status,
            });
            self.held.push(Held {
                idx: self.out.holdings.len() - 1,
                product,
                open_day: open,
                matures,
                balance,
                limit,
            });
        }
    }

    fn interactions(&mut self, p: &Profile) {
        let end = self.ctx.end_day;
        let last = if p.churned { self.last_day(p) } else { end };
        let lo = p.open_day.max(self.ctx.start_day);
        if last <= lo {
            return;
        }
        let rate = if p.individual {
            0.5 + if p.aum >= 6_000_000.0 {
                10.0
            } else if p.aum >= 500_000.0 {
                4.0
            } else if p.aum >= 50_000.0 {
                1.0
            } else {
                0.0
            }
        } else {
            5.0
        };
        let years = f64::from(last - lo) / 365.0;
        let n = self.rng.poisson(rate * years).min(999);
        let id = self.out.customers[p.local].id.clone();
        let rm = self.ctx.org.rm_id(p.rm).clone();
        let agents = &self.ctx.org.agents[p.city];
        let mut times: Vec<i64> = (0..n)
            .map(|_| {
                let mut d = self.day_between(lo, last);
                if is_weekend(d) && d - 2 >= lo {
                    d -= 2;
                }
                instant(d, self.rng.int(9 * 3600, 18 * 3600 - 1))
            })
            .collect();
        times.sort_unstable();
        for (k, at) in times.into_iter().enumerate() {
            let kind = ["营销", "咨询", "回访", "业务办理", "投诉"]
                [self.rng.weighted(&[35, 25, 20, 15, 5])];
            let channel = match kind {
                "营销" => [
                    Channel::Sms,
                    Channel::WeChat,
                    Channel::Phone,
                    Channel::Email,
                    Channel::Visit,
                ][self.rng.weighted(&[35, 25, 25, 5, 10])],
                "咨询" => [
                    Channel::Phone,
                    Channel::Branch,
                    Channel::MobileApp,
                    Channel::WeChat,
                ][self.rng.weighted(&[40, 25, 20, 15])],
                "回访" => [Channel::Phone, Channel::Visit, Channel::WeChat]
                    [self.rng.weighted(&[60, 25, 15])],
                "业务办理" => [Channel::Branch, Channel::MobileApp, Channel::OnlineBanking]
                    [self.rng.weighted(&[60, 30, 10])],
                _ => [Channel::Phone, Channel::Branch, Channel::MobileApp]
                    [self.rng.weighted(&[55, 30, 15])],
            };
            let user = match channel {
                Channel::Sms | Channel::MobileApp | Channel::OnlineBanking | Channel::Email => None,
                Channel::Phone if matches!(kind, "咨询" | "投诉") && !agents.is_empty() => {
                    Some(
                        self.ctx.org.data.staff[agents[self.rng.below(agents.len())]]
                            .id
                            .clone(),
                    )
                }
                _ => Some(rm.clone()),
            };
            let content = self.content(p, kind);
            self.out.interactions.push(Interaction {
                id: InteractionId::parse(&format!("I{:012}", p.global * 1_000 + k as u64))
                    .unwrap_or_else(|_| unreachable!("ASCII")),
                customer_id: id.clone(),
                at: DateTime::<Utc>::from_timestamp(at, 0).unwrap_or_default(),
                channel,
                kind: kind.to_owned(),
                user_id: user,
                content: Some(content),
            });
        }
    }

    fn content(&mut self, p: &Profile, kind: &str) -> String {
        let product = if self.held.is_empty() || self.rng.chance(0.4) {
            let i = self.rng.below(PRODUCTS.len());
            PRODUCTS[i].name
        } else {
            PRODUCTS[self.held[self.rng.below(self.held.len())].product].name
        };
        let templates: &[&str] = match (p.individual, kind) {
            (true, "营销") => &[
                "推荐{P}，客户表示考虑",
                "向客户介绍{P}，客户有意向，约下周到网点详谈",
                "推送{P}产品信息",
                "发送{P}宣传材料，客户已读",
                "客户对{P}暂无兴趣",
            ],
            (true, "咨询") => &[
                "客户咨询{P}收益及赎回规则",
                "客户咨询房贷提前还款流程",
                "客户咨询信用卡临时额度调整",
                "客户咨询大额存单利率",
                "客户咨询手机银行转账限额",
            ],
            (true, "回访") => &[
                "回访客户，客户对{P}表示满意",
                "{P}到期回访，客户计划续购",
                "了解客户家庭资产配置需求，建议增加稳健类配置",
                "回访客户，确认联系方式及地址无变化",
                "客户长期未动户，联系未接通",
            ],
            (true, "业务办理") => &[
                "客户到网点办理定期存款转存",
                "协助客户完成风险承受能力评估",
                "为客户办理{P}",
                "客户办理手机银行开通及密码重置",
                "客户办理个人信息更新",
            ],
            (true, _) => &[
                "客户投诉手机银行转账延迟到账，已登记并转后台处理",
                "客户对{P}净值波动不满，已解释并安抚",
                "客户投诉网点排队时间过长",
                "客户投诉信用卡年费扣收，已申请减免",
                "客户反映营销短信过多，已登记退订",
            ],
            (false, "营销") => &[
                "向企业财务负责人介绍{P}",
                "推介供应链融资方案，企业有意向",
                "推介代发工资及员工理财服务",
            ],
            (false, "咨询") => &[
                "企业咨询代发工资业务办理流程",
                "企业咨询{P}",
                "企业咨询跨境结算手续费",
            ],
            (false, "回访") => &[
                "走访企业，了解生产经营及资金需求",
                "贷后检查，企业经营正常，按时付息",
                "回访企业财务负责人，更新预留印鉴信息",
            ],
            (false, "业务办理") => {
                &["为企业办理{P}", "企业网银U盾更新", "为企业办理对公账户年检"]
            }
            (false, _) => &[
                "企业反映对公账户开户审核时间较长，已解释原因",
                "企业投诉网银转账失败，已协调科技部门处理",
            ],
        };
        self.rng.pick(templates).replace("{P}", product)
    }

    /// A corporate's value figures. Drawn from a stream of their own, so the rest of the demo
    /// bank is the same with or without them: yearly contribution about 0.4 % of turnover
    /// (log-normal spread), growth around 6 %, more departments for bigger contributors, one
    /// firm in twenty with a special background; one in ten without figures.
    fn corporate_value(&mut self, p: &Profile) {
        if p.individual {
            return;
        }
        let mut rng = Rand::new(self.ctx.config.seed ^ 0xC0DE_CAFE, p.global);
        // One in ten has no figures yet (too new for a full year in management accounting).
        if rng.f() < 0.1 {
            return;
        }
        let contribution_yuan = p.income * 12.0 * 0.004 * (0.9 * rng.normal()).exp();
        let growth = 0.06 + 0.08 * rng.normal();
        let departments = 1 + to_i64((contribution_yuan / 2.0e6).sqrt().min(4.0) + rng.f());
        self.out.corporate_values.push(CorporateValue {
            customer_id: self.out.customers[p.local].id.clone(),
            avg_yearly_contribution: Money::new(to_i64(contribution_yuan * 100.0), Currency::Cny),
            contribution_growth_bp: i32::try_from(to_i64(
                (growth.clamp(-0.9, 2.0) * 10_000.0).round(),
            ))
            .unwrap_or(0),
            departments_used: u32::try_from(departments).unwrap_or(1),
            special_background: rng.f() < 0.05,
        });
    }

    fn consents(&mut self, p: &Profile) {
        let id = &self.out.customers[p.local].id;
        let open = instant(p.open_day, self.rng.int(9 * 3600, 17 * 3600));
        let end = self.ctx.end_day;
        let mut push = |purpose, channel, granted, at| {
            self.out.consents.push(Consent {
                customer_id: id.clone(),
                purpose,
                channel,
                granted,
                at: DateTime::<Utc>::from_timestamp(at, 0).unwrap_or_default(),
            });
        };
        let u = self.rng.f();
        if u < 0.7 {
            push(ConsentPurpose::Marketing, None, true, open);
            let v = self.rng.f();
            if v < 0.2 {
                let d = i32::try_from(self.rng.int(i64::from(p.open_day + 1), i64::from(end)))
                    .unwrap_or(end);
                let at = instant(d, self.rng.int(8 * 3600, 22 * 3600));
                // Most withdraw everything; some only unsubscribe from SMS.
                let channel = (v < 0.08).then_some(Channel::Sms);
                push(ConsentPurpose::Marketing, channel, false, at);
            }
        } else if u < 0.9 {
            push(ConsentPurpose::Marketing, None, false, open);
        }
        if self.rng.chance(0.45) {
            push(ConsentPurpose::Profiling, None, true, open);
        }
        if self.rng.chance(0.2) {
            push(ConsentPurpose::ThirdPartySharing, None, true, open);
        }
    }

    /// Some corporate borrowers have their loans guaranteed by another corporate of the chunk.
    fn guarantors(&mut self, p: &Profile) {
        let borrows = self
            .held
            .iter()
            .any(|h| PRODUCTS[h.product].kind == ProductType::Loan);
        if p.individual || !borrows || self.corporates.len() < 2 || !self.rng.chance(0.3) {
            return;
        }
        let guarantor = self.corporates[self.rng.below(self.corporates.len() - 1)];
        self.out.relationships.push(Relationship {
            from: self.out.customers[guarantor].id.clone(),
            to: self.out.customers[p.local].id.clone(),
            kind: RelationshipKind::Guarantor,
            role: Some("连带责任保证".to_owned()),
        });
    }
}

pub(crate) fn to_f64(fen: i64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "amounts stay far below 2^52 fen"
    )]
    let x = fen as f64;
    x
}

/// The day `months` months after `day` (clamped to the month's end).
pub(crate) fn add_months(day: i32, months: u32) -> i32 {
    date_of(day)
        .checked_add_months(chrono::Months::new(months))
        .map_or(
            day + i32::try_from(months).unwrap_or(0) * 30,
            crate::context::day_of,
        )
}
