//! `fincrm users` and `fincrm tokens`, and the first admin at `fincrm serve` (issue #3).
//!
//! Passwords and tokens are never logged: a one-time password or a new token is printed once on
//! stdout and nowhere else; logs carry user and token ids only.

use anyhow::{Context, Result, bail};
use fincrm_service::auth::{Auth, AuthConfig, Scope};
use std::io::BufRead as _;

/// Actor of the audit records of changes made through the CLI.
const CLI_ACTOR: &str = "system:cli";

/// `fincrm users …`
#[derive(clap::Subcommand)]
pub(crate) enum UsersCommand {
    /// Set a user's password, read from the first line of stdin (policy-checked). Ends the
    /// user's sessions and clears a lockout.
    SetPassword {
        /// The user id (staff member).
        user: String,
        /// The user must change the password at the next login (use when setting it for
        /// someone else).
        #[arg(long)]
        temporary: bool,
    },
}

/// `fincrm tokens …`
#[derive(clap::Subcommand)]
pub(crate) enum TokensCommand {
    /// Create an API token for a user and print it once (only its hash is kept).
    Create {
        /// The user the token acts for.
        #[arg(long)]
        user: String,
        /// What the token is for, e.g. "core-banking nightly import".
        #[arg(long)]
        name: String,
        /// Scopes, comma-separated: customers:read, customers:write, import, audit:read, admin.
        #[arg(long)]
        scopes: String,
        /// Lifetime in days (1–366).
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
    /// List a user's tokens (ids, names, scopes, dates; never the tokens).
    List {
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by its id.
    Revoke {
        /// The token id (from `fincrm tokens list`).
        id: String,
    },
}

async fn open_auth(url: &str) -> Result<Auth> {
    Ok(Auth::new(
        crate::open_existing_stores(url).await?.auth,
        AuthConfig::default(),
    ))
}

/// At `fincrm serve` start: when no administrator can log in, creates `admin` with a one-time
/// password and prints it once on stdout (never to the log).
#[expect(
    clippy::print_stdout,
    reason = "the one-time password is shown once, on stdout only"
)]
pub(crate) async fn bootstrap_admin(url: &str) -> Result<()> {
    let auth = open_auth(url).await?;
    if let Some(password) = auth.bootstrap_admin(chrono::Utc::now()).await? {
        println!(
            "created user admin with one-time password {password} ; change it at first login \
             (it is shown only this once)"
        );
        tracing::warn!(
            user = "admin",
            "first start: administrator created with a one-time password (printed on stdout)"
        );
    }
    Ok(())
}

/// Reads one line from stdin without its line ending.
fn read_password() -> Result<String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        eprintln!("new password (input is echoed; prefer a pipe):");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
    line.clear();
    if trimmed.is_empty() {
        bail!("no password on stdin");
    }
    Ok(trimmed)
}

#[expect(clippy::print_stdout, reason = "the CLI's output is its interface")]
pub(crate) async fn users(url: &str, cmd: UsersCommand) -> Result<()> {
    match cmd {
        UsersCommand::SetPassword { user, temporary } => {
            let password = read_password()?;
            let auth = open_auth(url).await?;
            auth.set_password(
                &user,
                &password,
                temporary,
                CLI_ACTOR,
                None,
                chrono::Utc::now(),
            )
            .await?;
            println!(
                "password set for {user}{}",
                if temporary {
                    " (to be changed at next login)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the CLI's output is its interface")]
pub(crate) async fn tokens(url: &str, cmd: TokensCommand) -> Result<()> {
    let auth = open_auth(url).await?;
    let now = chrono::Utc::now();
    match cmd {
        TokensCommand::Create {
            user,
            name,
            scopes,
            days,
        } => {
            let scopes = Scope::parse_list(&scopes)?;
            let (token, record) = auth
                .create_api_token(
                    &user,
                    &name,
                    &scopes,
                    chrono::Duration::days(days),
                    CLI_ACTOR,
                    None,
                    now,
                )
                .await?;
            eprintln!(
                "token {} for {} ({}), expires {}; shown only this once:",
                record.token_id,
                record.user_id,
                Scope::join(&record.scopes),
                record.expires_at.to_rfc3339()
            );
            println!("{token}");
        }
        TokensCommand::List { user } => {
            for t in auth.api_tokens(&user).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at <= now {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{state}\t{}\t{}\texpires {}\tlast used {}",
                    t.token_id,
                    t.name,
                    Scope::join(&t.scopes),
                    t.expires_at.to_rfc3339(),
                    t.last_used_at
                        .map_or_else(|| "never".to_owned(), |u| u.to_rfc3339())
                );
            }
        }
        TokensCommand::Revoke { id } => {
            if auth.revoke_api_token(&id, CLI_ACTOR, None, now).await? {
                println!("revoked {id}");
            } else {
                bail!("no active token {id}");
            }
        }
    }
    Ok(())
}
