//! Credentials, sessions and API tokens on PostgreSQL (`migrations/0004_auth.sql`).
//!
//! Every change runs in one transaction under READ COMMITTED: the failure counter is one
//! `UPDATE … SET failed_attempts = failed_attempts + 1` (the row lock serialises concurrent
//! failures), a login locks the credential row (`FOR UPDATE`) before it checks the lock, and the
//! audit record is appended last in the same transaction (`audit::append_in`, which takes the
//! audit append lock).

use crate::PgStore;
use crate::audit::append_in;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fincrm_domain::auth::{LockoutPolicy, Scope};
use fincrm_domain::{Branch, StaffRole, User};
use fincrm_store::auth::{
    API_TOKEN_COLUMNS, ApiTokenRecord, ApiTokenRow, AuthEvent, AuthStore, CREDENTIAL_COLUMNS,
    Credential, CredentialRow, FailureKind, FailureOutcome, SESSION_COLUMNS, SessionRecord,
    SessionRow, StaffRow, UNKNOWN_TARGET, failure_image, token_image,
};
use fincrm_store::{StoreError, StoreResult};
use sqlx::AssertSqlSafe;

/// The first 16 hex digits of a session id hash: enough to tell a user's sessions apart in the
/// audit trail, useless for anything else.
fn session_tag(session_id_hash: &str) -> &str {
    session_id_hash.get(..16).unwrap_or(session_id_hash)
}

#[async_trait]
impl AuthStore for PgStore {
    async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let row: Option<StaffRow> =
            sqlx::query_as("SELECT user_id, name, branch_id, role FROM staff WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(User::try_from).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<StaffRow> =
            sqlx::query_as("SELECT user_id, name, branch_id, role FROM staff ORDER BY user_id")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn admin_exists(&self) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM credential c JOIN staff s ON s.user_id = c.user_id \
             WHERE s.role = 'admin'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    async fn bootstrap_admin(
        &self,
        admin: &User,
        head_office: &Branch,
        password_hash: &str,
        event: &AuthEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let admins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM credential c JOIN staff s ON s.user_id = c.user_id \
             WHERE s.role = 'admin'",
        )
        .fetch_one(&mut *tx)
        .await?;
        if admins > 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO branch (branch_id, name, parent_id, level) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (branch_id) DO NOTHING",
        )
        .bind(head_office.id.as_str())
        .bind(&head_office.name)
        .bind(
            head_office
                .parent
                .as_ref()
                .map(fincrm_domain::BranchId::as_str),
        )
        .bind(head_office.level.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO staff (user_id, name, branch_id, role) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(admin.id.as_str())
        .bind(&admin.name)
        .bind(admin.branch_id.as_str())
        .bind(admin.role.as_str())
        .execute(&mut *tx)
        .await?;
        let role: String = sqlx::query_scalar("SELECT role FROM staff WHERE user_id = $1")
            .bind(admin.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        if role != StaffRole::Admin.as_str() {
            return Err(StoreError::Other(anyhow::anyhow!(
                "staff member {} exists with role {role}: cannot make it the first admin",
                admin.id
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO credential (user_id, password_hash, must_change, failed_attempts, \
             locked_until, password_changed_at) VALUES ($1, $2, TRUE, 0, NULL, $3) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(admin.id.as_str())
        .bind(password_hash)
        .bind(event.at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        let after = serde_json::json!({
            "role": admin.role.as_str(),
            "branch_id": admin.branch_id.as_str(),
            "must_change": true,
        });
        let entry = event.entry(
            "auth.bootstrap",
            "credential",
            admin.id.as_str(),
            Some(after),
        );
        append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credential WHERE user_id = $1");
        let row: Option<CredentialRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Credential::from))
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        must_change: bool,
        keep_session: Option<&str>,
        event: &AuthEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let staff: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        if staff == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO credential (user_id, password_hash, must_change, failed_attempts, \
             locked_until, password_changed_at) VALUES ($1, $2, $3, 0, NULL, $4) \
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, \
             must_change = excluded.must_change, failed_attempts = 0, locked_until = NULL, \
             password_changed_at = excluded.password_changed_at",
        )
        .bind(user_id)
        .bind(password_hash)
        .bind(must_change)
        .bind(event.at)
        .execute(&mut *tx)
        .await?;
        let revoked = sqlx::query(
            "UPDATE session SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
             AND session_id_hash <> $3",
        )
        .bind(event.at)
        .bind(user_id)
        .bind(keep_session.unwrap_or(""))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let after = serde_json::json!({ "must_change": must_change, "sessions_revoked": revoked });
        let entry = event.entry("auth.password_change", "credential", user_id, Some(after));
        append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_login_failure(
        &self,
        user_id: &str,
        kind: FailureKind,
        policy: &LockoutPolicy,
        event: &AuthEvent,
    ) -> StoreResult<Option<FailureOutcome>> {
        let mut tx = self.pool.begin().await?;
        let outcome = match kind {
            FailureKind::UnknownUser => None,
            FailureKind::BadPassword => {
                let count: Option<i64> = sqlx::query_scalar(
                    "UPDATE credential SET failed_attempts = failed_attempts + 1 \
                     WHERE user_id = $1 RETURNING failed_attempts",
                )
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
                match count {
                    Some(failed_attempts) => {
                        let locked_until = policy.locked_until(failed_attempts, event.at);
                        if locked_until.is_some() {
                            sqlx::query(
                                "UPDATE credential SET locked_until = $1 WHERE user_id = $2",
                            )
                            .bind(locked_until)
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Some(FailureOutcome {
                            failed_attempts,
                            locked_until,
                        })
                    }
                    None => None,
                }
            }
            FailureKind::Locked => {
                let row: Option<(i64, Option<DateTime<Utc>>)> = sqlx::query_as(
                    "SELECT failed_attempts, locked_until FROM credential WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
                row.map(|(failed_attempts, locked_until)| FailureOutcome {
                    failed_attempts,
                    locked_until,
                })
            }
        };
        let target = if kind == FailureKind::UnknownUser {
            UNKNOWN_TARGET
        } else {
            user_id
        };
        let entry = event.entry(
            "auth.login_failed",
            "credential",
            target,
            Some(failure_image(kind, outcome)),
        );
        append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn record_login_success(
        &self,
        session: &SessionRecord,
        event: &AuthEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let lock: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT locked_until FROM credential WHERE user_id = $1 FOR UPDATE")
                .bind(&session.user_id)
                .fetch_optional(&mut *tx)
                .await?;
        match lock {
            None => return Ok(false),
            Some(Some(until)) if until > event.at => return Ok(false),
            Some(_) => {}
        }
        sqlx::query(
            "UPDATE credential SET failed_attempts = 0, locked_until = NULL WHERE user_id = $1",
        )
        .bind(&session.user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO session (session_id_hash, user_id, created_at, expires_at, \
             last_seen_at, csrf_token_hash, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&session.session_id_hash)
        .bind(&session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.last_seen_at)
        .bind(&session.csrf_token_hash)
        .bind(session.revoked_at)
        .execute(&mut *tx)
        .await?;
        let after = serde_json::json!({
            "session": session_tag(&session.session_id_hash),
            "expires_at": session.expires_at.to_rfc3339(),
        });
        let entry = event.entry("auth.login", "session", &session.user_id, Some(after));
        append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn session(&self, session_id_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM session WHERE session_id_hash = $1");
        let row: Option<SessionRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(session_id_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(SessionRecord::from))
    }

    async fn touch_session(&self, session_id_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE session SET last_seen_at = $1 WHERE session_id_hash = $2")
            .bind(at)
            .bind(session_id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_session(&self, session_id_hash: &str, event: &AuthEvent) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let user: Option<String> = sqlx::query_scalar(
            "UPDATE session SET revoked_at = $1 WHERE session_id_hash = $2 AND revoked_at IS NULL \
             RETURNING user_id",
        )
        .bind(event.at)
        .bind(session_id_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user) = user else {
            return Ok(false);
        };
        let after = serde_json::json!({ "session": session_tag(session_id_hash) });
        let entry = event.entry("auth.logout", "session", &user, Some(after));
        append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_api_token(&self, token: &ApiTokenRecord, event: &AuthEvent) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO api_token (token_id, token_hash, user_id, name, scopes, created_at, \
             expires_at, revoked_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&token.token_id)
        .bind(&token.token_hash)
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(Scope::join(&token.scopes))
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.revoked_at)
        .bind(token.last_used_at)
        .execute(&mut *tx)
        .await?;
        let entry = event.entry(
            "auth.token_create",
            "api_token",
            &token.token_id,
            Some(token_image(token)),
        );
        append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn api_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiTokenRecord>> {
        let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_token WHERE token_hash = $1");
        let row: Option<ApiTokenRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ApiTokenRecord::try_from).transpose()
    }

    async fn api_token_with_user(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(ApiTokenRecord, User)>> {
        use sqlx::{FromRow, Row};
        // One round trip for what every bearer request reads first; the statement is built once.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let token_columns = API_TOKEN_COLUMNS
                .split(',')
                .map(|c| format!("t.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT {token_columns}, s.user_id AS staff_user_id, s.name AS staff_name, \
                 s.branch_id AS staff_branch_id, s.role AS staff_role \
                 FROM api_token t JOIN staff s ON s.user_id = t.user_id WHERE t.token_hash = $1"
            )
        });
        let Some(row) = sqlx::query(AssertSqlSafe(SQL.as_str()))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let token = ApiTokenRecord::try_from(ApiTokenRow::from_row(&row)?)?;
        let user = User::try_from(StaffRow {
            user_id: row.try_get("staff_user_id")?,
            name: row.try_get("staff_name")?,
            branch_id: row.try_get("staff_branch_id")?,
            role: row.try_get("staff_role")?,
        })?;
        Ok(Some((token, user)))
    }

    async fn api_token(&self, token_id: &str) -> StoreResult<Option<ApiTokenRecord>> {
        let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_token WHERE token_id = $1");
        let row: Option<ApiTokenRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(token_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ApiTokenRecord::try_from).transpose()
    }

    async fn touch_api_token(&self, token_id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_token SET last_used_at = $1 WHERE token_id = $2")
            .bind(at)
            .bind(token_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_api_token(&self, token_id: &str, event: &AuthEvent) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE api_token SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL \
             RETURNING {API_TOKEN_COLUMNS}"
        );
        let row: Option<ApiTokenRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(event.at)
            .bind(token_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let token = ApiTokenRecord::try_from(row)?;
        let entry = event.entry(
            "auth.token_revoke",
            "api_token",
            token_id,
            Some(token_image(&token)),
        );
        append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn api_tokens(&self, user_id: &str) -> StoreResult<Vec<ApiTokenRecord>> {
        let sql = format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_token WHERE user_id = $1 \
             ORDER BY created_at DESC, token_id COLLATE \"C\""
        );
        let rows: Vec<ApiTokenRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(ApiTokenRecord::try_from).collect()
    }
}
