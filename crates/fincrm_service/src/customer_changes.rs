//! Creating and changing customers through the API (issue #3): validated field by field (each
//! error names its field), kept inside the caller's data scope, written with a
//! `customer.create` / `customer.update` audit record (masked before and after) in the same
//! transaction.
//!
//! The identity document is set when a customer is created and not changed here: correcting
//! an ID number is a KYC process with its own evidence, not an edit.

use crate::activity::{new_key, require_write};
use crate::customers::{Caller, CustomerError, CustomerView, entry, find, invalid, scope_of};
use fincrm_domain::{
    BranchId, Customer, CustomerId, CustomerKind, CustomerStatus, IdentityDocument, MobilePhone,
    RiskTolerance, UserId, ValidationError,
};
use fincrm_store::{CustomerScope, Store, tables};
use serde::Deserialize;

/// Most tags on one customer.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 30;
/// Longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;

/// A customer to create (`POST /api/v1/customers`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// The customer number; when absent one is assigned (`P…`, a prospect's number until core
    /// banking assigns its own).
    pub id: Option<String>,
    /// `individual` or `corporate`.
    #[schema(schema_with = crate::schema::customer_kind)]
    pub kind: String,
    /// Name, 1–200 characters.
    pub name: String,
    /// Name in Latin script.
    pub name_latin: Option<String>,
    /// Document type: `resident_id`, `passport` or `uscc` (with `id_number`).
    pub id_type: Option<String>,
    /// Document number (checked: GB 11643 check digit, GB 32100 credit code).
    pub id_number: Option<String>,
    /// Mainland mobile number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Contact address, up to 200 characters.
    pub address: Option<String>,
    /// Home branch (default: the caller's branch).
    pub branch_id: Option<String>,
    /// Primary relationship manager (default: the caller, when a relationship manager).
    pub primary_rm: Option<String>,
    /// Risk tolerance `C1`–`C5`.
    pub risk_tolerance: Option<String>,
    /// Status (default `prospect`).
    #[schema(schema_with = crate::schema::customer_status_settable_nullable)]
    pub status: Option<String>,
    /// Start of the relationship.
    pub opened_on: Option<chrono::NaiveDate>,
    /// Free tags (up to 20, each up to 30 characters).
    pub tags: Option<Vec<String>>,
}

/// Changes to a customer (`PATCH /api/v1/customers/{id}`): only the fields present change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    /// Name, 1–200 characters.
    pub name: Option<String>,
    /// Name in Latin script.
    pub name_latin: Option<String>,
    /// Mainland mobile number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Contact address, up to 200 characters.
    pub address: Option<String>,
    /// Home branch.
    pub branch_id: Option<String>,
    /// Primary relationship manager.
    pub primary_rm: Option<String>,
    /// Risk tolerance `C1`–`C5`.
    pub risk_tolerance: Option<String>,
    /// Status.
    #[schema(schema_with = crate::schema::customer_status_settable_nullable)]
    pub status: Option<String>,
    /// Free tags, replacing the current ones.
    pub tags: Option<Vec<String>>,
}

fn field_text(field: &'static str, raw: &str, max: usize) -> Result<String, CustomerError> {
    let t = raw.trim();
    if t.chars().count() > max {
        return Err(CustomerError::Invalid(ValidationError::new(
            field,
            format!("is longer than {max} characters"),
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(t.to_owned())
}

fn email(raw: &str) -> Result<String, CustomerError> {
    let e = field_text("email", raw, 254)?;
    let ok = e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !e.chars().any(char::is_whitespace);
    if ok {
        Ok(e)
    } else {
        Err(invalid("email", "is not an e-mail address"))
    }
}

fn tags(raw: &[String]) -> Result<Vec<String>, CustomerError> {
    if raw.len() > MAX_TAGS {
        return Err(invalid("tags", "has more than 20 tags"));
    }
    let mut out: Vec<String> = Vec::new();
    for t in raw {
        let t = field_text("tags", t, MAX_TAG_CHARS)?;
        if t.is_empty() {
            return Err(invalid("tags", "contains an empty tag"));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn v<T>(r: Result<T, ValidationError>) -> Result<T, CustomerError> {
    r.map_err(CustomerError::Invalid)
}

/// Applies the fields both requests share.
fn apply(c: &mut Customer, p: &CustomerPatch) -> Result<(), CustomerError> {
    if let Some(name) = &p.name {
        c.name = v(fincrm_domain::party::parse_name("name", name))?;
    }
    if let Some(latin) = &p.name_latin {
        let latin = field_text("name_latin", latin, fincrm_domain::party::MAX_NAME_CHARS)?;
        c.name_latin = (!latin.is_empty()).then_some(latin);
    }
    if let Some(phone) = &p.phone {
        c.phone = Some(crate::customers::as_field(
            "phone",
            MobilePhone::parse(phone),
        )?);
    }
    if let Some(e) = &p.email {
        c.email = Some(email(e)?);
    }
    if let Some(address) = &p.address {
        let a = field_text("address", address, MAX_ADDRESS_CHARS)?;
        c.address = (!a.is_empty()).then_some(a);
    }
    if let Some(branch) = &p.branch_id {
        c.branch_id = Some(crate::customers::as_field(
            "branch_id",
            BranchId::parse(branch),
        )?);
    }
    if let Some(rm) = &p.primary_rm {
        c.primary_rm = Some(crate::customers::as_field("primary_rm", UserId::parse(rm))?);
    }
    if let Some(risk) = &p.risk_tolerance {
        c.risk_tolerance = Some(v(RiskTolerance::parse(risk))?);
    }
    if let Some(status) = &p.status {
        let status = v(CustomerStatus::parse(status))?;
        if status == CustomerStatus::Merged {
            return Err(invalid(
                "status",
                "merged is set by a merge, not by an edit",
            ));
        }
        c.status = status;
    }
    if let Some(t) = &p.tags {
        c.tags = tags(t)?;
    }
    Ok(())
}

/// Whether `c` lies in the caller's data scope once written: a branch manager's customers in
/// their branch subtree, an RM's with them as primary RM (or, for a change, on the coverage
/// team that already let them see it: then the primary RM must stay). A change must not move
/// a customer out of the caller's own reach (nor create one there). `before` is the visible
/// record a change starts from.
async fn lands_in_scope(
    store: &dyn Store,
    caller: &Caller<'_>,
    c: &Customer,
    before: Option<&Customer>,
) -> Result<bool, CustomerError> {
    Ok(match scope_of(caller.principal) {
        None => false,
        Some(CustomerScope::All) => true,
        Some(CustomerScope::Book(user)) => {
            c.primary_rm.as_ref().is_some_and(|rm| rm.as_str() == user)
                || before.is_some_and(|b| b.primary_rm == c.primary_rm)
        }
        Some(CustomerScope::Branches(_)) if before.is_some_and(|b| b.branch_id == c.branch_id) => {
            true
        }
        Some(CustomerScope::Branches(root)) => {
            let Some(branch) = &c.branch_id else {
                return Ok(false);
            };
            let tree = store.branches().await?;
            let mut at = Some(branch.clone());
            let mut hops = 0;
            while let Some(b) = at {
                if b.as_str() == root {
                    return Ok(true);
                }
                hops += 1;
                if hops > tree.len() {
                    break; // a cycle in a hand-edited tree
                }
                at = tree
                    .iter()
                    .find(|n| n.id == b)
                    .and_then(|n| n.parent.clone());
            }
            false
        }
    })
}

fn masked_json(c: &Customer) -> String {
    serde_json::to_string(&CustomerView::masked(c)).unwrap_or_default()
}

/// The 409 of a create whose key is taken.
const CUSTOMER_TAKEN: &str = "a customer with this number exists";

/// Creates a customer; audited as `customer.create` (masked) in the same transaction.
pub async fn create(
    store: &dyn Store,
    caller: &Caller<'_>,
    new: &NewCustomer,
) -> Result<CustomerView, CustomerError> {
    crate::customers::require_read(caller.principal)?;
    require_write(caller.principal)?;
    let id = match &new.id {
        Some(id) => crate::customers::as_field("id", CustomerId::parse(id))?,
        None => v(CustomerId::parse(&new_key("P", caller.now)))?,
    };
    let kind = v(CustomerKind::parse(&new.kind))?;
    let name = v(fincrm_domain::party::parse_name("name", &new.name))?;
    let mut c = match kind {
        CustomerKind::Individual => Customer::individual(id, name),
        CustomerKind::Corporate => Customer::corporate(id, name),
    };
    c.status = CustomerStatus::Prospect;
    c.opened_on = new.opened_on;
    c.document = match (&new.id_type, &new.id_number) {
        (Some(t), Some(n)) => Some(v(IdentityDocument::from_parts(t, n))?),
        (None, None) => None,
        (None, Some(_)) => return Err(invalid("id_type", "is needed with id_number")),
        (Some(_), None) => return Err(invalid("id_number", "is needed with id_type")),
    };
    if let Some(IdentityDocument::Uscc(code)) = &c.document {
        if kind != CustomerKind::Corporate {
            return Err(invalid("id_type", "uscc is for corporate customers"));
        }
        if let Some(profile) = c.corporate.as_mut() {
            profile.uscc = Some(code.clone());
        }
    }
    apply(
        &mut c,
        &CustomerPatch {
            name: None,
            name_latin: new.name_latin.clone(),
            phone: new.phone.clone(),
            email: new.email.clone(),
            address: new.address.clone(),
            branch_id: new.branch_id.clone(),
            primary_rm: new.primary_rm.clone(),
            risk_tolerance: new.risk_tolerance.clone(),
            status: new.status.clone(),
            tags: new.tags.clone(),
        },
    )?;
    if c.branch_id.is_none() {
        c.branch_id = Some(caller.principal.branch_id.clone());
    }
    if c.primary_rm.is_none()
        && caller.principal.role == fincrm_domain::StaffRole::RelationshipManager
    {
        c.primary_rm = Some(caller.principal.user_id.clone());
    }
    if !lands_in_scope(store, caller, &c, None).await? {
        return Err(CustomerError::Forbidden(
            "a customer you create must be in your own scope (branch or book)",
        ));
    }
    if store.customer(&c.id).await?.is_some() {
        return Err(CustomerError::Conflict(CUSTOMER_TAKEN));
    }
    if let Some(doc) = &c.document
        && !store.customers_by_id_number(doc.expose()).await?.is_empty()
    {
        return Err(CustomerError::Conflict(
            "a customer with this ID document exists; search for it instead of creating another",
        ));
    }
    let written = store
        .create_audited(
            &[tables::customers(std::slice::from_ref(&c))],
            &[entry(caller, "customer.create", &c.id).after(masked_json(&c))],
        )
        .await;
    crate::customers::created(written, CUSTOMER_TAKEN)?;
    Ok(CustomerView::masked(&c))
}

/// Changes a customer within the caller's scope; audited as `customer.update` with the masked
/// record before and after, in the same transaction.
pub async fn update(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    patch: &CustomerPatch,
) -> Result<CustomerView, CustomerError> {
    let before = find(store, caller, id).await?;
    require_write(caller.principal)?;
    if before.status == CustomerStatus::Merged {
        return Err(CustomerError::Conflict(
            "this record was merged into another; change the surviving record",
        ));
    }
    let mut after = before.clone();
    apply(&mut after, patch)?;
    if !lands_in_scope(store, caller, &after, Some(&before)).await? {
        return Err(CustomerError::Forbidden(
            "the change would move the customer out of your scope; ask a branch manager",
        ));
    }
    if after == before {
        return Ok(CustomerView::masked(&after));
    }
    store
        .write_audited(
            &[tables::customers(std::slice::from_ref(&after))],
            &[entry(caller, "customer.update", &after.id)
                .before(masked_json(&before))
                .after(masked_json(&after))],
        )
        .await?;
    Ok(CustomerView::masked(&after))
}
