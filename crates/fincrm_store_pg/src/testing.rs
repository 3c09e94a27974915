//! Test support (feature `testing`): a PostgreSQL store of a test's own, in a fresh schema of
//! the database named by `FINCRM_TEST_PG_URL`.
//!
//! `.ci/run` sets the variable and fails when PostgreSQL is down; without it a test reports
//! itself skipped on stderr and passes, so a plain `cargo test` on a machine without PostgreSQL
//! stays green and says what did not run.

use crate::PgStore;
use fincrm_crypto::Keyring;
use fincrm_store::{Store, StoreResult};
use sqlx::AssertSqlSafe;
use std::sync::Arc;

/// The variable that names the test database.
pub const URL_VARIABLE: &str = "FINCRM_TEST_PG_URL";

/// The test database's URL; `None`, with a `SKIPPED` line naming `what` on stderr, when
/// [`URL_VARIABLE`] is unset or empty.
#[must_use]
pub fn url_or_skip(what: &str) -> Option<String> {
    let url = std::env::var(URL_VARIABLE).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("SKIPPED: {URL_VARIABLE} is not set; {what} did not run on PostgreSQL");
    }
    url
}

/// A schema or database name no other test uses, in this process or another running at the
/// same time: `t_{prefix}_{process}_{nanoseconds}`, in lower case (PostgreSQL folds unquoted
/// names). `prefix` must be letters, digits and `_`.
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("t_{}_{}_{nanos}", prefix.to_lowercase(), std::process::id())
}

/// A migrated store in a schema of its own; [`TestSchema::drop`] removes the schema.
pub struct TestSchema {
    /// The store, its connections confined to the schema.
    pub store: PgStore,
    /// The schema's name (to open more stores in it, or to name it in raw SQL).
    pub name: String,
}

impl TestSchema {
    /// Creates a fresh schema named after `prefix` and migrates a store in it.
    ///
    /// # Errors
    /// When the database cannot be reached or the migrations fail.
    pub async fn migrated(url: &str, prefix: &str) -> StoreResult<Self> {
        Self::open(url, prefix, None).await
    }

    /// [`TestSchema::migrated`] with personal information sealed under `keyring`.
    ///
    /// # Errors
    /// When the database cannot be reached or the migrations fail.
    pub async fn migrated_with_keyring(
        url: &str,
        prefix: &str,
        keyring: Arc<Keyring>,
    ) -> StoreResult<Self> {
        Self::open(url, prefix, Some(keyring)).await
    }

    async fn open(url: &str, prefix: &str, keyring: Option<Arc<Keyring>>) -> StoreResult<Self> {
        let name = unique_name(prefix);
        let mut store = PgStore::connect_in_schema(url, Some(&name)).await?;
        if let Some(keyring) = keyring {
            store = store.with_keyring(keyring);
        }
        store.migrate().await?;
        Ok(Self { store, name })
    }

    /// Another store on the same schema: a second server process, say.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn another_store(&self, url: &str) -> StoreResult<PgStore> {
        PgStore::connect_in_schema(url, Some(&self.name)).await
    }

    /// Drops the schema and everything in it, then closes the store's connections.
    ///
    /// # Errors
    /// When the schema cannot be dropped.
    pub async fn drop(self) -> StoreResult<()> {
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.name)))
            .execute(self.store.pool())
            .await?;
        self.store.close().await;
        Ok(())
    }
}
