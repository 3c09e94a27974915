//! Identity documents, validated on parse: PRC resident ID (GB 11643), unified social credit
//! code (GB 32100) and passports.
//!
//! `Debug` prints these masked, so a stray `{:?}` in a log line never leaks one.

use crate::{ValidationError, masking};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Weights of GB 11643-1999 for the 17 body digits: 2^(17-i) mod 11.
const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each value of the weighted sum mod 11.
const RESIDENT_ID_CHECK: [u8; 11] = *b"10X98765432";

/// An 18-character PRC resident identity card number (居民身份证号码) with a valid GB 11643 check
/// character and a real birth date inside.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResidentId(String);

impl ResidentId {
    /// Parses a resident ID: trims it, upper-cases a final `x`, and checks length, digits, the
    /// embedded birth date and the check character.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let field = "id_number";
        let s = raw.trim().to_ascii_uppercase();
        if s.is_empty() {
            return Err(ValidationError::new(field, "is missing"));
        }
        let bytes = s.as_bytes();
        if bytes.len() != 18 {
            return Err(ValidationError::new(
                field,
                format!("must have 18 characters, has {}", s.chars().count()),
            ));
        }
        if !bytes[..17].iter().all(u8::is_ascii_digit) {
            return Err(ValidationError::new(
                field,
                "the first 17 characters must be digits",
            ));
        }
        if bytes[0] == b'0' {
            return Err(ValidationError::new(
                field,
                "region code cannot start with 0",
            ));
        }
        let last = bytes[17];
        if !(last.is_ascii_digit() || last == b'X') {
            return Err(ValidationError::new(
                field,
                "the last character must be a digit or X",
            ));
        }
        birth_date_of(&s).ok_or_else(|| {
            ValidationError::new(
                field,
                "embedded birth date (characters 7–14) is not a valid date",
            )
        })?;
        let sum: u32 = bytes[..17]
            .iter()
            .zip(RESIDENT_ID_WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        if RESIDENT_ID_CHECK[(sum % 11) as usize] != last {
            return Err(ValidationError::new(
                field,
                "check digit does not match (GB 11643)",
            ));
        }
        Ok(Self(s))
    }

    /// The number as text (unmasked: handle as personal information).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The birth date embedded in characters 7–14.
    pub fn birth_date(&self) -> NaiveDate {
        birth_date_of(&self.0).unwrap_or(NaiveDate::MIN)
    }

    /// Sex from the 17th digit: odd for male, even for female.
    pub fn is_male(&self) -> bool {
        (self.0.as_bytes()[16] - b'0') % 2 == 1
    }

    /// The masked form shown by default (last 4 only).
    pub fn masked(&self) -> String {
        masking::mask_id_number(&self.0)
    }
}

fn birth_date_of(s: &str) -> Option<NaiveDate> {
    let y: i32 = s.get(6..10)?.parse().ok()?;
    let m: u32 = s.get(10..12)?.parse().ok()?;
    let d: u32 = s.get(12..14)?.parse().ok()?;
    if y < 1850 {
        return None;
    }
    NaiveDate::from_ymd_opt(y, m, d)
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({})", self.masked())
    }
}

impl TryFrom<String> for ResidentId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ResidentId> for String {
    fn from(id: ResidentId) -> String {
        id.0
    }
}

/// The 31 characters GB 32100-2015 allows (no I, O, S, V, Z), in check-value order.
const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of GB 32100-2015: 3^(i-1) mod 31.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// An 18-character unified social credit code (统一社会信用代码) with a valid GB 32100 check
/// character.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnifiedSocialCreditCode(String);

impl UnifiedSocialCreditCode {
    /// Parses a credit code: trims and upper-cases it, then checks the character set, the region
    /// digits and the check character.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let field = "uscc";
        let s = raw.trim().to_ascii_uppercase();
        if s.is_empty() {
            return Err(ValidationError::new(field, "is missing"));
        }
        let bytes = s.as_bytes();
        if bytes.len() != 18 {
            return Err(ValidationError::new(
                field,
                format!("must have 18 characters, has {}", s.chars().count()),
            ));
        }
        let mut values = [0u32; 18];
        for (i, b) in bytes.iter().enumerate() {
            let Some(v) = USCC_CHARSET.iter().position(|c| c == b) else {
                return Err(ValidationError::new(
                    field,
                    format!("character {} is not allowed by GB 32100", i + 1),
                ));
            };
            values[i] = u32::try_from(v).unwrap_or(0);
        }
        if !bytes[2..8].iter().all(u8::is_ascii_digit) {
            return Err(ValidationError::new(
                field,
                "characters 3–8 must be a region code",
            ));
        }
        let sum: u32 = values[..17]
            .iter()
            .zip(USCC_WEIGHTS)
            .map(|(v, w)| v * w)
            .sum();
        let check = (31 - sum % 31) % 31;
        if values[17] != check {
            return Err(ValidationError::new(
                field,
                "check character does not match (GB 32100)",
            ));
        }
        Ok(Self(s))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UnifiedSocialCreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnifiedSocialCreditCode({})", self.0)
    }
}

impl TryFrom<String> for UnifiedSocialCreditCode {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<UnifiedSocialCreditCode> for String {
    fn from(c: UnifiedSocialCreditCode) -> String {
        c.0
    }
}

/// A passport number: 5–20 ASCII letters and digits (PRC passports are `E` or `G` + 8 digits;
/// foreign ones vary, so only the shape is checked).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PassportNumber(String);

impl PassportNumber {
    /// Parses a passport number, trimmed and upper-cased.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim().to_ascii_uppercase();
        if !(5..=20).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ValidationError::new(
                "passport_number",
                "must be 5–20 letters and digits",
            ));
        }
        Ok(Self(s))
    }

    /// The number as text (unmasked: handle as personal information).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PassportNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PassportNumber({})", masking::mask_tail(&self.0, 4))
    }
}

impl TryFrom<String> for PassportNumber {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PassportNumber> for String {
    fn from(p: PassportNumber) -> String {
        p.0
    }
}

/// An identity document of a party.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "number", rename_all = "snake_case")]
pub enum IdentityDocument {
    /// PRC resident identity card (身份证).
    ResidentId(ResidentId),
    /// Passport (护照), with its issuing country when known.
    Passport(PassportNumber),
    /// Unified social credit code of an organisation (统一社会信用代码).
    Uscc(UnifiedSocialCreditCode),
}

impl IdentityDocument {
    /// The document type as stored: `resident_id`, `passport` or `uscc`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ResidentId(_) => "resident_id",
            Self::Passport(_) => "passport",
            Self::Uscc(_) => "uscc",
        }
    }

    /// The number, unmasked.
    pub fn expose(&self) -> &str {
        match self {
            Self::ResidentId(id) => id.expose(),
            Self::Passport(p) => p.expose(),
            Self::Uscc(c) => c.as_str(),
        }
    }

    /// Rebuilds a document from its stored kind and number.
    pub fn from_parts(kind: &str, number: &str) -> Result<Self, ValidationError> {
        match kind {
            "resident_id" => ResidentId::parse(number).map(Self::ResidentId),
            "passport" => PassportNumber::parse(number).map(Self::Passport),
            "uscc" => UnifiedSocialCreditCode::parse(number).map(Self::Uscc),
            other => Err(ValidationError::new(
                "id_type",
                format!("unknown document type {other:?}; expected resident_id, passport or uscc"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_resident_ids_parse_with_birth_date_and_sex() {
        let id = ResidentId::parse("500103195701208679").unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1957, 1, 20).unwrap()
        );
        assert!(id.is_male());
        // A lower-case x check character is normalised.
        let x = ResidentId::parse("11010519510513022x").unwrap();
        assert_eq!(x.expose(), "11010519510513022X");
        assert!(!x.is_male());
    }

    #[test]
    fn resident_ids_with_any_defect_are_rejected() {
        let cases = [
            ("500103195701208670", "check digit"),
            ("50010319570120867", "18 characters"),
            ("5001031957012086A9", "first 17"),
            ("500103195702308672", "birth date"),
            ("", "missing"),
            ("000103195701208679", "region"),
        ];
        for (raw, needle) in cases {
            let err = ResidentId::parse(raw).unwrap_err();
            assert_eq!(err.field, "id_number");
            assert!(err.reason.contains(needle), "{raw}: {}", err.reason);
        }
    }

    #[test]
    fn debug_of_a_resident_id_is_masked() {
        let id = ResidentId::parse("500103195701208679").unwrap();
        let shown = format!("{id:?}");
        assert!(!shown.contains("19570120"), "{shown}");
        assert!(shown.ends_with("8679)"));
    }

    #[test]
    fn credit_codes_are_checked_against_gb_32100() {
        for ok in [
            "9111010181AE80E49E",
            "12330106059EF7G78W",
            "91500103364F1807X6",
        ] {
            assert!(UnifiedSocialCreditCode::parse(ok).is_ok(), "{ok}");
        }
        assert!(UnifiedSocialCreditCode::parse("9111010181ae80e49e").is_ok());
        let err = UnifiedSocialCreditCode::parse("9111010181AE80E49F").unwrap_err();
        assert!(err.reason.contains("check character"));
        assert!(UnifiedSocialCreditCode::parse("9111010181AE80E4IE").is_err());
    }

    #[test]
    fn documents_round_trip_through_kind_and_number() {
        let doc = IdentityDocument::from_parts("passport", "e12345678").unwrap();
        assert_eq!(doc.kind(), "passport");
        assert_eq!(doc.expose(), "E12345678");
        assert!(IdentityDocument::from_parts("driving_licence", "1").is_err());
    }
}
