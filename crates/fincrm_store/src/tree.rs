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

/// What an engine does with an edit's decision, inside its transaction.
pub enum Outcome {
    /// Nothing to write: commit nothing and answer this.
    Answer(Result<Branch, TreeRefusal>),
    /// Write `branch` (as a create when `new`, which a stored key refuses) and append `entry`.
    Write {
        /// The branch to store.
        branch: Branch,
        /// Its audit record, checked.
        entry: Box<NewAuditEntry>,
        /// Whether the code is not in the tree yet.
        new: bool,
    },
}

/// Runs `edit` on the `tree` an engine read inside its transaction and checks the audit entry
/// of a write, so both engines act on a decision the same way.
///
/// # Errors
/// An invalid audit entry ([`crate::audit::check_entries`]).
pub fn decide(tree: &[Branch], edit: TreeEdit<'_>) -> crate::StoreResult<Outcome> {
    Ok(match edit(tree) {
        Err(refused) => Outcome::Answer(Err(refused)),
        Ok(TreeDecision::Unchanged(branch)) => Outcome::Answer(Ok(branch)),
        Ok(TreeDecision::Write { branch, entry }) => {
            crate::audit::check_entries(std::slice::from_ref(&*entry))?;
            let new = !tree.iter().any(|b| b.id == branch.id);
            Outcome::Write { branch, entry, new }
        }
    })
}
