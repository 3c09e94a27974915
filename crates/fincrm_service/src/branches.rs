//! The organisation tree (administrators only): open a branch, rename it, move it or change its
//! level. Each change is checked against the whole tree ([`check_tree_change`]: one head
//! office, every node under a higher level, no loops) and audited (`branch.create`,
//! `branch.update`, with before and after).
//!
//! A move changes data scope at once: a branch manager's subtree is read from the tree on every
//! request. Branches are not deleted: staff, customers and history name them.

use crate::customers::{Caller, CustomerError, as_field, audit_entry, created};
use crate::staff::require_admin;
use fincrm_domain::org::check_tree_change;
use fincrm_domain::{Branch, BranchId, BranchLevel};
use fincrm_store::{NewAuditEntry, Store, tables};
use serde::{Deserialize, Serialize};

/// A branch of the organisation tree.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BranchView {
    /// Branch code.
    pub id: String,
    /// Name.
    pub name: String,
    /// Parent branch; absent for the head office.
    pub parent: Option<String>,
    /// `head_office`, `branch` or `sub_branch`.
    #[schema(schema_with = branch_level_schema)]
    pub level: BranchLevel,
}

fn branch_level_schema() -> utoipa::openapi::schema::Object {
    crate::schema::string_enum(BranchLevel::ALL.iter().map(|l| l.as_str()), false)
}

fn branch_level_nullable_schema() -> utoipa::openapi::schema::Object {
    crate::schema::string_enum(BranchLevel::ALL.iter().map(|l| l.as_str()), true)
}

impl From<&Branch> for BranchView {
    fn from(b: &Branch) -> Self {
        Self {
            id: b.id.as_str().to_owned(),
            name: b.name.clone(),
            parent: b.parent.as_ref().map(|p| p.as_str().to_owned()),
            level: b.level,
        }
    }
}

/// A branch to open (`POST /api/v1/branches`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBranch {
    /// Branch code (letters, digits, `-`, `_`, `.`).
    pub id: String,
    /// Name, e.g. 杭州分行.
    pub name: String,
    /// Parent branch code; absent only for the head office.
    pub parent: Option<String>,
    /// `head_office`, `branch` or `sub_branch`.
    #[schema(schema_with = branch_level_schema)]
    pub level: String,
}

/// Changes to a branch (`PATCH /api/v1/branches/{id}`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchPatch {
    /// Name.
    pub name: Option<String>,
    /// New parent branch code (moves the branch and its subtree).
    pub parent: Option<String>,
    /// New level.
    #[schema(schema_with = branch_level_nullable_schema)]
    pub level: Option<String>,
}

const MANAGES: &str = "only administrators (with the admin scope) manage branches";

/// Serialises tree changes in this process: each is checked against the whole tree, so two
/// changes each valid alone (a branch moved under B2 while B2 becomes a sub-branch) must not
/// both pass against the same tree. Another server process changing the tree at the same
/// instant is not covered (branch changes are rare administrator acts).
static TREE_CHANGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const TAKEN: &str = "a branch with this code exists";

fn entry(caller: &Caller<'_>, action: &str, branch: &str) -> NewAuditEntry {
    audit_entry(caller, action, "branch", branch)
}

fn json(b: &Branch) -> String {
    serde_json::to_string(&BranchView::from(b)).unwrap_or_default()
}

fn parent_of(raw: Option<&str>) -> Result<Option<BranchId>, CustomerError> {
    raw.map(|p| as_field("parent", BranchId::parse(p)))
        .transpose()
}

fn level_of(raw: &str) -> Result<BranchLevel, CustomerError> {
    as_field("level", BranchLevel::parse(raw))
}

fn placed(tree: &[Branch], node: &Branch) -> Result<(), CustomerError> {
    check_tree_change(tree, node).map_err(CustomerError::Invalid)
}

/// Opens a branch (audited `branch.create`). 409 when the code is taken.
pub async fn create(
    store: &dyn Store,
    caller: &Caller<'_>,
    new: &NewBranch,
) -> Result<BranchView, CustomerError> {
    require_admin(caller.principal, MANAGES)?;
    let branch = Branch {
        id: as_field("id", BranchId::parse(&new.id))?,
        name: fincrm_domain::party::parse_name("name", &new.name)
            .map_err(CustomerError::Invalid)?,
        parent: parent_of(new.parent.as_deref())?,
        level: level_of(&new.level)?,
    };
    let _one_change_at_a_time = TREE_CHANGES.lock().await;
    let tree = store.branches().await?;
    if tree.iter().any(|b| b.id == branch.id) {
        return Err(CustomerError::Conflict(TAKEN));
    }
    placed(&tree, &branch)?;
    let written = store
        .create_audited(
            &[tables::branches(std::slice::from_ref(&branch))],
            &[entry(caller, "branch.create", branch.id.as_str()).after(json(&branch))],
        )
        .await;
    created(written, TAKEN)?;
    Ok(BranchView::from(&branch))
}

/// Renames, moves or re-levels a branch (audited `branch.update` with before and after).
pub async fn update(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    patch: &BranchPatch,
) -> Result<BranchView, CustomerError> {
    require_admin(caller.principal, MANAGES)?;
    let _one_change_at_a_time = TREE_CHANGES.lock().await;
    let tree = store.branches().await?;
    let before = tree
        .iter()
        .find(|b| b.id.as_str() == id)
        .cloned()
        .ok_or(CustomerError::NotFound)?;
    let mut after = before.clone();
    if let Some(name) = &patch.name {
        after.name =
            fincrm_domain::party::parse_name("name", name).map_err(CustomerError::Invalid)?;
    }
    if patch.parent.is_some() {
        after.parent = parent_of(patch.parent.as_deref())?;
    }
    if let Some(level) = &patch.level {
        after.level = level_of(level)?;
    }
    if after == before {
        return Ok(BranchView::from(&after));
    }
    placed(&tree, &after)?;
    store
        .write_audited(
            &[tables::branches(std::slice::from_ref(&after))],
            &[entry(caller, "branch.update", id)
                .before(json(&before))
                .after(json(&after))],
        )
        .await?;
    Ok(BranchView::from(&after))
}
