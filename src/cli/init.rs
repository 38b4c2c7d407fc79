//! `kiln init`: writing a starting manifest atomically.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct InitArgs {
    /// The ELF executable the image exists to run.
    binary: PathBuf,
    /// Why the image exists: the binary's rationale, recorded in the manifest and SBOM.
    #[arg(long, value_name = "TEXT")]
    why: String,
    /// Where to write the manifest.
    #[arg(short, long, value_name = "FILE", default_value = "kiln.toml")]
    output: PathBuf,
    /// The image name (default: the binary's file name).
    #[arg(long)]
    name: Option<String>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Print JSON: the manifest written and the image name.
    #[arg(long)]
    json: bool,
}

pub(super) fn init(a: InitArgs) -> anyhow::Result<()> {
    if a.output.exists() && !a.force {
        anyhow::bail!(
            "{} already exists; kiln init will not overwrite it (use --force)",
            a.output.display()
        );
    }
    let text = crate::init::manifest(&a.binary, &a.why, a.name.as_deref(), &a.output)?;
    let dir = match a.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // `-o sub/dir/kiln.toml`: the folder is made once the manifest text is.
    fs_err::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".kiln-init-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(&a.output)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    if a.json {
        return super::json_out(&serde_json::json!({
            "manifest": a.output.display().to_string(),
            "build": format!("kiln build {}", a.output.display()),
        }));
    }
    super::summary(&format!(
        "wrote {m}\nbuild it with: kiln build {m}\n",
        m = a.output.display()
    ))
}
