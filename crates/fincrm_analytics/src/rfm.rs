//! RFM quintile scores (1..=5) and named RFM segments.
//!
//! Scoring rule, as `pandas.qcut(s.rank(method="first"), 5, labels=[1, 2, 3, 4, 5])`: values
//! are ranked 1..=n with ties broken by input order (so equal values may land in different
//! quintiles, and every bin holds n/5 customers ± 1), then rank k gets the smallest score j
//! with k ≤ 1 + (n − 1)·j/5. Frequency and monetary score high for high values; recency is
//! days since the last purchase, so it is ranked on its negation (most recent = 5).
//!
//! Segments map the R score and FM = round-half-up((F + M) / 2), a widely used table:
//!
//! | segment | R | FM |
//! |---|---|---|
//! | champions | 5 | 4–5 |
//! | loyal | 3–4 | 4–5 |
//! | potential loyalist | 4–5 | 2–3 |
//! | new | 5 | 1 |
//! | promising | 4 | 1 |
//! | need attention | 3 | 3 |
//! | about to sleep | 3 | 1–2 |
//! | at risk | 1–2 | 3–4 |
//! | can't lose | 1–2 | 5 |
//! | hibernating | 1–2 | 1–2, except (1, 1) |
//! | lost | 1 | 1 |

use serde::{Deserialize, Serialize};

use crate::AnalyticsError;

/// A customer's three quintile scores, each 1..=5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RfmScore {
    /// Recency score (5 = most recent).
    pub r: u8,
    /// Frequency score (5 = most frequent).
    pub f: u8,
    /// Monetary score (5 = highest spend).
    pub m: u8,
}

/// Named RFM segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RfmSegment {
    /// Bought recently, buy often and spend the most.
    Champions,
    /// Spend well and often, fairly recent.
    Loyal,
    /// Recent customers with average frequency and spend.
    PotentialLoyalist,
    /// Bought very recently, not often.
    New,
    /// Recent but low frequency and spend.
    Promising,
    /// Average on all three.
    NeedAttention,
    /// Middling recency, low frequency and spend.
    AboutToSleep,
    /// Spent well, but long ago.
    AtRisk,
    /// Were among the best, long ago.
    CantLose,
    /// Long ago, low frequency and spend.
    Hibernating,
    /// Lowest on everything.
    Lost,
}

impl RfmSegment {
    /// Every segment, in the module table's order.
    pub const ALL: [Self; 11] = [
        Self::Champions,
        Self::Loyal,
        Self::PotentialLoyalist,
        Self::New,
        Self::Promising,
        Self::NeedAttention,
        Self::AboutToSleep,
        Self::AtRisk,
        Self::CantLose,
        Self::Hibernating,
        Self::Lost,
    ];

    /// The segment's name as it is serialised (`snake_case`), without going through serde: the
    /// analytics run names a million customers' segments.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Champions => "champions",
            Self::Loyal => "loyal",
            Self::PotentialLoyalist => "potential_loyalist",
            Self::New => "new",
            Self::Promising => "promising",
            Self::NeedAttention => "need_attention",
            Self::AboutToSleep => "about_to_sleep",
            Self::AtRisk => "at_risk",
            Self::CantLose => "cant_lose",
            Self::Hibernating => "hibernating",
            Self::Lost => "lost",
        }
    }
}

impl RfmScore {
    /// The combined frequency-monetary score, round-half-up of the mean of F and M.
    pub fn fm(&self) -> u8 {
        (self.f + self.m).div_ceil(2)
    }

    /// The segment of this score (see the module table).
    pub fn segment(&self) -> RfmSegment {
        match (self.r, self.fm()) {
            (5, 4..=5) => RfmSegment::Champions,
            (3..=4, 4..=5) => RfmSegment::Loyal,
            (4..=5, 2..=3) => RfmSegment::PotentialLoyalist,
            (5, _) => RfmSegment::New,
            (4, _) => RfmSegment::Promising,
            (3, 3) => RfmSegment::NeedAttention,
            (3, _) => RfmSegment::AboutToSleep,
            (1..=2, 5) => RfmSegment::CantLose,
            (1..=2, 3..=4) => RfmSegment::AtRisk,
            (1, 1) => RfmSegment::Lost,
            _ => RfmSegment::Hibernating,
        }
    }
}

/// Quintile scores 1..=5 of `values` (higher value → higher score), ties by input order.
pub fn quintile_scores(values: &[f64]) -> Result<Vec<u8>, AnalyticsError> {
    if let Some(i) = values.iter().position(|v| v.is_nan()) {
        return Err(AnalyticsError::invalid("values", format!("row {i} is NaN")));
    }
    let n = values.len();
    let mut order: Vec<u32> = (0..u32::try_from(n)
        .map_err(|_| AnalyticsError::invalid("values", "more than 2^32 customers"))?)
        .collect();
    // Stable sort: equal values keep input order, which is rank(method="first").
    order.sort_by(|&a, &b| values[a as usize].total_cmp(&values[b as usize]));
    let mut scores = vec![0_u8; n];
    let span = (n as f64 - 1.0).max(0.0);
    for (pos, &i) in order.iter().enumerate() {
        let rank = pos as f64 + 1.0;
        // Smallest j with rank ≤ 1 + span·j/5 (pandas' right-closed bins, lowest included).
        let mut j = 1_u8;
        while j < 5 && rank > 1.0 + span * f64::from(j) / 5.0 {
            j += 1;
        }
        scores[i as usize] = j;
    }
    Ok(scores)
}

/// RFM scores of each customer from days since last purchase, frequency and monetary value.
pub fn rfm_scores(
    days_since_last: &[f64],
    frequency: &[f64],
    monetary: &[f64],
) -> Result<Vec<RfmScore>, AnalyticsError> {
    let n = days_since_last.len();
    if frequency.len() != n || monetary.len() != n {
        return Err(AnalyticsError::invalid(
            "frequency",
            "slices differ in length",
        ));
    }
    let neg: Vec<f64> = days_since_last.iter().map(|v| -v).collect();
    let r = quintile_scores(&neg)?;
    let f = quintile_scores(frequency)?;
    let m = quintile_scores(monetary)?;
    Ok((0..n)
        .map(|i| RfmScore {
            r: r[i],
            f: f[i],
            m: m[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_their_serialised_names_and_every_score_has_one() {
        for segment in RfmSegment::ALL {
            let serialised = serde_json::to_value(segment).expect("a unit variant serialises");
            assert_eq!(serialised.as_str(), Some(segment.as_str()));
        }
        let mut seen = std::collections::HashSet::new();
        for (r, f, m) in every_score() {
            seen.insert(RfmScore { r, f, m }.segment());
        }
        assert_eq!(
            seen.len(),
            RfmSegment::ALL.len(),
            "every segment is reachable"
        );
        assert!(seen.iter().all(|s| RfmSegment::ALL.contains(s)));
    }

    /// Every (R, F, M) of 1..=5.
    fn every_score() -> impl Iterator<Item = (u8, u8, u8)> {
        (1..=5).flat_map(|r| (1..=5).flat_map(move |f| (1..=5).map(move |m| (r, f, m))))
    }

    #[test]
    fn quintiles_follow_pandas_qcut_on_first_ranks() {
        // pandas: qcut(Series([3,1,2,2,5,4,4,4,0,9]).rank(method="first"), 5, labels=1..5)
        let v = [3.0, 1.0, 2.0, 2.0, 5.0, 4.0, 4.0, 4.0, 0.0, 9.0];
        assert_eq!(
            quintile_scores(&v).unwrap(),
            vec![3, 1, 2, 2, 5, 3, 4, 4, 1, 5]
        );
        assert_eq!(quintile_scores(&[7.0]).unwrap(), vec![1]);
        assert!(quintile_scores(&[]).unwrap().is_empty());
    }

    #[test]
    fn segments_cover_the_table() {
        let s = |r, f, m| RfmScore { r, f, m }.segment();
        assert_eq!(s(5, 5, 4), RfmSegment::Champions);
        assert_eq!(s(1, 1, 1), RfmSegment::Lost);
        assert_eq!(s(1, 2, 1), RfmSegment::Hibernating);
        assert_eq!(s(2, 5, 5), RfmSegment::CantLose);
        assert_eq!(s(2, 3, 4), RfmSegment::AtRisk);
        assert_eq!(s(3, 3, 3), RfmSegment::NeedAttention);
        assert_eq!(s(5, 1, 1), RfmSegment::New);
        assert_eq!(s(4, 1, 1), RfmSegment::Promising);
        assert_eq!(s(4, 2, 3), RfmSegment::PotentialLoyalist);
        assert_eq!(s(3, 1, 2), RfmSegment::AboutToSleep);
        assert_eq!(s(4, 4, 5), RfmSegment::Loyal);
    }
}
