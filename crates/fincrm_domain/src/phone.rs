//! Mobile phone numbers of mainland China, normalised to 11 digits.

use crate::{ValidationError, masking};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A mainland China mobile number, stored as 11 digits starting with `1[3-9]`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MobilePhone(String);

impl MobilePhone {
    /// Parses a mobile number written as `13812345678`, `+86 138 1234 5678`, `0086-138-1234-5678`
    /// or `(+86)138-1234-5678`: spaces, dashes, dots and parentheses are dropped, and a `+86` or
    /// `0086` prefix is removed.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let field = "phone";
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        for c in raw.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() && !plus => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{3000}' => {}
                _ => return Err(ValidationError::new(field, format!("contains {c:?}"))),
            }
        }
        if digits.is_empty() {
            return Err(ValidationError::new(field, "is missing"));
        }
        let national = if plus {
            digits.strip_prefix("86").ok_or_else(|| {
                ValidationError::new(
                    field,
                    "only mainland China (+86) mobile numbers are accepted",
                )
            })?
        } else if let Some(rest) = digits.strip_prefix("0086") {
            rest
        } else if digits.len() == 13 {
            digits.strip_prefix("86").unwrap_or(&digits)
        } else {
            &digits
        };
        let b = national.as_bytes();
        if b.len() != 11 || b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(ValidationError::new(
                field,
                "must be an 11-digit mainland mobile number starting with 13–19",
            ));
        }
        Ok(Self(national.to_owned()))
    }

    /// The 11 digits (unmasked: handle as personal information).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form shown by default: `138****5678`.
    pub fn masked(&self) -> String {
        masking::mask_phone(&self.0)
    }
}

impl fmt::Debug for MobilePhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MobilePhone({})", self.masked())
    }
}

impl TryFrom<String> for MobilePhone {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<MobilePhone> for String {
    fn from(p: MobilePhone) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_forms_of_one_number_normalise_alike() {
        for raw in [
            "13812345678",
            "+86 138 1234 5678",
            "138-1234-5678",
            "0086 13812345678",
            "(+86)138-1234-5678",
            "8613812345678",
        ] {
            assert_eq!(
                MobilePhone::parse(raw).unwrap().expose(),
                "13812345678",
                "{raw}"
            );
        }
    }

    #[test]
    fn non_mobile_numbers_are_rejected() {
        for raw in [
            "",
            "12812345678",
            "1381234567",
            "+1 415 555 0100",
            "138x1234x5678",
            "010-12345678",
        ] {
            assert!(MobilePhone::parse(raw).is_err(), "{raw}");
        }
    }
}
