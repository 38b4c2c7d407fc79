//! Where signatures and attestations live, and the three operations on them: sign, attest,
//! verify.
//!
//! Owns: cosign's storage convention (one OCI manifest per image digest at tag
//! `sha256-HEX.sig` for signatures and `sha256-HEX.att` for attestations, one layer per
//! signature, added to what is there and never replacing it) in three places: an OCI layout
//! or an oci-archive (the manifest is tagged in `index.json` with the image as
//! `dev.kiln.subject`, so `kiln push` takes it along; an archive is unpacked to a temporary
//! folder and written back whole, atomically), or a registry (through
//! [`crate::registry::Remote`]); and the checks that make a signature valid: the signature
//! verifies over the exact payload bytes, the payload names the exact image digest, and the
//! layer's blob hashes to its descriptor.
//! Does not own: key formats, payloads, DSSE (the rest of [`crate::sign`]), HTTP (`registry`).

use super::{
    simple_signing_payload, statement, Envelope, PrivateKey, PublicKey, SimpleSigning,
    DSSE_ENVELOPE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE, PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE,
};
use crate::digest::Digest;
use crate::image::{output, REF_NAME, SUBJECT_ANNOTATION};
use crate::oci::guard::{Lock, Staging};
use crate::oci::layout::Layout;
use crate::oci::{self, parse_manifest, Descriptor, MAX_ARTIFACT, MAX_MANIFEST};
use crate::registry::{self, Reference, Remote};
use base64::Engine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// What can fail while storing or checking signatures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Output(#[from] output::Error),
    #[error(transparent)]
    Oci(#[from] oci::Error),
    #[error("{image}: {digest} is not an image manifest or index, so it cannot be signed or verified: {why}")]
    NotAnImage {
        image: String,
        digest: Digest,
        why: String,
    },
    #[error("{}: {what}", path.display())]
    Layout { path: PathBuf, what: String },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no identity to sign {image} for: {why}\n\nhint: say --identity HOST/REPO, the repository the image will be pushed to (e.g. --identity registry.example/team/app), or sign it in the registry after pushing")]
    Identity { image: String, why: String },
    #[error("--platform for {image}: {why}")]
    Platform { image: String, why: String },
    #[error("{0:?} is not an image kiln can sign or verify: use oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG|@DIGEST]")]
    Spec(String),
    /// A verification that ran and found nothing valid (the CLI's exit status 3).
    #[error("no valid {what} for {image}:\n{}", reasons.join("\n"))]
    Unverified {
        what: &'static str,
        image: String,
        reasons: Vec<String>,
    },
    #[error("no {artifact_type} artifact refers to {image}")]
    NoArtifact {
        image: String,
        artifact_type: String,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

/// An image whose signatures kiln reads or adds to: where it is, and for a multi-platform
/// image, optionally one platform's manifest under its index.
pub struct Target {
    place: Place,
    platform: Option<String>,
    /// Manifests fetched from a registry, checked against their digests (one GET each).
    fetched: std::sync::Mutex<std::collections::BTreeMap<Digest, Vec<u8>>>,
}

enum Place {
    Layout {
        dir: PathBuf,
        tag: String,
    },
    /// An oci-archive, unpacked into `dir` (a temporary folder); written back when changed.
    Archive {
        file: PathBuf,
        tag: String,
        dir: Staging,
    },
    Remote(Box<Remote>),
}

impl Target {
    /// `oci:DIR[:TAG]` or `docker://HOST/REPO[:TAG|@DIGEST]`; with `platform` (`OS/ARCH`),
    /// the subject is that platform's manifest under the image index.
    pub fn open(spec: &str, opts: &registry::Options, platform: Option<&str>) -> Result<Target> {
        let place = if spec.starts_with("docker://") {
            let r = Reference::parse(spec)?;
            Place::Remote(Box::new(Remote::connect(&r, opts)?))
        } else {
            match output::Output::parse(spec) {
                Ok(output::Output::Oci { dir, tag }) => {
                    Layout::open(&dir)?;
                    Place::Layout { dir, tag }
                }
                Ok(output::Output::OciArchive { file, tag }) => {
                    let dir = unpack(&file)?;
                    Place::Archive { file, tag, dir }
                }
                _ => return Err(StoreError::Spec(spec.to_string())),
            }
        };
        Ok(Target {
            place,
            platform: platform.map(str::to_string),
            fetched: Default::default(),
        })
    }

    /// The folder and tag of a layout or an unpacked archive.
    fn local(&self) -> (&Path, &str) {
        match &self.place {
            Place::Layout { dir, tag } => (dir, tag),
            Place::Archive { dir, tag, .. } => (dir.path(), tag),
            Place::Remote(_) => unreachable!("local() of a registry image"),
        }
    }

    /// The layout of a layout place, or of the unpacked archive.
    fn layout(&self) -> Layout {
        Layout::new_unchecked(self.local().0)
    }

    /// How the image is named in messages.
    pub fn name(&self) -> String {
        match &self.place {
            Place::Layout { dir, tag } => format!("oci:{}:{tag}", dir.display()),
            Place::Archive { file, tag, .. } => format!("oci-archive:{}:{tag}", file.display()),
            Place::Remote(r) => r.reference.to_string(),
        }
    }

    /// The platform given at `open` (the manifest of that platform under an index).
    pub fn platform(&self) -> Option<&str> {
        self.platform.as_deref()
    }

    /// Points the target at another platform's manifest (or, with `None`, at what the
    /// reference names).
    pub fn set_platform(&mut self, platform: Option<String>) {
        self.platform = platform;
    }

    /// The repository a payload names (`docker-reference`): `given` when it is a repository
    /// name (`HOST/REPO`, no tag or digest), else `HOST/REPO` of a registry image. A local
    /// image has no repository of its own (a folder name is not one): refused, with a hint.
    pub fn identity(&self, given: Option<&str>) -> Result<String> {
        if let Some(i) = given {
            return match Reference::parse(&format!("docker://{i}")) {
                // `Reference::parse` gives a missing tag as `latest`: the text says whether one was
                // written.
                Ok(_) if !i.contains('@') && !i.rsplit('/').next().unwrap_or(i).contains(':') => {
                    Ok(i.to_string())
                }
                _ => Err(StoreError::Identity {
                    image: self.name(),
                    why: format!(
                        "`{i}` is not a repository name (HOST/REPO, without a tag or digest)"
                    ),
                }),
            };
        }
        match &self.place {
            Place::Remote(r) => Ok(format!("{}/{}", r.reference.host, r.reference.repo)),
            Place::Layout { .. } | Place::Archive { .. } => Err(StoreError::Identity {
                image: self.name(),
                why: "a local image names no repository, and a folder name is not one".into(),
            }),
        }
    }

    /// The digest signatures are about: what the reference names, or with a platform, that
    /// platform's manifest under the index it names.
    pub fn subject(&self) -> Result<Digest> {
        let top = self.top()?;
        let Some(want) = &self.platform else {
            self.checked_manifest(&top)?;
            return Ok(top);
        };
        let oci::Manifest::Index { manifests, .. } = self.checked_manifest(&top)? else {
            return Err(StoreError::Platform {
                image: self.name(),
                why: format!("it is a single-platform image ({top}); leave out --platform"),
            });
        };
        let child = oci::find_platform(&manifests, want).map_err(|have| StoreError::Platform {
            image: self.name(),
            why: format!("its index has no {want} image (it has: {have})"),
        })?;
        self.checked_manifest(&child.digest)?;
        Ok(child.digest.clone())
    }

    /// The manifest or index `d`, read and checked (it exists, hashes to `d`, parses as an
    /// image manifest or index): what a signature may be about.
    fn checked_manifest(&self, d: &Digest) -> Result<oci::Manifest> {
        let bytes = self.manifest_bytes(d)?;
        if !d.matches(&bytes) {
            return Err(StoreError::Oci(oci::Error::DigestMismatch {
                layout: PathBuf::from(self.name()),
                expected: d.clone(),
                actual: d.recompute(&bytes),
            }));
        }
        parse_manifest(&bytes, None).map_err(|why| StoreError::NotAnImage {
            image: self.name(),
            digest: d.clone(),
            why,
        })
    }

    /// The bytes of the manifest or index `d`.
    fn manifest_bytes(&self, d: &Digest) -> Result<Vec<u8>> {
        match &self.place {
            Place::Remote(r) => {
                if let Some(b) = self.fetched.lock().ok().and_then(|c| c.get(d).cloned()) {
                    return Ok(b);
                }
                let bytes = r
                    .manifest(&d.to_string())?
                    .map(|f| f.bytes)
                    .ok_or_else(|| StoreError::Platform {
                        image: self.name(),
                        why: format!("the registry has no manifest {d}"),
                    })?;
                if let Ok(mut c) = self.fetched.lock() {
                    c.insert(d.clone(), bytes.clone());
                }
                Ok(bytes)
            }
            Place::Layout { .. } | Place::Archive { .. } => {
                Ok(self.layout().read_blob(d, None, MAX_MANIFEST)?)
            }
        }
    }

    /// The digest the reference itself names (a manifest or an index).
    fn top(&self) -> Result<Digest> {
        match &self.place {
            Place::Remote(r) => {
                // The manifest the reference names, fetched and checked once (the signature is
                // about bytes that exist, never about a header), kept for the command.
                let f = r.resolve()?;
                if let Ok(mut c) = self.fetched.lock() {
                    c.insert(f.digest.clone(), f.bytes);
                }
                Ok(f.digest)
            }
            Place::Layout { .. } | Place::Archive { .. } => {
                let (dir, tag) = self.local();
                let index = self.layout().index()?;
                let entry = index.tagged(tag).ok_or_else(|| StoreError::Layout {
                    path: dir.to_path_buf(),
                    what: index.no_such_tag(tag),
                })?;
                Ok(entry.digest.clone())
            }
        }
    }

    /// The manifest at `tag`, if any.
    fn tagged(&self, tag: &str) -> Result<Option<Value>> {
        match &self.place {
            Place::Remote(r) => Ok(r
                .manifest(tag)?
                .and_then(|f| serde_json::from_slice(&f.bytes).ok())),
            Place::Layout { .. } | Place::Archive { .. } => {
                tagged_in(&self.layout(), &self.layout().index()?, tag)
            }
        }
    }

    /// A blob, checked against its digest.
    pub fn blob(&self, d: &Digest) -> Result<Vec<u8>> {
        match &self.place {
            Place::Remote(r) => Ok(r.blob(d)?),
            Place::Layout { .. } | Place::Archive { .. } => {
                Ok(self.layout().read_blob(d, None, MAX_ARTIFACT)?)
            }
        }
    }

    /// Adds one layer (descriptor `desc` of `bytes`) to the manifest at `tag`, keeping every
    /// layer already there.
    fn add_layer(&self, subject: &Digest, tag: &str, desc: Value, bytes: &[u8]) -> Result<()> {
        let ours = json!({ "layers": [desc] });
        match &self.place {
            Place::Remote(r) => {
                let theirs = self.tagged(tag)?.unwrap_or(Value::Null);
                let layers = registry::merge_layers(&theirs, &ours);
                let (manifest, config) = registry::append_manifest(&layers);
                r.put_blob(bytes)?;
                r.put_blob(&config)?;
                r.put_manifest(tag, crate::image::MANIFEST_MEDIA_TYPE, &manifest)?;
            }
            Place::Layout { dir, .. } => add_local(dir, subject, tag, &ours, bytes)?,
            Place::Archive { file, .. } => {
                // The whole read-modify-write of the archive under its lock: unpacked afresh
                // (another signer may have added to it since it was opened), changed, packed.
                let _lock = Lock::beside(file)?;
                let fresh = unpack(file)?;
                add_local(fresh.path(), subject, tag, &ours, bytes)?;
                repack(file, fresh.path())?;
            }
        }
        Ok(())
    }
}

/// Unpacks an oci-archive into a temporary folder.
fn unpack(file: &Path) -> Result<Staging> {
    // In the temporary folder, removed on drop or Ctrl-C (and by a later run's sweep after
    // kill -9).
    let temp = std::env::temp_dir();
    crate::oci::guard::sweep(&temp);
    let dir = Staging::new_in(&temp)?;
    oci::archive::unpack(file, dir.path())?;
    Layout::open(dir.path())?;
    Ok(dir)
}

/// Writes an unpacked archive in `dir` back to `file` (atomically, entries sorted, mtimes from
/// `SOURCE_DATE_EPOCH`).
fn repack(file: &Path, dir: &Path) -> Result<()> {
    let mut files = vec![
        ("index.json".to_string(), dir.join("index.json")),
        ("oci-layout".to_string(), dir.join("oci-layout")),
    ];
    let mut dirs = vec!["blobs".to_string()];
    for alg in [
        crate::digest::Algorithm::Sha256,
        crate::digest::Algorithm::Sha512,
    ] {
        let blobs = dir.join("blobs").join(alg.name());
        if !blobs.is_dir() {
            continue;
        }
        dirs.push(format!("blobs/{}", alg.name()));
        for e in fs_err::read_dir(&blobs).map_err(|e| StoreError::Write {
            path: blobs.clone(),
            source: e,
        })? {
            let e = e.map_err(|e| StoreError::Write {
                path: blobs.clone(),
                source: e,
            })?;
            let name = e.file_name().to_string_lossy().into_owned();
            if Digest::parse(&format!("{}:{name}", alg.name())).is_some() {
                files.push((format!("blobs/{}/{name}", alg.name()), e.path()));
            }
        }
    }
    let epoch = crate::time::Epoch::from_env().map(|e| e.0).unwrap_or(0);
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    output::write_archive(file, &dirs, files, epoch)?;
    Ok(())
}

/// The manifest at `tag` in `index`, if any (parsed as JSON: its layers are merged).
fn tagged_in(layout: &Layout, index: &oci::Index, tag: &str) -> Result<Option<Value>> {
    let Some(d) = index.tagged(tag) else {
        return Ok(None);
    };
    let bytes = layout.read_blob(&d.digest, Some(d.size), MAX_MANIFEST)?;
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Adds the layers `ours` to the manifest tagged `tag` in the layout at `dir`, under the
/// layout's lock: the manifest there now (not the one seen when the command started) keeps
/// every layer it has. Blobs first (staged, renamed into place), `index.json` last.
fn add_local(dir: &Path, subject: &Digest, tag: &str, ours: &Value, bytes: &[u8]) -> Result<()> {
    let layout = Layout::open(dir)?;
    layout.sweep();
    let staging = Staging::new_in(dir)?;
    layout.update(|index| -> Result<()> {
        let theirs = tagged_in(&layout, index, tag)?.unwrap_or(Value::Null);
        let layers = registry::merge_layers(&theirs, ours);
        let (manifest, config) = registry::append_manifest(&layers);
        for b in [bytes, &config, &manifest] {
            layout.write_blob(&staging, b)?;
        }
        index.retain(|m| m.tag() != Some(tag));
        index.push(Descriptor {
            media_type: crate::image::MANIFEST_MEDIA_TYPE.into(),
            digest: Digest::of(&manifest),
            size: manifest.len() as u64,
            artifact_type: None,
            platform: None,
            annotations: [
                (REF_NAME.to_string(), tag.to_string()),
                (SUBJECT_ANNOTATION.to_string(), subject.to_string()),
            ]
            .into_iter()
            .collect(),
        });
        Ok(())
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What `sign` and `attest` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signed {
    pub image: String,
    pub digest: String,
    pub identity: String,
    /// Where the signature or attestation went (`sha256-HEX.sig`, `.att`).
    pub tag: String,
    /// The digest of the signed payload or envelope layer.
    pub layer: String,
}

/// Signs the image's digest (cosign's simple-signing payload) and stores the signature.
pub fn sign(target: &Target, key: &PrivateKey, identity: Option<&str>) -> Result<Signed> {
    sign_digest(target, key, identity, &target.subject()?)
}

/// Signs the image and, when it is an image index, every manifest it lists (cosign's
/// `--recursive`): a policy that checks the platform manifest a node pulls finds a signature.
pub fn sign_recursive(
    target: &Target,
    key: &PrivateKey,
    identity: Option<&str>,
) -> Result<Vec<Signed>> {
    let top = target.subject()?;
    let mut out = vec![sign_digest(target, key, identity, &top)?];
    for child in target.checked_manifest(&top)?.children() {
        target.checked_manifest(&child.digest)?;
        out.push(sign_digest(target, key, identity, &child.digest)?);
    }
    Ok(out)
}

fn sign_digest(
    target: &Target,
    key: &PrivateKey,
    identity: Option<&str>,
    subject: &Digest,
) -> Result<Signed> {
    let subject = subject.clone();
    let identity = target.identity(identity)?;
    let payload = simple_signing_payload(&identity, &subject.to_string());
    let sig = key.sign(&payload);
    let desc = json!({
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "size": payload.len(),
        "digest": Digest::of(&payload).to_string(),
        "annotations": { SIGNATURE_ANNOTATION: b64(&sig) },
    });
    let tag = oci::cosign_tag(&subject, "sig");
    target.add_layer(&subject, &tag, desc, &payload)?;
    Ok(Signed {
        image: target.name(),
        digest: subject.to_string(),
        identity,
        tag,
        layer: Digest::of(&payload).to_string(),
    })
}

/// Wraps `predicate` in an in-toto Statement about the image, signs it in a DSSE envelope and
/// stores it.
pub fn attest(
    target: &Target,
    key: &PrivateKey,
    predicate_type: &str,
    predicate: Value,
    identity: Option<&str>,
) -> Result<Signed> {
    let subject = target.subject()?;
    let identity = target.identity(identity)?;
    let st = statement(predicate_type, &identity, &subject.hex(), predicate);
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &st, key).to_json();
    let desc = json!({
        "mediaType": DSSE_ENVELOPE_MEDIA_TYPE,
        "size": envelope.len(),
        "digest": Digest::of(&envelope).to_string(),
        "annotations": {
            SIGNATURE_ANNOTATION: "",
            PREDICATE_TYPE_ANNOTATION: predicate_type,
        },
    });
    let tag = oci::cosign_tag(&subject, "att");
    target.add_layer(&subject, &tag, desc, &envelope)?;
    Ok(Signed {
        image: target.name(),
        digest: subject.to_string(),
        identity,
        tag,
        layer: Digest::of(&envelope).to_string(),
    })
}

/// One signature that verified.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub digest: String,
    pub identity: String,
    pub layer: String,
    /// For attestations: the predicate type and the statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<Value>,
}

/// The layers at `tag` with their blobs, or the reason there are none.
fn layers(
    target: &Target,
    subject: &Digest,
    tag: &str,
    what: &'static str,
) -> Result<Vec<(Value, Vec<u8>)>> {
    let Some(m) = target.tagged(tag)? else {
        return Err(StoreError::Unverified {
            what,
            image: format!("{} ({subject})", target.name()),
            reasons: vec![format!("  nothing is stored at {tag}")],
        });
    };
    let mut out = Vec::new();
    for l in m["layers"].as_array().into_iter().flatten() {
        let bytes = match l["digest"].as_str().and_then(Digest::parse) {
            Some(d) => target.blob(&d).map_err(|e| e.to_string()),
            None => Err("the layer has no valid digest".to_string()),
        };
        match bytes {
            Ok(b) => out.push((l.clone(), b)),
            Err(e) => out.push((json!({"error": e}), Vec::new())),
        }
    }
    Ok(out)
}

/// The signatures of the image that verify with `key` and name its exact digest (and, when
/// `identity` is given, that repository as their docker-reference).
pub fn verify(target: &Target, key: &PublicKey, identity: Option<&str>) -> Result<Vec<Verified>> {
    let subject = target.subject()?;
    let tag = oci::cosign_tag(&subject, "sig");
    let mut ok = Vec::new();
    let mut reasons = Vec::new();
    for (i, (l, payload)) in layers(target, &subject, &tag, "signature")?
        .into_iter()
        .enumerate()
    {
        let n = i + 1;
        if let Some(e) = l["error"].as_str() {
            reasons.push(format!("  signature {n}: {e}"));
            continue;
        }
        if l["mediaType"].as_str() != Some(SIMPLE_SIGNING_MEDIA_TYPE) {
            reasons.push(format!("  layer {n}: not a simple-signing payload"));
            continue;
        }
        let sig = l["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
        let Some(sig) = sig else {
            reasons.push(format!("  signature {n}: no base64 signature annotation"));
            continue;
        };
        if let Err(e) = key.verify(&payload, &sig) {
            reasons.push(format!("  signature {n}: {e}"));
            continue;
        }
        match SimpleSigning::parse(&payload) {
            Err(e) => reasons.push(format!("  signature {n}: {e}")),
            Ok(p) if p.manifest_digest != subject.to_string() => reasons.push(format!(
                "  signature {n}: signs {}, not this image ({subject})",
                p.manifest_digest
            )),
            Ok(p) if identity.is_some_and(|i| i != p.docker_reference) => reasons.push(format!(
                "  signature {n}: names {}, not {}",
                p.docker_reference,
                identity.unwrap_or_default()
            )),
            Ok(p) => ok.push(Verified {
                digest: subject.to_string(),
                identity: p.docker_reference,
                layer: l["digest"].as_str().unwrap_or_default().to_string(),
                predicate_type: None,
                statement: None,
            }),
        }
    }
    if ok.is_empty() {
        if reasons.is_empty() {
            reasons.push(format!("  {tag} holds no signatures"));
        }
        return Err(StoreError::Unverified {
            what: "signature",
            image: format!("{} ({subject})", target.name()),
            reasons,
        });
    }
    Ok(ok)
}

/// The attestations of `predicate_type` whose envelope verifies with `key` and whose statement
/// is about the image's exact digest.
pub fn verify_attestation(
    target: &Target,
    key: &PublicKey,
    predicate_type: &str,
) -> Result<Vec<Verified>> {
    let subject = target.subject()?;
    let tag = oci::cosign_tag(&subject, "att");
    let mut ok = Vec::new();
    let mut reasons = Vec::new();
    for (i, (l, bytes)) in layers(target, &subject, &tag, "attestation")?
        .into_iter()
        .enumerate()
    {
        let n = i + 1;
        if let Some(e) = l["error"].as_str() {
            reasons.push(format!("  attestation {n}: {e}"));
            continue;
        }
        let env = match Envelope::from_json(&bytes) {
            Ok(e) => e,
            Err(e) => {
                reasons.push(format!("  attestation {n}: {e}"));
                continue;
            }
        };
        if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
            reasons.push(format!(
                "  attestation {n}: payload type {:?}, not {IN_TOTO_PAYLOAD_TYPE}",
                env.payload_type
            ));
            continue;
        }
        if let Err(e) = env.verify(key) {
            reasons.push(format!("  attestation {n}: {e}"));
            continue;
        }
        let st: Value = serde_json::from_slice(&env.payload).unwrap_or_default();
        let pt = st["predicateType"].as_str().unwrap_or_default();
        if pt != predicate_type {
            reasons.push(format!("  attestation {n}: predicate type {pt:?}"));
            continue;
        }
        let about = st["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["digest"]["sha256"].as_str() == Some(subject.hex().as_str()));
        if !about {
            reasons.push(format!(
                "  attestation {n}: its statement is not about {subject}"
            ));
            continue;
        }
        ok.push(Verified {
            digest: subject.to_string(),
            identity: st["subject"][0]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            layer: l["digest"].as_str().unwrap_or_default().to_string(),
            predicate_type: Some(pt.to_string()),
            statement: Some(st),
        });
    }
    if ok.is_empty() {
        if reasons.is_empty() {
            reasons.push(format!("  {tag} holds no attestations"));
        }
        return Err(StoreError::Unverified {
            what: "attestation",
            image: format!("{} ({subject})", target.name()),
            reasons,
        });
    }
    Ok(ok)
}

/// The bytes of the artifact of `artifact_type` (an SBOM) whose subject is the image: named by
/// the image's descriptor in a layout ([`oci::ARTIFACT_ANNOTATIONS`]), or from the registry's referrers (the referrers API, else the referrers tag
/// `sha256-HEX` that `kiln push` keeps for registries without it).
pub fn artifact(target: &Target, artifact_type: &str) -> Result<Vec<u8>> {
    let subject = target.subject()?;
    if target.platform.is_none() {
        if let oci::Manifest::Index { .. } = target.checked_manifest(&subject)? {
            return Err(StoreError::Platform {
                image: target.name(),
                why: "it is a multi-platform image whose SBOMs are per platform: say --platform OS/ARCH".into(),
            });
        }
    }
    let not_found = || StoreError::NoArtifact {
        image: format!("{} ({subject})", target.name()),
        artifact_type: artifact_type.to_string(),
    };
    let manifest_digest = match &target.place {
        Place::Layout { .. } | Place::Archive { .. } => {
            // The image's descriptor names its artifacts: the tagged entry, or the platform's
            // entry in the index it points at.
            let (dir, tag) = target.local();
            let index = target.layout().index()?;
            let top = index.tagged(tag).ok_or_else(|| StoreError::Layout {
                path: dir.to_path_buf(),
                what: index.no_such_tag(tag),
            })?;
            let image = if top.digest == subject {
                top.clone()
            } else {
                target
                    .checked_manifest(&top.digest)?
                    .children()
                    .iter()
                    .find(|c| c.digest == subject)
                    .cloned()
                    .ok_or_else(not_found)?
            };
            image
                .artifact(artifact_type)
                .map_err(|why| StoreError::Layout {
                    path: dir.to_path_buf(),
                    what: why,
                })?
        }
        Place::Remote(r) => {
            let index = match r.referrers(&subject)? {
                Some(v) => Some(v),
                None => r
                    .manifest(&format!("{}-{}", subject.algorithm().name(), subject.hex()))?
                    .and_then(|f| serde_json::from_slice::<Value>(&f.bytes).ok()),
            };
            index.and_then(|v| {
                v["manifests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["artifactType"].as_str() == Some(artifact_type))
                    .and_then(|m| m["digest"].as_str())
                    .and_then(Digest::parse)
            })
        }
    };
    let manifest_digest = manifest_digest.ok_or_else(not_found)?;
    let layer = oci::artifact_content(
        &target.checked_manifest(&manifest_digest)?,
        artifact_type,
        &subject,
    )
    .map_err(|why| StoreError::Unverified {
        what: "artifact",
        image: format!("{} ({subject})", target.name()),
        reasons: vec![format!("  artifact manifest {manifest_digest}: {why}")],
    })?;
    let bytes = target.blob(&layer.digest)?;
    if bytes.len() as u64 != layer.size {
        return Err(StoreError::Oci(oci::Error::SizeMismatch {
            layout: PathBuf::from(target.name()),
            digest: layer.digest,
            expected: layer.size,
            actual: bytes.len() as u64,
        }));
    }
    Ok(bytes)
}
