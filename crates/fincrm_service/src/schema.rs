//! OpenAPI schemas of domain types the view types carry (`#[schema(schema_with = …)]`): the
//! domain crate does not depend on utoipa, so the schemas of its enums are built here from their
//! own `ALL` lists, and stay in step with the code.

use fincrm_domain::{
    CustomerStatus, Direction, HoldingStatus, ProductType, StaffRole, interaction::Channel,
};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

fn string_type(nullable: bool) -> SchemaType {
    if nullable {
        [Type::String, Type::Null].into_iter().collect()
    } else {
        SchemaType::new(Type::String)
    }
}

/// A string schema allowing exactly `values` (and `null` when `nullable`).
pub fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>, nullable: bool) -> Object {
    let values: Vec<serde_json::Value> = values
        .into_iter()
        .map(|v| serde_json::Value::String(v.to_owned()))
        .chain(nullable.then_some(serde_json::Value::Null))
        .collect();
    ObjectBuilder::new()
        .schema_type(string_type(nullable))
        .enum_values(Some(values))
        .build()
}

/// The lifecycle stages an analytics run assigns (`fincrm_service::analytics`).
pub const LIFECYCLE_STAGES: &[&str] = &[
    "prospect",
    "new",
    "growing",
    "mature",
    "loyal",
    "declining",
    "dormant",
    "churned",
    "won_back",
];

/// A lifecycle stage.
pub fn lifecycle_stage() -> Object {
    string_enum(LIFECYCLE_STAGES.iter().copied(), false)
}

/// [`StaffRole`].
pub fn staff_role() -> Object {
    string_enum(StaffRole::ALL.iter().map(|r| r.as_str()), false)
}

/// [`fincrm_domain::CustomerKind`].
pub fn customer_kind() -> Object {
    string_enum(
        fincrm_domain::CustomerKind::ALL.iter().map(|k| k.as_str()),
        false,
    )
}

/// An optional [`StaffRole`].
pub fn staff_role_nullable() -> Object {
    string_enum(StaffRole::ALL.iter().map(|r| r.as_str()), true)
}

/// [`CustomerStatus`].
pub fn customer_status() -> Object {
    string_enum(CustomerStatus::ALL.iter().map(|s| s.as_str()), false)
}

/// An optional [`CustomerStatus`] a create or an edit may set (not `merged`: only a merge sets
/// that).
pub fn customer_status_settable_nullable() -> Object {
    string_enum(
        CustomerStatus::ALL
            .iter()
            .filter(|s| **s != CustomerStatus::Merged)
            .map(|s| s.as_str()),
        true,
    )
}

/// An optional [`CustomerStatus`].
pub fn customer_status_nullable() -> Object {
    string_enum(CustomerStatus::ALL.iter().map(|s| s.as_str()), true)
}

/// [`ProductType`].
pub fn product_type() -> Object {
    string_enum(ProductType::ALL.iter().map(|p| p.as_str()), false)
}

/// [`HoldingStatus`].
pub fn holding_status() -> Object {
    string_enum(HoldingStatus::ALL.iter().map(|s| s.as_str()), false)
}

/// [`Direction`].
pub fn direction() -> Object {
    string_enum(Direction::ALL.iter().map(|d| d.as_str()), false)
}

/// [`Channel`].
pub fn channel() -> Object {
    string_enum(Channel::ALL.iter().map(|c| c.as_str()), false)
}

/// An optional [`Channel`] (`null`: every channel).
pub fn channel_nullable() -> Object {
    string_enum(Channel::ALL.iter().map(|c| c.as_str()), true)
}

/// [`fincrm_domain::ConsentPurpose`].
pub fn consent_purpose() -> Object {
    string_enum(
        fincrm_domain::ConsentPurpose::ALL
            .iter()
            .map(|p| p.as_str()),
        false,
    )
}

/// An optional [`RiskTolerance`](fincrm_domain::RiskTolerance): `C1`–`C5` or `null`.
pub fn risk_tolerance_nullable() -> Object {
    string_enum(["C1", "C2", "C3", "C4", "C5"], true)
}

fn money_object(nullable: bool) -> Object {
    let object_type: SchemaType = if nullable {
        [Type::Object, Type::Null].into_iter().collect()
    } else {
        SchemaType::new(Type::Object)
    };
    ObjectBuilder::new()
        .schema_type(object_type)
        .description(Some(
            "An amount in minor units (fen for CNY) of one currency.",
        ))
        .property(
            "minor",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .description(Some("The amount in minor units; may be negative.")),
        )
        .required("minor")
        .property(
            "currency",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Z]{3}$"))
                .description(Some("ISO 4217 code.")),
        )
        .required("currency")
        .build()
}

/// [`Money`](fincrm_domain::Money).
pub fn money() -> Object {
    money_object(false)
}

/// An optional [`Money`](fincrm_domain::Money).
pub fn money_nullable() -> Object {
    money_object(true)
}
