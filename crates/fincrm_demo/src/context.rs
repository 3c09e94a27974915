//! What every chunk shares: the configuration, the organisation and the calendar of the history.

use crate::DemoConfig;
use crate::org::{self, OrgIndex};
use crate::tables::SPRING_FESTIVAL;
use crate::util::{BEIJING_OFFSET_SECS, Rand, UNIX_EPOCH_CE};
use chrono::{Datelike, Months, NaiveDate, Weekday};

/// The shared, read-only state of a generation run.
pub(crate) struct Context {
    pub config: DemoConfig,
    pub org: OrgIndex,
    /// First day of the transaction history (days of the common era).
    pub start_day: i32,
    /// Last day of the history.
    pub end_day: i32,
    /// Inclusive prefix sums of the seasonal weight of spending on each day of the history.
    spend_cum: Vec<f64>,
}

/// Days of the common era of a date.
pub(crate) fn day_of(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

/// The date of a day of the common era.
pub(crate) fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).unwrap_or(NaiveDate::MIN)
}

/// The UTC instant of a Beijing wall-clock time on a day.
pub(crate) fn instant(day: i32, secs_of_day: i64) -> i64 {
    i64::from(day - UNIX_EPOCH_CE) * 86_400 + secs_of_day - BEIJING_OFFSET_SECS
}

/// The day of a UTC instant in Beijing time.
#[cfg(test)]
pub(crate) fn beijing_day(unix: i64) -> i32 {
    i32::try_from((unix + BEIJING_OFFSET_SECS).div_euclid(86_400)).unwrap_or(0) + UNIX_EPOCH_CE
}

/// Whether a day falls on a Saturday or Sunday.
pub(crate) fn is_weekend(day: i32) -> bool {
    matches!(date_of(day).weekday(), Weekday::Sat | Weekday::Sun)
}

fn spring_festival(year: i32) -> NaiveDate {
    let (m, d) = SPRING_FESTIVAL
        .iter()
        .find(|f| f.0 == year)
        .map_or((2, 5), |f| (f.1, f.2));
    NaiveDate::from_ymd_opt(year, m, d).unwrap_or(NaiveDate::MIN)
}

/// The relative intensity of card and QR-code spending on a day: 春节 shopping, 618, 双十一,
/// 双十二 and December, and weekends.
fn spend_weight(date: NaiveDate) -> f64 {
    let mut w = 1.0;
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        w *= 1.15;
    }
    for year in [date.year(), date.year() + 1] {
        let days_to = (spring_festival(year) - date).num_days();
        if (1..=21).contains(&days_to) {
            w *= 1.7;
        } else if (-6..=0).contains(&days_to) {
            w *= 1.3;
        }
    }
    match (date.month(), date.day()) {
        (6, 18) => w *= 2.5,
        (6, 1..=17) => w *= 1.25,
        (11, 11) => w *= 3.0,
        (11, 1..=10) => w *= 1.4,
        (12, 12) => w *= 1.8,
        (12, _) => w *= 1.2,
        _ => {}
    }
    w
}

impl Context {
    pub(crate) fn new(config: &DemoConfig) -> Self {
        let end = config.end_date;
        let start = end
            .checked_sub_months(Months::new(config.years.max(1).saturating_mul(12)))
            .and_then(|d| d.succ_opt())
            .unwrap_or(end);
        let (start_day, end_day) = (day_of(start), day_of(end));
        let mut total = 0.0;
        let spend_cum = (start_day..=end_day)
            .map(|d| {
                total += spend_weight(date_of(d));
                total
            })
            .collect();
        Self {
            config: config.clone(),
            org: org::build(config),
            start_day,
            end_day,
            spend_cum,
        }
    }

    /// A day in `lo..=hi` (both inside the history) drawn by spending seasonality.
    pub(crate) fn spend_day(&self, rng: &mut Rand, lo: i32, hi: i32) -> i32 {
        let lo_i = usize::try_from(lo - self.start_day).unwrap_or(0);
        let hi_i = usize::try_from(hi - self.start_day)
            .unwrap_or(0)
            .min(self.spend_cum.len().saturating_sub(1));
        if hi_i <= lo_i {
            return lo;
        }
        let a = if lo_i == 0 {
            0.0
        } else {
            self.spend_cum[lo_i - 1]
        };
        let b = self.spend_cum[hi_i];
        let x = a + rng.f() * (b - a);
        let i = self
            .spend_cum
            .partition_point(|&c| c <= x)
            .clamp(lo_i, hi_i);
        self.start_day + i32::try_from(i).unwrap_or(0)
    }
}
