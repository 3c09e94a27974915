//! Customer tier rules: corporate tiers (公司级 / 部门级 / 一般), retail AUM tiers, and a grace
//! period before a downgrade takes effect. Pure rule evaluation; money is `i64` minor units (分).
//!
//! Corporate tiers look at four criteria: average yearly contribution, number of the bank's
//! departments the client uses, forecast contribution growth rate and a special-background flag
//! (state key enterprise, strategic partner, ...). The defaults ([`CorporateTierRules::default`]):
//! - **firm-level (公司级)**: contribution > CNY 10M a year qualifies on its own; otherwise at
//!   least `firm_min_criteria` = 3 of the four criteria (contribution > 10M, ≥ 3 departments,
//!   growth > 15 %, special background) must hold;
//! - **department-level (部门级)**: contribution ≥ CNY 1M a year **and** growth > 5 %
//!   (`dept_min_criteria` = 2 of these two; set it to 1 to accept either);
//! - **general (一般)**: everything else.
//!
//! The combination rule is the choice documented above: a large contribution is decisive by
//! itself, while the softer criteria (breadth of relationship, growth, background) can only lift
//! a client to firm level together.

use serde::{Deserialize, Serialize};

/// Corporate client tier, ordered General < `DepartmentLevel` < `FirmLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorporateTier {
    /// 一般: managed by the branch.
    General,
    /// 部门级: managed at department level.
    DepartmentLevel,
    /// 公司级: managed at head-office (firm) level.
    FirmLevel,
}

/// The facts the corporate tier rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CorporateTierInput {
    /// Average yearly contribution (revenue to the bank), minor units.
    pub avg_yearly_contribution_minor: i64,
    /// Number of the bank's departments whose products the client uses.
    pub departments_used: u32,
    /// Forecast growth rate of the contribution (0.15 = 15 %).
    pub forecast_growth_rate: f64,
    /// Special background (state key enterprise, strategic partner, ...).
    pub special_background: bool,
}

/// Thresholds and combination rule of the corporate tiers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorporateTierRules {
    /// Firm level: contribution strictly above this (default CNY 10M = 1,000,000,000 分).
    pub firm_min_contribution_minor: i64,
    /// Firm level: at least this many departments (default 3).
    pub firm_min_departments: u32,
    /// Firm level: growth strictly above this (default 0.15).
    pub firm_min_growth: f64,
    /// Firm level: how many of the four criteria must hold (default 3).
    pub firm_min_criteria: u8,
    /// Firm level: whether the contribution criterion alone qualifies (default true).
    pub firm_contribution_alone_qualifies: bool,
    /// Department level: contribution at least this (default CNY 1M = 100,000,000 分).
    pub dept_min_contribution_minor: i64,
    /// Department level: growth strictly above this (default 0.05).
    pub dept_min_growth: f64,
    /// Department level: how many of its two criteria must hold (default 2: both).
    pub dept_min_criteria: u8,
}

impl Default for CorporateTierRules {
    fn default() -> Self {
        Self {
            firm_min_contribution_minor: 1_000_000_000,
            firm_min_departments: 3,
            firm_min_growth: 0.15,
            firm_min_criteria: 3,
            firm_contribution_alone_qualifies: true,
            dept_min_contribution_minor: 100_000_000,
            dept_min_growth: 0.05,
            dept_min_criteria: 2,
        }
    }
}

impl CorporateTierRules {
    /// The tier of a corporate client.
    pub fn evaluate(&self, input: &CorporateTierInput) -> CorporateTier {
        let big = input.avg_yearly_contribution_minor > self.firm_min_contribution_minor;
        let firm_met = u8::from(big)
            + u8::from(input.departments_used >= self.firm_min_departments)
            + u8::from(input.forecast_growth_rate > self.firm_min_growth)
            + u8::from(input.special_background);
        if (big && self.firm_contribution_alone_qualifies) || firm_met >= self.firm_min_criteria {
            return CorporateTier::FirmLevel;
        }
        let dept_met =
            u8::from(input.avg_yearly_contribution_minor >= self.dept_min_contribution_minor)
                + u8::from(input.forecast_growth_rate > self.dept_min_growth);
        if dept_met >= self.dept_min_criteria {
            CorporateTier::DepartmentLevel
        } else {
            CorporateTier::General
        }
    }
}

/// One named retail band: customers with AUM ≥ `min_aum_minor` belong to it (or a higher one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AumBand {
    /// Display name (大众, 金卡, ...).
    pub name: String,
    /// Lower bound of AUM, inclusive, minor units.
    pub min_aum_minor: i64,
}

/// Retail tiers by assets under management, as ascending bands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetailTierBands {
    /// Bands in ascending order of `min_aum_minor`; the first should start at `i64::MIN` or 0.
    pub bands: Vec<AumBand>,
}

impl Default for RetailTierBands {
    /// 大众 (mass) < CNY 50k ≤ 金卡 (gold) < 500k ≤ 白金 (platinum) < 6M ≤ 私人银行 (private).
    fn default() -> Self {
        let band = |name: &str, min_aum_minor| AumBand {
            name: name.to_string(),
            min_aum_minor,
        };
        Self {
            bands: vec![
                band("大众", i64::MIN),
                band("金卡", 5_000_000),
                band("白金", 50_000_000),
                band("私人银行", 600_000_000),
            ],
        }
    }
}

impl RetailTierBands {
    /// Index of the highest band whose lower bound is ≤ `aum_minor` (0 if none).
    pub fn tier_index(&self, aum_minor: i64) -> usize {
        self.bands
            .iter()
            .rposition(|b| b.min_aum_minor <= aum_minor)
            .unwrap_or(0)
    }

    /// The band of `aum_minor`, or `None` when there are no bands.
    pub fn band(&self, aum_minor: i64) -> Option<&AumBand> {
        self.bands.get(self.tier_index(aum_minor))
    }
}

/// A customer's current tier and the bookkeeping of a pending downgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierState<T> {
    /// The tier in effect.
    pub tier: T,
    /// Day number the tier took effect.
    pub assigned_day: i32,
    /// First day of the current run of days computed below `tier`, if any.
    pub below_since: Option<i32>,
}

/// Applies a downgrade grace period: an upgrade takes effect at once, a downgrade only once the
/// customer has been computed below the current tier for `grace_days` days in a row.
///
/// Pure: pass the previous state (None for a new customer), today's computed tier and today's
/// day number; store the result. A day computed at or above the current tier resets the run.
/// When the downgrade takes effect the customer gets the tier computed on that day.
pub fn apply_grace<T: Copy + Ord>(
    previous: Option<TierState<T>>,
    computed: T,
    today: i32,
    grace_days: u32,
) -> TierState<T> {
    let fresh = TierState {
        tier: computed,
        assigned_day: today,
        below_since: None,
    };
    let Some(prev) = previous else {
        return fresh;
    };
    match computed.cmp(&prev.tier) {
        std::cmp::Ordering::Greater => fresh,
        std::cmp::Ordering::Equal => TierState {
            below_since: None,
            ..prev
        },
        std::cmp::Ordering::Less => {
            let since = prev.below_since.unwrap_or(today);
            if i64::from(today) - i64::from(since) >= i64::from(grace_days) {
                fresh
            } else {
                TierState {
                    below_since: Some(since),
                    ..prev
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corp(contrib_cny: i64, depts: u32, growth: f64, special: bool) -> CorporateTierInput {
        CorporateTierInput {
            avg_yearly_contribution_minor: contrib_cny * 100,
            departments_used: depts,
            forecast_growth_rate: growth,
            special_background: special,
        }
    }

    #[test]
    fn corporate_tiers_follow_the_default_rules() {
        let rules = CorporateTierRules::default();
        assert_eq!(
            rules.evaluate(&corp(12_000_000, 1, 0.0, false)),
            CorporateTier::FirmLevel
        );
        assert_eq!(
            rules.evaluate(&corp(10_000_000, 1, 0.0, false)),
            CorporateTier::General
        );
        assert_eq!(
            rules.evaluate(&corp(2_000_000, 4, 0.2, true)),
            CorporateTier::FirmLevel
        );
        assert_eq!(
            rules.evaluate(&corp(2_000_000, 4, 0.2, false)),
            CorporateTier::DepartmentLevel
        );
        assert_eq!(
            rules.evaluate(&corp(1_000_000, 1, 0.06, false)),
            CorporateTier::DepartmentLevel
        );
        assert_eq!(
            rules.evaluate(&corp(1_000_000, 1, 0.05, false)),
            CorporateTier::General
        );
        let parsed: CorporateTierRules =
            serde_json::from_str(r#"{"firm_min_criteria": 2}"#).unwrap();
        assert_eq!(parsed.firm_min_departments, 3);
        assert_eq!(
            parsed.evaluate(&corp(0, 4, 0.0, true)),
            CorporateTier::FirmLevel
        );
    }

    #[test]
    fn retail_bands_are_inclusive_lower_bounds() {
        let b = RetailTierBands::default();
        assert_eq!(b.band(4_999_999).unwrap().name, "大众");
        assert_eq!(b.band(5_000_000).unwrap().name, "金卡");
        assert_eq!(b.band(600_000_000).unwrap().name, "私人银行");
    }

    #[test]
    fn downgrades_wait_for_the_grace_period_and_upgrades_do_not() {
        let s0 = apply_grace(None, CorporateTier::FirmLevel, 100, 90);
        let s1 = apply_grace(Some(s0), CorporateTier::General, 110, 90);
        assert_eq!(
            (s1.tier, s1.below_since),
            (CorporateTier::FirmLevel, Some(110))
        );
        let s2 = apply_grace(Some(s1), CorporateTier::DepartmentLevel, 199, 90);
        assert_eq!(s2.tier, CorporateTier::FirmLevel);
        let s3 = apply_grace(Some(s2), CorporateTier::DepartmentLevel, 200, 90);
        assert_eq!(
            (s3.tier, s3.assigned_day),
            (CorporateTier::DepartmentLevel, 200)
        );
        let s4 = apply_grace(Some(s3), CorporateTier::FirmLevel, 201, 90);
        assert_eq!((s4.tier, s4.assigned_day), (CorporateTier::FirmLevel, 201));
        // Qualifying again resets the run.
        let s5 = apply_grace(Some(s1), CorporateTier::FirmLevel, 150, 90);
        assert_eq!(s5.below_since, None);
    }
}
