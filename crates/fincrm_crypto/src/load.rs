//! The only IO of this crate: reading the keyring from the environment or a key file, and writing
//! a new key file. Everything else is pure.

use crate::{Keyring, KeyringError};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Environment variable holding the key configuration itself (TOML, as in a key file).
pub const KEYS_ENV: &str = "FINCRM_KEYS";
/// Environment variable holding the path of the key file.
pub const KEY_FILE_ENV: &str = "FINCRM_KEY_FILE";
/// A key file is a few hundred bytes; anything this large is the wrong file.
const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// Loads the keyring named by the environment: `FINCRM_KEY_FILE` (a path) or `FINCRM_KEYS` (the
/// TOML itself, for containers whose secret store injects variables). Exactly one must be set
/// (an empty value counts as unset). The file is preferred in production: a variable is visible in
/// `/proc/<pid>/environ` to the same user and is inherited by child processes.
pub fn load_from_env() -> Result<Keyring, KeyringError> {
    let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    match (set(KEYS_ENV), set(KEY_FILE_ENV)) {
        (Some(_), Some(_)) => Err(KeyringError::AmbiguousSource),
        (Some(text), None) => {
            let text = Zeroizing::new(text.into_string().map_err(|_| KeyringError::WrongType {
                entry: KEYS_ENV.to_owned(),
                expected: "UTF-8 text",
            })?);
            Keyring::from_toml_str(&text)
        }
        (None, Some(path)) => load_key_file(Path::new(&path)),
        (None, None) => Err(KeyringError::NotConfigured),
    }
}

/// Loads a key file. On Unix the file must not be accessible to group or others
/// ([`check_key_file_mode`]); the mode is read from the opened file, so it is the file that is
/// read that was checked.
pub fn load_key_file(path: &Path) -> Result<Keyring, KeyringError> {
    let io_err = |source| KeyringError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(KeyringError::NotAFile {
            path: path.to_owned(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        check_key_file_mode(path, meta.permissions().mode())?;
    }
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(KeyringError::TooLarge {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    // Sized up front so reading never reallocates (which would leave a copy of the keys).
    let capacity = usize::try_from(meta.len()).map_or(0, |n| n + 1);
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    file.read_to_string(&mut text).map_err(io_err)?;
    Keyring::from_toml_str(&text)
}

/// Refuses a key file whose permission bits let group or others read, write or execute it
/// (`mode & 0o077 != 0`); the error tells the operator to `chmod 600` it. Pure, so tests and
/// `fincrm keys check` can call it with any mode.
#[expect(
    clippy::verbose_bit_mask,
    reason = "permission bits read better as the octal mask than as trailing_zeros"
)]
pub fn check_key_file_mode(path: &Path, mode: u32) -> Result<(), KeyringError> {
    if mode & 0o077 == 0 {
        Ok(())
    } else {
        Err(KeyringError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        })
    }
}

/// Writes `keyring` to a new key file, created with mode 600 on Unix (never widened first and
/// narrowed later), and synced to disk. Refuses to overwrite an existing file: replacing a key
/// file by accident loses every value sealed under its keys.
pub fn write_new_key_file(path: &Path, keyring: &Keyring) -> Result<(), KeyringError> {
    let io_err = |source| KeyringError::Io {
        path: PathBuf::from(path),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(keyring.to_toml().as_bytes())
        .map_err(io_err)?;
    file.sync_all().map_err(io_err)
}
