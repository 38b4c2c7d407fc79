//! `kiln sign`, `attest`, `verify`, `verify-attestation`: cosign's signatures and
//! attestations about an image, in its layout or archive or in the registry.
//!
//! Owns: the order of each command (the image is opened and checked before the key is read,
//! so a wrong tag is said before anyone is asked for a password), reading keys, the
//! predicate of each attestation type, checking that a provenance's manifest is the one the
//! image was built from.
//! Does not own: the formats and where they are stored (`sign`), asking for the key's
//! password (the caller's [`Password`]), printing (`cli`).
//! Invariant: never prints; no secret (key, password) in an error or a report.

use crate::registry;
use crate::sign::store::{self, Signed, StoreError, Target, Verified};
use crate::sign::{PrivateKey, PublicKey};
use crate::time::Epoch;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The image an op works on, and how to reach it.
#[derive(Debug, Clone)]
pub struct Image {
    /// `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]` or `docker://HOST/REPO[:TAG|@DIGEST]`,
    /// as given (messages name the image so).
    pub spec: String,
    /// For an image index: that platform's manifest (`OS/ARCH[/VARIANT]`, as the index names
    /// it) instead of the index.
    pub platform: Option<String>,
    /// Credentials and TLS for a registry image (`pull_only` is set by each op).
    pub registry: registry::Options,
}

impl Image {
    fn open(&self, pull_only: bool) -> Result<Target, StoreError> {
        let opts = registry::Options {
            pull_only,
            ..self.registry.clone()
        };
        Target::open(&self.spec, &opts, self.platform.as_deref())
    }
}

/// What an attestation states about an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attestation {
    /// The SPDX SBOM stored beside the image.
    Spdx,
    /// The CycloneDX SBOM stored beside the image.
    CycloneDx,
    /// SLSA provenance v0.2: the manifest (and its lock) the image was built from.
    SlsaProvenance,
}

impl Attestation {
    /// The in-toto predicate type.
    pub fn predicate_type(self) -> &'static str {
        match self {
            Attestation::Spdx => crate::sign::PREDICATE_SPDX,
            Attestation::CycloneDx => crate::sign::PREDICATE_CYCLONEDX,
            Attestation::SlsaProvenance => crate::sign::PREDICATE_SLSA_PROVENANCE_V02,
        }
    }

    /// Its name on the command line (`--type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Attestation::Spdx => "spdx",
            Attestation::CycloneDx => "cyclonedx",
            Attestation::SlsaProvenance => "slsaprovenance",
        }
    }
}

/// Asks for the private key's password when an op needs it (after the image was checked).
pub type Password<'a> = &'a dyn Fn() -> Result<Zeroizing<String>, PasswordError>;

/// Why there is no password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// No password was given and there is no terminal to ask on.
    #[error(
        "the key password is needed: set KILN_PASSWORD (or COSIGN_PASSWORD), or run on a terminal"
    )]
    Needed,
    /// The password and its confirmation differ.
    #[error("the passwords do not match")]
    Mismatch,
    /// The terminal could not be read.
    #[error(transparent)]
    Prompt(std::io::Error),
}

/// Sign the image's digest.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// The image to sign.
    pub image: Image,
    /// The private key (cosign's encrypted PEM).
    pub key: PathBuf,
    /// The repository the payload names (default: `HOST/REPO` of a registry image).
    pub identity: Option<String>,
    /// For an index: also every platform manifest it lists.
    pub recursive: bool,
}

/// What `sign` did (`--json`): one signature, or with `recursive` every one (`{"signed"}`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum SignReport {
    /// One signature, of the image (or index) itself.
    One(Signed),
    /// With `recursive`: the index's signature and every platform manifest's.
    Recursive {
        /// Keys in sorted order, as kiln has always printed them.
        #[serde(serialize_with = "sorted_keys")]
        signed: Vec<Signed>,
    },
}

/// Attest an SBOM or provenance about the image.
#[derive(Debug, Clone)]
pub struct AttestRequest {
    /// The image to attest.
    pub image: Image,
    /// The private key (cosign's encrypted PEM).
    pub key: PathBuf,
    /// What the attestation states: an SBOM or SLSA provenance.
    pub kind: Attestation,
    /// The manifest the image was built from (for [`Attestation::SlsaProvenance`]; its lock
    /// is read beside it).
    pub manifest: Option<PathBuf>,
    /// The repository the statement's subject names (default as for `sign`).
    pub identity: Option<String>,
}

/// What `attest` did (`--json`).
pub type AttestReport = Signed;

/// Verify the image's signatures.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// The image whose signatures are verified.
    pub image: Image,
    /// The public key (PEM).
    pub key: PathBuf,
    /// Also require the signature to name this repository.
    pub identity: Option<String>,
}

/// Verify the image's attestations of one type.
#[derive(Debug, Clone)]
pub struct VerifyAttestationRequest {
    /// The image whose attestations are verified.
    pub image: Image,
    /// The public key (PEM).
    pub key: PathBuf,
    /// Which attestation type to verify.
    pub kind: Attestation,
}

/// The valid signatures or attestations found (`--json`: `{"verified": [...]}`, keys sorted).
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// Each valid signature or attestation, with what it states.
    #[serde(serialize_with = "sorted_keys")]
    pub verified: Vec<Verified>,
}

/// Why an op failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening, reading or verifying the image (`StoreError::Unverified`: nothing valid).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The private key's password could not be had.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The key file could not be read.
    #[error(transparent)]
    ReadKey(std::io::Error),
    /// The private key is malformed, or the password does not decrypt it.
    #[error("cannot use the private key {}", path.display())]
    PrivateKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: crate::sign::Error,
    },
    /// The public key is malformed.
    #[error("cannot use the public key {}", path.display())]
    PublicKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: crate::sign::Error,
    },
    /// The signature could not be made or stored.
    #[error("cannot sign {image}")]
    Sign {
        /// The image, as given.
        image: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The attestation could not be made or stored.
    #[error("cannot attest {image}")]
    Attest {
        /// The image, as given.
        image: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A provenance attestation was asked for without the manifest.
    #[error("--type slsaprovenance needs --manifest FILE, the manifest the image was built from")]
    NeedsManifest,
    /// The manifest given for a provenance is not the one the image was built from.
    #[error("cannot attest that {image} was built from {}", manifest.display())]
    NotBuiltFrom {
        /// The image, as given.
        image: String,
        /// The manifest given.
        manifest: PathBuf,
        /// How they differ, or why they could not be compared.
        #[source]
        source: Box<BuiltFromError>,
    },
    /// Reading the manifest or its lock file for the provenance.
    #[error(transparent)]
    ReadManifest(std::io::Error),
    /// The manifest's lock file could not be read or is malformed.
    #[error(transparent)]
    Lock(#[from] crate::lock::Error),
    /// SOURCE_DATE_EPOCH is not a valid time.
    #[error(transparent)]
    Epoch(#[from] crate::time::EpochError),
    /// The SBOM stored beside the image, to be attested, is not JSON.
    #[error("the stored SBOM is not JSON")]
    SbomNotJson(#[source] serde_json::Error),
}

/// Why a manifest is not the one an image was built from.
#[derive(Debug, thiserror::Error)]
pub enum BuiltFromError {
    /// The manifest's Plans could not be made.
    #[error(transparent)]
    Plans(#[from] super::build::LoadError),
    /// The image's plan could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image's plan differs from the manifest's.
    #[error("the image's plan{} is not the plan of {}: {difference}",
        platform.as_ref().map_or(String::new(), |p| format!(" ({p})")), manifest.display())]
    PlanDiffers {
        /// The platform whose plans differ, for a multi-platform image.
        platform: Option<String>,
        /// The manifest given.
        manifest: PathBuf,
        /// Where the plans first differ, in words.
        difference: String,
    },
}

/// What to do about an error, rendered once by the CLI after the causes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// The manifest given for a provenance is not the one the image was built from.
    AttestTheBuiltManifest,
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hint::AttestTheBuiltManifest => {
                "attest provenance with the manifest (and SOURCE_DATE_EPOCH) the image was \
                 built from, or rebuild the image from this manifest"
            }
        })
    }
}

impl Error {
    /// What the user can do about it, if kiln knows.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Error::NotBuiltFrom { source, .. }
                if matches!(**source, BuiltFromError::PlanDiffers { .. }) =>
            {
                Some(Hint::AttestTheBuiltManifest)
            }
            _ => None,
        }
    }

    /// Whether a verification ran and found nothing valid (the CLI's exit status 3).
    pub fn is_unverified(&self) -> bool {
        matches!(self, Error::Store(StoreError::Unverified { .. }))
    }
}

/// Signs the image's digest (and with `recursive`, every platform manifest of its index).
pub fn sign(req: &SignRequest, password: Password<'_>) -> Result<SignReport, Error> {
    let target = req.image.open(false)?;
    let failed = |source| Error::Sign {
        image: req.image.spec.clone(),
        source,
    };
    target.subject().map_err(failed)?;
    let identity = target.identity(req.identity.as_deref())?;
    let key = read_private_key(&req.key, password)?;
    Ok(match req.recursive {
        true => SignReport::Recursive {
            signed: store::sign_recursive(&target, &key, Some(&identity)).map_err(failed)?,
        },
        false => SignReport::One(store::sign(&target, &key, Some(&identity)).map_err(failed)?),
    })
}

/// Attests `req.kind` about the image, signed with the key.
pub fn attest(req: &AttestRequest, password: Password<'_>) -> Result<AttestReport, Error> {
    let mut target = req.image.open(false)?;
    let identity = target.identity(req.identity.as_deref())?;
    let predicate = match (req.kind, &req.manifest) {
        (Attestation::SlsaProvenance, None) => return Err(Error::NeedsManifest),
        (Attestation::SlsaProvenance, Some(m)) => {
            check_built_from(&mut target, m).map_err(|source| Error::NotBuiltFrom {
                image: req.image.spec.clone(),
                manifest: m.clone(),
                source: Box::new(source),
            })?;
            provenance(m)?
        }
        (Attestation::Spdx, _) => sbom(&target, crate::sbom::Format::Spdx)?,
        (Attestation::CycloneDx, _) => sbom(&target, crate::sbom::Format::CycloneDx)?,
    };
    let key = read_private_key(&req.key, password)?;
    let pt = req.kind.predicate_type();
    store::attest(&target, &key, pt, predicate, Some(&identity)).map_err(|source| Error::Attest {
        image: req.image.spec.clone(),
        source,
    })
}

/// The valid signatures made with the key that name the image's digest (an error when none).
pub fn verify(req: &VerifyRequest) -> Result<VerifyReport, Error> {
    let key = read_public_key(&req.key)?;
    none_in_docker_archive(&req.image.spec, "signature")?;
    let target = req.image.open(true)?;
    let verified = store::verify(&target, &key, req.identity.as_deref())?;
    Ok(VerifyReport { verified })
}

/// The valid attestations of `req.kind` made with the key about the image (an error when
/// none).
pub fn verify_attestation(req: &VerifyAttestationRequest) -> Result<VerifyReport, Error> {
    let key = read_public_key(&req.key)?;
    none_in_docker_archive(&req.image.spec, "attestation")?;
    let target = req.image.open(true)?;
    let verified = store::verify_attestation(&target, &key, req.kind.predicate_type())?;
    Ok(VerifyReport { verified })
}

/// A docker-archive keeps no signatures or attestations (`docker save` and `podman save`
/// write none): a verification finds nothing valid (exit 3), as for an image never signed.
fn none_in_docker_archive(image: &str, what: &'static str) -> Result<(), Error> {
    if !image.starts_with("docker-archive:") {
        return Ok(());
    }
    Err(StoreError::Unverified {
        what,
        image: image.to_string(),
        reasons: vec![format!(
            "  a docker-archive (docker save, podman save) holds no {what}s; verify the image where it was signed (oci:, oci-archive: or docker://)"
        )],
    }
    .into())
}

/// Reads and decrypts a private key; the password is asked for only once the file is read.
pub(crate) fn read_private_key(path: &Path, password: Password<'_>) -> Result<PrivateKey, Error> {
    let pem = Zeroizing::new(fs_err::read(path).map_err(Error::ReadKey)?);
    let pass = password()?;
    PrivateKey::from_encrypted_pem(&pem, pass.as_bytes()).map_err(|source| Error::PrivateKey {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a public key (PEM).
pub(crate) fn read_public_key(path: &Path) -> Result<PublicKey, Error> {
    let pem = fs_err::read(path).map_err(Error::ReadKey)?;
    PublicKey::from_pem(&pem).map_err(|source| Error::PublicKey {
        path: path.to_path_buf(),
        source,
    })
}

/// The SBOM stored beside the image, as the predicate.
fn sbom(target: &Target, format: crate::sbom::Format) -> Result<serde_json::Value, Error> {
    let bytes = store::artifact(target, format.media_type())?;
    serde_json::from_slice(&bytes).map_err(Error::SbomNotJson)
}

/// The SLSA provenance predicate of the manifest `m` and the lock beside it.
fn provenance(m: &Path) -> Result<serde_json::Value, Error> {
    let bytes = fs_err::read(m).map_err(Error::ReadManifest)?;
    let lock_path = crate::lock::path_for(m);
    let lock = crate::lock::Lock::read(&lock_path)?;
    let lock_bytes = match &lock {
        Some(_) => Some(fs_err::read(&lock_path).map_err(Error::ReadManifest)?),
        None => None,
    };
    let name = |p: &Path| {
        p.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
    };
    let lock_name = name(&lock_path);
    let lock_arg = match (&lock, &lock_bytes) {
        (Some(l), Some(b)) => Some((lock_name.as_str(), b.as_slice(), l)),
        _ => None,
    };
    Ok(crate::sign::provenance::predicate(
        &name(m),
        &bytes,
        lock_arg,
        Epoch::from_env()?,
    ))
}

/// `attest --type slsaprovenance`: the manifest must be the one the image was built from, so
/// the Plan it gives now is the plan stored with the image (every platform's, or the one
/// the image's `platform` names).
fn check_built_from(target: &mut Target, manifest: &Path) -> Result<(), BuiltFromError> {
    let (manifests, plans) = super::build::load_plans(manifest)?;
    let given = target.platform().map(str::to_string);
    let multi = manifests.len() > 1;
    for (m, plan) in manifests.iter().zip(&plans) {
        let platform = m.image.platform.as_ref().map(|p| p.to_string());
        if multi && given.is_some() && platform != given {
            continue;
        }
        target.set_platform(if multi {
            platform.clone()
        } else {
            given.clone()
        });
        let stored = store::artifact(target, crate::image::PLAN_MEDIA_TYPE);
        target.set_platform(given.clone());
        let fresh = plan.to_json_portable();
        let stored = stored?;
        if !same_json(&stored, &fresh) {
            return Err(BuiltFromError::PlanDiffers {
                platform,
                manifest: manifest.to_path_buf(),
                difference: first_difference(&stored, &fresh),
            });
        }
    }
    Ok(())
}

/// Compared as JSON values: the same plan whatever the whitespace around it.
fn same_json(stored: &[u8], fresh: &str) -> bool {
    match (
        serde_json::from_slice::<serde_json::Value>(stored),
        serde_json::from_str::<serde_json::Value>(fresh),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Where two portable plans first differ, in words: a path, or a top-level key.
fn first_difference(stored: &[u8], fresh: &str) -> String {
    use serde_json::Value;
    let (Ok(a), Ok(b)) = (
        serde_json::from_slice::<Value>(stored),
        serde_json::from_str::<Value>(fresh),
    ) else {
        return "the stored plan is not JSON".into();
    };
    let (pa, pb) = (by_path(&a), by_path(&b));
    for path in pa.keys().chain(pb.keys()) {
        match (pa.get(path), pb.get(path)) {
            (Some(x), Some(y)) if x != y => {
                return format!(
                    "`{path}` is {} in the image, {} now",
                    describe(x),
                    describe(y)
                )
            }
            (Some(_), None) => return format!("`{path}` ships in the image, not in this plan"),
            (None, Some(_)) => return format!("`{path}` is in this plan, not in the image"),
            _ => {}
        }
    }
    let keys = a.as_object().into_iter().flat_map(|o| o.keys());
    for key in keys.chain(b.as_object().into_iter().flat_map(|o| o.keys())) {
        if key != "entries" && a.get(key) != b.get(key) {
            return format!("their `{key}` differs");
        }
    }
    "they differ".into()
}

/// A portable plan's entries by path.
fn by_path(v: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    v["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["path"].as_str()?.to_string(), e.clone())))
        .collect()
}

/// A plan entry in words: its size and digest, its link target, or its type.
fn describe(e: &serde_json::Value) -> String {
    match e["sha256"].as_str() {
        Some(d) => format!("{} bytes, {d}", e["size"]),
        None => e["target"]
            .as_str()
            .map_or_else(|| e["type"].to_string(), |t| format!("-> {t}")),
    }
}

/// Serialises `v` with every object's keys in sorted order (through a `serde_json::Value`).
fn sorted_keys<S: serde::Serializer, T: serde::Serialize>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    let value = serde_json::to_value(v).map_err(serde::ser::Error::custom)?;
    serde::Serialize::serialize(&value, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> Signed {
        Signed {
            image: "i".into(),
            digest: "d".into(),
            identity: "id".into(),
            tag: "t".into(),
            layer: "l".into(),
        }
    }

    #[test]
    fn one_signature_keeps_its_field_order_and_recursive_sorts_keys() {
        let one = serde_json::to_string(&SignReport::One(signed())).unwrap();
        assert_eq!(
            one,
            r#"{"image":"i","digest":"d","identity":"id","tag":"t","layer":"l"}"#
        );
        let all = SignReport::Recursive {
            signed: vec![signed()],
        };
        assert_eq!(
            serde_json::to_string(&all).unwrap(),
            r#"{"signed":[{"digest":"d","identity":"id","image":"i","layer":"l","tag":"t"}]}"#
        );
    }

    #[test]
    fn a_plan_that_differs_carries_its_hint_as_data() {
        let e = Error::NotBuiltFrom {
            image: "oci:out/app".into(),
            manifest: "kiln.toml".into(),
            source: Box::new(BuiltFromError::PlanDiffers {
                platform: Some("linux/arm64".into()),
                manifest: "kiln.toml".into(),
                difference: "they differ".into(),
            }),
        };
        assert_eq!(e.hint(), Some(Hint::AttestTheBuiltManifest));
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(
            cause,
            "the image's plan (linux/arm64) is not the plan of kiln.toml: they differ"
        );
        assert!(!cause.contains("hint"), "the hint is not in the text");
        assert_eq!(Error::NeedsManifest.hint(), None);
    }
}
