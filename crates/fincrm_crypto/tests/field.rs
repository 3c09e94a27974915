//! Sealing, opening, rotation and blind indexes through the public API.

use fincrm_crypto::{
    CryptoError, KeyId, Keyring, Sealed, blind_index, decrypt_field, encrypt_field, rebuild_index,
    reencrypt,
};
use proptest::prelude::*;
use std::collections::HashSet;

const ID: &str = "customer.id_number";
const PHONE: &str = "customer.phone";
const RESIDENT_ID: &str = "110105199801139234";

fn keyring() -> Keyring {
    Keyring::generate().expect("OS random generator")
}

/// The decoded payload of an envelope (nonce ‖ ciphertext ‖ tag).
fn payload(sealed: &Sealed) -> Vec<u8> {
    use base64::Engine as _;
    let text = sealed
        .as_str()
        .rsplit(':')
        .next()
        .expect("envelope has a payload");
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("payload is base64")
}

fn with_payload(sealed: &Sealed, bytes: &[u8]) -> Sealed {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    Sealed::parse(format!("v1:{}:{b64}", sealed.key_id())).expect("well-formed envelope")
}

#[test]
fn round_trip() {
    let kr = keyring();
    for clear in [
        RESIDENT_ID,
        "13812345678",
        "",
        "杭州市西湖区学府路808号",
        "a:b:c",
    ] {
        let sealed = encrypt_field(&kr, ID, clear).unwrap();
        assert!(sealed.as_str().starts_with("v1:k1:"), "{sealed}");
        assert!(!sealed.as_str().contains(clear) || clear.is_empty());
        // The text survives the store: parse what was written.
        let stored = Sealed::parse(sealed.as_str()).unwrap();
        assert_eq!(decrypt_field(&kr, ID, &stored).unwrap().expose(), clear);
        // 12-byte nonce + plaintext + 16-byte tag.
        assert_eq!(payload(&sealed).len(), 12 + clear.len() + 16);
    }
}

#[test]
fn the_field_name_is_bound() {
    let kr = keyring();
    let sealed = encrypt_field(&kr, ID, RESIDENT_ID).unwrap();
    let err = decrypt_field(&kr, PHONE, &sealed).unwrap_err();
    assert_eq!(
        err,
        CryptoError::NotAuthentic {
            field: PHONE.to_owned(),
            key_id: KeyId::new("k1").unwrap(),
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("another field"), "{msg}");
    assert!(!msg.contains(RESIDENT_ID) && !msg.contains(sealed.as_str()));
}

#[test]
fn tampering_is_detected_in_every_byte() {
    let kr = keyring();
    let sealed = encrypt_field(&kr, ID, RESIDENT_ID).unwrap();
    let bytes = payload(&sealed);
    // Nonce, ciphertext and tag: every position, low and high bit.
    for i in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= bit;
            let err = decrypt_field(&kr, ID, &with_payload(&sealed, &t)).unwrap_err();
            assert!(
                matches!(err, CryptoError::NotAuthentic { .. }),
                "byte {i}: {err:?}"
            );
        }
    }
    // Truncated and extended payloads.
    let err =
        decrypt_field(&kr, ID, &with_payload(&sealed, &bytes[..bytes.len() - 1])).unwrap_err();
    assert!(matches!(err, CryptoError::NotAuthentic { .. }), "{err:?}");
    // Shorter than nonce + tag: refused when the stored text is parsed.
    let short = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&bytes[..20])
    };
    let err = Sealed::parse(format!("v1:k1:{short}")).unwrap_err();
    assert!(matches!(err, CryptoError::Malformed(_)), "{err:?}");
    let mut longer = bytes.clone();
    longer.push(0);
    let err = decrypt_field(&kr, ID, &with_payload(&sealed, &longer)).unwrap_err();
    assert!(matches!(err, CryptoError::NotAuthentic { .. }), "{err:?}");
}

#[test]
fn non_canonical_base64_is_malformed_not_a_panic() {
    let kr = keyring();
    let sealed = encrypt_field(&kr, ID, RESIDENT_ID).unwrap();
    let text = sealed.as_str();
    // Padding in the middle passes the cheap structural check but not the decoder.
    let mid = text.len() - 8;
    let broken = format!("{}=={}", &text[..mid], &text[mid + 2..]);
    let parsed = Sealed::parse(broken).unwrap();
    let err = decrypt_field(&kr, ID, &parsed).unwrap_err();
    assert_eq!(err, CryptoError::Malformed("payload is not base64"));
}

#[test]
fn an_unknown_key_id_is_its_own_error() {
    let kr = keyring();
    let sealed = encrypt_field(&kr, ID, RESIDENT_ID).unwrap();
    let elsewhere = Sealed::parse(sealed.as_str().replacen("v1:k1:", "v1:k9:", 1)).unwrap();
    let err = decrypt_field(&kr, ID, &elsewhere).unwrap_err();
    assert_eq!(err, CryptoError::UnknownKeyId(KeyId::new("k9").unwrap()));
    assert!(err.to_string().contains("`k9`"));

    // Same id, different key bytes (a keyring from another installation): not authentic.
    let other = keyring();
    let err = decrypt_field(&other, ID, &sealed).unwrap_err();
    assert!(matches!(err, CryptoError::NotAuthentic { .. }), "{err:?}");
}

#[test]
fn rotation_reencrypts_old_values_and_skips_current_ones() {
    let k1 = keyring();
    let old = encrypt_field(&k1, ID, RESIDENT_ID).unwrap();
    let k2_id = KeyId::new("2026-11").unwrap();
    let k2 = k1
        .with_generated_key(k2_id.clone())
        .unwrap()
        .with_active(&k2_id)
        .unwrap();

    let new = reencrypt(&k2, ID, &old)
        .unwrap()
        .expect("k1 value is re-sealed");
    assert_eq!(new.key_id(), "2026-11");
    assert!(new.as_str().starts_with("v1:2026-11:"));
    assert_eq!(decrypt_field(&k2, ID, &new).unwrap().expose(), RESIDENT_ID);
    assert_eq!(reencrypt(&k2, ID, &new).unwrap(), None);
    // New values go under the active key; the old value still opens until k1 is removed.
    assert_eq!(encrypt_field(&k2, ID, "x").unwrap().key_id(), "2026-11");
    assert_eq!(decrypt_field(&k2, ID, &old).unwrap().expose(), RESIDENT_ID);
    let retired = k2.without_key(&KeyId::new("k1").unwrap()).unwrap();
    assert_eq!(
        decrypt_field(&retired, ID, &new).unwrap().expose(),
        RESIDENT_ID
    );
    assert!(matches!(
        decrypt_field(&retired, ID, &old),
        Err(CryptoError::UnknownKeyId(_))
    ));
    // Re-encryption checks the field too.
    assert!(matches!(
        reencrypt(&k2, PHONE, &old),
        Err(CryptoError::NotAuthentic { .. })
    ));
}

#[test]
fn nonces_do_not_repeat() {
    let kr = keyring();
    let n = 20_000;
    let mut nonces = HashSet::with_capacity(n);
    let mut envelopes = HashSet::with_capacity(n);
    for _ in 0..n {
        let sealed = encrypt_field(&kr, PHONE, "13812345678").unwrap();
        nonces.insert(payload(&sealed)[..12].to_vec());
        envelopes.insert(sealed.into_string());
    }
    assert_eq!(nonces.len(), n);
    assert_eq!(envelopes.len(), n);
}

#[test]
fn blind_index_is_deterministic_keyed_and_field_separated() {
    let kr = keyring();
    let a = blind_index(&kr, PHONE, "13812345678");
    assert_eq!(a, blind_index(&kr, PHONE, "13812345678"));
    assert_eq!(a.len(), 32);
    assert!(
        a.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_ne!(a, blind_index(&kr, PHONE, "13812345679"));
    assert_ne!(a, blind_index(&kr, "contact.phone", "13812345678"));
    // The separator keeps (field, value) pairs apart.
    assert_ne!(blind_index(&kr, "ab", "c"), blind_index(&kr, "a", "bc"));
    // Keyed: another index key gives another index; data-key rotation does not change it.
    assert_ne!(a, blind_index(&keyring(), PHONE, "13812345678"));
    let rotated = kr
        .with_generated_key(KeyId::new("k2").unwrap())
        .unwrap()
        .with_active(&KeyId::new("k2").unwrap())
        .unwrap();
    assert_eq!(a, blind_index(&rotated, PHONE, "13812345678"));
}

#[test]
fn blind_index_has_a_known_answer() {
    // HMAC-SHA256 computed independently with Python's hmac module: key bytes
    // (7 i + 0x91) mod 256 for i in 0..32, message "customer.phone\x1f13812345678".
    let key: String = {
        use base64::Engine as _;
        let bytes: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(7).wrapping_add(0x91))
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let data: String = {
        use base64::Engine as _;
        let bytes: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(11).wrapping_add(0x83))
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let kr = Keyring::from_toml_str(&format!(
        "active = \"k1\"\nindex_key = \"{key}\"\n[keys]\nk1 = \"{data}\"\n"
    ))
    .unwrap();
    assert_eq!(
        blind_index(&kr, PHONE, "13812345678"),
        include_str!("blind_index_kat.txt").trim()
    );
}

#[test]
fn index_rebuild_follows_the_new_index_key() {
    let kr = keyring();
    let sealed = encrypt_field(&kr, PHONE, "13812345678").unwrap();
    assert_eq!(
        rebuild_index(&kr, PHONE, &sealed).unwrap(),
        blind_index(&kr, PHONE, "13812345678")
    );
    let new_index = kr.with_new_index_key().unwrap();
    let rebuilt = rebuild_index(&new_index, PHONE, &sealed).unwrap();
    assert_eq!(rebuilt, blind_index(&new_index, PHONE, "13812345678"));
    assert_ne!(rebuilt, blind_index(&kr, PHONE, "13812345678"));
    // Data keys are unchanged: sealed values open under the new keyring.
    assert_eq!(
        decrypt_field(&new_index, PHONE, &sealed).unwrap().expose(),
        "13812345678"
    );
}

#[test]
fn debug_output_holds_no_plaintext() {
    let kr = keyring();
    let sealed = encrypt_field(&kr, ID, RESIDENT_ID).unwrap();
    let clear = decrypt_field(&kr, ID, &sealed).unwrap();
    let dbg = format!(
        "{clear:?} {clear} {sealed:?} {:?}",
        decrypt_field(&kr, PHONE, &sealed)
    );
    assert!(!dbg.contains(RESIDENT_ID) && !dbg.contains("9234"), "{dbg}");
    assert!(!dbg.contains(sealed.as_str()), "{dbg}");
}

proptest! {
    #[test]
    fn any_utf8_round_trips(clear in any::<String>(), field in "[a-z_.]{1,40}") {
        let kr = keyring();
        let sealed = encrypt_field(&kr, &field, &clear).unwrap();
        let parsed = Sealed::parse(sealed.as_str()).unwrap();
        let opened = decrypt_field(&kr, &field, &parsed).unwrap();
        prop_assert_eq!(opened.expose(), clear.as_str());
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let kr = keyring();
        if let Ok(sealed) = Sealed::parse(text.clone()) {
            prop_assert!(decrypt_field(&kr, ID, &sealed).is_err());
        }
        let forged = format!("v1:k1:{text}");
        if let Ok(sealed) = Sealed::parse(forged) {
            prop_assert!(decrypt_field(&kr, ID, &sealed).is_err());
        }
    }
}
