//! Resolves an ELF object's shared-library closure the way the target's dynamic loader would,
//! without running it.
//!
//! Owns: glibc's search order (PT_INTERP; then for each DT_NEEDED: DT_RPATH of the object and
//! of every object above it in the loading chain when the object has no DT_RUNPATH, DT_RUNPATH
//! of the object itself, the target's `ld.so.cache` (or, without one, its `ld.so.conf`
//! directories) and the default directories unless DF_1_NODEFLIB), `glibc-hwcaps`
//! subdirectories chosen by a stated target level, `$ORIGIN`/`$LIB`/`$PLATFORM` expansion,
//! compatibility checks on candidates (class, machine, byte order, OS ABI, shared type),
//! reuse of already loaded sonames, symbol-version checks, musl's search order, the
//! run-time loads glibc makes on its own (`dlopen`), the directories a program loads libraries
//! from itself (`loaded-from`: a soname found there is taken before any search), and the
//! "needed by" chain of every object.
//! Does not own: reading ELF bytes (`elf`), deciding image paths and modes (`plan`).
//! Invariant: a library that cannot be found is an error listing every directory tried; it is
//! never silently dropped. Nothing is executed.
//! Known gaps: hwcaps levels for architectures other than x86-64; `LD_LIBRARY_PATH` and `LD_PRELOAD` are
//! ignored on purpose (an image has no environment at build time).

mod cache;
mod dlopen;
mod ldconf;
mod view;

pub use dlopen::{DlopenPolicy, Nss, DEFAULT_GCONV, ICONV_RUNTIMES};
pub use view::{Found, Link, Lookup, Origin, OverlayNode, View};

use crate::elf::{self, ElfInfo};
use crate::types::{Arch, CpuLevel, ImagePath};
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
    /// The target's ld.so.cache.
    LdSoCache,
    /// A directory from the target's ld.so.conf (no ld.so.cache in the root).
    LdSoConf,
    /// The loader's built-in default directories.
    Default,
    /// musl's path file (`/etc/ld-musl-ARCH.path`) or its default path.
    MuslPath,
    /// musl's loader is also its libc: `libc.so` and friends are the loader itself.
    MuslBuiltin,
    /// Not in DT_NEEDED: loaded at run time, for the stated reason.
    Dlopen(String),
    /// In a directory the manifest says the program loads libraries from itself
    /// (`loaded-from`): the soname is already loaded when the DT_NEEDED is looked at.
    LoadedFrom(String),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Root => f.write_str("root"),
            Rule::Interpreter => f.write_str("PT_INTERP"),
            Rule::Path => f.write_str("path in DT_NEEDED"),
            Rule::Rpath(of) => write!(f, "DT_RPATH of {of}"),
            Rule::Runpath => f.write_str("DT_RUNPATH"),
            Rule::LdSoCache => f.write_str("ld.so.cache"),
            Rule::LdSoConf => f.write_str("ld.so.conf"),
            Rule::Default => f.write_str("default directories"),
            Rule::MuslPath => f.write_str("musl path"),
            Rule::MuslBuiltin => f.write_str("musl built-in"),
            Rule::Dlopen(why) => write!(f, "dlopen: {why}"),
            Rule::LoadedFrom(dir) => write!(f, "loaded-from {dir}"),
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
    /// Files the loader does not map but glibc opens at run time (gconv configuration).
    pub data_files: Vec<(Found, String)>,
    /// Things that will work differently at run time than kiln can promise.
    pub warnings: Vec<String>,
    /// The root is statically linked (no loader, no libraries).
    pub is_static: bool,
    /// The loader's default directories for this target (an image has no ld.so.cache, so a
    /// library the cache found elsewhere needs a link in one of these).
    pub defaults: Vec<String>,
    /// Every `[[waive]]` key that would leave out a load this closure makes at run time
    /// (`libgcc_s.so.1`, `nss:SERVICE`, `libnss_SERVICE.so.2`, `gconv`, `.note.dlopen`
    /// features and sonames): a waiver naming none of them waives nothing.
    pub waivable: Vec<String>,
}

impl Closure {
    /// Names from the root down to object `i`, e.g. `[/usr/bin/curl, libcurl.so.4, libzstd.so.1]`.
    pub fn chain(&self, i: usize) -> Vec<String> {
        chain(&self.objects, i)
    }
}

fn chain(objects: &[Object], i: usize) -> Vec<String> {
    let mut v = vec![];
    let mut cur = Some(i);
    while let Some(c) = cur {
        if v.len() > objects.len() {
            break;
        }
        v.push(objects[c].name.clone());
        cur = objects[c].loader;
    }
    v.reverse();
    v
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
    #[error("cannot load `{name}`, needed by {requester}: {path}: {reason}\n  chain: {}\n  (glibc stops here too: this is not a candidate it skips)", chain.join(" -> "))]
    Unloadable {
        name: String,
        requester: String,
        chain: Vec<String>,
        path: String,
        reason: String,
    },
    #[error("cannot find the dynamic loader {interpreter} (PT_INTERP of {object}) in {}", root.display())]
    NoInterpreter {
        interpreter: String,
        object: String,
        root: PathBuf,
    },
    #[error("{object} needs version `{version}` of {library}, but {found} does not define it{}", if defined.is_empty() { String::new() } else { format!(" (it defines {})", summarize(defined)) })]
    MissingVersion {
        object: String,
        version: String,
        library: String,
        found: String,
        defined: Vec<String>,
    },
    #[error(transparent)]
    Elf(#[from] elf::Error),
}

fn summarize(v: &[String]) -> String {
    if v.len() <= 6 {
        v.join(", ")
    } else {
        format!("{} ... {}", v[..3].join(", "), v[v.len() - 2..].join(", "))
    }
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

/// Which loader's rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Glibc,
    Musl,
}

/// The loader's facts for one target: default directories, `$LIB`/`$PLATFORM` values and the
/// glibc-hwcaps subdirectories in priority order.
#[derive(Clone, Debug)]
pub struct Target {
    pub defaults: Vec<String>,
    pub lib: String,
    pub platform: String,
    pub hwcaps: Vec<&'static str>,
    /// glibc's legacy hwcap subdirectories (searched until glibc 2.37), after glibc-hwcaps.
    pub legacy: Vec<&'static str>,
}

impl Target {
    /// Debian's multiarch layout for the machine and class of `info`.
    pub fn for_elf(info: &ElfInfo, level: CpuLevel) -> Target {
        let arch = Arch::from_elf_machine(info.machine);
        let triplet = match (arch, info.class) {
            (Some(Arch::Amd64), elf::Class::Elf32) => Some(("x86_64-linux-gnux32", "x86_64")),
            (Some(a), _) => Some((a.debian_triplet(), a.ld_platform())),
            (None, _) => None,
        };
        let x86_64 = arch == Some(Arch::Amd64) && info.class == elf::Class::Elf64;
        let hwcaps = if x86_64 {
            level.hwcaps_subdirs()
        } else {
            vec![]
        };
        // AT_PLATFORM and the one "important" hwcap are both `x86_64` on every x86-64 CPU, so
        // this list does not depend on the build host.
        let legacy = if x86_64 {
            vec![
                "tls/x86_64/x86_64",
                "tls/x86_64",
                "tls",
                "x86_64/x86_64",
                "x86_64",
            ]
        } else {
            vec!["tls"]
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
                hwcaps,
                legacy,
            },
            None => Target {
                defaults: vec!["/lib".into(), "/usr/lib".into()],
                lib: "lib".into(),
                platform: String::new(),
                hwcaps,
                legacy,
            },
        }
    }
}

/// Options of a resolution.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub hwcaps: CpuLevel,
    /// Add the objects glibc loads at run time (libgcc_s, NSS modules, gconv, .note.dlopen).
    pub dlopen: Option<DlopenPolicy>,
    /// The loader configuration files the image will hold (e.g. `/etc/ld-musl-x86_64.path`),
    /// by path. None: read them from the root (`kiln ldd`); Some: an image is being built, and
    /// a file not in the map will not exist at run time.
    pub image_files: Option<BTreeMap<String, String>>,
}

/// Resolves closures against one target root and one overlay.
pub struct Resolver<'a> {
    view: View<'a>,
    conf_dirs: Vec<String>,
    cache: Option<cache::Cache>,
    options: Options,
    /// Parsed ELF files by host path: a library is read once however many closures use it.
    parsed: std::sync::Mutex<BTreeMap<PathBuf, Result<ElfInfo, String>>>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        root: &'a Path,
        overlay: &'a BTreeMap<ImagePath, OverlayNode>,
        options: Options,
    ) -> Resolver<'a> {
        Resolver {
            view: View::new(root, overlay),
            conf_dirs: ldconf::directories(root),
            cache: cache::Cache::read(root),
            options,
            parsed: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Looks in the unpacked base image at `base` after the overlay, before the target root:
    /// what the base has is in the image already and never ships again.
    pub fn with_base(mut self, base: &'a Path) -> Resolver<'a> {
        self.view.base = Some(base);
        self
    }

    pub fn view(&self) -> &View<'a> {
        &self.view
    }

    /// `elf::read`, memoised. Errors are kept as their message: a file that failed to parse
    /// is reported the same way on every lookup.
    fn read_elf(&self, host: &Path) -> Result<ElfInfo, elf::Error> {
        if let Ok(m) = self.parsed.lock() {
            if let Some(r) = m.get(host) {
                return r.clone().map_err(|reason| elf::Error::Malformed {
                    path: host.to_path_buf(),
                    reason,
                });
            }
        }
        let r = elf::read(host);
        if let Ok(mut m) = self.parsed.lock() {
            match &r {
                Ok(info) => {
                    m.insert(host.to_path_buf(), Ok(info.clone()));
                }
                Err(elf::Error::Malformed { reason, .. }) => {
                    m.insert(host.to_path_buf(), Err(reason.clone()));
                }
                Err(_) => {}
            }
        }
        r
    }

    /// The closure of the object placed at `path` (a file in the overlay or the root).
    pub fn closure(&self, path: &ImagePath, host: &Path) -> Result<Closure, Error> {
        self.closure_loading(path, host, &[])
    }

    /// The closure of the object at `path` in a program that loads libraries from `loaded`
    /// (image directories) itself: a DT_NEEDED naming a file in one of them is that file,
    /// before the loader's search order is tried.
    pub fn closure_loading(
        &self,
        path: &ImagePath,
        host: &Path,
        loaded: &[ImagePath],
    ) -> Result<Closure, Error> {
        let loaded: Vec<String> = loaded.iter().map(ImagePath::to_string).collect();
        let loaded = loaded.as_slice();
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
            return Ok(Closure {
                objects,
                data_files: vec![],
                warnings,
                is_static: true,
                defaults: vec![],
                waivable: vec![],
            });
        }
        let target = Target::for_elf(&info, self.options.hwcaps);
        let flavor = match &info.interpreter {
            Some(i) if i.contains("ld-musl-") => Flavor::Musl,
            _ => Flavor::Glibc,
        };
        if let Some(interp) = &info.interpreter {
            let f = self.view.lookup(interp).map_err(|_| Error::NoInterpreter {
                interpreter: interp.clone(),
                object: path.to_string(),
                root: self.view.root.to_path_buf(),
            })?;
            let iinfo = self.read_elf(f.origin.host())?;
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
        self.load_needed(&mut objects, 0, &target, flavor, &info, loaded)?;
        if flavor == Flavor::Glibc {
            self.check_versions(&objects)?;
        }
        let mut data_files = Vec::new();
        let mut waivable = Vec::new();
        if let (Some(policy), Flavor::Glibc) = (&self.options.dlopen, flavor) {
            let wants = dlopen::wants(
                &objects,
                policy,
                &self.view,
                &target,
                &mut warnings,
                &mut waivable,
            );
            for want in wants {
                match want {
                    dlopen::Want::Library {
                        name,
                        alternatives,
                        requester,
                        reason,
                        required,
                    } => {
                        let names: Vec<String> =
                            std::iter::once(name.clone()).chain(alternatives).collect();
                        if names
                            .iter()
                            .any(|n| self.loaded(&objects, n, flavor).is_some())
                        {
                            continue;
                        }
                        let from = objects
                            .iter()
                            .position(|o| o.soname.as_deref() == Some("libc.so.6"))
                            .unwrap_or(requester);
                        let mut first_err = None;
                        let mut hit = None;
                        for n in &names {
                            match self.search(&objects, from, n, &target, flavor, &info, loaded) {
                                Ok(r) => {
                                    hit = Some((n.clone(), r));
                                    break;
                                }
                                Err(e) => {
                                    first_err.get_or_insert(e);
                                }
                            }
                        }
                        match (hit, first_err) {
                            (Some((n, (found, _, finfo))), _) => {
                                if objects.iter().any(|o| o.real == found.real) {
                                    continue;
                                }
                                let start = objects.len();
                                objects.push(Object {
                                    name: n,
                                    soname: finfo.soname.clone(),
                                    path: found.path.clone(),
                                    real: found.real,
                                    links: found.links,
                                    origin: found.origin,
                                    rule: Rule::Dlopen(reason),
                                    loader: Some(requester),
                                    needed_by: vec![requester],
                                    info: finfo,
                                });
                                self.load_needed(&mut objects, start, &target, flavor, &info, loaded)?;
                            }
                            (None, Some(e)) if required => return Err(e),
                            _ => warnings.push(format!("{name} is not in the target root ({reason}); it will be missing at run time")),
                        }
                    }
                    dlopen::Want::Data { found, reason } => data_files.push((found, reason)),
                }
            }
            self.check_versions(&objects)?;
        }
        Ok(Closure {
            objects,
            data_files,
            warnings,
            is_static: false,
            defaults: target.defaults.clone(),
            waivable,
        })
    }

    /// Breadth-first loading of DT_NEEDED from object `from` onwards, like glibc's
    /// `_dl_map_object_deps`.
    fn load_needed(
        &self,
        objects: &mut Vec<Object>,
        from: usize,
        target: &Target,
        flavor: Flavor,
        root_info: &ElfInfo,
        loaded: &[String],
    ) -> Result<(), Error> {
        let mut next = from;
        while next < objects.len() {
            let needed = objects[next].info.needed.clone();
            for name in needed {
                if let Some(j) = self.loaded(objects, &name, flavor) {
                    if !objects[j].needed_by.contains(&next) && j != next {
                        objects[j].needed_by.push(next);
                    }
                    continue;
                }
                let (found, rule, finfo) =
                    self.search(objects, next, &name, target, flavor, root_info, loaded)?;
                // The same file reached under another name is the same object.
                if let Some(j) = objects.iter().position(|o| o.real == found.real) {
                    if !objects[j].needed_by.contains(&next) {
                        objects[j].needed_by.push(next);
                    }
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
        Ok(())
    }

    /// An already loaded object that satisfies `name`.
    fn loaded(&self, objects: &[Object], name: &str, flavor: Flavor) -> Option<usize> {
        if flavor == Flavor::Musl && musl_builtin(name) {
            return objects.iter().position(|o| o.rule == Rule::Interpreter);
        }
        objects.iter().position(|o| {
            o.rule != Rule::Root
                && (o.name == name || o.soname.as_deref() == Some(name) || o.path == name)
        })
    }

    /// Every needed symbol version must be defined by the library that will be loaded.
    fn check_versions(&self, objects: &[Object]) -> Result<(), Error> {
        for o in objects {
            for need in &o.info.version_needs {
                let Some(lib) = objects.iter().find(|l| {
                    l.soname.as_deref() == Some(need.file.as_str()) || l.name == need.file
                }) else {
                    continue;
                };
                for (version, weak) in &need.versions {
                    if !weak && !lib.info.version_defs.contains(version) {
                        return Err(Error::MissingVersion {
                            object: o.path.clone(),
                            version: version.clone(),
                            library: need.file.clone(),
                            found: lib.real.to_string(),
                            defined: lib.info.version_defs.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
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
        let d = out.trim_end_matches('/').to_string();
        Some(if d.is_empty() { "/".into() } else { d })
    }

    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        objects: &[Object],
        req: usize,
        name: &str,
        target: &Target,
        flavor: Flavor,
        root_info: &ElfInfo,
        loaded: &[String],
    ) -> Result<(Found, Rule, ElfInfo), Error> {
        let requester = &objects[req];
        let mut searched = Vec::new();
        let mut skipped = Vec::new();
        let unloadable = |(path, reason): (String, String)| {
            let mut chain = chain(objects, req);
            chain.push(name.to_string());
            Error::Unloadable {
                name: name.to_string(),
                requester: requester.path.clone(),
                chain,
                path,
                reason,
            }
        };
        if name.contains('/') {
            match self.try_file(name, root_info, &mut skipped) {
                Attempt::Hit(f, i) => return Ok((f, Rule::Path, i)),
                Attempt::Fatal(p, r) => return Err(unloadable((p, r))),
                _ => {}
            }
            searched.push(Searched {
                rule: "path".into(),
                dirs: vec![name.to_string()],
            });
        } else {
            // Loaded by the program itself from its own directories (`loaded-from`).
            for d in loaded {
                match self.try_file(&format!("{d}/{name}"), root_info, &mut skipped) {
                    Attempt::Hit(f, i) => return Ok((f, Rule::LoadedFrom(d.clone()), i)),
                    Attempt::Fatal(p, r) => return Err(unloadable((p, r))),
                    _ => {}
                }
            }
            if !loaded.is_empty() {
                searched.push(Searched {
                    rule: "loaded-from".into(),
                    dirs: loaded.to_vec(),
                });
            }
            let mut steps: Vec<(Rule, String, Vec<String>)> = Vec::new();
            match flavor {
                Flavor::Glibc => {
                    if requester.info.runpath.is_empty() {
                        let mut l = Some(req);
                        let mut guard = 0;
                        while let Some(i) = l {
                            guard += 1;
                            if guard > objects.len() {
                                break;
                            }
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
                    if requester.info.nodeflib {
                        searched.extend(steps.iter().map(|(_, l, d)| Searched {
                            rule: l.clone(),
                            dirs: d.clone(),
                        }));
                        searched.push(Searched {
                            rule: "cache and default directories".into(),
                            dirs: vec![format!(
                                "(skipped: {} has DF_1_NODEFLIB)",
                                short(&requester.name)
                            )],
                        });
                        steps.clear();
                    }
                }
                Flavor::Musl => {
                    // musl: the RPATH/RUNPATH of the requester and of every object above it.
                    let mut l = Some(req);
                    let mut guard = 0;
                    while let Some(i) = l {
                        guard += 1;
                        if guard > objects.len() {
                            break;
                        }
                        let o = &objects[i];
                        let list = if o.info.runpath.is_empty() {
                            &o.info.rpath
                        } else {
                            &o.info.runpath
                        };
                        if !list.is_empty() {
                            let dirs = list
                                .iter()
                                .filter_map(|d| self.expand(d, o, target))
                                .collect();
                            steps.push((
                                Rule::Runpath,
                                format!("DT_RUNPATH/DT_RPATH of {}", short(&o.name)),
                                dirs,
                            ));
                        }
                        l = o.loader;
                    }
                    let (label, dirs) = self.musl_path(root_info);
                    steps.push((Rule::MuslPath, label, dirs));
                }
            }
            let glibc_defaults = flavor == Flavor::Glibc && !requester.info.nodeflib;
            for (rule, label, dirs) in steps {
                if let Some(r) = self
                    .try_dirs(&dirs, name, target, root_info, &mut skipped)
                    .map_err(unloadable)?
                {
                    return Ok((r.0, rule, r.1));
                }
                searched.push(Searched { rule: label, dirs });
            }
            if glibc_defaults {
                match &self.cache {
                    Some(cache) => {
                        for p in cache.lookup(name) {
                            let r = match self.try_file(p, root_info, &mut skipped) {
                                Attempt::Hit(f, i) => Some((f, i)),
                                Attempt::Fatal(p, r) => return Err(unloadable((p, r))),
                                _ => None,
                            };
                            if let Some(r) = r {
                                return Ok((r.0, Rule::LdSoCache, r.1));
                            }
                        }
                        searched.push(Searched {
                            rule: "ld.so.cache".into(),
                            dirs: cache.directories(),
                        });
                    }
                    None => {
                        if let Some(r) = self
                            .try_dirs(&self.conf_dirs, name, target, root_info, &mut skipped)
                            .map_err(unloadable)?
                        {
                            return Ok((r.0, Rule::LdSoConf, r.1));
                        }
                        searched.push(Searched {
                            rule: "ld.so.conf (no ld.so.cache)".into(),
                            dirs: self.conf_dirs.clone(),
                        });
                    }
                }
                if let Some(r) = self
                    .try_dirs(&target.defaults, name, target, root_info, &mut skipped)
                    .map_err(unloadable)?
                {
                    return Ok((r.0, Rule::Default, r.1));
                }
                searched.push(Searched {
                    rule: "default".into(),
                    dirs: target.defaults.clone(),
                });
            }
        }
        let mut chain = chain(objects, req);
        chain.push(name.to_string());
        Err(Error::Missing {
            name: name.to_string(),
            requester: requester.path.clone(),
            chain,
            searched,
            skipped,
        })
    }

    fn musl_path(&self, info: &ElfInfo) -> (String, Vec<String>) {
        let arch = Arch::from_elf_machine(info.machine)
            .and_then(Arch::musl_name)
            .unwrap_or("unknown");
        let file = format!("/etc/ld-musl-{arch}.path");
        let text = match &self.options.image_files {
            Some(files) => files.get(&file).cloned(),
            None => fs_err::read_to_string(
                self.view
                    .host_path(&ImagePath::parse(&file).expect("static path")),
            )
            .ok(),
        };
        match text {
            Some(text) => (
                file,
                text.split(['\n', ':'])
                    .map(str::trim)
                    .filter(|s| s.starts_with('/'))
                    .map(str::to_string)
                    .collect(),
            ),
            None => (
                "musl default path".into(),
                vec!["/lib".into(), "/usr/local/lib".into(), "/usr/lib".into()],
            ),
        }
    }

    /// Tries each directory of one search list (each with its eligible glibc-hwcaps and
    /// legacy subdirectories first), with glibc's `open_path` semantics.
    fn try_dirs(
        &self,
        dirs: &[String],
        name: &str,
        target: &Target,
        want: &ElfInfo,
        skipped: &mut Vec<(String, String)>,
    ) -> Result<Option<(Found, ElfInfo)>, (String, String)> {
        for d in dirs {
            let d = d.trim_end_matches('/');
            let subs = target
                .hwcaps
                .iter()
                .map(|s| format!("glibc-hwcaps/{s}/"))
                .chain(target.legacy.iter().map(|s| format!("{s}/")))
                .chain(std::iter::once(String::new()));
            let mut last = Attempt::Absent;
            for sub in subs {
                last = self.try_file(&format!("{d}/{sub}{name}"), want, skipped);
                match last {
                    Attempt::Hit(f, i) => return Ok(Some((f, i))),
                    Attempt::Fatal(p, r) => return Err((p, r)),
                    _ => {}
                }
            }
            // glibc gives up on the rest of this list when the last attempt in a directory
            // failed with anything but ENOENT or EACCES (a symlink loop, a file where a
            // directory should be).
            if let Attempt::Abort(p, why) = last {
                skipped.push((p, format!("{why}: glibc stops searching this list here")));
                return Ok(None);
            }
        }
        Ok(None)
    }

    fn try_file(&self, path: &str, want: &ElfInfo, skipped: &mut Vec<(String, String)>) -> Attempt {
        let found = match self.view.lookup(path) {
            Ok(f) => f,
            Err(Lookup::Missing) => return Attempt::Absent,
            Err(Lookup::NotADir) => {
                return Attempt::Abort(
                    path.to_string(),
                    "a component of the path is not a directory".into(),
                )
            }
            Err(Lookup::Loop) => return Attempt::Abort(path.to_string(), "symlink loop".into()),
            // open(2) succeeds on a directory and the first read fails: fatal in glibc.
            Err(Lookup::NotAFile) => {
                return Attempt::Fatal(
                    path.to_string(),
                    "cannot read file data: Is a directory".into(),
                )
            }
        };
        match self.read_elf(found.origin.host()) {
            Ok(info) if info.class != want.class || info.machine != want.machine => {
                // Not fatal in glibc: another class or machine is skipped and the search goes on.
                skipped.push((
                    path.to_string(),
                    format!("{}, need {}", info.describe(), want.describe()),
                ));
                Attempt::Skipped
            }
            Ok(info) if info.little_endian != want.little_endian => Attempt::Fatal(
                path.to_string(),
                "ELF file data encoding does not match".into(),
            ),
            Ok(info) if !matches!(info.osabi, 0 | 3) => {
                Attempt::Fatal(path.to_string(), "ELF file OS ABI invalid".into())
            }
            Ok(info) if info.elf_type == elf::ElfType::SharedObject && !info.pie => {
                Attempt::Hit(found, info)
            }
            Ok(info) if info.elf_type == elf::ElfType::SharedObject => Attempt::Fatal(
                path.to_string(),
                "cannot dynamically load position-independent executable".into(),
            ),
            Ok(info) if info.elf_type == elf::ElfType::Executable => Attempt::Fatal(
                path.to_string(),
                "cannot dynamically load executable".into(),
            ),
            Ok(_) => Attempt::Fatal(
                path.to_string(),
                "only ET_DYN and ET_EXEC can be loaded".into(),
            ),
            Err(elf::Error::NotElf { .. }) => {
                Attempt::Fatal(path.to_string(), "invalid ELF header".into())
            }
            Err(elf::Error::Malformed { reason, .. }) => {
                Attempt::Fatal(path.to_string(), format!("malformed ELF file: {reason}"))
            }
            Err(elf::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Attempt::Absent
            }
            Err(elf::Error::Io { source, .. }) => {
                Attempt::Fatal(path.to_string(), source.to_string())
            }
        }
    }
}

/// The outcome of trying one candidate path (short-lived; the size difference is harmless).
#[allow(clippy::large_enum_variant)]
enum Attempt {
    Hit(Found, ElfInfo),
    /// ENOENT or EACCES: try the next candidate.
    Absent,
    /// Another class or machine: try the next candidate.
    Skipped,
    /// ELOOP or ENOTDIR: glibc abandons the rest of this search list.
    Abort(String, String),
    /// glibc fails the whole load (invalid ELF header, a directory, wrong byte order, ...).
    Fatal(String, String),
}

/// musl's loader answers for these names itself (its libc, libpthread, librt, ...).
fn musl_builtin(name: &str) -> bool {
    ["c", "pthread", "rt", "m", "dl", "util", "xnet"]
        .iter()
        .any(|r| {
            let stem = format!("lib{r}.so");
            name == stem || name.starts_with(&format!("{stem}."))
        })
}

fn short(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_string()
}
