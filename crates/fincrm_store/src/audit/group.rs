//! Group commit of audit appends, the part every committer shares: concurrent appends wait
//! together, are appended in one transaction, and each caller is answered with its own records.
//!
//! Two committers use it: the service's `GroupCommitAudit` (a Tokio task in front of any
//! [`AuditStore`](super::AuditStore)) and SQLite's own, on the thread of its audit connection.
//! No caller hears "done" before its records are committed; a group that fails fails every
//! append in it, and writes nothing.

use super::{AuditRecord, NewAuditEntry};
use crate::{StoreError, StoreResult};
use tokio::sync::oneshot;

/// Most entries appended in one transaction.
pub const MAX_GROUP: usize = 1024;

/// One caller's append, waiting for its group.
#[derive(Debug)]
pub struct Waiting {
    /// The entries to append, in order.
    pub entries: Vec<NewAuditEntry>,
    /// Where the caller waits for its records (or the group's error).
    pub reply: oneshot::Sender<StoreResult<Vec<AuditRecord>>>,
}

impl Waiting {
    /// `entries` and the receiver its caller waits on.
    pub fn new(
        entries: Vec<NewAuditEntry>,
    ) -> (Self, oneshot::Receiver<StoreResult<Vec<AuditRecord>>>) {
        let (reply, answer) = oneshot::channel();
        (Self { entries, reply }, answer)
    }
}

/// `first` and whatever else `next` has waiting, up to [`MAX_GROUP`] entries.
pub fn gather(first: Waiting, mut next: impl FnMut() -> Option<Waiting>) -> Vec<Waiting> {
    let mut entries = first.entries.len();
    let mut group = vec![first];
    while entries < MAX_GROUP {
        let Some(more) = next() else { break };
        entries += more.entries.len();
        group.push(more);
    }
    group
}

/// Every entry of `group`, in order: what the group's transaction appends.
pub fn entries(group: &[Waiting]) -> Vec<NewAuditEntry> {
    group
        .iter()
        .flat_map(|w| w.entries.iter().cloned())
        .collect()
}

/// Answers each caller of `group` with its own records from `appended` (the group's records, in
/// order), or with the group's error.
pub fn answer(group: Vec<Waiting>, appended: StoreResult<Vec<AuditRecord>>) {
    match appended {
        Ok(records) => {
            let mut records = records.into_iter();
            for w in group {
                let mine = records.by_ref().take(w.entries.len()).collect();
                // A caller that went away (request cancelled) needs no answer.
                let _ = w.reply.send(Ok(mine));
            }
        }
        Err(e) => {
            for w in group {
                let _ = w.reply.send(Err(StoreError::Other(anyhow::anyhow!(
                    "group audit append failed: {e}"
                ))));
            }
        }
    }
}
