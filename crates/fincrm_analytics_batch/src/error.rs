//! The crate's error type: every way a file or an argument can be wrong, with enough context
//! (path, line, column, value) to fix the input without a debugger.

use std::path::PathBuf;

use chrono::NaiveDate;

/// Why [`crate::fit`] (or the readers it uses) could not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The transaction file does not exist or cannot be opened.
    #[error("cannot open transactions file {}: {source}", path.display())]
    Open {
        /// The path as given.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading or CSV-decoding failed part way (IO error, ragged row, ...).
    #[error("cannot read {} at line {line}: {source}", path.display())]
    Read {
        /// The path as given.
        path: PathBuf,
        /// 1-based line number in the file (the header is line 1), 0 if unknown.
        line: u64,
        /// The underlying CSV or IO error.
        source: csv::Error,
    },
    /// A column named in the arguments is not in the header.
    #[error("column `{column}` not found in {}; the header is: {}", path.display(), header.join(", "))]
    MissingColumn {
        /// The path as given.
        path: PathBuf,
        /// The column that was asked for.
        column: String,
        /// The file's header, as read.
        header: Vec<String>,
    },
    /// A customer id cell is empty.
    #[error("line {line}: empty customer id in column `{column}`")]
    EmptyCustomerId {
        /// 1-based line number.
        line: u64,
        /// The customer column.
        column: String,
    },
    /// A date cell could not be parsed.
    #[error("line {line}: cannot parse date `{value}` in column `{column}` ({expected})")]
    BadDate {
        /// 1-based line number.
        line: u64,
        /// The date column.
        column: String,
        /// The cell, lossily decoded.
        value: String,
        /// The accepted format(s).
        expected: String,
    },
    /// An amount cell could not be parsed, or is negative or not finite.
    #[error("line {line}: invalid amount `{value}` in column `{column}`: {reason}")]
    BadAmount {
        /// 1-based line number.
        line: u64,
        /// The amount column.
        column: String,
        /// The cell, lossily decoded.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More distinct customers than the dense `u32` index can hold.
    #[error("more than {} distinct customers", u32::MAX)]
    TooManyCustomers,
    /// No transaction falls on or before the calibration end.
    #[error(
        "no customer has a transaction on or before the calibration end {calibration_end} \
         ({rows} data rows read{})",
        first_date.map(|d| format!(", the earliest is {d}")).unwrap_or_default()
    )]
    NoCustomers {
        /// The calibration end asked for.
        calibration_end: NaiveDate,
        /// Number of data rows in the file.
        rows: u64,
        /// The earliest date in the file, if any row was read.
        first_date: Option<NaiveDate>,
    },
    /// An argument is out of range or inconsistent with the others.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument (CLI flag name without dashes).
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The data cannot be fitted by the model (for example no repeat buyer for Gamma-Gamma).
    #[error("cannot fit {model}: {reason}")]
    Unfittable {
        /// The model (`bgnbd`, `pnbd`, `gg`, `bgbb`).
        model: &'static str,
        /// Why.
        reason: String,
    },
    /// The optimiser stopped without reaching a maximum of the likelihood.
    #[error("{model} fit did not converge: {reason}")]
    NotConverged {
        /// The model (`bgnbd`, `pnbd`, `gg`, `bgbb`).
        model: &'static str,
        /// Iterations, gradient norm, or the optimiser's own message.
        reason: String,
    },
    /// Writing the per-customer output failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The output path.
        path: PathBuf,
        /// The underlying error.
        source: csv::Error,
    },
}

impl FitError {
    pub(crate) fn invalid_argument(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            name,
            reason: reason.into(),
        }
    }
}
