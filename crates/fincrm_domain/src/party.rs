//! Parties: individual (个人客户) and corporate (对公客户) customers.

use crate::{
    BranchId, CustomerId, IdentityDocument, MobilePhone, Money, UnifiedSocialCreditCode, UserId,
    ValidationError,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Parses a name (of a person or a firm): trimmed, internal runs of whitespace collapsed, 1–200
/// characters, no control characters.
pub fn parse_name(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let collapsed: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return Err(ValidationError::new(field, "is missing"));
    }
    if collapsed.chars().count() > MAX_NAME_CHARS {
        return Err(ValidationError::new(
            field,
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if collapsed.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "contains control characters"));
    }
    Ok(collapsed)
}

/// A customer's risk tolerance level (风险承受能力), C1 (conservative) to C5 (aggressive), matched
/// against product risk levels R1–R5 in suitability checks (适当性管理).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RiskTolerance(u8);

impl RiskTolerance {
    /// The level from its number 1–5.
    pub fn new(level: u8) -> Result<Self, ValidationError> {
        if (1..=5).contains(&level) {
            Ok(Self(level))
        } else {
            Err(ValidationError::new("risk_tolerance", "must be C1–C5"))
        }
    }

    /// Parses `C1`–`C5` (also `c3` or `3`). A source's own words (保守型…) are mapped by the import
    /// mapping, not here.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        let digits = s.strip_prefix(['C', 'c']).unwrap_or(s);
        match digits.parse::<u8>() {
            Ok(n) => Self::new(n),
            Err(_) => Err(ValidationError::new(
                "risk_tolerance",
                format!("{s:?} is not a risk level; expected C1–C5"),
            )),
        }
    }

    /// The level as a number 1–5.
    pub fn level(self) -> u8 {
        self.0
    }

    /// Whether a product of risk level `product` may be sold to this customer: its level must
    /// not exceed the customer's tolerance.
    pub fn suits(self, product: crate::ProductRiskLevel) -> bool {
        product.level() <= self.0
    }
}

impl fmt::Display for RiskTolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "C{}", self.0)
    }
}

impl TryFrom<String> for RiskTolerance {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RiskTolerance> for String {
    fn from(r: RiskTolerance) -> String {
        r.to_string()
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        // Serde uses the same text as `as_str` (and the database, and the OpenAPI document):
        // a derived case conversion would turn `WeChat` into `we_chat`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialised form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the stored form (as produced by [`Self::as_str`]).
            pub fn parse(raw: &str) -> Result<Self, $crate::ValidationError> {
                let s = raw.trim();
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::ValidationError::new(
                        $field,
                        format!(
                            "{s:?} is not one of: {}",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// Whether a party is a person or an organisation.
    CustomerKind, "kind" {
        /// 个人客户.
        Individual = "individual",
        /// 对公客户.
        Corporate = "corporate",
    }
);

string_enum!(
    /// Where a customer stands with the bank (not the lifecycle stage, which analytics computes).
    CustomerStatus, "status" {
        /// Holds or held products.
        Active = "active",
        /// Known to the bank but not yet a customer (潜在客户).
        Prospect = "prospect",
        /// All relationships closed.
        Closed = "closed",
        /// Merged into another record; kept for lineage.
        Merged = "merged",
    }
);

string_enum!(
    /// Sex as recorded on the identity document.
    Gender, "gender" {
        /// 男.
        Male = "male",
        /// 女.
        Female = "female",
    }
);

string_enum!(
    /// Ownership type of a corporate (企业性质).
    OwnershipType, "ownership" {
        /// 国有.
        StateOwned = "state_owned",
        /// 民营 / 私营.
        Private = "private",
        /// 外资 / 合资.
        Foreign = "foreign",
        /// 集体.
        Collective = "collective",
        /// 个体工商户.
        IndividualBusiness = "individual_business",
        /// 事业单位 / 社会组织 and others.
        Other = "other",
    }
);

/// Facts about an individual customer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IndividualProfile {
    /// Gender.
    pub gender: Option<Gender>,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
    /// Occupation (职业), free text.
    pub occupation: Option<String>,
}

/// Facts about a corporate customer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CorporateProfile {
    /// Unified social credit code.
    pub uscc: Option<UnifiedSocialCreditCode>,
    /// Ownership type.
    pub ownership: Option<OwnershipType>,
    /// Industry code (GB/T 4754, e.g. `C39`).
    pub industry_code: Option<String>,
    /// Registered capital.
    pub registered_capital: Option<Money>,
    /// Date of establishment.
    pub founded_on: Option<NaiveDate>,
    /// The group parent (集团客户), when the firm belongs to a corporate group.
    pub group_parent: Option<CustomerId>,
}

/// A corporate customer's value to the bank as its management accounting reports it (the
/// nightly extract carries it): what the corporate tier rules (客户分级, seed 001) look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorporateValue {
    /// The corporate customer.
    pub customer_id: CustomerId,
    /// Average yearly contribution (revenue to the bank) over the past years (历史贡献额).
    pub avg_yearly_contribution: Money,
    /// Forecast yearly growth of the contribution in basis points, 1500 = 15 % (未来的潜力).
    pub contribution_growth_bp: i32,
    /// How many of the bank's departments serve the client (业务综合性).
    pub departments_used: u32,
    /// A special background: government relationship, key technology (客户的背景).
    pub special_background: bool,
}

/// A customer: an individual or a corporate, with the facts the CRM keeps on both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Customer number.
    pub id: CustomerId,
    /// Individual or corporate.
    pub kind: CustomerKind,
    /// Legal name (Chinese script for most customers).
    pub name: String,
    /// Name in Latin script (pinyin or foreign name), when known.
    pub name_latin: Option<String>,
    /// Identity document (resident ID or passport for individuals, credit code for corporates).
    pub document: Option<IdentityDocument>,
    /// Mobile phone.
    pub phone: Option<MobilePhone>,
    /// E-mail address.
    pub email: Option<String>,
    /// Contact address.
    pub address: Option<String>,
    /// Home branch (开户机构).
    pub branch_id: Option<BranchId>,
    /// Primary relationship manager.
    pub primary_rm: Option<UserId>,
    /// Risk tolerance (KYC).
    pub risk_tolerance: Option<RiskTolerance>,
    /// Date the relationship began.
    pub opened_on: Option<NaiveDate>,
    /// Status.
    pub status: CustomerStatus,
    /// Individual facts (for individuals).
    pub individual: Option<IndividualProfile>,
    /// Corporate facts (for corporates).
    pub corporate: Option<CorporateProfile>,
    /// Free tags.
    pub tags: Vec<String>,
    /// The record this one was merged into (a duplicate; reversible): set by a merge only,
    /// never by an import, so the lineage survives the nightly extract.
    pub merged_into: Option<CustomerId>,
}

impl Customer {
    /// A new active individual with only the required facts set.
    pub fn individual(id: CustomerId, name: String) -> Self {
        Self::empty(id, CustomerKind::Individual, name)
    }

    /// A new active corporate with only the required facts set.
    pub fn corporate(id: CustomerId, name: String) -> Self {
        Self::empty(id, CustomerKind::Corporate, name)
    }

    fn empty(id: CustomerId, kind: CustomerKind, name: String) -> Self {
        Self {
            id,
            kind,
            name,
            name_latin: None,
            document: None,
            phone: None,
            email: None,
            address: None,
            branch_id: None,
            primary_rm: None,
            risk_tolerance: None,
            opened_on: None,
            status: CustomerStatus::Active,
            individual: (kind == CustomerKind::Individual).then(IndividualProfile::default),
            corporate: (kind == CustomerKind::Corporate).then(CorporateProfile::default),
            tags: Vec::new(),
            merged_into: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProductRiskLevel;

    #[test]
    fn names_are_trimmed_and_required() {
        assert_eq!(parse_name("name", "  张 三 ").unwrap(), "张 三");
        assert_eq!(parse_name("name", " \t").unwrap_err().reason, "is missing");
        assert!(parse_name("name", &"王".repeat(201)).is_err());
    }

    #[test]
    fn suitability_compares_tolerance_with_product_risk() {
        let c3 = RiskTolerance::parse("C3").unwrap();
        assert!(c3.suits(ProductRiskLevel::new(3).unwrap()));
        assert!(!c3.suits(ProductRiskLevel::new(4).unwrap()));
        assert!(RiskTolerance::parse("C6").is_err());
        assert_eq!(RiskTolerance::parse("4").unwrap().to_string(), "C4");
    }

    #[test]
    fn enums_parse_their_stored_form_only() {
        assert_eq!(
            OwnershipType::parse("state_owned"),
            Ok(OwnershipType::StateOwned)
        );
        let err = OwnershipType::parse("国有").unwrap_err();
        assert!(err.reason.contains("state_owned"));
    }
}
