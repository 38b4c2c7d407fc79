//! The validated manifest model and the checks that produce it from `raw`.

use super::raw::{RawComponent, RawManifest, RawOwnership, S};
use super::suggest::did_you_mean;
use super::values::{self, shown, AccountName, PasswdField, Refusal};
use crate::span::{Diagnostic, Location, SourceFile, Span};
use crate::types::{ComponentKind, CpuLevel, Gconv, ImagePath, LayerKind, Platform};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod debian;
pub use debian::{PackageRequest, PackageWaiver, SourceSpec};

/// A validated manifest.
#[derive(Debug)]
pub struct Manifest {
    /// The manifest's text, for rendering errors with their source line.
    pub file: Arc<SourceFile>,
    /// The manifest's folder, canonical; relative sources are resolved against it.
    pub dir: PathBuf,
    /// The `[image]` table.
    pub image: ImageSpec,
    /// The `[[component]]`s, in manifest order.
    pub components: Vec<Component>,
    /// Run-time loads left out on purpose (`[[waive]]`): key → reason.
    pub waivers: Vec<Waiver>,
    /// `[image] gconv`: which converter modules ship when a program calls `iconv_open`.
    pub gconv: Gconv,
    /// `[[source]]`: the Debian archives `deb` components may take packages from.
    pub sources: Vec<SourceSpec>,
    /// `[[waive]] package = ...`: packages dependency closures leave out.
    pub package_waivers: Vec<PackageWaiver>,
}

/// A run-time load (dlopen) the manifest leaves out, with its reason.
#[derive(Clone, Debug)]
pub struct Waiver {
    /// `libgcc_s.so.1`, `nss:SERVICE`, `gconv`, a soname, a `.note.dlopen` feature, or
    /// `shell:PATH` (a program's shell use in an image without `/bin/sh`).
    pub load: String,
    /// Why the load may be left out, as written.
    pub why: String,
    /// Where the `[[waive]]` table is.
    pub location: Location,
}

/// The validated `[image]` table: name and run configuration.
#[derive(Debug)]
pub struct ImageSpec {
    /// The image's name.
    pub name: String,
    /// `entrypoint`, when given.
    pub entrypoint: Option<Vec<String>>,
    /// `cmd`, when given.
    pub cmd: Option<Vec<String>>,
    /// Numeric `uid:gid`, resolved against the accounts components.
    pub user: (u32, u32),
    /// The working directory (`/` unless given).
    pub workdir: ImagePath,
    /// `env`: variables set in the image config (PATH and SSL_CERT_FILE are added by `plan`).
    pub env: BTreeMap<String, String>,
    /// Canonical `PORT/PROTO`.
    pub ports: Vec<String>,
    /// `labels` of the image config.
    pub labels: BTreeMap<String, String>,
    /// `annotations` of the image manifest.
    pub annotations: BTreeMap<String, String>,
    /// The x86-64 level the image's CPUs have at least (decides glibc-hwcaps directories).
    pub cpu_level: CpuLevel,
    /// The root libraries are resolved in (default `/`).
    pub sysroot: Option<SourcePath>,
    /// The platform this manifest was selected for, when `platforms` lists several.
    pub platform: Option<Platform>,
    /// Where the program that runs is named: `entrypoint[0]`, else `cmd[0]`, else `[image]`.
    pub program_location: Location,
    /// `[image] base`: the image this one is built on, as written (`plan` opens it).
    pub base: Option<BaseSpec>,
    /// Whether the manifest gave `user` (else a base image's user, or 65532:65532, applies).
    pub user_given: bool,
    /// Whether the manifest gave `workdir` (else a base image's, or `/`).
    pub workdir_given: bool,
}

/// `[image] base`: the reference as written and where.
#[derive(Clone, Debug)]
pub struct BaseSpec {
    /// The base image reference, as written (`docker://...`, `oci:...`, `oci-archive:...`).
    pub reference: String,
    /// Where the manifest gives it.
    pub location: Location,
}

/// Who owns a component and when it goes: the ownership statement of every component.
/// Serialised (the plan JSON) with snake_case keys, as every JSON kiln writes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ownership {
    /// `owner`: who answers for the component.
    pub owner: Option<String>,
    /// `capabilities`: what the component lets the image do.
    pub capabilities: Vec<String>,
    /// `cadence`: how often it is updated.
    pub cadence: Option<String>,
    /// `remove-when`: the condition under which it goes.
    pub remove_when: Option<String>,
}

/// One validated `[[component]]`: what it places, why, and in which layer.
#[derive(Debug)]
pub struct Component {
    /// The component's unique name.
    pub name: String,
    /// Why the image needs it (`why`, never empty).
    pub why: String,
    /// Who owns it and when it goes, `[defaults]` filled in.
    pub ownership: Ownership,
    /// The layer its files go to.
    pub layer: LayerKind,
    /// What it places, by kind.
    pub spec: ComponentSpec,
    /// `loaded-from` (elf and tree): image directories the program loads libraries from
    /// itself (a JVM's `lib/server`), so a DT_NEEDED of its objects that names a library in
    /// one of them is that library, whatever the loader's search order would find.
    pub loaded_from: Vec<LoadedFrom>,
    /// Where the component's `[[component]]` table starts, for errors about it.
    pub location: Location,
    /// `replace = true`: the component may place paths a base image already has.
    pub replace: bool,
}

/// One `loaded-from` directory, with where the manifest names it.
#[derive(Clone, Debug)]
pub struct LoadedFrom {
    /// The image directory.
    pub dir: ImagePath,
    /// Where the manifest names it.
    pub location: Location,
}

/// A file on the build host named by the manifest.
#[derive(Clone, Debug)]
pub struct SourcePath {
    /// As written in the manifest.
    pub written: String,
    /// Absolute: relative paths are joined to the manifest's folder.
    pub host: PathBuf,
    /// Whether it was relative (and so must stay inside the manifest's folder).
    pub relative: bool,
    /// Where the manifest names it.
    pub location: Location,
}

/// Where a `file` component's bytes come from.
#[derive(Clone, Debug)]
pub enum FileContent {
    /// `from`: a host file.
    Path(SourcePath),
    /// `content`: the text itself.
    Inline(String),
}

/// An account in /etc/passwd. Every text field is checked ([`AccountName`], [`PasswdField`]),
/// so a passwd line made of them has exactly seven fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: AccountName,
    /// The numeric user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The fifth passwd field; the user's name unless the manifest gives `gecos`.
    pub gecos: PasswdField,
    /// An absolute, normalised image path.
    pub home: PasswdField,
    /// The login shell: an absolute image path.
    pub shell: PasswdField,
}

impl User {
    /// The user's `/etc/passwd` line, with its newline.
    pub fn passwd_line(&self) -> String {
        format!(
            "{}:x:{}:{}:{}:{}:{}\n",
            self.name, self.uid, self.gid, self.gecos, self.home, self.shell
        )
    }
}

/// A group in /etc/group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The group name.
    pub name: AccountName,
    /// The numeric group id.
    pub gid: u32,
    /// Its supplementary members.
    pub members: Vec<AccountName>,
}

impl Group {
    /// The group's `/etc/group` line, with its newline.
    pub fn group_line(&self) -> String {
        let members: Vec<&str> = self.members.iter().map(AccountName::as_str).collect();
        format!("{}:x:{}:{}\n", self.name, self.gid, members.join(","))
    }
}

/// What a component places, by kind, with the kind's fields validated.
#[derive(Debug)]
pub enum ComponentSpec {
    /// `kind = "elf"`: one program or library and, unless `resolve = false`, its loader and libraries.
    Elf {
        /// The host file.
        from: SourcePath,
        /// Its image path.
        to: ImagePath,
        /// `mode`, else 0755 for an executable host file and 0644 otherwise.
        mode: Option<u32>,
        /// Owner uid.
        uid: u32,
        /// Owner gid.
        gid: u32,
        /// `resolve` (default true): whether its shared-library closure ships.
        resolve: bool,
    },
    /// `kind = "file"`: one file.
    File {
        /// Its bytes: a host file or inline text.
        content: FileContent,
        /// Its image path.
        to: ImagePath,
        /// `mode`, else 0755 for an executable host file and 0644 otherwise (inline content: 0644).
        mode: Option<u32>,
        /// Owner uid.
        uid: u32,
        /// Owner gid.
        gid: u32,
    },
    /// `kind = "tree"`: a host directory tree.
    Tree {
        /// The host directory.
        from: SourcePath,
        /// The image directory it is placed at.
        to: ImagePath,
        /// Globs of the paths to keep, relative to `from` (`**` unless given).
        include: Vec<String>,
        /// Globs of the paths to leave out.
        exclude: Vec<String>,
        /// Owner uid of every entry.
        uid: u32,
        /// Owner gid of every entry.
        gid: u32,
        /// `resolve` (default true): whether the closures of its ELF files ship.
        resolve: bool,
    },
    /// `kind = "dir"`: an empty directory.
    Dir {
        /// Its image path.
        to: ImagePath,
        /// Its mode.
        mode: u32,
        /// Owner uid.
        uid: u32,
        /// Owner gid.
        gid: u32,
    },
    /// `kind = "symlink"`: a symbolic link.
    Symlink {
        /// The link's image path.
        to: ImagePath,
        /// What the link points at, as written.
        target: String,
    },
    /// `kind = "accounts"`: `/etc/passwd` and `/etc/group`.
    Accounts {
        /// The users, in manifest order.
        users: Vec<User>,
        /// The groups, in manifest order.
        groups: Vec<Group>,
    },
    /// `kind = "ca-bundle"`: one PEM file concatenated from host files.
    CaBundle {
        /// The bundles to start from.
        from: Vec<SourcePath>,
        /// More PEM files appended after them.
        extra: Vec<SourcePath>,
        /// The bundle's image path.
        to: ImagePath,
    },
    /// `kind = "tzdata"`: zoneinfo files.
    Tzdata {
        /// The zones to ship; every zone when `None`.
        zones: Option<Vec<String>>,
        /// The host zoneinfo directory.
        from: SourcePath,
        /// The image directory they go to.
        to: ImagePath,
    },
    /// `kind = "os-release"`: an os-release file.
    OsRelease {
        /// Its `KEY=value` fields, checked.
        fields: BTreeMap<String, String>,
        /// Its image path.
        to: ImagePath,
    },
    /// The files of `[image] base`: they are in the base's layers, never copied.
    Base,
    /// `kind = "deb"`: Debian packages' files, from archives or the target root's database.
    Deb {
        /// `packages`, as asked.
        packages: Vec<PackageRequest>,
        /// `source`: the `[[source]]` names, with where each is named; empty: the target
        /// root's dpkg database.
        sources: Vec<(String, Location)>,
        /// Absolute image-path globs of the files to keep (all unless given).
        include: Vec<String>,
        /// Absolute image-path globs to leave out, after kiln's defaults (docs, man pages,
        /// locales).
        exclude: Vec<String>,
        /// `depends` (default true): whether the Depends/Pre-Depends closure ships.
        depends: bool,
    },
}

impl ComponentSpec {
    /// The kind this spec is.
    pub fn component_kind(&self) -> ComponentKind {
        match self {
            ComponentSpec::Elf { .. } => ComponentKind::Elf,
            ComponentSpec::File { .. } => ComponentKind::File,
            ComponentSpec::Tree { .. } => ComponentKind::Tree,
            ComponentSpec::Dir { .. } => ComponentKind::Dir,
            ComponentSpec::Symlink { .. } => ComponentKind::Symlink,
            ComponentSpec::Accounts { .. } => ComponentKind::Accounts,
            ComponentSpec::CaBundle { .. } => ComponentKind::CaBundle,
            ComponentSpec::Tzdata { .. } => ComponentKind::Tzdata,
            ComponentSpec::OsRelease { .. } => ComponentKind::OsRelease,
            ComponentSpec::Base => ComponentKind::Base,
            ComponentSpec::Deb { .. } => ComponentKind::Deb,
        }
    }

    /// The kind's name as the manifest's `kind` spells it.
    pub fn kind(&self) -> &'static str {
        self.component_kind().as_str()
    }
}

const KINDS: &[&str] = &ComponentKind::NAMES;

/// Default PATH, as in distroless and Docker.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Ctx<'a> {
    file: &'a Arc<SourceFile>,
    dir: &'a Path,
}

type R<T> = Result<T, Diagnostic>;

impl Ctx<'_> {
    fn loc(&self, span: Span) -> Location {
        Location::new(self.file, span)
    }

    fn err(&self, span: Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(msg, self.loc(span))
    }

    fn image_path(&self, v: &S<String>, what: &str) -> R<ImagePath> {
        ImagePath::parse(v.get_ref())
            .map_err(|why| self.err(v.span(), format!("`{what}` {} {why}", shown(v.get_ref()))))
    }

    fn source(&self, v: &S<String>, field: &str) -> R<SourcePath> {
        let s = v.get_ref();
        if s.is_empty() {
            return Err(self.err(v.span(), format!("`{field}` is empty")));
        }
        let p = Path::new(s);
        Ok(SourcePath {
            written: s.clone(),
            host: if p.is_absolute() {
                p.to_path_buf()
            } else {
                self.dir.join(p)
            },
            relative: !p.is_absolute(),
            location: self.loc(v.span()),
        })
    }

    fn id(&self, v: &Option<S<i64>>, field: &str) -> R<u32> {
        match v {
            None => Ok(0),
            Some(x) => u32::try_from(*x.get_ref())
                .ok()
                .filter(|&n| n != u32::MAX)
                .ok_or_else(|| {
                    self.err(
                        x.span(),
                        format!("`{field}` must be between 0 and 4294967294"),
                    )
                }),
        }
    }

    fn mode(&self, v: &Option<S<toml::Value>>) -> R<Option<u32>> {
        let Some(v) = v else { return Ok(None) };
        let bad = |m: &str| {
            self.err(v.span(), m.to_string()).with_hint(
            "write modes in octal, as a string (\"0755\", \"1777\") or a TOML octal integer (0o755)",
        )
        };
        let n = match v.get_ref() {
            toml::Value::String(s) => {
                if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    return Err(bad(&format!("`mode` {s:?} is not an octal file mode")));
                }
                u32::from_str_radix(s, 8).map_err(|_| bad("`mode` is not an octal file mode"))?
            }
            toml::Value::Integer(i) => {
                let written = self.file.text.get(v.span()).unwrap_or("");
                if !written.trim_start_matches('+').starts_with("0o") && *i > 7 {
                    return Err(bad(&format!("`mode` {i} is a decimal number")));
                }
                u32::try_from(*i).map_err(|_| bad("`mode` is negative"))?
            }
            other => {
                return Err(bad(&format!(
                    "`mode` must be a string or integer, not {}",
                    other.type_str()
                )))
            }
        };
        if n > 0o7777 {
            return Err(bad(&format!("`mode` {n:o} has bits beyond 07777")));
        }
        Ok(Some(n))
    }

    /// Checks that include/exclude pattern `g` of `field` is a valid glob.
    fn glob(&self, g: &S<String>, field: &str) -> R<()> {
        globset::Glob::new(g.get_ref()).map(|_| ()).map_err(|e| {
            self.err(
                g.span(),
                format!(
                    "`{field}` pattern {:?} is not a valid glob: {}",
                    g.get_ref(),
                    e.kind()
                ),
            )
        })
    }

    fn nonempty(&self, v: &S<String>, what: &str) -> R<String> {
        let s = v.get_ref().trim();
        if s.is_empty() {
            return Err(self.err(v.span(), format!("{what} is empty")));
        }
        Ok(s.to_string())
    }
}

pub(super) fn validate(file: &Arc<SourceFile>, dir: PathBuf, raw: RawManifest) -> R<Manifest> {
    let cx = Ctx { file, dir: &dir };
    let Some(image) = raw.image else {
        return Err(cx
            .err(0..0, "the manifest has no [image] table")
            .with_hint("add `[image]` with at least `name = \"...\"`"));
    };
    let defaults = raw.defaults.unwrap_or_default();
    let mut components = Vec::new();
    let mut names: BTreeMap<String, Span> = BTreeMap::new();
    for c in &raw.component {
        let comp = component(&cx, c, &defaults)?;
        if let Some(prev) = names.get(&comp.name) {
            let span = c
                .get_ref()
                .name
                .as_ref()
                .map(|n| n.span())
                .unwrap_or(c.span());
            return Err(cx
                .err(span, format!("two components are named `{}`", comp.name))
                .also(cx.loc(prev.clone()), "(the first)")
                .with_hint(
                    "component names must be unique; they appear in the SBOM and in errors",
                ));
        }
        names.insert(
            comp.name.clone(),
            c.get_ref()
                .name
                .as_ref()
                .map(|n| n.span())
                .unwrap_or(c.span()),
        );
        components.push(comp);
    }
    if components.is_empty() {
        return Err(cx
            .err(
                image.span(),
                "the manifest has no `[[component]]`; an image needs at least one",
            )
            .with_hint("`kiln init BINARY --why TEXT` writes a starting manifest"));
    }
    let gconv = gconv(&cx, image.get_ref().gconv.as_ref())?;
    let image = image_spec(&cx, image, &components)?;
    let sources = debian::sources(&cx, &raw.source)?;
    check_source_names(&sources, &components)?;
    let mut waivers = Vec::new();
    let mut package_waivers = Vec::new();
    for w in &raw.waive {
        let r = w.get_ref();
        if let Some(p) = &r.package {
            package_waivers.push(package_waiver(&cx, w, p)?);
            continue;
        }
        let load =
            match &r.load {
                None => return Err(cx.err(w.span(), "a [[waive]] has no `load`").with_hint(
                    "name what is left out: `libgcc_s.so.1`, `nss:SERVICE`, `gconv`, a soname, or `shell:PATH`",
                )),
                Some(l) => cx.nonempty(l, "`load` of a [[waive]]")?,
            };
        let why = match &r.why {
            None => {
                let span = r.load.as_ref().map_or(w.span(), |l| l.span());
                return Err(cx
                    .err(span, format!("the waiver of `{load}` has no `why`"))
                    .with_hint("say why the image can do without it"));
            }
            Some(y) => cx.nonempty(y, &format!("`why` of the waiver of `{load}`"))?,
        };
        let at = r.load.as_ref().map_or(w.span(), |l| l.span());
        waivers.push(Waiver {
            load,
            why,
            location: cx.loc(at),
        });
    }
    Ok(Manifest {
        file: file.clone(),
        dir,
        image,
        components,
        waivers,
        gconv,
        sources,
        package_waivers,
    })
}

/// A `[[waive]] package = "NAME"` with its `why` (and no `load`).
fn package_waiver(cx: &Ctx<'_>, w: &S<super::raw::RawWaive>, p: &S<String>) -> R<PackageWaiver> {
    let r = w.get_ref();
    if let Some(l) = &r.load {
        return Err(cx
            .err(l.span(), "a [[waive]] has both `load` and `package`")
            .with_hint("one [[waive]] per thing left out"));
    }
    let package = p.get_ref().trim().to_string();
    if !debian::valid_package_name(&package) {
        return Err(cx.err(
            p.span(),
            format!("{} is not a Debian package name", shown(p.get_ref())),
        ));
    }
    let why = match &r.why {
        None => {
            return Err(cx
                .err(
                    p.span(),
                    format!("the waiver of package `{package}` has no `why`"),
                )
                .with_hint("say why the image can do without it"))
        }
        Some(y) => cx.nonempty(y, &format!("`why` of the waiver of package `{package}`"))?,
    };
    Ok(PackageWaiver {
        package,
        why,
        location: cx.loc(p.span()),
    })
}

/// Every `source` a `deb` component names is a `[[source]]`.
fn check_source_names(sources: &[SourceSpec], comps: &[Component]) -> R<()> {
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    for c in comps {
        let ComponentSpec::Deb { sources: used, .. } = &c.spec else {
            continue;
        };
        for (n, at) in used {
            if !names.contains(&n.as_str()) {
                let mut d = crate::span::Diagnostic::new(
                    format!(
                        "component `{}` names source `{n}`, which no [[source]] defines",
                        c.name
                    ),
                    at.clone(),
                );
                d = match did_you_mean(n, &names) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None if names.is_empty() => d.with_hint("add a [[source]] table with `name`, `kind = \"debian\"`, `url`, `suite` and `keyring`"),
                    None => d.with_hint(format!("the sources are: {}", names.join(", "))),
                };
                return Err(d);
            }
        }
    }
    Ok(())
}

/// `[image] gconv`: a list of charset names (`"ISO-8859-15"`, `"LATIN9"`, `"EUC-JP"`) or `"all"`.
fn gconv(cx: &Ctx<'_>, v: Option<&S<toml::Value>>) -> R<Gconv> {
    let Some(v) = v else {
        return Ok(Gconv::default());
    };
    let hint = "`gconv` is a list of charset names, e.g. `gconv = [\"ISO-8859-15\", \"EUC-JP\"]`, or `\"all\"`";
    match v.get_ref() {
        toml::Value::String(s) if s == "all" => Ok(Gconv::All),
        toml::Value::Array(a) => {
            let mut names = Vec::new();
            for x in a {
                match x {
                    toml::Value::String(s)
                        if !s.is_empty()
                            && s.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
                    {
                        names.push(s.clone())
                    }
                    other => {
                        return Err(cx
                            .err(
                                v.span(),
                                format!("`gconv` lists {other}, which is not a charset name"),
                            )
                            .with_hint(hint))
                    }
                }
            }
            Ok(Gconv::Charsets(names))
        }
        other => Err(cx
            .err(v.span(), format!("`gconv` cannot be {other}"))
            .with_hint(hint)),
    }
}

fn image_spec(cx: &Ctx<'_>, image: S<super::raw::RawImage>, comps: &[Component]) -> R<ImageSpec> {
    let span = image.span();
    let img = image.into_inner();
    let name = match &img.name {
        None => {
            return Err(cx
                .err(span, "[image] has no `name`")
                .with_hint("add `name = \"my-service\"`"))
        }
        Some(n) => {
            let s = n.get_ref();
            if !valid_repository_name(s) {
                return Err(cx
                    .err(
                        n.span(),
                        format!("image `name` {s:?} is not a valid repository name"),
                    )
                    .with_hint(
                        "use lower-case letters and digits, joined by `.`, `_`, `__` or `-`, in components separated by `/` (as a registry repository)",
                    ));
            }
            s.clone()
        }
    };
    let list = |v: &Option<S<Vec<S<String>>>>| {
        v.as_ref().map(|l| {
            l.get_ref()
                .iter()
                .map(|s| s.get_ref().clone())
                .collect::<Vec<_>>()
        })
    };
    let entrypoint = list(&img.entrypoint);
    if let (Some(ep), Some(raw)) = (&entrypoint, &img.entrypoint) {
        if ep.is_empty() || ep[0].is_empty() {
            return Err(cx.err(raw.span(), "`entrypoint` is empty"));
        }
        if !ep[0].starts_with('/') {
            return Err(cx
                .err(
                    raw.get_ref()[0].span(),
                    format!("`entrypoint` {:?} is not an absolute path", ep[0]),
                )
                .with_hint(
                    "images have no shell to search PATH with; give the program's full path",
                ));
        }
    }
    let user_given = img.user.is_some();
    let workdir_given = img.workdir.is_some();
    let base = match &img.base {
        None => None,
        Some(b) => Some(BaseSpec {
            reference: cx.nonempty(b, "[image] `base`")?,
            location: cx.loc(b.span()),
        }),
    };
    check_base(base.as_ref(), comps)?;
    let user = match &img.user {
        None => (65532, 65532),
        Some(u) => user(cx, u, comps)?,
    };
    let workdir = match &img.workdir {
        None => ImagePath::root(),
        Some(w) => cx.image_path(w, "workdir")?,
    };
    let mut env = BTreeMap::new();
    for (k, v) in img.env.iter().flatten() {
        let key = k.get_ref();
        values::env_key(key).map_err(|why| {
            let e = cx.err(
                k.span(),
                format!(
                    "environment variable name {} in [image] `env` {why}",
                    shown(key)
                ),
            );
            match why {
                Refusal::Forbidden('=') => {
                    e.with_hint("`=` ends a variable's name; put it in the value")
                }
                _ => e,
            }
        })?;
        config_value(cx, v, &format!("value of environment variable `{key}`"))?;
        env.insert(key.clone(), v.get_ref().clone());
    }
    let mut ports = Vec::new();
    for p in img.ports.iter().flatten() {
        ports.push(port(cx, p)?);
    }
    ports.sort();
    ports.dedup();
    let strings =
        |m: Option<BTreeMap<String, S<String>>>, what: &str| -> R<BTreeMap<String, String>> {
            let mut out = BTreeMap::new();
            for (k, v) in m.unwrap_or_default() {
                values::config_key(&k).map_err(|why| {
                    cx.err(
                        v.span(),
                        format!("{what} key {} in [image] {why}", shown(&k)),
                    )
                })?;
                config_value(cx, &v, &format!("value of {what} `{k}`"))?;
                out.insert(k, v.into_inner());
            }
            Ok(out)
        };
    for (field, list) in [("entrypoint", &img.entrypoint), ("cmd", &img.cmd)] {
        for arg in list.iter().flat_map(|l| l.get_ref()) {
            config_value(cx, arg, &format!("`{field}` argument"))?;
        }
    }
    let cpu_level = match &img.cpu_level {
        None => CpuLevel::Baseline,
        Some(l) => CpuLevel::parse(l.get_ref()).ok_or_else(|| {
            cx.err(l.span(), format!("unknown `cpu-level` {:?}", l.get_ref()))
                .with_hint("one of: baseline, x86-64-v2, x86-64-v3, x86-64-v4")
        })?,
    };
    let sysroot = img
        .sysroot
        .as_ref()
        .map(|s| cx.source(s, "sysroot"))
        .transpose()?;
    let program_location = match (&img.entrypoint, &img.cmd) {
        (Some(l), _) | (None, Some(l)) => l.get_ref().first().map_or(l.span(), |a| a.span()),
        (None, None) => span,
    };
    let program_location = cx.loc(program_location);
    Ok(ImageSpec {
        program_location,
        base,
        user_given,
        workdir_given,
        cpu_level,
        sysroot,
        platform: None,
        name,
        entrypoint,
        cmd: list(&img.cmd),
        user,
        workdir,
        env,
        ports,
        labels: strings(img.labels, "label")?,
        annotations: strings(img.annotations, "annotation")?,
    })
}

/// A config string (env value, label, argument): no NUL, which would cut it short.
fn config_value(cx: &Ctx<'_>, v: &S<String>, what: &str) -> R<()> {
    values::no_nul(v.get_ref()).map_err(|why| {
        cx.err(v.span(), format!("{what} {} {why}", shown(v.get_ref())))
            .with_hint("the image config is read as C strings; a NUL would end the value early")
    })
}

/// The distribution spec's repository name: `/`-separated components, each
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, at most 255 bytes. It becomes a path under `out/`, so
/// `..`, `.`, empty components and absolute names can never be valid.
pub(crate) fn valid_repository_name(s: &str) -> bool {
    let component = |c: &str| {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
                return false;
            }
        }
        true
    };
    !s.is_empty() && s.len() <= 255 && s.split('/').all(component)
}

fn user(cx: &Ctx<'_>, u: &S<String>, comps: &[Component]) -> R<(u32, u32)> {
    let s = u.get_ref().trim();
    let num = |x: &str| x.parse::<u32>().ok().filter(|&n| n != u32::MAX);
    if let Some((a, b)) = s.split_once(':') {
        return match (num(a), num(b)) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(cx
                .err(
                    u.span(),
                    format!("`user` {s:?} is not `UID:GID` with numbers"),
                )
                .with_hint("use an account name from an accounts component, `UID` or `UID:GID`")),
        };
    }
    if let Some(n) = num(s) {
        return Ok((n, n));
    }
    let users = comps.iter().filter_map(|c| match &c.spec {
        ComponentSpec::Accounts { users, .. } => Some(users),
        _ => None,
    });
    let mut known = Vec::new();
    for list in users {
        for usr in list {
            if usr.name == *s {
                return Ok((usr.uid, usr.gid));
            }
            known.push(usr.name.as_str());
        }
    }
    let mut d = cx.err(
        u.span(),
        format!("`user` {s:?} is not defined by any accounts component"),
    );
    d = match did_you_mean(s, &known) {
        Some(k) => d.with_hint(format!("did you mean `{k}`?")),
        None if known.is_empty() => d.with_hint("add a component with `kind = \"accounts\"` (it defines root, nobody and nonroot), or give a numeric `UID:GID`"),
        None => d.with_hint(format!("accounts define: {}", known.join(", "))),
    };
    Err(d)
}

fn port(cx: &Ctx<'_>, p: &S<toml::Value>) -> R<String> {
    let bad = || {
        cx.err(
            p.span(),
            format!("`ports` entry {} is not a port", p.get_ref()),
        )
        .with_hint("write ports as \"8080/tcp\", \"53/udp\" or 8080")
    };
    let (num, proto) = match p.get_ref() {
        toml::Value::Integer(i) => (i.to_string(), "tcp".to_string()),
        toml::Value::String(s) => match s.split_once('/') {
            Some((n, pr)) => (n.to_string(), pr.to_ascii_lowercase()),
            None => (s.clone(), "tcp".to_string()),
        },
        _ => return Err(bad()),
    };
    match num.parse::<u16>() {
        Ok(n) if n > 0 && matches!(proto.as_str(), "tcp" | "udp" | "sctp") => {
            Ok(format!("{n}/{proto}"))
        }
        _ => Err(bad()),
    }
}

fn ownership(
    own: Option<&S<String>>,
    caps: Option<&Vec<S<String>>>,
    cad: Option<&S<String>>,
    rw: Option<&S<String>>,
    d: &RawOwnership,
) -> Ownership {
    let s = |a: Option<&S<String>>, b: &Option<S<String>>| {
        a.or(b.as_ref())
            .map(|x| x.get_ref().trim().to_string())
            .filter(|x| !x.is_empty())
    };
    Ownership {
        owner: s(own, &d.owner),
        capabilities: caps
            .or(d.capabilities.as_ref())
            .map(|v| v.iter().map(|x| x.get_ref().clone()).collect())
            .unwrap_or_default(),
        cadence: s(cad, &d.cadence),
        remove_when: s(rw, &d.remove_when),
    }
}

/// Which kind-specific fields each kind accepts.
fn allowed(kind: &str) -> &'static [&'static str] {
    match kind {
        "elf" => &["from", "to", "mode", "uid", "gid", "resolve", "loaded-from"],
        "file" => &["from", "content", "to", "mode", "uid", "gid"],
        "tree" => &[
            "from",
            "to",
            "include",
            "exclude",
            "uid",
            "gid",
            "resolve",
            "loaded-from",
        ],
        "dir" => &["to", "mode", "uid", "gid"],
        "symlink" => &["to", "target"],
        "accounts" => &["defaults", "users", "groups"],
        "ca-bundle" => &["from", "extra", "to"],
        "tzdata" => &["zones", "from", "to"],
        "os-release" => &["fields", "to"],
        "deb" => &[
            "packages",
            "source",
            "include",
            "exclude",
            "depends",
            "loaded-from",
        ],
        _ => &[],
    }
}

fn component(cx: &Ctx<'_>, c: &S<RawComponent>, d: &RawOwnership) -> R<Component> {
    let span = c.span();
    let header = span.start..span.start + cx.file.text[span.start..].find('\n').unwrap_or(0);
    let r = c.get_ref();
    let name = match &r.name {
        None => {
            return Err(cx
                .err(header, "a component has no `name`")
                .with_hint("add `name = \"...\"`; names appear in the SBOM and in errors"))
        }
        Some(n) => cx.nonempty(n, "component `name`")?,
    };
    let Some(kind) = &r.kind else {
        return Err(cx
            .err(
                r.name.as_ref().map_or(header.clone(), |n| n.span()),
                format!("component `{name}` has no `kind`"),
            )
            .with_hint(format!("`kind` is one of: {}", KINDS.join(", "))));
    };
    let k = kind.get_ref().as_str();
    if !KINDS.contains(&k) {
        let mut e = cx.err(
            kind.span(),
            format!("unknown kind {k:?} in component `{name}`"),
        );
        e = match did_you_mean(k, KINDS) {
            Some(s) => e.with_hint(format!("did you mean `{s}`?")),
            None => e.with_hint(format!("`kind` is one of: {}", KINDS.join(", "))),
        };
        return Err(e);
    }
    let why = match &r.why {
        None => {
            return Err(cx
                .err(
                    r.name.as_ref().map_or(header.clone(), |n| n.span()),
                    format!("component `{name}` has no `why`"),
                )
                .with_hint(
                    "every component needs a reason to be in the image: add `why = \"...\"`",
                ))
        }
        Some(w) => cx
            .nonempty(w, &format!("`why` of component `{name}`"))
            .map_err(|e| e.with_hint("every component needs a reason to be in the image"))?,
    };
    let ok = allowed(k);
    for (field, fspan) in r.present_fields() {
        if !ok.contains(&field) {
            return Err(cx
                .err(
                    fspan,
                    format!("`{field}` does not apply to component `{name}` of kind `{k}`"),
                )
                .with_hint(format!("a `{k}` component takes: {}", ok.join(", "))));
        }
    }
    let layer = match &r.layer {
        Some(l) if k == "base" => {
            return Err(cx
                .err(
                    l.span(),
                    format!("`layer` does not apply to component `{name}` of kind `base`"),
                )
                .with_hint("the base's files are in the base's own layers"))
        }
        None if k == "base" => LayerKind::BaseImage,
        None => match k {
            "elf" | "file" | "tree" => LayerKind::Application,
            "deb" => LayerKind::Libraries,
            _ => LayerKind::Base,
        },
        Some(l) => match l.get_ref().as_str() {
            "base" => LayerKind::Base,
            "libraries" => LayerKind::Libraries,
            "application" => LayerKind::Application,
            other => {
                return Err(cx
                    .err(
                        l.span(),
                        format!("unknown layer {other:?} in component `{name}`"),
                    )
                    .with_hint("`layer` is one of: base, libraries, application"))
            }
        },
    };
    let need_to = || {
        r.to.as_ref().ok_or_else(|| {
            cx.err(
                header.clone(),
                format!("component `{name}` of kind `{k}` has no `to`"),
            )
            .with_hint("add `to = \"/absolute/path/in/image\"`")
        })
    };
    let from_str = |field: &str| -> R<Option<S<String>>> {
        match &r.from {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                toml::Value::String(s) => Ok(Some(S::new(v.span(), s.clone()))),
                other => Err(cx.err(
                    v.span(),
                    format!(
                        "`{field}` of component `{name}` must be a string, not {}",
                        other.type_str()
                    ),
                )),
            },
        }
    };
    let need_from = || -> R<SourcePath> {
        match from_str("from")? {
            Some(s) => cx.source(&s, "from"),
            None => Err(cx
                .err(
                    header.clone(),
                    format!("component `{name}` of kind `{k}` has no `from`"),
                )
                .with_hint("add `from = \"path/on/the/build/host\"`")),
        }
    };
    let uid = cx.id(&r.uid, "uid")?;
    let gid = cx.id(&r.gid, "gid")?;
    let mode = cx.mode(&r.mode)?;
    let resolve = r.resolve.as_ref().is_none_or(|b| *b.get_ref());
    let strings = |v: &Option<S<Vec<S<String>>>>| {
        v.as_ref().map(|l| {
            l.get_ref()
                .iter()
                .map(|s| s.get_ref().clone())
                .collect::<Vec<_>>()
        })
    };
    let spec = match k {
        "elf" => ComponentSpec::Elf {
            from: need_from()?,
            to: cx.image_path(need_to()?, "to")?,
            mode,
            uid,
            gid,
            resolve,
        },
        "file" => {
            let content = match (&r.content, from_str("from")?) {
                (Some(_), Some(f)) => {
                    return Err(cx
                        .err(
                            f.span(),
                            format!("component `{name}` has both `from` and `content`"),
                        )
                        .with_hint("keep one of them"))
                }
                (Some(c), None) => FileContent::Inline(c.get_ref().clone()),
                (None, Some(f)) => FileContent::Path(cx.source(&f, "from")?),
                (None, None) => {
                    return Err(cx.err(
                        header,
                        format!(
                            "component `{name}` of kind `file` has neither `from` nor `content`"
                        ),
                    ))
                }
            };
            ComponentSpec::File {
                content,
                to: cx.image_path(need_to()?, "to")?,
                mode,
                uid,
                gid,
            }
        }
        "tree" => {
            let include = strings(&r.include).unwrap_or_else(|| vec!["**".into()]);
            let exclude = strings(&r.exclude).unwrap_or_default();
            for (list, field) in [(&r.include, "include"), (&r.exclude, "exclude")] {
                for g in list.iter().flat_map(|l| l.get_ref().iter()) {
                    cx.glob(g, field)?;
                }
            }
            ComponentSpec::Tree {
                from: need_from()?,
                to: cx.image_path(need_to()?, "to")?,
                include,
                exclude,
                uid,
                gid,
                resolve,
            }
        }
        "dir" => ComponentSpec::Dir {
            to: cx.image_path(need_to()?, "to")?,
            mode: mode.unwrap_or(0o755),
            uid,
            gid,
        },
        "symlink" => {
            let target = match &r.target {
                None => {
                    return Err(cx.err(
                        header,
                        format!("component `{name}` of kind `symlink` has no `target`"),
                    ))
                }
                Some(t) if t.get_ref().is_empty() => {
                    return Err(cx.err(t.span(), "`target` is empty"))
                }
                Some(t) => {
                    values::no_nul(t.get_ref())
                        .and_then(|()| values::path_limits(t.get_ref()))
                        .map_err(|why| {
                            cx.err(
                                t.span(),
                                format!(
                                    "`target` {} of component `{name}` {why}",
                                    shown(t.get_ref())
                                ),
                            )
                        })?;
                    t.get_ref().clone()
                }
            };
            let to = cx.image_path(need_to()?, "to")?;
            if to.is_root() {
                return Err(cx.err(need_to()?.span(), "`to` of a symlink cannot be `/`"));
            }
            ComponentSpec::Symlink { to, target }
        }
        "accounts" => accounts(cx, r, &name)?,
        "ca-bundle" => {
            let from = match &r.from {
                None => vec![cx.source(
                    &S::new(
                        header.clone(),
                        "/etc/ssl/certs/ca-certificates.crt".to_string(),
                    ),
                    "from",
                )?],
                Some(v) => match v.get_ref() {
                    toml::Value::String(s) => {
                        vec![cx.source(&S::new(v.span(), s.clone()), "from")?]
                    }
                    toml::Value::Array(a) if !a.is_empty() => a
                        .iter()
                        .map(|x| match x {
                            toml::Value::String(s) => {
                                cx.source(&S::new(v.span(), s.clone()), "from")
                            }
                            _ => Err(
                                cx.err(v.span(), "`from` of a ca-bundle must list PEM file paths")
                            ),
                        })
                        .collect::<R<Vec<_>>>()?,
                    _ => return Err(cx.err(
                        v.span(),
                        "`from` of a ca-bundle must be a PEM file path or a non-empty list of them",
                    )),
                },
            };
            let extra = r
                .extra
                .iter()
                .flat_map(|l| l.get_ref().iter())
                .map(|s| cx.source(s, "extra"))
                .collect::<R<Vec<_>>>()?;
            let to = match &r.to {
                Some(t) => cx.image_path(t, "to")?,
                None => ImagePath::parse("/etc/ssl/certs/ca-certificates.crt").expect("valid"),
            };
            ComponentSpec::CaBundle { from, extra, to }
        }
        "tzdata" => {
            let from = match from_str("from")? {
                Some(s) => cx.source(&s, "from")?,
                None => cx.source(
                    &S::new(header.clone(), "/usr/share/zoneinfo".to_string()),
                    "from",
                )?,
            };
            let zones = match &r.zones {
                None => None,
                Some(z) => {
                    let mut v = Vec::new();
                    for zone in z.get_ref() {
                        let s = zone.get_ref();
                        if s.is_empty()
                            || s.starts_with('/')
                            || s.split('/').any(|p| p.is_empty() || p == "." || p == "..")
                        {
                            return Err(cx.err(
                                zone.span(),
                                format!("zone {s:?} is not a zone name like \"Europe/Berlin\""),
                            ));
                        }
                        v.push(s.clone());
                    }
                    if v.is_empty() {
                        return Err(cx
                            .err(z.span(), "`zones` is empty")
                            .with_hint("list zones, or remove `zones` to ship all of them"));
                    }
                    Some(v)
                }
            };
            let to = match &r.to {
                Some(t) => cx.image_path(t, "to")?,
                None => ImagePath::parse("/usr/share/zoneinfo").expect("valid"),
            };
            ComponentSpec::Tzdata { zones, from, to }
        }
        "os-release" => {
            let mut fields = BTreeMap::new();
            for (key, v) in r.fields.iter().flat_map(|f| f.get_ref().iter()) {
                values::os_release_key(key).map_err(|why| {
                    cx.err(
                        v.span(),
                        format!(
                            "os-release field name {} in component `{name}` {why}",
                            shown(key)
                        ),
                    )
                })?;
                values::os_release_value(v.get_ref()).map_err(|why| {
                    cx.err(
                        v.span(),
                        format!(
                            "os-release field `{key}` {} in component `{name}` {why}",
                            shown(v.get_ref())
                        ),
                    )
                    .with_hint("an os-release value is one line of text")
                })?;
                fields.insert(key.clone(), v.get_ref().clone());
            }
            let to = match &r.to {
                Some(t) => cx.image_path(t, "to")?,
                None => ImagePath::parse("/etc/os-release").expect("valid"),
            };
            ComponentSpec::OsRelease { fields, to }
        }
        "base" => ComponentSpec::Base,
        "deb" => debian::component(cx, r, &name, &header)?,
        _ => unreachable!("kind checked above"),
    };
    let mut loaded_from = Vec::new();
    if let Some(l) = &r.loaded_from {
        if l.get_ref().is_empty() {
            return Err(cx
                .err(l.span(), format!("`loaded-from` of component `{name}` is empty"))
                .with_hint("list the image directories the program loads libraries from, or remove `loaded-from`"));
        }
        for d in l.get_ref() {
            loaded_from.push(LoadedFrom {
                dir: cx.image_path(d, "loaded-from")?,
                location: cx.loc(d.span()),
            });
        }
    }
    let replace = replace(cx, r, &name, k)?;
    Ok(Component {
        loaded_from,
        name,
        why,
        ownership: ownership(
            r.owner.as_ref(),
            r.capabilities.as_ref(),
            r.cadence.as_ref(),
            r.remove_when.as_ref(),
            d,
        ),
        replace,
        layer,
        spec,
        location: cx.loc(header),
    })
}

/// `replace`: allowed on every kind that places files, never on `base` itself.
fn replace(cx: &Ctx<'_>, r: &RawComponent, name: &str, kind: &str) -> R<bool> {
    match &r.replace {
        None => Ok(false),
        Some(v) if kind == "base" => Err(cx
            .err(
                v.span(),
                format!("`replace` does not apply to component `{name}` of kind `base`"),
            )
            .with_hint("`replace = true` goes on a component that places a path the base has")),
        Some(v) => Ok(*v.get_ref()),
    }
}

/// The `kind = "base"` component and `[image] base` come together: the base's files need a
/// reason like every other component's, and a reason needs something to be about.
fn check_base(base: Option<&BaseSpec>, comps: &[Component]) -> R<()> {
    let mut of_kind = comps
        .iter()
        .filter(|c| matches!(c.spec, ComponentSpec::Base));
    match (base, of_kind.next(), of_kind.next()) {
        (_, Some(_), Some(second)) => Err(Diagnostic::new(
            format!("two components of kind `base` (the second is `{}`)", second.name),
            second.location.clone(),
        )
        .with_hint("an image has one base; give its reason in one component")),
        (Some(b), None, _) => Err(Diagnostic::new(
            format!("[image] `base` {:?} has no component of kind `base` saying why", b.reference),
            b.location.clone(),
        )
        .with_hint("add [[component]] name = \"base\" kind = \"base\" why = \"...\": the base's files need a reason like every other component's")),
        (None, Some(c), _) => Err(Diagnostic::new(
            format!("component `{}` is of kind `base`, but [image] has no `base`", c.name),
            c.location.clone(),
        )
        .with_hint("name the image to build on: [image] base = \"docker://REGISTRY/REPO:TAG\"")),
        _ => Ok(()),
    }
}

fn accounts(cx: &Ctx<'_>, r: &RawComponent, name: &str) -> R<ComponentSpec> {
    let defaults = r.defaults.as_ref().is_none_or(|b| *b.get_ref());
    let mut users: Vec<User> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    if defaults {
        for (n, id, home) in [
            ("root", 0, "/root"),
            ("nobody", 65534, "/nonexistent"),
            ("nonroot", 65532, "/home/nonroot"),
        ] {
            let n = AccountName::new(n).expect("built-in names are valid");
            users.push(User {
                gecos: PasswdField::from(&n),
                name: n.clone(),
                uid: id,
                gid: id,
                home: PasswdField::path(home).expect("built-in homes are valid"),
                shell: PasswdField::path("/sbin/nologin").expect("built-in shell is valid"),
            });
            groups.push(Group {
                name: n,
                gid: id,
                members: vec![],
            });
        }
    }
    let id = |v: &S<i64>, what: &str| {
        u32::try_from(*v.get_ref())
            .ok()
            .filter(|&n| n != u32::MAX)
            .ok_or_else(|| {
                cx.err(
                    v.span(),
                    format!("`{what}` must be between 0 and 4294967294"),
                )
            })
    };
    for g in r.groups.iter().flat_map(|l| l.get_ref().iter()) {
        let g = g.get_ref();
        let gname = account_name(
            cx,
            &g.name,
            &format!("group name {{}} in component `{name}`"),
        )?;
        let gid = id(&g.gid, "gid")?;
        let mut members = Vec::new();
        for m in &g.members {
            members.push(account_name(
                cx,
                m,
                &format!("member {{}} of group `{gname}` in component `{name}` is not a valid user name:"),
            )?);
        }
        groups.retain(|x| x.name != gname);
        if let Some(other) = groups.iter().find(|x| x.gid == gid) {
            return Err(cx.err(
                g.gid.span(),
                format!(
                    "gid {gid} of group `{gname}` is already used by group `{}`",
                    other.name
                ),
            ));
        }
        groups.push(Group {
            name: gname,
            gid,
            members,
        });
    }
    let mut seen: Vec<AccountName> = Vec::new();
    for u in r.users.iter().flat_map(|l| l.get_ref().iter()) {
        let u = u.get_ref();
        let uname = account_name(
            cx,
            &u.name,
            &format!("user name {{}} in component `{name}`"),
        )?;
        if seen.contains(&uname) {
            return Err(cx.err(
                u.name.span(),
                format!("user `{uname}` is defined twice in component `{name}`"),
            ));
        }
        seen.push(uname.clone());
        let uid = id(&u.uid, "uid")?;
        let gid = match &u.gid {
            Some(g) => id(g, "gid")?,
            None => uid,
        };
        let field =
            |v: &S<String>, key: &str, check: &dyn Fn(&str) -> Result<PasswdField, Refusal>| {
                check(v.get_ref()).map_err(|why| {
                    cx.err(
                    v.span(),
                    format!(
                        "`{key}` {} of user `{uname}` in component `{name}` {why}",
                        shown(v.get_ref())
                    ),
                )
                .with_hint(
                    "passwd fields may not hold `:`, a newline, a NUL or other control characters",
                )
                })
            };
        let home = match &u.home {
            Some(h) => {
                let p = ImagePath::parse(h.get_ref()).map_err(|why| {
                    cx.err(
                        h.span(),
                        format!(
                            "`home` {} of user `{uname}` in component `{name}` {why}",
                            shown(h.get_ref())
                        ),
                    )
                })?;
                field(&S::new(h.span(), p.to_string()), "home", &PasswdField::path)?
            }
            None => PasswdField::path(&format!("/home/{uname}"))
                .expect("a valid name makes a valid home"),
        };
        let shell = match &u.shell {
            Some(s) => field(s, "shell", &PasswdField::path)?,
            None => PasswdField::path("/sbin/nologin").expect("built-in shell is valid"),
        };
        let gecos = match &u.gecos {
            Some(g) => field(g, "gecos", &|s: &str| {
                PasswdField::new(s, values::MAX_GECOS)
            })?,
            None => PasswdField::from(&uname),
        };
        users.retain(|x| x.name != uname);
        if !groups.iter().any(|g| g.gid == gid) {
            groups.retain(|g| g.name != uname);
            groups.push(Group {
                name: uname.clone(),
                gid,
                members: vec![],
            });
        }
        users.push(User {
            name: uname,
            uid,
            gid,
            gecos,
            home,
            shell,
        });
    }
    if users.is_empty() {
        return Err(cx.err(
            r.defaults.as_ref().map_or(0..0, |d| d.span()),
            format!("component `{name}` defines no users"),
        ));
    }
    users.sort_by_key(|u| (u.uid, u.name.clone()));
    groups.sort_by_key(|g| (g.gid, g.name.clone()));
    Ok(ComponentSpec::Accounts { users, groups })
}

/// A user or group name checked by [`AccountName::new`]; `what` is the message's start with
/// `{}` where the name goes (" is not valid:" is added unless `what` ends with `:`).
fn account_name(cx: &Ctx<'_>, v: &S<String>, what: &str) -> R<AccountName> {
    AccountName::new(v.get_ref()).map_err(|why| {
        let head = what.replace("{}", &shown(v.get_ref()));
        let head = if head.ends_with(':') {
            head
        } else {
            format!("{head} is not valid:")
        };
        cx.err(v.span(), format!("{head} {why}")).with_hint(
            "names follow useradd: letters, digits, `_`, `.` and `-` (not first), an optional \
             final `$`, not all digits, at most 32 bytes",
        )
    })
}

/// The platforms `[image] platforms` lists, validated (known, no duplicates); empty when the
/// manifest lists none. `[platform.X]` tables and per-platform `from` tables without a
/// `platforms` list are errors.
pub(super) fn platforms(file: &Arc<SourceFile>, raw: &RawManifest) -> R<Vec<Platform>> {
    let dir = PathBuf::new();
    let cx = Ctx { file, dir: &dir };
    let listed = raw
        .image
        .as_ref()
        .and_then(|i| i.get_ref().platforms.as_ref());
    let Some(listed) = listed else {
        if let Some((k, _)) = raw.platform.iter().flatten().next() {
            return Err(cx
                .err(
                    k.span(),
                    format!(
                        "[platform.{:?}] but `[image] platforms` is not set",
                        k.get_ref()
                    ),
                )
                .with_hint(
                    "list the platforms to build: platforms = [\"linux/amd64\", \"linux/arm64\"]",
                ));
        }
        return Ok(Vec::new());
    };
    if listed.get_ref().is_empty() {
        return Err(cx.err(listed.span(), "`platforms` is empty"));
    }
    let mut out: Vec<Platform> = Vec::new();
    for p in listed.get_ref() {
        let parsed = Platform::parse(p.get_ref()).ok_or_else(|| {
            cx.err(p.span(), format!("unknown platform {:?}", p.get_ref()))
                .with_hint(format!("one of: {}", Platform::known().join(", ")))
        })?;
        if out.contains(&parsed) {
            return Err(cx.err(
                p.span(),
                format!("platform {:?} is listed twice", p.get_ref()),
            ));
        }
        out.push(parsed);
    }
    for (k, _) in raw.platform.iter().flatten() {
        if !out.iter().any(|p| p.to_string() == *k.get_ref()) {
            return Err(cx.err(
                k.span(),
                format!("[platform.{:?}] is not one of `platforms`", k.get_ref()),
            ));
        }
    }
    Ok(out)
}

/// Rewrites `raw` to what it says for `platform`: `[platform.P]` overrides `sysroot` and
/// `cpu-level` of `[image]`; a component's `from` table keyed by platform becomes the entry
/// for `platform` (an error when it has none, or names a platform not listed).
pub(super) fn select_platform(
    file: &Arc<SourceFile>,
    raw: &mut RawManifest,
    platform: &Platform,
    all: &[Platform],
) -> R<()> {
    let dir = PathBuf::new();
    let cx = Ctx { file, dir: &dir };
    let name = platform.to_string();
    if let Some(p) = raw.platform.as_mut().and_then(|m| {
        m.iter_mut()
            .find(|(k, _)| *k.get_ref() == name)
            .map(|(_, v)| v)
    }) {
        let p = p.get_mut();
        if let Some(image) = raw.image.as_mut() {
            let image = image.get_mut();
            if let Some(s) = p.sysroot.take() {
                image.sysroot = Some(s);
            }
            if let Some(l) = p.cpu_level.take() {
                image.cpu_level = Some(l);
            }
        }
    }
    for c in &mut raw.component {
        let c = c.get_mut();
        let Some(from) = c.from.as_mut() else {
            continue;
        };
        let toml::Value::Table(t) = from.get_ref() else {
            continue;
        };
        for k in t.keys() {
            if !all.iter().any(|p| p.to_string() == *k) {
                return Err(cx
                    .err(
                        from.span(),
                        format!("`from` names platform {k:?}, which `platforms` does not list"),
                    )
                    .with_hint(
                        "the keys of a per-platform `from` are the platforms listed in [image]",
                    ));
            }
        }
        let Some(v) = t.get(&name).cloned() else {
            let comp = c
                .name
                .as_ref()
                .map_or("?".to_string(), |n| n.get_ref().clone());
            return Err(cx
                .err(
                    from.span(),
                    format!("component `{comp}` has no `from` for {name}"),
                )
                .with_hint(format!("add \"{name}\" = \"PATH\" to its `from` table")));
        };
        *from = S::new(from.span(), v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(users: &str) -> (Vec<User>, Vec<Group>) {
        let text = format!(
            "[image]\nname = \"x\"\n\n[[component]]\nname = \"accounts\"\nkind = \"accounts\"\nwhy = \"x\"\n{users}"
        );
        let file = Arc::new(SourceFile {
            path: PathBuf::from("kiln.toml"),
            text,
        });
        let m = crate::manifest::parse(file, PathBuf::from("/")).expect("valid manifest");
        match &m.components[0].spec {
            ComponentSpec::Accounts { users, groups } => (users.clone(), groups.clone()),
            _ => unreachable!(),
        }
    }

    #[test]
    fn passwd_and_group_lines_have_their_fields() {
        let (users, groups) = accounts(
            "[[component.users]]\nname = \"app\"\nuid = 1000\ngecos = \"App, Room 1\"\nhome = \"/srv//app/\"\nshell = \"/bin/sh\"\n\n[[component.users]]\nname = \"plain\"\nuid = 1001\n\n[[component.groups]]\nname = \"staff\"\ngid = 50\nmembers = [\"app\", \"plain\"]\n",
        );
        let line = |name: &str| {
            users
                .iter()
                .find(|u| u.name == *name)
                .map(User::passwd_line)
                .unwrap()
        };
        assert_eq!(
            line("app"),
            "app:x:1000:1000:App, Room 1:/srv/app:/bin/sh\n"
        );
        assert_eq!(
            line("plain"),
            "plain:x:1001:1001:plain:/home/plain:/sbin/nologin\n"
        );
        assert_eq!(line("root"), "root:x:0:0:root:/root:/sbin/nologin\n");
        let staff = groups.iter().find(|g| g.name == *"staff").unwrap();
        assert_eq!(staff.group_line(), "staff:x:50:app,plain\n");
    }

    #[test]
    fn repository_names_follow_the_distribution_grammar() {
        for ok in ["kiln", "a/b", "a.b_c__d--e/f9", "0"] {
            assert!(valid_repository_name(ok), "{ok}");
        }
        for bad in [
            "ok/../../x",
            "../x",
            "a/./b",
            "a//b",
            "/abs",
            "a/",
            "A",
            "a..b",
            "a___b",
            "-a",
            "a-",
        ] {
            assert!(!valid_repository_name(bad), "{bad}");
        }
        assert!(!valid_repository_name(&"a".repeat(256)));
    }

    #[test]
    fn image_paths_are_normalised_or_rejected() {
        assert_eq!(
            ImagePath::parse("/usr//bin/./x").unwrap().as_str(),
            "/usr/bin/x"
        );
        assert_eq!(ImagePath::parse("/tmp/").unwrap().as_str(), "/tmp");
        assert_eq!(ImagePath::parse("/").unwrap().as_str(), "/");
        assert!(ImagePath::parse("usr/bin").is_err());
        assert!(ImagePath::parse("/usr/../etc").is_err());
        assert!(ImagePath::parse("").is_err());
        let p = ImagePath::parse("/usr/local/bin/x").unwrap();
        let anc: Vec<String> = p.ancestors().iter().map(|a| a.to_string()).collect();
        assert_eq!(anc, ["/usr", "/usr/local", "/usr/local/bin"]);
        assert_eq!(p.parent().unwrap().as_str(), "/usr/local/bin");
        assert_eq!(
            ImagePath::parse("/x").unwrap().parent().unwrap().as_str(),
            "/"
        );
    }
}
