//! Local authentication's storage port: credentials, sessions and API tokens
//! (`migrations/0004_auth.sql` in each adapter).
//!
//! The store keeps only what cannot log anyone in: Argon2id PHC strings for passwords and
//! hex(SHA-256) of session ids, CSRF tokens and API tokens (see the migration for why a fast
//! hash suits 256-bit random tokens). Hashing, random tokens and the rules live in
//! `fincrm_service::auth` and [`fincrm_domain::auth`].
//!
//! Every call that changes who can log in — a login (success or failure), a logout, a password
//! change, an API token created or revoked, the first admin — appends its audit record in the
//! same transaction as the change (the adapters' `audit::append_in`), so there is never a change
//! without its record or a record without its change. Audit records never carry a password, a
//! token or a hash of one.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fincrm_domain::audit::AuditEntry;
use fincrm_domain::auth::{LockoutPolicy, Scope};
use fincrm_domain::{Branch, User};

/// Actor of audit records for a login attempt naming no known user.
pub const ANONYMOUS: &str = "anonymous";

/// A user's stored password and login state.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The staff member.
    pub user_id: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The password was set by someone else (one-time password): change it at the next login.
    pub must_change: bool,
    /// Consecutive failed logins since the last success.
    pub failed_attempts: i64,
    /// No login before this instant.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the password was last set.
    pub password_changed_at: DateTime<Utc>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("user_id", &self.user_id)
            .field("password_hash", &"<redacted>")
            .field("must_change", &self.must_change)
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .field("password_changed_at", &self.password_changed_at)
            .finish()
    }
}

/// Who does something and from where, for the audit record of an authentication event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    /// The acting user's id, [`ANONYMOUS`], or a system actor such as `system:cli`.
    pub actor: String,
    /// The client's address, when known.
    pub client_addr: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl AuthEvent {
    /// An event by `actor` at `at`.
    pub fn new(actor: impl Into<String>, client_addr: Option<&str>, at: DateTime<Utc>) -> Self {
        Self {
            actor: actor.into(),
            client_addr: client_addr.map(str::to_owned),
            at,
        }
    }

    /// The audit entry of this event: `action` on `target_table`/`target_key`, with `after` as
    /// the after image (JSON text) when given.
    pub fn entry(
        &self,
        action: &str,
        target_table: &str,
        target_key: &str,
        after: Option<serde_json::Value>,
    ) -> AuditEntry {
        let mut e = AuditEntry::new(self.at, &self.actor, action, target_table, target_key);
        e.client_addr.clone_from(&self.client_addr);
        e.after_json = after.map(|v| v.to_string());
        e
    }
}

/// A session as stored: only hashes of its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// hex(SHA-256(session token)).
    pub session_id_hash: String,
    /// The user logged in.
    pub user_id: String,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Last request seen (the idle timeout counts from here).
    pub last_seen_at: DateTime<Utc>,
    /// hex(SHA-256(CSRF token)).
    pub csrf_token_hash: String,
    /// When it was ended, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API token as stored: only the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Public handle (shown in lists, used to revoke).
    pub token_id: String,
    /// hex(SHA-256(token)).
    pub token_hash: String,
    /// The user the token acts for.
    pub user_id: String,
    /// What it is for, e.g. `core-banking nightly import`.
    pub name: String,
    /// What it may do (within the user's role).
    pub scopes: Vec<Scope>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expires.
    pub expires_at: DateTime<Utc>,
    /// Revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last used, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The outcome of [`AuthStore::record_login_failure`] for a known user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Consecutive failures, this one included.
    pub failed_attempts: i64,
    /// The lock this failure set, if any.
    pub locked_until: Option<DateTime<Utc>>,
}

/// Why a login failed, as recorded in the audit log (`after_json.result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No such user (or no credential): recorded with actor [`ANONYMOUS`].
    UnknownUser,
    /// Wrong password: counts towards the lockout.
    BadPassword,
    /// The account is locked: the password was not checked and the attempt does not count.
    Locked,
}

impl FailureKind {
    /// The recorded form.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::UnknownUser => "unknown_user",
            FailureKind::BadPassword => "bad_password",
            FailureKind::Locked => "locked",
        }
    }
}

/// Credentials, sessions and API tokens. Both adapters implement it.
#[async_trait]
pub trait AuthStore: Send + Sync {
    /// A member of staff, with role and branch.
    async fn user(&self, user_id: &str) -> StoreResult<Option<User>>;

    /// Whether any user with the admin role has a credential (can log in).
    async fn admin_exists(&self) -> StoreResult<bool>;

    /// Every member of staff, by user id.
    async fn users(&self) -> StoreResult<Vec<User>>;

    /// In one transaction: when no admin has a credential, creates `head_office` if missing,
    /// the staff member `admin` (if missing; an existing one must have the admin role) and its
    /// credential with `must_change`, and records `auth.bootstrap`. Returns `false`, changing
    /// nothing, when an admin credential exists (also when another process won the race).
    async fn bootstrap_admin(
        &self,
        admin: &User,
        head_office: &Branch,
        password_hash: &str,
        event: &AuthEvent,
    ) -> StoreResult<bool>;

    /// A user's credential.
    async fn credential(&self, user_id: &str) -> StoreResult<Option<Credential>>;

    /// Sets a user's password (creating the credential if missing), clears failures and the
    /// lock, revokes the user's sessions except `keep_session` (a session id hash), and records
    /// `auth.password_change`. [`crate::StoreError::NotFound`] when the user is not staff.
    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        must_change: bool,
        keep_session: Option<&str>,
        event: &AuthEvent,
    ) -> StoreResult<()>;

    /// Records a failed login and `auth.login_failed`. For [`FailureKind::BadPassword`], adds one
    /// to the user's consecutive failures atomically and sets the lock `policy` gives for the
    /// new count; the other kinds change no counter. For [`FailureKind::UnknownUser`] `user_id`
    /// is ignored and the record's target is [`UNKNOWN_TARGET`]. Returns the counter and the
    /// lock for a known user.
    async fn record_login_failure(
        &self,
        user_id: &str,
        kind: FailureKind,
        policy: &LockoutPolicy,
        event: &AuthEvent,
    ) -> StoreResult<Option<FailureOutcome>>;

    /// Records a successful login: unless the account is locked at `event.at` (a concurrent
    /// attempt may have locked it since the caller checked), clears the failures, stores
    /// `session` and records `auth.login`. Returns `false`, changing nothing, when locked.
    async fn record_login_success(
        &self,
        session: &SessionRecord,
        event: &AuthEvent,
    ) -> StoreResult<bool>;

    /// A session by the hash of its id.
    async fn session(&self, session_id_hash: &str) -> StoreResult<Option<SessionRecord>>;

    /// Moves a session's `last_seen_at` to `at` (never backwards).
    async fn touch_session(&self, session_id_hash: &str, at: DateTime<Utc>) -> StoreResult<()>;

    /// Ends a session and records `auth.logout`; `false` when there is no such live session.
    async fn revoke_session(&self, session_id_hash: &str, event: &AuthEvent) -> StoreResult<bool>;

    /// Stores a new API token and records `auth.token_create` (name, scopes, expiry; never
    /// the token).
    async fn create_api_token(&self, token: &ApiTokenRecord, event: &AuthEvent) -> StoreResult<()>;

    /// An API token by the hash of its secret.
    async fn api_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiTokenRecord>>;

    /// An API token by the hash of its secret, with its user (`None` when either is missing):
    /// what every bearer request reads first, so an adapter may read both in one trip.
    async fn api_token_with_user(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(ApiTokenRecord, User)>> {
        let Some(token) = self.api_token_by_hash(token_hash).await? else {
            return Ok(None);
        };
        Ok(self.user(&token.user_id).await?.map(|user| (token, user)))
    }

    /// An API token by its public id.
    async fn api_token(&self, token_id: &str) -> StoreResult<Option<ApiTokenRecord>>;

    /// Records a use of a token (`last_used_at`, never backwards).
    async fn touch_api_token(&self, token_id: &str, at: DateTime<Utc>) -> StoreResult<()>;

    /// Revokes a token and records `auth.token_revoke`; `false` when there is no such
    /// unrevoked token.
    async fn revoke_api_token(&self, token_id: &str, event: &AuthEvent) -> StoreResult<bool>;

    /// A user's API tokens (revoked and expired included), newest first.
    async fn api_tokens(&self, user_id: &str) -> StoreResult<Vec<ApiTokenRecord>>;
}

/// The column list of [`CredentialRow`].
pub const CREDENTIAL_COLUMNS: &str =
    "user_id, password_hash, must_change, failed_attempts, locked_until, password_changed_at";

/// A stored credential, as both adapters read it.
#[derive(sqlx::FromRow)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct CredentialRow {
    pub user_id: String,
    pub password_hash: String,
    pub must_change: bool,
    pub failed_attempts: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub password_changed_at: DateTime<Utc>,
}

impl From<CredentialRow> for Credential {
    fn from(r: CredentialRow) -> Self {
        Self {
            user_id: r.user_id,
            password_hash: r.password_hash,
            must_change: r.must_change,
            failed_attempts: r.failed_attempts,
            locked_until: r.locked_until,
            password_changed_at: r.password_changed_at,
        }
    }
}

/// The column list of [`SessionRow`].
pub const SESSION_COLUMNS: &str =
    "session_id_hash, user_id, created_at, expires_at, last_seen_at, csrf_token_hash, revoked_at";

/// A stored session, as both adapters read it.
#[derive(sqlx::FromRow)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct SessionRow {
    pub session_id_hash: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub csrf_token_hash: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        Self {
            session_id_hash: r.session_id_hash,
            user_id: r.user_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_seen_at: r.last_seen_at,
            csrf_token_hash: r.csrf_token_hash,
            revoked_at: r.revoked_at,
        }
    }
}

/// The column list of [`ApiTokenRow`].
pub const API_TOKEN_COLUMNS: &str = "token_id, token_hash, user_id, name, scopes, created_at, \
    expires_at, revoked_at, last_used_at";

/// A stored API token, as both adapters read it.
#[derive(sqlx::FromRow)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct ApiTokenRow {
    pub token_id: String,
    pub token_hash: String,
    pub user_id: String,
    pub name: String,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiTokenRow> for ApiTokenRecord {
    type Error = crate::StoreError;
    fn try_from(r: ApiTokenRow) -> Result<Self, Self::Error> {
        Ok(Self {
            scopes: Scope::parse_list(&r.scopes)?,
            token_id: r.token_id,
            token_hash: r.token_hash,
            user_id: r.user_id,
            name: r.name,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        })
    }
}

/// A staff row joined for [`AuthStore::user`].
#[derive(sqlx::FromRow)]
#[expect(missing_docs, reason = "fields mirror the staff columns")]
pub struct StaffRow {
    pub user_id: String,
    pub name: String,
    pub branch_id: String,
    pub role: String,
}

impl TryFrom<StaffRow> for User {
    type Error = crate::StoreError;
    fn try_from(r: StaffRow) -> Result<Self, Self::Error> {
        Ok(User {
            id: fincrm_domain::UserId::parse(&r.user_id)?,
            name: r.name,
            branch_id: fincrm_domain::BranchId::parse(&r.branch_id)?,
            role: fincrm_domain::StaffRole::parse(&r.role)?,
        })
    }
}

/// The audit target key of a failed login naming no known user. The name as typed is not
/// recorded: it may be a password typed into the wrong field.
pub const UNKNOWN_TARGET: &str = "unknown";

/// The audit after-image of a failed login.
pub fn failure_image(kind: FailureKind, outcome: Option<FailureOutcome>) -> serde_json::Value {
    let mut v = serde_json::json!({ "result": kind.as_str() });
    if let Some(o) = outcome {
        v["failed_attempts"] = o.failed_attempts.into();
        if let Some(until) = o.locked_until {
            v["locked_until"] = until.to_rfc3339().into();
        }
    }
    v
}

/// The audit after-image of an API token (never its secret or hash).
pub fn token_image(t: &ApiTokenRecord) -> serde_json::Value {
    serde_json::json!({
        "user_id": t.user_id,
        "name": t.name,
        "scopes": Scope::join(&t.scopes),
        "expires_at": t.expires_at.to_rfc3339(),
    })
}
