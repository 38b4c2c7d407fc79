//! `kiln generate-key-pair`, `sign`, `attest`, `verify`, `verify-attestation`.
//!
//! Owns: the flags of these commands, turned into `ops::sign` requests (`--type` a
//! [`clap::ValueEnum`]), asking for the key's password (never echoed, never printed), the key
//! files' modes, rendering the reports. Does not own: what the commands do (`ops::sign`), the
//! formats (`crate::sign`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::push::RegistryArgs;
use crate::ops::sign::{self as ops, Attestation, Image, PasswordError, SignReport};
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
    /// The image as the ops take it (credentials read now, from flags or stdin).
    fn image(&self) -> anyhow::Result<Image> {
        Ok(Image {
            spec: self.image.clone(),
            platform: self.platform.clone(),
            registry: self.registry.options(false)?,
        })
    }
}

/// `--type` of `attest` and `verify-attestation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum AttestType {
    #[value(alias = "spdxjson")]
    Spdx,
    Cyclonedx,
    Slsaprovenance,
}

impl From<AttestType> for Attestation {
    fn from(t: AttestType) -> Attestation {
        match t {
            AttestType::Spdx => Attestation::Spdx,
            AttestType::Cyclonedx => Attestation::CycloneDx,
            AttestType::Slsaprovenance => Attestation::SlsaProvenance,
        }
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
    #[arg(long = "type", value_name = "TYPE", value_enum)]
    kind: AttestType,
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
    #[arg(long = "type", value_name = "TYPE", value_enum)]
    kind: AttestType,
}

/// The key password: KILN_PASSWORD, COSIGN_PASSWORD, else asked on the terminal (twice when
/// `confirm`). Never echoed, never printed.
pub(super) fn password(confirm: bool) -> Result<zeroize::Zeroizing<String>, PasswordError> {
    for var in ["KILN_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(p) = std::env::var(var) {
            return Ok(zeroize::Zeroizing::new(p));
        }
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(PasswordError::Needed);
    }
    let ask = |prompt| rpassword::prompt_password(prompt).map_err(PasswordError::Prompt);
    let p = zeroize::Zeroizing::new(ask("Enter password for private key: ")?);
    if confirm {
        let again = zeroize::Zeroizing::new(ask("Enter password for private key again: ")?);
        if *again != *p {
            return Err(PasswordError::Mismatch);
        }
    }
    Ok(p)
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
    let req = ops::SignRequest {
        image: a.target.image()?,
        key: a.key,
        identity: a.identity,
        recursive: a.recursive,
    };
    match ops::sign(&req, &|| password(false))? {
        SignReport::One(s) => print_signed(&s, a.target.json),
        r @ SignReport::Recursive { .. } if a.target.json => super::json_out(&r),
        SignReport::Recursive { signed } => {
            for s in &signed {
                print_signed(s, false)?;
            }
            Ok(())
        }
    }
}

pub(super) fn attest(a: AttestArgs) -> anyhow::Result<()> {
    let req = ops::AttestRequest {
        image: a.target.image()?,
        key: a.key,
        kind: a.kind.into(),
        manifest: a.manifest,
        identity: a.identity,
    };
    let s = ops::attest(&req, &|| password(false))?;
    print_signed(&s, a.target.json)
}

pub(super) fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let req = ops::VerifyRequest {
        image: a.target.image()?,
        key: a.key,
        identity: a.identity,
    };
    let r = ops::verify(&req)?;
    if a.target.json {
        return super::json_out(&r);
    }
    let mut s = String::new();
    for v in &r.verified {
        s += &format!(
            "verified: {} signed for {} (payload {})\n",
            v.digest, v.identity, v.layer
        );
    }
    super::summary(&s)
}

pub(super) fn verify_attestation(a: VerifyAttestationArgs) -> anyhow::Result<()> {
    let kind = Attestation::from(a.kind);
    let req = ops::VerifyAttestationRequest {
        image: a.target.image()?,
        key: a.key,
        kind,
    };
    let r = ops::verify_attestation(&req)?;
    if a.target.json {
        return super::json_out(&r);
    }
    let mut s = String::new();
    for v in &r.verified {
        s += &format!(
            "verified: {} attestation about {} ({}, envelope {})\n",
            kind.as_str(),
            v.digest,
            v.identity,
            v.layer
        );
    }
    super::summary(&s)
}
