//! `kiln pull`: a registry image into an `oci:` layout or an `oci-archive:`.
//!
//! Owns: the pull flags (`--platform`, `--all`, `--with-referrers`, the registry options it
//! shares with push) and turning them into an `ops::pull::PullRequest`, the progress bar, the
//! text and `--json` rendering of the report. Does not own: what a pull does (`ops::pull`),
//! the protocol or the layout update (`crate::registry::pull`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::push::{Bars, RegistryLogin};
use crate::image::output::Output;
use crate::ops::pull::PullRequest;
use crate::registry::pull::Select;

#[derive(clap::Args, Debug)]
pub(super) struct PullArgs {
    /// The image: docker://HOST[:PORT]/REPO[:TAG|@DIGEST].
    source: String,
    /// Where to: oci:DIR[:TAG] or oci-archive:FILE[:TAG] (TAG defaults to latest).
    destination: String,
    /// From an image index, this platform's image only (OS/ARCH[/VARIANT]), written as the tag.
    #[arg(long, value_name = "OS/ARCH", conflicts_with = "all")]
    platform: Option<String>,
    /// The whole image index and every platform's image.
    #[arg(long)]
    all: bool,
    /// Also fetch the image's referrers: kiln's SBOMs and plan, the referrers API's (or the
    /// sha256-DIGEST tag's) artifacts, cosign signatures and attestations (sha256-DIGEST.sig,
    /// .att).
    #[arg(long)]
    with_referrers: bool,
    /// Print JSON: reference, digest, platforms, blobs fetched and already present.
    #[arg(long)]
    json: bool,
    /// Concurrent blob downloads.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=16))]
    jobs: u64,
    /// Also write the pulled reference (HOST/REPO@sha256:...) to FILE.
    #[arg(long, value_name = "FILE")]
    image_refs: Option<std::path::PathBuf>,
    #[command(flatten)]
    registry: RegistryLogin,
}

pub(super) fn pull(a: PullArgs) -> anyhow::Result<()> {
    let select = match (a.all, a.platform) {
        (true, _) => Select::All,
        (false, Some(p)) => Select::Platform(p),
        (false, None) => Select::One,
    };
    let mut registry = a.registry.options(true)?;
    registry.jobs = a.jobs as usize;
    let req = PullRequest {
        source: crate::registry::Reference::parse(&a.source)?,
        destination: Output::parse(&a.destination)?,
        select,
        with_referrers: a.with_referrers,
        registry,
        image_refs: a.image_refs,
    };
    let progress: std::sync::Arc<dyn crate::registry::Progress> =
        match super::report::show_progress() && !a.json {
            true => std::sync::Arc::new(Bars::with_prefix("pulling")),
            false => std::sync::Arc::new(crate::registry::Quiet),
        };
    let s = crate::ops::pull::pull(&req, progress)?;
    if a.json {
        return super::json_out(&s);
    }
    super::summary(&format!("{} -> {}\n", s.reference, s.destination))
}
