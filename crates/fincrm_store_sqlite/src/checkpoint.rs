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
//!
//! A writer that never pauses (a bulk import, the demo load: one large transaction after
//! another) never lets a passive checkpoint from another connection catch up, and then the WAL
//! never starts over: at 100k demo customers it grew to 857 MiB, at 1M to 16.7 GB, and every
//! read had to search it. A `RESTART` checkpoint from this thread would have to win the write
//! lock against that writer, and loses (a test showed it starved). So the writer keeps SQLite's
//! own automatic checkpoint as a backstop, at [`WRITER_CHECKPOINT_FRAMES`] instead of 1,000:
//! past 128 MiB of WAL the committing writer checkpoints, between its own transactions, and the
//! next one starts the WAL over. Short API transactions leave that to this thread.

use crate::read::db;
use fincrm_store::StoreResult;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// How often the WAL is checkpointed.
pub(crate) const EVERY: Duration = Duration::from_millis(500);

/// WAL frames (pages) past which the writer checkpoints after a commit: 128 MiB of 4 KiB pages.
pub(crate) const WRITER_CHECKPOINT_FRAMES: i64 = 32_768;

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
                    if let Err(e) = checkpoint(&conn) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; trying again");
                    }
                }
            })
            .map_err(|e| fincrm_store::StoreError::Other(anyhow::Error::new(e)))?;
        Ok(Self { _stop: stop })
    }
}

/// One round: a passive checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that commits one transaction after another, never pausing, while the
    /// checkpointer works beside it: the largest WAL seen, in bytes.
    fn largest_wal_beside_a_busy_writer(writer_checkpoint_frames: i64) -> u64 {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("busy.db");
        let writer = Connection::open(&path).expect("writer");
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; CREATE TABLE t (v BLOB);",
            )
            .expect("schema");
        writer
            .pragma_update(None, "wal_autocheckpoint", writer_checkpoint_frames)
            .expect("backstop");
        writer.busy_timeout(Duration::from_secs(30)).expect("busy");
        let checkpointer = Connection::open(&path).expect("checkpointer");
        checkpointer
            .busy_timeout(Duration::from_secs(30))
            .expect("busy");
        let wal = path.with_extension("db-wal");
        let (done, finished) = flume::bounded::<()>(1);
        let writing = std::thread::spawn(move || {
            let blob = vec![7_u8; 64 * 1024];
            for _ in 0..800 {
                writer
                    .execute("INSERT INTO t VALUES (?1)", [&blob])
                    .expect("insert");
            }
            let _ = done.send(());
        });
        let mut largest = 0;
        while finished.try_recv().is_err() {
            checkpoint(&checkpointer).expect("checkpoint");
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            std::thread::sleep(Duration::from_millis(10));
        }
        writing.join().expect("writer thread");
        largest
    }

    #[test]
    fn a_busy_writer_cannot_grow_the_wal_without_bound() {
        // 800 commits of 64 KiB: 50 MiB through the WAL. With the writer's backstop at 256
        // frames (1 MiB), the WAL stays small; without it (0) it takes in most of the 50 MiB.
        let largest = largest_wal_beside_a_busy_writer(256);
        assert!(
            largest < 16 * 1024 * 1024,
            "the WAL reached {largest} bytes"
        );
    }
}
