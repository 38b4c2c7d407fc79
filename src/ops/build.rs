//! `kiln build`: a manifest to its Plans (one per platform, on its base image), the lock
//! policy, then the image written to every output, pushed and loaded into a local engine
//! when asked. Also the one place the ops make a manifest's Plans ([`load_plans`]: `lock`,
//! `explain` and `attest` use it too).
//!
//! Owns: the build request (typed outputs, the push destination, the selected platforms, the
//! lock policy, the engine to load into, base image access, the epoch), its steps in order
//! (outputs checked, manifests read and selected, Plans made, the lock checked, images
//! written, the lock written, pushed, loaded), the sysroot and base image of each Plan
//! (`root_of`, opened through `base::open` for the platform the Plan decides), running
//! `ENGINE load` with its output captured, and the report: every platform's Plan (its
//! warnings), what the lock step did, the sets written, the push summary, the load command.
//! Does not own: reading the manifest from stdin, credentials and passwords, which program an
//! engine is (`KILN_PODMAN`, `KILN_DOCKER`), printing warnings, plans, summaries or the run
//! hint (`cli`); planning (`plan`), the lock's format and drift (`crate::lock`), writing
//! images (`image::output`), the protocol (`registry`, through `ops::push`).
//! Invariant: never prints; the build steps' progress goes to the receiver given (through
//! `progress::scope`), a push's transfer to the `registry::Options` progress of the request;
//! a warning is part of the report and is also said through the receiver as soon as its Plan
//! is made (`progress::Event::Warning`), so a build that fails later has still said it.

use crate::image::output::{self, Output};
use crate::image::BuiltSet;
use crate::manifest::Manifest;
use crate::plan::Plan;
use crate::progress::{self, Progress};
use crate::registry::{self, Reference};
use crate::time::Epoch;
use crate::types::Platform;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the manifest comes from.
#[derive(Debug, Clone)]
pub enum ManifestSource {
    /// A manifest file; relative `from` paths are relative to its folder, and its lock is
    /// `NAME.lock` beside it.
    File(PathBuf),
    /// A manifest's bytes (read from stdin by the caller); relative `from` paths are relative
    /// to the working directory, and there is no lock unless the request names one.
    Stdin(Vec<u8>),
}

/// What the lock is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockPolicy {
    /// Fail on any difference from the lock (`--locked`); never write it.
    Locked,
    /// Write the lock, or update it when it differs; a build of some platforms only leaves it
    /// as it is.
    Update,
}

/// A local container engine the image is loaded into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Podman (`podman load -i`).
    Podman,
    /// Docker (`docker load -i`).
    Docker,
}

impl Engine {
    /// The engine's program name (`podman`, `docker`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
        }
    }

    /// The other engine (what a hint suggests when this one is missing).
    fn other(self) -> Engine {
        match self {
            Engine::Podman => Engine::Docker,
            Engine::Docker => Engine::Podman,
        }
    }
}

/// Load the image into a local engine: `PROGRAM load -i ARCHIVE` of a temporary
/// docker-archive.
#[derive(Debug, Clone)]
pub struct Load {
    /// Which engine.
    pub engine: Engine,
    /// The program to run (the engine's name, or the caller's override).
    pub program: PathBuf,
}

/// Push the image after building it.
#[derive(Debug, Clone)]
pub struct Push {
    /// The registry repository and tag to push to.
    pub destination: Reference,
    /// Credentials, TLS, mount sources, jobs, chunk size; its `progress` receives the
    /// transfer.
    pub registry: registry::Options,
    /// Also write the pushed reference (`HOST/REPO@sha256:...`) and a newline here.
    pub image_refs: Option<PathBuf>,
}

/// What to build, and where to.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The manifest to build.
    pub manifest: ManifestSource,
    /// Where to write the image (empty: `oci:out/NAME:latest`); each layer is compressed
    /// once and every output holds the same image manifest.
    pub outputs: Vec<Output>,
    /// Only these platforms of the manifest's `[image] platforms`, as the user named them
    /// (`linux/arm64`), so a name the manifest lacks is reported with the list it has; empty:
    /// all.
    pub platforms: Vec<String>,
    /// Check or update the lock ([`LockPolicy`]).
    pub lock_policy: LockPolicy,
    /// The lock file (`None`: none, as for a manifest from stdin).
    pub lock_path: Option<PathBuf>,
    /// Make and check the Plans (and the lock under [`LockPolicy::Locked`]), write nothing.
    pub plan_only: bool,
    /// Push after writing the outputs.
    pub push: Option<Push>,
    /// Load into a local engine after writing the outputs.
    pub load: Option<Load>,
    /// How a base image's registry is reached.
    pub base: crate::base::Access,
    /// `SOURCE_DATE_EPOCH`: every time in the image.
    pub epoch: Epoch,
}

/// One platform's Plan.
#[derive(Debug)]
pub struct PlatformPlan {
    /// The manifest's platform (`None` when it lists none).
    pub platform: Option<Platform>,
    /// The Plan; its `warnings` are the caller's to show.
    pub plan: Plan,
}

/// What a build did.
#[derive(Debug)]
pub struct BuildReport {
    /// One per platform built, in the manifest's order.
    pub plans: Vec<PlatformPlan>,
    /// What was written; `None` for a request with `plan_only`.
    pub built: Option<Built>,
}

/// What a build wrote, pushed and loaded.
#[derive(Debug, Clone)]
pub struct Built {
    /// The outputs written (the request's, or the default one), in order.
    pub outputs: Vec<Output>,
    /// What each output holds, in the order of `outputs` (the same images in each).
    pub sets: Vec<BuiltSet>,
    /// What the lock step did.
    pub lock: LockNote,
    /// The push's summary, when one was asked for.
    pub pushed: Option<registry::Summary>,
    /// The load's result, when one was asked for.
    pub loaded: Option<Loaded>,
}

/// What the lock step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockNote {
    /// Nothing written: the lock was the same, checked only, or there is none.
    Unchanged,
    /// Written anew (there was none).
    Wrote(PathBuf),
    /// Updated, with this many changes.
    Updated(PathBuf, usize),
}

/// The image loaded into a local engine.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The engine loaded into.
    pub engine: Engine,
    /// The command run, shell-quoted.
    pub command: String,
    /// The image's name in the engine (`NAME:TAG`).
    pub image: String,
}

/// Why a manifest's Plans could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `SOURCE_DATE_EPOCH` is not a number of seconds.
    #[error(transparent)]
    Epoch(#[from] crate::time::EpochError),
    /// The manifest cannot be read or is not valid.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::Error),
    /// The manifest's `sysroot` is not a directory (the diagnostic points at it, with a hint).
    #[error(transparent)]
    Sysroot(Box<crate::span::Diagnostic>),
    /// The Plan cannot be made (resolution, conflicts, checks, the base image).
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
    /// The packages of `deb` components cannot be had (archive, signature, dependencies).
    #[error(transparent)]
    Packages(Box<crate::deb::Error>),
    /// The same, about something the manifest says (the diagnostic points at it).
    #[error(transparent)]
    PackagesAt(Box<crate::span::Diagnostic>),
}

impl LoadError {
    /// What to do about it, when the error carries a hint as data.
    pub fn hint(&self) -> Option<String> {
        match self {
            LoadError::Packages(e) => e.hint(),
            _ => None,
        }
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two outputs write one path.
    #[error("`--output {first}` and `--output {second}` write the same path")]
    SamePath {
        /// The first output.
        first: Output,
        /// The second, writing the same path.
        second: Output,
    },
    /// The manifest cannot be read or is not valid.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::Error),
    /// `--platform` given for a manifest without `[image] platforms`.
    #[error("`--platform` selects among `[image] platforms`, and the manifest lists none")]
    NoPlatforms,
    /// `--platform` names a platform the manifest does not list.
    #[error("`--platform {wanted}` is not a platform of the manifest; it lists {}", listed.join(", "))]
    UnknownPlatform {
        /// The platform asked for.
        wanted: String,
        /// The platforms the manifest lists.
        listed: Vec<String>,
    },
    /// The Plans cannot be made.
    #[error(transparent)]
    Plans(#[from] LoadError),
    /// `--locked` with no lock file to check against.
    #[error("--locked needs a lock, and a manifest read from stdin has none")]
    LockedWithoutLock,
    /// The lock cannot be read or written, or the build differs from it under `--locked`.
    #[error(transparent)]
    Lock(#[from] crate::lock::Error),
    /// `--load` of a build of several platforms.
    #[error("`--load` loads one platform's image, and the manifest builds {platforms} platforms")]
    LoadSeveral {
        /// How many platforms the manifest builds.
        platforms: usize,
        /// The engine asked for.
        engine: Engine,
        /// The manifest's first platform (the hint's example).
        first: Option<Platform>,
    },
    /// No temporary folder for the push layout or the load archive.
    #[error("cannot create a temporary folder")]
    Scratch(#[source] std::io::Error),
    /// An output cannot be written.
    #[error("cannot build image `{image}`")]
    Write {
        /// The image's name.
        image: String,
        /// Why.
        #[source]
        source: output::Error,
    },
    /// The push failed.
    #[error(transparent)]
    Push(#[from] super::push::Error),
    /// The engine's program is not installed.
    #[error("cannot load the image: `{}` is not installed (no such file on PATH)", program.display())]
    EngineMissing {
        /// The engine.
        engine: Engine,
        /// The program looked for.
        program: PathBuf,
    },
    /// The engine's program cannot be started.
    #[error("cannot run `{command}`")]
    EngineRun {
        /// The command, shell-quoted.
        command: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// The engine's load failed; its standard error is kept.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    EngineFailed {
        /// The command, shell-quoted.
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// What it wrote on standard error.
        stderr: String,
    },
}

impl Error {
    /// What the user can do about it, if kiln knows.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::SamePath { .. } => {
                "give each output its own file (several tags of one oci: layout are fine)".into()
            }
            Error::NoPlatforms => "leave out `--platform`; the manifest builds one image, for \
                                   the platform of its programs"
                .into(),
            Error::UnknownPlatform { listed, .. } => format!(
                "name one of them, e.g. `--platform {}`",
                listed.first().map_or("", String::as_str)
            ),
            Error::LockedWithoutLock => "name one with `--lock FILE`".into(),
            Error::Plans(l) => return l.hint(),
            Error::LoadSeveral { engine, first, .. } => format!(
                "pick one with `--platform`, e.g. `--load={} --platform {}`",
                engine.name(),
                first.map_or(String::new(), |p| p.to_string())
            ),
            Error::EngineMissing { engine, .. } => format!(
                "install {0} (`apt-get install {0}`), or use `--load={1}`, or write an archive \
                 with `--output docker-archive:FILE` and load it yourself",
                engine.name(),
                engine.other().name()
            ),
            _ => return None,
        })
    }
}

/// Builds what `req` asks for, the build steps reported to `progress`.
pub fn build(req: &BuildRequest, progress: Arc<dyn Progress>) -> Result<BuildReport, Error> {
    progress::scope(progress, || run(req))
}

fn run(req: &BuildRequest) -> Result<BuildReport, Error> {
    check_distinct(&req.outputs)?;
    let all = load_source(&req.manifest)?;
    let listed = all.len();
    let manifests = select_platforms(all, &req.platforms)?;
    let debs = deb_options(
        req.lock_path.as_deref(),
        req.lock_policy == LockPolicy::Locked,
        false,
    );
    let plans = plans_of(&manifests, &req.base, req.epoch, &debs)?;
    for (m, plan) in manifests.iter().zip(&plans) {
        for w in &plan.warnings {
            match (&m.image.platform, listed > 1) {
                (Some(p), true) => progress::emit(progress::Event::Warning(&format!("{p}: {w}"))),
                _ => progress::emit(progress::Event::Warning(w)),
            }
        }
    }
    let lock = crate::lock::Lock::of_platforms(&plans, &manifests[0].file.text, listed > 1);
    // A build of some platforms only checks their part of the lock and does not rewrite it.
    let partial = plans.len() < listed;
    // `Locked` holds for `plan_only` too: the plan shown is the one the lock allows.
    if req.lock_policy == LockPolicy::Locked {
        check_lock(req, &lock, partial)?;
    }
    let platforms: Vec<Option<Platform>> = manifests.iter().map(|m| m.image.platform).collect();
    let built = match req.plan_only {
        true => None,
        false => {
            let update = match (&req.lock_path, req.lock_policy) {
                (Some(p), LockPolicy::Update) if !partial => Some((p.as_path(), &lock)),
                _ => None,
            };
            Some(write(req, &plans, platforms[0], update)?)
        }
    };
    let plans = platforms
        .into_iter()
        .zip(plans)
        .map(|(platform, plan)| PlatformPlan { platform, plan })
        .collect();
    Ok(BuildReport { plans, built })
}

/// The manifests of `source`: one per platform it lists.
fn load_source(source: &ManifestSource) -> Result<Vec<Manifest>, Error> {
    Ok(match source {
        ManifestSource::File(p) => crate::manifest::load_all(p)?,
        ManifestSource::Stdin(bytes) => {
            crate::manifest::from_bytes(Path::new("<stdin>"), bytes.clone(), Path::new("."))?
        }
    })
}

/// The manifests `wanted` selects, in the manifest's order; all when it is empty.
fn select_platforms(manifests: Vec<Manifest>, wanted: &[String]) -> Result<Vec<Manifest>, Error> {
    if wanted.is_empty() {
        return Ok(manifests);
    }
    let listed: Vec<String> = manifests
        .iter()
        .filter_map(|m| m.image.platform.as_ref().map(|p| p.to_string()))
        .collect();
    if listed.is_empty() {
        return Err(Error::NoPlatforms);
    }
    if let Some(w) = wanted.iter().find(|w| !listed.contains(w)) {
        return Err(Error::UnknownPlatform {
            wanted: w.clone(),
            listed,
        });
    }
    Ok(manifests
        .into_iter()
        .filter(|m| {
            m.image
                .platform
                .as_ref()
                .is_some_and(|p| wanted.iter().any(|w| *w == p.to_string()))
        })
        .collect())
}

/// Two outputs that would write the same file (or the same tag of one layout).
fn check_distinct(outputs: &[Output]) -> Result<(), Error> {
    let key = |o: &Output| -> (PathBuf, Option<String>) {
        let (p, tag) = match o {
            Output::Oci { dir, tag } => (dir, Some(tag.clone())),
            Output::OciArchive { file, .. } | Output::DockerArchive { file, .. } => (file, None),
        };
        (std::path::absolute(p).unwrap_or_else(|_| p.clone()), tag)
    };
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[..i] {
            let (ka, kb) = (key(a), key(b));
            // The same layout may get several tags; anything else at one path is written twice.
            let clash = ka.0 == kb.0 && (ka.1.is_none() || kb.1.is_none() || ka.1 == kb.1);
            if clash {
                return Err(Error::SamePath {
                    first: b.clone(),
                    second: a.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Fails unless the lock at the request's path has `lock` (its part of it, when `partial`).
fn check_lock(req: &BuildRequest, lock: &crate::lock::Lock, partial: bool) -> Result<(), Error> {
    let Some(path) = &req.lock_path else {
        return Err(Error::LockedWithoutLock);
    };
    let accept = match &req.manifest {
        ManifestSource::File(m) => format!("kiln lock {}", sh_quote(&m.to_string_lossy())),
        ManifestSource::Stdin(_) => "kiln build - --lock FILE".to_string(),
    };
    let old = crate::lock::Lock::read(path)?.ok_or_else(|| crate::lock::Error::Missing {
        path: path.clone(),
        accept: accept.clone(),
    })?;
    let old = if partial {
        old.restricted_to(lock)
    } else {
        old
    };
    let changes = old.changes(lock);
    if !changes.is_empty() {
        return Err(crate::lock::Error::Drift {
            path: path.clone(),
            changes,
            accept,
        }
        .into());
    }
    Ok(())
}

/// Writes `lock` to `path` unless it holds it already.
fn update_lock(path: &Path, lock: &crate::lock::Lock) -> Result<LockNote, Error> {
    let old = crate::lock::Lock::read(path).ok().flatten();
    Ok(match old {
        Some(old) if old == *lock => LockNote::Unchanged,
        Some(old) => {
            lock.write(path)?;
            LockNote::Updated(path.to_path_buf(), old.changes(lock).len())
        }
        None => {
            lock.write(path)?;
            LockNote::Wrote(path.to_path_buf())
        }
    })
}

/// The outputs to write: the asked ones (or the default), then the extra ones `--push` and
/// `--load` need in a temporary folder.
struct Outputs {
    all: Vec<Output>,
    /// How many of `all` the request asked for (or the default one).
    shown: usize,
    push_from: Option<Output>,
    load_archive: Option<PathBuf>,
    /// `NAME:TAG`, the image's name in the engine it is loaded into.
    load_ref: String,
    _tmp: Option<tempfile::TempDir>,
}

/// The tag of the first output that names one, else `latest`.
fn first_tag(outputs: &[Output]) -> String {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Oci { tag, .. } | Output::OciArchive { tag, .. } => Some(tag.clone()),
            Output::DockerArchive { reference, .. } => reference
                .as_deref()
                .and_then(|r| r.rsplit_once(':'))
                .map(|(_, t)| t.to_string()),
        })
        .unwrap_or_else(|| "latest".into())
}

fn outputs_for(req: &BuildRequest, name: &str) -> Result<Outputs, Error> {
    let mut all = req.outputs.clone();
    if all.is_empty() {
        all.push(Output::default_for(name));
    }
    let shown = all.len();
    let tag = first_tag(&all);
    let tmp = match (&req.push, &req.load) {
        (None, None) => None,
        _ => Some(scratch()?),
    };
    let mut push_from = all
        .iter()
        .find(|o| !matches!(o, Output::DockerArchive { .. }))
        .cloned();
    // A layout to push from when every output is a docker-archive.
    if let (Some(_), None, Some(t)) = (&req.push, &push_from, &tmp) {
        let o = Output::Oci {
            dir: t.path().join("push"),
            tag: tag.clone(),
        };
        all.push(o.clone());
        push_from = Some(o);
    }
    let load_ref = format!("{name}:{tag}");
    let load_archive = match (&req.load, &tmp) {
        (Some(_), Some(t)) => {
            let file = t.path().join("load.tar");
            all.push(Output::DockerArchive {
                file: file.clone(),
                reference: Some(load_ref.clone()),
            });
            Some(file)
        }
        _ => None,
    };
    Ok(Outputs {
        all,
        shown,
        push_from,
        load_archive,
        load_ref,
        _tmp: tmp,
    })
}

/// A temporary folder for the extra outputs `--push` and `--load` need.
fn scratch() -> Result<tempfile::TempDir, Error> {
    tempfile::Builder::new()
        .prefix("kiln-build-")
        .tempdir()
        .map_err(Error::Scratch)
}

/// Writes the images of `plans` (`first`: the first one's platform), then the lock
/// (`update`), then pushes and loads them.
fn write(
    req: &BuildRequest,
    plans: &[Plan],
    first: Option<Platform>,
    update: Option<(&Path, &crate::lock::Lock)>,
) -> Result<Built, Error> {
    let name = &plans[0].image.name;
    if let (Some(load), true) = (&req.load, plans.len() > 1) {
        return Err(Error::LoadSeveral {
            platforms: plans.len(),
            engine: load.engine,
            first,
        });
    }
    let outs = outputs_for(req, name)?;
    let mut sets = output::write_each(plans, &outs.all).map_err(|source| Error::Write {
        image: name.clone(),
        source,
    })?;
    let lock = match update {
        Some((path, lock)) => update_lock(path, lock)?,
        None => LockNote::Unchanged,
    };
    let pushed = match (&req.push, &outs.push_from) {
        (Some(p), Some(src)) => Some(push(p, src)?),
        _ => None,
    };
    let loaded = match (&req.load, &outs.load_archive) {
        (Some(load), Some(file)) => Some(Loaded {
            engine: load.engine,
            command: load_into(load, file)?,
            image: outs.load_ref.clone(),
        }),
        _ => None,
    };
    sets.truncate(outs.shown);
    let mut outputs = outs.all;
    outputs.truncate(outs.shown);
    Ok(Built {
        outputs,
        sets,
        lock,
        pushed,
        loaded,
    })
}

/// Pushes `src` as `p` asks (`ops::push`), the transfer reported to `p.registry.progress`.
fn push(p: &Push, src: &Output) -> Result<registry::Summary, Error> {
    let req = super::push::PushRequest {
        source: src.clone(),
        destination: p.destination.clone(),
        registry: p.registry.clone(),
        image_refs: p.image_refs.clone(),
    };
    Ok(super::push::push(&req, p.registry.progress.0.clone())?)
}

/// Runs `PROGRAM load -i FILE`, its output captured; returns the command line it ran.
fn load_into(load: &Load, archive: &Path) -> Result<String, Error> {
    let command = format!(
        "{} load -i {}",
        sh_quote(&load.program.to_string_lossy()),
        sh_quote(&archive.to_string_lossy())
    );
    let out = std::process::Command::new(&load.program)
        .args(["load", "-i"])
        .arg(archive)
        .stdin(std::process::Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::EngineMissing {
                engine: load.engine,
                program: load.program.clone(),
            })
        }
        Err(source) => return Err(Error::EngineRun { command, source }),
    };
    if !out.status.success() {
        return Err(Error::EngineFailed {
            command,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        });
    }
    Ok(command)
}

/// `s` as one shell word: unchanged when it has only characters no shell treats specially,
/// else in single quotes (a `'` inside as `'\''`).
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The manifest's Plans, one per platform it lists (one when it lists none), at
/// `SOURCE_DATE_EPOCH`. A base image is read with the default access (loopback over HTTP,
/// others over HTTPS; credentials from the user's auth files).
pub fn load_plans(manifest: &Path) -> Result<(Vec<Manifest>, Vec<Plan>), LoadError> {
    load_plans_with(manifest, false)
}

/// [`load_plans`], with `update`: archives' current releases instead of the lock's pins.
pub fn load_plans_with(
    manifest: &Path,
    update: bool,
) -> Result<(Vec<Manifest>, Vec<Plan>), LoadError> {
    let epoch = Epoch::from_env()?;
    let manifests = crate::manifest::load_all(manifest)?;
    let access = crate::base::Access {
        insecure: false,
        cert_dir: None,
        credentials: None,
    };
    let debs = deb_options(Some(&crate::lock::path_for(manifest)), false, update);
    let plans = plans_of(&manifests, &access, epoch, &debs)?;
    Ok((manifests, plans))
}

/// How `deb` reaches archives: kiln's cache, the lock's release pins (none when `update`),
/// `--locked`.
pub(crate) fn deb_options(lock: Option<&Path>, locked: bool, update: bool) -> crate::deb::Options {
    let pins = match (lock, update) {
        (Some(p), false) => crate::lock::Lock::read(p)
            .ok()
            .flatten()
            .map(|l| l.release_pins())
            .unwrap_or_default(),
        _ => Default::default(),
    };
    crate::deb::Options {
        cache: crate::base::cache_dir(),
        pins,
        locked,
        update,
        jobs: 4,
    }
}

/// The Plan of each manifest, each over its sysroot and its base image.
pub(crate) fn plans_of(
    manifests: &[Manifest],
    access: &crate::base::Access,
    epoch: Epoch,
    debs: &crate::deb::Options,
) -> Result<Vec<Plan>, LoadError> {
    let mut plans = Vec::new();
    for m in manifests {
        let root = root_of(m)?;
        let kind = match m.image.sysroot {
            Some(_) => crate::root::RootKind::Sysroot,
            None => crate::root::RootKind::Host,
        };
        let target = crate::deb::prepare(m, &root, kind, debs).map_err(|e| match e.location() {
            Some(at) => {
                let mut d = crate::span::Diagnostic::new(e.to_string(), at.clone());
                if let Some(h) = e.hint() {
                    d = d.with_hint(h);
                }
                LoadError::PackagesAt(Box::new(d))
            }
            None => LoadError::Packages(Box::new(e)),
        })?;
        let open = base_opener(m, access);
        plans.push(crate::plan::build_with(m, &target, epoch, Some(&open))?);
    }
    Ok(plans)
}

/// The root a manifest's libraries are resolved in: its `sysroot`, canonical, else `/`.
fn root_of(manifest: &Manifest) -> Result<PathBuf, LoadError> {
    let Some(sp) = &manifest.image.sysroot else {
        return Ok(PathBuf::from("/"));
    };
    match fs_err::canonicalize(&sp.host) {
        Ok(p) if p.is_dir() => Ok(p),
        _ => Err(LoadError::Sysroot(Box::new(
            crate::span::Diagnostic::new(
                format!("`sysroot` {:?} is not a directory", sp.written),
                sp.location.clone(),
            )
            .with_hint(
                "a sysroot holds the target's loader and libraries, e.g. from `dpkg -x` of the \
                 target's packages",
            ),
        ))),
    }
}

/// Opens `manifest`'s base image (if it names one) for the platform the Plan asks for, from
/// kiln's cache (`$KILN_CACHE_DIR`).
fn base_opener<'a>(
    manifest: &'a Manifest,
    access: &'a crate::base::Access,
) -> impl Fn(Option<Platform>) -> Result<Arc<crate::base::Base>, crate::base::Error> + 'a {
    move |platform| {
        let spec = manifest
            .image
            .base
            .as_ref()
            .map_or("", |b| b.reference.as_str());
        let r = crate::base::BaseRef::parse(spec)?;
        let mut base = crate::base::open(&r, platform, access, &crate::base::cache_dir())?;
        base.sboms = own_sboms(&r, &base);
        Ok(Arc::new(base))
    }
}

/// The SBOMs kiln stored beside a base image (none for a base kiln did not build): read from
/// the cache's copy of a registry base (its referrers came along), else from the layout or
/// archive named; every byte checked against its digest by `image::read`.
fn own_sboms(r: &crate::base::BaseRef, base: &crate::base::Base) -> crate::base::OwnSboms {
    use crate::base::BaseRef;
    let (image, platform) = match r {
        BaseRef::Docker(_) => (
            Output::Oci {
                dir: base.store.clone(),
                tag: format!("base-{}", base.digest.hex()),
            },
            None,
        ),
        BaseRef::Oci { dir, tag } => (
            Output::Oci {
                dir: dir.clone(),
                tag: tag.clone(),
            },
            Some(base.platform.to_string()),
        ),
        BaseRef::OciArchive { file, tag } => (
            Output::OciArchive {
                file: file.clone(),
                tag: tag.clone(),
            },
            Some(base.platform.to_string()),
        ),
    };
    let doc = |format: crate::sbom::Format, id_key: &str| {
        let bytes =
            crate::image::read::artifact_for(&image, format.media_type(), platform.as_deref())
                .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let id = v[id_key]
            .as_str()
            .filter(|s| s.len() <= 1024 && !s.chars().any(char::is_control))?;
        Some(crate::base::SbomDoc {
            id: id.to_string(),
            sha256: crate::digest::Digest::of(&bytes),
            sha1: crate::digest::Sha1::of(&bytes),
        })
    };
    crate::base::OwnSboms {
        spdx: doc(crate::sbom::Format::Spdx, "documentNamespace"),
        cyclonedx: doc(crate::sbom::Format::CycloneDx, "serialNumber"),
    }
}
