//! `kiln ldd`: the resolver over files named on the command line (`ops::ldd`), rendered as a
//! tree, a list or JSON.
//!
//! Owns: the flags (`--cpu-level` a [`clap::ValueEnum`]), the tree and list text, each
//! unresolved file's `error:` line and the closures' warnings. Does not own: resolving
//! (`ops::ldd`, `resolve`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::out;
use super::render;
use crate::ops::ldd::FileError;
use crate::types::CpuLevel;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub(super) struct LddArgs {
    /// ELF executables or libraries.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Resolve inside this root (a sysroot of another architecture, an unpacked image)
    /// instead of `/`.
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
    /// Print the real paths of the whole closure, one per line, sorted (the loader included,
    /// the files themselves not).
    #[arg(long, conflicts_with = "json")]
    list: bool,
    /// Print JSON: per file, every object with soname, path, real path, needed-by edges and
    /// the rule that found it.
    #[arg(long)]
    json: bool,
    /// The x86-64 level the target CPU has at least: baseline, x86-64-v2, -v3 or -v4. It decides
    /// which glibc-hwcaps subdirectories are searched.
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = CpuLevelArg::Baseline)]
    cpu_level: CpuLevelArg,
    /// Also show what glibc loads at run time (libgcc_s, NSS modules, gconv, .note.dlopen).
    #[arg(long)]
    dlopen: bool,
}

/// `--cpu-level`: the spellings `types::CpuLevel::parse` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum CpuLevelArg {
    #[value(alias = "x86-64")]
    Baseline,
    #[value(name = "x86-64-v2", alias = "v2")]
    V2,
    #[value(name = "x86-64-v3", alias = "v3")]
    V3,
    #[value(name = "x86-64-v4", alias = "v4")]
    V4,
}

impl From<CpuLevelArg> for CpuLevel {
    fn from(l: CpuLevelArg) -> CpuLevel {
        match l {
            CpuLevelArg::Baseline => CpuLevel::Baseline,
            CpuLevelArg::V2 => CpuLevel::V2,
            CpuLevelArg::V3 => CpuLevel::V3,
            CpuLevelArg::V4 => CpuLevel::V4,
        }
    }
}

pub(super) fn ldd(a: LddArgs) -> anyhow::Result<()> {
    let req = crate::ops::ldd::LddRequest {
        files: a.files,
        sysroot: a.sysroot,
        cpu_level: a.cpu_level.into(),
        dlopen: a.dlopen,
    };
    let report = crate::ops::ldd::ldd(&req)?;
    let mut text = String::new();
    let mut list = std::collections::BTreeSet::new();
    for f in &report.files {
        let closure = match &f.closure {
            Ok(c) => c,
            Err(e) => {
                super::report::eprint_styled(&format!("error: {}: {}", f.file.display(), line(e)));
                continue;
            }
        };
        for w in &closure.warnings {
            super::report::warning(&format!("{}: {w}", f.file.display()));
        }
        if a.list {
            list.extend(closure.objects.iter().skip(1).map(|o| o.real.to_string()));
            list.extend(closure.data_files.iter().map(|(f, _)| f.real.to_string()));
        } else if !a.json {
            text += &ldd_tree(&f.file, closure);
        }
    }
    if a.list {
        text = list.into_iter().map(|p| p + "\n").collect();
    } else if a.json {
        text = super::json_text(&report)?;
    }
    out(&text)?;
    let failed = report.failed();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} could not be resolved (see above)",
            render::count(report.files.len(), "file", "files")
        );
    }
    Ok(())
}

/// A file's error on one line, as `kiln ldd` has always printed it: a read error with its
/// cause, a resolver's message alone.
fn line(e: &FileError) -> String {
    match e {
        FileError::Read { source, .. } => format!("{e}: {source}"),
        _ => e.to_string(),
    }
}

/// lddtree's layout: each object once, under the object that first loaded it.
pub(super) fn ldd_tree(file: &Path, c: &crate::resolve::Closure) -> String {
    let mut s = String::new();
    if c.is_static {
        return format!(
            "{} (statically linked: no loader, no shared libraries)\n",
            file.display()
        );
    }
    let interp = c
        .objects
        .iter()
        .find(|o| o.rule == crate::resolve::Rule::Interpreter);
    match interp {
        Some(i) => s += &format!("{} (interpreter => {})\n", file.display(), i.real),
        None => s += &format!("{}\n", file.display()),
    }
    fn walk(c: &crate::resolve::Closure, parent: usize, depth: usize, s: &mut String) {
        for (i, o) in c.objects.iter().enumerate() {
            if o.loader == Some(parent)
                && o.rule != crate::resolve::Rule::Interpreter
                && i != parent
            {
                let extra = match &o.rule {
                    crate::resolve::Rule::Dlopen(why) => format!("  [dlopen: {why}]"),
                    _ => String::new(),
                };
                s.push_str(&format!(
                    "{}{} => {}{extra}\n",
                    "    ".repeat(depth),
                    o.name,
                    o.real
                ));
                walk(c, i, depth + 1, s);
            }
        }
    }
    walk(c, 0, 1, &mut s);
    for (f, why) in &c.data_files {
        s += &format!("    {} [data: {why}]\n", f.real);
    }
    s
}
