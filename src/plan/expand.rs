//! Expands one manifest component into the entries it places, checking its sources.
//!
//! Owns: per-kind expansion (elf, file, tree, dir, symlink, accounts, ca-bundle, tzdata,
//! os-release), source checks (exists, right type, stays inside the manifest's folder),
//! normalised modes, and the file-hash cache shared by a whole plan.
//! Invariant: passwd and group lines are made only of checked fields (`User::passwd_line`);
//! an os-release value of the target root that breaks the format is an error, never copied;
//! a tree that would place a file beyond Linux's path limits is an error naming the host file.

use super::{Claim, EntryKind, Error, Provenance, Source};
use crate::digest::Digest;
use crate::elf;
use crate::manifest::{
    self as values, Component, ComponentSpec, FileContent, Manifest, SourcePath,
};
use crate::resolve::{OverlayNode, View};
use crate::span::Diagnostic;
use crate::types::ImagePath;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What one component contributes.
#[derive(Default)]
pub(crate) struct Expanded {
    pub(crate) claims: Vec<Claim>,
    /// ELF files whose closure must be resolved: (image path, host path).
    pub(crate) elf_roots: Vec<(ImagePath, PathBuf)>,
    /// ELF files shipped with `resolve = false`: they still say the image's architecture.
    pub(crate) unresolved_elf: Vec<(ImagePath, PathBuf)>,
    pub(crate) ca_bundle: Option<ImagePath>,
}

/// SHA-256, size and mode of host files, each hashed once per plan.
#[derive(Default)]
pub(crate) struct Hashes(BTreeMap<PathBuf, Hashed>);

/// What one read of a host file gives: both digests the image's records need, its length and
/// its host mode.
#[derive(Clone, Debug)]
pub(crate) struct Hashed {
    pub(crate) sha256: Digest,
    pub(crate) sha1: crate::digest::Sha1,
    pub(crate) size: u64,
    pub(crate) mode: u32,
}

impl Hashed {
    /// The Plan's entry for the host file at `host` these hashes are of.
    pub(crate) fn entry(&self, host: PathBuf) -> EntryKind {
        EntryKind::File {
            source: Source::Host(host),
            size: self.size,
            sha256: self.sha256.clone(),
            sha1: self.sha1,
        }
    }
}

impl Hashes {
    /// How many files were hashed, and their bytes in all.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (self.0.len() as u64, self.0.values().map(|v| v.size).sum())
    }

    pub(crate) fn file(&mut self, path: &Path) -> std::io::Result<Hashed> {
        if let Some(v) = self.0.get(path) {
            return Ok(v.clone());
        }
        let f = fs_err::File::open(path)?;
        let mode = f.metadata()?.permissions().mode();
        let (d, sha1, n) =
            crate::digest::sha256_and_sha1(std::io::BufReader::with_capacity(256 * 1024, f))?;
        crate::progress::emit(crate::progress::Event::Advance {
            step: crate::progress::Step::Hash,
            by: n,
        });
        let h = Hashed {
            sha256: d,
            sha1,
            size: n,
            mode,
        };
        self.0.insert(path.to_path_buf(), h.clone());
        Ok(h)
    }
}

/// Files: 0755 when any execute bit is set, else 0644. Directories: 0755. The host's umask,
/// setuid bits and group/other write bits never leak into the image.
pub(crate) fn normal_mode(host_mode: u32) -> u32 {
    if host_mode & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

enum Want {
    File,
    Dir,
}

/// Why a source path cannot be read, in plain words (`no such file or directory`), without
/// the path (the message names it as the user wrote it) or the I/O library's phrasing.
fn reason(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::NotADirectory => "a folder on its way is a file".into(),
        _ => e.into_inner_io_error().to_string(),
    }
}

/// Checks a source path; returns it (canonical when relative, to pin what was checked).
fn check_source(
    m: &Manifest,
    c: &Component,
    sp: &SourcePath,
    field: &str,
    want: Want,
) -> Result<PathBuf, Error> {
    let err = |msg: String| Diagnostic::new(msg, sp.location.clone());
    let meta = fs_err::metadata(&sp.host).map_err(|e| {
        let cause = reason(e);
        let mut d = err(format!(
            "cannot read `{field}` {:?} of component `{}`: {cause}",
            sp.written, c.name
        ));
        if sp.relative {
            d = d.with_hint(format!(
                "relative paths are relative to the manifest's folder, {}",
                m.dir.display()
            ));
        }
        d
    })?;
    let mut path = sp.host.clone();
    if sp.relative {
        let canon = fs_err::canonicalize(&sp.host)
            .map_err(|e| err(format!("cannot resolve {:?}: {}", sp.written, reason(e))))?;
        // The tree a relative source may use: the manifest's folder, or the folder its
        // leading `..` components name explicitly. Symlinks may not lead beyond it.
        let base = tree_of(&m.dir, &sp.written);
        if !canon.starts_with(&base) {
            return Err(err(format!(
                "`{field}` {:?} of component `{}` leads outside {} through a symlink (to {})",
                sp.written,
                c.name,
                base.display(),
                canon.display()
            ))
            .with_hint("a relative source may not be redirected by symlinks out of the folder it names; write the real path, or an absolute one")
            .into());
        }
        path = canon;
    }
    match want {
        Want::File if meta.is_dir() => Err(err(format!(
            "`{field}` {:?} of component `{}` is a directory, not a file",
            sp.written, c.name
        ))
        .with_hint("use `kind = \"tree\"` to copy a directory")
        .into()),
        Want::File if !meta.is_file() => Err(err(format!(
            "`{field}` {:?} of component `{}` is not a regular file",
            sp.written, c.name
        ))
        .into()),
        Want::Dir if !meta.is_dir() => Err(err(format!(
            "`{field}` {:?} of component `{}` is not a directory",
            sp.written, c.name
        ))
        .into()),
        _ => Ok(path),
    }
}

/// The manifest's folder, moved up once per leading `..` of `written` (lexically).
fn tree_of(dir: &Path, written: &str) -> PathBuf {
    let mut base = dir.to_path_buf();
    let mut depth: i32 = 0;
    let mut lowest = 0;
    for part in written.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                lowest = lowest.min(depth);
            }
            _ => depth += 1,
        }
    }
    for _ in 0..-lowest {
        base.pop();
    }
    base
}

trait IntoIo {
    fn into_inner_io_error(self) -> std::io::Error;
}

impl IntoIo for std::io::Error {
    /// fs-err's errors repeat the path, which the diagnostic already names.
    fn into_inner_io_error(self) -> std::io::Error {
        let kind = self.kind();
        match self.into_inner() {
            Some(inner) => match inner.source() {
                Some(src) => std::io::Error::new(kind, src.to_string()),
                None => std::io::Error::new(kind, inner.to_string()),
            },
            None => std::io::Error::from(kind),
        }
    }
}

pub(crate) fn component(
    m: &Manifest,
    idx: usize,
    c: &Component,
    target: &crate::root::TargetRoot,
    hashes: &mut Hashes,
) -> Result<Expanded, Error> {
    let root = target.path();
    let mut out = Expanded::default();
    let prov = |note: Option<String>| Provenance {
        component: c.name.clone(),
        needed_by: vec![],
        note,
        ..Default::default()
    };
    let mut claim = |out: &mut Expanded,
                     path: ImagePath,
                     kind: EntryKind,
                     mode: u32,
                     uid: u32,
                     gid: u32,
                     note: Option<String>| {
        out.claims.push(Claim {
            path,
            kind,
            mode,
            uid,
            gid,
            layer: c.layer,
            provenance: prov(note),
            component: idx,
        });
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| Error::Io { path, source: e }
    };
    match &c.spec {
        ComponentSpec::Elf {
            from,
            to,
            mode,
            uid,
            gid,
            resolve,
        } => {
            let host = check_source(m, c, from, "from", Want::File)?;
            match elf::read(&host) {
                Ok(_) => {}
                Err(elf::Error::NotElf { .. }) => {
                    return Err(Diagnostic::new(
                        format!(
                            "`from` {:?} of component `{}` is not an ELF file",
                            from.written, c.name
                        ),
                        from.location.clone(),
                    )
                    .with_hint("use `kind = \"file\"` for scripts, data and other non-ELF files")
                    .into())
                }
                Err(elf::Error::Malformed { reason, .. }) => {
                    return Err(Diagnostic::new(
                        format!(
                            "`from` {:?} of component `{}` is a malformed ELF file: {reason}",
                            from.written, c.name
                        ),
                        from.location.clone(),
                    )
                    .into())
                }
                Err(e @ elf::Error::Io { .. }) => {
                    return Err(Diagnostic::new(
                        format!(
                            "cannot read `from` {:?} of component `{}`: {e}",
                            from.written, c.name
                        ),
                        from.location.clone(),
                    )
                    .into())
                }
            }
            let hashed = hashes.file(&host).map_err(io(&host))?;
            claim(
                &mut out,
                to.clone(),
                hashed.entry(host.clone()),
                mode.unwrap_or(normal_mode(hashed.mode)),
                *uid,
                *gid,
                None,
            );
            if *resolve {
                out.elf_roots.push((to.clone(), host));
            } else {
                out.unresolved_elf.push((to.clone(), host));
            }
        }
        ComponentSpec::File {
            content,
            to,
            mode,
            uid,
            gid,
        } => match content {
            FileContent::Path(sp) => {
                let host = check_source(m, c, sp, "from", Want::File)?;
                let hashed = hashes.file(&host).map_err(io(&host))?;
                claim(
                    &mut out,
                    to.clone(),
                    hashed.entry(host),
                    mode.unwrap_or(normal_mode(hashed.mode)),
                    *uid,
                    *gid,
                    None,
                );
            }
            FileContent::Inline(text) => {
                let bytes = text.as_bytes().to_vec();
                claim(
                    &mut out,
                    to.clone(),
                    inline(bytes),
                    mode.unwrap_or(0o644),
                    *uid,
                    *gid,
                    None,
                );
            }
        },
        ComponentSpec::Tree {
            from,
            to,
            include,
            exclude,
            uid,
            gid,
            resolve,
        } => {
            let host = check_source(m, c, from, "from", Want::Dir)?;
            let set = |pats: &[String]| {
                let mut b = globset::GlobSetBuilder::new();
                for p in pats {
                    if let Ok(g) = globset::GlobBuilder::new(p).literal_separator(true).build() {
                        b.add(g);
                    }
                }
                b.build().unwrap_or_else(|_| globset::GlobSet::empty())
            };
            let (inc, exc) = (set(include), set(exclude));
            let mut stack = vec![(host.clone(), String::new())];
            let mut any = false;
            while let Some((dir, rel)) = stack.pop() {
                let mut names: Vec<_> = fs_err::read_dir(&dir)
                    .map_err(io(&dir))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(io(&dir))?;
                names.sort_by_key(|e| e.file_name());
                for e in names.into_iter().rev() {
                    let name = e.file_name();
                    let Some(name) = name.to_str() else {
                        return Err(Diagnostic::new(
                            format!(
                                "tree `{}` holds a file name that is not UTF-8: {}",
                                c.name,
                                e.path().display()
                            ),
                            from.location.clone(),
                        )
                        .into());
                    };
                    let r = if rel.is_empty() {
                        name.to_string()
                    } else {
                        format!("{rel}/{name}")
                    };
                    if exc.is_match(&r) {
                        continue;
                    }
                    let p = e.path();
                    let meta = fs_err::symlink_metadata(&p).map_err(io(&p))?;
                    let dest = placed(c, from, to, &r, &p)?;
                    if meta.file_type().is_symlink() {
                        if inc.is_match(&r) {
                            let t = fs_err::read_link(&p).map_err(io(&p))?;
                            claim(
                                &mut out,
                                dest,
                                EntryKind::Symlink {
                                    target: t.to_string_lossy().into_owned(),
                                },
                                0o777,
                                *uid,
                                *gid,
                                None,
                            );
                            any = true;
                        }
                    } else if meta.is_dir() {
                        if inc.is_match(&r) {
                            claim(&mut out, dest, EntryKind::Dir, 0o755, *uid, *gid, None);
                        }
                        stack.push((p, r));
                    } else if meta.is_file() {
                        if inc.is_match(&r) {
                            let hashed = hashes.file(&p).map_err(io(&p))?;
                            claim(
                                &mut out,
                                dest.clone(),
                                hashed.entry(p.clone()),
                                normal_mode(hashed.mode),
                                *uid,
                                *gid,
                                None,
                            );
                            any = true;
                            if *resolve && elf::is_elf(&p).map_err(io(&p))? {
                                out.elf_roots.push((dest, p));
                            }
                        }
                    } else {
                        return Err(Diagnostic::new(
                            format!(
                                "tree `{}` holds {}, which is not a file, directory or symlink",
                                c.name,
                                p.display()
                            ),
                            from.location.clone(),
                        )
                        .with_hint("exclude it with `exclude = [...]`")
                        .into());
                    }
                }
            }
            if !any {
                return Err(Diagnostic::new(
                    format!("tree `{}` selects no files from {:?}", c.name, from.written),
                    from.location.clone(),
                )
                .with_hint("check `include` and `exclude`")
                .into());
            }
        }
        ComponentSpec::Dir { to, mode, uid, gid } => claim(
            &mut out,
            to.clone(),
            EntryKind::Dir,
            *mode,
            *uid,
            *gid,
            None,
        ),
        ComponentSpec::Symlink { to, target } => claim(
            &mut out,
            to.clone(),
            EntryKind::Symlink {
                target: target.clone(),
            },
            0o777,
            0,
            0,
            None,
        ),
        ComponentSpec::Accounts { users, groups } => {
            // Lines made of checked fields only (`AccountName`, `PasswdField`).
            let passwd: String = users.iter().map(|u| u.passwd_line()).collect();
            let group: String = groups.iter().map(|g| g.group_line()).collect();
            claim(
                &mut out,
                path("/etc/passwd"),
                inline(passwd.into_bytes()),
                0o644,
                0,
                0,
                None,
            );
            claim(
                &mut out,
                path("/etc/group"),
                inline(group.into_bytes()),
                0o644,
                0,
                0,
                None,
            );
            for u in users {
                let h = u.home.as_str();
                if h != "/" && h != "/nonexistent" {
                    let home = ImagePath::parse(h).map_err(|e| {
                        Diagnostic::new(format!("home {h:?} {e}"), c.location.clone())
                    })?;
                    claim(
                        &mut out,
                        home,
                        EntryKind::Dir,
                        0o700,
                        u.uid,
                        u.gid,
                        Some(format!("home of {}", u.name)),
                    );
                }
            }
        }
        ComponentSpec::CaBundle { from, extra, to } => {
            let mut bundle = Vec::new();
            let from: Vec<SourcePath> = from
                .iter()
                .map(|sp| from_packages(target, c, sp, "ca-certificates"))
                .collect::<Result<_, _>>()?;
            for (sp, field) in from
                .iter()
                .map(|s| (s, "from"))
                .chain(extra.iter().map(|s| (s, "extra")))
            {
                let host = check_source(m, c, sp, field, Want::File)?;
                let len = fs_err::metadata(&host).map_err(io(&host))?.len();
                if len > 64 << 20 {
                    return Err(Diagnostic::new(format!("`{field}` {:?} is {len} bytes; a CA bundle over 64 MiB is not PEM certificates", sp.written), sp.location.clone()).into());
                }
                let text = fs_err::read(&host).map_err(io(&host))?;
                if !text
                    .windows(27)
                    .any(|w| w == b"-----BEGIN CERTIFICATE-----")
                {
                    return Err(Diagnostic::new(
                        format!(
                            "`{field}` {:?} of component `{}` holds no PEM certificate",
                            sp.written, c.name
                        ),
                        sp.location.clone(),
                    )
                    .with_hint("CA files are PEM: `-----BEGIN CERTIFICATE-----` blocks")
                    .into());
                }
                bundle.extend_from_slice(&text);
                if !bundle.ends_with(b"\n") {
                    bundle.push(b'\n');
                }
            }
            claim(&mut out, to.clone(), inline(bundle), 0o644, 0, 0, None);
            out.ca_bundle = Some(to.clone());
        }
        ComponentSpec::Tzdata { zones, from, to } => {
            let from = &from_packages(target, c, from, "tzdata")?;
            let host = check_source(m, c, from, "from", Want::Dir)?;
            tzdata(
                c,
                zones.as_deref(),
                from,
                &host,
                to,
                hashes,
                &mut out,
                &mut claim,
            )?;
        }
        ComponentSpec::OsRelease { fields, to } => {
            let text = os_release(root, fields)?;
            claim(
                &mut out,
                to.clone(),
                inline(text.into_bytes()),
                0o644,
                0,
                0,
                None,
            );
        }
        // The base's files are in its own layers: `plan` lists them from the opened base.
        ComponentSpec::Base => {}
        ComponentSpec::Deb { .. } => return super::deb::expand(c, idx, target, hashes),
    }
    Ok(out)
}

/// System data a component takes by default (`/etc/ssl/certs/ca-certificates.crt`,
/// `/usr/share/zoneinfo`): in an archive build, the target root's copy (the packages'), never
/// the build host's; an error naming `package` when the packages have none.
fn from_packages(
    target: &crate::root::TargetRoot,
    c: &Component,
    sp: &SourcePath,
    package: &str,
) -> Result<SourcePath, Error> {
    const SYSTEM: [&str; 2] = ["/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo"];
    if *target.kind() != crate::root::RootKind::Archive
        || sp.relative
        || !SYSTEM.contains(&sp.written.as_str())
    {
        return Ok(sp.clone());
    }
    let host = target.path().join(sp.written.trim_start_matches('/'));
    if !host.exists() {
        return Err(Diagnostic::new(
            format!(
                "component `{}` takes {} from the image's Debian packages, and none of them has it",
                c.name, sp.written
            ),
            sp.location.clone(),
        )
        .with_hint(format!(
            "add `{package}` to a deb component's packages (its files need not ship: `include` can leave them out), or name a host file in `from`"
        ))
        .into());
    }
    Ok(SourcePath { host, ..sp.clone() })
}

/// Where host file `host` (at `rel` under the source folder `from`) lands under `to`; an error
/// naming the host file when the image path would break Linux's path limits.
fn placed(
    c: &Component,
    from: &SourcePath,
    to: &ImagePath,
    rel: &str,
    host: &Path,
) -> Result<ImagePath, Error> {
    to.join(rel).map_err(|why| {
        Diagnostic::new(
            format!(
                "component `{}` would place {} at an image path that {why}",
                c.name,
                host.display()
            ),
            from.location.clone(),
        )
        .with_hint("exclude it with `exclude = [...]`, or give the component a shorter `to`")
        .into()
    })
}

fn path(s: &str) -> ImagePath {
    ImagePath::parse(s).expect("static path")
}

fn inline(bytes: Vec<u8>) -> EntryKind {
    EntryKind::File {
        sha256: Digest::of(&bytes),
        sha1: crate::digest::Sha1::of(&bytes),
        size: bytes.len() as u64,
        source: Source::Inline(Arc::new(bytes)),
    }
}

#[allow(clippy::too_many_arguments)]
fn tzdata(
    c: &Component,
    zones: Option<&[String]>,
    from: &SourcePath,
    host: &Path,
    to: &ImagePath,
    hashes: &mut Hashes,
    out: &mut Expanded,
    claim: &mut impl FnMut(&mut Expanded, ImagePath, EntryKind, u32, u32, u32, Option<String>),
) -> Result<(), Error> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| Error::Io { path: p, source: e }
    };
    let empty = BTreeMap::<ImagePath, OverlayNode>::new();
    let view = View::new(host, &empty);
    match zones {
        Some(zones) => {
            for z in zones {
                let found = view.lookup(&format!("/{z}")).map_err(|_| {
                    Diagnostic::new(format!("time zone {z:?} of component `{}` is not in {}", c.name, host.display()), from.location.clone())
                        .with_hint("zone names are paths under the zoneinfo folder, like \"Europe/Berlin\" or \"UTC\"")
                })?;
                if found.links.iter().any(|l| l.target.starts_with('/')) {
                    return Err(Diagnostic::new(
                        format!(
                            "time zone {z:?} is an absolute symlink in {}",
                            host.display()
                        ),
                        from.location.clone(),
                    )
                    .into());
                }
                for l in &found.links {
                    claim(
                        out,
                        placed(
                            c,
                            from,
                            to,
                            l.path.relative(),
                            &host.join(l.path.relative()),
                        )?,
                        EntryKind::Symlink {
                            target: l.target.clone(),
                        },
                        0o777,
                        0,
                        0,
                        Some(format!("zone {z}")),
                    );
                }
                let h = found.origin.host().to_path_buf();
                let mut magic = [0u8; 4];
                let ok = fs_err::File::open(&h)
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                    .is_ok()
                    && &magic == b"TZif";
                if !ok {
                    return Err(Diagnostic::new(
                        format!(
                            "time zone {z:?} of component `{}` is not a TZif file ({})",
                            c.name,
                            h.display()
                        ),
                        from.location.clone(),
                    )
                    .into());
                }
                let hashed = hashes.file(&h).map_err(io(&h))?;
                claim(
                    out,
                    placed(c, from, to, found.real.relative(), &h)?,
                    hashed.entry(h),
                    0o644,
                    0,
                    0,
                    Some(format!("zone {z}")),
                );
            }
        }
        None => {
            let mut stack = vec![(host.to_path_buf(), String::new())];
            while let Some((dir, rel)) = stack.pop() {
                let mut names: Vec<_> = fs_err::read_dir(&dir)
                    .map_err(io(&dir))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(io(&dir))?;
                names.sort_by_key(|e| e.file_name());
                for e in names {
                    let Some(name) = e.file_name().to_str().map(str::to_string) else {
                        continue;
                    };
                    let r = if rel.is_empty() {
                        name
                    } else {
                        format!("{rel}/{name}")
                    };
                    let p = e.path();
                    let meta = fs_err::symlink_metadata(&p).map_err(io(&p))?;
                    if meta.file_type().is_symlink() {
                        // Links that leave the zoneinfo folder (localtime -> /etc/localtime)
                        // would dangle in the image.
                        if view.lookup(&format!("/{r}")).is_ok() {
                            let t = fs_err::read_link(&p).map_err(io(&p))?;
                            if !t.is_absolute() {
                                claim(
                                    out,
                                    placed(c, from, to, &r, &p)?,
                                    EntryKind::Symlink {
                                        target: t.to_string_lossy().into_owned(),
                                    },
                                    0o777,
                                    0,
                                    0,
                                    None,
                                );
                            }
                        }
                    } else if meta.is_dir() {
                        claim(
                            out,
                            placed(c, from, to, &r, &p)?,
                            EntryKind::Dir,
                            0o755,
                            0,
                            0,
                            None,
                        );
                        stack.push((p, r));
                    } else if meta.is_file() {
                        let hashed = hashes.file(&p).map_err(io(&p))?;
                        claim(
                            out,
                            placed(c, from, to, &r, &p)?,
                            hashed.entry(p),
                            0o644,
                            0,
                            0,
                            None,
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// The os-release fields of the target root that the image's os-release repeats.
const ROOT_FIELDS: &[&str] = &[
    "ID",
    "ID_LIKE",
    "NAME",
    "VERSION_ID",
    "VERSION",
    "VERSION_CODENAME",
    "HOME_URL",
    "SUPPORT_URL",
    "BUG_REPORT_URL",
    "PRETTY_NAME",
];

/// The most bytes kiln reads of the target root's os-release.
const MAX_ROOT_OS_RELEASE: u64 = 64 * 1024;

/// `/etc/os-release` for the image: the target root's identity (so scanners know the source
/// distribution) with a PRETTY_NAME that says what this image is, then the manifest's fields.
/// A root value that would break the format (a NUL, a control character, over 1024 bytes: see
/// [`values::os_release_value`]) is an error naming the file and field, never copied.
pub(crate) fn os_release(root: &Path, fields: &BTreeMap<String, String>) -> Result<String, Error> {
    let mut map = BTreeMap::new();
    if let Some((path, text)) = root_os_release(root)? {
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let k = k.trim();
            if !ROOT_FIELDS.contains(&k) {
                continue;
            }
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            values::os_release_value(&v).map_err(|why| Error::RootValue {
                path: path.clone(),
                what: format!("os-release field `{k}` {}", values::shown(&v)),
                why: why.to_string(),
            })?;
            map.insert(k.to_string(), v);
        }
    }
    let base = map.get("PRETTY_NAME").cloned();
    map.insert(
        "PRETTY_NAME".into(),
        match base {
            Some(b) => format!("Distroless image built by kiln from {b}"),
            None => "Distroless image built by kiln".into(),
        },
    );
    map.entry("ID".into()).or_insert_with(|| "kiln".into());
    for (k, v) in fields {
        map.insert(k.clone(), v.clone());
    }
    let quote = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('`', "\\`")
    };
    Ok(map
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"\n", quote(v)))
        .collect())
}

/// The target root's os-release (`/etc/os-release`, else `/usr/lib/os-release`): its path and
/// text, `None` when neither reads as UTF-8 text; an error when it is over 64 KiB.
fn root_os_release(root: &Path) -> Result<Option<(PathBuf, String)>, Error> {
    for rel in ["etc/os-release", "usr/lib/os-release"] {
        let path = root.join(rel);
        let Ok(f) = fs_err::File::open(&path) else {
            continue;
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(f, MAX_ROOT_OS_RELEASE + 1),
            &mut bytes,
        )
        .map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        if bytes.len() as u64 > MAX_ROOT_OS_RELEASE {
            return Err(Error::RootValue {
                path,
                what: "os-release".into(),
                why: format!("is over {MAX_ROOT_OS_RELEASE} bytes"),
            });
        }
        if let Ok(text) = String::from_utf8(bytes) {
            return Ok(Some((path, text)));
        }
    }
    Ok(None)
}
