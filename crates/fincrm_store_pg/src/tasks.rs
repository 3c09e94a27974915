//! Store tasks: work `migrate` finishes in Rust after the SQL migrations, a page at a time, each
//! page its own transaction. A task is pending while its `store_task` row exists (migration
//! 0014); the row's `cursor` is the last key done, so a task cut short (a killed process, a full
//! disk) resumes where it stopped on the next `migrate` instead of being left half done.

use fincrm_store::StoreResult;
use sqlx::{PgConnection, PgPool};

/// Customers handled per page (and so per transaction) by the tasks that page over customers.
pub(crate) const PAGE: i64 = 5_000;

/// Runs task `name` while it is pending: `step` does the page after the cursor it is given,
/// inside that page's transaction, and returns the page's last key, or `None` when nothing was
/// left (then the task is done and its row removed). Whether there was anything to do. The
/// task's row is locked for each page, so two processes migrating at once take turns.
pub(crate) async fn run(
    pool: &PgPool,
    name: &str,
    mut step: impl AsyncFnMut(&mut PgConnection, &str) -> StoreResult<Option<String>>,
) -> StoreResult<bool> {
    let mut ran = false;
    loop {
        let mut tx = pool.begin().await?;
        let Some(after): Option<String> =
            sqlx::query_scalar("SELECT cursor FROM store_task WHERE name = $1 FOR UPDATE")
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
            sqlx::query("UPDATE store_task SET cursor = $1 WHERE name = $2")
                .bind(last)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM store_task WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
}
