//! The image's run configuration, decided once in the Plan: entrypoint, cmd, user, workdir,
//! environment, ports, labels.
//!
//! Owns: the defaults (PATH, `SSL_CERT_FILE` when a CA bundle ships, user 65532:65532,
//! workdir `/`), and, for an image built on a base, starting from the base's config with the
//! manifest's values winning, each difference said in words (`--plan` lists them).
//! Does not own: the JSON of the config (`image::config`, a pure view of this).
//! Invariant: without a base, the result is exactly the manifest's values plus the defaults;
//! the build host is never asked.

use crate::base::Base;
use crate::manifest::{ImageSpec, DEFAULT_PATH};
use crate::types::ImagePath;
use std::collections::BTreeMap;

/// What the image runs and how: the config's `config` object, decided.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunConfig {
    /// The config's `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// The config's `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// Numeric uid and gid (the config's `User` is always `UID:GID`).
    pub user: (u32, u32),
    /// The config's `WorkingDir`.
    pub workdir: String,
    /// `KEY=VALUE`, PATH first, then by key.
    pub env: Vec<String>,
    /// Canonical `PORT/PROTO`, sorted.
    pub ports: Vec<String>,
    /// The config's `Labels`.
    pub labels: BTreeMap<String, String>,
    /// The base's, kept (the manifest has no key for them).
    pub stop_signal: Option<String>,
    /// The config's `Volumes` (the base's, kept).
    pub volumes: Vec<String>,
    /// Each value the manifest (or kiln's defaults) changed from the base's config.
    pub changes: Vec<String>,
}

/// The run config of `image` (on `base`, when it has one), with a CA bundle at `ca_bundle`.
pub(super) fn decide(
    image: &ImageSpec,
    base: Option<&Base>,
    ca_bundle: Option<&ImagePath>,
) -> Result<RunConfig, (String, String)> {
    let Some(base) = base else {
        return Ok(RunConfig {
            entrypoint: image.entrypoint.clone(),
            cmd: image.cmd.clone(),
            user: image.user,
            workdir: image.workdir.to_string(),
            env: env(BTreeMap::new(), image, ca_bundle),
            ports: image.ports.clone(),
            labels: image.labels.clone(),
            ..RunConfig::default()
        });
    };
    let b = &base.config.config;
    let mut changes = Vec::new();
    let mut note = |what: &str, from: String, to: String| {
        if from != to {
            changes.push(format!("{what}: {from} -> {to}"));
        }
    };
    // Docker's rule: an image that sets its own entrypoint does not inherit the base's cmd.
    let (entrypoint, cmd) = match (&image.entrypoint, &image.cmd) {
        (Some(ep), c) => (Some(ep.clone()), c.clone()),
        (None, Some(c)) => (b.entrypoint.clone(), Some(c.clone())),
        (None, None) => (b.entrypoint.clone(), b.cmd.clone()),
    };
    note("entrypoint", words(&b.entrypoint), words(&entrypoint));
    note("cmd", words(&b.cmd), words(&cmd));
    // Docker's rule, said: a `cmd` alone runs as the arguments of the base's entrypoint.
    let kept = match (&image.entrypoint, &image.cmd, &entrypoint) {
        (None, Some(_), Some(ep)) => Some(format!(
            "entrypoint: {}, the base's, kept: the manifest's `cmd` is its arguments (set `entrypoint` to run the program itself)",
            words(&Some(ep.clone()))
        )),
        _ => None,
    };
    let user = match (
        image.user_given,
        b.user.as_deref().filter(|u| !u.is_empty()),
    ) {
        (true, _) | (false, None) => image.user,
        (false, Some(u)) => base_user(base, u)?,
    };
    let base_user = b.user.clone().unwrap_or_default();
    let numeric = format!("{}:{}", user.0, user.1);
    if base_user != numeric {
        note("user", shown(&base_user), shown(&numeric));
    }
    let workdir = match (
        image.workdir_given,
        b.working_dir.as_deref().filter(|w| !w.is_empty()),
    ) {
        (false, Some(w)) => w.to_string(),
        _ => image.workdir.to_string(),
    };
    let base_workdir = b.working_dir.as_deref().unwrap_or("");
    if base_workdir != workdir {
        note("workdir", shown(base_workdir), shown(&workdir));
    }
    changes.extend(kept);
    let inherited: BTreeMap<String, String> = b
        .env
        .iter()
        .flatten()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = env(inherited.clone(), image, ca_bundle);
    for kv in &env {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match inherited.get(k) {
            Some(old) if old == v => {}
            Some(old) => changes.push(format!("env {k}: {} -> {}", shown(old), shown(v))),
            None => changes.push(format!("env {k}: added {}", shown(v))),
        }
    }
    let mut ports: Vec<String> = b
        .exposed_ports
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    for p in &image.ports {
        if !ports.contains(p) {
            changes.push(format!("port {p}: added"));
            ports.push(p.clone());
        }
    }
    ports.sort();
    let mut labels = b.labels.clone().unwrap_or_default();
    for (k, v) in &image.labels {
        match labels.insert(k.clone(), v.clone()) {
            Some(old) if old == *v => {}
            Some(old) => changes.push(format!("label {k}: {} -> {}", shown(&old), shown(v))),
            None => changes.push(format!("label {k}: added")),
        }
    }
    Ok(RunConfig {
        entrypoint,
        cmd,
        user,
        workdir,
        env,
        ports,
        labels,
        stop_signal: b.stop_signal.clone(),
        volumes: b.volumes.iter().flatten().map(|(k, _)| k.clone()).collect(),
        changes,
    })
}

/// The environment: `inherited` (the base's), the manifest's over it, PATH and
/// `SSL_CERT_FILE` unless given; PATH first, then by key.
fn env(
    mut env: BTreeMap<String, String>,
    image: &ImageSpec,
    ca_bundle: Option<&ImagePath>,
) -> Vec<String> {
    env.extend(image.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    if let Some(ca) = ca_bundle {
        env.entry("SSL_CERT_FILE".into())
            .or_insert_with(|| ca.to_string());
    }
    let mut v = vec![format!("PATH={}", env["PATH"])];
    v.extend(
        env.iter()
            .filter(|(k, _)| *k != "PATH")
            .map(|(k, v)| format!("{k}={v}")),
    );
    v
}

/// The base config's `User` (`NAME`, `UID`, `NAME:GROUP`, `UID:GID`) as numbers, through the
/// base's own `/etc/passwd` and `/etc/group`.
fn base_user(base: &Base, user: &str) -> Result<(u32, u32), (String, String)> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_small(base, "etc/passwd");
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == u || f[2] == u));
    let uid = match (u.parse::<u32>(), &entry) {
        (Ok(n), _) => n,
        (Err(_), Some(f)) => f[2].parse().map_err(|_| bad_user(base, user))?,
        (Err(_), None) => return Err(bad_user(base, user)),
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => read_small(base, "etc/group")
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| bad_user(base, user))?,
        },
        None => entry.and_then(|f| f[3].parse().ok()).unwrap_or(uid),
    };
    Ok((uid, gid))
}

/// (the base's reference, the user): what `plan::Error::BaseUser` says.
fn bad_user(base: &Base, user: &str) -> (String, String) {
    (base.reference.to_string(), user.to_string())
}

/// A small text file of the unpacked base (at most 1 MiB; missing or not a plain file of the
/// base: empty).
fn read_small(base: &Base, rel: &str) -> String {
    super::base::read_text(base, &format!("/{rel}"), 1 << 20).unwrap_or_default()
}

fn words(v: &Option<Vec<String>>) -> String {
    match v {
        None => "none".into(),
        Some(v) => format!("{v:?}"),
    }
}

fn shown(s: &str) -> String {
    if s.is_empty() {
        "none".into()
    } else {
        format!("{s:?}")
    }
}
