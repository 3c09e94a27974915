//! Configuration: compiled-in defaults, then a TOML file, then `FINCRM_*` environment variables,
//! then command-line flags.

use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// The effective configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Database URL: `sqlite://fincrm.db` (the default) or `postgres://user@host/db`.
    pub database: String,
    /// Address `serve` listens on.
    pub listen: String,
    /// Reverse proxies whose `X-Forwarded-For` names the client (audit trail, login limit).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Import settings.
    pub import: ImportConfig,
    /// Authentication settings.
    pub auth: AuthSettings,
}

/// `[auth]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Seconds an API token's principal is kept in memory (0: read on every request).
    pub token_cache_seconds: u32,
}

/// The longest token cache the configuration accepts: a revocation made elsewhere must bite
/// within minutes.
pub const MAX_TOKEN_CACHE_SECONDS: u32 = 300;

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_cache_seconds: u32::try_from(fincrm_service::auth::TOKEN_CACHE_TTL.num_seconds())
                .unwrap_or(0),
        }
    }
}

impl AuthSettings {
    /// The service's settings for these; an over-long cache is refused.
    pub fn auth_config(&self) -> anyhow::Result<fincrm_service::auth::AuthConfig> {
        if self.token_cache_seconds > MAX_TOKEN_CACHE_SECONDS {
            anyhow::bail!(
                "auth.token_cache_seconds is {}: at most {MAX_TOKEN_CACHE_SECONDS} (a revoked \
                 token must stop working within minutes)",
                self.token_cache_seconds
            );
        }
        Ok(fincrm_service::auth::AuthConfig {
            token_cache_ttl: chrono::Duration::seconds(i64::from(self.token_cache_seconds)),
            ..fincrm_service::auth::AuthConfig::default()
        })
    }
}

/// `[import]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Source records per batch (one database transaction each).
    pub batch_size: usize,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self { batch_size: 50_000 }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database: "sqlite://fincrm.db".to_owned(),
            listen: "127.0.0.1:8080".to_owned(),
            trusted_proxies: Vec::new(),
            import: ImportConfig::default(),
            auth: AuthSettings::default(),
        }
    }
}

impl fmt::Debug for Config {
    /// Redacts the database password, so the effective configuration can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database", &redact_url(&self.database))
            .field("listen", &self.listen)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("import", &self.import)
            .field("auth", &self.auth)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// Loads the file at `path` if given, then applies `FINCRM_DATABASE_URL`, `FINCRM_LISTEN` and
    /// `FINCRM_TRUSTED_PROXIES`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("reading config {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", p.display()))?
            }
            None => Config::default(),
        };
        if let Some(url) = std::env::var("FINCRM_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            config.database = url;
        }
        if let Some(listen) = std::env::var("FINCRM_LISTEN")
            .ok()
            .filter(|l| !l.is_empty())
        {
            config.listen = listen;
        }
        if let Some(list) = std::env::var("FINCRM_TRUSTED_PROXIES")
            .ok()
            .filter(|l| !l.trim().is_empty())
        {
            config.trusted_proxies = list
                .split(',')
                .map(|ip| {
                    ip.trim().parse().map_err(|_| {
                        anyhow::anyhow!(
                            "FINCRM_TRUSTED_PROXIES: {:?} is not an IP address",
                            ip.trim()
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        // Refuse a bad setting at start, not after a long load (`demo --serve`).
        config.auth.auth_config()?;
        Ok(config)
    }
}

/// The commented example printed by `fincrm config example`.
pub const EXAMPLE: &str = r#"# fincrm configuration. Every key is optional; shown are the defaults.
# Precedence: this file < FINCRM_* environment variables < command-line flags.

# Where the data lives. The embedded default is one SQLite file (WAL, synchronous=FULL).
# For production use PostgreSQL: database = "postgres://fincrm@db.bank.internal:5432/fincrm"
# (or set FINCRM_DATABASE_URL). Passwords here are redacted from every log line.
database = "sqlite://fincrm.db"

# Address `fincrm serve` listens on (FINCRM_LISTEN).
listen = "127.0.0.1:8080"

# Reverse proxies (load balancer, TLS terminator) whose X-Forwarded-For header names the client
# for the audit trail and the login rate limit (FINCRM_TRUSTED_PROXIES, comma-separated). Empty:
# the socket's peer is the client and X-Forwarded-For is ignored.
trusted_proxies = []

[import]
# Source records per batch. Each batch is one database transaction: a killed import leaves
# whole batches only, and a re-run skips the batches already committed.
batch_size = 50000

[auth]
# Seconds an API token, with its user's role and branch, is kept in memory after it was read
# (0 reads it on every request; at most 300). Expiry is checked on every request, and a
# revocation or staff change made through this server takes effect at once; one made by another
# process (a second server, the CLI) takes effect within this time.
token_cache_seconds = 5
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(parsed.database, Config::default().database);
        assert_eq!(parsed.import.batch_size, 50_000);
        assert_eq!(
            parsed.auth.token_cache_seconds,
            Config::default().auth.token_cache_seconds
        );
        assert_eq!(
            parsed.auth.auth_config().unwrap(),
            fincrm_service::auth::AuthConfig::default()
        );
    }

    #[test]
    fn an_over_long_token_cache_is_refused() {
        let c: Config = toml::from_str("[auth]\ntoken_cache_seconds = 301").unwrap();
        let e = c.auth.auth_config().unwrap_err().to_string();
        assert!(e.contains("auth.token_cache_seconds"), "{e}");
        let c: Config = toml::from_str("[auth]\ntoken_cache_seconds = 0").unwrap();
        assert_eq!(
            c.auth.auth_config().unwrap().token_cache_ttl,
            chrono::Duration::zero()
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/crm"),
            "postgres://app:***@db:5432/crm"
        );
        assert_eq!(redact_url("sqlite://fincrm.db"), "sqlite://fincrm.db");
        let c = Config {
            database: "postgres://a:b@h/d".into(),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains(":b@"));
    }
}
