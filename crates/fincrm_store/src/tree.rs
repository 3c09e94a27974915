//! Changes to the organisation tree, decided inside the transaction that writes them.
//!
//! A branch may only be placed where the whole tree allows it (one head office, every node under
//! a higher level, no loops). Two changes each valid alone can be invalid together — a branch
//! moved under B2 while B2 becomes a sub-branch — so the check must see the tree as it stands
//! when the change is written, with every other tree change held off, whether it comes from this
//! process or another server process on the same database. [`crate::Store::edit_branches`] does
//! that: it locks the tree, reads it, lets a [`TreeEdit`] decide, and writes the decision with its
//! audit entry in the same transaction.

use crate::NewAuditEntry;
use fincrm_domain::{Branch, ValidationError};

/// What a [`TreeEdit`] decided, given the tree.
#[derive(Debug)]
pub enum TreeDecision {
    /// Nothing to write: the branch as it stands.
    Unchanged(Branch),
    /// Write `branch` (a new code is created, a known one replaced) and append `entry`.
    Write {
        /// The branch as it is to be stored.
        branch: Branch,
        /// Its audit record (`branch.create`, `branch.update`).
        entry: Box<NewAuditEntry>,
    },
}

/// Why a [`TreeEdit`] refused: nothing is written.
#[derive(Debug)]
pub enum TreeRefusal {
    /// The branch to change does not exist.
    NotFound,
    /// The code of a branch to create is taken.
    Taken,
    /// The change breaks a rule of the tree or of a field.
    Invalid(ValidationError),
}

/// Decides a change from the whole tree (every branch, by code) as it stands inside the
/// writing transaction. It runs while the tree is locked, so it must be quick and must not wait
/// on the store.
pub type TreeEdit<'a> = &'a (dyn Fn(&[Branch]) -> Result<TreeDecision, TreeRefusal> + Send + Sync);

/// Whether a decided branch is new: it is then written as a create, which a stored key refuses.
#[must_use]
pub fn is_new(tree: &[Branch], branch: &Branch) -> bool {
    !tree.iter().any(|b| b.id == branch.id)
}
