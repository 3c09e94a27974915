//! Discounted customer lifetime value from a purchase model and an expected spend per purchase.
//!
//! The recipe is lifetimes' `customer_lifetime_value`: step month by month, i = 1..=months,
//! with f = periods per month in the data's time unit, and sum
//! `(E[X(i·f)] − E[X((i−1)·f)]) · spend · margin / (1 + d)^i`, where E[X(t)] is the conditional
//! expected number of purchases in the next t periods and d the monthly discount rate.
//!
//! The length of a month matters (a factor of about 4 between weekly data read as weekly or as
//! daily). [`MonthConvention::Lifetimes`] reproduces lifetimes 0.11.3, which uses 30 periods per
//! month for daily data, 1 for monthly data and **4.345** for weekly data (≈ 30.4 days, not
//! 30/7); that is the convention of the CDNOW reference values. [`MonthConvention::Days30`] uses
//! exactly 30 days (30/7 weeks) and [`MonthConvention::Days30_4375`] pymc-marketing's 30.4375
//! days.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::AnalyticsError;
use crate::summary::TimeUnit;

/// A model of future purchases that factors as P(alive) × E[purchases | alive].
pub trait PurchaseModel {
    /// Probability that a customer with history (x, tₓ, T) is alive at T.
    fn p_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64;

    /// Expected purchases in (T, T + t] for a customer alive at T with x repeat purchases.
    fn expected_purchases_if_alive(&self, t: f64, x: u32, t_cal: f64) -> f64;

    /// Expected purchases in (T, T + t] given the history (x, tₓ, T).
    fn conditional_expected_purchases(&self, t: f64, x: u32, t_x: f64, t_cal: f64) -> f64 {
        self.p_alive(x, t_x, t_cal) * self.expected_purchases_if_alive(t, x, t_cal)
    }
}

/// How many days a month has when converting a CLV horizon to the data's time unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MonthConvention {
    /// lifetimes 0.11.3: 30 per month for days, 4.345 for weeks, 1 for months.
    #[default]
    Lifetimes,
    /// Exactly 30 days (30/7 weeks, 1 month).
    Days30,
    /// 30.4375 days as pymc-marketing (30.4375/7 weeks, 30.4375/30 of a 30-day month).
    Days30_4375,
}

impl MonthConvention {
    /// Number of periods of `unit` in one month.
    pub fn periods_per_month(self, unit: TimeUnit) -> f64 {
        match (self, unit) {
            (Self::Lifetimes, TimeUnit::Week) => 4.345,
            (Self::Lifetimes | Self::Days30, TimeUnit::Month) => 1.0,
            (Self::Lifetimes | Self::Days30, _) => 30.0 / unit.days(),
            (Self::Days30_4375, _) => 30.4375 / unit.days(),
        }
    }
}

/// Horizon, discounting and margin of a CLV computation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvConfig {
    /// Horizon in months.
    pub months: u32,
    /// Discount rate per month (0.01 = 1 %).
    pub monthly_discount_rate: f64,
    /// Profit margin applied to spend (1.0 = revenue).
    pub margin: f64,
    /// Periods of the data's time unit per month (see [`MonthConvention::periods_per_month`]).
    pub periods_per_month: f64,
}

impl ClvConfig {
    /// A config for data in `unit`, with the month length of `convention`.
    pub fn new(
        months: u32,
        monthly_discount_rate: f64,
        margin: f64,
        unit: TimeUnit,
        convention: MonthConvention,
    ) -> Self {
        Self {
            months,
            monthly_discount_rate,
            margin,
            periods_per_month: convention.periods_per_month(unit),
        }
    }

    fn validate(&self) -> Result<(), AnalyticsError> {
        if !(self.monthly_discount_rate.is_finite() && self.monthly_discount_rate > -1.0) {
            return Err(AnalyticsError::invalid(
                "monthly_discount_rate",
                "must be finite and above -1",
            ));
        }
        if !(self.periods_per_month.is_finite() && self.periods_per_month > 0.0) {
            return Err(AnalyticsError::invalid(
                "periods_per_month",
                "must be positive",
            ));
        }
        if !self.margin.is_finite() {
            return Err(AnalyticsError::invalid("margin", "must be finite"));
        }
        Ok(())
    }

    /// Σᵢ (E(i f) − E((i−1) f)) / (1 + d)^i for an alive customer with x purchases and age T.
    fn discounted_purchases_if_alive<M: PurchaseModel + ?Sized>(
        &self,
        model: &M,
        x: u32,
        t_cal: f64,
    ) -> f64 {
        let f = self.periods_per_month;
        let mut prev = 0.0;
        let mut disc = 1.0;
        let mut total = 0.0;
        for i in 1..=self.months {
            let cur = model.expected_purchases_if_alive(f64::from(i) * f, x, t_cal);
            disc /= 1.0 + self.monthly_discount_rate;
            total += (cur - prev) * disc;
            prev = cur;
        }
        total
    }
}

/// Discounted CLV of one customer with history (x, tₓ, T) and expected spend per purchase.
pub fn customer_lifetime_value<M: PurchaseModel + ?Sized>(
    model: &M,
    x: u32,
    t_x: f64,
    t_cal: f64,
    spend: f64,
    config: &ClvConfig,
) -> f64 {
    spend
        * config.margin
        * model.p_alive(x, t_x, t_cal)
        * config.discounted_purchases_if_alive(model, x, t_cal)
}

/// Discounted CLV of many customers.
///
/// The month-by-month series depends on (x, T) only, so it is computed once per distinct (x, T)
/// and scaled by each customer's P(alive) and spend: on a million customers this is a few
/// thousand series instead of a million.
pub fn customer_lifetime_values<M: PurchaseModel + ?Sized>(
    model: &M,
    frequency: &[u32],
    recency: &[f64],
    age: &[f64],
    spend: &[f64],
    config: &ClvConfig,
) -> Result<Vec<f64>, AnalyticsError> {
    config.validate()?;
    let n = frequency.len();
    for (field, len) in [
        ("recency", recency.len()),
        ("age", age.len()),
        ("spend", spend.len()),
    ] {
        if len != n {
            return Err(AnalyticsError::invalid(
                field,
                format!("has {len} elements, expected {n}"),
            ));
        }
    }
    let mut cache: HashMap<(u32, u64), f64> = HashMap::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (x, t_cal) = (frequency[i], age[i] + 0.0);
        let series = *cache
            .entry((x, t_cal.to_bits()))
            .or_insert_with(|| config.discounted_purchases_if_alive(model, x, t_cal));
        out.push(spend[i] * config.margin * model.p_alive(x, recency[i], t_cal) * series);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_months_follow_the_convention() {
        assert!(
            (MonthConvention::Lifetimes.periods_per_month(TimeUnit::Week) - 4.345).abs() < 1e-15
        );
        assert!(
            (MonthConvention::Days30.periods_per_month(TimeUnit::Week) - 30.0 / 7.0).abs() < 1e-15
        );
        assert!((MonthConvention::Lifetimes.periods_per_month(TimeUnit::Day) - 30.0).abs() < 1e-15);
    }
}
