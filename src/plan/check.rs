//! Checks on the finished Plan: will the image run what it says it runs?
//!
//! Owns: looking paths up in the Plan as the kernel would (symlinks resolved inside the image,
//! at most 40 of them; every directory on the way searchable), the kernel's permission rule for
//! executing a file and searching a directory as the image's `uid:gid`, the `#!` line of a
//! script (its interpreter, and `/usr/bin/env NAME` looked up on the image's PATH as `env`
//! would), the list of shipped symlinks that point at nothing, the Rust programs whose
//! crates the SBOM cannot list (no cargo-auditable data), that every `loaded-from`
//! directory is one the image has and some library is loaded from, and programs that run a
//! shell (`system`, `popen`, `exec*`/`posix_spawn*` or Go's `os/exec` with `/bin/sh`) in an
//! image without `/bin/sh` (a warning, waivable per program as `shell:PATH`).
//! Does not own: what ships (`plan`), the ELF loader and its libraries (`resolve`), the words
//! the manifest places of the messages (`plan::build` attaches them).
//! Invariant: nothing is executed; every refusal names the path and what is wrong with it.
//! Supplementary groups do not count, as at run time: the image config names the user as
//! numeric `uid:gid`, and runtimes add groups from `/etc/group` only for a user given by name
//! (tests/it/engines.rs shows it with podman and runc); a `podman run --user NAME` may add some.
//! Known gaps: file capabilities, `noexec` mounts.

use super::{Entry, EntryKind, Plan, Source};
use std::io::Read;
use std::path::PathBuf;

/// The kernel's limit on symlinks followed in one lookup (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;
/// The kernel reads this many bytes of a file to find its `#!` line (`BINPRM_BUF_SIZE`).
const SHEBANG_BYTES: u64 = 256;
/// How many interpreters deep a script may go (`#!` naming a script naming ...).
const MAX_INTERPRETERS: usize = 4;
/// Targets the container runtime provides, so a link to them is not dangling.
const RUNTIME_PATHS: &[&str] = &["/proc", "/sys", "/dev", "/run"];
const RUNTIME_FILES: &[&str] = &["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"];

/// The numeric identity the image's processes run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// The permission bits that apply to `user` for an object owned by `uid:gid`: owner bits for
/// the owner (even when they deny what others may do), else group bits, else other bits.
fn class_bits(mode: u32, uid: u32, gid: u32, user: User) -> u32 {
    if user.uid == uid {
        (mode >> 6) & 7
    } else if user.gid == gid {
        (mode >> 3) & 7
    } else {
        mode & 7
    }
}

/// May `user` execute a regular file? Root (`CAP_DAC_OVERRIDE`) still needs some x bit.
pub(crate) fn may_execute(mode: u32, uid: u32, gid: u32, user: User) -> bool {
    if user.uid == 0 {
        mode & 0o111 != 0
    } else {
        class_bits(mode, uid, gid, user) & 1 != 0
    }
}

/// May `user` search (look names up in) a directory? Root always may.
pub(crate) fn may_search(mode: u32, uid: u32, gid: u32, user: User) -> bool {
    user.uid == 0 || class_bits(mode, uid, gid, user) & 1 != 0
}

/// Why a program of the image cannot run. `what` names the program's role and path, e.g.
/// "entrypoint /app" or "interpreter /bin/sh of /app".
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("{what} is not in the image{}", if wanted == missing { String::new() } else { format!(": there is no {missing}") })]
    Missing {
        what: String,
        wanted: String,
        missing: String,
    },
    #[error("{what} cannot be reached: {path} is not a directory")]
    NotDir { what: String, path: String },
    #[error("{what} cannot be reached: more than {MAX_LINKS} symbolic links on the way (a loop?)")]
    Loop { what: String },
    #[error("{what} cannot be reached by the image's user {user}: directory {dir} (mode {mode:04o}, owner {uid}:{gid}) is not searchable by it")]
    NoSearch {
        what: String,
        user: User,
        dir: String,
        mode: u32,
        uid: u32,
        gid: u32,
        component: String,
    },
    #[error("{what} is a {kind}, not a regular file")]
    NotFile {
        what: String,
        kind: &'static str,
        component: String,
    },
    #[error("{what} is not executable by the image's user {user}: {path} has mode {mode:04o}, owner {uid}:{gid}")]
    NotExecutable {
        what: String,
        user: User,
        path: String,
        mode: u32,
        uid: u32,
        gid: u32,
        component: String,
    },
    #[error("{what} is neither an ELF program nor a `#!` script: the kernel cannot execute it")]
    NotProgram { what: String, component: String },
    #[error("{what} runs `{name}` through `env`, but no `{name}` is on the image's PATH ({path})")]
    NotOnPath {
        what: String,
        name: String,
        path: String,
    },
    #[error("{what} names no program after `env`")]
    EnvWithoutProgram { what: String },
    #[error("{what} is a script whose interpreters go more than {MAX_INTERPRETERS} deep")]
    TooDeep { what: String },
}

impl Refusal {
    /// What the user can do about it.
    pub(crate) fn hint(&self) -> String {
        match self {
            Refusal::Missing { wanted, .. } => format!(
                "add a component that places {wanted}, or name a program the image ships"
            ),
            Refusal::NotDir { path, .. } => {
                format!("{path} must be a directory (or a symlink to one) for the path to lead anywhere")
            }
            Refusal::Loop { .. } => "make the symlinks on the way point somewhere real".into(),
            Refusal::NoSearch { component, .. } => format!(
                "give the directory `mode = \"0755\"` in component `{component}`, which places it, or run as its owner (`[image] user`)"
            ),
            Refusal::NotFile { component, .. } => format!(
                "point the entrypoint at the program itself (component `{component}` places this path)"
            ),
            Refusal::NotExecutable { component, .. } => format!(
                "give component `{component}` `mode = \"0755\"`, or run as a user its mode lets execute it (`[image] user`)"
            ),
            Refusal::NotProgram { component, .. } => format!(
                "start the file placed by component `{component}` with a `#!` line naming its interpreter, or name the program that reads it"
            ),
            Refusal::NotOnPath { name, .. } => format!(
                "ship `{name}` in a directory on PATH, or set PATH in [image] `env`, or name the interpreter's full path after `#!`"
            ),
            Refusal::EnvWithoutProgram { .. } => {
                "write the program to run after `env`, e.g. `#!/usr/bin/env python3`".into()
            }
            Refusal::TooDeep { .. } => "let the `#!` line name an ELF interpreter".into(),
        }
    }
}

/// Where a lookup ended.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The resolved path (`""` is `/`).
    Found(String),
    Missing(String),
    NotDir(String),
    Loop,
    /// A directory on the way that `user` may not search.
    NoSearch(String),
}

/// Looks `path` up in the Plan, following every symlink (the last one too) inside the image.
/// With a user, every directory on the way must be searchable by it (`/` is 0755 root).
fn lookup(plan: &Plan, start: &str, path: &str, user: Option<User>) -> Stop {
    let mut pending: std::collections::VecDeque<String> =
        path.split('/').map(str::to_string).collect();
    // The directory the lookup is in, as a resolved path ("" is `/`).
    let mut cur = if path.starts_with('/') {
        String::new()
    } else {
        start.trim_end_matches('/').to_string()
    };
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c.is_empty() || c == "." {
            continue;
        }
        if let (Some(u), Some(d)) = (user, plan.get(&cur)) {
            if !may_search(d.mode, d.uid, d.gid, u) {
                return Stop::NoSearch(cur);
            }
        }
        if c == ".." {
            cur.truncate(cur.rfind('/').unwrap_or(0));
            continue;
        }
        let next = format!("{cur}/{c}");
        match plan.get(&next).map(|e| &e.kind) {
            None => return Stop::Missing(next),
            Some(EntryKind::Dir) => cur = next,
            Some(EntryKind::File { .. }) if !pending.iter().all(|p| p.is_empty()) => {
                return Stop::NotDir(next)
            }
            Some(EntryKind::File { .. }) => cur = next,
            Some(EntryKind::Symlink { target }) => {
                links += 1;
                if links > MAX_LINKS {
                    return Stop::Loop;
                }
                if target.starts_with('/') {
                    cur.clear();
                }
                for t in target.split('/').rev() {
                    pending.push_front(t.to_string());
                }
            }
        }
    }
    Stop::Found(cur)
}

/// What a program check needs to know about the image.
pub(crate) struct Runner<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) user: User,
    /// The image's PATH (the config's).
    pub(crate) path: &'a str,
}

impl Runner<'_> {
    /// Checks that `program` (the entrypoint, or `cmd[0]`, looked up on PATH when it has no
    /// `/`) can be executed by the image's user. `role` is e.g. "entrypoint". The outer error
    /// is a file kiln could not read; the inner one is the verdict.
    pub(crate) fn program(
        &self,
        role: &str,
        program: &str,
    ) -> Result<Result<(), Refusal>, super::Error> {
        if program.contains('/') {
            let workdir = self.plan.image.workdir.as_str().to_string();
            return self.executable(&format!("{role} {program}"), &workdir, program, 0);
        }
        self.on_path(&format!("{role} `{program}`"), program, 0)
    }

    /// The first executable `name` in a PATH directory, checked in full, as `execvp` finds it.
    fn on_path(
        &self,
        what: &str,
        name: &str,
        depth: usize,
    ) -> Result<Result<(), Refusal>, super::Error> {
        for dir in self.path.split(':').filter(|d| d.starts_with('/')) {
            let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
            if let Stop::Found(real) = lookup(self.plan, "/", &candidate, Some(self.user)) {
                if let Some(e) = self.plan.get(&real) {
                    if matches!(e.kind, EntryKind::File { .. })
                        && may_execute(e.mode, e.uid, e.gid, self.user)
                    {
                        return self.executable(
                            &format!("{what} ({candidate})"),
                            "/",
                            &candidate,
                            depth,
                        );
                    }
                }
            }
        }
        Ok(Err(Refusal::NotOnPath {
            what: what.to_string(),
            name: name.to_string(),
            path: self.path.to_string(),
        }))
    }

    /// `path` resolves to a regular file `user` may execute, through searchable directories;
    /// a script's interpreter passes the same test.
    fn executable(
        &self,
        what: &str,
        start: &str,
        path: &str,
        depth: usize,
    ) -> Result<Result<(), Refusal>, super::Error> {
        if depth > MAX_INTERPRETERS {
            return Ok(Err(Refusal::TooDeep {
                what: what.to_string(),
            }));
        }
        let what = what.to_string();
        let real = match lookup(self.plan, start, path, Some(self.user)) {
            Stop::Found(real) => real,
            Stop::Missing(missing) => {
                return Ok(Err(Refusal::Missing {
                    what,
                    wanted: path.to_string(),
                    missing,
                }))
            }
            Stop::NotDir(path) => return Ok(Err(Refusal::NotDir { what, path })),
            Stop::Loop => return Ok(Err(Refusal::Loop { what })),
            Stop::NoSearch(dir) => {
                let d = self
                    .plan
                    .get(&dir)
                    .expect("lookup stops only at planned dirs");
                return Ok(Err(Refusal::NoSearch {
                    what,
                    user: self.user,
                    mode: d.mode,
                    uid: d.uid,
                    gid: d.gid,
                    component: d.provenance.component.clone(),
                    dir,
                }));
            }
        };
        let Some(e) = self.plan.get(&real) else {
            return Ok(Err(Refusal::NotFile {
                what,
                kind: "dir",
                component: String::new(),
            }));
        };
        let EntryKind::File { source, .. } = &e.kind else {
            return Ok(Err(Refusal::NotFile {
                what,
                kind: e.kind.type_name(),
                component: e.provenance.component.clone(),
            }));
        };
        if !may_execute(e.mode, e.uid, e.gid, self.user) {
            return Ok(Err(Refusal::NotExecutable {
                what,
                user: self.user,
                path: real,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                component: e.provenance.component.clone(),
            }));
        }
        let head = head(source)?;
        if head.starts_with(b"\x7fELF") {
            return Ok(Ok(()));
        }
        let Some((interpreter, arg)) = shebang(&head) else {
            return Ok(Err(Refusal::NotProgram {
                what,
                component: e.provenance.component.clone(),
            }));
        };
        let script = &real;
        // A relative interpreter is opened from the process's working directory, as the
        // kernel's `open_exec` does.
        let workdir = self.plan.image.workdir.as_str().to_string();
        if interpreter.rsplit('/').next() == Some("env") {
            if let Err(r) = self.executable(
                &format!("interpreter {interpreter} of script {script}"),
                &workdir,
                &interpreter,
                depth + 1,
            )? {
                return Ok(Err(r));
            }
            let Some(name) = env_program(arg.as_deref().unwrap_or("")) else {
                return Ok(Err(Refusal::EnvWithoutProgram {
                    what: format!("the `#!` line of {script}"),
                }));
            };
            let what = format!("script {script}");
            if name.contains('/') {
                return self.executable(
                    &format!("{what} runs {name}, which"),
                    "/",
                    &name,
                    depth + 1,
                );
            }
            return self.on_path(&what, &name, depth + 1);
        }
        self.executable(
            &format!("interpreter {interpreter} of script {script}"),
            &workdir,
            &interpreter,
            depth + 1,
        )
    }
}

/// The directory of a resolved path.
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The first bytes of a file, as the kernel reads them to decide how to execute it.
fn head(source: &Source) -> Result<Vec<u8>, super::Error> {
    match source {
        Source::Inline(b) => Ok(b[..b.len().min(SHEBANG_BYTES as usize)].to_vec()),
        Source::Host(h) | Source::Base(h) => {
            let io = |e| super::Error::Io {
                path: PathBuf::from(h),
                source: e,
            };
            let mut buf = Vec::new();
            fs_err::File::open(h)
                .map_err(io)?
                .take(SHEBANG_BYTES)
                .read_to_end(&mut buf)
                .map_err(io)?;
            Ok(buf)
        }
    }
}

/// The interpreter and its one optional argument of a `#!` line, split as the kernel does
/// (`fs/binfmt_script.c`): blanks after `#!` skipped, the interpreter ends at a blank, the rest
/// of the line (trimmed) is one argument.
fn shebang(head: &[u8]) -> Option<(String, Option<String>)> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    let line = String::from_utf8_lossy(line);
    let line = line.trim_matches([' ', '\t', '\r']);
    if line.is_empty() {
        return None;
    }
    let (interp, arg) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim_matches([' ', '\t'])),
        None => (line, ""),
    };
    Some((
        interp.to_string(),
        (!arg.is_empty()).then(|| arg.to_string()),
    ))
}

/// The program `env` runs, from its arguments: options (`-i`, `-S`, `-u NAME`) and
/// `NAME=VALUE` assignments skipped.
fn env_program(args: &str) -> Option<String> {
    let mut words = args.split_whitespace();
    while let Some(w) = words.next() {
        match w {
            "-u" | "--unset" | "-C" | "--chdir" => {
                words.next();
            }
            "--" => return words.next().map(str::to_string),
            w if w.starts_with('-') || w.contains('=') => {}
            w => return Some(w.to_string()),
        }
    }
    None
}

/// Shipped symlinks whose target, resolved inside the image, is in no entry (links into what
/// the runtime mounts, such as `/proc`, are not counted): `(link, target)`.
pub(crate) fn dangling(plan: &Plan) -> Vec<(&Entry, &str)> {
    plan.entries
        .iter()
        // A base image's links are the base's business, not this manifest's (they may still
        // be the target a shipped link leads to).
        .filter(|e| e.layer != crate::types::LayerKind::BaseImage)
        .filter_map(|e| match &e.kind {
            EntryKind::Symlink { target } => Some((e, target.as_str())),
            _ => None,
        })
        .filter(
            |(e, target)| match lookup(plan, parent(e.path.as_str()), target, None) {
                Stop::Found(_) | Stop::NoSearch(_) => false,
                Stop::Loop | Stop::NotDir(_) => true,
                Stop::Missing(m) => {
                    !(RUNTIME_FILES.contains(&m.as_str())
                        || RUNTIME_PATHS
                            .iter()
                            .any(|r| m == *r || m.starts_with(&format!("{r}/"))))
                }
            },
        )
        .collect()
}

/// The warning for dangling links, at most `SHOWN` of them listed.
pub(crate) fn dangling_warning(links: &[(&Entry, &str)]) -> Option<String> {
    const SHOWN: usize = 10;
    if links.is_empty() {
        return None;
    }
    let n = links.len();
    let mut w = format!(
        "{n} {} that {} point{} at nothing in the image:",
        if n == 1 { "symlink" } else { "symlinks" },
        if n == 1 { "ships" } else { "ship" },
        if n == 1 { "s" } else { "" },
    );
    for (e, target) in links.iter().take(SHOWN) {
        w.push_str(&format!(
            "\n  {} -> {target} (component `{}`)",
            e.path, e.provenance.component
        ));
    }
    if n > SHOWN {
        w.push_str(&format!(
            "\n  and {} more (`kiln build --plan` lists every entry)",
            n - SHOWN
        ));
    }
    Some(w)
}

/// A warning for each application program rustc linked without cargo-auditable data (or with
/// data kiln cannot read): its crates cannot be in the SBOM.
pub(crate) fn unaudited_rust(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for (path, e) in &plan.embedded {
        match &e.rust {
            Some(Ok(_)) => {}
            Some(Err(why)) => out.push(format!(
                "`{path}` has cargo-auditable data kiln cannot read ({why}): its crates are not in the SBOM"
            )),
            None if e.rust_program => out.push(format!(
                "`{path}` is a Rust program without cargo-auditable data: its crates are not in the SBOM\n\nhint: build it with `cargo auditable build --release`"
            )),
            None => {}
        }
    }
    out
}

/// Every `loaded-from` directory is a directory of the image, and some object of its component
/// needs a library in it: a statement that changes nothing is a mistake, as a waiver is.
pub(crate) fn loaded_from(
    manifest: &crate::manifest::Manifest,
    view: &crate::resolve::View<'_>,
    used: &std::collections::BTreeSet<(usize, String)>,
) -> Result<(), super::Error> {
    for (ci, c) in manifest.components.iter().enumerate() {
        for l in &c.loaded_from {
            let dir = l.dir.as_str();
            let problem = if !view.is_dir(dir) {
                format!(
                    "`loaded-from` {dir} of component `{}` is not a directory of the image",
                    c.name
                )
            } else if !used.contains(&(ci, dir.to_string())) {
                format!("`loaded-from` {dir} of component `{}` provides nothing: no object of the component needs a library in it", c.name)
            } else {
                continue;
            };
            return Err(crate::span::Diagnostic::new(problem, l.location.clone())
                .with_hint("name the image directory the program itself loads the library from (the one holding the file a DT_NEEDED names), or remove it")
                .into());
        }
    }
    Ok(())
}

/// The symbol by which an object shows it runs a shell, if it does: `system` or `popen`
/// (always `/bin/sh -c`); an `exec` or `posix_spawn` function when `/bin/sh` is among its
/// read-only strings; Go's `os/exec` (linked in) with `/bin/sh` among its strings. A Go
/// program running `exec.Command("sh", ...)` is not seen: `sh` alone is too common a string.
pub(crate) fn shell_use(info: &crate::elf::ElfInfo) -> Option<String> {
    let always = info
        .runs_programs
        .iter()
        .find(|s| *s == "system" || *s == "popen");
    if let Some(s) = always {
        return Some(s.clone());
    }
    if !info.mentions_bin_sh {
        return None;
    }
    match info.runs_programs.first() {
        Some(s) => Some(s.clone()),
        None if info.go_os_exec => Some("os/exec".into()),
        None => None,
    }
}

/// Whether the image has `/bin/sh`: a path that resolves, through its symlinks, to a file.
pub(crate) fn has_shell(plan: &Plan) -> bool {
    match lookup(plan, "/", "/bin/sh", None) {
        Stop::Found(p) => matches!(plan.get(&p).map(|e| &e.kind), Some(EntryKind::File { .. })),
        _ => false,
    }
}

/// One warning per program that runs a shell when the image has none: `users` maps an
/// object's image path to its component and the symbol that shows the shell use.
pub(crate) fn shell_warnings(
    plan: &Plan,
    users: &std::collections::BTreeMap<String, (String, String)>,
    waived: impl Fn(&str) -> bool,
) -> Vec<String> {
    if users.is_empty() || has_shell(plan) {
        return Vec::new();
    }
    users
        .iter()
        .filter(|(path, _)| !waived(&format!("shell:{path}")))
        .map(|(path, (component, symbol))| {
            let how = match symbol.as_str() {
                "system" | "popen" => format!("calls `{symbol}`, which runs `/bin/sh -c`"),
                "os/exec" => "links Go's `os/exec` and names `/bin/sh`".to_string(),
                _ => format!("calls `{symbol}` and names `/bin/sh`"),
            };
            format!(
                "component `{component}`: {path} {how}, but the image has no /bin/sh\n  hint: such a call fails at run time with a misleading message (postgres' initdb says `popen failure`); add a shell (e.g. busybox-static's /bin/busybox as a `file` component at /bin/sh), or say the program never gets there: [[waive]] load = \"shell:{path}\" why = \"...\""
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONROOT: User = User {
        uid: 65532,
        gid: 65532,
    };
    const ROOT: User = User { uid: 0, gid: 0 };

    #[test]
    fn execute_uses_the_owner_group_or_other_bits() {
        assert!(may_execute(0o755, 0, 0, NONROOT));
        assert!(!may_execute(0o644, 0, 0, NONROOT));
        assert!(!may_execute(0o750, 0, 0, NONROOT), "not in the group");
        assert!(may_execute(0o750, 0, 65532, NONROOT), "group member");
        assert!(may_execute(0o700, 65532, 0, NONROOT), "owner");
        // The owner's bits apply to the owner even when others may.
        assert!(!may_execute(0o601, 65532, 0, NONROOT));
        // The group's bits apply to the group even when others may.
        assert!(!may_execute(0o701, 0, 65532, NONROOT));
        assert!(may_execute(0o001, 1, 1, NONROOT));
    }

    #[test]
    fn root_needs_some_execute_bit() {
        assert!(!may_execute(0o644, 0, 0, ROOT));
        assert!(may_execute(0o744, 1000, 1000, ROOT));
        assert!(may_execute(0o001, 1000, 1000, ROOT));
    }

    #[test]
    fn directory_search_needs_x_but_not_for_root() {
        assert!(may_search(0o755, 0, 0, NONROOT));
        assert!(!may_search(0o700, 0, 0, NONROOT));
        assert!(!may_search(0o754, 0, 0, NONROOT));
        assert!(may_search(0o710, 0, 65532, NONROOT));
        assert!(may_search(0o700, 65532, 65532, NONROOT));
        assert!(may_search(0o000, 0, 0, ROOT));
    }

    #[test]
    fn shebang_lines_split_like_the_kernel() {
        assert_eq!(shebang(b"#!/bin/sh\necho"), Some(("/bin/sh".into(), None)));
        assert_eq!(
            shebang(b"#! /usr/bin/env  python3 -u \n"),
            Some(("/usr/bin/env".into(), Some("python3 -u".into())))
        );
        assert_eq!(shebang(b"#!\n"), None);
        assert_eq!(shebang(b"echo hi\n"), None);
    }

    #[test]
    fn env_arguments_name_the_program() {
        assert_eq!(env_program("python3"), Some("python3".into()));
        assert_eq!(env_program("-S python3 -u"), Some("python3".into()));
        assert_eq!(env_program("-i A=b node"), Some("node".into()));
        assert_eq!(env_program("-u X -- sh"), Some("sh".into()));
        assert_eq!(env_program(""), None);
    }
}
