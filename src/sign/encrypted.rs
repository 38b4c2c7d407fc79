//! The password-encrypted container cosign keeps private keys in: go-securesystemslib's
//! `encrypted` package (a fork of go-tuf's), reimplemented byte for byte.
//!
//! Owns: the JSON document `{"kdf":{"name":"scrypt","params":{"N":..,"r":..,"p":..},"salt":..},
//! "cipher":{"name":"nacl/secretbox","nonce":..},"ciphertext":..}`, deriving the box key with
//! scrypt, sealing and opening it with nacl/secretbox (XSalsa20-Poly1305), and bounding the
//! scrypt parameters a hostile file may ask for.
//! Does not own: the PEM armour around the JSON or what the plaintext is (see `keys`).
//!
//! Facts and where they come from:
//! - field names, nesting and order, `[]byte` as standard base64, 32-byte salt, 32-byte box
//!   key, 24-byte nonce, names "scrypt" and "nacl/secretbox": the `data`, `scryptKDF`,
//!   `secretBoxCipher` types of secure-systems-lab/go-securesystemslib:encrypted/encrypted.go
//!   (vendored at moby/moby:vendor/github.com/secure-systems-lab/go-securesystemslib/encrypted/
//!   encrypted.go) and theupdateframework/go-tuf:encrypted/encrypted.go; the same JSON shape is
//!   pinned by the serde test in sigstore/sigstore-rs:src/crypto/signing_key/kdf.rs.
//! - parameters: go-tuf and sigstore-rs write and accept only N=32768, r=8, p=1; current
//!   go-securesystemslib writes N=65536 ("Standard") and accepts N of 2^15, 2^16 or 2^17 with
//!   r=8, p=1. We write N=32768 so every cosign and sigstore-rs reads our keys, and accept any
//!   power-of-two N up to 2^20 within a memory and work bound, so keys from any of them load.
//! - the secretbox output is tag || ciphertext (NaCl's layout, golang.org/x/crypto's
//!   `secretbox.Seal`); `crypto_secretbox` prepends the tag the same way.

use super::{Error, Result};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const NAME_SCRYPT: &str = "scrypt";
const NAME_SECRETBOX: &str = "nacl/secretbox";
const SALT_SIZE: usize = 32;
const KEY_SIZE: usize = 32;
const NONCE_SIZE: usize = 24;

/// What we write: go-securesystemslib's "Legacy" level, the only one every reader accepts.
const WRITE_PARAMS: ScryptParams = ScryptParams {
    n: 32768,
    r: 8,
    p: 1,
};
/// Largest accepted log2(N).
const MAX_LOG_N: u32 = 20;
/// Largest accepted scrypt memory, 128 * N * r bytes: 1 GiB (N=2^20 with r=8).
const MAX_MEMORY: u64 = 1 << 30;
/// Largest accepted r * p, scrypt's work factor besides N.
const MAX_R_TIMES_P: u64 = 64;

#[derive(Serialize, Deserialize)]
struct Data {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "super::b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    #[serde(with = "super::b64")]
    salt: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ScryptParams {
    #[serde(rename = "N")]
    pub(super) n: u64,
    pub(super) r: u64,
    pub(super) p: u64,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "super::b64")]
    nonce: Vec<u8>,
}

/// Seal `plaintext` under `password` with a fresh random salt and nonce, as
/// go-securesystemslib's `Encrypt` does (but at N=32768, see the module doc).
pub(super) fn encrypt(plaintext: &[u8], password: &[u8]) -> Result<Vec<u8>> {
    let mut salt = [0u8; SALT_SIZE];
    let mut nonce = [0u8; NONCE_SIZE];
    fill_random(&mut salt)?;
    fill_random(&mut nonce)?;
    encrypt_with(plaintext, password, WRITE_PARAMS, &salt, &nonce)
}

/// `encrypt` with every random input given; tests use it to build fixed vectors.
pub(super) fn encrypt_with(
    plaintext: &[u8],
    password: &[u8],
    params: ScryptParams,
    salt: &[u8],
    nonce: &[u8; NONCE_SIZE],
) -> Result<Vec<u8>> {
    let key = derive_key(password, salt, params)?;
    let ciphertext = XSalsa20Poly1305::new(key.as_ref().into())
        .encrypt(Nonce::from_slice(nonce), plaintext)
        .map_err(|_| Error::EncryptedKey("secretbox sealing failed".to_string()))?;
    let data = Data {
        kdf: Kdf {
            name: NAME_SCRYPT.to_string(),
            params,
            salt: salt.to_vec(),
        },
        cipher: Cipher {
            name: NAME_SECRETBOX.to_string(),
            nonce: nonce.to_vec(),
        },
        ciphertext,
    };
    serde_json::to_vec(&data).map_err(|e| Error::EncryptedKey(e.to_string()))
}

/// Open a document written by go-securesystemslib's `Encrypt` (or by `encrypt`).
pub(super) fn decrypt(document: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let data: Data = serde_json::from_slice(document)
        .map_err(|e| Error::EncryptedKey(format!("not the expected JSON document: {e}")))?;
    if data.kdf.name != NAME_SCRYPT {
        return Err(Error::EncryptedKey(format!(
            "unknown kdf {:?}, expected \"{NAME_SCRYPT}\"",
            data.kdf.name
        )));
    }
    if data.cipher.name != NAME_SECRETBOX {
        return Err(Error::EncryptedKey(format!(
            "unknown cipher {:?}, expected \"{NAME_SECRETBOX}\"",
            data.cipher.name
        )));
    }
    if data.cipher.nonce.len() != NONCE_SIZE {
        return Err(Error::EncryptedKey(format!(
            "the secretbox nonce is {} bytes, expected {NONCE_SIZE}",
            data.cipher.nonce.len()
        )));
    }
    let key = derive_key(password, &data.kdf.salt, data.kdf.params)?;
    XSalsa20Poly1305::new(key.as_ref().into())
        .decrypt(
            Nonce::from_slice(&data.cipher.nonce),
            data.ciphertext.as_slice(),
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::WrongPassword)
}

/// log2(N), once the parameters are known to be cheap enough to run.
fn check_params(params: ScryptParams) -> Result<u8> {
    let ScryptParams { n, r, p } = params;
    let bad = |reason| Error::KdfParams { n, r, p, reason };
    if n < 2 || !n.is_power_of_two() {
        return Err(bad("N must be a power of two"));
    }
    let log_n = n.trailing_zeros();
    if log_n > MAX_LOG_N {
        return Err(bad("N is larger than 2^20"));
    }
    if r == 0 || p == 0 {
        return Err(bad("r and p must be positive"));
    }
    if r.saturating_mul(p) > MAX_R_TIMES_P {
        return Err(bad("r*p is larger than 64"));
    }
    if n.saturating_mul(r).saturating_mul(128) > MAX_MEMORY {
        return Err(bad(
            "the key derivation would need more than 1 GiB of memory",
        ));
    }
    // Bounded above: log_n <= 20, r and p <= 64.
    Ok(log_n as u8)
}

fn derive_key(
    password: &[u8],
    salt: &[u8],
    params: ScryptParams,
) -> Result<Zeroizing<[u8; KEY_SIZE]>> {
    let log_n = check_params(params)?;
    let invalid = |_| Error::KdfParams {
        n: params.n,
        r: params.r,
        p: params.p,
        reason: "rejected by scrypt",
    };
    let scrypt_params =
        scrypt::Params::new(log_n, params.r as u32, params.p as u32, KEY_SIZE).map_err(invalid)?;
    let mut key = Zeroizing::new([0u8; KEY_SIZE]);
    scrypt::scrypt(password, salt, &scrypt_params, key.as_mut())
        .map_err(|_| Error::EncryptedKey("scrypt rejected the key length".to_string()))?;
    Ok(key)
}

fn fill_random(buf: &mut [u8]) -> Result<()> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| Error::Random(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED_SALT: [u8; SALT_SIZE] = [7; SALT_SIZE];
    const FIXED_NONCE: [u8; NONCE_SIZE] = [9; NONCE_SIZE];

    #[test]
    fn round_trip_and_written_shape() {
        let doc = encrypt(b"reallyimportant", b"supersecret").unwrap();
        let value: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(value["kdf"]["name"], "scrypt");
        assert_eq!(
            value["kdf"]["params"],
            serde_json::json!({"N": 32768, "r": 8, "p": 1})
        );
        assert_eq!(value["cipher"]["name"], "nacl/secretbox");
        let text = std::str::from_utf8(&doc).unwrap();
        assert!(
            text.starts_with(
                r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""#
            ),
            "{text}"
        );
        assert_eq!(&*decrypt(&doc, b"supersecret").unwrap(), b"reallyimportant");
    }

    #[test]
    fn fixed_vector_is_byte_exact() {
        let doc = encrypt_with(b"x", b"pw", WRITE_PARAMS, &FIXED_SALT, &FIXED_NONCE).unwrap();
        let salt = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let nonce = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJ";
        let text = String::from_utf8(doc).unwrap();
        let prefix = format!(
            r#"{{"kdf":{{"name":"scrypt","params":{{"N":32768,"r":8,"p":1}},"salt":"{salt}"}},"cipher":{{"name":"nacl/secretbox","nonce":"{nonce}"}},"ciphertext":""#
        );
        assert!(text.starts_with(&prefix), "{text}");
        // 1 byte of plaintext + the 16-byte Poly1305 tag, base64: 24 characters.
        assert_eq!(text.len(), prefix.len() + 24 + 2);
    }

    #[test]
    fn wrong_password_is_a_clear_error() {
        let doc =
            encrypt_with(b"secret", b"right", WRITE_PARAMS, &FIXED_SALT, &FIXED_NONCE).unwrap();
        let err = decrypt(&doc, b"wrong").unwrap_err();
        assert!(matches!(err, Error::WrongPassword), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot decrypt private key: wrong password?"
        );
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let doc = encrypt_with(b"secret", b"pw", WRITE_PARAMS, &FIXED_SALT, &FIXED_NONCE).unwrap();
        let mut data: Data = serde_json::from_slice(&doc).unwrap();
        let last = data.ciphertext.len() - 1;
        data.ciphertext[last] ^= 1;
        let doc = serde_json::to_vec(&data).unwrap();
        assert!(matches!(decrypt(&doc, b"pw"), Err(Error::WrongPassword)));
    }

    #[test]
    fn hostile_kdf_params_are_rejected_before_any_work() {
        for (n, r, p) in [
            (1u64 << 21, 8, 1),
            (1 << 20, 16, 1),
            (1 << 15, 8, 100),
            (99, 99, 99),
            (0, 8, 1),
            (1 << 15, 0, 1),
        ] {
            let err = check_params(ScryptParams { n, r, p }).unwrap_err();
            assert!(matches!(err, Error::KdfParams { .. }), "{err:?}");
            assert!(
                err.to_string().starts_with("unsupported scrypt parameters"),
                "{err}"
            );
        }
        // Every level go-securesystemslib writes is accepted.
        for n in [1u64 << 15, 1 << 16, 1 << 17] {
            assert!(check_params(ScryptParams { n, r: 8, p: 1 }).is_ok());
        }
    }

    #[test]
    fn other_names_and_nonce_sizes_are_rejected() {
        let doc = encrypt_with(b"secret", b"pw", WRITE_PARAMS, &FIXED_SALT, &FIXED_NONCE).unwrap();
        let text = String::from_utf8(doc).unwrap();
        for (from, to) in [("\"scrypt\"", "\"pbkdf2\""), ("nacl/secretbox", "aes-gcm")] {
            let err = decrypt(text.replace(from, to).as_bytes(), b"pw").unwrap_err();
            assert!(matches!(err, Error::EncryptedKey(_)), "{err:?}");
        }
        let short_nonce = text.replace("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJ", "CQkJCQ==");
        assert!(matches!(
            decrypt(short_nonce.as_bytes(), b"pw"),
            Err(Error::EncryptedKey(_))
        ));
        assert!(matches!(decrypt(b"{}", b"pw"), Err(Error::EncryptedKey(_))));
    }
}
