//! `kiln ldd`: the resolver over files given by path, without a manifest: each file's
//! closure as the target's loader would find it (never by running it).
//!
//! Owns: turning host paths into image paths (inside the sysroot when they live there, else
//! their own absolute path), resolving every file in parallel over one memoising resolver,
//! the `--json` form of the closures. Does not own: the search order (`resolve`), the tree
//! and list text, printing (`cli`).
//! Invariant: never prints; a file that cannot be resolved is part of the report (the others
//! are still resolved), not an error of the op. No progress: the files are resolved on
//! worker threads, outside any `progress::scope`.

use crate::resolve::{self, Closure, Options, Resolver};
use crate::types::{CpuLevel, ImagePath};
use std::path::{Path, PathBuf};

/// The files to resolve and the target they are resolved for.
#[derive(Debug, Clone)]
pub struct LddRequest {
    /// ELF executables or libraries.
    pub files: Vec<PathBuf>,
    /// Resolve inside this root instead of `/`.
    pub sysroot: Option<PathBuf>,
    /// Decides which glibc-hwcaps subdirectories are searched.
    pub cpu_level: CpuLevel,
    /// Also what glibc loads at run time (libgcc_s, NSS modules, gconv, `.note.dlopen`).
    pub dlopen: bool,
}

/// Every file's closure, or why it has none, in the order given.
#[derive(Debug)]
pub struct LddReport {
    /// One report per file, in the order given.
    pub files: Vec<FileReport>,
}

/// One file given.
#[derive(Debug)]
pub struct FileReport {
    /// As given.
    pub file: PathBuf,
    /// Its closure (the objects it loads and how each was found), or why it has none.
    pub closure: Result<Closure, FileError>,
}

/// Why one file has no closure.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read {}", file.display())]
    Read {
        /// The file, as given.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Its path is not one an image can hold.
    #[error("cannot read {}: {path}: {why}", file.display())]
    ImagePath {
        /// The file, as given.
        file: PathBuf,
        /// The image path it would have.
        path: String,
        /// Why that path is invalid.
        why: String,
    },
    /// Its closure cannot be resolved (a library missing, with every directory searched, or unusable).
    #[error(transparent)]
    Resolve(Box<resolve::Error>),
}

/// Why nothing could be resolved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sysroot cannot be opened.
    #[error("cannot use sysroot {}", path.display())]
    Sysroot {
        /// The sysroot.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl LddReport {
    /// How many files could not be resolved.
    pub fn failed(&self) -> usize {
        self.files.iter().filter(|f| f.closure.is_err()).count()
    }
}

/// Resolves every file of `req`, in parallel.
pub fn ldd(req: &LddRequest) -> Result<LddReport, Error> {
    let root = match &req.sysroot {
        Some(r) => fs_err::canonicalize(r).map_err(|source| Error::Sysroot {
            path: r.clone(),
            source,
        })?,
        None => PathBuf::from("/"),
    };
    let overlay = std::collections::BTreeMap::new();
    let options = Options {
        image_files: None,
        hwcaps: req.cpu_level,
        dlopen: req.dlopen.then(|| resolve::DlopenPolicy {
            nss: read_nss(&root),
            ..Default::default()
        }),
    };
    let resolver = Resolver::new(&root, &overlay, options);
    let jobs = &req.files;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let files = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(jobs.len().div_ceil(threads).max(1))
            .map(|chunk| {
                let (resolver, root) = (&resolver, &root);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| FileReport {
                            file: f.clone(),
                            closure: image_path(f, root).and_then(|(ip, host)| {
                                resolver
                                    .closure(&ip, &host)
                                    .map_err(|e| FileError::Resolve(Box::new(e)))
                            }),
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
    Ok(LddReport { files })
}

/// A file's image path (inside `root` when it lives there, else its own absolute path) and
/// its canonical host path.
fn image_path(file: &Path, root: &Path) -> Result<(ImagePath, PathBuf), FileError> {
    let canon = fs_err::canonicalize(file).map_err(|source| FileError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let inner = match canon.strip_prefix(root) {
        Ok(rel) if root != Path::new("/") => format!("/{}", rel.display()),
        _ => canon.display().to_string(),
    };
    match ImagePath::parse(&inner) {
        Ok(p) => Ok((p, canon)),
        Err(why) => Err(FileError::ImagePath {
            file: file.to_path_buf(),
            path: inner,
            why,
        }),
    }
}

/// The target root's nsswitch.conf, for `--dlopen` (glibc's built-in default without one).
pub(crate) fn read_nss(root: &Path) -> resolve::Nss {
    match fs_err::read_to_string(root.join("etc/nsswitch.conf")) {
        Ok(t) => resolve::Nss::Text(t),
        Err(_) => resolve::Nss::Builtin,
    }
}

/// `--json`: `{"files": [...]}` with one object per resolved file (keys in sorted order, as
/// kiln has always printed them); files that could not be resolved are left out.
impl serde::Serialize for LddReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let files: Vec<serde_json::Value> = self
            .files
            .iter()
            .filter_map(|f| Some(file_json(&f.file, f.closure.as_ref().ok()?)))
            .collect();
        serde::Serialize::serialize(&serde_json::json!({ "files": files }), s)
    }
}

/// One file's closure as JSON: every object with soname, path, real path, needed-by edges,
/// chain and the rule that found it; the data files; the warnings.
fn file_json(file: &Path, c: &Closure) -> serde_json::Value {
    let objects: Vec<serde_json::Value> = c
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            serde_json::json!({
                "name": o.name,
                "soname": o.soname,
                "path": o.path,
                "real_path": o.real,
                "rule": o.rule.to_string(),
                "needed_by": o.needed_by.iter().map(|&n| c.objects[n].path.clone()).collect::<Vec<_>>(),
                "chain": c.chain(i),
            })
        })
        .collect();
    let data_files: Vec<serde_json::Value> = c
        .data_files
        .iter()
        .map(|(f, why)| serde_json::json!({"path": f.path, "real_path": f.real, "why": why}))
        .collect();
    serde_json::json!({
        "file": file.display().to_string(),
        "static": c.is_static,
        "objects": objects,
        "data_files": data_files,
        "warnings": c.warnings,
    })
}
