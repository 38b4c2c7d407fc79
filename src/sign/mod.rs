//! Signing images the way cosign does. Everything but [`store`] is pure library code: no
//! file, network or terminal I/O.
//!
//! Owns: cosign-compatible ECDSA P-256 keys and their encrypted PEM form ([`keys`]), the
//! "simple signing" payload a cosign image signature signs ([`payload`]), DSSE envelopes and
//! in-toto Statements for attestations ([`dsse`]), the media types and annotation keys cosign
//! stores them under, and this module's [`Error`].
//! [`store`] keeps signatures and attestations where cosign looks for them (an OCI layout or
//! a registry, through [`crate::registry::Remote`]) and verifies them.
//! Does not own: reading keys or passwords from files, the environment or a terminal (the
//! CLI), HTTP (`registry`).
//! Invariant: every output is deterministic given its inputs, except what must be random
//! (a new key, the salt and nonce of an encrypted key); no error message carries a password,
//! key bytes or any other secret.

pub mod dsse;
mod encrypted;
pub mod keys;
pub mod payload;
pub mod provenance;
pub mod store;

pub use dsse::{
    pae, statement, Envelope, Signature, DSSE_ENVELOPE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE,
    IN_TOTO_STATEMENT_V01, PREDICATE_CYCLONEDX, PREDICATE_SLSA_PROVENANCE_V02, PREDICATE_SPDX,
    PREDICATE_TYPE_ANNOTATION,
};
pub use keys::{PrivateKey, PublicKey, COSIGN_PRIVATE_KEY_LABEL, SIGSTORE_PRIVATE_KEY_LABEL};
pub use payload::{
    simple_signing_payload, SimpleSigning, COSIGN_SIGNATURE_TYPE, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
};

pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in this module. Messages name what was wrong with the input,
/// never its secret content.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Secretbox authentication failed: a wrong password, or a key file that was altered.
    #[error("cannot decrypt private key: wrong password?")]
    WrongPassword,
    #[error("not a PEM document: {0}")]
    Pem(String),
    #[error("unexpected PEM block {found:?}: expected {expected}")]
    PemLabel {
        found: String,
        expected: &'static str,
    },
    #[error("malformed encrypted private key: {0}")]
    EncryptedKey(String),
    #[error("unsupported scrypt parameters in the encrypted private key (N={n}, r={r}, p={p}): {reason}")]
    KdfParams {
        n: u64,
        r: u64,
        p: u64,
        reason: &'static str,
    },
    #[error("unsupported key algorithm {0}: only ECDSA P-256 keys are supported")]
    UnsupportedAlgorithm(String),
    #[error("invalid private key: {0}")]
    PrivateKey(String),
    #[error("invalid public key: {0}")]
    PublicKey(String),
    #[error("malformed signature: expected ASN.1 DER or 64-byte r||s ECDSA P-256")]
    MalformedSignature,
    #[error("signature does not verify with the given public key")]
    BadSignature,
    #[error("the DSSE envelope has no signatures")]
    Unsigned,
    #[error("invalid DSSE envelope: {0}")]
    Envelope(String),
    #[error("invalid cosign signature payload: {0}")]
    Payload(String),
    #[error(
        "unexpected signature payload type {0:?}: expected \"cosign container image signature\""
    )]
    PayloadType(String),
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// Standard base64 (with padding) for `Vec<u8>` fields in JSON, as Go's encoding/json writes
/// `[]byte`. Decoding also accepts URL-safe base64: DSSE verifiers must accept either
/// (secure-systems-lab/dsse:protocol.md), and go-securesystemslib's `b64Decode` tries
/// standard, then URL encoding (secure-systems-lab/go-securesystemslib:dsse/envelope.go).
mod b64 {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(&text)
            .or_else(|_| URL_SAFE.decode(&text))
            .map_err(|_| serde::de::Error::custom("not valid base64"))
    }
}
