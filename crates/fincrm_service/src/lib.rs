//! fincrm's use cases: the one place the CLI, the HTTP API, the UI and the event consumer call.
//!
//! What belongs here: workflows that combine domain rules with storage (import from core
//! banking, loading the demo bank, authentication, the customer reads and changes with their
//! data scope and audit records, analytics runs and their rules).
//! What does not: SQL (the store adapters), HTTP and terminal presentation (the http and cli
//! crates), pure rules and numerics (the domain and analytics crates).

pub mod activity;
pub mod analytics;
pub mod audit_batch;
pub mod auth;
pub mod branches;
pub mod customer_changes;
pub mod customers;
pub mod demo;
pub mod import;
pub mod merges;
pub mod privacy;
pub mod rules;
pub mod schema;
pub mod staff;
