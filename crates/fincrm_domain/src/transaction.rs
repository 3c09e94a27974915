//! Customer transactions fed from core banking.

use crate::{CustomerId, HoldingId, Money, TransactionId, party::string_enum};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

string_enum!(
    /// Whether money left (debit, 借) or entered (credit, 贷) the customer's account.
    Direction, "direction" {
        /// 借: money out of the account.
        Debit = "debit",
        /// 贷: money into the account.
        Credit = "credit",
    }
);

/// One posted transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Serial number (流水号).
    pub id: TransactionId,
    /// The customer (kept on every row so customer-keyed partitioning stays possible).
    pub customer_id: CustomerId,
    /// The account it posted to.
    pub holding_id: HoldingId,
    /// When it posted, as an instant.
    pub at: DateTime<Utc>,
    /// The amount, always positive; [`Self::direction`] gives its sign.
    pub amount: Money,
    /// Debit or credit.
    pub direction: Direction,
    /// Channel (柜面, ATM, 手机银行, …) as the source names it.
    pub channel: Option<String>,
    /// Counterparty name (对方户名).
    pub counterparty: Option<String>,
    /// Transaction type (交易类型: 工资, 消费, 转账, …).
    pub kind: Option<String>,
    /// Memo (摘要).
    pub memo: Option<String>,
}

impl Transaction {
    /// The amount with its sign: negative for debits.
    pub fn signed_minor(&self) -> i64 {
        match self.direction {
            Direction::Debit => -self.amount.minor,
            Direction::Credit => self.amount.minor,
        }
    }
}
