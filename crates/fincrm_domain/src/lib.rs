//! fincrm's domain: the entities and value types every other crate uses.
//!
//! What belongs here: identifiers, money, identity documents (PRC resident ID, unified social
//! credit code, passport), phone numbers, parties (individual and corporate customers), the
//! organisation (branches, staff, coverage of customers), products and holdings, transactions,
//! interactions, relationships and consents, the masking of personal information, and the audit
//! trail's records and hash chain ([`audit`]).
//!
//! What does not: IO of any kind (no database, files, clock or network). Every input is parsed
//! into one of these types at the edge, with a [`ValidationError`] that names the field.

pub mod audit;
pub mod auth;
mod error;
pub mod identity;
pub mod ids;
pub mod interaction;
pub mod masking;
pub mod money;
pub mod org;
pub mod party;
pub mod phone;
pub mod product;
pub mod transaction;

pub use error::ValidationError;
pub use identity::{IdentityDocument, PassportNumber, ResidentId, UnifiedSocialCreditCode};
pub use ids::{BranchId, CustomerId, HoldingId, InteractionId, ProductCode, TransactionId, UserId};
pub use interaction::{
    Channel, Consent, ConsentPurpose, Interaction, Relationship, RelationshipKind,
};
pub use money::{Currency, Money, parse_decimal_minor};
pub use org::{Branch, BranchLevel, Coverage, CoverageRole, StaffRole, User};
pub use party::{
    CorporateProfile, CorporateValue, Customer, CustomerKind, CustomerStatus, Gender,
    IndividualProfile, OwnershipType, RiskTolerance,
};
pub use phone::MobilePhone;
pub use product::{Holding, HoldingStatus, Product, ProductRiskLevel, ProductType};
pub use transaction::{Direction, Transaction};
