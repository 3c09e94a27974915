//! The record kinds fincrm imports and the fields each one has.

use fincrm_domain::{
    BranchLevel, Channel, ConsentPurpose, CoverageRole, Currency, CustomerKind, CustomerStatus,
    Direction, Gender, HoldingStatus, OwnershipType, ProductRiskLevel, ProductType,
    RelationshipKind, RiskTolerance, StaffRole,
};

/// What a file's records are, in dependency order (a kind may refer only to kinds before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    /// The organisation tree.
    Branches,
    /// Members of staff.
    Staff,
    /// The product catalogue.
    Products,
    /// Individual and corporate customers.
    Customers,
    /// Which staff cover which customers.
    Coverage,
    /// Accounts and contracts.
    Holdings,
    /// Posted transactions.
    Transactions,
    /// Contacts over any channel.
    Interactions,
    /// Links between customers.
    Relationships,
    /// Consent records.
    Consents,
    /// Corporate customers' value figures (contribution, growth, breadth, background).
    CorporateValues,
}

impl RecordKind {
    const ALL: [(RecordKind, &'static str); 11] = [
        (RecordKind::Branches, "branches"),
        (RecordKind::Staff, "staff"),
        (RecordKind::Products, "products"),
        (RecordKind::Customers, "customers"),
        (RecordKind::Coverage, "coverage"),
        (RecordKind::Holdings, "holdings"),
        (RecordKind::Transactions, "transactions"),
        (RecordKind::Interactions, "interactions"),
        (RecordKind::Relationships, "relationships"),
        (RecordKind::Consents, "consents"),
        (RecordKind::CorporateValues, "corporate_values"),
    ];

    /// Parses the name used in mapping files.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(k, _)| *k)
    }

    /// The name used in mapping files and reports.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("?", |(_, n)| *n)
    }

    /// Every kind's name.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(_, n)| *n).collect()
    }

    /// The kind's fields: name, type, and whether a record needs it.
    #[expect(
        clippy::too_many_lines,
        reason = "one table: the fields of every record kind, read top to bottom"
    )]
    pub fn fields(self) -> &'static [(&'static str, FieldType, bool)] {
        use FieldType as T;
        match self {
            Self::Branches => &[
                ("branch_id", T::Id, true),
                ("name", T::Name, true),
                ("parent_id", T::Id, false),
                ("level", T::BranchLevel, true),
            ],
            Self::Staff => &[
                ("user_id", T::Id, true),
                ("name", T::Name, true),
                ("branch_id", T::Id, true),
                ("role", T::StaffRole, true),
            ],
            Self::Products => &[
                ("product_code", T::Id, true),
                ("name", T::Name, true),
                ("product_type", T::ProductType, true),
                ("risk_level", T::ProductRisk, true),
            ],
            Self::Customers => &[
                ("customer_id", T::Id, true),
                ("kind", T::CustomerKind, true),
                ("name", T::Name, true),
                ("name_latin", T::Text, false),
                ("id_type", T::IdType, false),
                ("id_number", T::IdNumber, false),
                ("uscc", T::Uscc, false),
                ("gender", T::Gender, false),
                ("birth_date", T::Date, false),
                ("phone", T::Phone, false),
                ("email", T::Text, false),
                ("address", T::Text, false),
                ("branch_id", T::Id, false),
                ("primary_rm", T::Id, false),
                ("risk_tolerance", T::RiskTolerance, false),
                ("opened_on", T::Date, false),
                ("status", T::CustomerStatus, false),
                ("occupation", T::Text, false),
                ("ownership", T::Ownership, false),
                ("industry_code", T::Text, false),
                ("registered_capital", T::Amount, false),
                ("founded_on", T::Date, false),
                ("group_parent", T::Id, false),
            ],
            Self::Coverage => &[
                ("customer_id", T::Id, true),
                ("user_id", T::Id, true),
                ("role", T::CoverageRole, true),
            ],
            Self::Holdings => &[
                ("holding_id", T::Id, true),
                ("customer_id", T::Id, true),
                ("product_code", T::Id, true),
                ("product_type", T::ProductType, true),
                ("balance", T::Amount, true),
                ("currency", T::Currency, false),
                ("limit", T::Amount, false),
                ("opened_on", T::Date, false),
                ("matures_on", T::Date, false),
                ("status", T::HoldingStatus, false),
            ],
            Self::Transactions => &[
                ("transaction_id", T::Id, true),
                ("holding_id", T::Id, true),
                ("customer_id", T::Id, false),
                ("posted_at", T::Timestamp, true),
                ("amount", T::Amount, true),
                ("direction", T::Direction, true),
                ("currency", T::Currency, false),
                ("channel", T::Text, false),
                ("counterparty", T::Text, false),
                ("kind", T::Text, false),
                ("memo", T::Text, false),
            ],
            Self::Interactions => &[
                ("interaction_id", T::Id, false),
                ("occurred_at", T::Timestamp, true),
                ("customer_id", T::Id, true),
                ("channel", T::Channel, true),
                ("kind", T::Text, true),
                ("user_id", T::Id, false),
                ("content", T::Text, false),
            ],
            Self::Relationships => &[
                ("from_customer_id", T::Id, true),
                ("to_customer_id", T::Id, true),
                ("kind", T::RelationshipKind, true),
                ("role", T::Text, false),
            ],
            Self::Consents => &[
                ("customer_id", T::Id, true),
                ("purpose", T::ConsentPurpose, true),
                ("channel", T::Text, false),
                ("recorded_at", T::Timestamp, true),
                ("granted", T::Bool, true),
            ],
            Self::CorporateValues => &[
                ("customer_id", T::Id, true),
                ("avg_yearly_contribution", T::Amount, true),
                ("contribution_growth", T::Text, true),
                ("departments_used", T::Text, true),
                ("special_background", T::Bool, true),
            ],
        }
    }
}

/// How a field's text is parsed; code tables translate a source's values into the form each
/// type accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    missing_docs,
    reason = "each variant is the domain type of the same name"
)]
pub enum FieldType {
    Id,
    Name,
    Text,
    Date,
    Timestamp,
    Amount,
    Phone,
    IdType,
    IdNumber,
    Uscc,
    Currency,
    Direction,
    CustomerKind,
    CustomerStatus,
    Gender,
    Ownership,
    RiskTolerance,
    ProductRisk,
    ProductType,
    HoldingStatus,
    Channel,
    BranchLevel,
    StaffRole,
    CoverageRole,
    RelationshipKind,
    ConsentPurpose,
    Bool,
}

impl FieldType {
    /// The types a field name has across record kinds (for checking `[codes.*]` tables, which
    /// apply to the field in every file: `status` is a customer's or an account's).
    pub fn of_any_kind(field: &str) -> Vec<FieldType> {
        let mut types: Vec<FieldType> = RecordKind::ALL
            .iter()
            .flat_map(|(k, _)| k.fields())
            .filter(|(n, _, _)| *n == field)
            .map(|(_, t, _)| *t)
            .collect();
        types.dedup();
        types
    }

    /// Checks that `value` is something this field accepts (a code table's target, a default).
    pub fn check_code_target(self, value: &str) -> Result<(), String> {
        let r = match self {
            Self::Currency => Currency::parse(value).map(drop),
            Self::Direction => Direction::parse(value).map(drop),
            Self::CustomerKind => CustomerKind::parse(value).map(drop),
            Self::CustomerStatus => CustomerStatus::parse(value).map(drop),
            Self::Gender => Gender::parse(value).map(drop),
            Self::Ownership => OwnershipType::parse(value).map(drop),
            Self::RiskTolerance => RiskTolerance::parse(value).map(drop),
            Self::ProductRisk => ProductRiskLevel::parse(value).map(drop),
            Self::ProductType => ProductType::parse(value).map(drop),
            Self::HoldingStatus => HoldingStatus::parse(value).map(drop),
            Self::Channel => Channel::parse(value).map(drop),
            Self::BranchLevel => BranchLevel::parse(value).map(drop),
            Self::StaffRole => StaffRole::parse(value).map(drop),
            Self::CoverageRole => CoverageRole::parse(value).map(drop),
            Self::RelationshipKind => RelationshipKind::parse(value).map(drop),
            Self::ConsentPurpose => ConsentPurpose::parse(value).map(drop),
            Self::IdType => match value {
                "resident_id" | "passport" | "uscc" => Ok(()),
                _ => {
                    return Err(format!(
                        "{value:?} is not an id type; use resident_id, passport or uscc"
                    ));
                }
            },
            Self::Bool => match value {
                "true" | "false" => Ok(()),
                _ => return Err(format!("{value:?} is not true or false")),
            },
            Self::Id
            | Self::Name
            | Self::Text
            | Self::Date
            | Self::Timestamp
            | Self::Amount
            | Self::Phone
            | Self::IdNumber
            | Self::Uscc => Ok(()),
        };
        r.map_err(|e| e.reason.into_owned())
    }
}
