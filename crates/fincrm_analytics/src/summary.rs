//! Per-customer recency/frequency/monetary/age summary of a transaction log (the calibration
//! summary of lifetimes' `summary_data_from_transaction_data`).
//!
//! Conventions, which are lifetimes' and reproduce its CDNOW summary exactly:
//! - time is a day number (`i32`, e.g. days since 1970-01-01, see [`days_from_civil`] and
//!   [`day_from_unix_seconds`]); purchases are aggregated per customer and **day**: several
//!   purchases on one day are one purchase whose amount is their sum;
//! - rows after the calibration end (inclusive bound) are ignored, and so are customers whose
//!   first purchase is after it;
//! - `frequency` = number of distinct purchase days − 1 (repeat purchase days);
//! - `recency` = last purchase day − first purchase day, `age` (T) = calibration end − first
//!   purchase day, both divided by the length of the [`TimeUnit`] in days, unrounded;
//! - `monetary` = mean amount of the repeat purchase days (the first day is excluded), 0 when
//!   frequency = 0.
//!
//! Two entry points: [`summarize`] takes rows in any order with a dense customer index and
//! groups them with a counting sort (O(rows + customers), plus 16 bytes per row of scratch);
//! [`summarize_sorted`] takes rows already sorted by (customer, day) with any `u64` key and works
//! in one streaming pass without scratch memory.

use serde::{Deserialize, Serialize};

use crate::AnalyticsError;

/// The time unit of recency and age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// One day.
    Day,
    /// Seven days.
    #[default]
    Week,
    /// Thirty days (a fixed-length month, as lifetimes' CLV convention for daily data).
    Month,
}

impl TimeUnit {
    /// Length of the unit in days.
    pub fn days(self) -> f64 {
        match self {
            Self::Day => 1.0,
            Self::Week => 7.0,
            Self::Month => 30.0,
        }
    }
}

/// Calibration end and time unit of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryConfig {
    /// Last day of the calibration period (inclusive), as a day number.
    pub calibration_end: i32,
    /// Unit of recency and age.
    pub unit: TimeUnit,
}

/// Per-customer summary columns, one entry per customer with a purchase in calibration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Customer key (the dense index for [`summarize`], the key for [`summarize_sorted`]).
    pub customer: Vec<u64>,
    /// Repeat purchase days x.
    pub frequency: Vec<u32>,
    /// Time from first to last purchase day, tₓ.
    pub recency: Vec<f64>,
    /// Time from first purchase day to the calibration end, T.
    pub age: Vec<f64>,
    /// Mean amount of the repeat purchase days (0 when x = 0).
    pub monetary: Vec<f64>,
}

impl Summary {
    /// Number of customers.
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    /// Whether there is no customer.
    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }

    fn push(&mut self, customer: u64, acc: &Acc, cfg: SummaryConfig) {
        let unit = cfg.unit.days();
        let frequency = acc.days - 1;
        self.customer.push(customer);
        self.frequency.push(frequency);
        self.recency
            .push(f64::from(acc.last_day - acc.first_day) / unit);
        self.age
            .push(f64::from(cfg.calibration_end - acc.first_day) / unit);
        self.monetary.push(if frequency == 0 {
            0.0
        } else {
            acc.repeat_amount / f64::from(frequency)
        });
    }
}

/// Running state of one customer while its rows are scanned in day order.
#[derive(Clone, Copy)]
struct Acc {
    first_day: i32,
    last_day: i32,
    days: u32,
    repeat_amount: f64,
}

impl Acc {
    /// No row yet (`days` = 0).
    const NONE: Self = Self {
        first_day: 0,
        last_day: 0,
        days: 0,
        repeat_amount: 0.0,
    };

    fn start(day: i32) -> Self {
        Self {
            first_day: day,
            last_day: day,
            days: 1,
            repeat_amount: 0.0,
        }
    }

    /// Adds a row whose day is ≥ the last one seen.
    fn add(&mut self, day: i32, amount: f64) {
        if day != self.last_day {
            self.days += 1;
            self.last_day = day;
        }
        if day != self.first_day {
            self.repeat_amount += amount;
        }
    }
}

fn check_lengths(n: usize, day: &[i32], amount: &[f64]) -> Result<(), AnalyticsError> {
    if day.len() != n {
        return Err(AnalyticsError::invalid(
            "day",
            "length differs from customer",
        ));
    }
    if amount.len() != n {
        return Err(AnalyticsError::invalid(
            "amount",
            "length differs from customer",
        ));
    }
    Ok(())
}

/// Summarises rows in any order; `customer` is a dense index (0..number of customers).
///
/// Rows already in date order take one pass (`fold_in_day_order`); others are grouped by
/// customer first. Memory: 24 bytes per customer index up to the largest index, and for rows out
/// of date order 16 bytes per calibration row.
pub fn summarize(
    customer: &[u32],
    day: &[i32],
    amount: &[f64],
    config: &SummaryConfig,
) -> Result<Summary, AnalyticsError> {
    check_lengths(customer.len(), day, amount)?;
    let end = config.calibration_end;
    let Some(&max_c) = customer.iter().max() else {
        return Ok(Summary::default());
    };
    let n_c = max_c as usize + 1;
    if let Some(accs) = fold_in_day_order(customer, day, amount, end, n_c) {
        let mut out = Summary::default();
        for (c, acc) in accs.iter().enumerate() {
            if acc.days > 0 {
                out.push(c as u64, acc, *config);
            }
        }
        return Ok(out);
    }
    let mut start = vec![0_usize; n_c + 1];
    for (&c, &d) in customer.iter().zip(day) {
        if d <= end {
            start[c as usize + 1] += 1;
        }
    }
    for i in 0..n_c {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut rows = vec![(0_i32, 0.0_f64); start[n_c]];
    for ((&c, &d), &a) in customer.iter().zip(day).zip(amount) {
        if d <= end {
            let slot = &mut fill[c as usize];
            rows[*slot] = (d, a);
            *slot += 1;
        }
    }
    drop(fill);
    let mut out = Summary::default();
    for c in 0..n_c {
        let run = &mut rows[start[c]..start[c + 1]];
        if run.is_empty() {
            continue;
        }
        // Stable, so equal days keep their input order and sums are reproducible.
        run.sort_by_key(|r| r.0);
        let mut acc = Acc::start(run[0].0);
        for &(d, a) in &run[1..] {
            acc.add(d, a);
        }
        out.push(c as u64, &acc, *config);
    }
    Ok(out)
}

/// One pass over rows whose days never go back for a customer (a log in date order, as
/// extracts usually are): each row updates its customer's running state in place, without the
/// grouping that rows in any order need (a counting pass and a scatter of every row, the time of
/// the summary at 20M rows). `None` at the first row dated before its customer's previous one.
///
/// The result equals [`summarize`]'s grouping to the last bit: its stable sort by day keeps such
/// rows in input order, the order they are added in here.
fn fold_in_day_order(
    customer: &[u32],
    day: &[i32],
    amount: &[f64],
    end: i32,
    customers: usize,
) -> Option<Vec<Acc>> {
    let mut accs = vec![Acc::NONE; customers];
    for ((&c, &d), &a) in customer.iter().zip(day).zip(amount) {
        if d > end {
            continue;
        }
        let acc = &mut accs[c as usize];
        if acc.days == 0 {
            *acc = Acc::start(d);
        } else if d < acc.last_day {
            return None;
        } else {
            acc.add(d, a);
        }
    }
    Some(accs)
}

/// Summarises rows sorted by (customer, day) in one pass; any `u64` customer key.
///
/// Returns an error naming the first row that breaks the order.
pub fn summarize_sorted(
    customer: &[u64],
    day: &[i32],
    amount: &[f64],
    config: &SummaryConfig,
) -> Result<Summary, AnalyticsError> {
    check_lengths(customer.len(), day, amount)?;
    let end = config.calibration_end;
    let mut out = Summary::default();
    let mut current: Option<(u64, Acc)> = None;
    let mut prev: Option<(u64, i32)> = None;
    for (i, ((&c, &d), &a)) in customer.iter().zip(day).zip(amount).enumerate() {
        if prev.is_some_and(|p| p > (c, d)) {
            return Err(AnalyticsError::invalid(
                "customer",
                format!("row {i} is not sorted by (customer, day)"),
            ));
        }
        prev = Some((c, d));
        if d > end {
            continue;
        }
        match &mut current {
            Some((key, acc)) if *key == c => acc.add(d, a),
            _ => {
                if let Some((key, acc)) = current.take() {
                    out.push(key, &acc, *config);
                }
                current = Some((c, Acc::start(d)));
            }
        }
    }
    if let Some((key, acc)) = current {
        out.push(key, &acc, *config);
    }
    Ok(out)
}

/// Day number (days since 1970-01-01) of a proleptic Gregorian date.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    // Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i32::try_from(month).unwrap_or(1);
    let d = i32::try_from(day).unwrap_or(1);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Day number of a Unix timestamp in seconds, in a time zone `utc_offset_seconds` east of UTC.
pub fn day_from_unix_seconds(seconds: i64, utc_offset_seconds: i32) -> i32 {
    let local = seconds + i64::from(utc_offset_seconds);
    i32::try_from(local.div_euclid(86_400)).unwrap_or(if local < 0 { i32::MIN } else { i32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows in date order take the one-pass fold, rows in any other order the grouping; both
    /// give the same summary (amounts in quarters, so sums do not depend on the order).
    #[test]
    fn rows_in_date_order_and_shuffled_give_the_same_summary() {
        let mut rng = crate::kmeans::SplitMix64::new(0x2545_f491);
        let mut next = move |n: u64| rng.next_u64() % n;
        let mut rows: Vec<(u32, i32, f64)> = (0..5_000)
            .map(|_| {
                let c = u32::try_from(next(300)).unwrap_or(0);
                let d = i32::try_from(next(400)).unwrap_or(0);
                (
                    c,
                    d,
                    f64::from(u32::try_from(next(4_000)).unwrap_or(0)) / 4.0,
                )
            })
            .collect();
        rows.sort_by_key(|r| r.1);
        let columns = |rows: &[(u32, i32, f64)]| {
            (
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )
        };
        let config = SummaryConfig {
            calibration_end: 350,
            unit: TimeUnit::Week,
        };
        let (c, d, a) = columns(&rows);
        assert!(fold_in_day_order(&c, &d, &a, 350, 300).is_some());
        let in_order = summarize(&c, &d, &a, &config).expect("summary");
        rows.reverse();
        let (c, d, a) = columns(&rows);
        assert!(fold_in_day_order(&c, &d, &a, 350, 300).is_none());
        let shuffled = summarize(&c, &d, &a, &config).expect("summary");
        assert_eq!(in_order, shuffled);
        assert!(in_order.len() > 250, "{} customers", in_order.len());
        assert!(in_order.frequency.iter().any(|&x| x > 3));
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            days_from_civil(1997, 9, 30) - days_from_civil(1997, 1, 1),
            272
        );
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(day_from_unix_seconds(86_399, 0), 0);
        assert_eq!(day_from_unix_seconds(86_399 - 8 * 3600, 8 * 3600), 0);
        assert_eq!(day_from_unix_seconds(-1, 0), -1);
    }

    #[test]
    fn same_day_purchases_count_once_and_the_first_day_is_not_monetary() {
        let cfg = SummaryConfig {
            calibration_end: 20,
            unit: TimeUnit::Day,
        };
        let c = [1_u32, 1, 1, 1, 0, 1];
        let d = [3, 3, 10, 10, 5, 25];
        let a = [5.0, 5.0, 7.0, 3.0, 9.0, 100.0];
        let s = summarize(&c, &d, &a, &cfg).unwrap();
        let c64: Vec<u64> = vec![0, 1, 1, 1, 1];
        let s2 =
            summarize_sorted(&c64, &[5, 3, 3, 10, 10], &[9.0, 5.0, 5.0, 7.0, 3.0], &cfg).unwrap();
        assert_eq!(s, s2);
        assert_eq!(s.customer, vec![0, 1]);
        assert_eq!(s.frequency, vec![0, 1]);
        assert_eq!(s.recency, vec![0.0, 7.0]);
        assert_eq!(s.age, vec![15.0, 17.0]);
        assert_eq!(s.monetary, vec![0.0, 10.0]);
    }

    #[test]
    fn unsorted_input_is_rejected_by_the_streaming_summary() {
        let cfg = SummaryConfig {
            calibration_end: 20,
            unit: TimeUnit::Day,
        };
        assert!(summarize_sorted(&[2, 1], &[1, 1], &[1.0, 1.0], &cfg).is_err());
    }
}
