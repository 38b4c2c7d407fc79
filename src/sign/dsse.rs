//! DSSE envelopes and in-toto Statements: what `cosign attest` signs and stores.
//!
//! Owns: the DSSE pre-authentication encoding, the JSON envelope (signing and verifying it),
//! building an in-toto Statement v0.1 for one image, the predicate type URIs cosign uses for
//! SBOMs and provenance, and the media type and annotation key of an attestation layer.
//! Does not own: the predicate documents themselves (`sbom` writes SBOMs), the key
//! (`keys`), or the `.att` manifest and its upload (the registry code).
//!
//! Facts and where they come from:
//! - PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in decimal
//!   ASCII without leading zeros, and the `http://example.com/HelloWorld` test vector:
//!   secure-systems-lab/dsse:protocol.md.
//! - envelope JSON: `payloadType`, `payload` (standard base64), `signatures` of `keyid`, `sig`
//!   (standard base64), `keyid` always written, even empty: the `Envelope` and `Signature`
//!   types of secure-systems-lab/go-securesystemslib:dsse/envelope.go, which cosign fills via
//!   `WrapSigner` in sigstore/sigstore:pkg/signature/dsse/dsse.go (no keyid). Decoding accepts
//!   standard or URL-safe base64, as that file's `b64Decode` does.
//! - payload type `application/vnd.in-toto+json` and layer media type
//!   `application/vnd.dsse.envelope.v1+json`: `IntotoPayloadType`, `DssePayloadType` in
//!   sigstore/cosign:pkg/types/payload.go (read via GoogleContainerTools/skaffold:vendor/
//!   github.com/sigstore/cosign/v2/pkg/types/payload.go); `cosign attest` signs with the first
//!   and stores with the second, adding the annotation `predicateType`
//!   (sigstore/cosign:cmd/cosign/cli/attest/attest.go).
//! - Statement v0.1: `_type` = `https://in-toto.io/Statement/v0.1`, then `predicateType`,
//!   `subject` [{`name`, `digest` {`sha256`}}], `predicate`, in that order
//!   (`StatementHeader`, `Statement` in in-toto/in-toto-golang:in_toto/attestations.go); cosign
//!   names the subject after the repository and puts the bare hex digest under `sha256`
//!   (`generateStatementHeader` in sigstore/cosign:pkg/cosign/attestation/attestation.go).
//! - predicate types for `--type spdx`/`spdxjson`: `https://spdx.dev/Document`, `cyclonedx`:
//!   `https://cyclonedx.org/bom`, `slsaprovenance`: `https://slsa.dev/provenance/v0.2`
//!   (`PredicateTypeMap` in sigstore/cosign:cmd/cosign/cli/options/predicate.go; the values
//!   are in in-toto/in-toto-golang:in_toto/attestations.go and
//!   in_toto/slsa_provenance/v0.2/provenance.go).

use super::keys::{PrivateKey, PublicKey};
use super::{Error, Result};
use serde::{Deserialize, Serialize};

/// Media type of a layer holding a DSSE envelope in a cosign attestation manifest.
pub const DSSE_ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// DSSE `payloadType` of an in-toto Statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Layer annotation key cosign sets to the attestation's predicate type URI.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
/// `_type` of an in-toto Statement v0.1, the version cosign writes.
pub const IN_TOTO_STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// Predicate type of an SPDX SBOM (`cosign attest --type spdxjson` or `spdx`).
pub const PREDICATE_SPDX: &str = "https://spdx.dev/Document";
/// Predicate type of a CycloneDX SBOM (`cosign attest --type cyclonedx`).
pub const PREDICATE_CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// Predicate type of SLSA provenance v0.2 (`cosign attest --type slsaprovenance`).
pub const PREDICATE_SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

/// DSSE's pre-authentication encoding: the bytes a DSSE signature actually signs.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope, serialized as JSON in go-securesystemslib's field order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The serialized body; base64 in JSON.
    #[serde(with = "super::b64")]
    pub payload: Vec<u8>,
    pub signatures: Vec<Signature>,
}

/// One signature of an [`Envelope`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// An unauthenticated hint naming the key; cosign leaves it empty.
    #[serde(default)]
    pub keyid: String,
    /// The signature over `pae(payload_type, payload)`: ASN.1 DER from [`PrivateKey::sign`];
    /// base64 in JSON.
    #[serde(with = "super::b64")]
    pub sig: Vec<u8>,
}

impl Envelope {
    /// An envelope with one signature by `key` over `pae(payload_type, payload)`, keyid empty,
    /// as `cosign attest` writes it.
    pub fn sign(payload_type: &str, payload: &[u8], key: &PrivateKey) -> Envelope {
        Envelope {
            payload_type: payload_type.to_string(),
            payload: payload.to_vec(),
            signatures: vec![Signature {
                keyid: String::new(),
                sig: key.sign(&pae(payload_type, payload)),
            }],
        }
    }

    /// Ok if at least one signature verifies with `key` over the PAE. Checking the payload
    /// type is the caller's business (DSSE verifies it after the signature).
    pub fn verify(&self, key: &PublicKey) -> Result<()> {
        if self.signatures.is_empty() {
            return Err(Error::Unsigned);
        }
        let message = pae(&self.payload_type, &self.payload);
        // A signature that parsed but did not verify outranks one that did not parse.
        let mut error = Error::MalformedSignature;
        for signature in &self.signatures {
            match key.verify(&message, &signature.sig) {
                Ok(()) => return Ok(()),
                Err(Error::BadSignature) => error = Error::BadSignature,
                Err(_) => {}
            }
        }
        Err(error)
    }

    /// The envelope's JSON, compact, fields in go-securesystemslib's order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings and byte vectors always serialize")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Envelope> {
        serde_json::from_slice(bytes).map_err(|e| Error::Envelope(e.to_string()))
    }
}

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    kind: &'a str,
    #[serde(rename = "predicateType")]
    predicate_type: &'a str,
    subject: [Subject<'a>; 1],
    predicate: serde_json::Value,
}

#[derive(Serialize)]
struct Subject<'a> {
    name: &'a str,
    digest: SubjectDigest<'a>,
}

#[derive(Serialize)]
struct SubjectDigest<'a> {
    sha256: &'a str,
}

/// An in-toto Statement v0.1 about one subject, as `cosign attest` builds it: `subject_name`
/// is the image repository (`HOST/REPO`), `subject_sha256_hex` the manifest digest's bare hex
/// (no `sha256:` prefix). Deterministic: object keys inside `predicate` come out sorted.
pub fn statement(
    predicate_type: &str,
    subject_name: &str,
    subject_sha256_hex: &str,
    predicate: serde_json::Value,
) -> Vec<u8> {
    let statement = Statement {
        kind: IN_TOTO_STATEMENT_V01,
        predicate_type,
        subject: [Subject {
            name: subject_name,
            digest: SubjectDigest {
                sha256: subject_sha256_hex,
            },
        }],
        predicate,
    };
    serde_json::to_vec(&statement).expect("strings and JSON values always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine as _;

    /// The DSSE spec's test vector key (secure-systems-lab/dsse:protocol.md), d in hex.
    const SPEC_D: [u8; 32] = [
        0xd7, 0x3e, 0xc4, 0x37, 0xfd, 0x63, 0x46, 0xe3, 0x61, 0x9c, 0x5e, 0xbf, 0xdf, 0xff, 0x0f,
        0x69, 0x16, 0x80, 0x49, 0x55, 0xad, 0x32, 0xac, 0x9a, 0xc4, 0x92, 0xb0, 0xed, 0xe1, 0xf6,
        0xff, 0xb7,
    ];
    const SPEC_SIG: &str =
        "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==";

    #[test]
    fn pae_spec_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn pae_edge_cases() {
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        let body = vec![b'x'; 1000];
        let encoded = pae("t", &body);
        assert!(encoded.starts_with(b"DSSEv1 1 t 1000 x"));
        assert_eq!(encoded.len(), "DSSEv1 1 t 1000 ".len() + 1000);
    }

    #[test]
    fn spec_vector_signature_matches_and_verifies() {
        let key = PrivateKey::from_scalar(&SPEC_D);
        let message = pae("http://example.com/HelloWorld", b"hello world");
        // RFC 6979 makes P-256 signing deterministic, so ours equals the spec's r||s.
        let der = key.sign(&message);
        let ours = p256::ecdsa::Signature::from_der(&der).unwrap().to_bytes();
        assert_eq!(STANDARD.encode(ours), SPEC_SIG);

        let envelope = Envelope::from_json(
            br#"{"payload": "aGVsbG8gd29ybGQ=",
                 "payloadType": "http://example.com/HelloWorld",
                 "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}"#,
        )
        .unwrap();
        assert_eq!(envelope.payload, b"hello world");
        assert_eq!(envelope.signatures[0].keyid, "");
        envelope.verify(&key.public_key()).unwrap();
    }

    #[test]
    fn envelope_sign_verify_round_trip() {
        let key = PrivateKey::generate();
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &key);
        envelope.verify(&key.public_key()).unwrap();
        let back = Envelope::from_json(&envelope.to_json()).unwrap();
        assert_eq!(back, envelope);
        back.verify(&key.public_key()).unwrap();
    }

    #[test]
    fn envelope_json_shape() {
        let key = PrivateKey::generate();
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"hi", &key);
        let json = String::from_utf8(envelope.to_json()).unwrap();
        let sig = STANDARD.encode(&envelope.signatures[0].sig);
        assert_eq!(
            json,
            format!(
                r#"{{"payloadType":"application/vnd.in-toto+json","payload":"aGk=","signatures":[{{"keyid":"","sig":"{sig}"}}]}}"#
            )
        );
    }

    #[test]
    fn envelope_verify_rejects_tampering() {
        let key = PrivateKey::generate();
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"payload", &key);

        let mut changed = envelope.clone();
        changed.payload = b"payloaD".to_vec();
        assert!(matches!(
            changed.verify(&key.public_key()),
            Err(Error::BadSignature)
        ));

        // The payload type is signed too.
        let mut retyped = envelope.clone();
        retyped.payload_type = "application/json".to_string();
        assert!(matches!(
            retyped.verify(&key.public_key()),
            Err(Error::BadSignature)
        ));

        let other = PrivateKey::generate().public_key();
        assert!(matches!(envelope.verify(&other), Err(Error::BadSignature)));

        let mut unsigned = envelope.clone();
        unsigned.signatures.clear();
        assert!(matches!(
            unsigned.verify(&key.public_key()),
            Err(Error::Unsigned)
        ));
    }

    #[test]
    fn envelope_verify_needs_only_one_good_signature() {
        let key = PrivateKey::generate();
        let mut envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"payload", &key);
        let bogus = Signature {
            keyid: "other".to_string(),
            sig: PrivateKey::generate().sign(b"x"),
        };
        envelope.signatures.insert(0, bogus);
        envelope.verify(&key.public_key()).unwrap();
    }

    #[test]
    fn envelope_accepts_url_safe_base64() {
        let key = PrivateKey::generate();
        // A payload whose standard base64 has '+' or '/', so the URL-safe form differs.
        let payload = [0xfb_u8, 0xff, 0xfe, 0x3e, 0x3f];
        let envelope = Envelope::sign("t", &payload, &key);
        let json = format!(
            r#"{{"payloadType":"t","payload":"{}","signatures":[{{"sig":"{}"}}]}}"#,
            URL_SAFE.encode(payload),
            URL_SAFE.encode(&envelope.signatures[0].sig)
        );
        assert_ne!(URL_SAFE.encode(payload), STANDARD.encode(payload));
        let parsed = Envelope::from_json(json.as_bytes()).unwrap();
        assert_eq!(parsed.payload, payload);
        parsed.verify(&key.public_key()).unwrap();
        assert!(matches!(
            Envelope::from_json(br#"{"payloadType":"t","payload":"!!","signatures":[]}"#),
            Err(Error::Envelope(_))
        ));
    }

    #[test]
    fn statement_bytes() {
        let hex = "ab".repeat(32);
        let bytes = statement(
            PREDICATE_SPDX,
            "registry.example/app",
            &hex,
            serde_json::json!({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"}),
        );
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{{"name":"registry.example/app","digest":{{"sha256":"{hex}"}}}}],"predicate":{{"SPDXID":"SPDXRef-DOCUMENT","spdxVersion":"SPDX-2.3"}}}}"#
            )
        );
    }
}
