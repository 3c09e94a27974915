//! Transactions: salary, repayments and interest on their calendars, and spending, transfers,
//! payments, cash and investments at random, with seasonality and time-of-day patterns.

use crate::chunk::{ChunkGen, Held, Party, Tx, add_months, to_f64};
use crate::context::{date_of, day_of, instant, is_weekend};
use crate::names::{FirmName, PersonName};
use crate::party::Profile;
use crate::tables::{CITIES, MERCHANTS, P_CONSUMER_LOAN, P_MORTGAGE, PRODUCTS, UTILITIES};
use crate::util::{fen, fen_round, to_i64};
use chrono::{Datelike, NaiveDate};
use fincrm_domain::ProductType;
use std::sync::OnceLock;

const MOBILE: &str = "手机银行";
const ONLINE: &str = "网上银行";
const COUNTER: &str = "柜面";
const ATM: &str = "ATM";
const POS: &str = "POS";
const WECHAT: &str = "微信支付";
const ALIPAY: &str = "支付宝";
/// Batch postings of the core system (payroll, interest, automatic debits).
const BATCH: &str = "批量";

/// Relative activity of individuals by hour of the day, Beijing time.
const HOURS_RETAIL: [u32; 24] = [
    6, 3, 2, 1, 1, 2, 6, 18, 30, 45, 52, 55, 58, 50, 48, 48, 47, 48, 55, 62, 60, 50, 32, 15,
];
/// Relative activity of corporates by hour of the day, Beijing time.
const HOURS_CORPORATE: [u32; 24] = [
    0, 0, 0, 0, 0, 0, 0, 2, 20, 60, 70, 65, 25, 30, 65, 70, 60, 35, 10, 4, 2, 1, 0, 0,
];

fn merchant_cum() -> &'static [u64] {
    static CUM: OnceLock<Vec<u64>> = OnceLock::new();
    CUM.get_or_init(|| {
        let mut t = 0;
        MERCHANTS
            .iter()
            .map(|m| {
                t += u64::from(m.2);
                t
            })
            .collect()
    })
}

fn hour_cum(corporate: bool) -> &'static [u64] {
    static CUM: OnceLock<[Vec<u64>; 2]> = OnceLock::new();
    let both = CUM.get_or_init(|| {
        let build = |h: &[u32; 24]| {
            let mut t = 0;
            h.iter()
                .map(|&w| {
                    t += u64::from(w);
                    t
                })
                .collect()
        };
        [build(&HOURS_RETAIL), build(&HOURS_CORPORATE)]
    });
    &both[usize::from(corporate)]
}

/// Monthly calendar days from `lo` to `hi` on day-of-month `dom`, moved back to Friday when they
/// fall on a weekend.
fn monthly(lo: i32, hi: i32, dom: u32, skip_weekend: bool) -> impl Iterator<Item = i32> {
    let first = date_of(lo);
    let mut cursor = NaiveDate::from_ymd_opt(first.year(), first.month(), 1).unwrap_or(first);
    std::iter::from_fn(move || {
        loop {
            let day = NaiveDate::from_ymd_opt(cursor.year(), cursor.month(), dom.min(28))
                .map_or(lo, day_of);
            let next = cursor.checked_add_months(chrono::Months::new(1))?;
            cursor = next;
            let mut d = day;
            if skip_weekend {
                while is_weekend(d) {
                    d -= 1;
                }
            }
            if d > hi {
                return None;
            }
            if d >= lo {
                return Some(d);
            }
        }
    })
}

impl ChunkGen<'_> {
    fn clock(&mut self, day: i32, corporate: bool, counter: bool) -> i64 {
        let hour = if counter {
            9 + self.rng.int(0, 7)
        } else {
            i64::try_from(self.rng.cumulative(hour_cum(corporate))).unwrap_or(12)
        };
        instant(day, hour * 3600 + self.rng.int(0, 3599))
    }

    #[expect(clippy::too_many_arguments, reason = "one row's fields")]
    fn push_tx(
        &mut self,
        p: &Profile,
        holding: usize,
        at: i64,
        amount: i64,
        credit: bool,
        channel: &'static str,
        kind: &'static str,
        memo: &'static str,
        counterparty: Party,
    ) {
        self.scratch.push(Tx {
            cust: u32::try_from(p.local).unwrap_or(0),
            holding: u32::try_from(holding).unwrap_or(0),
            seq: 0,
            credit,
            at,
            amount: amount.max(1),
            channel,
            kind,
            memo,
            counterparty,
        });
    }

    /// Generates the customer's transactions: about `p.n_tx` of them between the start of their
    /// history and their last active day.
    pub(crate) fn transactions(&mut self, p: &Profile) {
        self.scratch.clear();
        let lo = p.open_day.max(self.ctx.start_day);
        let hi = self.last_day(p);
        if hi < lo || p.n_tx == 0 || self.held.is_empty() {
            return;
        }
        let mut budget = p.n_tx;
        if p.churned {
            budget -= 1;
        }
        let main = self.held[0];
        let months = u32::try_from((hi - lo) / 30 + 1).unwrap_or(1);
        if p.individual {
            self.retail_streams(p, &main, lo, hi, months, &mut budget);
        } else {
            self.corporate_streams(p, &main, lo, hi, months, &mut budget);
        }
        for _ in 0..budget {
            if p.individual {
                self.retail_event(p, &main, lo, hi);
            } else {
                self.corporate_event(p, &main, lo, hi);
            }
        }
        if p.churned {
            let at = instant(hi, self.rng.int(9 * 3600, 16 * 3600));
            let amount = fen(self.rng.lognormal(p.aum.max(100.0) * 0.3, 0.5));
            self.push_tx(
                p,
                main.idx,
                at,
                amount,
                false,
                COUNTER,
                "销户",
                "销户转出",
                Party::Static("本人他行账户"),
            );
        }
        self.scratch.sort_by_key(|t| t.at);
        let mut txs = std::mem::take(&mut self.scratch);
        for (k, t) in txs.iter_mut().enumerate() {
            t.seq = u16::try_from(k).unwrap_or(u16::MAX);
        }
        self.txs.extend_from_slice(&txs);
        self.scratch = txs;
    }

    /// Salary, loan and card repayments, and quarterly interest, as far as the budget allows.
    #[expect(clippy::too_many_lines, reason = "one stream after another")]
    fn retail_streams(
        &mut self,
        p: &Profile,
        main: &Held,
        lo: i32,
        hi: i32,
        months: u32,
        budget: &mut u32,
    ) {
        if p.salaried && *budget >= months * 3 / 2 {
            let base = p.income;
            let employer = Party::Firm(p.employer);
            let bonus = self.rng.chance(0.5);
            for d in monthly(lo, hi, p.pay_day, true).collect::<Vec<_>>() {
                if *budget == 0 {
                    break;
                }
                let at = instant(d, self.rng.int(9 * 3600, 11 * 3600));
                let amount = fen(base * (1.0 + 0.03 * self.rng.normal()));
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    true,
                    BATCH,
                    "工资",
                    "代发工资",
                    employer,
                );
                *budget -= 1;
                if bonus && date_of(d).month() == 1 && *budget > 0 {
                    let amount = fen(base * self.rng.lognormal(2.0, 0.4));
                    self.push_tx(
                        p,
                        main.idx,
                        at + 60,
                        amount,
                        true,
                        BATCH,
                        "工资",
                        "年终奖",
                        employer,
                    );
                    *budget -= 1;
                }
            }
        }
        let loans: Vec<Held> = self
            .held
            .iter()
            .filter(|h| matches!(PRODUCTS[h.product].kind, ProductType::Loan))
            .copied()
            .collect();
        for loan in loans {
            let start = add_months(loan.open_day, 1).max(lo);
            let stop = loan.matures.unwrap_or(hi).min(hi);
            let n = u32::try_from((stop - start).max(0) / 30 + 1).unwrap_or(0);
            if *budget < n + 3 {
                continue;
            }
            let payment = if loan.product == P_MORTGAGE {
                loan.limit * 55 / 10_000
            } else if loan.product == P_CONSUMER_LOAN {
                loan.limit / 30
            } else {
                loan.limit * 4 / 1_000
            };
            let memo = PRODUCTS[loan.product].name;
            let dom = date_of(loan.open_day).day();
            for d in monthly(start, stop, dom, false).collect::<Vec<_>>() {
                if *budget == 0 {
                    break;
                }
                let at = instant(d, self.rng.int(5 * 3600, 7 * 3600));
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    payment,
                    false,
                    BATCH,
                    "还款",
                    memo,
                    Party::Static("本行贷款账户"),
                );
                *budget -= 1;
            }
        }
        let card = self
            .held
            .iter()
            .find(|h| PRODUCTS[h.product].kind == ProductType::CreditCard)
            .copied();
        if let Some(card) = card {
            let start = card.open_day.max(lo);
            let n = u32::try_from((hi - start).max(0) / 30 + 1).unwrap_or(0);
            if *budget >= n + 10 {
                let typical = to_f64(card.limit) / 100.0 * 0.15;
                for d in monthly(start, hi, 25, false).collect::<Vec<_>>() {
                    if *budget == 0 || self.rng.chance(0.15) {
                        continue;
                    }
                    let auto = self.rng.chance(0.6);
                    let (channel, at) = if auto {
                        (BATCH, instant(d, self.rng.int(4 * 3600, 6 * 3600)))
                    } else {
                        {
                            let early = i32::try_from(self.rng.below(5)).unwrap_or(0);
                            (MOBILE, self.clock(d - early, false, false))
                        }
                    };
                    let amount = fen(self.rng.lognormal(typical, 0.6));
                    self.push_tx(
                        p,
                        card.idx,
                        at,
                        amount,
                        true,
                        channel,
                        "还款",
                        "信用卡还款",
                        Party::Static("本人储蓄账户"),
                    );
                    *budget -= 1;
                }
            }
        }
        let quarters = months / 3 + 1;
        if *budget >= quarters + 15 {
            self.interest(p, main, lo, hi, budget);
        }
    }

    fn interest(&mut self, p: &Profile, main: &Held, lo: i32, hi: i32, budget: &mut u32) {
        let rate = if p.individual { 0.0015 } else { 0.0025 };
        for d in monthly(lo, hi, 21, false).collect::<Vec<_>>() {
            if *budget == 0 {
                break;
            }
            if !date_of(d).month().is_multiple_of(3) {
                continue;
            }
            let at = instant(d, self.rng.int(3600, 3 * 3600));
            let amount = to_i64(
                to_f64(main.balance.max(10_000)) * rate / 4.0 * self.rng.lognormal(1.0, 0.3),
            );
            self.push_tx(
                p,
                main.idx,
                at,
                amount,
                true,
                BATCH,
                "利息",
                "活期结息",
                Party::None,
            );
            *budget -= 1;
        }
    }

    fn corporate_streams(
        &mut self,
        p: &Profile,
        main: &Held,
        lo: i32,
        hi: i32,
        months: u32,
        budget: &mut u32,
    ) {
        if p.salaried && *budget >= months * 2 {
            let payroll = p.income * self.rng.lognormal(0.25, 0.3);
            for d in monthly(lo, hi, p.pay_day, true).collect::<Vec<_>>() {
                if *budget == 0 {
                    break;
                }
                let at = instant(d, self.rng.int(8 * 3600, 10 * 3600));
                let amount = fen(payroll * (1.0 + 0.05 * self.rng.normal()));
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    false,
                    ONLINE,
                    "代发",
                    "代发工资",
                    Party::Static("代发工资过渡户"),
                );
                *budget -= 1;
            }
        }
        if *budget >= months / 3 + 20 {
            self.interest(p, main, lo, hi, budget);
        }
    }

    #[expect(clippy::too_many_lines, reason = "one arm per kind of transaction")]
    fn retail_event(&mut self, p: &Profile, main: &Held, lo: i32, hi: i32) {
        let f = (p.income / 8_000.0).clamp(0.3, 6.0);
        let invest = self
            .held
            .iter()
            .find(|h| {
                matches!(
                    PRODUCTS[h.product].kind,
                    ProductType::WealthManagement | ProductType::Fund
                )
            })
            .copied();
        let weights = [
            42,
            12,
            9,
            9,
            5,
            2,
            3,
            2,
            if invest.is_some() { 7 } else { 0 },
        ];
        match self.rng.weighted(&weights) {
            0 => self.spend(p, main, lo, hi, f),
            1 | 2 => {
                let credit = self.rng.chance(0.43);
                let d = self.day_between(lo, hi);
                let channel = [MOBILE, ONLINE, COUNTER][self.rng.weighted(&[75, 12, 13])];
                let at = self.clock(d, false, channel == COUNTER);
                let yuan = self.rng.lognormal(1_000.0 * f, 1.0);
                let amount = if self.rng.chance(0.6) {
                    fen_round(yuan, 100)
                } else {
                    fen(yuan)
                };
                let memo =
                    ["转账", "转账", "生活费", "房租", "还款", "借款", "红包"][self.rng.below(7)];
                let male = self.rng.chance(0.5);
                let year = 1950 + i32::try_from(self.rng.below(55)).unwrap_or(0);
                let who = PersonName::random(&mut self.rng, male, year);
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    credit,
                    channel,
                    "转账",
                    memo,
                    Party::Person(who),
                );
            }
            3 => {
                let u = self.rng.below(UTILITIES.len());
                let (cp, memo, median) = UTILITIES[u];
                let cp = if u == 0 { CITIES[p.city].power } else { cp };
                let d = self.day_between(lo, hi);
                let channel = [MOBILE, ALIPAY, WECHAT, BATCH][self.rng.weighted(&[35, 30, 25, 10])];
                let at = self.clock(d, false, false);
                let amount = if memo == "话费充值" {
                    [5_000, 10_000, 10_000, 20_000][self.rng.below(4)]
                } else {
                    fen(self.rng.lognormal(f64::from(median), 0.4))
                };
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    false,
                    channel,
                    "缴费",
                    memo,
                    Party::Static(cp),
                );
            }
            4 => {
                let d = self.day_between(lo, hi);
                let at = self.clock(d, false, false);
                let amount =
                    fen_round(self.rng.lognormal(800.0 * f.sqrt(), 0.7).min(20_000.0), 100);
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    false,
                    ATM,
                    "取现",
                    "ATM取款",
                    Party::None,
                );
            }
            5 => {
                let d = self.day_between(lo, hi);
                let counter = self.rng.chance(0.5);
                let at = self.clock(d, false, counter);
                let amount = fen_round(self.rng.lognormal(3_000.0 * f, 0.8), 100);
                let channel = if counter { COUNTER } else { ATM };
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    true,
                    channel,
                    "存现",
                    "现金存入",
                    Party::None,
                );
            }
            6 => {
                let d = self.day_between(lo, hi);
                let at = self.clock(d, false, false);
                let amount = fen(self.rng.lognormal(300.0 * f, 0.9));
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    true,
                    WECHAT,
                    "转账",
                    "微信零钱提现",
                    Party::Static("财付通"),
                );
            }
            7 => {
                let m = &MERCHANTS[self.rng.cumulative(merchant_cum())];
                let d = self.ctx.spend_day(&mut self.rng, lo, hi);
                let at = self.clock(d, false, false);
                let amount = fen(self.rng.lognormal(f64::from(m.1), 0.6));
                let channel = [WECHAT, ALIPAY, POS][self.rng.below(3)];
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    true,
                    channel,
                    "退款",
                    m.0,
                    Party::Static(m.0),
                );
            }
            _ => {
                let Some(h) = invest else { return };
                let fund = PRODUCTS[h.product].kind == ProductType::Fund;
                let buy = self.rng.chance(0.55);
                let d = self.day_between(lo.max(h.open_day), hi);
                let counter = self.rng.chance(0.15);
                let at = self.clock(d, false, counter);
                let yuan = self.rng.lognormal((p.aum * 0.08).max(1_000.0), 0.6);
                let amount = fen_round(yuan, if fund { 100 } else { 1_000 });
                let (kind, memo) = match (fund, buy) {
                    (true, true) => ("基金", "基金申购"),
                    (true, false) => ("基金", "基金赎回"),
                    (false, true) => ("理财", "理财产品认购"),
                    (false, false) => ("理财", "理财产品赎回"),
                };
                let channel = if counter { COUNTER } else { MOBILE };
                let name = PRODUCTS[h.product].name;
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    !buy,
                    channel,
                    kind,
                    memo,
                    Party::Static(name),
                );
            }
        }
    }

    fn spend(&mut self, p: &Profile, main: &Held, lo: i32, hi: i32, pay_factor: f64) {
        let m = &MERCHANTS[self.rng.cumulative(merchant_cum())];
        let d = self.ctx.spend_day(&mut self.rng, lo, hi);
        let at = self.clock(d, false, false);
        let amount = fen(self.rng.lognormal(f64::from(m.1) * pay_factor.sqrt(), 0.7));
        let card = self
            .held
            .iter()
            .find(|h| PRODUCTS[h.product].kind == ProductType::CreditCard && h.open_day <= d)
            .copied();
        let holding = match card {
            Some(c) if self.rng.chance(0.6) => c.idx,
            _ => main.idx,
        };
        let (channel, cp, memo) = match self.rng.weighted(&[32, 30, 23, 15]) {
            0 => (WECHAT, "财付通", m.0),
            1 => (ALIPAY, "支付宝", m.0),
            2 => (POS, m.0, "POS消费"),
            _ => (MOBILE, m.0, "快捷支付"),
        };
        self.push_tx(
            p,
            holding,
            at,
            amount,
            false,
            channel,
            "消费",
            memo,
            Party::Static(cp),
        );
    }

    #[expect(clippy::too_many_lines, reason = "one arm per kind of transaction")]
    fn corporate_event(&mut self, p: &Profile, main: &Held, lo: i32, hi: i32) {
        let typical = (p.income / 12.0).max(2_000.0);
        let d = self.day_between(lo, hi);
        let counter = self.rng.chance(0.12);
        let channel = if counter { COUNTER } else { ONLINE };
        let at = self.clock(d, true, counter);
        let city = u8::try_from(p.city).unwrap_or(0);
        match self.rng.weighted(&[35, 33, 8, 5, 7, 10, 2]) {
            k @ (0 | 1) => {
                let other_city = if self.rng.chance(0.6) {
                    p.city
                } else {
                    self.rng.below(CITIES.len())
                };
                let firm = FirmName::random(&mut self.rng, other_city);
                let memo = if k == 0 {
                    ["货款", "销售回款", "服务费"][self.rng.below(3)]
                } else {
                    ["货款", "采购款", "服务费", "租金"][self.rng.below(4)]
                };
                let amount = fen(self.rng.lognormal(typical, 1.0));
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    k == 0,
                    channel,
                    "转账",
                    memo,
                    Party::Firm(firm),
                );
            }
            2 => {
                let memo =
                    ["增值税", "企业所得税", "附加税费", "个人所得税(代扣)"][self.rng.below(4)];
                let amount = fen(self.rng.lognormal(typical * 0.3, 0.8));
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    false,
                    channel,
                    "缴税",
                    memo,
                    Party::Tax(city),
                );
            }
            3 => {
                let amount = fen(self.rng.lognormal(typical * 0.2, 0.5));
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    false,
                    channel,
                    "缴费",
                    "社会保险费",
                    Party::SocialSecurity(city),
                );
            }
            4 => {
                let (cp, memo) = if self.rng.chance(0.5) {
                    (CITIES[p.city].power, "电费")
                } else {
                    ("物业服务有限公司", "物业费")
                };
                let amount = fen(self.rng.lognormal(typical * 0.02, 0.6));
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    false,
                    channel,
                    "缴费",
                    memo,
                    Party::Static(cp),
                );
            }
            5 => {
                let male = self.rng.chance(0.5);
                let who = PersonName::random(&mut self.rng, male, 1980);
                let memo = ["报销款", "备用金", "借款", "劳务费"][self.rng.below(4)];
                let amount = fen_round(self.rng.lognormal(5_000.0, 0.9), 100);
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    false,
                    channel,
                    "转账",
                    memo,
                    Party::Person(who),
                );
            }
            _ => {
                let credit = self.rng.chance(0.5);
                let amount = fen_round(self.rng.lognormal(20_000.0, 0.8), 100);
                let (kind, memo) = if credit {
                    ("存现", "现金存入")
                } else {
                    ("取现", "现金支取")
                };
                let at = self.clock(d, true, true);
                self.push_tx(
                    p,
                    main.idx,
                    at,
                    amount,
                    credit,
                    COUNTER,
                    kind,
                    memo,
                    Party::None,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monthly_dates_stay_in_range_and_avoid_weekends() {
        let lo = day_of(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default());
        let hi = day_of(NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default());
        let days: Vec<i32> = monthly(lo, hi, 15, true).collect();
        assert_eq!(days.len(), 12);
        assert!(days.iter().all(|&d| d >= lo && d <= hi && !is_weekend(d)));
        // 2024-06-15 is a Saturday: paid on Friday the 14th.
        assert!(days.contains(&day_of(
            NaiveDate::from_ymd_opt(2024, 6, 14).unwrap_or_default()
        )));
    }
}
