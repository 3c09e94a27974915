//! The crate's one error type.

/// Why an analytics computation could not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalyticsError {
    /// An input slice or config value is invalid; `field` names it.
    #[error("invalid input `{field}`: {reason}")]
    InvalidInput {
        /// The argument or field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// There is nothing to fit or summarise (no customers, or zero total weight).
    #[error("no data: {0}")]
    NoData(&'static str),
    /// The optimiser did not reach a finite optimum.
    #[error("fit failed: {0}")]
    FitFailed(String),
}

impl AnalyticsError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
