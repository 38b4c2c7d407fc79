//! Resolves an ELF object's shared-library closure the way glibc's ld.so would, without
//! running it.
//!
//! Owns: the search order (PT_INTERP; then for each DT_NEEDED: DT_RPATH of the object and its
//! loaders when the object has no DT_RUNPATH, DT_RUNPATH of the object itself, the target's
//! `ld.so.conf` directories, the default directories), `$ORIGIN`/`$LIB`/`$PLATFORM`
//! expansion, compatibility checks on candidates, reuse of already loaded sonames, and the
//! "needed by" chain of every object.
//! Does not own: reading ELF bytes (`elf`), deciding image paths and modes (`plan`).
//! Invariant: a library that cannot be found is an error listing every directory tried; it is
//! never silently dropped.
//! Known gaps (next steps): the binary `ld.so.cache` (its directories are read from
//! `ld.so.conf` instead), glibc-hwcaps subdirectories, symbol versions, dlopen'ed modules
//! (libgcc_s, NSS, gconv), musl's path file.

mod ldconf;
mod view;

pub use view::{Found, Link, Lookup, Origin, OverlayNode, View};

use crate::elf::{self, ElfInfo};
use crate::manifest::ImagePath;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// How an object was found: the rule of the search order that matched.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The object the closure starts from.
    Root,
    /// PT_INTERP of the root.
    Interpreter,
    /// A DT_NEEDED entry with a `/`, used as a path.
    Path,
    /// DT_RPATH of the named object (the requester or one of its loaders).
    Rpath(String),
    /// DT_RUNPATH of the requester.
    Runpath,
    /// A directory from the target's ld.so.conf.
    LdSoConf,
    /// The loader's built-in default directories.
    Default,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Root => f.write_str("root"),
            Rule::Interpreter => f.write_str("PT_INTERP"),
            Rule::Path => f.write_str("path in DT_NEEDED"),
            Rule::Rpath(of) => write!(f, "DT_RPATH of {of}"),
            Rule::Runpath => f.write_str("DT_RUNPATH"),
            Rule::LdSoConf => f.write_str("ld.so.conf"),
            Rule::Default => f.write_str("default"),
        }
    }
}

/// One loaded object of a closure.
#[derive(Clone, Debug)]
pub struct Object {
    /// The name it was asked for by (soname in DT_NEEDED, interpreter path, or root path).
    pub name: String,
    pub soname: Option<String>,
    /// The path the loader opens (may contain `..` from `$ORIGIN/..`).
    pub path: String,
    /// Its path with symlinks resolved.
    pub real: ImagePath,
    /// Symlinks met between `path` and `real`.
    pub links: Vec<Link>,
    pub origin: Origin,
    pub rule: Rule,
    /// Index of the object whose DT_NEEDED first loaded it (glibc's `l_loader`).
    pub loader: Option<usize>,
    /// Indices of every object that needs it.
    pub needed_by: Vec<usize>,
    pub info: ElfInfo,
}

/// The closure of one root object: index 0 is the root.
#[derive(Clone, Debug)]
pub struct Closure {
    pub objects: Vec<Object>,
    /// Things that will work differently at run time than kiln can promise.
    pub warnings: Vec<String>,
}

impl Closure {
    /// Names from the root down to object `i`, e.g. `[/usr/bin/curl, libcurl.so.4, libzstd.so.1]`.
    pub fn chain(&self, i: usize) -> Vec<String> {
        let mut v = vec![];
        let mut cur = Some(i);
        let mut guard = 0;
        while let Some(c) = cur {
            guard += 1;
            if guard > self.objects.len() + 1 {
                break;
            }
            v.push(self.objects[c].name.clone());
            cur = self.objects[c].loader;
        }
        v.reverse();
        v
    }
}

/// One step of the search order as it was walked for a name, for error messages.
#[derive(Clone, Debug)]
pub struct Searched {
    pub rule: String,
    pub dirs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot find `{name}`, needed by {requester}\n  chain: {}\n  searched, in order:\n{}{}", chain.join(" -> "), fmt_searched(searched), fmt_skipped(skipped))]
    Missing {
        name: String,
        requester: String,
        chain: Vec<String>,
        searched: Vec<Searched>,
        skipped: Vec<(String, String)>,
    },
    #[error("cannot find the dynamic loader {interpreter} (PT_INTERP of {object}) in {}", root.display())]
    NoInterpreter {
        interpreter: String,
        object: String,
        root: PathBuf,
    },
    #[error(transparent)]
    Elf(#[from] elf::Error),
}

fn fmt_searched(s: &[Searched]) -> String {
    let w = s.iter().map(|x| x.rule.len()).max().unwrap_or(0);
    s.iter()
        .map(|x| {
            let dirs = if x.dirs.is_empty() {
                "(none)".to_string()
            } else {
                x.dirs.join(", ")
            };
            format!("    {:w$}   {dirs}\n", x.rule)
        })
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn fmt_skipped(s: &[(String, String)]) -> String {
    s.iter()
        .map(|(p, why)| format!("\n  skipped: {p} ({why})"))
        .collect()
}

/// The loader's facts for one target: default directories and `$LIB`/`$PLATFORM` values.
#[derive(Clone, Debug)]
pub struct Target {
    pub defaults: Vec<String>,
    pub lib: String,
    pub platform: String,
}

impl Target {
    /// Debian's multiarch layout for the machine and class of `info`.
    pub fn for_elf(info: &ElfInfo) -> Target {
        let triplet = match (info.machine, info.class) {
            (62, elf::Class::Elf64) => Some(("x86_64-linux-gnu", "x86_64")),
            (62, elf::Class::Elf32) => Some(("x86_64-linux-gnux32", "x86_64")),
            (3, _) => Some(("i386-linux-gnu", "i686")),
            (183, _) => Some(("aarch64-linux-gnu", "aarch64")),
            (40, _) => Some(("arm-linux-gnueabihf", "v7l")),
            (243, _) => Some(("riscv64-linux-gnu", "riscv64")),
            (21, _) => Some(("powerpc64le-linux-gnu", "power8")),
            (22, _) => Some(("s390x-linux-gnu", "z196")),
            _ => None,
        };
        match triplet {
            Some((t, plat)) => Target {
                defaults: vec![
                    format!("/lib/{t}"),
                    format!("/usr/lib/{t}"),
                    "/lib".into(),
                    "/usr/lib".into(),
                ],
                lib: format!("lib/{t}"),
                platform: plat.into(),
            },
            None => Target {
                defaults: vec!["/lib".into(), "/usr/lib".into()],
                lib: "lib".into(),
                platform: String::new(),
            },
        }
    }
}

/// Resolves closures against one target root and one overlay.
pub struct Resolver<'a> {
    view: View<'a>,
    conf_dirs: Vec<String>,
}

impl<'a> Resolver<'a> {
    pub fn new(root: &'a Path, overlay: &'a BTreeMap<ImagePath, OverlayNode>) -> Resolver<'a> {
        Resolver {
            view: View { root, overlay },
            conf_dirs: ldconf::directories(root),
        }
    }

    pub fn view(&self) -> &View<'a> {
        &self.view
    }

    /// The closure of the object placed at `path` (a file in the overlay or the root).
    pub fn closure(&self, path: &ImagePath, host: &Path) -> Result<Closure, Error> {
        let info = elf::read(host)?;
        let found = self.view.lookup(path.as_str()).ok();
        let real = found.as_ref().map_or(path.clone(), |f| f.real.clone());
        let mut objects = vec![Object {
            name: path.to_string(),
            soname: info.soname.clone(),
            path: path.to_string(),
            real,
            links: found.map(|f| f.links).unwrap_or_default(),
            origin: Origin::Overlay(host.to_path_buf()),
            rule: Rule::Root,
            loader: None,
            needed_by: vec![],
            info: info.clone(),
        }];
        let mut warnings = Vec::new();
        if !info.dynamic || (info.interpreter.is_none() && info.needed.is_empty()) {
            return Ok(Closure { objects, warnings });
        }
        let target = Target::for_elf(&info);
        if let Some(interp) = &info.interpreter {
            let f = self.view.lookup(interp).map_err(|_| Error::NoInterpreter {
                interpreter: interp.clone(),
                object: path.to_string(),
                root: self.view.root.to_path_buf(),
            })?;
            let iinfo = elf::read(f.origin.host())?;
            objects.push(Object {
                name: interp.clone(),
                soname: iinfo.soname.clone(),
                path: interp.clone(),
                real: f.real,
                links: f.links,
                origin: f.origin,
                rule: Rule::Interpreter,
                loader: Some(0),
                needed_by: vec![0],
                info: iinfo,
            });
        }
        // Breadth-first, like glibc's _dl_map_object_deps.
        let mut next = 0;
        while next < objects.len() {
            let needed = objects[next].info.needed.clone();
            for name in needed {
                if let Some(j) = objects
                    .iter()
                    .position(|o| o.name == name || o.soname.as_deref() == Some(&name))
                {
                    if !objects[j].needed_by.contains(&next) && j != next {
                        objects[j].needed_by.push(next);
                    }
                    continue;
                }
                let (found, rule, finfo) =
                    self.search(&objects, next, &name, &target, &info, &mut warnings)?;
                // The same file reached under another name is the same object.
                if let Some(j) = objects.iter().position(|o| o.real == found.real) {
                    objects[j].needed_by.push(next);
                    continue;
                }
                objects.push(Object {
                    name: name.clone(),
                    soname: finfo.soname.clone(),
                    path: found.path.clone(),
                    real: found.real,
                    links: found.links,
                    origin: found.origin,
                    rule,
                    loader: Some(next),
                    needed_by: vec![next],
                    info: finfo,
                });
            }
            next += 1;
        }
        Ok(Closure { objects, warnings })
    }

    fn expand(&self, s: &str, obj: &Object, target: &Target) -> Option<String> {
        let origin = if obj.rule == Rule::Root {
            obj.real
                .parent()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "/".into())
        } else {
            obj.path.rsplit_once('/').map(|(d, _)| {
                if d.is_empty() {
                    "/".to_string()
                } else {
                    d.to_string()
                }
            })?
        };
        let mut out = s.to_string();
        for (var, val) in [
            ("ORIGIN", origin.as_str()),
            ("LIB", target.lib.as_str()),
            ("PLATFORM", target.platform.as_str()),
        ] {
            out = out
                .replace(&format!("${{{var}}}"), val)
                .replace(&format!("${var}"), val);
        }
        if out.contains('$') || !out.starts_with('/') {
            // glibc drops path elements with unknown tokens; relative ones are relative to the
            // process's working directory, which kiln does not model.
            return None;
        }
        Some(out.trim_end_matches('/').to_string())
            .map(|d| if d.is_empty() { "/".into() } else { d })
    }

    fn search(
        &self,
        objects: &[Object],
        req: usize,
        name: &str,
        target: &Target,
        root_info: &ElfInfo,
        warnings: &mut Vec<String>,
    ) -> Result<(Found, Rule, ElfInfo), Error> {
        let requester = &objects[req];
        let mut searched = Vec::new();
        let mut skipped = Vec::new();
        if name.contains('/') {
            if let Some(r) = self.try_dir("", name, root_info, &mut skipped) {
                return Ok((r.0, Rule::Path, r.1));
            }
            searched.push(Searched {
                rule: "path".into(),
                dirs: vec![name.to_string()],
            });
        } else {
            let mut steps: Vec<(Rule, String, Vec<String>)> = Vec::new();
            if requester.info.runpath.is_empty() {
                let mut l = Some(req);
                while let Some(i) = l {
                    let o = &objects[i];
                    if o.info.runpath.is_empty() && !o.info.rpath.is_empty() {
                        let dirs = o
                            .info
                            .rpath
                            .iter()
                            .filter_map(|d| self.expand(d, o, target))
                            .collect();
                        let label = short(&o.name);
                        steps.push((
                            Rule::Rpath(label.clone()),
                            format!("DT_RPATH of {label}"),
                            dirs,
                        ));
                    }
                    l = o.loader;
                }
            }
            let runpath: Vec<String> = requester
                .info
                .runpath
                .iter()
                .filter_map(|d| self.expand(d, requester, target))
                .collect();
            steps.push((
                Rule::Runpath,
                format!("DT_RUNPATH of {}", short(&requester.name)),
                runpath,
            ));
            steps.push((Rule::LdSoConf, "ld.so.conf".into(), self.conf_dirs.clone()));
            steps.push((Rule::Default, "default".into(), target.defaults.clone()));
            for (rule, label, dirs) in steps {
                for d in &dirs {
                    if let Some((found, info)) = self.try_dir(d, name, root_info, &mut skipped) {
                        if rule == Rule::LdSoConf && !target.defaults.contains(d) {
                            warnings.push(format!(
                                "{name} was found in {d}, a directory from ld.so.conf; the image has no ld.so.cache, so the loader will not search there at run time"
                            ));
                        }
                        return Ok((found, rule, info));
                    }
                }
                searched.push(Searched { rule: label, dirs });
            }
        }
        let mut chain: Vec<String> = {
            let c = Closure {
                objects: objects.to_vec(),
                warnings: vec![],
            };
            c.chain(req)
        };
        chain.push(name.to_string());
        Err(Error::Missing {
            name: name.to_string(),
            requester: requester.path.clone(),
            chain,
            searched,
            skipped,
        })
    }

    fn try_dir(
        &self,
        dir: &str,
        name: &str,
        want: &ElfInfo,
        skipped: &mut Vec<(String, String)>,
    ) -> Option<(Found, ElfInfo)> {
        let path = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", dir.trim_end_matches('/'))
        };
        let found = match self.view.lookup(&path) {
            Ok(f) => f,
            Err(Lookup::Missing) => return None,
            Err(Lookup::NotAFile) => {
                skipped.push((path, "not a regular file".into()));
                return None;
            }
            Err(Lookup::Loop) => {
                skipped.push((path, "symlink loop".into()));
                return None;
            }
        };
        match elf::read(found.origin.host()) {
            Ok(info)
                if want.compatible(&info) && info.elf_type == elf::ElfType::SharedObject
                    || want.compatible(&info)
                        && info.elf_type == elf::ElfType::Executable
                        && info.dynamic =>
            {
                Some((found, info))
            }
            Ok(info) if !want.compatible(&info) => {
                skipped.push((
                    path,
                    format!("{}, need {}", info.describe(), want.describe()),
                ));
                None
            }
            Ok(_) => {
                skipped.push((path, "not a shared object".into()));
                None
            }
            Err(e) => {
                skipped.push((
                    path,
                    format!("{e}")
                        .rsplit(": ")
                        .next()
                        .unwrap_or("unreadable")
                        .to_string(),
                ));
                None
            }
        }
    }
}

fn short(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_string()
}
