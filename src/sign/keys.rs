//! cosign-compatible ECDSA P-256 key pairs: generating, the encrypted private key PEM that
//! `cosign generate-key-pair` writes and `cosign sign --key` reads, the public key PEM, and
//! signing and verifying as cosign does.
//!
//! Owns: `PrivateKey` and `PublicKey`, their PEM forms, ECDSA P-256 over SHA-256 with ASN.1 DER
//! signatures, and naming the algorithm of a key that is not P-256.
//! Does not own: the scrypt + secretbox container inside the PEM (`encrypted`), where keys and
//! passwords come from, and what gets signed (`payload`, `dsse`).
//!
//! Facts and where they come from (sigstore/cosign:pkg/cosign/keys.go unless said otherwise):
//! - PEM labels: `SigstorePrivateKeyPemType = "ENCRYPTED SIGSTORE PRIVATE KEY"` is written,
//!   `CosignPrivateKeyPemType = "ENCRYPTED COSIGN PRIVATE KEY"` (older cosign) is still read
//!   (`LoadPrivateKey` accepts exactly these two).
//! - the plaintext inside is `x509.MarshalPKCS8PrivateKey(key)`: PKCS#8 DER (`marshalKeyPair`),
//!   and `LoadPrivateKey` parses it with `x509.ParsePKCS8PrivateKey`. Reading SEC1 ("EC PRIVATE
//!   KEY") DER as well is kiln's own leniency.
//! - the default key is ECDSA P-256 (`GeneratePrivateKey`); the public key is written with
//!   `cryptoutils.MarshalPublicKeyToPEM`, a PKIX "PUBLIC KEY" block.
//! - signatures: sigstore's ECDSA signer hashes with SHA-256 and writes ASN.1 DER, which
//!   cosign base64-encodes into the `dev.cosignproject.cosign/signature` annotation
//!   (sigstore/cosign:pkg/oci/static/signature.go). The DSSE test vector signs with raw r||s
//!   (secure-systems-lab/dsse:protocol.md), so verifying accepts that too.

use super::{encrypted, Error, Result};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};
use p256::pkcs8::der::pem::{self, LineEnding};
use p256::pkcs8::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    ObjectIdentifier, PrivateKeyInfo,
};
use rand_core::OsRng;
use std::fmt;

/// The PEM label cosign writes for an encrypted private key.
pub const SIGSTORE_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label older cosign releases wrote; still read.
pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// An ECDSA P-256 signing key. Its `Debug` shows only the public half.
pub struct PrivateKey(SigningKey);

/// An ECDSA P-256 verifying key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PrivateKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> PrivateKey {
        PrivateKey(SigningKey::random(&mut OsRng))
    }

    /// The key as cosign writes `cosign.key`: PKCS#8 DER sealed with scrypt (N=32768, r=8,
    /// p=1, random 32-byte salt) and nacl/secretbox (random 24-byte nonce), the JSON document
    /// in a PEM block labelled `ENCRYPTED SIGSTORE PRIVATE KEY`. An empty password is allowed,
    /// as in cosign.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String> {
        // `SecretDocument` zeroizes the DER when dropped.
        let der = self
            .0
            .to_pkcs8_der()
            .map_err(|e| Error::PrivateKey(format!("cannot encode as PKCS#8: {e}")))?;
        let document = encrypted::encrypt(der.as_bytes(), password)?;
        pem::encode_string(SIGSTORE_PRIVATE_KEY_LABEL, LineEnding::LF, &document)
            .map_err(|e| Error::Pem(e.to_string()))
    }

    /// Read a key that cosign (any release) or [`PrivateKey::to_encrypted_pem`] wrote.
    pub fn from_encrypted_pem(pem: &[u8], password: &[u8]) -> Result<PrivateKey> {
        let (label, document) = decode_pem(pem)?;
        if label != SIGSTORE_PRIVATE_KEY_LABEL && label != COSIGN_PRIVATE_KEY_LABEL {
            return Err(Error::PemLabel {
                found: label,
                expected: "ENCRYPTED SIGSTORE PRIVATE KEY (or ENCRYPTED COSIGN PRIVATE KEY)",
            });
        }
        let der = encrypted::decrypt(&document, password)?;
        private_key_from_der(&der)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(*self.0.verifying_key())
    }

    /// ECDSA P-256 over SHA-256(`msg`), ASN.1 DER encoded: what cosign signs with and stores
    /// (base64) in the `dev.cosignproject.cosign/signature` annotation. Deterministic
    /// (RFC 6979).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let signature: EcdsaSignature = self.0.sign(msg);
        signature.to_der().as_bytes().to_vec()
    }

    #[cfg(test)]
    pub(super) fn from_scalar(bytes: &[u8; 32]) -> PrivateKey {
        PrivateKey(SigningKey::from_slice(bytes).expect("a valid P-256 scalar"))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Read a PKIX `PUBLIC KEY` PEM block, as in `cosign.pub`.
    pub fn from_pem(pem: &[u8]) -> Result<PublicKey> {
        let (label, der) = decode_pem(pem)?;
        if label != PUBLIC_KEY_LABEL {
            return Err(Error::PemLabel {
                found: label,
                expected: PUBLIC_KEY_LABEL,
            });
        }
        let info = SubjectPublicKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| Error::PublicKey(format!("not a PKIX SubjectPublicKeyInfo: {e}")))?;
        check_algorithm(&info.algorithm)?;
        VerifyingKey::from_public_key_der(&der)
            .map(PublicKey)
            .map_err(|e| Error::PublicKey(e.to_string()))
    }

    /// The PKIX `PUBLIC KEY` PEM block cosign writes as `cosign.pub` (uncompressed point).
    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("encoding a P-256 point as SPKI PEM cannot fail")
    }

    /// Check an ECDSA P-256 / SHA-256 signature over `msg`, given as ASN.1 DER (what cosign
    /// writes) or as the 64-byte concatenation r||s.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<()> {
        let mut parsed = false;
        if let Ok(sig) = EcdsaSignature::from_der(signature) {
            parsed = true;
            if self.0.verify(msg, &sig).is_ok() {
                return Ok(());
            }
        }
        // A 64-byte DER signature is possible, so fall back rather than choose by length.
        if signature.len() == 64 {
            if let Ok(sig) = EcdsaSignature::from_slice(signature) {
                parsed = true;
                if self.0.verify(msg, &sig).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(if parsed {
            Error::BadSignature
        } else {
            Error::MalformedSignature
        })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let point = self.0.to_encoded_point(true);
        write!(f, "PublicKey(P-256 {})", hex::encode(point.as_bytes()))
    }
}

/// The first PEM block in `input`, as Go's `pem.Decode` finds it: text before the BEGIN line
/// and after the END line is ignored.
fn decode_pem(input: &[u8]) -> Result<(String, Vec<u8>)> {
    let start = find(input, b"-----BEGIN ")
        .ok_or_else(|| Error::Pem("no \"-----BEGIN\" line".to_string()))?;
    let block = &input[start..];
    let block = match find(block, b"-----END ") {
        Some(end) => match find(&block[end + 9..], b"-----") {
            Some(close) => &block[..end + 9 + close + 5],
            None => block,
        },
        None => block,
    };
    let (label, data) = pem::decode_vec(block).map_err(|e| Error::Pem(e.to_string()))?;
    Ok((label.to_string(), data))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A decrypted cosign key: PKCS#8 (what cosign writes), else SEC1.
fn private_key_from_der(der: &[u8]) -> Result<PrivateKey> {
    match PrivateKeyInfo::try_from(der) {
        Ok(info) => {
            check_algorithm(&info.algorithm)?;
            SigningKey::from_pkcs8_der(der)
                .map(PrivateKey)
                .map_err(|e| Error::PrivateKey(format!("invalid PKCS#8 P-256 key: {e}")))
        }
        Err(_) => match p256::SecretKey::from_sec1_der(der) {
            Ok(secret) => Ok(PrivateKey(SigningKey::from(secret))),
            Err(_) => Err(Error::PrivateKey(
                "the decrypted key is neither PKCS#8 nor SEC1 DER".to_string(),
            )),
        },
    }
}

/// Accept id-ecPublicKey on P-256; name anything else.
fn check_algorithm(algorithm: &AlgorithmIdentifierRef<'_>) -> Result<()> {
    let curve = algorithm.parameters_oid().ok();
    let name = match (algorithm.oid, curve) {
        (OID_EC_PUBLIC_KEY, Some(OID_P256)) => return Ok(()),
        (OID_EC_PUBLIC_KEY, Some(OID_P384)) => {
            format!("ECDSA P-384 ({OID_EC_PUBLIC_KEY}, curve {OID_P384})")
        }
        (OID_EC_PUBLIC_KEY, Some(OID_P521)) => {
            format!("ECDSA P-521 ({OID_EC_PUBLIC_KEY}, curve {OID_P521})")
        }
        (OID_EC_PUBLIC_KEY, Some(other)) => format!("ECDSA on curve {other}"),
        (OID_EC_PUBLIC_KEY, None) => "ECDSA without a named curve".to_string(),
        (OID_RSA, _) => format!("RSA ({OID_RSA})"),
        (OID_RSA_PSS, _) => format!("RSA-PSS ({OID_RSA_PSS})"),
        (OID_ED25519, _) => format!("Ed25519 ({OID_ED25519})"),
        (other, _) => format!("with OID {other}"),
    };
    Err(Error::UnsupportedAlgorithm(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use crypto_secretbox::aead::{Aead, KeyInit};

    const SCALAR: [u8; 32] = [
        0x0b, 0x1c, 0x2d, 0x3e, 0x4f, 0x50, 0x61, 0x72, 0x83, 0x94, 0xa5, 0xb6, 0xc7, 0xd8, 0xe9,
        0xfa, 0x0b, 0x1c, 0x2d, 0x3e, 0x4f, 0x50, 0x61, 0x72, 0x83, 0x94, 0xa5, 0xb6, 0xc7, 0xd8,
        0xe9, 0xfa,
    ];

    /// Go's `pem.EncodeToMemory`, by hand: 64-column standard base64, LF endings.
    fn armour(label: &str, body: &[u8]) -> String {
        let b64 = STANDARD.encode(body);
        let mut out = format!("-----BEGIN {label}-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    }

    /// A cosign key file built without this module's serde types or `encrypted`: the JSON
    /// written out field by field, scrypt and secretbox called directly, fixed salt and nonce.
    fn hand_built_key_file(label: &str, plaintext: &[u8], password: &[u8]) -> String {
        let salt = [0x5a_u8; 32];
        let nonce = [0xa5_u8; 24];
        let params = scrypt::Params::new(15, 8, 1, 32).unwrap();
        let mut key = [0u8; 32];
        scrypt::scrypt(password, &salt, &params, &mut key).unwrap();
        let sealed = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
            .encrypt(&nonce.into(), plaintext)
            .unwrap();
        let json = format!(
            r#"{{"kdf":{{"name":"scrypt","params":{{"N":32768,"r":8,"p":1}},"salt":"{}"}},"cipher":{{"name":"nacl/secretbox","nonce":"{}"}},"ciphertext":"{}"}}"#,
            STANDARD.encode(salt),
            STANDARD.encode(nonce),
            STANDARD.encode(sealed),
        );
        armour(label, json.as_bytes())
    }

    #[test]
    fn encrypted_pem_round_trip() {
        let key = PrivateKey::generate();
        let pem = key.to_encrypted_pem(b"hunter2").unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
            "{pem}"
        );
        assert!(
            pem.ends_with("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
            "{pem}"
        );
        assert!(pem
            .lines()
            .all(|line| line.len() <= 64 || line.starts_with("-----")));
        let back = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"hunter2").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        // Surrounding text is ignored, as Go's pem.Decode does.
        let noisy = format!("key for CI\n{pem}\n\n");
        assert!(PrivateKey::from_encrypted_pem(noisy.as_bytes(), b"hunter2").is_ok());
    }

    #[test]
    fn empty_password_round_trip() {
        let key = PrivateKey::generate();
        let pem = key.to_encrypted_pem(b"").unwrap();
        let back = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"").unwrap();
        assert_eq!(back.public_key(), key.public_key());
    }

    #[test]
    fn encrypted_pem_body_is_the_go_json_document() {
        let pem = PrivateKey::from_scalar(&SCALAR)
            .to_encrypted_pem(b"pw")
            .unwrap();
        let (label, body) = decode_pem(pem.as_bytes()).unwrap();
        assert_eq!(label, "ENCRYPTED SIGSTORE PRIVATE KEY");
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["cipher", "ciphertext", "kdf"]);
        assert_eq!(
            doc["kdf"]["params"],
            serde_json::json!({"N": 32768, "r": 8, "p": 1})
        );
        assert_eq!(
            STANDARD
                .decode(doc["kdf"]["salt"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            STANDARD
                .decode(doc["cipher"]["nonce"].as_str().unwrap())
                .unwrap()
                .len(),
            24
        );
    }

    #[test]
    fn wrong_password_is_rejected_clearly() {
        let pem = PrivateKey::generate().to_encrypted_pem(b"right").unwrap();
        let err = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"wrong").unwrap_err();
        assert!(matches!(err, Error::WrongPassword), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot decrypt private key: wrong password?"
        );
        assert!(!err.to_string().contains("wrong\""));
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let pem = PrivateKey::generate().to_encrypted_pem(b"pw").unwrap();
        let (_, body) = decode_pem(pem.as_bytes()).unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut sealed = STANDARD
            .decode(doc["ciphertext"].as_str().unwrap())
            .unwrap();
        sealed[20] ^= 0x80;
        doc["ciphertext"] = STANDARD.encode(&sealed).into();
        let pem = armour(
            SIGSTORE_PRIVATE_KEY_LABEL,
            &serde_json::to_vec(&doc).unwrap(),
        );
        let err = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"pw").unwrap_err();
        assert!(matches!(err, Error::WrongPassword), "{err:?}");
    }

    #[test]
    fn reads_a_hand_built_cosign_key_file() {
        let expected = PrivateKey::from_scalar(&SCALAR);
        let pkcs8 = expected.0.to_pkcs8_der().unwrap();
        for label in [SIGSTORE_PRIVATE_KEY_LABEL, COSIGN_PRIVATE_KEY_LABEL] {
            let pem = hand_built_key_file(label, pkcs8.as_bytes(), b"supersecret");
            let key = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"supersecret").unwrap();
            assert_eq!(key.public_key(), expected.public_key());
        }
    }

    #[test]
    fn reads_a_sec1_key_inside() {
        let expected = PrivateKey::from_scalar(&SCALAR);
        let secret = p256::SecretKey::from_slice(&SCALAR).unwrap();
        let sec1 = secret.to_sec1_der().unwrap();
        let pem = hand_built_key_file(SIGSTORE_PRIVATE_KEY_LABEL, &sec1, b"pw");
        let key = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"pw").unwrap();
        assert_eq!(key.public_key(), expected.public_key());
    }

    #[test]
    fn rejects_other_labels_and_garbage() {
        let key = PrivateKey::generate();
        let plain = key.0.to_pkcs8_pem(LineEnding::LF).unwrap();
        let err = PrivateKey::from_encrypted_pem(plain.as_bytes(), b"").unwrap_err();
        assert!(
            matches!(&err, Error::PemLabel { found, .. } if found == "PRIVATE KEY"),
            "{err:?}"
        );
        let err = PrivateKey::from_encrypted_pem(b"not a key", b"").unwrap_err();
        assert!(matches!(err, Error::Pem(_)), "{err:?}");
        let pem = hand_built_key_file(SIGSTORE_PRIVATE_KEY_LABEL, b"not DER", b"pw");
        let err = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"pw").unwrap_err();
        assert!(matches!(err, Error::PrivateKey(_)), "{err:?}");
    }

    #[test]
    fn names_the_algorithm_of_a_non_p256_key() {
        // PKCS#8 Ed25519 (RFC 8410 section 10.3 layout), seed of zeros.
        let mut ed25519 = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        ed25519.extend([0u8; 32]);
        let pem = hand_built_key_file(SIGSTORE_PRIVATE_KEY_LABEL, &ed25519, b"pw");
        let err = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"pw").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported key algorithm Ed25519 (1.3.101.112): only ECDSA P-256 keys are supported"
        );

        // PKCS#8 with id-ecPublicKey on secp384r1: the algorithm is read before the key.
        let mut p384 = vec![
            0x30, 0x1a, 0x02, 0x01, 0x00, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x04, 0x03,
        ];
        p384.extend([0x30, 0x01, 0x00]);
        let pem = hand_built_key_file(SIGSTORE_PRIVATE_KEY_LABEL, &p384, b"pw");
        let err = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"pw").unwrap_err();
        assert!(err.to_string().contains("ECDSA P-384"), "{err}");

        // SPKI Ed25519 public key.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend([0u8; 32]);
        let err = PublicKey::from_pem(armour("PUBLIC KEY", &spki).as_bytes()).unwrap_err();
        assert!(
            matches!(&err, Error::UnsupportedAlgorithm(name) if name.starts_with("Ed25519")),
            "{err:?}"
        );
    }

    #[test]
    fn public_key_pem_round_trip() {
        let key = PrivateKey::from_scalar(&SCALAR).public_key();
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"), "{pem}");
        let (_, der) = decode_pem(pem.as_bytes()).unwrap();
        // SPKI of an uncompressed P-256 point, as Go's x509.MarshalPKIXPublicKey writes it.
        assert_eq!(der.len(), 91);
        assert_eq!(der[26], 0x04);
        assert_eq!(PublicKey::from_pem(pem.as_bytes()).unwrap(), key);
        let err = PublicKey::from_pem(armour("CERTIFICATE", &der).as_bytes()).unwrap_err();
        assert!(matches!(err, Error::PemLabel { .. }), "{err:?}");
    }

    #[test]
    fn sign_verify_round_trip() {
        let key = PrivateKey::generate();
        let sig = key.sign(b"payload");
        assert_eq!(sig[0], 0x30, "ASN.1 DER SEQUENCE");
        key.public_key().verify(b"payload", &sig).unwrap();
        // Raw r||s verifies too.
        let raw = EcdsaSignature::from_der(&sig).unwrap().to_bytes();
        key.public_key().verify(b"payload", &raw).unwrap();
    }

    #[test]
    fn verify_fails_on_changed_message_or_other_key() {
        let key = PrivateKey::generate();
        let sig = key.sign(b"payload");
        let err = key.public_key().verify(b"payloaD", &sig).unwrap_err();
        assert!(matches!(err, Error::BadSignature), "{err:?}");
        let other = PrivateKey::generate().public_key();
        assert!(matches!(
            other.verify(b"payload", &sig),
            Err(Error::BadSignature)
        ));
        assert!(matches!(
            key.public_key().verify(b"payload", b"junk"),
            Err(Error::MalformedSignature)
        ));
    }

    #[test]
    fn verify_accepts_high_s_as_go_writes_it() {
        // Go's crypto/ecdsa does not normalise s; either half must verify.
        let key = PrivateKey::from_scalar(&SCALAR);
        let sig = EcdsaSignature::from_der(&key.sign(b"m")).unwrap();
        let (r, s) = sig.split_scalars();
        let high = EcdsaSignature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        key.public_key()
            .verify(b"m", high.to_der().as_bytes())
            .unwrap();
    }

    #[test]
    fn debug_shows_no_secret() {
        let key = PrivateKey::from_scalar(&SCALAR);
        let shown = format!("{key:?}");
        assert!(
            shown.starts_with("PrivateKey { public_key: PublicKey(P-256 0"),
            "{shown}"
        );
        assert!(!shown.contains(&hex::encode(SCALAR)), "{shown}");
    }
}
