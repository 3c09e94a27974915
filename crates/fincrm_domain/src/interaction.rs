//! Contacts with customers over any channel, relationships between parties, and consents.

use crate::{CustomerId, InteractionId, UserId, party::string_enum};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

string_enum!(
    /// A contact channel.
    Channel, "channel" {
        /// 网点 / 柜面.
        Branch = "branch",
        /// 电话 / 呼叫中心.
        Phone = "phone",
        /// 手机银行.
        MobileApp = "mobile_app",
        /// 网上银行.
        OnlineBanking = "online_banking",
        /// 微信.
        WeChat = "wechat",
        /// 邮件.
        Email = "email",
        /// 短信.
        Sms = "sms",
        /// 上门拜访.
        Visit = "visit",
        /// ATM / self-service.
        Atm = "atm",
    }
);

/// One contact with a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    /// Key; for imported contacts a digest of their content, so re-imports find the same key.
    pub id: InteractionId,
    /// The customer.
    pub customer_id: CustomerId,
    /// When.
    pub at: DateTime<Utc>,
    /// Over which channel.
    pub channel: Channel,
    /// What kind of contact (咨询, 营销, 投诉, 回访, 业务办理, …).
    pub kind: String,
    /// The member of staff involved, if any.
    pub user_id: Option<UserId>,
    /// What was said or done.
    pub content: Option<String>,
}

string_enum!(
    /// How two parties are related.
    RelationshipKind, "relationship_kind" {
        /// Same household (家庭).
        Household = "household",
        /// Parent and member of a corporate group (集团).
        CorporateGroup = "corporate_group",
        /// The first party guarantees the second's obligations (担保).
        Guarantor = "guarantor",
        /// The first party is a beneficial owner of the second (受益所有人).
        BeneficialOwner = "beneficial_owner",
        /// The first party is the legal representative of the second (法定代表人).
        LegalRepresentative = "legal_representative",
    }
);

/// A directed relationship between two customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    /// The first party.
    pub from: CustomerId,
    /// The second party.
    pub to: CustomerId,
    /// How they are related.
    pub kind: RelationshipKind,
    /// Role detail, e.g. 配偶 or 子女 in a household.
    pub role: Option<String>,
}

string_enum!(
    /// What a customer consented to their data being used for.
    ConsentPurpose, "purpose" {
        /// Marketing communications.
        Marketing = "marketing",
        /// Sharing with group companies or partners.
        ThirdPartySharing = "third_party_sharing",
        /// Profiling and automated decisions.
        Profiling = "profiling",
        /// Cross-border transfer.
        CrossBorder = "cross_border",
    }
);

/// A consent given or withdrawn; the latest record per purpose and channel is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The customer.
    pub customer_id: CustomerId,
    /// The purpose.
    pub purpose: ConsentPurpose,
    /// The channel it covers; `None` for all channels.
    pub channel: Option<Channel>,
    /// Granted (`true`) or withdrawn (`false`).
    pub granted: bool,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_serialises_as_its_stored_text() {
        for c in Channel::ALL {
            let json = serde_json::to_string(c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Channel>(&json).ok(), Some(*c));
        }
        assert_eq!(Channel::WeChat.as_str(), "wechat");
    }
}
