//! Local authentication end to end over a real store: login and lockout, sessions, API tokens,
//! password changes, the first admin; every action audited and the chain intact. On SQLite, and
//! on PostgreSQL (a fresh schema per case) when `FINCRM_TEST_PG_URL` is set.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on a setup error")]

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use fincrm_domain::StaffRole;
use fincrm_domain::auth::{LockoutPolicy, Scope};
use fincrm_service::auth::{
    Auth, AuthConfig, AuthError, HashParams, TOKEN_PREFIX, Via, sha256_hex,
};
use fincrm_store::audit::{AuditRecord, AuditStore, verify};
use fincrm_store::{AuthStore, Store};
use std::future::Future;
use std::sync::Arc;

const PASSWORD: &str = "Correct-Horse-Battery";
const RM: &str = "u1001";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap()
}

fn minutes(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

/// Raw SQL beside the store, playing someone who reads the tables directly.
#[async_trait]
trait Raw: Send + Sync {
    async fn exec(&self, sql: &str);
    /// Every row of a one-text-column query.
    async fn texts(&self, sql: &str) -> Vec<String>;
}

struct SqliteRaw(tokio::sync::Mutex<sqlx::SqliteConnection>);

#[async_trait]
impl Raw for SqliteRaw {
    async fn exec(&self, sql: &str) {
        let mut c = self.0.lock().await;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut *c)
            .await
            .unwrap();
    }
    async fn texts(&self, sql: &str) -> Vec<String> {
        let mut c = self.0.lock().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut *c)
            .await
            .unwrap()
    }
}

struct PgRaw(sqlx::PgPool);

#[async_trait]
impl Raw for PgRaw {
    async fn exec(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.0)
            .await
            .unwrap();
    }
    async fn texts(&self, sql: &str) -> Vec<String> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(&self.0)
            .await
            .unwrap()
    }
}

trait Both: AuthStore + AuditStore + 'static {}
impl<T: AuthStore + AuditStore + 'static> Both for T {}

struct Fixture {
    auth: Arc<Auth>,
    audit: Arc<dyn AuditStore>,
    raw: Box<dyn Raw>,
}

fn config() -> AuthConfig {
    AuthConfig {
        hash: HashParams::fast_for_tests(),
        ..AuthConfig::default()
    }
}

fn fixture<S: Both>(store: Arc<S>, raw: Box<dyn Raw>, config: AuthConfig) -> Fixture {
    Fixture {
        auth: Arc::new(Auth::new(Arc::clone(&store) as Arc<dyn AuthStore>, config)),
        audit: store,
        raw,
    }
}

async fn sqlite(name: &str, config: AuthConfig) -> (Fixture, tempfile::TempDir) {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.db"));
    let store = fincrm_store_sqlite::SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let conn = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(&path),
    )
    .await
    .unwrap();
    let raw = Box::new(SqliteRaw(tokio::sync::Mutex::new(conn)));
    (fixture(Arc::new(store), raw, config), dir)
}

async fn pg(url: &str, name: &str, config: AuthConfig) -> Fixture {
    let schema = fincrm_store_pg::testing::TestSchema::migrated(url, &format!("auth_{name}"))
        .await
        .unwrap();
    let raw = Box::new(PgRaw(schema.store.pool().clone()));
    fixture(Arc::new(schema.store), raw, config)
}

/// Runs `story` on SQLite and, when configured, on PostgreSQL.
async fn on_both<F, Fut>(name: &str, config: AuthConfig, story: F)
where
    F: Fn(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let (fx, _dir) = sqlite(name, config).await;
    story(fx).await;
    if let Some(url) = fincrm_store_pg::testing::url_or_skip("the auth suite") {
        story(pg(&url, name, config).await).await;
    }
}

impl Fixture {
    async fn staff(&self, user_id: &str, role: StaffRole) {
        self.raw
            .exec(&format!(
                "INSERT INTO staff (user_id, name, branch_id, role) \
                 VALUES ('{user_id}', 'Test {user_id}', 'B01', '{role}')"
            ))
            .await;
    }

    async fn rm_with_password(&self) {
        self.staff(RM, StaffRole::RelationshipManager).await;
        self.auth
            .set_password(RM, PASSWORD, false, "system:test", None, t0())
            .await
            .unwrap();
    }

    async fn failed_attempts(&self, user: &str) -> String {
        self.raw
            .texts(&format!(
                "SELECT CAST(failed_attempts AS TEXT) FROM credential WHERE user_id = '{user}'"
            ))
            .await
            .concat()
    }

    async fn records(&self) -> Vec<AuditRecord> {
        self.audit.records(1, 100_000).await.unwrap()
    }

    /// (actor, action, target key, result in the after image or "") of every audit record.
    async fn audit_lines(&self) -> Vec<(String, String, String, String)> {
        self.records()
            .await
            .into_iter()
            .map(|r| {
                let result = r
                    .entry
                    .after_json
                    .as_deref()
                    .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
                    .and_then(|v| v["result"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                (r.entry.actor, r.entry.action, r.entry.target_key, result)
            })
            .collect()
    }

    /// The chain verifies and no audit record carries any of `secrets`.
    async fn audit_intact_without(&self, secrets: &[&str]) {
        let summary = verify(self.audit.as_ref(), None, 7).await.unwrap().unwrap();
        assert!(summary.records > 0);
        for r in self.records().await {
            let text = serde_json::to_string(&r.entry).unwrap();
            for s in secrets {
                assert!(
                    !text.contains(s),
                    "audit record {} holds a secret: {text}",
                    r.seq
                );
            }
        }
    }
}

fn line(actor: &str, action: &str, target: &str, result: &str) -> (String, String, String, String) {
    (
        actor.to_owned(),
        action.to_owned(),
        target.to_owned(),
        result.to_owned(),
    )
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one story, read top to bottom")]
async fn login_fails_locks_out_and_unlocks() {
    on_both("login", config(), |fx| async move {
        fx.rm_with_password().await;
        let stored = fx.raw.texts("SELECT password_hash FROM credential").await;
        assert_eq!(stored.len(), 1);
        assert!(stored[0].starts_with("$argon2id$"), "{}", stored[0]);
        assert_ne!(stored[0], PASSWORD);
        assert!(!stored[0].contains(PASSWORD));

        let s = fx
            .auth
            .login(RM, PASSWORD, Some("10.0.0.7"), t0())
            .await
            .unwrap();
        assert_eq!(s.user.role, StaffRole::RelationshipManager);
        assert!(!s.must_change_password);
        assert_eq!(s.expires_at, t0() + Duration::hours(12));
        assert_ne!(s.token, s.csrf_token);

        for (user, pw) in [
            (RM, "Wrong-Password-1"),
            ("nobody", PASSWORD),
            ("bad\nname", "x"),
        ] {
            let e = fx.auth.login(user, pw, None, minutes(1)).await.unwrap_err();
            assert!(matches!(e, AuthError::LoginFailed), "{e:?}");
            assert_eq!(e.to_string(), "invalid user or password");
        }
        assert_eq!(fx.failed_attempts(RM).await, "1");
        // A success resets the count.
        fx.auth.login(RM, PASSWORD, None, minutes(2)).await.unwrap();
        assert_eq!(fx.failed_attempts(RM).await, "0");

        // Five failures lock for 15 minutes; the right password does not help while locked,
        // and attempts while locked neither count nor extend the lock.
        for i in 0..5 {
            let e = fx
                .auth
                .login(RM, "Wrong-Password-1", None, minutes(10 + i))
                .await;
            assert!(matches!(e, Err(AuthError::LoginFailed)));
        }
        assert_eq!(fx.failed_attempts(RM).await, "5");
        let cred = fx.auth.store().credential(RM).await.unwrap().unwrap();
        assert_eq!(cred.locked_until, Some(minutes(14 + 15)));
        for m in [15, 20, 28] {
            let e = fx.auth.login(RM, PASSWORD, None, minutes(m)).await;
            assert!(matches!(e, Err(AuthError::LoginFailed)), "locked at +{m}");
        }
        assert_eq!(fx.failed_attempts(RM).await, "5");
        // Lock over: the right password works and clears the count.
        fx.auth
            .login(RM, PASSWORD, None, minutes(30))
            .await
            .unwrap();
        assert_eq!(fx.failed_attempts(RM).await, "0");
        let cred = fx.auth.store().credential(RM).await.unwrap().unwrap();
        assert_eq!(cred.locked_until, None);

        // Back-off doubles: a sixth failure after the first lock ran out locks for 30 minutes.
        for i in 0..5 {
            let _ = fx
                .auth
                .login(RM, "Wrong-Password-1", None, minutes(40 + i))
                .await;
        }
        let _ = fx
            .auth
            .login(RM, "Wrong-Password-1", None, minutes(60))
            .await;
        let cred = fx.auth.store().credential(RM).await.unwrap().unwrap();
        assert_eq!(cred.failed_attempts, 6);
        assert_eq!(cred.locked_until, Some(minutes(90)));

        let lines = fx.audit_lines().await;
        let expected_head = [
            line("system:test", "auth.password_change", RM, ""),
            line(RM, "auth.login", RM, ""),
            line(RM, "auth.login_failed", RM, "bad_password"),
            line("anonymous", "auth.login_failed", "unknown", "unknown_user"),
            line("anonymous", "auth.login_failed", "unknown", "unknown_user"),
            line(RM, "auth.login", RM, ""),
        ];
        assert_eq!(lines[..6], expected_head[..]);
        let locked: Vec<_> = lines[6..].iter().map(|l| l.3.as_str()).collect();
        assert_eq!(
            locked,
            [
                "bad_password",
                "bad_password",
                "bad_password",
                "bad_password",
                "bad_password",
                "locked",
                "locked",
                "locked",
                "",
                "bad_password",
                "bad_password",
                "bad_password",
                "bad_password",
                "bad_password",
                "bad_password",
            ]
        );
        let logins = lines.iter().filter(|l| l.1 == "auth.login").count();
        assert_eq!(logins, 3);
        let records = fx.records().await;
        assert_eq!(records[1].entry.client_addr.as_deref(), Some("10.0.0.7"));
        fx.audit_intact_without(&[
            PASSWORD,
            "Wrong-Password-1",
            &s.token,
            &s.csrf_token,
            "nobody",
        ])
        .await;
    })
    .await;
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one story, read top to bottom")]
async fn sessions_expire_end_at_logout_and_on_password_change() {
    on_both("sessions", config(), |fx| async move {
        fx.rm_with_password().await;
        let s = fx.auth.login(RM, PASSWORD, None, t0()).await.unwrap();
        let p = fx
            .auth
            .authenticate_session(&s.token, minutes(10))
            .await
            .unwrap();
        assert_eq!(p.user_id.as_str(), RM);
        assert_eq!(p.role, StaffRole::RelationshipManager);
        assert_eq!(p.branch_id.as_str(), "B01");
        assert_eq!(p.scopes, None);
        assert!(p.allows(Scope::CustomersWrite));
        assert!(p.check_csrf(&s.csrf_token));
        assert!(!p.check_csrf(&s.token));
        assert!(!p.check_csrf(""));
        assert!(matches!(
            p.via,
            Via::Session {
                must_change_password: false,
                ..
            }
        ));
        // Idle: 29 minutes after the last use is fine, 31 is not.
        fx.auth
            .authenticate_session(&s.token, minutes(39))
            .await
            .unwrap();
        let e = fx.auth.authenticate_session(&s.token, minutes(70)).await;
        assert!(matches!(e, Err(AuthError::Unauthenticated)));
        // Unknown and tampered tokens.
        let tampered = format!("{}A", s.token);
        for bad in ["", "x", s.csrf_token.as_str(), tampered.as_str()] {
            let e = fx.auth.authenticate_session(bad, minutes(11)).await;
            assert!(matches!(e, Err(AuthError::Unauthenticated)));
        }

        // Absolute: used every 20 minutes, still over at 12 hours.
        let s2 = fx.auth.login(RM, PASSWORD, None, t0()).await.unwrap();
        for k in 1..36 {
            fx.auth
                .authenticate_session(&s2.token, minutes(20 * k))
                .await
                .unwrap();
        }
        let e = fx.auth.authenticate_session(&s2.token, minutes(720)).await;
        assert!(matches!(e, Err(AuthError::Unauthenticated)));

        // Logout.
        let s3 = fx
            .auth
            .login(RM, PASSWORD, Some("10.0.0.8"), t0())
            .await
            .unwrap();
        assert!(
            fx.auth
                .logout(&s3.token, Some("10.0.0.8"), minutes(1))
                .await
                .unwrap()
        );
        let e = fx.auth.authenticate_session(&s3.token, minutes(2)).await;
        assert!(matches!(e, Err(AuthError::Unauthenticated)));
        assert!(!fx.auth.logout(&s3.token, None, minutes(3)).await.unwrap());
        assert!(
            !fx.auth
                .logout("never-issued", None, minutes(3))
                .await
                .unwrap()
        );

        // The table holds hashes only.
        let stored = fx
            .raw
            .texts("SELECT session_id_hash || ' ' || csrf_token_hash FROM session")
            .await;
        assert_eq!(stored.len(), 3);
        for tok in [&s.token, &s.csrf_token, &s2.token, &s3.token] {
            assert!(stored.iter().all(|row| !row.contains(tok.as_str())));
        }
        assert!(stored.contains(&format!(
            "{} {}",
            sha256_hex(&s.token),
            sha256_hex(&s.csrf_token)
        )));

        // Password change: policy, old password, other sessions end, this one stays.
        let keep = fx
            .auth
            .login(RM, PASSWORD, None, minutes(100))
            .await
            .unwrap();
        let other = fx
            .auth
            .login(RM, PASSWORD, None, minutes(100))
            .await
            .unwrap();
        let keep_hash = sha256_hex(&keep.token);
        let e = fx
            .auth
            .change_password(RM, PASSWORD, "short", Some(&keep_hash), None, minutes(101))
            .await
            .unwrap_err();
        let AuthError::Policy(v) = e else {
            panic!("{e:?}")
        };
        assert!(v.reason.starts_with("length"), "{v}");
        let e = fx
            .auth
            .change_password(
                RM,
                PASSWORD,
                "My-u1001-Password",
                Some(&keep_hash),
                None,
                minutes(101),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, AuthError::Policy(ref v) if v.reason.starts_with("user id")),
            "{e:?}"
        );
        let e = fx
            .auth
            .change_password(
                RM,
                "Not-The-Password-9",
                "New-Secret-Phrase-42",
                None,
                None,
                minutes(101),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::WrongPassword), "{e:?}");
        assert_eq!(fx.failed_attempts(RM).await, "1");
        fx.auth
            .change_password(
                RM,
                PASSWORD,
                "New-Secret-Phrase-42",
                Some(&keep_hash),
                None,
                minutes(102),
            )
            .await
            .unwrap();
        fx.auth
            .authenticate_session(&keep.token, minutes(103))
            .await
            .unwrap();
        let e = fx
            .auth
            .authenticate_session(&other.token, minutes(103))
            .await;
        assert!(matches!(e, Err(AuthError::Unauthenticated)));
        assert!(
            fx.auth
                .login(RM, PASSWORD, None, minutes(104))
                .await
                .is_err()
        );
        fx.auth
            .login(RM, "New-Secret-Phrase-42", None, minutes(105))
            .await
            .unwrap();

        let lines = fx.audit_lines().await;
        let logout: Vec<_> = lines.iter().filter(|l| l.1 == "auth.logout").collect();
        assert_eq!(logout, [&line(RM, "auth.logout", RM, "")]);
        let changes: Vec<_> = lines
            .iter()
            .filter(|l| l.1 == "auth.password_change")
            .collect();
        assert_eq!(
            changes,
            [
                &line("system:test", "auth.password_change", RM, ""),
                &line(RM, "auth.password_change", RM, ""),
            ]
        );
        let last_change = fx
            .records()
            .await
            .into_iter()
            .rfind(|r| r.entry.action == "auth.password_change")
            .unwrap();
        let after: serde_json::Value =
            serde_json::from_str(last_change.entry.after_json.as_deref().unwrap()).unwrap();
        assert_eq!(
            after["sessions_revoked"], 3,
            "s, s2 and other; s3 had ended"
        );
        fx.audit_intact_without(&[
            PASSWORD,
            "New-Secret-Phrase-42",
            &s.token,
            &s.csrf_token,
            &keep.token,
            &keep_hash,
        ])
        .await;
    })
    .await;
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one story, read top to bottom")]
async fn api_tokens_are_hashed_scoped_expire_and_revoke() {
    on_both("tokens", config(), |fx| async move {
        fx.rm_with_password().await;
        let scopes = Scope::parse_list("import,customers:read").unwrap();
        let (token, rec) = fx
            .auth
            .create_api_token(
                RM,
                "nightly import",
                &scopes,
                Duration::days(90),
                "system:cli",
                None,
                t0(),
            )
            .await
            .unwrap();
        assert!(token.starts_with(TOKEN_PREFIX), "{token}");
        assert!(token.len() >= TOKEN_PREFIX.len() + 43);
        assert_eq!(rec.scopes, [Scope::CustomersRead, Scope::Import]);
        assert_eq!(rec.expires_at, t0() + Duration::days(90));

        // The database never holds the token, only its SHA-256.
        let rows = fx
            .raw
            .texts(
                "SELECT token_id || '|' || token_hash || '|' || user_id || '|' || name || '|' \
                 || scopes FROM api_token",
            )
            .await;
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].contains(&token));
        assert!(!rows[0].contains(&token[TOKEN_PREFIX.len()..]));
        assert!(rows[0].contains(&sha256_hex(&token)));
        assert!(rows[0].ends_with("|customers:read import"), "{}", rows[0]);

        let p = fx
            .auth
            .authenticate_bearer(&token, t0() + Duration::days(1))
            .await
            .unwrap();
        assert_eq!(p.user_id.as_str(), RM);
        assert_eq!(
            p.scopes.as_deref(),
            Some(&[Scope::CustomersRead, Scope::Import][..])
        );
        assert!(p.allows(Scope::Import));
        assert!(!p.allows(Scope::CustomersWrite));
        assert!(!p.allows(Scope::AuditRead));
        assert!(!p.check_csrf("anything"));
        assert_eq!(
            p.via,
            Via::ApiToken {
                token_id: rec.token_id.clone()
            }
        );
        let listed = fx.auth.api_tokens(RM).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_used_at, Some(t0() + Duration::days(1)));

        let hashed = sha256_hex(&token);
        for bad in [
            &token[TOKEN_PREFIX.len()..],
            "fcrm_nope",
            hashed.as_str(),
            "",
        ] {
            let e = fx.auth.authenticate_bearer(bad, t0()).await;
            assert!(matches!(e, Err(AuthError::Unauthenticated)), "{bad}");
        }
        // Expiry.
        let e = fx
            .auth
            .authenticate_bearer(&token, t0() + Duration::days(90))
            .await;
        assert!(matches!(e, Err(AuthError::Unauthenticated)));

        // Refusals: admin scope for a non-admin, lifetimes, names, unknown users.
        let bad_cases = [
            (RM, "x", vec![Scope::Admin], Duration::days(1)),
            (RM, "x", vec![Scope::Import], Duration::zero()),
            (RM, "x", vec![Scope::Import], Duration::days(400)),
            (RM, " ", vec![Scope::Import], Duration::days(1)),
            (RM, "x", vec![], Duration::days(1)),
        ];
        for (user, name, scopes, ttl) in bad_cases {
            let e = fx
                .auth
                .create_api_token(user, name, &scopes, ttl, "system:cli", None, t0())
                .await
                .unwrap_err();
            assert!(matches!(e, AuthError::Invalid(_)), "{e:?}");
        }
        let e = fx
            .auth
            .create_api_token(
                "ghost",
                "x",
                &[Scope::Import],
                Duration::days(1),
                "system:cli",
                None,
                t0(),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::NotFound("user")), "{e:?}");

        // Revocation.
        assert!(
            fx.auth
                .revoke_api_token(
                    &rec.token_id,
                    RM,
                    Some("10.1.1.1"),
                    t0() + Duration::days(2)
                )
                .await
                .unwrap()
        );
        let e = fx
            .auth
            .authenticate_bearer(&token, t0() + Duration::days(3))
            .await;
        assert!(matches!(e, Err(AuthError::Unauthenticated)));
        assert!(
            !fx.auth
                .revoke_api_token(&rec.token_id, RM, None, t0())
                .await
                .unwrap()
        );
        assert!(
            !fx.auth
                .revoke_api_token("nope", RM, None, t0())
                .await
                .unwrap()
        );
        let listed = fx.auth.api_tokens(RM).await.unwrap();
        assert_eq!(listed[0].revoked_at, Some(t0() + Duration::days(2)));

        let lines = fx.audit_lines().await;
        assert_eq!(
            lines[1..],
            [
                line("system:cli", "auth.token_create", &rec.token_id, ""),
                line(RM, "auth.token_revoke", &rec.token_id, ""),
            ]
        );
        fx.audit_intact_without(&[&token, &token[TOKEN_PREFIX.len()..], &sha256_hex(&token)])
            .await;
    })
    .await;
}

/// What another process (a second server, the CLI) does to the token table behind this
/// `Auth`'s back: narrows the token's scopes.
async fn narrow_scopes_elsewhere(fx: &Fixture) {
    fx.raw.exec("UPDATE api_token SET scopes = 'import'").await;
}

#[tokio::test]
async fn token_principals_are_cached_for_seconds_and_forgotten_on_revocation() {
    on_both("token_cache", config(), |fx| async move {
        fx.rm_with_password().await;
        let scopes = Scope::parse_list("import,customers:read").unwrap();
        let (token, rec) = fx
            .auth
            .create_api_token(
                RM,
                "crm sync",
                &scopes,
                Duration::days(1),
                "system:cli",
                None,
                t0(),
            )
            .await
            .unwrap();
        let first = t0() + Duration::hours(1);
        let p = fx.auth.authenticate_bearer(&token, first).await.unwrap();
        assert!(p.allows(Scope::CustomersRead));

        // A change made elsewhere is served from the cache for under the TTL, then read.
        narrow_scopes_elsewhere(&fx).await;
        let within = first + fincrm_service::auth::TOKEN_CACHE_TTL - Duration::milliseconds(1);
        let p = fx.auth.authenticate_bearer(&token, within).await.unwrap();
        assert!(p.allows(Scope::CustomersRead), "served from the cache");
        let after = first + fincrm_service::auth::TOKEN_CACHE_TTL;
        let p = fx.auth.authenticate_bearer(&token, after).await.unwrap();
        assert!(!p.allows(Scope::CustomersRead), "read again after the TTL");
        assert!(p.allows(Scope::Import));
        // A clock that went back does not trust the entry either.
        let p = fx.auth.authenticate_bearer(&token, first).await.unwrap();
        assert!(!p.allows(Scope::CustomersRead));

        // Expiry is checked on every request, cached or not.
        let expiry = rec.expires_at;
        fx.auth
            .authenticate_bearer(&token, expiry - Duration::seconds(1))
            .await
            .unwrap();
        let e = fx
            .auth
            .authenticate_bearer(&token, expiry + Duration::milliseconds(1))
            .await;
        assert!(matches!(e, Err(AuthError::Unauthenticated)), "expired");

        // A revocation through this process bites on the next request, within the TTL.
        let now = t0() + Duration::hours(2);
        fx.auth.authenticate_bearer(&token, now).await.unwrap();
        assert!(
            fx.auth
                .revoke_api_token(&rec.token_id, RM, None, now)
                .await
                .unwrap()
        );
        let e = fx
            .auth
            .authenticate_bearer(&token, now + Duration::milliseconds(1))
            .await;
        assert!(matches!(e, Err(AuthError::Unauthenticated)), "revoked");
    })
    .await;
}

#[tokio::test]
async fn with_no_token_cache_every_request_reads_the_store() {
    let no_cache = AuthConfig {
        token_cache_ttl: Duration::zero(),
        ..config()
    };
    on_both("token_no_cache", no_cache, |fx| async move {
        fx.rm_with_password().await;
        let scopes = Scope::parse_list("import,customers:read").unwrap();
        let (token, _) = fx
            .auth
            .create_api_token(
                RM,
                "crm sync",
                &scopes,
                Duration::days(1),
                "system:cli",
                None,
                t0(),
            )
            .await
            .unwrap();
        let p = fx.auth.authenticate_bearer(&token, t0()).await.unwrap();
        assert!(p.allows(Scope::CustomersRead));
        narrow_scopes_elsewhere(&fx).await;
        let p = fx
            .auth
            .authenticate_bearer(&token, t0() + Duration::milliseconds(1))
            .await
            .unwrap();
        assert!(!p.allows(Scope::CustomersRead));
    })
    .await;
}

#[tokio::test]
async fn bootstrap_creates_exactly_one_admin_with_a_one_time_password() {
    on_both("bootstrap", config(), |fx| async move {
        let otp = fx.auth.bootstrap_admin(t0()).await.unwrap().unwrap();
        assert!(fincrm_domain::auth::check_password("admin", &otp).is_ok());
        assert_eq!(fx.auth.bootstrap_admin(minutes(1)).await.unwrap(), None);
        let admins = fx
            .raw
            .texts("SELECT user_id FROM staff WHERE role = 'admin'")
            .await;
        assert_eq!(admins, ["admin"]);
        let ho = fx
            .raw
            .texts("SELECT level FROM branch WHERE branch_id = 'HO'")
            .await;
        assert_eq!(ho, ["head_office"]);
        let hash = fx.raw.texts("SELECT password_hash FROM credential").await;
        assert!(hash[0].starts_with("$argon2id$") && !hash[0].contains(&otp));

        // The one-time password logs in, flagged for change; the change clears the flag.
        let s = fx
            .auth
            .login("admin", &otp, None, minutes(2))
            .await
            .unwrap();
        assert!(s.must_change_password);
        assert_eq!(s.user.role, StaffRole::Admin);
        let p = fx
            .auth
            .authenticate_session(&s.token, minutes(3))
            .await
            .unwrap();
        assert!(matches!(
            p.via,
            Via::Session {
                must_change_password: true,
                ..
            }
        ));
        fx.auth
            .change_password(
                "admin",
                &otp,
                "Head-Office-Root-2025",
                p.session_id_hash(),
                None,
                minutes(4),
            )
            .await
            .unwrap();
        let p = fx
            .auth
            .authenticate_session(&s.token, minutes(5))
            .await
            .unwrap();
        assert!(matches!(
            p.via,
            Via::Session {
                must_change_password: false,
                ..
            }
        ));
        assert_eq!(fx.auth.bootstrap_admin(minutes(6)).await.unwrap(), None);

        let lines = fx.audit_lines().await;
        assert_eq!(
            lines,
            [
                line("system:bootstrap", "auth.bootstrap", "admin", ""),
                line("admin", "auth.login", "admin", ""),
                line("admin", "auth.password_change", "admin", ""),
            ]
        );
        fx.audit_intact_without(&[&otp, "Head-Office-Root-2025", &s.token])
            .await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_first_starts_create_one_admin() {
    on_both("bootstrap_race", config(), |fx| async move {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let auth = Arc::clone(&fx.auth);
                tokio::spawn(async move { auth.bootstrap_admin(t0()).await })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            if t.await.unwrap().unwrap().is_some() {
                created += 1;
            }
        }
        assert_eq!(created, 1);
        let creds = fx.raw.texts("SELECT user_id FROM credential").await;
        assert_eq!(creds, ["admin"]);
        fx.audit_intact_without(&[]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_are_all_counted() {
    let cfg = AuthConfig {
        lockout: LockoutPolicy {
            threshold: 1000,
            ..LockoutPolicy::default()
        },
        ..config()
    };
    on_both("failures", cfg, |fx| async move {
        fx.rm_with_password().await;
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let auth = Arc::clone(&fx.auth);
                tokio::spawn(
                    async move { auth.login(RM, "Wrong-Password-1", None, minutes(i)).await },
                )
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await.unwrap(), Err(AuthError::LoginFailed)));
        }
        assert_eq!(fx.failed_attempts(RM).await, "20");
        let failed = fx
            .audit_lines()
            .await
            .into_iter()
            .filter(|l| l.1 == "auth.login_failed")
            .count();
        assert_eq!(failed, 20);
        fx.audit_intact_without(&["Wrong-Password-1"]).await;
    })
    .await;
}

/// A store whose next token read, once armed, stops after reading (so holding what it read)
/// until released: a request that read a token just before it was revoked.
struct PausingTokenReads {
    inner: fincrm_store_sqlite::SqliteStore,
    armed: std::sync::Mutex<Option<(Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>)>>,
}

#[async_trait]
impl AuthStore for PausingTokenReads {
    async fn user(&self, user_id: &str) -> fincrm_store::StoreResult<Option<fincrm_domain::User>> {
        self.inner.user(user_id).await
    }
    async fn admin_exists(&self) -> fincrm_store::StoreResult<bool> {
        self.inner.admin_exists().await
    }
    async fn users(&self) -> fincrm_store::StoreResult<Vec<fincrm_domain::User>> {
        self.inner.users().await
    }
    async fn bootstrap_admin(
        &self,
        admin: &fincrm_domain::User,
        head_office: &fincrm_domain::Branch,
        password_hash: &str,
        event: &fincrm_store::auth::AuthEvent,
    ) -> fincrm_store::StoreResult<bool> {
        self.inner
            .bootstrap_admin(admin, head_office, password_hash, event)
            .await
    }
    async fn credential(
        &self,
        user_id: &str,
    ) -> fincrm_store::StoreResult<Option<fincrm_store::auth::Credential>> {
        self.inner.credential(user_id).await
    }
    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        must_change: bool,
        keep_session: Option<&str>,
        event: &fincrm_store::auth::AuthEvent,
    ) -> fincrm_store::StoreResult<()> {
        self.inner
            .set_password(user_id, password_hash, must_change, keep_session, event)
            .await
    }
    async fn record_login_failure(
        &self,
        user_id: &str,
        kind: fincrm_store::auth::FailureKind,
        policy: &LockoutPolicy,
        event: &fincrm_store::auth::AuthEvent,
    ) -> fincrm_store::StoreResult<Option<fincrm_store::auth::FailureOutcome>> {
        self.inner
            .record_login_failure(user_id, kind, policy, event)
            .await
    }
    async fn record_login_success(
        &self,
        session: &fincrm_store::auth::SessionRecord,
        event: &fincrm_store::auth::AuthEvent,
    ) -> fincrm_store::StoreResult<bool> {
        self.inner.record_login_success(session, event).await
    }
    async fn session(
        &self,
        session_id_hash: &str,
    ) -> fincrm_store::StoreResult<Option<fincrm_store::auth::SessionRecord>> {
        self.inner.session(session_id_hash).await
    }
    async fn touch_session(
        &self,
        session_id_hash: &str,
        at: DateTime<Utc>,
    ) -> fincrm_store::StoreResult<()> {
        self.inner.touch_session(session_id_hash, at).await
    }
    async fn revoke_session(
        &self,
        session_id_hash: &str,
        event: &fincrm_store::auth::AuthEvent,
    ) -> fincrm_store::StoreResult<bool> {
        self.inner.revoke_session(session_id_hash, event).await
    }
    async fn create_api_token(
        &self,
        token: &fincrm_store::auth::ApiTokenRecord,
        event: &fincrm_store::auth::AuthEvent,
    ) -> fincrm_store::StoreResult<()> {
        self.inner.create_api_token(token, event).await
    }
    async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> fincrm_store::StoreResult<Option<fincrm_store::auth::ApiTokenRecord>> {
        self.inner.api_token_by_hash(token_hash).await
    }
    async fn api_token_with_user(
        &self,
        token_hash: &str,
    ) -> fincrm_store::StoreResult<Option<(fincrm_store::auth::ApiTokenRecord, fincrm_domain::User)>>
    {
        let read = self.inner.api_token_with_user(token_hash).await;
        let armed = self.armed.lock().unwrap().take();
        if let Some((reached, release)) = armed {
            reached.notify_one();
            release.notified().await;
        }
        read
    }
    async fn api_token(
        &self,
        token_id: &str,
    ) -> fincrm_store::StoreResult<Option<fincrm_store::auth::ApiTokenRecord>> {
        self.inner.api_token(token_id).await
    }
    async fn touch_api_token(
        &self,
        token_id: &str,
        at: DateTime<Utc>,
    ) -> fincrm_store::StoreResult<()> {
        self.inner.touch_api_token(token_id, at).await
    }
    async fn revoke_api_token(
        &self,
        token_id: &str,
        event: &fincrm_store::auth::AuthEvent,
    ) -> fincrm_store::StoreResult<bool> {
        self.inner.revoke_api_token(token_id, event).await
    }
    async fn api_tokens(
        &self,
        user_id: &str,
    ) -> fincrm_store::StoreResult<Vec<fincrm_store::auth::ApiTokenRecord>> {
        self.inner.api_tokens(user_id).await
    }
}

/// A request that read its token just before the token was revoked answers as it read, but does
/// not put the unrevoked token back into the cache: the next request is refused at once.
#[tokio::test]
async fn a_read_racing_a_revocation_does_not_refill_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let inner = fincrm_store_sqlite::SqliteStore::open(&path).await.unwrap();
    inner.migrate().await.unwrap();
    let store = Arc::new(PausingTokenReads {
        inner,
        armed: std::sync::Mutex::new(None),
    });
    let auth = Arc::new(Auth::new(
        Arc::clone(&store) as Arc<dyn AuthStore>,
        config(),
    ));
    sqlx::query(
        "INSERT INTO staff (user_id, name, branch_id, role) \
         VALUES ('u1001', 'Test', 'B01', 'relationship_manager')",
    )
    .execute(
        &sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let scopes = Scope::parse_list("customers:read").unwrap();
    let (token, rec) = auth
        .create_api_token(
            RM,
            "sync",
            &scopes,
            Duration::days(1),
            "system:cli",
            None,
            t0(),
        )
        .await
        .unwrap();

    let (reached, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    *store.armed.lock().unwrap() = Some((Arc::clone(&reached), Arc::clone(&release)));
    let now = t0() + Duration::hours(1);
    let racing = tokio::spawn({
        let (auth, token) = (Arc::clone(&auth), token.clone());
        async move { auth.authenticate_bearer(&token, now).await }
    });
    reached.notified().await;
    assert!(
        auth.revoke_api_token(&rec.token_id, RM, None, now)
            .await
            .unwrap()
    );
    release.notify_one();
    assert!(racing.await.unwrap().is_ok(), "answered as it read");
    let next = auth
        .authenticate_bearer(&token, now + Duration::milliseconds(1))
        .await;
    assert!(matches!(next, Err(AuthError::Unauthenticated)), "{next:?}");
}
