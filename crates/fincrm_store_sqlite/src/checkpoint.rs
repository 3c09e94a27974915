//! WAL checkpoints off the commit path.
//!
//! By default the connection that commits runs the checkpoint once the WAL passes 1,000 pages,
//! inside its commit. Under the API's load a checkpoint rarely completes (readers are always on
//! some snapshot), so the WAL stays over the threshold and every commit of the single writer —
//! every audit group a reader waits on — started another: eleven a second, 5 ms each, up to
//! 22 ms (`perf probe` on `sqlite3WalCheckpoint` under `bench/api` search load). The writer now
//! has `wal_autocheckpoint=0`, and this thread checkpoints every [`EVERY`] from a connection of
//! its own. A `PASSIVE` checkpoint takes no lock that the writer or the readers wait for; it
//! copies what no reader still needs (and fsyncs the database file when that is everything),
//! and the WAL starts over once a checkpoint has copied everything.
//!
//! A writer that never pauses (a bulk import, the demo load: one large transaction after
//! another) never lets a passive checkpoint from another connection catch up, and then the WAL
//! never starts over: at 100k demo customers it grew to 857 MiB, at 1M to 16.7 GB, and every
//! read had to search it. A `RESTART` checkpoint from this thread would have to win the write
//! lock against that writer, and loses (a test showed it starved). So the writer keeps SQLite's
//! own automatic checkpoint as a backstop, at [`WRITER_CHECKPOINT_FRAMES`] instead of 1,000:
//! past 128 MiB of WAL the committing writer checkpoints, between its own transactions, and the
//! next one starts the WAL over. Short API transactions leave that to this thread.
//!
//! They did not, at first: under the API's load a reader is always on a snapshot in the WAL, so
//! the WAL never started over by itself either. The audit groups wrote about 32 MiB of it a
//! second (one index page a record), and every ~4.5 s the backstop checkpointed inside an
//! audit commit: every request waited 150–250 ms, mostly for the fsync of every page copied
//! since the last complete checkpoint (SQLite fsyncs the database file only in a checkpoint
//! that copies everything; strace: 59–98 ms). So past [`RESTART_PAST_FRAMES`] a round now
//! starts the WAL over itself (`Wal::checkpoint_restarting_past`):
//! - passive rounds, each followed by an fsync of the database file of our own, outside any
//!   lock, until what is left to copy and flush is about 1 MiB (each pass has only what the
//!   writer added during the last);
//! - then a `RESTART` checkpoint. It holds the write lock while it copies and flushes that
//!   rest and waits for the readers still in the WAL, so it waits in steps of 50 µs rather than
//!   SQLite's 1, 2, 5 … ms, and gives up after 5 ms of waiting (`restart_wait`): a reader that
//!   keeps its snapshot costs writers that much, and the WAL starts over in a later round. (A
//!   reader whose snapshot is older than the last ~256 frames keeps the passes from getting
//!   there, so no `RESTART` is tried while it reads.) Under the 360's load it holds the lock 3–9 ms, about once a
//!   second.

use crate::read::db;
use anyhow::Context;
use fincrm_store::StoreResult;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often the WAL is checkpointed.
pub(crate) const EVERY: Duration = Duration::from_millis(500);

/// WAL frames (pages) past which the writer checkpoints after a commit: 128 MiB of 4 KiB pages.
pub(crate) const WRITER_CHECKPOINT_FRAMES: i64 = 32_768;

/// WAL frames past which a round starts the WAL over (32 MiB of 4 KiB pages).
const RESTART_PAST_FRAMES: i64 = 8_192;

/// Frames a passive round may leave uncopied for the `RESTART` to copy under the write lock:
/// about 1 MiB, an fsync of a few milliseconds.
const RESTART_LEFT_FRAMES: i64 = 256;

/// Passive rounds back to back, at most, to get down to [`RESTART_LEFT_FRAMES`]. A writer that
/// outruns them (a bulk load) is left to its backstop.
const CATCH_UP_ROUNDS: usize = 8;

/// `RESTART`s a round, at most: each may hold the write lock for [`RESTART_WAIT`] and a
/// short copy.
const RESTART_ATTEMPTS: u32 = 2;

/// How long the `RESTART` waits in all, for the write lock and for the readers, before it
/// gives up (a wall-clock cap: on two busy cores a 50 µs sleep can take milliseconds).
const RESTART_WAIT: Duration = Duration::from_millis(5);

/// Past this many WAL frames (80 MiB: several rounds' `RESTART`s have given up on readers in a
/// row) the `RESTART` waits up to [`PATIENT_RESTART_WAIT`], once a round: writers wait that
/// long rather than for the backstop's checkpoint at 128 MiB (100–250 ms). Under the 360's
/// load the WAL reached 126 MiB in one of two 20 s runs without it, 91 MiB at most with it.
const PATIENT_PAST_FRAMES: i64 = 20_480;

/// How long the `RESTART` waits in all past [`PATIENT_PAST_FRAMES`].
const PATIENT_RESTART_WAIT: Duration = Duration::from_millis(25);

/// The checkpointing thread; it stops when this handle is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: flume::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database file at `path` (created by the writer, in WAL mode).
    pub(crate) fn start(path: &Path) -> StoreResult<Self> {
        let wal = Wal::open(path)?;
        let (stop, stopped) = flume::bounded::<()>(0);
        std::thread::Builder::new()
            .name("fincrm-sqlite-checkpoint".to_owned())
            .spawn(move || {
                while let Err(flume::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if let Err(e) = wal.checkpoint() {
                        tracing::warn!(error = %format!("{e:#}"), "WAL checkpoint failed; trying again");
                    }
                }
            })
            .map_err(|e| fincrm_store::StoreError::Other(anyhow::Error::new(e)))?;
        Ok(Self { _stop: stop })
    }
}

/// What a checkpoint reported (`PRAGMA wal_checkpoint`'s row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpointed {
    /// It could not do all its mode asks: a `RESTART` that did not start the WAL over.
    busy: bool,
    /// Frames in the WAL.
    frames: i64,
    /// Frames of those copied into the database file.
    copied: i64,
}

impl Checkpointed {
    fn left(self) -> i64 {
        self.frames - self.copied
    }
}

/// The checkpointing connection, and the database file opened beside it to flush it ahead of
/// a `RESTART`.
struct Wal {
    conn: Connection,
    database: std::fs::File,
}

impl Wal {
    fn open(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        conn.busy_handler(Some(restart_wait)).map_err(db)?;
        // The checkpoint fsyncs the database file before the WAL may be reused.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        let database = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| {
                fincrm_store::StoreError::Other(
                    anyhow::Error::new(e).context("opening the database file to flush it"),
                )
            })?;
        Ok(Self { conn, database })
    }

    fn wal_checkpoint(&self, mode: &str) -> rusqlite::Result<Checkpointed> {
        self.conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
                Ok(Checkpointed {
                    busy: row.get::<_, i64>(0)? != 0,
                    frames: row.get(1)?,
                    copied: row.get(2)?,
                })
            })
    }

    /// One round: a passive checkpoint and, past [`RESTART_PAST_FRAMES`], the WAL started over.
    /// Returns the last checkpoint's report.
    fn checkpoint(&self) -> anyhow::Result<Checkpointed> {
        self.checkpoint_restarting_past(RESTART_PAST_FRAMES)
    }

    /// The `RESTART` holds the write lock while it copies what is left and fsyncs the database
    /// file, and SQLite fsyncs that file only in a checkpoint that copies everything: so the
    /// pages copied since the last fsync would all be flushed under the lock (60–100 ms for a
    /// round's 10,000 pages, traced with strace). Passive rounds and fsyncs of our own, outside
    /// the lock, alternate until what is left to copy and flush is [`RESTART_LEFT_FRAMES`];
    /// each pass has only what the writer added during the last.
    fn checkpoint_restarting_past(&self, restart_past_frames: i64) -> anyhow::Result<Checkpointed> {
        let mut passive = self.wal_checkpoint("PASSIVE")?;
        if passive.frames < restart_past_frames {
            return Ok(passive);
        }
        // Frames copied as of our last fsync: none known, so the first pass flushes.
        let mut flushed = 0;
        let mut attempts = 0;
        for _ in 0..CATCH_UP_ROUNDS {
            if passive.copied - flushed + passive.left() <= RESTART_LEFT_FRAMES {
                let patience = if passive.frames < PATIENT_PAST_FRAMES {
                    RESTART_WAIT
                } else {
                    PATIENT_RESTART_WAIT
                };
                RESTART_PATIENCE.with(|p| p.set(patience));
                let restart = self.wal_checkpoint("RESTART")?;
                attempts += 1;
                // Under the API's load about one in three gives up on a reader; one more try,
                // so that the backstop's stall stays rare. A patient one is not repeated: a
                // reader that outlasts it costs writers 25 ms a round, no more.
                if !restart.busy || attempts == RESTART_ATTEMPTS || patience > RESTART_WAIT {
                    return Ok(restart);
                }
                passive = restart;
                continue;
            }
            flushed = passive.copied;
            self.database
                .sync_data()
                .context("flushing the database file")?;
            passive = self.wal_checkpoint("PASSIVE")?;
        }
        Ok(passive)
    }
}

thread_local! {
    /// When the current statement's first wait began (see [`restart_wait`]).
    static WAITING_SINCE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    /// How long the next `RESTART` may wait in all.
    static RESTART_PATIENCE: std::cell::Cell<Duration> = const { std::cell::Cell::new(RESTART_WAIT) };
}

/// The checkpointing connection's busy handler: 50 µs sleeps for up to [`RESTART_WAIT`] (or
/// [`PATIENT_RESTART_WAIT`]) in all (SQLite counts the tries of one statement together, from
/// 0), then the checkpoint gives up; unable to take the write lock, it copies what it can as a
/// passive one.
fn restart_wait(tries: i32) -> bool {
    let now = Instant::now();
    let since = WAITING_SINCE.with(|since| {
        if tries == 0 {
            since.set(Some(now));
        }
        since.get().unwrap_or(now)
    });
    if now.duration_since(since) >= RESTART_PATIENCE.with(std::cell::Cell::get) {
        return false;
    }
    std::thread::sleep(Duration::from_micros(50));
    true
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
        let checkpointer = Wal::open(&path).expect("checkpointer");
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
            checkpointer.checkpoint().expect("checkpoint");
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

    /// A database in WAL mode with a table of blobs, and a writer on it without the backstop.
    fn wal_database(dir: &Path) -> (std::path::PathBuf, Connection) {
        let path = dir.join("wal.db");
        let writer = Connection::open(&path).expect("writer");
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; \
                 PRAGMA wal_autocheckpoint=0; CREATE TABLE t (v BLOB);",
            )
            .expect("schema");
        writer.busy_timeout(Duration::from_secs(30)).expect("busy");
        (path, writer)
    }

    fn write_blob(writer: &Connection) {
        writer
            .execute("INSERT INTO t VALUES (zeroblob(65536))", [])
            .expect("insert");
    }

    /// The API's load in small: a writer commits 64 KiB every half millisecond (100 MiB in
    /// all) while two readers take turns holding a snapshot for 2 ms, so one is always in the
    /// WAL, and the checkpointer runs every 10 ms, restarting past `restart_past_frames`. The
    /// largest WAL seen, in bytes.
    fn largest_wal_with_readers_always_in_it(restart_past_frames: i64) -> u64 {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (path, writer) = wal_database(dir.path());
        write_blob(&writer);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2_u64)
            .map(|n| {
                let (path, done) = (path.clone(), done.clone());
                std::thread::spawn(move || {
                    let reader = Connection::open(&path).expect("reader");
                    std::thread::sleep(Duration::from_millis(n));
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        reader.execute_batch("BEGIN").expect("begin");
                        let _: i64 = reader
                            .query_row("SELECT max(rowid) FROM t", [], |r| r.get(0))
                            .expect("read");
                        std::thread::sleep(Duration::from_millis(2));
                        reader.execute_batch("COMMIT").expect("end");
                    }
                })
            })
            .collect();
        let writing = {
            let done = done.clone();
            std::thread::spawn(move || {
                for _ in 0..1_600 {
                    write_blob(&writer);
                    std::thread::sleep(Duration::from_micros(500));
                }
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            })
        };
        let checkpointer = Wal::open(&path).expect("checkpointer");
        let wal = path.with_extension("db-wal");
        let mut largest = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            checkpointer
                .checkpoint_restarting_past(restart_past_frames)
                .expect("checkpoint");
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            std::thread::sleep(Duration::from_millis(10));
        }
        writing.join().expect("writer thread");
        for reader in readers {
            reader.join().expect("reader thread");
        }
        largest
    }

    #[test]
    fn the_wal_starts_over_although_readers_are_always_in_it() {
        const MIB: u64 = 1024 * 1024;
        // Passive checkpoints alone: the readers keep the WAL from starting over, and it takes
        // in all 100 MiB (what made the backstop stall the API).
        let passive_only = largest_wal_with_readers_always_in_it(i64::MAX);
        assert!(
            passive_only > 90 * MIB,
            "passive only: the WAL reached {passive_only} bytes"
        );
        // Restarting past 4 MiB (1,024 frames), the WAL stays near that.
        let restarting = largest_wal_with_readers_always_in_it(1_024);
        assert!(
            restarting < 24 * MIB,
            "restarting: the WAL reached {restarting} bytes"
        );
    }

    #[test]
    fn a_reader_keeping_its_snapshot_delays_the_restart_not_the_writers() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (path, writer) = wal_database(dir.path());
        // Past RESTART_PAST_FRAMES: 9,600 frames.
        for _ in 0..600 {
            write_blob(&writer);
        }
        let reader = Connection::open(&path).expect("reader");
        reader.execute_batch("BEGIN").expect("begin");
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("read");
        let checkpointer = Wal::open(&path).expect("checkpointer");
        let started = std::time::Instant::now();
        let round = checkpointer.checkpoint().expect("checkpoint");
        // Everything is copied, but the reader is still in the WAL: the RESTART gives up after
        // its brief waits instead of holding the write lock for the busy timeout.
        assert_eq!(round.left(), 0, "{round:?}");
        assert!(round.busy, "{round:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the restart waited {:?}",
            started.elapsed()
        );
        write_blob(&writer);
        reader.execute_batch("COMMIT").expect("end");
        // Once the reader is gone the next round starts the WAL over: the next write is at its
        // start again.
        let round = checkpointer.checkpoint().expect("checkpoint");
        assert!(!round.busy, "{round:?}");
        write_blob(&writer);
        let after = checkpointer.wal_checkpoint("PASSIVE").expect("checkpoint");
        assert!(after.frames < 100, "{after:?}");
    }
}
