//! Key files: writing, loading, permissions and refusals.

use fincrm_crypto::{
    Keyring, KeyringError, check_key_file_mode, decrypt_field, encrypt_field, load_key_file,
    write_new_key_file,
};
use std::fs;
use std::path::Path;

/// Writes `text` as a key file with mode 600.
fn write_private(path: &Path, text: &str) {
    fs::write(path, text).expect("write key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

#[test]
fn a_written_key_file_loads_back_and_opens_old_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fincrm.keys");
    let kr = Keyring::generate().unwrap();
    write_new_key_file(&path, &kr).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let loaded = load_key_file(&path).unwrap();
    assert_eq!(*loaded.to_toml(), *kr.to_toml());
    let sealed = encrypt_field(&kr, "customer.phone", "13812345678").unwrap();
    assert_eq!(
        decrypt_field(&loaded, "customer.phone", &sealed)
            .unwrap()
            .expose(),
        "13812345678"
    );
    // Never overwrites: that would lose every value sealed under the old keys.
    let err = write_new_key_file(&path, &Keyring::generate().unwrap()).unwrap_err();
    assert!(matches!(err, KeyringError::Io { .. }), "{err}");
    assert_eq!(*load_key_file(&path).unwrap().to_toml(), *kr.to_toml());
}

#[test]
fn the_mode_check_refuses_group_and_other_access() {
    let p = Path::new("/etc/fincrm/keys.toml");
    for ok in [0o600, 0o400, 0o700, 0o100_600] {
        assert!(check_key_file_mode(p, ok).is_ok(), "{ok:o}");
    }
    for bad in [0o644, 0o640, 0o604, 0o660, 0o601, 0o610, 0o777, 0o100_644] {
        let err = check_key_file_mode(p, bad).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("chmod 600 /etc/fincrm/keys.toml"), "{msg}");
        assert!(msg.contains(&format!("{:03o}", bad & 0o777)), "{msg}");
    }
}

#[cfg(unix)]
#[test]
fn a_world_readable_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fincrm.keys");
    let kr = Keyring::generate().unwrap();
    write_new_key_file(&path, &kr).unwrap();
    for mode in [0o644, 0o640, 0o604] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let err = load_key_file(&path).unwrap_err();
        assert!(
            matches!(err, KeyringError::Permissions { mode: m, .. } if m == mode),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load_key_file(&path).is_ok());
}

#[test]
fn bad_key_files_are_refused_without_echoing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let good: String = Keyring::generate().unwrap().to_toml().to_string();
    let index_line = good
        .lines()
        .find(|l| l.starts_with("index_key"))
        .unwrap()
        .to_owned();
    let k1_line = good
        .lines()
        .find(|l| l.starts_with("\"k1\""))
        .unwrap()
        .to_owned();
    let k1_value = k1_line.split('"').nth(3).unwrap().to_owned();
    let cases = [
        (
            good.replace(&k1_value, "%%%not-base64%%%"),
            "not valid base64",
        ),
        (
            good.replace(&k1_value, "AAECAwQFBgcICQoLDA0ODw=="),
            "is 16 bytes",
        ),
        (good.replace("active = \"k1\"\n", ""), "no `active"),
        (
            good.replace("active = \"k1\"", "active = \"k7\""),
            "`k7` is not among",
        ),
        (format!("{good}{k1_line}\n"), "duplicate key"),
        (
            format!("{good}\"k2\" = \"{k1_value}\"\n"),
            "`k1` and `k2` have the same bytes",
        ),
        (good.replace(&index_line, ""), "no `index_key`"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.keys"));
        write_private(&path, text);
        let err = load_key_file(&path).unwrap_err().to_string();
        assert!(err.contains(want), "case {i}: want {want:?}, got {err}");
        assert!(!err.contains(&k1_value), "case {i}: {err}");
        assert!(!err.contains(&index_line[13..40]), "case {i}: {err}");
    }
}

#[test]
fn a_missing_file_or_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_key_file(&dir.path().join("absent.keys")).unwrap_err();
    assert!(matches!(err, KeyringError::Io { .. }), "{err}");
    let err = load_key_file(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            KeyringError::NotAFile { .. } | KeyringError::Permissions { .. }
        ),
        "{err}"
    );
}
