//! Identifiers as newtypes, so a customer number is never passed where an account number belongs.
//!
//! fincrm keys its records by the identifiers the bank already uses (customer number 客户号,
//! account number 账号, transaction serial 流水号): an import of the same extract twice then
//! finds the same keys, which is what makes it idempotent.

use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest identifier accepted; core systems use 10–32 characters.
pub const MAX_ID_LEN: usize = 64;

macro_rules! code_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses an identifier: trimmed, 1–64 characters of ASCII letters, digits, `-`, `_`
            /// or `.`.
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                parse_code(raw, $field).map(Self)
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }
    };
}

fn parse_code(raw: &str, field: &'static str) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "is missing"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(ValidationError::new(
            field,
            format!("is longer than {MAX_ID_LEN} characters"),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(ValidationError::new(
            field,
            format!("contains {c:?}; only letters, digits, '-', '_' and '.' are allowed"),
        ));
    }
    Ok(s.to_owned())
}

code_id!(
    /// A customer number (客户号), the bank's key for a party.
    CustomerId, "customer_id"
);
code_id!(
    /// An account or contract number (账号 / 合同号) identifying a holding.
    HoldingId, "holding_id"
);
code_id!(
    /// A transaction serial number (流水号) from core banking.
    TransactionId, "transaction_id"
);
code_id!(
    /// An interaction's key; for imported contacts it is derived from their content.
    InteractionId, "interaction_id"
);
code_id!(
    /// A branch or sub-branch code (机构号).
    BranchId, "branch_id"
);
code_id!(
    /// A staff member's employee number (员工号).
    UserId, "user_id"
);
code_id!(
    /// A product code (产品代码) in the product catalogue.
    ProductCode, "product_code"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_trimmed_and_checked() {
        assert_eq!(
            CustomerId::parse(" P1000000000 ").unwrap().as_str(),
            "P1000000000"
        );
        assert_eq!(CustomerId::parse("").unwrap_err().field, "customer_id");
        assert!(HoldingId::parse("6222 0000").is_err());
        assert!(HoldingId::parse(&"9".repeat(65)).is_err());
        assert!(UserId::parse("RM-1_2.3").is_ok());
    }

    #[test]
    fn ids_round_trip_through_serde() {
        let id: CustomerId = serde_json::from_str("\"C2000000001\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"C2000000001\"");
        assert!(serde_json::from_str::<CustomerId>("\"a b\"").is_err());
    }
}
