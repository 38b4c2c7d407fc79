//! `kiln generate-key-pair`, `sign`, `attest`, `verify`, `verify-attestation`.
//!
//! Owns: reading keys and their password (never echoed, never printed), the key files'
//! modes. Does not own: the formats (`crate::sign`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::push::RegistryArgs;
use crate::time::Epoch;
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub(super) struct KeyPairArgs {
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    output_key_prefix: String,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
    /// Print JSON: the two files written.
    #[arg(long)]
    json: bool,
}

/// The image `sign`, `attest`, `verify` and `verify-attestation` work on, and how to reach it.
#[derive(clap::Args, Debug)]
pub(super) struct SignedImage {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG|@DIGEST].
    image: String,
    /// For a multi-platform image: the manifest of this platform (e.g. linux/arm64) under
    /// its index, instead of the index.
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl SignedImage {
    /// Opens the image; `pull_only` for the commands that only read.
    fn open(&self, pull_only: bool) -> anyhow::Result<crate::sign::store::Target> {
        Ok(crate::sign::store::Target::open(
            &self.image,
            &self.registry.options(pull_only)?,
            self.platform.as_deref(),
        )?)
    }
}

#[derive(clap::Args, Debug)]
pub(super) struct SignArgs {
    #[command(flatten)]
    target: SignedImage,
    /// The private key (cosign's encrypted PEM); its password from KILN_PASSWORD,
    /// COSIGN_PASSWORD or a prompt.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The repository the payload names (docker-reference), e.g. registry.example/team/app.
    /// Default: HOST/REPO of a registry image; a local image (oci:, oci-archive:) needs it.
    #[arg(long, value_name = "REPO")]
    identity: Option<String>,
    /// For an image index: also sign every platform manifest it lists (as cosign's
    /// --recursive).
    #[arg(long)]
    recursive: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct AttestArgs {
    #[command(flatten)]
    target: SignedImage,
    /// The private key (cosign's encrypted PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// spdx, cyclonedx (the SBOM stored with the image) or slsaprovenance (needs --manifest).
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
    /// The manifest the image was built from (for slsaprovenance; its lock is read beside it).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// The repository the statement's subject names, e.g. registry.example/team/app
    /// (default as for `kiln sign`: needed for a local image).
    #[arg(long, value_name = "REPO")]
    identity: Option<String>,
}

#[derive(clap::Args, Debug)]
pub(super) struct VerifyArgs {
    #[command(flatten)]
    target: SignedImage,
    /// The public key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Also require the signature to name this repository (docker-reference), e.g.
    /// registry.example/team/app.
    #[arg(long, value_name = "REPO")]
    identity: Option<String>,
}

#[derive(clap::Args, Debug)]
pub(super) struct VerifyAttestationArgs {
    #[command(flatten)]
    target: SignedImage,
    /// The public key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// spdx, cyclonedx or slsaprovenance.
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
}

/// The key password: KILN_PASSWORD, COSIGN_PASSWORD, else asked on the terminal (twice when
/// `confirm`). Never echoed, never printed.
pub(super) fn password(confirm: bool) -> anyhow::Result<zeroize::Zeroizing<String>> {
    for var in ["KILN_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(p) = std::env::var(var) {
            return Ok(zeroize::Zeroizing::new(p));
        }
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        anyhow::bail!(
            "the key password is needed: set KILN_PASSWORD (or COSIGN_PASSWORD), or run on a terminal"
        );
    }
    let p = zeroize::Zeroizing::new(rpassword::prompt_password(
        "Enter password for private key: ",
    )?);
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password(
            "Enter password for private key again: ",
        )?);
        if *again != *p {
            anyhow::bail!("the passwords do not match");
        }
    }
    Ok(p)
}

pub(super) fn read_private_key(path: &Path) -> anyhow::Result<crate::sign::PrivateKey> {
    let pem = zeroize::Zeroizing::new(fs_err::read(path)?);
    let pass = password(false)?;
    crate::sign::PrivateKey::from_encrypted_pem(&pem, pass.as_bytes())
        .with_context(|| format!("cannot use the private key {}", path.display()))
}

pub(super) fn read_public_key(path: &Path) -> anyhow::Result<crate::sign::PublicKey> {
    let pem = fs_err::read(path)?;
    crate::sign::PublicKey::from_pem(&pem)
        .with_context(|| format!("cannot use the public key {}", path.display()))
}

/// Writes `bytes` to `path` atomically with `mode`; refuses to replace a file unless `force`.
pub(super) fn write_new_file(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    force: bool,
) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() && !force {
        anyhow::bail!("{} exists; say --force to replace it", path.display());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".kiln-key-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub(super) fn generate_key_pair(a: KeyPairArgs) -> anyhow::Result<()> {
    let key_path = PathBuf::from(format!("{}.key", a.output_key_prefix));
    let pub_path = PathBuf::from(format!("{}.pub", a.output_key_prefix));
    for p in [&key_path, &pub_path] {
        if p.exists() && !a.force {
            anyhow::bail!("{} exists; say --force to replace it", p.display());
        }
    }
    let pass = password(true)?;
    let key = crate::sign::PrivateKey::generate();
    let pem = zeroize::Zeroizing::new(key.to_encrypted_pem(pass.as_bytes())?);
    write_new_file(&key_path, pem.as_bytes(), 0o600, a.force)?;
    write_new_file(
        &pub_path,
        key.public_key().to_pem().as_bytes(),
        0o644,
        a.force,
    )?;
    if a.json {
        return super::json_out(&serde_json::json!({
            "private_key": key_path.display().to_string(),
            "public_key": pub_path.display().to_string(),
        }));
    }
    super::summary(&format!(
        "Private key written to {}\nPublic key written to {}\n",
        key_path.display(),
        pub_path.display()
    ))
}

pub(super) fn print_signed(s: &crate::sign::store::Signed, json: bool) -> anyhow::Result<()> {
    if json {
        return super::json_out(s);
    }
    super::summary(&format!(
        "{} {}\n  identity {}\n  stored at {} (layer {})\n",
        s.image, s.digest, s.identity, s.tag, s.layer
    ))
}

pub(super) fn sign(a: SignArgs) -> anyhow::Result<()> {
    // The image first: a wrong tag or a blob that is not a manifest is said before anyone is
    // asked for a password.
    let target = a.target.open(false)?;
    target
        .subject()
        .with_context(|| format!("cannot sign {}", a.target.image))?;
    let identity = target.identity(a.identity.as_deref())?;
    let key = read_private_key(&a.key)?;
    if a.recursive {
        let all = crate::sign::store::sign_recursive(&target, &key, Some(&identity))
            .with_context(|| format!("cannot sign {}", a.target.image))?;
        if a.target.json {
            return super::json_out(&serde_json::json!({ "signed": all }));
        }
        for s in &all {
            print_signed(s, false)?;
        }
        return Ok(());
    }
    let s = crate::sign::store::sign(&target, &key, Some(&identity))
        .with_context(|| format!("cannot sign {}", a.target.image))?;
    print_signed(&s, a.target.json)
}

/// `--type` to a predicate type.
pub(super) fn predicate_type(kind: &str) -> anyhow::Result<&'static str> {
    Ok(match kind {
        "spdx" | "spdxjson" => crate::sign::PREDICATE_SPDX,
        "cyclonedx" => crate::sign::PREDICATE_CYCLONEDX,
        "slsaprovenance" => crate::sign::PREDICATE_SLSA_PROVENANCE_V02,
        other => anyhow::bail!("unknown --type {other:?}; one of: spdx, cyclonedx, slsaprovenance"),
    })
}

pub(super) fn attest(a: AttestArgs) -> anyhow::Result<()> {
    let pt = predicate_type(&a.kind)?;
    let mut target = a.target.open(false)?;
    let identity = target.identity(a.identity.as_deref())?;
    let predicate: serde_json::Value = match a.kind.as_str() {
        "slsaprovenance" => {
            let Some(m) = &a.manifest else {
                anyhow::bail!("--type slsaprovenance needs --manifest FILE, the manifest the image was built from");
            };
            check_built_from(&mut target, m).with_context(|| {
                format!(
                    "cannot attest that {} was built from {}",
                    a.target.image,
                    m.display()
                )
            })?;
            let bytes = fs_err::read(m)?;
            let lock_path = crate::lock::path_for(m);
            let lock = crate::lock::Lock::read(&lock_path)?;
            let lock_bytes = match &lock {
                Some(_) => Some(fs_err::read(&lock_path)?),
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
            crate::sign::provenance::predicate(&name(m), &bytes, lock_arg, Epoch::from_env()?)
        }
        _ => {
            let media_type = if a.kind == "cyclonedx" {
                crate::sbom::Format::CycloneDx.media_type()
            } else {
                crate::sbom::Format::Spdx.media_type()
            };
            let bytes = crate::sign::store::artifact(&target, media_type)?;
            serde_json::from_slice(&bytes).context("the stored SBOM is not JSON")?
        }
    };
    let key = read_private_key(&a.key)?;
    let s = crate::sign::store::attest(&target, &key, pt, predicate, Some(&identity))
        .with_context(|| format!("cannot attest {}", a.target.image))?;
    print_signed(&s, a.target.json)
}

/// `attest --type slsaprovenance`: the manifest must be the one the image was built from, so
/// the Plan it gives now is the plan stored with the image (every platform's,
/// or the one `--platform` names).
fn check_built_from(
    target: &mut crate::sign::store::Target,
    manifest: &Path,
) -> anyhow::Result<()> {
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
        let stored = crate::sign::store::artifact(target, crate::image::PLAN_MEDIA_TYPE);
        target.set_platform(given.clone());
        let fresh = plan.to_json_portable();
        let stored = stored?;
        // Compared as JSON values: the same plan whatever the whitespace around it.
        let same = match (
            serde_json::from_slice::<serde_json::Value>(&stored),
            serde_json::from_str::<serde_json::Value>(&fresh),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            let on = platform.map_or(String::new(), |p| format!(" ({p})"));
            anyhow::bail!(
                "the image's plan{on} is not the plan of {}: {}\n\n\
                 hint: attest provenance with the manifest (and SOURCE_DATE_EPOCH) the image \
                 was built from, or rebuild the image from this manifest",
                manifest.display(),
                first_difference(&stored, &fresh)
            );
        }
    }
    Ok(())
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
    let by_path = |v: &Value| -> std::collections::BTreeMap<String, Value> {
        v["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e["path"].as_str()?.to_string(), e.clone())))
            .collect()
    };
    let (pa, pb) = (by_path(&a), by_path(&b));
    let describe = |e: &Value| match e["sha256"].as_str() {
        Some(d) => format!("{} bytes, {d}", e["size"]),
        None => e["target"]
            .as_str()
            .map_or_else(|| e["type"].to_string(), |t| format!("-> {t}")),
    };
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

/// A docker-archive keeps no signatures or attestations (`docker save` and `podman save`
/// write none): a verification finds nothing valid (exit 3), as for an image never signed.
fn none_in_docker_archive(image: &str, what: &'static str) -> anyhow::Result<()> {
    if !image.starts_with("docker-archive:") {
        return Ok(());
    }
    Err(crate::sign::store::StoreError::Unverified {
        what,
        image: image.to_string(),
        reasons: vec![format!(
            "  a docker-archive (docker save, podman save) holds no {what}s; verify the image where it was signed (oci:, oci-archive: or docker://)"
        )],
    }
    .into())
}

pub(super) fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let key = read_public_key(&a.key)?;
    none_in_docker_archive(&a.target.image, "signature")?;
    let target = a.target.open(true)?;
    let ok = crate::sign::store::verify(&target, &key, a.identity.as_deref())?;
    if a.target.json {
        return super::json_out(&serde_json::json!({ "verified": ok }));
    }
    let mut s = String::new();
    for v in &ok {
        s += &format!(
            "verified: {} signed for {} (payload {})\n",
            v.digest, v.identity, v.layer
        );
    }
    super::summary(&s)
}

pub(super) fn verify_attestation(a: VerifyAttestationArgs) -> anyhow::Result<()> {
    let pt = predicate_type(&a.kind)?;
    let key = read_public_key(&a.key)?;
    none_in_docker_archive(&a.target.image, "attestation")?;
    let target = a.target.open(true)?;
    let ok = crate::sign::store::verify_attestation(&target, &key, pt)?;
    if a.target.json {
        return super::json_out(&serde_json::json!({ "verified": ok }));
    }
    let mut s = String::new();
    for v in &ok {
        s += &format!(
            "verified: {} attestation about {} ({}, envelope {})\n",
            a.kind, v.digest, v.identity, v.layer
        );
    }
    super::summary(&s)
}
