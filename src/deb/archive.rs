//! Packages from `[[source]]` archives: each suite's release verified, its indexes by hash,
//! each component's packages resolved as apt would, each `.deb` by hash, all unpacked and
//! merged into the tree that becomes the platform's target root.
//!
//! Owns: the order of trust (keyring → `InRelease` → `Packages` → `.deb`), which release a
//! build reads (the lock's pin when the cache holds it, the archive's current one otherwise,
//! never a moved one under `--locked`), and what each component ships with its chains.
//! Does not own: the formats (`release`, `index`, `debfile`), the transfer (`fetch`), the
//! solver's rules (`solve`), the tree's layout (`tree`).
//! Invariant: every byte used from an archive was checked against the keyring, directly (the
//! release) or through a chain of SHA-256 digests (indexes and packages).

use super::fetch::{Fetcher, Want};
use super::index::Index;
use super::release::{Keyring, Release, VerifyOptions};
use super::solve::{self, RootPackage};
use super::{tree, Request};
use crate::manifest::{Manifest, SourceSpec};
use crate::root::{
    DebPin, PackageFile, PackageFileKind, ReleasePin, RootKind, ShippedPackage, TargetRoot,
};
use crate::span::Location;
use crate::types::ImagePath;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// InRelease files are small (bookworm's is 150 KiB); anything bigger is refused unread.
const MAX_INRELEASE: u64 = 16 << 20;

/// Why an archive could not give what a component asks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot fetch {what} of source `{source_name}`")]
    Fetch {
        source_name: String,
        what: String,
        #[source]
        source: Box<super::fetch::FetchError>,
    },
    #[error("the release of source `{source_name}` ({suite}) is not trusted")]
    Release {
        source_name: String,
        suite: String,
        #[source]
        source: Box<super::release::ReleaseError>,
    },
    #[error("cannot read the keyring of source `{source_name}`")]
    Keyring {
        source_name: String,
        location: Location,
        #[source]
        source: Box<super::release::ReleaseError>,
    },
    #[error("the package index {path} of source `{source_name}` is not valid: {message}")]
    Index {
        source_name: String,
        path: String,
        message: String,
    },
    #[error("component `{component}`: {source}")]
    Solve {
        component: String,
        location: Location,
        #[source]
        source: Box<solve::SolveError>,
    },
    #[error("cannot read package {package} {version}")]
    Deb {
        package: String,
        version: String,
        #[source]
        source: Box<super::debfile::DebError>,
    },
    #[error("the lock pins release {pinned} of source `{source_name}` ({suite}), which is not in the cache, and the archive now serves {current} (--locked)")]
    Moved {
        source_name: String,
        suite: String,
        pinned: String,
        current: String,
    },
    #[error("the mirror of source `{source_name}` no longer has {package} {version} ({url})")]
    Gone {
        source_name: String,
        package: String,
        version: String,
        url: String,
    },
    #[error("source `{source_name}` says `url = \"apt\"`, and this machine's apt sources (/etc/apt) list no `deb` entry for suite {suite}")]
    NoAptSource { source_name: String, suite: String },
    #[error("a `{arch}` platform needs packages of architecture `{arch}`, which source `{source_name}` ({suite}) does not list (it has: {listed})")]
    NoArch {
        source_name: String,
        suite: String,
        arch: String,
        listed: String,
    },
}

impl Error {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Release { .. } => "check the source's `url`, `suite` and `keyring`; a release whose Valid-Until passed (an old snapshot) needs `allow-expired = true`".into(),
            Error::Moved { .. } | Error::Gone { .. } => "keep the kiln cache ($KILN_CACHE_DIR) between builds, or point the source at a snapshot mirror (snapshot.debian.org/archive/debian/TIMESTAMP); `kiln lock --update` moves the pins on purpose".into(),
            Error::Solve { source, .. } => match &**source {
                solve::SolveError::NotFound { name, .. } => format!(
                    "check the name, add the suite or component that has {name} to the source, or leave it out with [[waive]] package = \"{name}\" and a `why`"
                ),
                solve::SolveError::Unsatisfiable { .. } => "apt would refuse this too: the archive's newest version breaks the constraint; add the suite that has a fitting version (e.g. bookworm-updates) or waive the package".into(),
                solve::SolveError::Virtual { .. } => "list the provider you want in `packages`".into(),
                _ => return None,
            },
            Error::NoAptSource { .. } => "write the archive's URL in `url` (http://MIRROR/debian, or file:///path)".into(),
            _ => return None,
        })
    }

    /// Where the manifest names what failed.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Keyring { location, .. } | Error::Solve { location, .. } => Some(location),
            _ => None,
        }
    }
}

/// How a build reaches its archives: the download cache, the lock's pins, the platform that
/// keys them.
#[derive(Clone, Copy)]
struct Reach<'a> {
    fetcher: &'a Fetcher,
    cache: &'a Path,
    opts: &'a super::Options,
    platform: Option<&'a str>,
}

/// One suite of one source, opened.
struct Suite {
    source: String,
    name: String,
    url: String,
    release: Release,
    pin: ReleasePin,
}

/// Builds the target root of `manifest` from its archives.
pub(crate) fn prepare(
    manifest: &Manifest,
    requests: &[Request<'_>],
    opts: &super::Options,
) -> Result<TargetRoot, super::Error> {
    let arch = super::debian_arch(manifest);
    let platform = manifest.image.platform.map(|p| p.to_string());
    let cache = opts.cache.join("deb");
    let fetcher = Fetcher::new(
        &cache,
        super::fetch::FetchOptions {
            jobs: opts.jobs.max(1),
            offline: false,
        },
    )
    .map_err(|e| Error::Fetch {
        source_name: String::new(),
        what: "the cache".into(),
        source: Box::new(e),
    })?;
    let reach = Reach {
        fetcher: &fetcher,
        cache: &cache,
        opts,
        platform: platform.as_deref(),
    };
    let Opened {
        suites,
        mut indexes,
        urls,
        suite_of,
        source_of,
    } = open_sources(manifest, requests, &reach, arch)?;
    // What each request ships, and everything the tree holds (the full dependency closure,
    // so the resolver finds the libraries of `depends = false` components too).
    let mut chosen: Vec<(usize, String, Vec<solve::Chosen>)> = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut tree_set: BTreeMap<(String, String), (String, usize)> = BTreeMap::new();
    merge_indexes(&mut indexes, requests);
    for r in requests.iter().filter(|r| !r.sources.is_empty()) {
        let key = r.sources.join("+");
        let index = &indexes[&key];
        let (shipped, full) = solve_request(index, r)?;
        used.extend(shipped.waived_used.iter().map(|(n, _)| n.clone()));
        for c in &full {
            tree_set
                .entry((c.name.clone(), c.version.to_string()))
                .or_insert((key.clone(), c.record));
        }
        chosen.push((r.component, key, shipped.packages));
    }
    // Fetch and unpack every package of the tree.
    let members_src: Vec<(String, &super::index::Record, String)> = tree_set
        .values()
        .map(|(key, rec)| {
            let r = &indexes[key].records()[*rec];
            let from = source_of
                .get(&r.sha256)
                .cloned()
                .unwrap_or_else(|| key.clone());
            let url = format!(
                "{}/{}",
                urls.get(&from).map_or("", String::as_str),
                r.filename
            );
            (from, r, url)
        })
        .collect();
    let paths = fetch_debs(&fetcher, &members_src)?;
    let mut unpacked = Vec::new();
    for ((_, r, _), path) in members_src.iter().zip(&paths) {
        let u = super::debfile::unpack(path, &r.sha256, &cache).map_err(|e| Error::Deb {
            package: r.name.clone(),
            version: r.version.to_string(),
            source: Box::new(e),
        })?;
        unpacked.push(u);
    }
    let members: Vec<tree::Member<'_>> = members_src
        .iter()
        .zip(&unpacked)
        .map(|((_, r, _), u)| tree::Member {
            name: &r.name,
            arch: &r.arch,
            multi_arch_same: r.multi_arch == super::index::MultiArch::Same,
            sha256: hex::encode(r.sha256),
            status: r.status_paragraph(),
            unpacked: u,
        })
        .collect();
    let os_release = os_release(suites.first().map(|s| &s.release));
    let dir = tree::build(&cache, &members, &os_release)?;
    // What each component ships.
    let mut packages = Vec::new();
    for (component, key, list) in &chosen {
        for c in list {
            let r = &indexes[key].records()[c.record];
            let i = members_src
                .iter()
                .position(|(_, m, _)| m.name == r.name && m.version == r.version)
                .expect("every shipped package is in the tree");
            packages.push(shipped(
                *component,
                source_of
                    .get(&r.sha256)
                    .map_or(key.as_str(), String::as_str),
                c,
                r,
                &unpacked[i],
            ));
        }
    }
    let mut target = TargetRoot::dir(&dir, RootKind::Archive);
    // Components without a source read the tree's own database.
    let local: Vec<Request<'_>> = requests
        .iter()
        .filter(|r| r.sources.is_empty())
        .map(|r| Request {
            component: r.component,
            name: r.name,
            packages: r.packages,
            sources: vec![],
            depends: r.depends,
            waived: r.waived,
        })
        .collect();
    if !local.is_empty() {
        let (p, u) = super::installed::select(&dir, arch, &local)?;
        packages.extend(p);
        used.extend(u);
    }
    target.unused_waivers = super::unused_waivers(manifest, &used);
    target.packages = packages;
    target.debs = members_src
        .iter()
        .map(|(key, r, url)| DebPin {
            suite: suite_of.get(&r.sha256).cloned().unwrap_or_default(),
            // Credentials in a source URL never reach an SBOM.
            url: super::fetch::redact_url(url),
            name: r.name.clone(),
            version: r.version.to_string(),
            arch: r.arch.clone(),
            sha256: hex::encode(r.sha256),
            size: r.size,
            source: key.clone(),
        })
        .collect();
    target.releases = suites
        .into_iter()
        .map(|s| (format!("{}/{}", s.source, s.name), s.pin))
        .collect();
    Ok(target)
}

/// The sources the requests name, opened: each suite's release verified, its indexes read.
struct Opened {
    suites: Vec<Suite>,
    /// Source name → its suites' and components' merged index.
    indexes: BTreeMap<String, Index>,
    /// Source name → the archive URL (`url = "apt"` looked up).
    urls: BTreeMap<String, String>,
    /// The suite that first listed each `.deb` (by its SHA-256), for provenance.
    suite_of: BTreeMap<[u8; 32], String>,
    /// The source whose index lists each `.deb`: where it is fetched from.
    source_of: BTreeMap<[u8; 32], String>,
}

/// Opens every `[[source]]` a request names, for architecture `arch`.
fn open_sources(
    manifest: &Manifest,
    requests: &[Request<'_>],
    reach: &Reach<'_>,
    arch: &str,
) -> Result<Opened, Error> {
    let used: BTreeSet<&str> = requests
        .iter()
        .flat_map(|r| r.sources.iter().copied())
        .collect();
    let mut suites = Vec::new();
    let mut indexes: BTreeMap<String, Index> = BTreeMap::new();
    let mut urls: BTreeMap<String, String> = BTreeMap::new();
    let mut suite_of: BTreeMap<[u8; 32], String> = BTreeMap::new();
    let mut source_of: BTreeMap<[u8; 32], String> = BTreeMap::new();
    for spec in manifest
        .sources
        .iter()
        .filter(|s| used.contains(s.name.as_str()))
    {
        let url = match spec.url.as_str() {
            "apt" => super::apt_sources::uri_for(Path::new("/etc/apt"), &spec.suites[0])
                .ok_or_else(|| Error::NoAptSource {
                    source_name: spec.name.clone(),
                    suite: spec.suites[0].clone(),
                })?,
            u => u.to_string(),
        };
        urls.insert(spec.name.clone(), url.clone());
        let keyring = Keyring::load(&spec.keyring).map_err(|e| Error::Keyring {
            source_name: spec.name.clone(),
            location: spec.location.clone(),
            source: Box::new(e),
        })?;
        let mut index: Option<Index> = None;
        for suite in &spec.suites {
            let s = open_suite(reach, spec, &url, suite, &keyring)?;
            for component in &spec.components {
                let i = read_index(reach.fetcher, spec, &s, component, arch)?;
                for r in i.records() {
                    suite_of.entry(r.sha256).or_insert_with(|| suite.clone());
                    source_of
                        .entry(r.sha256)
                        .or_insert_with(|| spec.name.clone());
                }
                match &mut index {
                    Some(idx) => idx.extend(i),
                    None => index = Some(i),
                }
            }
            suites.push(s);
        }
        indexes.insert(spec.name.clone(), index.unwrap_or_default());
    }
    Ok(Opened {
        suites,
        indexes,
        urls,
        suite_of,
        source_of,
    })
}

/// Fetches every `.deb` of `members` (source, record, URL) into the cache, 4 at a time,
/// reporting the `downloading` step; the verified blobs' paths in `members`' order.
fn fetch_debs(
    fetcher: &Fetcher,
    members: &[(String, &super::index::Record, String)],
) -> Result<Vec<PathBuf>, Error> {
    let items: Vec<(String, Want)> = members
        .iter()
        .map(|(_, r, url)| {
            let want = Want {
                sha256: r.sha256,
                size: r.size,
            };
            (url.clone(), want)
        })
        .collect();
    let total: u64 = items.iter().map(|(_, w)| w.size).sum();
    crate::progress::emit(crate::progress::Event::Start {
        step: crate::progress::Step::Download,
        label: "packages",
        total: Some(total),
    });
    let done = std::cell::Cell::new(0u64);
    let paths = fetcher
        .get_many(&items, &|p| {
            let by = p.done_bytes.saturating_sub(done.get());
            done.set(p.done_bytes);
            crate::progress::emit(crate::progress::Event::Advance {
                step: crate::progress::Step::Download,
                by,
            });
        })
        .map_err(|e| match e {
            // The error's URL is redacted: compare redacted forms.
            super::fetch::FetchError::NotFound { url } => {
                let gone = members
                    .iter()
                    .find(|(_, _, u)| super::fetch::redact_url(u) == url);
                Error::Gone {
                    source_name: gone.map(|m| m.0.clone()).unwrap_or_default(),
                    package: gone.map(|m| m.1.name.clone()).unwrap_or_default(),
                    version: gone.map(|m| m.1.version.to_string()).unwrap_or_default(),
                    url,
                }
            }
            e => Error::Fetch {
                source_name: members.first().map(|m| m.0.clone()).unwrap_or_default(),
                what: "packages".into(),
                source: Box::new(e),
            },
        })?;
    crate::progress::emit(crate::progress::Event::Finish {
        step: crate::progress::Step::Download,
        items: items.len() as u64,
        units: total,
    });
    Ok(paths)
}

/// What request `r` ships of `index` (with `depends` as it says) and the full dependency
/// closure of its packages (the tree the resolver looks in).
fn solve_request(
    index: &Index,
    r: &Request<'_>,
) -> Result<(solve::Solution, Vec<solve::Chosen>), Error> {
    let roots: Vec<RootPackage> = r
        .packages
        .iter()
        .map(|p| {
            RootPackage::parse(&p.written).map_err(|e| Error::Solve {
                component: r.name.to_string(),
                location: p.location.clone(),
                source: Box::new(e),
            })
        })
        .collect::<Result<_, _>>()?;
    let solve_with = |depends: bool| {
        solve::solve(
            index,
            &solve::Request {
                roots: &roots,
                waived: r.waived,
                depends,
            },
        )
        .map_err(|e| Error::Solve {
            component: r.name.to_string(),
            location: r.packages[0].location.clone(),
            source: Box::new(e),
        })
    };
    let shipped = solve_with(r.depends)?;
    let full = match r.depends {
        true => shipped.packages.clone(),
        false => solve_with(true)?.packages,
    };
    Ok((shipped, full))
}

/// Adds the merged index of each list of sources a request names (`bookworm+security`),
/// moving a source's index into the one merge that uses it instead of copying it (an index of
/// bookworm holds 63,000 packages).
fn merge_indexes(indexes: &mut BTreeMap<String, Index>, requests: &[Request<'_>]) {
    let combos: BTreeSet<Vec<&str>> = requests
        .iter()
        .filter(|r| r.sources.len() > 1)
        .map(|r| r.sources.clone())
        .collect();
    let mut wanted: BTreeMap<&str, usize> = BTreeMap::new();
    for r in requests.iter().filter(|r| r.sources.len() == 1) {
        *wanted.entry(r.sources[0]).or_default() += 1;
    }
    for c in &combos {
        for s in c {
            *wanted.entry(s).or_default() += 1;
        }
    }
    for c in combos {
        let key = c.join("+");
        if indexes.contains_key(&key) {
            continue;
        }
        let mut merged = Index::default();
        for s in c {
            let left = wanted.get_mut(s).expect("counted above");
            *left -= 1;
            let part = match *left {
                0 => indexes.remove(s),
                _ => indexes.get(s).cloned(),
            };
            merged.extend(part.unwrap_or_default());
        }
        indexes.insert(key, merged);
    }
}

/// What one component ships of one package.
fn shipped(
    component: usize,
    key: &str,
    c: &solve::Chosen,
    r: &super::index::Record,
    u: &super::debfile::Unpacked,
) -> ShippedPackage {
    let mut aliases = BTreeSet::new();
    let mut files = Vec::new();
    for e in &u.entries {
        if let Some(a) = tree::alias_of(&e.path) {
            aliases.insert(a);
        }
        let Ok(path) = ImagePath::parse(&tree::canonical(&e.path)) else {
            continue;
        };
        if path.is_root() {
            continue;
        }
        let kind = match &e.kind {
            super::debfile::EntryKind::Dir => PackageFileKind::Dir,
            super::debfile::EntryKind::Symlink { target } => {
                PackageFileKind::Symlink(target.clone())
            }
            super::debfile::EntryKind::File { .. } | super::debfile::EntryKind::Hardlink { .. } => {
                PackageFileKind::File
            }
        };
        files.push(PackageFile {
            path,
            kind,
            mode: e.mode & 0o7777,
            uid: e.uid,
            gid: e.gid,
        });
    }
    ShippedPackage {
        component,
        name: r.name.clone(),
        version: r.version.to_string(),
        arch: r.arch.clone(),
        chain: c.chain.clone(),
        origin: format!("source `{key}`"),
        files,
        aliases: aliases.into_iter().collect(),
    }
}

/// `SOURCE/SUITE`, the key of a release pin.
fn pin_key(source: &str, suite: &str) -> String {
    format!("{source}/{suite}")
}

/// Opens one suite: its `InRelease` (the pinned one from the cache when allowed), verified.
fn open_suite(
    reach: &Reach<'_>,
    spec: &SourceSpec,
    url: &str,
    suite: &str,
    keyring: &Keyring,
) -> Result<Suite, Error> {
    let Reach {
        fetcher,
        cache,
        opts,
        platform,
    } = *reach;
    let releases = cache.join("releases");
    // A multi-platform lock keys each pin by platform (`linux/arm64 SOURCE/SUITE`).
    let key = pin_key(&spec.name, suite);
    let keyed = platform.map(|p| format!("{p} {key}"));
    let pinned = keyed
        .and_then(|k| opts.pins.get(&k))
        .or_else(|| opts.pins.get(&key))
        .filter(|_| !opts.update);
    let cached = pinned.and_then(|p| {
        let path = releases.join(&p.sha256);
        let bytes = fs_err::read(&path).ok()?;
        (crate::digest::Digest::of(&bytes).hex() == p.sha256).then_some(bytes)
    });
    let (bytes, from_pin) = match cached {
        Some(b) => (b, true),
        None => {
            let url = format!("{url}/dists/{suite}/InRelease");
            let b = fetcher
                .get_small(&url, MAX_INRELEASE)
                .map_err(|e| Error::Fetch {
                    source_name: spec.name.clone(),
                    what: format!("the release {url}"),
                    source: Box::new(e),
                })?;
            (b, false)
        }
    };
    let sha = crate::digest::Digest::of(&bytes).hex();
    if let (Some(p), true) = (pinned, opts.locked) {
        if p.sha256 != sha {
            return Err(Error::Moved {
                source_name: spec.name.clone(),
                suite: suite.to_string(),
                pinned: p.sha256.clone(),
                current: sha,
            });
        }
    }
    // A pinned release is trusted for its hash: its Valid-Until may have passed since.
    let verify = VerifyOptions {
        allow_expired: spec.allow_expired || from_pin,
    };
    let release = super::release::verify(&bytes, keyring, std::time::SystemTime::now(), &verify)
        .map_err(|e| Error::Release {
            source_name: spec.name.clone(),
            suite: suite.to_string(),
            source: Box::new(e),
        })?;
    if !from_pin {
        let _ = fs_err::create_dir_all(&releases);
        let path = releases.join(&sha);
        if !path.exists() {
            let tmp = releases.join(format!(".{sha}.{}", std::process::id()));
            if fs_err::write(&tmp, &bytes).is_ok() {
                let _ = fs_err::rename(&tmp, &path);
            }
        }
    }
    let date = crate::time::Epoch(
        release
            .date
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
    .rfc3339();
    Ok(Suite {
        source: spec.name.clone(),
        name: suite.to_string(),
        url: url.to_string(),
        pin: ReleasePin { sha256: sha, date },
        release,
    })
}

/// The `Packages` index of one component of a suite, by the hash its release lists.
fn read_index(
    fetcher: &Fetcher,
    spec: &SourceSpec,
    s: &Suite,
    component: &str,
    arch: &str,
) -> Result<Index, Error> {
    if !s.release.architectures.is_empty() && !s.release.architectures.iter().any(|a| a == arch) {
        return Err(Error::NoArch {
            source_name: spec.name.clone(),
            suite: s.name.clone(),
            arch: arch.to_string(),
            listed: s.release.architectures.join(" "),
        });
    }
    let (path, file, compression) =
        s.release
            .pick_index(component, arch)
            .map_err(|e| Error::Release {
                source_name: spec.name.clone(),
                suite: s.name.clone(),
                source: Box::new(e),
            })?;
    let want = Want {
        sha256: file.sha256,
        size: file.size,
    };
    let base = format!("{}/dists/{}", s.url, s.name);
    let fetched = if s.release.acquire_by_hash {
        let by_hash = super::release::by_hash_path(&path, &file.sha256);
        fetcher
            .get(&format!("{base}/{by_hash}"), &want)
            .or_else(|_| fetcher.get(&format!("{base}/{path}"), &want))
    } else {
        fetcher.get(&format!("{base}/{path}"), &want)
    };
    let blob = fetched.map_err(|e| Error::Fetch {
        source_name: spec.name.clone(),
        what: format!("the index {path}"),
        source: Box::new(e),
    })?;
    let text = decompress(&blob, compression).map_err(|e| Error::Index {
        source_name: spec.name.clone(),
        path: path.clone(),
        message: e.to_string(),
    })?;
    Index::parse(&text, arch).map_err(|e| Error::Index {
        source_name: spec.name.clone(),
        path,
        message: e.to_string(),
    })
}

/// The text of an index file (at most 1 GiB once decompressed).
fn decompress(path: &PathBuf, c: super::release::Compression) -> std::io::Result<String> {
    use std::io::Read;
    let f = fs_err::File::open(path)?;
    let r: Box<dyn Read> = match c {
        super::release::Compression::Xz => Box::new(liblzma::read::XzDecoder::new(f)),
        super::release::Compression::Gz => Box::new(flate2::read::GzDecoder::new(f)),
        super::release::Compression::None => Box::new(f),
    };
    let mut text = String::new();
    r.take(1 << 30).read_to_string(&mut text)?;
    Ok(text)
}

/// An os-release for a tree whose packages ship none, from the release's fields.
fn os_release(r: Option<&Release>) -> String {
    let major = r
        .and_then(|r| r.version.as_deref())
        .and_then(|v| v.split('.').next())
        .unwrap_or("");
    let codename = r.and_then(|r| r.codename.as_deref()).unwrap_or("");
    let origin = r.and_then(|r| r.origin.as_deref()).unwrap_or("Debian");
    let id = origin.to_ascii_lowercase();
    let id: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!(
        "PRETTY_NAME=\"{origin} GNU/Linux {major} ({codename})\"\nNAME=\"{origin} GNU/Linux\"\nVERSION_ID=\"{major}\"\nVERSION_CODENAME={codename}\nID={id}\n"
    )
}
