//! `kiln gc`: removing the blobs of an `oci:` layout that no tag reaches.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::out;
use crate::oci::gc;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct GcArgs {
    /// The layout: oci:DIR (all its tags are kept).
    layout: String,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON: {"schema":1,"layout","dry_run","removed":[{"digest","size"}],"blobs","bytes"}.
    #[arg(long)]
    json: bool,
}

/// `oci:DIR` (no tag: garbage is what no tag reaches).
fn layout_dir(spec: &str) -> anyhow::Result<PathBuf> {
    let Some(rest) = spec.strip_prefix("oci:") else {
        anyhow::bail!(
            "`kiln gc` works on an OCI layout folder, not `{spec}`\n\nhint: name it as oci:DIR (an oci-archive is rewritten whole by every build, so it holds no garbage)"
        );
    };
    if rest.is_empty() || rest.contains(':') {
        anyhow::bail!(
            "`kiln gc` takes a whole layout, oci:DIR, not `{spec}`\n\nhint: every tag of the layout is kept; leave out `:TAG`"
        );
    }
    Ok(PathBuf::from(rest))
}

pub(super) fn gc(a: GcArgs) -> anyhow::Result<()> {
    let dir = layout_dir(&a.layout)?;
    let garbage = gc::collect(&dir, a.dry_run)?;
    let bytes = garbage.bytes();
    if a.json {
        #[derive(serde::Serialize)]
        struct Removed<'a> {
            digest: &'a crate::digest::Digest,
            size: u64,
        }
        #[derive(serde::Serialize)]
        struct Report<'a> {
            layout: String,
            dry_run: bool,
            removed: Vec<Removed<'a>>,
            blobs: usize,
            bytes: u64,
        }
        let r = Report {
            layout: a.layout.clone(),
            dry_run: a.dry_run,
            removed: garbage
                .blobs
                .iter()
                .map(|(digest, size)| Removed {
                    digest,
                    size: *size,
                })
                .collect(),
            blobs: garbage.blobs.len(),
            bytes,
        };
        return super::json_out(&r);
    }
    let verb = if a.dry_run { "would remove" } else { "removed" };
    let mut s = format!(
        "{verb} {} ({}) from {}\n",
        super::render::count(garbage.blobs.len(), "blob", "blobs"),
        mib(bytes),
        dir.display()
    );
    for (d, size) in &garbage.blobs {
        s += &format!("  {d} {size:>12} bytes\n");
    }
    out(&s)
}

/// `3.1 MiB`, or bytes below 1 MiB's tenth.
pub(super) fn mib(bytes: u64) -> String {
    if bytes < 104_858 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MiB", bytes as f64 / 1048576.0)
    }
}

/// The line `kiln build` prints when it moved a tag: what the previous image left behind.
pub(super) fn replaced_line(r: &crate::image::Replaced, dir: &std::path::Path) -> String {
    if r.unreachable_blobs == 0 {
        return format!(
            "  replaced  {} (the previous image, {}, is still reachable through another tag)\n",
            r.tag, r.previous
        );
    }
    format!(
        "  replaced  {} (previous image: {}, {} now unreachable; `kiln gc oci:{}` removes them)\n",
        r.tag,
        super::render::count(r.unreachable_blobs, "blob", "blobs"),
        mib(r.unreachable_bytes),
        dir.display()
    )
}
