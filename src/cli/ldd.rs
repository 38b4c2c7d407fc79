//! `kiln ldd`: the resolver over files named on the command line, as a tree, a list or JSON.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::out;
use super::render;
use anyhow::Context;
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
    #[arg(long, value_name = "LEVEL", default_value = "baseline")]
    cpu_level: String,
    /// Also show what glibc loads at run time (libgcc_s, NSS modules, gconv, .note.dlopen).
    #[arg(long)]
    dlopen: bool,
}

pub(super) fn ldd(a: LddArgs) -> anyhow::Result<()> {
    use crate::resolve::{Options, Resolver};
    use crate::types::CpuLevel;
    use crate::types::ImagePath;
    let level = CpuLevel::parse(&a.cpu_level).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown --cpu-level {:?}; one of: baseline, x86-64-v2, x86-64-v3, x86-64-v4",
            a.cpu_level
        )
    })?;
    let root = match &a.sysroot {
        Some(r) => fs_err::canonicalize(r)
            .with_context(|| format!("cannot use sysroot {}", r.display()))?,
        None => PathBuf::from("/"),
    };
    let overlay = std::collections::BTreeMap::new();
    let options = Options {
        image_files: None,
        hwcaps: level,
        dlopen: a.dlopen.then(|| crate::resolve::DlopenPolicy {
            nss: read_nss(&root),
            ..Default::default()
        }),
    };
    let resolver = Resolver::new(&root, &overlay, options);
    // Each file's image path: inside the root when it lives there, else its own absolute path.
    type Job = (PathBuf, Result<(ImagePath, PathBuf), String>);
    let jobs: Vec<Job> = a
        .files
        .iter()
        .map(|f| {
            let r = fs_err::canonicalize(f)
                .map_err(|e| e.to_string())
                .and_then(|canon| {
                    let inner = match canon.strip_prefix(&root) {
                        Ok(rel) if root != Path::new("/") => format!("/{}", rel.display()),
                        _ => canon.display().to_string(),
                    };
                    ImagePath::parse(&inner)
                        .map(|p| (p, canon.clone()))
                        .map_err(|e| format!("{inner}: {e}"))
                });
            (f.clone(), r)
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let results: Vec<_> = std::thread::scope(|s| {
        let chunks: Vec<_> = jobs.chunks(jobs.len().div_ceil(threads).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let resolver = &resolver;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(f, job)| match job {
                            Ok((ip, host)) => (
                                f.clone(),
                                resolver.closure(ip, host).map_err(|e| e.to_string()),
                            ),
                            Err(e) => (f.clone(), Err(format!("cannot read {}: {e}", f.display()))),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut failed = 0;
    let mut text = String::new();
    let mut list = std::collections::BTreeSet::new();
    let mut json = Vec::new();
    for (file, r) in &results {
        let closure = match r {
            Ok(c) => c,
            Err(e) => {
                failed += 1;
                super::report::eprint_styled(&format!("error: {}: {e}", file.display()));
                continue;
            }
        };
        for w in &closure.warnings {
            super::report::warning(&format!("{}: {w}", file.display()));
        }
        if a.list {
            list.extend(closure.objects.iter().skip(1).map(|o| o.real.to_string()));
            list.extend(closure.data_files.iter().map(|(f, _)| f.real.to_string()));
        } else if a.json {
            json.push(ldd_json(file, closure));
        } else {
            text += &ldd_tree(file, closure);
        }
    }
    if a.list {
        text = list.into_iter().map(|p| p + "\n").collect();
    } else if a.json {
        text = super::json_text(&serde_json::json!({ "files": json }))?;
    }
    out(&text)?;
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} could not be resolved (see above)",
            render::count(results.len(), "file", "files")
        );
    }
    Ok(())
}

/// The target root's nsswitch.conf, for `kiln ldd --dlopen`.
pub(super) fn read_nss(root: &Path) -> crate::resolve::Nss {
    match fs_err::read_to_string(root.join("etc/nsswitch.conf")) {
        Ok(t) => crate::resolve::Nss::Text(t),
        Err(_) => crate::resolve::Nss::Builtin,
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

pub(super) fn ldd_json(file: &Path, c: &crate::resolve::Closure) -> serde_json::Value {
    let objects: Vec<serde_json::Value> = c
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "name": o.name,
                "soname": o.soname,
                "path": o.path,
                "real_path": o.real,
                "rule": o.rule.to_string(),
                "needed_by": o.needed_by.iter().map(|&i| c.objects[i].path.clone()).collect::<Vec<_>>(),
                "chain": c.chain(c.objects.iter().position(|x| std::ptr::eq(x, o)).unwrap_or(0)),
            })
        })
        .collect();
    serde_json::json!({
        "file": file.display().to_string(),
        "static": c.is_static,
        "objects": objects,
        "data_files": c.data_files.iter().map(|(f, why)| serde_json::json!({"path": f.path, "real_path": f.real, "why": why})).collect::<Vec<_>>(),
        "warnings": c.warnings,
    })
}
