//! Customer-level inputs of the continuous-time models, compressed into weighted patterns.
//!
//! Fitting BG/NBD or Pareto/NBD on a million customers is dominated by the per-customer terms of
//! the log-likelihood. Customers with the same (frequency x, recency tₓ, age T) contribute the
//! same term, so [`RfmData`] keeps each distinct pattern once with a weight, groups the patterns
//! by x (so terms that depend on x alone are computed once per distinct x), and indexes tₓ and T
//! into a table of distinct time values (so `ln(α + t)` is computed once per distinct time).

use crate::AnalyticsError;

/// One distinct (x, tₓ, T) pattern and how many customers (or how much weight) share it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pattern {
    /// Number of repeat purchases x.
    pub frequency: u32,
    /// Time from first to last purchase, tₓ.
    pub recency: f64,
    /// Time from first purchase to the end of calibration, T.
    pub age: f64,
    /// Number of customers (or total weight) with this pattern.
    pub weight: f64,
}

/// Weighted (x, tₓ, T) patterns grouped by x, ready for the likelihood loops.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmData {
    /// Distinct frequencies, ascending.
    pub(crate) xs: Vec<u32>,
    /// Pattern index range of each x group: `bounds[g]..bounds[g + 1]`.
    pub(crate) bounds: Vec<usize>,
    /// Total weight of each x group.
    pub(crate) group_weight: Vec<f64>,
    /// Index of tₓ in `times`, per pattern.
    pub(crate) i_recency: Vec<u32>,
    /// Index of T in `times`, per pattern.
    pub(crate) i_age: Vec<u32>,
    /// Weight per pattern.
    pub(crate) weight: Vec<f64>,
    /// Distinct values of tₓ and T, ascending.
    pub(crate) times: Vec<f64>,
    total_weight: f64,
}

fn check_len(field: &'static str, len: usize, expected: usize) -> Result<(), AnalyticsError> {
    if len == expected {
        Ok(())
    } else {
        Err(AnalyticsError::invalid(
            field,
            format!("has {len} elements, expected {expected}"),
        ))
    }
}

impl RfmData {
    /// Compresses one (x, tₓ, T) triple per customer into weighted patterns.
    pub fn new(frequency: &[u32], recency: &[f64], age: &[f64]) -> Result<Self, AnalyticsError> {
        Self::build(frequency, recency, age, None)
    }

    /// Compresses weighted (x, tₓ, T) triples (for example already-aggregated patterns).
    pub fn with_weights(
        frequency: &[u32],
        recency: &[f64],
        age: &[f64],
        weights: &[f64],
    ) -> Result<Self, AnalyticsError> {
        Self::build(frequency, recency, age, Some(weights))
    }

    fn build(
        frequency: &[u32],
        recency: &[f64],
        age: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<Self, AnalyticsError> {
        let n = frequency.len();
        check_len("recency", recency.len(), n)?;
        check_len("age", age.len(), n)?;
        if let Some(w) = weights {
            check_len("weights", w.len(), n)?;
        }
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, t) = (recency[i] + 0.0, age[i] + 0.0);
            if !(tx.is_finite() && tx >= 0.0) {
                return Err(AnalyticsError::invalid(
                    "recency",
                    format!("row {i}: {tx} is not a finite non-negative number"),
                ));
            }
            if !(t.is_finite() && t >= tx) {
                return Err(AnalyticsError::invalid(
                    "age",
                    format!("row {i}: T = {t} must be finite and at least the recency {tx}"),
                ));
            }
            let w = weights.map_or(1.0, |w| w[i]);
            if !(w.is_finite() && w >= 0.0) {
                return Err(AnalyticsError::invalid(
                    "weights",
                    format!("row {i}: {w} is not a finite non-negative number"),
                ));
            }
            if w > 0.0 {
                rows.push((frequency[i], tx.to_bits(), t.to_bits(), w));
            }
        }
        if rows.is_empty() {
            return Err(AnalyticsError::NoData("no customer with a positive weight"));
        }
        // Non-negative floats order like their bit patterns.
        rows.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        rows.dedup_by(|next, kept| {
            if (next.0, next.1, next.2) == (kept.0, kept.1, kept.2) {
                kept.3 += next.3;
                true
            } else {
                false
            }
        });
        let mut time_bits: Vec<u64> = rows.iter().flat_map(|r| [r.1, r.2]).collect();
        time_bits.sort_unstable();
        time_bits.dedup();
        let index_of = |bits: u64| -> u32 {
            let i = time_bits.binary_search(&bits).unwrap_or_default();
            u32::try_from(i).unwrap_or(u32::MAX)
        };
        let mut data = Self {
            xs: Vec::new(),
            bounds: vec![0],
            group_weight: Vec::new(),
            i_recency: Vec::with_capacity(rows.len()),
            i_age: Vec::with_capacity(rows.len()),
            weight: Vec::with_capacity(rows.len()),
            times: time_bits.iter().map(|&b| f64::from_bits(b)).collect(),
            total_weight: 0.0,
        };
        for (k, r) in rows.iter().enumerate() {
            if data.xs.last() != Some(&r.0) {
                if k > 0 {
                    data.bounds.push(k);
                }
                data.xs.push(r.0);
                data.group_weight.push(0.0);
            }
            data.i_recency.push(index_of(r.1));
            data.i_age.push(index_of(r.2));
            data.weight.push(r.3);
            if let Some(gw) = data.group_weight.last_mut() {
                *gw += r.3;
            }
            data.total_weight += r.3;
        }
        data.bounds.push(rows.len());
        Ok(data)
    }

    /// Number of distinct patterns.
    pub fn n_patterns(&self) -> usize {
        self.weight.len()
    }

    /// Sum of the weights (the number of customers when unweighted).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// The distinct patterns, ordered by (x, tₓ, T).
    pub fn patterns(&self) -> impl Iterator<Item = Pattern> + '_ {
        self.xs.iter().enumerate().flat_map(move |(g, &x)| {
            (self.bounds[g]..self.bounds[g + 1]).map(move |k| Pattern {
                frequency: x,
                recency: self.times[self.i_recency[k] as usize],
                age: self.times[self.i_age[k] as usize],
                weight: self.weight[k],
            })
        })
    }

    /// Iterates x groups as (x, group weight, pattern index range).
    pub(crate) fn groups(&self) -> impl Iterator<Item = (u32, f64, std::ops::Range<usize>)> + '_ {
        self.xs
            .iter()
            .enumerate()
            .map(|(g, &x)| (x, self.group_weight[g], self.bounds[g]..self.bounds[g + 1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_customers_collapse_into_one_weighted_pattern() {
        let d = RfmData::new(&[2, 0, 2, 0], &[3.0, 0.0, 3.0, 0.0], &[5.0, 5.0, 5.0, 4.0]).unwrap();
        let p: Vec<Pattern> = d.patterns().collect();
        assert_eq!(p.len(), 3);
        assert!((p[2].weight - 2.0).abs() < 1e-15);
        assert!((d.total_weight() - 4.0).abs() < 1e-15);
        assert_eq!(d.times, vec![0.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn recency_beyond_age_is_rejected() {
        assert!(RfmData::new(&[1], &[6.0], &[5.0]).is_err());
    }
}
