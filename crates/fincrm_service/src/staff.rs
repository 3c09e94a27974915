//! Members of staff and their roles (administrators only): list, create with a one-time
//! password, change name, branch or role, reset a password. Each change is audited (`user.*`
//! with before and after; the password itself goes through `auth` and is audited there).
//! A role or branch change takes effect on the user's next request: sessions read the user's
//! record every time.

use crate::auth::{Auth, AuthError, Principal};
use crate::customers::{Caller, CustomerError, audit_entry};
use fincrm_domain::auth::Scope;
use fincrm_domain::{BranchId, StaffRole, User, UserId, ValidationError};
use fincrm_store::{NewAuditEntry, Store, tables};
use serde::{Deserialize, Serialize};

/// A member of staff.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffView {
    /// User id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Branch.
    pub branch_id: String,
    /// Role.
    #[schema(schema_with = crate::schema::staff_role)]
    pub role: StaffRole,
}

impl From<&User> for StaffView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_str().to_owned(),
            name: u.name.clone(),
            branch_id: u.branch_id.as_str().to_owned(),
            role: u.role,
        }
    }
}

/// A member of staff to create (`POST /api/v1/users`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    /// User id (letters, digits, `-`, `_`, `.`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Branch code (must exist).
    pub branch_id: String,
    /// Role.
    #[schema(schema_with = crate::schema::staff_role)]
    pub role: String,
}

/// Changes to a member of staff (`PATCH /api/v1/users/{id}`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    /// Name.
    pub name: Option<String>,
    /// Branch code (must exist).
    pub branch_id: Option<String>,
    /// Role.
    #[schema(schema_with = crate::schema::staff_role_nullable)]
    pub role: Option<String>,
}

/// A created user or a reset password: the one-time password is shown this once and must be
/// changed at the first login.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffCredentials {
    /// The user.
    pub user: StaffView,
    /// The one-time password.
    pub one_time_password: String,
}

/// Refuses anyone but an administrator holding the admin scope, with `refusal` as the reason.
pub(crate) fn require_admin(p: &Principal, refusal: &'static str) -> Result<(), CustomerError> {
    if p.password_pending() {
        return Err(CustomerError::Forbidden(
            "the password must be changed before anything else",
        ));
    }
    if p.role != StaffRole::Admin || !p.allows(Scope::Admin) {
        return Err(CustomerError::Forbidden(refusal));
    }
    Ok(())
}

const MANAGES: &str = "only administrators (with the admin scope) manage staff";

fn auth_err(e: AuthError) -> CustomerError {
    match e {
        AuthError::Policy(v) | AuthError::Invalid(v) => CustomerError::Invalid(v),
        AuthError::NotFound(_) => CustomerError::NotFound,
        AuthError::Store(s) => CustomerError::Store(s),
        other => CustomerError::Store(fincrm_store::StoreError::Other(anyhow::anyhow!("{other}"))),
    }
}

fn v<T>(r: Result<T, ValidationError>) -> Result<T, CustomerError> {
    r.map_err(CustomerError::Invalid)
}

async fn branch_exists(store: &dyn Store, id: &BranchId) -> Result<(), CustomerError> {
    if store.branches().await?.iter().any(|b| &b.id == id) {
        Ok(())
    } else {
        Err(CustomerError::Invalid(ValidationError::new(
            "branch_id",
            "no such branch",
        )))
    }
}

fn user_entry(caller: &Caller<'_>, action: &str, user: &str) -> NewAuditEntry {
    audit_entry(caller, action, "staff", user)
}

fn json(u: &User) -> String {
    serde_json::to_string(&StaffView::from(u)).unwrap_or_default()
}

/// The 409 of a create whose key is taken.
const USER_TAKEN: &str = "a user with this id exists";

/// Every member of staff.
pub async fn list(auth: &Auth, caller: &Caller<'_>) -> Result<Vec<StaffView>, CustomerError> {
    require_admin(caller.principal, MANAGES)?;
    let users = auth.store().users().await?;
    Ok(users.iter().map(StaffView::from).collect())
}

/// Creates a member of staff with a one-time password (audited `user.create`).
pub async fn create(
    store: &dyn Store,
    auth: &Auth,
    caller: &Caller<'_>,
    new: &NewStaff,
) -> Result<StaffCredentials, CustomerError> {
    require_admin(caller.principal, MANAGES)?;
    let user = User {
        id: crate::customers::as_field("id", UserId::parse(&new.id))?,
        name: v(fincrm_domain::party::parse_name("name", &new.name))?,
        branch_id: crate::customers::as_field("branch_id", BranchId::parse(&new.branch_id))?,
        role: v(StaffRole::parse(&new.role))?,
    };
    branch_exists(store, &user.branch_id).await?;
    if auth.store().user(user.id.as_str()).await?.is_some() {
        return Err(CustomerError::Conflict(USER_TAKEN));
    }
    let written = store
        .create_audited(
            &[tables::staff(std::slice::from_ref(&user))],
            &[user_entry(caller, "user.create", user.id.as_str()).after(json(&user))],
        )
        .await;
    crate::customers::created(written, USER_TAKEN)?;
    let one_time_password = reset_password_of(auth, caller, user.id.as_str()).await?;
    Ok(StaffCredentials {
        user: StaffView::from(&user),
        one_time_password,
    })
}

/// Changes a member of staff's name, branch or role (audited `user.update`). The last
/// administrator keeps the role (nobody could manage staff otherwise).
pub async fn update(
    store: &dyn Store,
    auth: &Auth,
    caller: &Caller<'_>,
    id: &str,
    patch: &StaffPatch,
) -> Result<StaffView, CustomerError> {
    require_admin(caller.principal, MANAGES)?;
    let before = auth
        .store()
        .user(id)
        .await?
        .ok_or(CustomerError::NotFound)?;
    let mut after = before.clone();
    if let Some(name) = &patch.name {
        after.name = v(fincrm_domain::party::parse_name("name", name))?;
    }
    if let Some(branch) = &patch.branch_id {
        after.branch_id = crate::customers::as_field("branch_id", BranchId::parse(branch))?;
        branch_exists(store, &after.branch_id).await?;
    }
    if let Some(role) = &patch.role {
        after.role = v(StaffRole::parse(role))?;
    }
    if before.role == StaffRole::Admin && after.role != StaffRole::Admin {
        let admins = auth
            .store()
            .users()
            .await?
            .iter()
            .filter(|u| u.role == StaffRole::Admin)
            .count();
        if admins <= 1 {
            return Err(CustomerError::Conflict(
                "this is the last administrator; appoint another first",
            ));
        }
    }
    if after != before {
        store
            .write_audited(
                &[tables::staff(std::slice::from_ref(&after))],
                &[user_entry(caller, "user.update", id)
                    .before(json(&before))
                    .after(json(&after))],
            )
            .await?;
        // Tokens carry their user's role and branch: none may be served from before the change.
        auth.forget_cached_tokens();
    }
    Ok(StaffView::from(&after))
}

/// Sets a new one-time password for a member of staff (who must change it at the next login;
/// their sessions end). Audited by the auth service.
pub async fn reset_password(
    auth: &Auth,
    caller: &Caller<'_>,
    id: &str,
) -> Result<StaffCredentials, CustomerError> {
    require_admin(caller.principal, MANAGES)?;
    let user = auth
        .store()
        .user(id)
        .await?
        .ok_or(CustomerError::NotFound)?;
    let one_time_password = reset_password_of(auth, caller, id).await?;
    Ok(StaffCredentials {
        user: StaffView::from(&user),
        one_time_password,
    })
}

async fn reset_password_of(
    auth: &Auth,
    caller: &Caller<'_>,
    id: &str,
) -> Result<String, CustomerError> {
    let password = crate::auth::one_time_password(id).map_err(auth_err)?;
    auth.set_password(
        id,
        &password,
        true,
        caller.principal.user_id.as_str(),
        caller.client_addr,
        caller.now,
    )
    .await
    .map_err(auth_err)?;
    Ok(password)
}
