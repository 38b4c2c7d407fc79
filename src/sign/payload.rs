//! The "simple signing" payload a cosign image signature signs, and where cosign stores it.
//!
//! Owns: writing the payload JSON byte for byte as cosign does, parsing one back (rejecting any
//! other `critical.type`), and the media type and annotation key of a cosign signature layer.
//! Does not own: signing the bytes (`keys`), the signature manifest and its `sha256-<hex>.sig`
//! tag (the registry code), or comparing the digest with the image being verified (callers do,
//! with [`SimpleSigning::manifest_digest`]).
//!
//! Facts and where they come from:
//! - the shape and field order: `SimpleContainerImage` { `critical` { `identity`
//!   { `docker-reference` }, `image` { `docker-manifest-digest` }, `type` }, `optional` } and
//!   `CosignSignatureType = "cosign container image signature"`, in
//!   sigstore/sigstore:pkg/signature/payload/payload.go; with no annotations Go writes
//!   `"optional":null` (the exact bytes are the "no claims" case of `TestMarshalCosign` in
//!   sigstore/sigstore:pkg/signature/payload/payload_test.go).
//! - `docker-reference` is `Repository.Name()` of the signed digest reference: registry and
//!   repository, with no tag or digest (sigstore/sigstore:pkg/signature/payload/payload.go).
//! - the layer media type `application/vnd.dev.cosign.simplesigning.v1+json`
//!   (sigstore/cosign:pkg/types/media.go) and the annotation key
//!   `dev.cosignproject.cosign/signature` holding the base64 signature
//!   (sigstore/cosign:pkg/types/annotations.go, pkg/oci/static/signature.go).

use super::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Media type of the layer that holds a simple signing payload in a cosign signature manifest.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 (standard) DER signature over the layer's bytes.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of every cosign image signature payload.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

#[derive(Serialize, Deserialize)]
struct Wire {
    critical: Critical,
    optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The payload cosign signs for an image: `docker_reference` is `HOST/REPO` (no tag, no
/// digest; Docker Hub images as `index.docker.io/library/NAME`), `manifest_digest` is
/// `sha256:<hex>`. Deterministic: the same bytes cosign writes without `-a` annotations.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    let wire = Wire {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.to_string(),
            },
            image: Image {
                docker_manifest_digest: manifest_digest.to_string(),
            },
            kind: COSIGN_SIGNATURE_TYPE.to_string(),
        },
        optional: None,
    };
    serde_json::to_vec(&wire).expect("a struct of strings always serializes")
}

/// A parsed simple signing payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`, e.g. `sha256:<hex>`.
    pub manifest_digest: String,
    /// `critical.type`; always [`COSIGN_SIGNATURE_TYPE`] once parsed.
    pub signature_type: String,
    /// `optional`: the annotations given to `cosign sign -a`, if any.
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

impl SimpleSigning {
    /// Parse a payload, rejecting any `critical.type` other than cosign's, as sigstore's
    /// `Cosign.UnmarshalJSON` does.
    pub fn parse(bytes: &[u8]) -> Result<SimpleSigning> {
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| Error::Payload(e.to_string()))?;
        if wire.critical.kind != COSIGN_SIGNATURE_TYPE {
            return Err(Error::PayloadType(wire.critical.kind));
        }
        if wire.critical.image.docker_manifest_digest.is_empty() {
            return Err(Error::Payload("empty docker-manifest-digest".to_string()));
        }
        Ok(SimpleSigning {
            docker_reference: wire.critical.identity.docker_reference,
            manifest_digest: wire.critical.image.docker_manifest_digest,
            signature_type: wire.critical.kind,
            optional: wire.optional,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f";

    #[test]
    fn payload_bytes_are_exactly_cosigns() {
        // The "no claims" case of sigstore/sigstore's TestMarshalCosign.
        let expected = concat!(
            r#"{"critical":{"identity":{"docker-reference":"example.com/test/image"},"#,
            r#""image":{"docker-manifest-digest":"sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f"},"#,
            r#""type":"cosign container image signature"},"optional":null}"#
        );
        let bytes = simple_signing_payload("example.com/test/image", DIGEST);
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), expected);
    }

    #[test]
    fn parse_round_trip() {
        let parsed =
            SimpleSigning::parse(&simple_signing_payload("registry.local:5000/app", DIGEST))
                .unwrap();
        assert_eq!(parsed.docker_reference, "registry.local:5000/app");
        assert_eq!(parsed.manifest_digest, DIGEST);
        assert_eq!(parsed.signature_type, COSIGN_SIGNATURE_TYPE);
        assert_eq!(parsed.optional, None);
    }

    #[test]
    fn parse_keeps_annotations() {
        let text = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"example.com/x"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":{{"creator":"atomic","timestamp":1458239713}}}}"#
        );
        let parsed = SimpleSigning::parse(text.as_bytes()).unwrap();
        let optional = parsed.optional.unwrap();
        assert_eq!(optional["creator"], "atomic");
        assert_eq!(optional["timestamp"], 1458239713);
    }

    #[test]
    fn parse_rejects_wrong_type() {
        let text = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"example.com/x"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"atomic container signature"}},"optional":{{}}}}"#
        );
        let err = SimpleSigning::parse(text.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, Error::PayloadType(t) if t == "atomic container signature"),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .contains("expected \"cosign container image signature\""));
    }

    #[test]
    fn parse_rejects_malformed() {
        for text in [
            "",
            "{}",
            r#"{"critical":{"identity":{},"image":{},"type":"cosign container image signature"}}"#,
            r#"{"critical":{"identity":{"docker-reference":"a/b"},"image":{"docker-manifest-digest":""},"type":"cosign container image signature"}}"#,
        ] {
            let err = SimpleSigning::parse(text.as_bytes()).unwrap_err();
            assert!(matches!(err, Error::Payload(_)), "{text}: {err:?}");
        }
    }
}
