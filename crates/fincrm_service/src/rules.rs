//! Rule sets an administrator edits: value tiers (客户分级) and lifecycle thresholds
//! (客户生命周期). Stored as numbered versions with every change in the audit trail; the
//! analytics run uses the latest version and records which one in its parameters.

use fincrm_analytics::lifecycle::LifecycleConfig;
use fincrm_analytics::tiers::{CorporateTierRules, RetailTierBands};
use fincrm_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// Value-tier rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierRules {
    /// Retail AUM bands, lowest first (大众 / 金卡 / 白金 / 私人银行 by default).
    pub retail: RetailTierBands,
    /// Corporate tiers on contribution, breadth, growth and background (firm / department /
    /// general level, from the seed documents); used once contribution data is loaded.
    pub corporate: CorporateTierRules,
    /// Days a customer must qualify for a lower tier before being moved down (no flapping).
    pub grace_days: u32,
}

impl Default for TierRules {
    fn default() -> Self {
        Self {
            retail: RetailTierBands::default(),
            corporate: CorporateTierRules::default(),
            grace_days: 90,
        }
    }
}

impl TierRules {
    /// Checks what serde cannot: at least one band, names unique and non-empty, thresholds
    /// strictly increasing.
    pub fn validate(&self) -> Result<(), String> {
        let bands = &self.retail.bands;
        if bands.is_empty() {
            return Err("retail.bands: at least one band is needed".into());
        }
        for (i, b) in bands.iter().enumerate() {
            if b.name.trim().is_empty() {
                return Err(format!("retail.bands[{i}].name is empty"));
            }
            if bands[..i].iter().any(|o| o.name == b.name) {
                return Err(format!("retail.bands[{i}].name {:?} is used twice", b.name));
            }
            if i > 0 && b.min_aum_minor <= bands[i - 1].min_aum_minor {
                return Err(format!(
                    "retail.bands[{i}].min_aum_minor must be above the band before it"
                ));
            }
            if crate::analytics::CORPORATE_TIER_NAMES.contains(&b.name.as_str()) {
                return Err(format!(
                    "retail.bands[{i}].name {:?} is a corporate tier's name",
                    b.name
                ));
            }
        }
        self.validate_corporate()
    }

    fn validate_corporate(&self) -> Result<(), String> {
        let c = &self.corporate;
        if c.dept_min_contribution_minor < 0
            || c.firm_min_contribution_minor < c.dept_min_contribution_minor
        {
            return Err("corporate: contributions must satisfy 0 ≤ dept_min_contribution_minor ≤ firm_min_contribution_minor".into());
        }
        if !(c.dept_min_growth.is_finite() && c.firm_min_growth.is_finite())
            || c.firm_min_growth < c.dept_min_growth
        {
            return Err(
                "corporate: growth thresholds must be numbers with dept_min_growth ≤ firm_min_growth"
                    .into(),
            );
        }
        if !(1..=4).contains(&c.firm_min_criteria) {
            return Err("corporate.firm_min_criteria must be 1 to 4 (of four criteria)".into());
        }
        if !(1..=2).contains(&c.dept_min_criteria) {
            return Err("corporate.dept_min_criteria must be 1 or 2 (of two criteria)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly")]

    use super::*;

    #[test]
    fn corporate_rules_that_cannot_rank_are_refused() {
        assert_eq!(TierRules::default().validate(), Ok(()));
        let mut r = TierRules::default();
        r.corporate.firm_min_criteria = 5;
        assert!(r.validate().unwrap_err().contains("firm_min_criteria"));
        let mut r = TierRules::default();
        r.corporate.firm_min_contribution_minor = r.corporate.dept_min_contribution_minor - 1;
        assert!(r.validate().unwrap_err().contains("contributions"));
        let mut r = TierRules::default();
        r.corporate.dept_min_growth = f64::NAN;
        assert!(r.validate().unwrap_err().contains("growth"));
        let mut r = TierRules::default();
        r.retail.bands[0].name = "一般".to_owned();
        assert!(r.validate().unwrap_err().contains("corporate tier"));
    }
}

/// A rule change that cannot be saved.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The rules do not parse or break a constraint.
    #[error("invalid {kind} rules: {reason}")]
    Invalid {
        /// `tiers` or `lifecycle`.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// The tier rules in force and their version (0 = the built-in defaults, never saved).
pub async fn tier_rules(store: &dyn Store) -> Result<(i64, TierRules), RulesError> {
    match store.rule_set("tiers").await? {
        Some((v, body)) => {
            serde_json::from_str(&body)
                .map(|r| (v, r))
                .map_err(|e| RulesError::Invalid {
                    kind: "tiers",
                    reason: format!("stored version {v}: {e}"),
                })
        }
        None => Ok((0, TierRules::default())),
    }
}

/// The lifecycle thresholds in force and their version (0 = defaults).
pub async fn lifecycle_rules(store: &dyn Store) -> Result<(i64, LifecycleConfig), RulesError> {
    match store.rule_set("lifecycle").await? {
        Some((v, body)) => {
            serde_json::from_str(&body)
                .map(|r| (v, r))
                .map_err(|e| RulesError::Invalid {
                    kind: "lifecycle",
                    reason: format!("stored version {v}: {e}"),
                })
        }
        None => Ok((0, LifecycleConfig::default())),
    }
}

/// Saves new tier rules (TOML or JSON text) as the next version; returns it.
pub async fn save_tier_rules(
    store: &dyn Store,
    text: &str,
    actor: &str,
) -> Result<i64, RulesError> {
    let rules: TierRules = parse("tiers", text)?;
    rules.validate().map_err(|reason| RulesError::Invalid {
        kind: "tiers",
        reason,
    })?;
    let body = serde_json::to_string(&rules).map_err(|e| RulesError::Invalid {
        kind: "tiers",
        reason: e.to_string(),
    })?;
    Ok(store.save_rule_set("tiers", &body, actor).await?)
}

/// Saves new lifecycle thresholds (TOML or JSON text) as the next version; returns it.
pub async fn save_lifecycle_rules(
    store: &dyn Store,
    text: &str,
    actor: &str,
) -> Result<i64, RulesError> {
    let rules: LifecycleConfig = parse("lifecycle", text)?;
    if rules.dormant_after_days >= rules.churned_after_days {
        return Err(RulesError::Invalid {
            kind: "lifecycle",
            reason: "dormant_after_days must be below churned_after_days".into(),
        });
    }
    let body = serde_json::to_string(&rules).map_err(|e| RulesError::Invalid {
        kind: "lifecycle",
        reason: e.to_string(),
    })?;
    Ok(store.save_rule_set("lifecycle", &body, actor).await?)
}

fn parse<T: for<'de> Deserialize<'de>>(kind: &'static str, text: &str) -> Result<T, RulesError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| RulesError::Invalid {
            kind,
            reason: e.to_string(),
        })
    } else {
        toml::from_str(text).map_err(|e| RulesError::Invalid {
            kind,
            reason: e.to_string(),
        })
    }
}
