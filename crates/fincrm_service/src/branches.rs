//! The organisation tree (administrators only): open a branch, rename it, move it or change its
//! level. Each change is checked against the whole tree ([`check_tree_change`]: one head
//! office, every node under a higher level, no loops) and audited (`branch.create`,
//! `branch.update`, with before and after).
//!
//! Each change is decided inside the store's writing transaction, with every other tree change
//! held off ([`Store::edit_branches`]), so two changes each valid alone cannot both pass against
//! the same tree, even from two server processes.
//!
//! A move changes data scope at once: a branch manager's subtree is read from the tree on every
//! request. Branches are not deleted: staff, customers and history name them.

use crate::customers::{Caller, CustomerError, as_field, audit_entry};
use crate::staff::require_admin;
use fincrm_domain::org::check_tree_change;
use fincrm_domain::{Branch, BranchId, BranchLevel};
use fincrm_store::tree::{TreeDecision, TreeEdit, TreeRefusal};
use fincrm_store::{NewAuditEntry, Store, StoreError};
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

fn name_of(raw: &str) -> Result<String, CustomerError> {
    fincrm_domain::party::parse_name("name", raw).map_err(CustomerError::Invalid)
}

/// Runs `edit` against the tree inside the store's writing transaction (so a change racing
/// this one, in this process or another, is checked against the tree this one leaves).
async fn edit_tree(store: &dyn Store, edit: TreeEdit<'_>) -> Result<BranchView, CustomerError> {
    match store.edit_branches(edit).await {
        Ok(Ok(branch)) => Ok(BranchView::from(&branch)),
        Ok(Err(TreeRefusal::NotFound)) => Err(CustomerError::NotFound),
        Ok(Err(TreeRefusal::Taken)) | Err(StoreError::Conflict { .. }) => {
            Err(CustomerError::Conflict(TAKEN))
        }
        Ok(Err(TreeRefusal::Invalid(e))) => Err(CustomerError::Invalid(e)),
        Err(e) => Err(e.into()),
    }
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
        name: name_of(&new.name)?,
        parent: parent_of(new.parent.as_deref())?,
        level: level_of(&new.level)?,
    };
    let created = entry(caller, "branch.create", branch.id.as_str()).after(json(&branch));
    edit_tree(store, &|tree: &[Branch]| {
        if tree.iter().any(|b| b.id == branch.id) {
            return Err(TreeRefusal::Taken);
        }
        check_tree_change(tree, &branch).map_err(TreeRefusal::Invalid)?;
        Ok(TreeDecision::Write {
            branch: branch.clone(),
            entry: Box::new(created.clone()),
        })
    })
    .await
}

/// Renames, moves or re-levels a branch (audited `branch.update` with before and after).
pub async fn update(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    patch: &BranchPatch,
) -> Result<BranchView, CustomerError> {
    require_admin(caller.principal, MANAGES)?;
    let name = patch.name.as_deref().map(name_of).transpose()?;
    let parent = patch
        .parent
        .as_deref()
        .map(|p| parent_of(Some(p)))
        .transpose()?;
    let level = patch.level.as_deref().map(level_of).transpose()?;
    let updated = entry(caller, "branch.update", id);
    edit_tree(store, &|tree: &[Branch]| {
        let before = tree
            .iter()
            .find(|b| b.id.as_str() == id)
            .ok_or(TreeRefusal::NotFound)?;
        let mut after = before.clone();
        if let Some(name) = &name {
            after.name.clone_from(name);
        }
        if let Some(parent) = &parent {
            after.parent.clone_from(parent);
        }
        if let Some(level) = level {
            after.level = level;
        }
        if &after == before {
            return Ok(TreeDecision::Unchanged(after));
        }
        check_tree_change(tree, &after).map_err(TreeRefusal::Invalid)?;
        Ok(TreeDecision::Write {
            entry: Box::new(updated.clone().before(json(before)).after(json(&after))),
            branch: after,
        })
    })
    .await
}
