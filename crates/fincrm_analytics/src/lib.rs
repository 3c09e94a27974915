//! fincrm's customer analytics: pure numerics over slices, with results returned as plain structs.
//!
//! What belongs here: transaction-log summaries (recency, frequency, monetary value, age),
//! RFM quintile scores and segments, the buy-till-you-die models (BG/NBD, Pareto/NBD, BG/BB) and
//! the Gamma-Gamma spend model with their maximum-likelihood fits, customer lifetime value,
//! k-means clustering, and the rule evaluation of corporate and retail tiers and of lifecycle
//! stages.
//!
//! What does not: IO of any kind (no files, database, clock, network or async runtime). Loading
//! the data and persisting the results is the service layer's job; every function here takes
//! slices or small config structs and returns values.
//!
//! Conventions: every fitted model works in the time unit of its input (days, weeks, ...), which
//! the caller states once in [`summary::TimeUnit`]; money is `f64` in the models and `i64` minor
//! units in the rule modules; all fits optimise the log-likelihood over the logarithms of the
//! (positive) parameters with BFGS and a final Newton polish, so they are deterministic.

mod blocks;
mod error;
mod optim;
pub mod special;

pub mod bgbb;
pub mod bgnbd;
pub mod clv;
pub mod data;
pub mod gamma_gamma;
pub mod kmeans;
pub mod lifecycle;
pub mod pareto_nbd;
pub mod rfm;
pub mod summary;
pub mod tiers;

pub use error::AnalyticsError;
pub use optim::FitDiagnostics;
