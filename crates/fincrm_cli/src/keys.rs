//! `fincrm keys`: the field-encryption keys (issue #3; procedure in `docs/KEYS.md`).
//!
//! Key material and personal information are never printed or logged: only key ids, paths and
//! counts.

use anyhow::{Context, Result, bail};
use fincrm_crypto::{KeyId, Keyring, KeyringError};
use fincrm_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `fincrm keys …`
#[derive(clap::Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a new key file (mode 600) with one active data key `k1` and a blind-index key.
    /// Refuses to overwrite an existing file.
    Init {
        /// Where to write the key file.
        path: PathBuf,
    },
    /// Add a new random data key to a key file, not active yet (step 1 of a rotation).
    Add {
        /// The key file.
        path: PathBuf,
        /// The new key's id, e.g. `k2` or `2026-11`.
        id: String,
    },
    /// Make a key of the key file the active one (step 2, after every instance has the key).
    Activate {
        /// The key file.
        path: PathBuf,
        /// The key id.
        id: String,
    },
    /// Remove a data key from a key file (step 4, after `fincrm keys rotate` re-encrypted
    /// everything under the active key). Values still under it become unreadable.
    Remove {
        /// The key file.
        path: PathBuf,
        /// The key id.
        id: String,
    },
    /// Re-encrypt every customer's personal information under the active key (and seal any left
    /// in plaintext), page by page; safe to interrupt and run again.
    Rotate {
        /// Customers per transaction.
        #[arg(long, default_value_t = 5_000)]
        page_size: i64,
        /// Resume after this customer number (the last one a previous run logged).
        #[arg(long)]
        after: Option<String>,
    },
}

/// The keyring named by `FINCRM_KEY_FILE` / `FINCRM_KEYS`, or `None` when neither is set (then
/// personal information is stored in plaintext, with a warning). A key configuration that is set
/// but cannot be loaded is an error: fincrm never falls back to plaintext because of a typo.
pub(crate) fn keyring_from_env() -> Result<Option<Arc<Keyring>>> {
    match fincrm_crypto::load_from_env() {
        Ok(k) => {
            tracing::info!(active_key = %k.active_key_id(), "personal information is encrypted at rest");
            Ok(Some(Arc::new(k)))
        }
        Err(KeyringError::NotConfigured) => {
            tracing::warn!(
                "personal information is stored unencrypted: set FINCRM_KEY_FILE \
                 (`fincrm keys init PATH` creates a key file)"
            );
            Ok(None)
        }
        Err(e) => Err(e).context("loading the encryption keys"),
    }
}

#[expect(clippy::print_stdout, reason = "the CLI's output is its interface")]
pub(crate) async fn run(
    cmd: KeysCommand,
    open: impl AsyncFnOnce() -> Result<Arc<dyn Store>>,
) -> Result<()> {
    match cmd {
        KeysCommand::Init { path } => {
            let keyring = Keyring::generate().context("generating keys")?;
            // The error names the path and the cause already.
            fincrm_crypto::write_new_key_file(&path, &keyring)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "wrote {} (mode 600, active key {}); keep a copy in the bank's secret store: \
                 losing it loses every encrypted value. Use it with FINCRM_KEY_FILE={}",
                path.display(),
                keyring.active_key_id(),
                path.display()
            );
        }
        KeysCommand::Add { path, id } => {
            let id = KeyId::new(id).map_err(|e| anyhow::anyhow!("{e}"))?;
            let keyring = load(&path)?.with_generated_key(id.clone());
            replace_key_file(&path, &keyring.map_err(|e| anyhow::anyhow!("{e}"))?)?;
            println!(
                "added key {id} to {} (not active); deploy the file to every instance, then \
                 `fincrm keys activate {} {id}`",
                path.display(),
                path.display()
            );
        }
        KeysCommand::Activate { path, id } => {
            let id = KeyId::new(id).map_err(|e| anyhow::anyhow!("{e}"))?;
            let keyring = load(&path)?.with_active(&id);
            replace_key_file(&path, &keyring.map_err(|e| anyhow::anyhow!("{e}"))?)?;
            println!(
                "key {id} is active in {}; deploy it, then run `fincrm keys rotate`",
                path.display()
            );
        }
        KeysCommand::Remove { path, id } => {
            let id = KeyId::new(id).map_err(|e| anyhow::anyhow!("{e}"))?;
            let keyring = load(&path)?.without_key(&id);
            replace_key_file(&path, &keyring.map_err(|e| anyhow::anyhow!("{e}"))?)?;
            println!("removed key {id} from {}", path.display());
        }
        KeysCommand::Rotate { page_size, after } => {
            let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
            if !set(fincrm_crypto::KEY_FILE_ENV) && !set(fincrm_crypto::KEYS_ENV) {
                bail!(
                    "`fincrm keys rotate` needs the keys: set FINCRM_KEY_FILE to the key file \
                     whose active key the values should be encrypted under"
                );
            }
            let store = open().await?;
            let (mut scanned, mut rewritten) = (0u64, 0u64);
            let mut after = after;
            loop {
                let page = store
                    .reencrypt_customers(after.as_deref(), page_size.max(1))
                    .await
                    .context("re-encrypting")?;
                let Some(last) = page.last_key else { break };
                scanned += page.scanned;
                rewritten += page.rewritten;
                tracing::info!(
                    scanned,
                    rewritten,
                    last_customer = %last,
                    "rotation progress"
                );
                after = Some(last);
            }
            println!("rotation done: {scanned} customers scanned, {rewritten} re-encrypted");
        }
    }
    Ok(())
}

fn load(path: &Path) -> Result<Keyring> {
    fincrm_crypto::load_key_file(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Replaces a key file atomically: the new keyring goes to `PATH.new` (created with mode 600,
/// refused if it exists: another change is in progress), is synced, and renamed over `PATH`.
fn replace_key_file(path: &Path, keyring: &Keyring) -> Result<()> {
    let mut staged = path.as_os_str().to_owned();
    staged.push(".new");
    let staged = PathBuf::from(staged);
    fincrm_crypto::write_new_key_file(&staged, keyring).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::rename(&staged, path)
        .with_context(|| format!("replacing {} with {}", path.display(), staged.display()))
}
