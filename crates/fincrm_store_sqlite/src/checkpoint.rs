//! WAL checkpoints off the commit path.
//!
//! By default the connection that commits runs the checkpoint once the WAL passes 1,000 pages,
//! inside its commit. Under the API's load a checkpoint rarely completes (readers are always on
//! some snapshot), so the WAL stays over the threshold and every commit of the single writer —
//! every audit group a reader waits on — started another: eleven a second, 5 ms each, up to
//! 22 ms (`perf probe` on `sqlite3WalCheckpoint` under `bench/api` search load). The writer now
//! has `wal_autocheckpoint=0`, and this thread checkpoints every [`EVERY`] from a connection of
//! its own. A `PASSIVE` checkpoint takes no lock that the writer or the readers wait for; it
//! copies what no reader still needs and fsyncs the database file, and the WAL starts over once
//! a checkpoint has copied everything.

use crate::read::db;
use fincrm_store::StoreResult;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// How often the WAL is checkpointed.
pub(crate) const EVERY: Duration = Duration::from_millis(500);

/// The checkpointing thread; it stops when this handle is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: flume::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database file at `path` (created by the writer, in WAL mode).
    pub(crate) fn start(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(db)?;
        // The checkpoint fsyncs the database file before the WAL may be reused.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        let (stop, stopped) = flume::bounded::<()>(0);
        std::thread::Builder::new()
            .name("fincrm-sqlite-checkpoint".to_owned())
            .spawn(move || {
                while let Err(flume::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    let done = conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "WAL checkpoint failed; trying again");
                    }
                }
            })
            .map_err(|e| fincrm_store::StoreError::Other(anyhow::Error::new(e)))?;
        Ok(Self { _stop: stop })
    }
}
