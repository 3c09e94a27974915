//! Store tasks: work `migrate` finishes in Rust after the SQL migrations, a page at a time, each
//! page its own transaction. A task is pending while its `store_task` row exists (migration
//! 0013); the row's `cursor` is the last key done, so a task cut short (a killed process, a full
//! disk) resumes where it stopped on the next `migrate` instead of being left half done.

use fincrm_store::StoreResult;
use sqlx::{SqliteConnection, SqlitePool};

/// Customers handled per page (and so per transaction) by the tasks that page over customers.
pub(crate) const PAGE: i64 = 5_000;

/// Runs task `name` while it is pending: `step` does the page after the cursor it is given,
/// inside that page's transaction, and returns the page's last key, or `None` when nothing was
/// left (then the task is done and its row removed). Whether there was anything to do.
pub(crate) async fn run(
    pool: &SqlitePool,
    name: &str,
    mut step: impl AsyncFnMut(&mut SqliteConnection, &str) -> StoreResult<Option<String>>,
) -> StoreResult<bool> {
    let mut ran = false;
    loop {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(after): Option<String> =
            sqlx::query_scalar("SELECT cursor FROM store_task WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(ran);
        };
        if !ran {
            tracing::info!(task = name, "finishing a store task");
            ran = true;
        }
        if let Some(last) = step(&mut tx, &after).await? {
            sqlx::query("UPDATE store_task SET cursor = ? WHERE name = ?")
                .bind(last)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM store_task WHERE name = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
}

/// Whether task `name` is still to do.
pub(crate) fn pending(conn: &rusqlite::Connection, name: &str) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM store_task WHERE name = ?1)")
        .and_then(|mut s| s.query_row([name], |row| row.get(0)))
        .map_err(crate::read::db)
}
