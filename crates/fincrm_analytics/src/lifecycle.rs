//! Customer lifecycle stages from activity, tenure and AUM, with documented, configurable
//! thresholds.
//!
//! Rules, first match wins (defaults in brackets, see [`LifecycleConfig`]):
//! 1. no tenure (not yet a customer) → **prospect**;
//! 2. inactive ≥ `churned_after_days` [365], or P(alive) < `churn_p_alive` [0.1] → **churned**;
//! 3. inactive ≥ `dormant_after_days` [180] → **dormant**;
//! 4. previous stage dormant or churned (and now active again) → **won back** (for one
//!    evaluation; the next one applies the rules below);
//! 5. tenure ≤ `new_max_tenure_days` [90] → **new**;
//! 6. AUM ≤ (1 − `decline_aum_drop`) [20 % drop] of 12 months ago, or the 90-day activity rate
//!    below `decline_activity_ratio` [0.5] of the 365-day rate, or P(alive) < `decline_p_alive`
//!    [0.5] → **declining**;
//! 7. AUM ≥ (1 + `growth_aum_rise`) [20 % rise] of 12 months ago, or the 90-day activity rate
//!    above `growth_activity_ratio` [1.5] of the 365-day rate → **growing**;
//! 8. tenure ≥ `loyal_min_tenure_days` [1095] and ≥ `loyal_min_activity_365d` [12] activities in
//!    the last year → **loyal**;
//! 9. otherwise **mature**.
//!
//! Activity rates compare `activity_90d / 90` with `activity_365d / 365`.

use serde::{Deserialize, Serialize};

/// Lifecycle stage of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStage {
    /// Not yet a customer.
    Prospect,
    /// Recently onboarded.
    New,
    /// Activity or assets rising.
    Growing,
    /// Stable relationship.
    Mature,
    /// Long, active relationship.
    Loyal,
    /// Activity or assets falling.
    Declining,
    /// No activity for a while.
    Dormant,
    /// Gone.
    Churned,
    /// Active again after being dormant or churned.
    WonBack,
}

/// The facts the lifecycle rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LifecycleInput {
    /// Days since onboarding; `None` for a prospect.
    pub tenure_days: Option<u32>,
    /// Days since the last activity; `None` if never active (treated as the tenure).
    pub days_since_last_activity: Option<u32>,
    /// Activities (transactions, logins, ...) in the last 90 days.
    pub activity_90d: u32,
    /// Activities in the last 365 days.
    pub activity_365d: u32,
    /// Assets under management now, minor units.
    pub aum_now_minor: i64,
    /// Assets under management 12 months ago, minor units.
    pub aum_12m_ago_minor: i64,
    /// P(alive) from a purchase model, if available.
    pub p_alive: Option<f64>,
    /// The stage at the previous evaluation, if any.
    pub previous: Option<LifecycleStage>,
}

/// Thresholds of the lifecycle rules (see the module docs for how they are used).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleConfig {
    /// Tenure up to which a customer is new.
    pub new_max_tenure_days: u32,
    /// Inactivity from which a customer is dormant.
    pub dormant_after_days: u32,
    /// Inactivity from which a customer is churned.
    pub churned_after_days: u32,
    /// P(alive) below which a customer is churned.
    pub churn_p_alive: f64,
    /// P(alive) below which a customer is declining.
    pub decline_p_alive: f64,
    /// Relative AUM drop over 12 months that marks decline.
    pub decline_aum_drop: f64,
    /// 90-day activity rate below this fraction of the 365-day rate marks decline.
    pub decline_activity_ratio: f64,
    /// Relative AUM rise over 12 months that marks growth.
    pub growth_aum_rise: f64,
    /// 90-day activity rate above this multiple of the 365-day rate marks growth.
    pub growth_activity_ratio: f64,
    /// Minimum tenure of a loyal customer.
    pub loyal_min_tenure_days: u32,
    /// Minimum activities in the last year of a loyal customer.
    pub loyal_min_activity_365d: u32,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            new_max_tenure_days: 90,
            dormant_after_days: 180,
            churned_after_days: 365,
            churn_p_alive: 0.1,
            decline_p_alive: 0.5,
            decline_aum_drop: 0.2,
            decline_activity_ratio: 0.5,
            growth_aum_rise: 0.2,
            growth_activity_ratio: 1.5,
            loyal_min_tenure_days: 1095,
            loyal_min_activity_365d: 12,
        }
    }
}

impl LifecycleConfig {
    /// The stage of one customer.
    pub fn evaluate(&self, c: &LifecycleInput) -> LifecycleStage {
        let Some(tenure) = c.tenure_days else {
            return LifecycleStage::Prospect;
        };
        let inactive = c.days_since_last_activity.unwrap_or(tenure);
        if inactive >= self.churned_after_days || c.p_alive.is_some_and(|p| p < self.churn_p_alive)
        {
            return LifecycleStage::Churned;
        }
        if inactive >= self.dormant_after_days {
            return LifecycleStage::Dormant;
        }
        if matches!(
            c.previous,
            Some(LifecycleStage::Dormant | LifecycleStage::Churned)
        ) {
            return LifecycleStage::WonBack;
        }
        if tenure <= self.new_max_tenure_days {
            return LifecycleStage::New;
        }
        let (now, then) = (c.aum_now_minor as f64, c.aum_12m_ago_minor as f64);
        let rate_90 = f64::from(c.activity_90d) / 90.0;
        let rate_365 = f64::from(c.activity_365d) / 365.0;
        let declining = (then > 0.0 && now <= (1.0 - self.decline_aum_drop) * then)
            || (rate_365 > 0.0 && rate_90 < self.decline_activity_ratio * rate_365)
            || c.p_alive.is_some_and(|p| p < self.decline_p_alive);
        if declining {
            return LifecycleStage::Declining;
        }
        let growing = (then > 0.0 && now >= (1.0 + self.growth_aum_rise) * then)
            || (then <= 0.0 && now > 0.0)
            || (rate_365 > 0.0 && rate_90 > self.growth_activity_ratio * rate_365);
        if growing {
            return LifecycleStage::Growing;
        }
        if tenure >= self.loyal_min_tenure_days && c.activity_365d >= self.loyal_min_activity_365d {
            return LifecycleStage::Loyal;
        }
        LifecycleStage::Mature
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> LifecycleInput {
        LifecycleInput {
            tenure_days: Some(2000),
            days_since_last_activity: Some(5),
            activity_90d: 10,
            activity_365d: 40,
            aum_now_minor: 1_000_000,
            aum_12m_ago_minor: 1_000_000,
            p_alive: None,
            previous: None,
        }
    }

    #[test]
    fn stages_follow_the_documented_rules() {
        let cfg = LifecycleConfig::default();
        let st = |f: &dyn Fn(&mut LifecycleInput)| {
            let mut c = base();
            f(&mut c);
            cfg.evaluate(&c)
        };
        assert_eq!(st(&|_| {}), LifecycleStage::Loyal);
        assert_eq!(st(&|c| c.tenure_days = None), LifecycleStage::Prospect);
        assert_eq!(
            st(&|c| c.days_since_last_activity = Some(400)),
            LifecycleStage::Churned
        );
        assert_eq!(st(&|c| c.p_alive = Some(0.05)), LifecycleStage::Churned);
        assert_eq!(
            st(&|c| c.days_since_last_activity = Some(200)),
            LifecycleStage::Dormant
        );
        assert_eq!(
            st(&|c| c.previous = Some(LifecycleStage::Dormant)),
            LifecycleStage::WonBack
        );
        assert_eq!(st(&|c| c.tenure_days = Some(30)), LifecycleStage::New);
        assert_eq!(
            st(&|c| c.aum_now_minor = 700_000),
            LifecycleStage::Declining
        );
        assert_eq!(st(&|c| c.activity_90d = 2), LifecycleStage::Declining);
        assert_eq!(
            st(&|c| c.aum_now_minor = 1_300_000),
            LifecycleStage::Growing
        );
        assert_eq!(st(&|c| c.activity_365d = 11), LifecycleStage::Growing);
        assert_eq!(st(&|c| c.tenure_days = Some(500)), LifecycleStage::Mature);
        let cfg2: LifecycleConfig = serde_json::from_str(r#"{"dormant_after_days": 30}"#).unwrap();
        assert_eq!(cfg2.churned_after_days, 365);
    }
}
