//! Local authentication (issue #3): passwords, sessions, API tokens, lockout and the first
//! admin. Below HTTP: an axum extractor holds an `Arc<Auth>` and calls
//! [`Auth::authenticate_session`] (cookie) or [`Auth::authenticate_bearer`]
//! (`Authorization: Bearer fcrm_…`), then [`Principal::check_csrf`] on state-changing forms.
//!
//! # Secrets
//! * **Passwords** are hashed with Argon2id (RFC 9106) into PHC strings with a 16-byte random
//!   salt. Default cost ([`HashParams::default`]): 19 MiB of memory, 2 passes, 1 lane — the
//!   OWASP Password Storage Cheat Sheet minimum for Argon2id, about 20–40 ms per hash on one
//!   core here. Verification reads the cost from the stored string, so raising the cost later
//!   leaves old hashes valid. Hashing and verifying run in `spawn_blocking`, off the async
//!   workers. Tests use [`HashParams::fast_for_tests`].
//! * **Session ids, CSRF tokens and API tokens** are 32 bytes from the OS CSPRNG (`getrandom`),
//!   base64url-encoded (API tokens carry the prefix [`TOKEN_PREFIX`] so secret scanners and
//!   people recognise them). The store holds only hex(SHA-256) of each: a fast hash is enough
//!   for 256-bit random values (no guessing is feasible), and a stolen table cannot log anyone
//!   in. Tokens are shown once and never logged or audited.
//!
//! # Login
//! Unknown users, locked accounts and wrong passwords all get [`AuthError::LoginFailed`] after
//! one Argon2 verification (against a dummy hash with the same cost when there is no real one),
//! so neither the answer nor its timing tells whether a user exists or is locked; the audit
//! record (`auth.login_failed`, with `result` `unknown_user`, `bad_password` or `locked`) says
//! which. After [`LockoutPolicy::threshold`] consecutive wrong passwords the account is locked,
//! doubling per further failure (domain rule); attempts while locked are refused without
//! checking the password and do not extend the lock. A success resets the count and opens a
//! session with a fresh id (ASVS 7.2.4) that ends at logout, after the idle timeout or at the
//! absolute expiry ([`SessionPolicy`]).

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
pub use fincrm_domain::auth::{LockoutPolicy, Scope, SessionPolicy};
use fincrm_domain::auth::{SessionState, check_password};
use fincrm_domain::{Branch, BranchId, BranchLevel, StaffRole, User, UserId, ValidationError};
use fincrm_store::StoreError;
use fincrm_store::auth::{
    ANONYMOUS, ApiTokenRecord, AuthEvent, AuthStore, FailureKind, SessionRecord,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The prefix of every API token.
pub const TOKEN_PREFIX: &str = "fcrm_";

/// The user id of the first administrator.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// The head-office branch the first administrator belongs to (created when missing).
pub const HEAD_OFFICE: &str = "HO";

/// Actor of the audit record of the first administrator's creation.
pub const BOOTSTRAP_ACTOR: &str = "system:bootstrap";

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes over the memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for HashParams {
    /// 19 MiB, 2 passes, 1 lane (OWASP's minimum for Argon2id; argon2's defaults).
    fn default() -> Self {
        Self {
            m_cost_kib: Params::DEFAULT_M_COST,
            t_cost: Params::DEFAULT_T_COST,
            p_cost: Params::DEFAULT_P_COST,
        }
    }
}

impl HashParams {
    /// The cheapest parameters argon2 accepts: for tests only, never for real passwords.
    pub fn fast_for_tests() -> Self {
        Self {
            m_cost_kib: Params::MIN_M_COST.max(8),
            t_cost: 1,
            p_cost: 1,
        }
    }
}

/// Settings of [`Auth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    /// Session idle and absolute timeouts (30 minutes, 12 hours).
    pub session: SessionPolicy,
    /// Back-off after failed logins (5 failures → 15 minutes, doubling, at most 24 hours).
    pub lockout: LockoutPolicy,
    /// Argon2id cost for new hashes.
    pub hash: HashParams,
    /// How long an API token's principal is kept in memory after it was read from the store
    /// ([`TOKEN_CACHE_TTL`]; zero reads the store on every request). Expiry is still checked on
    /// every request, and a revocation or staff change made through this process forgets the
    /// cache at once; one made by another process (a second server, the CLI) takes effect
    /// within this time.
    pub token_cache_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session: SessionPolicy::default(),
            lockout: LockoutPolicy::default(),
            hash: HashParams::default(),
            token_cache_ttl: TOKEN_CACHE_TTL,
        }
    }
}

/// The default [`AuthConfig::token_cache_ttl`]: 5 seconds. Integrations send bursts of requests
/// with one token; reading the token and its user once per burst rather than once per request
/// takes one statement off every API call, while a revocation elsewhere still bites within
/// seconds.
pub const TOKEN_CACHE_TTL: Duration = Duration::seconds(5);

/// The most principals [`Auth`] keeps; when full, the cache starts over (integrations use a
/// handful of tokens, so this is only a bound on memory).
const TOKEN_CACHE_CAPACITY: usize = 4096;

/// The longest an API token may live.
pub const MAX_TOKEN_TTL_DAYS: i64 = 366;

/// Why an authentication call failed. The HTTP layer maps `LoginFailed` and
/// `Unauthenticated` to one generic 401 body.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or locked account (deliberately indistinguishable).
    #[error("invalid user or password")]
    LoginFailed,
    /// No valid session or token: missing, unknown, expired or revoked.
    #[error("not authenticated")]
    Unauthenticated,
    /// The current password given to a password change is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// A new password the policy refuses, naming the rule.
    #[error("{0}")]
    Policy(ValidationError),
    /// An invalid input (token name, scopes, lifetime).
    #[error("{0}")]
    Invalid(ValidationError),
    /// No such user or token.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing or the random source failed.
    #[error("authentication internal error: {0}")]
    Internal(String),
}

/// A new session: the two secrets go to the browser once (cookie and form field / header) and
/// are stored only hashed.
#[derive(Clone)]
pub struct Session {
    /// The session id, for the `__Host-` cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind
    /// TLS).
    pub token: String,
    /// The CSRF token, for state-changing forms.
    pub csrf_token: String,
    /// The absolute expiry (the cookie's `Expires`).
    pub expires_at: DateTime<Utc>,
    /// Who logged in.
    pub user: User,
    /// The password is a one-time password: the UI must require a change before anything else.
    pub must_change_password: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token", &"<redacted>")
            .field("csrf_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .field("must_change_password", &self.must_change_password)
            .finish()
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session.
    Session {
        /// hex(SHA-256(session id)): what logout and password change name the session by.
        session_id_hash: String,
        /// hex(SHA-256(CSRF token)), for [`Principal::check_csrf`].
        csrf_token_hash: String,
        /// A one-time password is in use: only a password change may proceed.
        must_change_password: bool,
    },
    /// An API token.
    ApiToken {
        /// The token's public id.
        token_id: String,
    },
}

/// Who is calling, as the authorisation layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// Their role (decides what they may do).
    pub role: StaffRole,
    /// Their branch (decides which customers they may see).
    pub branch_id: BranchId,
    /// `None` for a session (the role's full rights); for an API token, the scopes it is
    /// narrowed to.
    pub scopes: Option<Vec<Scope>>,
    /// Session or token.
    pub via: Via,
}

impl Principal {
    /// Whether the credential allows `scope`. The role must allow the action as well: a scope
    /// narrows a token, it never grants what the role does not.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|s| s.contains(&scope) || s.contains(&Scope::Admin))
    }

    /// Whether this is a session still on a one-time password: only a password change may
    /// proceed.
    pub fn password_pending(&self) -> bool {
        matches!(
            self.via,
            Via::Session {
                must_change_password: true,
                ..
            }
        )
    }

    /// Whether `presented` is this session's CSRF token (constant time). Always `false` for
    /// API tokens, which are not sent automatically by browsers and need no CSRF token.
    pub fn check_csrf(&self, presented: &str) -> bool {
        match &self.via {
            Via::Session {
                csrf_token_hash, ..
            } => constant_time_eq(sha256_hex(presented).as_bytes(), csrf_token_hash.as_bytes()),
            Via::ApiToken { .. } => false,
        }
    }

    /// The hash naming this principal's session, if it is one.
    pub fn session_id_hash(&self) -> Option<&str> {
        match &self.via {
            Via::Session {
                session_id_hash, ..
            } => Some(session_id_hash),
            Via::ApiToken { .. } => None,
        }
    }
}

/// hex(SHA-256(token)): the stored form of session ids, CSRF tokens and API tokens.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Internal(format!("random source: {e}")))?;
    Ok(buf)
}

/// A 256-bit random token, base64url without padding (43 characters).
fn random_token() -> Result<String, AuthError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A one-time password: 4 groups of 5 characters from 56 unambiguous letters and digits
/// (about 116 bits), regenerated until the policy accepts it.
pub(crate) fn one_time_password(user_id: &str) -> Result<String, AuthError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let limit = u8::try_from(256 - 256 % ALPHABET.len()).unwrap_or(u8::MAX);
    loop {
        let mut out = String::with_capacity(23);
        while out.len() < 23 {
            for b in random_bytes::<32>()? {
                if out.len() >= 23 {
                    break;
                }
                if out.len() % 6 == 5 {
                    out.push('-');
                }
                if b < limit {
                    out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
                }
            }
        }
        if check_password(user_id, &out).is_ok() {
            return Ok(out);
        }
    }
}

fn hash_password(params: HashParams, password: &[u8]) -> Result<String, AuthError> {
    let params = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, None)
        .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
    let salt = random_bytes::<16>()?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_with_salt(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("argon2: {e}")))
}

/// Whether `password` matches the PHC string `hash` (cost read from the string).
fn verify_password(hash: &str, password: &[u8]) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Internal(format!("hashing task: {e}")))
}

/// Client addresses go into the audit trail only when they are plausible (no control
/// characters, at most 100 bytes).
fn clean_addr(addr: Option<&str>) -> Option<&str> {
    addr.filter(|a| !a.is_empty() && a.len() <= 100 && !a.chars().any(char::is_control))
}

/// Authentication over an [`AuthStore`]. Cheap to share (`Arc<Auth>`).
pub struct Auth {
    store: Arc<dyn AuthStore>,
    config: AuthConfig,
    dummy_hash: tokio::sync::OnceCell<String>,
    /// Recently read API tokens with their users ([`AuthConfig::token_cache_ttl`]).
    tokens: std::sync::Mutex<TokenCache>,
}

/// API tokens by token hash, and how many times the cache was forgotten: a read from the store
/// that began before a revocation must not put the old record back after it.
#[derive(Default)]
struct TokenCache {
    generation: u64,
    by_hash: HashMap<String, CachedToken>,
}

/// An API token and its user as the store gave them at `read_at`.
#[derive(Clone)]
struct CachedToken {
    read_at: DateTime<Utc>,
    record: ApiTokenRecord,
    user: User,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How stale a "last used" stamp may get before a request rewrites it. Rewriting it on every
/// request would make every read a database write (one fsync each on SQLite); a minute is
/// precise enough for idle timeouts of many minutes and for "last used" in token lists.
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

fn stale(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|t| now - t >= TOUCH_EVERY)
}

impl Auth {
    /// Authentication over `store` with `config`.
    pub fn new(store: Arc<dyn AuthStore>, config: AuthConfig) -> Self {
        Self {
            store,
            config,
            dummy_hash: tokio::sync::OnceCell::new(),
            tokens: std::sync::Mutex::new(TokenCache::default()),
        }
    }

    /// Forgets every cached API token principal: called after a revocation or a change to
    /// staff, so this process never serves a stale role, branch or revoked token.
    pub fn forget_cached_tokens(&self) {
        let mut cache = self.token_cache();
        cache.by_hash.clear();
        cache.generation += 1;
    }

    fn token_cache(&self) -> std::sync::MutexGuard<'_, TokenCache> {
        // A panic while holding the lock cannot leave the cache half-updated (every update is
        // one insert, or a clear with its generation bump), so a poisoned lock is still safe.
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The token and user behind `token_hash`: from the cache when read within the TTL before
    /// `now`, otherwise from the store (marking the token used when its stamp is stale).
    async fn token_with_user(
        &self,
        token_hash: String,
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiTokenRecord, User)>, AuthError> {
        let ttl = self.config.token_cache_ttl;
        let generation = {
            let cache = self.token_cache();
            if ttl > Duration::zero()
                && let Some(hit) = cache.by_hash.get(&token_hash)
                // A clock that went back reads the store again rather than trusting the entry.
                && now >= hit.read_at
                && now - hit.read_at < ttl
            {
                return Ok(Some((hit.record.clone(), hit.user.clone())));
            }
            cache.generation
        };
        let Some((record, user)) = self.store.api_token_with_user(&token_hash).await? else {
            return Ok(None);
        };
        if record.revoked_at.is_none() && now < record.expires_at && stale(record.last_used_at, now)
        {
            self.store.touch_api_token(&record.token_id, now).await?;
        }
        let mut cache = self.token_cache();
        // Forgotten meanwhile (a revocation or staff change): what was read may be stale.
        if ttl > Duration::zero() && cache.generation == generation {
            if cache.by_hash.len() >= TOKEN_CACHE_CAPACITY {
                cache.by_hash.clear();
            }
            cache.by_hash.insert(
                token_hash,
                CachedToken {
                    read_at: now,
                    record: record.clone(),
                    user: user.clone(),
                },
            );
        }
        Ok(Some((record, user)))
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &dyn AuthStore {
        self.store.as_ref()
    }

    /// Hashes `password` with the configured cost, off the async workers.
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let params = self.config.hash;
        let password = Zeroizing::new(password.as_bytes().to_vec());
        blocking(move || hash_password(params, &password)).await?
    }

    async fn verify(&self, hash: String, password: &str) -> Result<bool, AuthError> {
        let password = Zeroizing::new(password.as_bytes().to_vec());
        blocking(move || verify_password(&hash, &password)).await
    }

    /// A hash of a random password with the configured cost, verified against when there is
    /// no real hash so that every login costs one verification.
    async fn dummy_hash(&self) -> Result<String, AuthError> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let password = random_token()?;
                self.hash(&password).await
            })
            .await
            .cloned()
    }

    /// Logs `user_id` in with `password`: a new session, or [`AuthError::LoginFailed`]. Every
    /// attempt is audited (`auth.login` / `auth.login_failed`).
    pub async fn login(
        &self,
        user_id: &str,
        password: &str,
        client_addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Session, AuthError> {
        let client_addr = clean_addr(client_addr);
        let known = match UserId::parse(user_id) {
            Ok(id) if id.as_str() == user_id => match self.store.credential(user_id).await? {
                Some(cred) => self.store.user(user_id).await?.map(|u| (cred, u)),
                None => None,
            },
            _ => None,
        };
        let Some((cred, user)) = known else {
            self.verify(self.dummy_hash().await?, password).await?;
            let event = AuthEvent::new(ANONYMOUS, client_addr, now);
            self.store
                .record_login_failure(
                    user_id,
                    FailureKind::UnknownUser,
                    &self.config.lockout,
                    &event,
                )
                .await?;
            return Err(AuthError::LoginFailed);
        };
        let event = AuthEvent::new(user_id, client_addr, now);
        if cred.locked_until.is_some_and(|until| until > now) {
            self.verify(self.dummy_hash().await?, password).await?;
            self.store
                .record_login_failure(user_id, FailureKind::Locked, &self.config.lockout, &event)
                .await?;
            return Err(AuthError::LoginFailed);
        }
        if !self.verify(cred.password_hash, password).await? {
            self.store
                .record_login_failure(
                    user_id,
                    FailureKind::BadPassword,
                    &self.config.lockout,
                    &event,
                )
                .await?;
            return Err(AuthError::LoginFailed);
        }
        let token = random_token()?;
        let csrf_token = random_token()?;
        let record = SessionRecord {
            session_id_hash: sha256_hex(&token),
            user_id: user_id.to_owned(),
            created_at: now,
            expires_at: now + self.config.session.absolute,
            last_seen_at: now,
            csrf_token_hash: sha256_hex(&csrf_token),
            revoked_at: None,
        };
        if !self.store.record_login_success(&record, &event).await? {
            // Locked by a concurrent attempt between the check above and now.
            self.store
                .record_login_failure(user_id, FailureKind::Locked, &self.config.lockout, &event)
                .await?;
            return Err(AuthError::LoginFailed);
        }
        Ok(Session {
            token,
            csrf_token,
            expires_at: record.expires_at,
            user,
            must_change_password: cred.must_change,
        })
    }

    /// The principal of a session cookie's value, and marks the session used at `now`.
    pub async fn authenticate_session(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        let hash = sha256_hex(token);
        let session = self
            .store
            .session(&hash)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let state = self.config.session.state(
            session.expires_at,
            session.last_seen_at,
            session.revoked_at,
            now,
        );
        if state != SessionState::Active {
            return Err(AuthError::Unauthenticated);
        }
        let user = self
            .store
            .user(&session.user_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let must_change_password = self
            .store
            .credential(&session.user_id)
            .await?
            .is_some_and(|c| c.must_change);
        if stale(Some(session.last_seen_at), now) {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Principal {
            user_id: user.id,
            role: user.role,
            branch_id: user.branch_id,
            scopes: None,
            via: Via::Session {
                session_id_hash: hash,
                csrf_token_hash: session.csrf_token_hash,
                must_change_password,
            },
        })
    }

    /// The principal of a bearer token (`fcrm_…`), and marks the token used at `now`.
    pub async fn authenticate_bearer(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(AuthError::Unauthenticated);
        }
        let (record, user) = self
            .token_with_user(sha256_hex(token), now)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if record.revoked_at.is_some() || now >= record.expires_at {
            return Err(AuthError::Unauthenticated);
        }
        Ok(Principal {
            user_id: user.id,
            role: user.role,
            branch_id: user.branch_id,
            scopes: Some(record.scopes),
            via: Via::ApiToken {
                token_id: record.token_id,
            },
        })
    }

    /// Ends the session whose cookie value is `token` (`auth.logout`); `false` when there was
    /// no live session.
    pub async fn logout(
        &self,
        token: &str,
        client_addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let hash = sha256_hex(token);
        let Some(session) = self.store.session(&hash).await? else {
            return Ok(false);
        };
        let event = AuthEvent::new(&session.user_id, clean_addr(client_addr), now);
        Ok(self.store.revoke_session(&hash, &event).await?)
    }

    /// Changes a user's own password: `old` must be right (a wrong one counts as a failed
    /// login), `new` must pass the policy and differ from `old`. Ends the user's other
    /// sessions, keeping `keep_session` (a session id hash, normally the caller's); clears
    /// `must_change`. Audited as `auth.password_change`.
    pub async fn change_password(
        &self,
        user_id: &str,
        old: &str,
        new: &str,
        keep_session: Option<&str>,
        client_addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let client_addr = clean_addr(client_addr);
        let cred = self
            .store
            .credential(user_id)
            .await?
            .ok_or(AuthError::NotFound("user"))?;
        let event = AuthEvent::new(user_id, client_addr, now);
        if cred.locked_until.is_some_and(|until| until > now) {
            self.store
                .record_login_failure(user_id, FailureKind::Locked, &self.config.lockout, &event)
                .await?;
            return Err(AuthError::WrongPassword);
        }
        if !self.verify(cred.password_hash, old).await? {
            self.store
                .record_login_failure(
                    user_id,
                    FailureKind::BadPassword,
                    &self.config.lockout,
                    &event,
                )
                .await?;
            return Err(AuthError::WrongPassword);
        }
        check_password(user_id, new).map_err(AuthError::Policy)?;
        if new == old {
            return Err(AuthError::Policy(ValidationError::new(
                "password",
                "reuse: must differ from the current password",
            )));
        }
        let hash = self.hash(new).await?;
        self.store
            .set_password(user_id, &hash, false, keep_session, &event)
            .await?;
        Ok(())
    }

    /// Sets a user's password by an operator or administrator (`actor`), policy-checked; with
    /// `must_change` the user must change it at the next login. Ends all the user's sessions and
    /// clears a lock. Audited as `auth.password_change`.
    pub async fn set_password(
        &self,
        user_id: &str,
        new: &str,
        must_change: bool,
        actor: &str,
        client_addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        check_password(user_id, new).map_err(AuthError::Policy)?;
        if self.store.user(user_id).await?.is_none() {
            return Err(AuthError::NotFound("user"));
        }
        let hash = self.hash(new).await?;
        let event = AuthEvent::new(actor, clean_addr(client_addr), now);
        match self
            .store
            .set_password(user_id, &hash, must_change, None, &event)
            .await
        {
            Err(StoreError::NotFound) => Err(AuthError::NotFound("user")),
            other => Ok(other?),
        }
    }

    /// Creates an API token for `user_id`: returns the token (show it once; only its hash is
    /// kept) and its record. `ttl` is at most [`MAX_TOKEN_TTL_DAYS`]; the `admin` scope only
    /// for administrators. Audited as `auth.token_create` by `actor`.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a distinct input of the use case"
    )]
    pub async fn create_api_token(
        &self,
        user_id: &str,
        name: &str,
        scopes: &[Scope],
        ttl: Duration,
        actor: &str,
        client_addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(String, ApiTokenRecord), AuthError> {
        let user = self
            .store
            .user(user_id)
            .await?
            .ok_or(AuthError::NotFound("user"))?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AuthError::Invalid(ValidationError::new(
                "name",
                "must be 1–100 characters without control characters",
            )));
        }
        let mut scopes = scopes.to_vec();
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AuthError::Invalid(ValidationError::new(
                "scopes",
                "at least one scope is needed",
            )));
        }
        if scopes.contains(&Scope::Admin) && user.role != StaffRole::Admin {
            return Err(AuthError::Invalid(ValidationError::new(
                "scopes",
                "the admin scope is for administrators only",
            )));
        }
        if ttl <= Duration::zero() || ttl > Duration::days(MAX_TOKEN_TTL_DAYS) {
            return Err(AuthError::Invalid(ValidationError::new(
                "ttl",
                "a token must expire within 1 to 366 days",
            )));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_token()?);
        let record = ApiTokenRecord {
            token_id: hex::encode(random_bytes::<8>()?),
            token_hash: sha256_hex(&token),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            scopes,
            created_at: now,
            expires_at: now + ttl,
            revoked_at: None,
            last_used_at: None,
        };
        let event = AuthEvent::new(actor, clean_addr(client_addr), now);
        self.store.create_api_token(&record, &event).await?;
        Ok((token, record))
    }

    /// Revokes an API token by its id (`auth.token_revoke` by `actor`); `false` when there is
    /// no such unrevoked token.
    pub async fn revoke_api_token(
        &self,
        token_id: &str,
        actor: &str,
        client_addr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let event = AuthEvent::new(actor, clean_addr(client_addr), now);
        let revoked = self.store.revoke_api_token(token_id, &event).await?;
        self.forget_cached_tokens();
        Ok(revoked)
    }

    /// A user's API tokens, newest first (no secrets: only ids, names, scopes and dates are
    /// meaningful to show).
    pub async fn api_tokens(&self, user_id: &str) -> Result<Vec<ApiTokenRecord>, AuthError> {
        Ok(self.store.api_tokens(user_id).await?)
    }

    /// On first start: when no administrator can log in, creates the staff member
    /// [`BOOTSTRAP_ADMIN`] (role admin, branch [`HEAD_OFFICE`], created if missing) with a
    /// random one-time password that must be changed at first login, and returns it for the
    /// caller to print once. `None` when an administrator exists (or another process created
    /// one at the same moment). There is never a default password.
    pub async fn bootstrap_admin(&self, now: DateTime<Utc>) -> Result<Option<String>, AuthError> {
        if self.store.admin_exists().await? {
            return Ok(None);
        }
        let invalid = |e: ValidationError| AuthError::Internal(e.to_string());
        let admin = User {
            id: UserId::parse(BOOTSTRAP_ADMIN).map_err(invalid)?,
            name: "Administrator".to_owned(),
            branch_id: BranchId::parse(HEAD_OFFICE).map_err(invalid)?,
            role: StaffRole::Admin,
        };
        let head_office = Branch {
            id: admin.branch_id.clone(),
            name: "Head office".to_owned(),
            parent: None,
            level: BranchLevel::HeadOffice,
        };
        let password = Zeroizing::new(one_time_password(BOOTSTRAP_ADMIN)?);
        let hash = self.hash(&password).await?;
        let event = AuthEvent::new(BOOTSTRAP_ACTOR, None, now);
        if self
            .store
            .bootstrap_admin(&admin, &head_office, &hash, &event)
            .await?
        {
            Ok(Some(password.to_string()))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_used_stamps_are_rewritten_at_most_once_a_minute() {
        let now = Utc::now();
        assert!(stale(None, now));
        assert!(!stale(Some(now - Duration::seconds(59)), now));
        assert!(stale(Some(now - TOUCH_EVERY), now));
    }

    #[test]
    fn one_time_passwords_pass_the_policy_and_differ() {
        let a = one_time_password(BOOTSTRAP_ADMIN).unwrap();
        let b = one_time_password(BOOTSTRAP_ADMIN).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 23);
        assert_eq!(a.matches('-').count(), 3);
        assert!(check_password(BOOTSTRAP_ADMIN, &a).is_ok());
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let p = HashParams::fast_for_tests();
        let h1 = hash_password(p, b"Correct-Horse-Battery").unwrap();
        let h2 = hash_password(p, b"Correct-Horse-Battery").unwrap();
        assert!(h1.starts_with("$argon2id$v=19$"), "{h1}");
        assert_ne!(h1, h2, "salted");
        assert!(verify_password(&h1, b"Correct-Horse-Battery"));
        assert!(!verify_password(&h1, b"correct-horse-battery"));
        assert!(!verify_password("not a hash", b"x"));
        let d = hash_password(HashParams::default(), b"x").unwrap();
        assert!(d.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{d}");
    }

    #[test]
    fn tokens_are_256_bit_and_compare_in_constant_time() {
        let t = random_token().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&t).unwrap().len(), 32);
        assert_eq!(sha256_hex(&t).len(), 64);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
