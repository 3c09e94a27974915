//! fincrm's storage port: what the service layer needs from a database, independent of engine.
//!
//! What belongs here: the [`Store`] trait, [`StoreError`], the table layout shared by both
//! engines ([`tables`]: one column list per table, so SQLite and PostgreSQL write the same rows
//! from the same records), the row types both adapters read into ([`rows`]), and the
//! [`conformance`] suite that every adapter must pass.
//!
//! What does not: SQL dialects and connection handling (the `fincrm_store_sqlite` and
//! `fincrm_store_pg` adapters), business rules (the service layer).

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod conformance;
pub mod debits;
mod error;
pub mod merge;
pub mod pii;
pub mod rows;
pub mod search;
pub mod sql;
pub mod tables;
pub mod tree;

pub use audit::{AuditStore, NewAuditEntry};
pub use auth::AuthStore;
pub use error::StoreError;
pub use merge::MergeRecord;
pub use pii::ReencryptPage;
pub use search::CustomerQuery;
pub use tables::{ColumnData, OnConflict, TableBatch, TableSpec};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fincrm_domain::{Customer, CustomerId, Holding, HoldingId, Interaction, Transaction};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// The result type of every store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded default: one SQLite file in WAL mode.
    Sqlite,
    /// The production database.
    Postgres,
}

/// Marks a write as one numbered batch of an import source, committed in the same transaction
/// as its rows: a re-run skips batches already marked, and a killed import never leaves a batch
/// half written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMarker {
    /// What was imported: a digest of the file's content and the record kind.
    pub source: String,
    /// Batch number within the source, from 0.
    pub batch_no: i64,
    /// Number of source records the batch covered (loaded and rejected).
    pub records: i64,
    /// How many of them were loaded.
    pub loaded: i64,
}

/// The outcome of one import, kept as a record for operators and auditors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRunRecord {
    /// The source (digest and kind) as in [`BatchMarker::source`].
    pub source: String,
    /// The file's path or name as given.
    pub file_name: String,
    /// Record kind: customers, holdings, transactions, …
    pub kind: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Records read.
    pub records: i64,
    /// Records loaded.
    pub loaded: i64,
    /// Records rejected.
    pub rejected: i64,
    /// `completed`, or `failed` with the reason in the log (a failed run is retryable).
    pub status: String,
}

/// A pair of customers that may be the same party, for review (merge comes later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DuplicateCandidate {
    /// The lower customer number of the pair.
    pub customer_a: String,
    /// The higher one.
    pub customer_b: String,
    /// Why they match: `same_id_number`, `same_uscc` or `same_phone_and_name`.
    pub reason: String,
}

/// Row counts of the main tables, for summaries and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TableCounts {
    /// Customers.
    pub customers: i64,
    /// Holdings.
    pub holdings: i64,
    /// Transactions.
    pub transactions: i64,
    /// Interactions.
    pub interactions: i64,
    /// Relationships.
    pub relationships: i64,
    /// Branches.
    pub branches: i64,
    /// Staff.
    pub staff: i64,
    /// Products.
    pub products: i64,
    /// Committed import batches.
    pub import_batches: i64,
}

/// A time-ordered page: `[from, to)` and the keyset position to continue before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeWindow {
    /// Not before this instant.
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Strictly before this `(instant, key)`: the last row of the previous page.
    pub before: Option<(DateTime<Utc>, String)>,
    /// At most this many rows.
    pub limit: i64,
}

/// Which customers a caller may see: the data scope below every customer read (SECURITY.md §0.1,
/// Dataverse-style access levels). The service layer maps a principal's role to a scope
/// (`fincrm_service::customers::ROLE_SCOPES`); the store applies it in the query itself, so a
/// customer outside the scope is indistinguishable from one that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerScope {
    /// Every customer (global access).
    All,
    /// Customers whose home branch (`customer.branch_id`) is this branch or any branch below
    /// it in the organisation tree (`branch.parent_id`, followed recursively).
    Branches(String),
    /// A user's book: customers whose primary RM is the user, or whom the user covers in any
    /// coverage role.
    Book(String),
}

/// Everything the customer 360 shows that is stored, read by [`Store::customer_360`].
#[derive(Debug, Clone)]
pub struct Customer360 {
    /// The customer.
    pub customer: Customer,
    /// Its family's holdings (see [`merge`]).
    pub holdings: Vec<Holding>,
    /// Its family's latest transactions, newest first.
    pub transactions: Vec<Transaction>,
    /// Its family's latest interactions, newest first.
    pub interactions: Vec<Interaction>,
    /// Its latest scores, newest first.
    pub scores: Vec<analytics::ScoreRow>,
    /// Its relationships.
    pub relationships: Vec<fincrm_domain::Relationship>,
    /// Its family's consent records, newest first.
    pub consents: Vec<fincrm_domain::Consent>,
}

/// A personal-information key an exact search looks for: an ID document number or a mobile
/// number, as the user typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiKey<'a> {
    /// An ID document number (resident ID, credit code or passport).
    IdNumber(&'a str),
    /// A mobile number.
    Phone(&'a str),
}

impl PiKey<'_> {
    /// The field it is looked up in (`pii::FIELD_ID_NUMBER` or `pii::FIELD_PHONE`) and its
    /// value normalised like stored values; `None` for a value that is no such number.
    #[must_use]
    pub fn field_and_term(self) -> (&'static str, Option<String>) {
        match self {
            Self::IdNumber(raw) => (pii::FIELD_ID_NUMBER, pii::normalise_id_number(raw)),
            Self::Phone(raw) => (pii::FIELD_PHONE, pii::normalise_phone(raw)),
        }
    }
}

/// What [`Store::customers_by_key`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyMatch {
    /// The customer with that customer number.
    Number(Box<Customer>),
    /// No customer has that number (in scope); these are the customers with that ID document or
    /// mobile number, in key order (maybe none).
    Pi(Vec<Customer>),
    /// No customer has that number, and no personal-information key was asked for.
    Neither,
}

/// How much of each list a [`Customer360`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View360Limits {
    /// Latest transactions and interactions.
    pub latest: i64,
    /// Latest scores.
    pub scores: i64,
}

/// What the service layer needs from a database. Both adapters implement it and pass the
/// [`conformance`] suite, so the same inputs give the same results on SQLite and PostgreSQL.
#[async_trait]
pub trait Store: Send + Sync {
    /// The engine behind this store.
    fn backend(&self) -> Backend;

    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// Writes table batches in one transaction, together with `marker` when given.
    ///
    /// Rows are inserted or, by each table's [`OnConflict`] rule, updated in place or left as
    /// they are, so writing the same batch twice changes nothing. Returns the rows written.
    async fn write(&self, marker: Option<&BatchMarker>, batches: &[TableBatch])
    -> StoreResult<u64>;

    /// Writes one page of an analytics run's scores and its batch marker in one transaction
    /// (a score of the same customer and run is replaced). The default goes through
    /// [`Store::write`]; an engine may take a faster road for these large, plain pages.
    async fn write_scores(
        &self,
        marker: &BatchMarker,
        scores: Vec<tables::CustomerScore>,
    ) -> StoreResult<u64> {
        self.write(Some(marker), &[tables::customer_scores(&scores)])
            .await
    }

    /// Writes `batches` and appends the audit `entries` in one transaction: both land or
    /// neither does (every change made through the API).
    async fn write_audited(
        &self,
        batches: &[TableBatch],
        entries: &[NewAuditEntry],
    ) -> StoreResult<u64>;

    /// [`Store::write_audited`] for rows that must be new (a create): when any row's key is
    /// stored already (another request created it a moment before), nothing is written and the
    /// call fails with [`StoreError::Conflict`]. A check for the key beforehand gives the
    /// friendly answer; this makes two creates racing for one key end as one create and one
    /// conflict, never as an overwrite.
    async fn create_audited(
        &self,
        batches: &[TableBatch],
        entries: &[NewAuditEntry],
    ) -> StoreResult<u64>;

    /// The batch numbers of `source` already committed.
    async fn committed_batches(&self, source: &str) -> StoreResult<HashSet<i64>>;

    /// Records the outcome of an import run.
    async fn record_import_run(&self, run: &ImportRunRecord) -> StoreResult<()>;

    /// Which of `ids` are customers in the store.
    async fn existing_customers(&self, ids: &[&str]) -> StoreResult<HashSet<String>>;

    /// The owner of each of `ids` that is a holding in the store.
    /// Which of `ids` are stored corporate customers.
    async fn existing_corporates(&self, ids: &[&str]) -> StoreResult<HashSet<String>>;

    async fn existing_holdings(&self, ids: &[&str]) -> StoreResult<HashMap<String, String>>;

    /// Finds customers that share an ID number, a credit code, or a phone and name, records new
    /// pairs as duplicate candidates, and returns how many pairs are recorded in all.
    async fn detect_duplicates(&self) -> StoreResult<i64>;

    /// Recorded duplicate candidates, ordered by the pair.
    async fn duplicate_candidates(&self, limit: i64) -> StoreResult<Vec<DuplicateCandidate>>;

    /// One customer.
    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<Customer>>;

    /// A customer's holdings, ordered by account number.
    async fn holdings_of(&self, id: &CustomerId) -> StoreResult<Vec<Holding>>;

    /// One holding.
    async fn holding(&self, id: &HoldingId) -> StoreResult<Option<Holding>>;

    /// A customer's latest transactions, newest first.
    async fn recent_transactions(
        &self,
        id: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<Transaction>>;

    /// A customer's latest interactions, newest first.
    async fn interactions_of(&self, id: &CustomerId, limit: i64) -> StoreResult<Vec<Interaction>>;

    /// Row counts of the main tables.
    async fn counts(&self) -> StoreResult<TableCounts>;

    /// Checks that the database answers (for health checks).
    async fn ping(&self) -> StoreResult<()>;

    /// The next `limit` customers after `after` in key order, with the facts analytics needs.
    async fn analytics_customers(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<analytics::CustomerFacts>>;

    /// Daily debit activity of the customers with keys in `first..=last` (in the order of
    /// [`Store::analytics_customers`]), by local day at `utc_offset_secs`, ordered by customer
    /// and day.
    async fn analytics_activity(
        &self,
        first: &str,
        last: &str,
        utc_offset_secs: i32,
    ) -> StoreResult<analytics::ActivityByDay>;

    /// Every record merged into another, as `(merged, survivor)`, in no particular order: the
    /// analytics run scores a family as its survivor, with the merged records' activity and
    /// balances.
    async fn analytics_merged(&self) -> StoreResult<Vec<(String, String)>>;

    /// Every corporate customer's value figures (few: corporates are a small share of
    /// customers), for the corporate tier rules.
    async fn analytics_corporate_values(&self) -> StoreResult<Vec<analytics::CorporateValueRow>>;

    /// Records the start of a run; `false` when a run with that id exists already (another
    /// process started it), in which case the caller must not run it again.
    async fn start_analytics_run(&self, run: &analytics::AnalyticsRun) -> StoreResult<bool>;

    /// Looks up a run.
    async fn analytics_run(&self, run_id: &str) -> StoreResult<Option<analytics::AnalyticsRun>>;

    /// Marks a run finished with `status` (`completed` or `failed`) and its customer count,
    /// and records the fitted parameters.
    async fn finish_analytics_run(
        &self,
        run_id: &str,
        status: &str,
        customers: i64,
        params: &str,
    ) -> StoreResult<()>;

    /// Tier and stage of every customer in the latest completed run other than `except_run`.
    async fn previous_scores(&self, except_run: &str)
    -> StoreResult<Vec<analytics::PreviousScore>>;

    /// The AUM of every customer scored by the latest completed run (other than `except_run`)
    /// whose day is on or before `on_or_before`, with that day; `None` when there is no such
    /// run. The score runs are the balance history the lifecycle's AUM trend reads.
    async fn aum_history(
        &self,
        on_or_before: chrono::NaiveDate,
        except_run: &str,
    ) -> StoreResult<Option<(chrono::NaiveDate, Vec<(String, i64)>)>>;

    /// The latest version of rule set `kind` (`tiers`, `lifecycle`): its version and JSON body.
    async fn rule_set(&self, kind: &str) -> StoreResult<Option<(i64, String)>>;

    /// Saves `body` as the next version of rule set `kind` and records the change (with the
    /// previous and new body) in the audit trail in the same transaction. Returns the version.
    async fn save_rule_set(&self, kind: &str, body: &str, actor: &str) -> StoreResult<i64>;

    /// Customers whose ID document number (resident ID, credit code or passport) is `raw`,
    /// normalised like stored values (trimmed, upper-case), in key order. Uses the blind index
    /// when the store has a keyring, the plaintext column otherwise; an invalid number finds
    /// nobody.
    async fn customers_by_id_number(&self, raw: &str) -> StoreResult<Vec<CustomerId>>;

    /// Customers with mobile number `raw` (any form `MobilePhone::parse` accepts), in key
    /// order: the call-centre screen-pop. Blind index with a keyring, plaintext without.
    async fn customers_by_phone(&self, raw: &str) -> StoreResult<Vec<CustomerId>>;

    /// One page of `fincrm keys rotate`: the next `limit` customers after `after` in key order,
    /// their sealed PI re-encrypted under the keyring's active key and any plaintext PI sealed,
    /// in one transaction ([`pii::reseal`]). Values already under the active key are not
    /// rewritten, so the job is resumable and a repeated run rewrites nothing. Fails without a
    /// keyring.
    async fn reencrypt_customers(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<ReencryptPage>;

    /// A customer's scores from every completed run, newest first.
    async fn score_history(
        &self,
        id: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<analytics::ScoreRow>>;

    /// A page of a customer's transactions, newest first: posted in `[from, to)` when given,
    /// and before the `(posted_at, transaction_id)` position `before` (keyset pagination).
    async fn transactions_page(
        &self,
        id: &CustomerId,
        window: &TimeWindow,
    ) -> StoreResult<Vec<Transaction>>;

    /// A page of a customer's interactions, newest first, as [`Self::transactions_page`].
    async fn interactions_page(
        &self,
        id: &CustomerId,
        window: &TimeWindow,
    ) -> StoreResult<Vec<Interaction>>;

    /// Every consent record of a customer, newest first (the latest per purpose and channel is
    /// in force).
    async fn consents_of(&self, id: &CustomerId) -> StoreResult<Vec<fincrm_domain::Consent>>;

    /// The organisation tree: every branch, by code.
    async fn branches(&self) -> StoreResult<Vec<fincrm_domain::Branch>>;

    /// Changes the organisation tree: in one transaction, holds off every other change to the
    /// tree (from this process or another on the same database), reads the tree, lets `edit`
    /// decide against it and writes the decision with its audit entry. A refusal writes
    /// nothing. Returns the branch as it now stands.
    async fn edit_branches(
        &self,
        edit: tree::TreeEdit<'_>,
    ) -> StoreResult<Result<fincrm_domain::Branch, tree::TreeRefusal>>;

    /// Records `merge` (the merged record points at the survivor and reads as merged) with
    /// the audit `entries`, in one transaction. `false`, writing nothing, when the merged
    /// record is already merged (another merge won the race).
    async fn merge_customers(
        &self,
        merge: &MergeRecord,
        entries: &[NewAuditEntry],
    ) -> StoreResult<bool>;

    /// Undoes merge `merge_id` (the pointer cleared, the prior status restored, the lineage
    /// row marked) with the audit `entries`, in one transaction; the record as undone, or
    /// `None` when there is no such merge still in force.
    async fn undo_merge(
        &self,
        merge_id: &str,
        undone_by: &str,
        at: DateTime<Utc>,
        entries: &[NewAuditEntry],
    ) -> StoreResult<Option<MergeRecord>>;

    /// One merge by key.
    async fn merge_record(&self, merge_id: &str) -> StoreResult<Option<MergeRecord>>;

    /// The lineage of a customer: every merge it took part in, either side, newest first.
    async fn merges_of(&self, id: &CustomerId) -> StoreResult<Vec<MergeRecord>>;

    /// The customer's relationships, either side (household, group, guarantor, …).
    async fn relationships_of(
        &self,
        id: &CustomerId,
    ) -> StoreResult<Vec<fincrm_domain::Relationship>>;

    /// Erasure on request (PIPL art. 47) where the law keeps the records: writes `anonymised`
    /// over the customer (personal information gone, its search terms with it), clears the
    /// free text of its contacts, and appends the audit `entries`, in one transaction.
    async fn erase_customer(
        &self,
        anonymised: &Customer,
        entries: &[NewAuditEntry],
    ) -> StoreResult<()>;

    /// Customers inside `scope` matching `query`, in customer-number order, at most
    /// `query.limit` (the name index of [`search`], kept by every customer write).
    async fn find_customers(
        &self,
        scope: &CustomerScope,
        query: &CustomerQuery,
    ) -> StoreResult<Vec<Customer>>;

    /// One customer, only when it lies within `scope` (`None` when it does not exist or is
    /// outside the scope: callers must not tell the two apart).
    async fn customer_in_scope(
        &self,
        scope: &CustomerScope,
        id: &CustomerId,
    ) -> StoreResult<Option<Customer>>;

    /// The customers within `scope` a search names exactly: the one whose customer number is
    /// `number`, else those whose ID document or mobile number is `pi` (normalised like stored
    /// values, through the blind index with a keyring; an invalid number finds nobody), in key
    /// order. Customer numbers come first because a bank's numbers may be digits only, like a
    /// phone. One trip to the database (one job on SQLite's reader threads, one statement on
    /// PostgreSQL): under load each trip is a wait for a core, and an audited lookup made three.
    async fn customers_by_key(
        &self,
        scope: &CustomerScope,
        number: Option<&CustomerId>,
        pi: Option<PiKey<'_>>,
    ) -> StoreResult<KeyMatch>;

    /// Brings the planner's statistics up to date after a bulk load (`demo`, `import`): on
    /// PostgreSQL a freshly loaded table has none until autovacuum gets to it, and the planner's
    /// guesses cost the 360 a parallel scan of the transactions (230 ms instead of 2 at 1M
    /// customers). By default nothing: SQLite's plans for fincrm's indexed reads need none.
    async fn refresh_statistics(&self) -> StoreResult<()> {
        Ok(())
    }

    /// The customer 360 of a customer within `scope` (`None` as [`Self::customer_in_scope`]):
    /// the most read page of the CRM, so an adapter may answer it in one trip to the database.
    /// By default: the scoped read, then the other reads issued together.
    async fn customer_360(
        &self,
        scope: &CustomerScope,
        id: &CustomerId,
        limits: View360Limits,
    ) -> StoreResult<Option<Customer360>> {
        let Some(customer) = self.customer_in_scope(scope, id).await? else {
            return Ok(None);
        };
        let id = &customer.id;
        let (holdings, transactions, interactions, scores, relationships, consents) = tokio::try_join!(
            self.holdings_of(id),
            self.recent_transactions(id, limits.latest),
            self.interactions_of(id, limits.latest),
            self.score_history(id, limits.scores),
            self.relationships_of(id),
            self.consents_of(id),
        )?;
        Ok(Some(Customer360 {
            customer,
            holdings,
            transactions,
            interactions,
            scores,
            relationships,
            consents,
        }))
    }
}
