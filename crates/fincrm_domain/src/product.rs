//! The product catalogue and customers' holdings of products.

use crate::{CustomerId, HoldingId, Money, ProductCode, ValidationError, party::string_enum};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

string_enum!(
    /// The kinds of product a bank or insurer sells.
    ProductType, "product_type" {
        /// 存款.
        Deposit = "deposit",
        /// 贷款.
        Loan = "loan",
        /// 信用卡.
        CreditCard = "credit_card",
        /// 理财.
        WealthManagement = "wealth_management",
        /// 基金.
        Fund = "fund",
        /// 保险.
        Insurance = "insurance",
    }
);

impl ProductType {
    /// Whether a positive balance of this product is a liability of the customer (money they
    /// owe) rather than an asset counted in AUM.
    pub fn is_credit(self) -> bool {
        matches!(self, Self::Loan | Self::CreditCard)
    }
}

/// A product's risk level R1 (lowest) to R5, as banks label wealth products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductRiskLevel(u8);

impl ProductRiskLevel {
    /// The level from its number 1–5.
    pub fn new(level: u8) -> Result<Self, ValidationError> {
        if (1..=5).contains(&level) {
            Ok(Self(level))
        } else {
            Err(ValidationError::new("risk_level", "must be R1–R5"))
        }
    }

    /// Parses `R1`–`R5` (or `1`–`5`).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        let digits = s.strip_prefix(['R', 'r']).unwrap_or(s);
        digits
            .parse::<u8>()
            .map_err(|_| ValidationError::new("risk_level", "must be R1–R5"))
            .and_then(Self::new)
    }

    /// The level as a number 1–5.
    pub fn level(self) -> u8 {
        self.0
    }
}

impl fmt::Display for ProductRiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R{}", self.0)
    }
}

impl TryFrom<String> for ProductRiskLevel {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ProductRiskLevel> for String {
    fn from(r: ProductRiskLevel) -> String {
        r.to_string()
    }
}

/// A product in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Product code.
    pub code: ProductCode,
    /// Name, e.g. 稳盈理财 90 天.
    pub name: String,
    /// Kind of product.
    pub product_type: ProductType,
    /// Risk level, for suitability checks.
    pub risk_level: ProductRiskLevel,
}

string_enum!(
    /// The state of an account or contract.
    HoldingStatus, "status" {
        /// 正常.
        Active = "active",
        /// 逾期 (loans and cards past due; matured deposits not yet rolled).
        Overdue = "overdue",
        /// 冻结.
        Frozen = "frozen",
        /// 久悬 / 睡眠户.
        Dormant = "dormant",
        /// 销户 / 结清.
        Closed = "closed",
    }
);

/// A customer's account or contract of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// Account or contract number.
    pub id: HoldingId,
    /// The owner.
    pub customer_id: CustomerId,
    /// The product held.
    pub product_code: ProductCode,
    /// The kind of product (kept on the holding so a holding of an unknown product still counts).
    pub product_type: ProductType,
    /// Current balance (outstanding principal for loans, used amount for cards).
    pub balance: Money,
    /// Credit limit, for loans and cards.
    pub limit: Option<Money>,
    /// Date opened.
    pub opened_on: Option<NaiveDate>,
    /// Maturity date, for term products.
    pub matures_on: Option<NaiveDate>,
    /// Status.
    pub status: HoldingStatus,
}
