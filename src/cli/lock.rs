//! `kiln lock`: the flags, and the report of `ops::lock` as text or `--json`.
//!
//! Owns: rendering what was written. Does not own: making the Plans and writing the lock
//! (`ops::lock`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct LockArgs {
    /// The manifest (TOML).
    manifest: PathBuf,
    /// Print JSON: the lock file written and its counts.
    #[arg(long)]
    json: bool,
    /// Read every `[[source]]` archive's current release instead of the pinned one, and print
    /// the package versions that moved.
    #[arg(long)]
    update: bool,
}

pub(super) fn lock(a: LockArgs) -> anyhow::Result<()> {
    let req = crate::ops::lock::LockRequest {
        manifest: a.manifest,
        update: a.update,
    };
    let progress = super::report::Bars::for_this_run()
        .unwrap_or_else(|| std::sync::Arc::new(crate::progress::Silent));
    let r = crate::ops::lock::lock(&req, progress)?;
    if a.json {
        return super::json_out(&r);
    }
    let mut text = String::new();
    for c in &r.changes {
        text += &format!("  {c}\n");
    }
    text += &format!(
        "wrote {} ({} inputs, {} resolved files, {} packages)\n",
        r.lock.display(),
        r.inputs,
        r.resolved_files,
        r.packages
    );
    super::summary(&text)
}
