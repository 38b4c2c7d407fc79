//! The base cache: the shared blob layout, unpacked roots with their `files.json`, and pins.

use super::source::Chosen;
use super::unpack::Unpacker;
use super::{Base, BaseFile, BaseKind, BaseRef, Error, ImageConfig};
use crate::digest::{Digest, Sha1};
use crate::oci::guard::{self, Lock, Staging};
use crate::oci::layout::Layout;
use crate::oci::{self, Manifest};
use crate::types::{ImagePath, Platform};
use std::path::{Path, PathBuf};

/// The version of `files.json`; another is unpacked again.
const FILES_SCHEMA: &str = "kiln/base-files/v1";

/// `CACHE/base`: its layout, roots and pins.
pub(crate) struct Store {
    dir: PathBuf,
    pub(crate) layout: Layout,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FilesJson {
    schema: String,
    digest: Digest,
    layers: usize,
    files: Vec<FileJson>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJson {
    path: String,
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    layer: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
}

/// The names `BaseKind::Other` takes.
const OTHER: [&str; 3] = ["character device", "block device", "fifo"];

fn key(d: &Digest) -> String {
    format!("{}-{}", d.algorithm().name(), d.hex())
}

fn werr(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Write {
        path: p.to_path_buf(),
        source: e,
    }
}

impl Store {
    /// Opens `CACHE/base`, creating its layout when missing (under the folder's lock).
    pub(crate) fn open(cache: &Path) -> Result<Store, Error> {
        let dir = cache.join("base");
        let oci_dir = dir.join("oci");
        fs_err::create_dir_all(&dir).map_err(werr(&dir))?;
        if !oci_dir.join("oci-layout").exists() {
            let _lock = Lock::folder(&dir)?;
            if !oci_dir.join("oci-layout").exists() {
                guard::sweep(&dir);
                let work = Staging::new_in(&dir)?;
                for sub in ["blobs/sha256", "blobs/sha512"] {
                    let p = work.path().join(sub);
                    fs_err::create_dir_all(&p).map_err(werr(&p))?;
                }
                guard::write_atomic(
                    &work.path().join("oci-layout"),
                    br#"{"imageLayoutVersion":"1.0.0"}"#,
                )?;
                guard::write_atomic(
                    &work.path().join("index.json"),
                    &oci::Index::new().to_bytes(),
                )?;
                work.rename_to(&oci_dir)?;
            }
        }
        let layout = Layout::open(&oci_dir)?;
        Ok(Store { dir, layout })
    }

    pub(crate) fn has(&self, d: &Digest) -> bool {
        matches!(self.layout.blob_size(d), Ok(Some(_)))
    }

    fn pin_path(&self, pinned: &Digest, platform: Option<Platform>) -> PathBuf {
        let p = platform.map_or("any".to_string(), |p| p.to_string().replace('/', "-"));
        self.dir.join("pins").join(format!("{}-{p}", key(pinned)))
    }

    /// The image manifest `pinned` resolved to for `platform` before, when its root and its
    /// manifest and config are still in the cache: what a digest reference opens offline.
    pub(crate) fn pinned(&self, pinned: &Digest, platform: Option<Platform>) -> Option<Digest> {
        let bytes = fs_err::read(self.pin_path(pinned, platform)).ok()?;
        let d = Digest::parse(std::str::from_utf8(&bytes).ok()?.trim())?;
        let ok = self.has(&d) && self.roots().join(key(&d)).join("files.json").exists();
        ok.then_some(d)
    }

    /// Records that `pinned` resolved to `digest` for `platform`.
    pub(crate) fn pin(
        &self,
        pinned: &Digest,
        platform: Option<Platform>,
        digest: &Digest,
    ) -> Result<(), Error> {
        let p = self.pin_path(pinned, platform);
        if let Some(parent) = p.parent() {
            fs_err::create_dir_all(parent).map_err(werr(parent))?;
        }
        guard::write_atomic(&p, digest.to_string().as_bytes())?;
        Ok(())
    }

    fn roots(&self) -> PathBuf {
        self.dir.join("roots")
    }

    /// The base `chosen` names: its manifest and config read from the layout, its root
    /// unpacked unless a valid one is there.
    pub(crate) fn load_or_unpack(&self, r: &BaseRef, chosen: &Chosen) -> Result<Base, Error> {
        let reference = r.to_string();
        let invalid = |why: String| Error::Invalid {
            reference: reference.clone(),
            digest: chosen.digest.clone(),
            why,
        };
        let with_ref = |e: oci::Error| Error::Oci {
            reference: reference.clone(),
            source: e,
        };
        let manifest_bytes = self
            .layout
            .read_blob(&chosen.digest, None, oci::MAX_MANIFEST)
            .map_err(with_ref)?;
        let (config_desc, layers) = match oci::parse_manifest(&manifest_bytes, None) {
            Ok(Manifest::Image { config, layers, .. }) => (config, layers),
            Ok(Manifest::Index { .. }) => {
                return Err(invalid("it is an index, not an image".into()))
            }
            Err(why) => return Err(invalid(why)),
        };
        let config_bytes = self
            .layout
            .read_blob(
                &config_desc.digest,
                Some(config_desc.size),
                crate::oci::config::MAX_CONFIG,
            )
            .map_err(with_ref)?;
        let config = ImageConfig::parse(&config_bytes)
            .map_err(|why| invalid(format!("its config: {why}")))?;
        if config.diff_ids.len() != layers.len() {
            return Err(invalid(format!(
                "its manifest lists {} layers, its config {} diff_ids",
                layers.len(),
                config.diff_ids.len()
            )));
        }
        let platform = platform_of(&config).map_err(invalid)?;
        let (root, files) = self.root(&chosen.digest, &layers, &config.diff_ids)?;
        Ok(Base {
            sboms: super::OwnSboms::default(),
            reference: r.clone(),
            digest: chosen.digest.clone(),
            pinned: chosen.pinned.clone(),
            manifest_bytes,
            config_bytes,
            config,
            layers,
            platform,
            store: self.layout.dir().to_path_buf(),
            root,
            files,
        })
    }

    /// The unpacked root of `digest` and its files: loaded when valid, else unpacked into a
    /// staging folder and renamed into place (a concurrent run that wins keeps its own).
    fn root(
        &self,
        digest: &Digest,
        layers: &[oci::Descriptor],
        diff_ids: &[Digest],
    ) -> Result<(PathBuf, Vec<BaseFile>), Error> {
        let roots = self.roots();
        let dest = roots.join(key(digest));
        if let Some(files) = load_files(&dest, digest, layers.len()) {
            return Ok((dest.join("root"), files));
        }
        fs_err::create_dir_all(&roots).map_err(werr(&roots))?;
        guard::sweep(&roots);
        let work = Staging::new_in(&roots)?;
        let root = work.path().join("root");
        fs_err::create_dir(&root).map_err(werr(&root))?;
        let mut u = Unpacker::new(&root);
        for (i, (desc, diff_id)) in layers.iter().zip(diff_ids).enumerate() {
            let (blob, _) = self.layout.open_blob(&desc.digest, Some(desc.size))?;
            u.apply(i, desc, diff_id, std::io::BufReader::new(blob))?;
        }
        let files = u.files()?;
        write_files(
            &work.path().join("files.json"),
            digest,
            layers.len(),
            &files,
        )?;
        let _lock = Lock::folder(&roots)?;
        // When another run published it meanwhile, theirs is used and ours goes with `work`.
        if load_files(&dest, digest, layers.len()).is_none() {
            if dest.exists() {
                set_aside(&roots, &dest)?;
            }
            work.rename_to(&dest)?;
        }
        let files = load_files(&dest, digest, layers.len()).ok_or_else(|| Error::Internal {
            what: format!(
                "the root just published at {} does not load",
                dest.display()
            ),
        })?;
        Ok((dest.join("root"), files))
    }
}

/// Moves a broken root out of the way (renamed first, so no reader sees it half removed).
fn set_aside(roots: &Path, dest: &Path) -> Result<(), Error> {
    let trash = Staging::new_in(roots)?;
    let to = trash.path().join("old");
    fs_err::rename(dest, &to).map_err(werr(dest))?;
    drop(trash);
    Ok(())
}

fn platform_of(c: &ImageConfig) -> Result<Platform, String> {
    if c.os != "linux" {
        return Err(format!("its os is {:?}; kiln builds on linux bases", c.os));
    }
    crate::types::Arch::ALL
        .iter()
        .map(|&arch| Platform { arch })
        .find(|p| {
            p.architecture() == c.architecture
                && (c.variant.is_none() || c.variant.as_deref() == p.variant())
        })
        .ok_or_else(|| {
            format!(
                "its architecture {:?} (variant {:?}) is not one kiln knows ({})",
                crate::digest::shorten(&c.architecture),
                c.variant.as_deref().unwrap_or(""),
                Platform::known().join(", ")
            )
        })
}

fn write_files(p: &Path, digest: &Digest, layers: usize, files: &[BaseFile]) -> Result<(), Error> {
    let list = files
        .iter()
        .map(|f| {
            let mut j = FileJson {
                path: f.path.to_string(),
                kind: String::new(),
                mode: f.mode,
                uid: f.uid,
                gid: f.gid,
                layer: f.layer,
                size: None,
                sha256: None,
                sha1: None,
                target: None,
            };
            j.kind = match &f.kind {
                BaseKind::Dir => "dir".into(),
                BaseKind::File { size, sha256, sha1 } => {
                    j.size = Some(*size);
                    j.sha256 = Some(sha256.clone());
                    j.sha1 = Some(sha1.hex());
                    "file".into()
                }
                BaseKind::Symlink { target } => {
                    j.target = Some(target.clone());
                    "symlink".into()
                }
                BaseKind::Other(what) => (*what).into(),
            };
            j
        })
        .collect();
    let doc = FilesJson {
        schema: FILES_SCHEMA.into(),
        digest: digest.clone(),
        layers,
        files: list,
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| Error::Internal {
        what: format!("files.json does not serialise: {e}"),
    })?;
    guard::write_atomic(p, &bytes)?;
    Ok(())
}

/// `DIR/files.json` when it is there, parses, names `digest`, and every entry is well
/// formed and in order; `None` otherwise (the root is then unpacked again).
fn load_files(dir: &Path, digest: &Digest, layers: usize) -> Option<Vec<BaseFile>> {
    if !dir.join("root").is_dir() {
        return None;
    }
    let bytes = fs_err::read(dir.join("files.json")).ok()?;
    let doc: FilesJson = serde_json::from_slice(&bytes).ok()?;
    if doc.schema != FILES_SCHEMA || doc.digest != *digest || doc.layers != layers {
        return None;
    }
    if doc.files.len() > super::unpack::MAX_ENTRIES {
        return None;
    }
    let files: Vec<BaseFile> = doc
        .files
        .into_iter()
        .map(|j| file_of(j, layers))
        .collect::<Option<_>>()?;
    let sorted = files.windows(2).all(|w| w[0].path < w[1].path);
    let no_root = files.iter().all(|f| !f.path.is_root());
    (sorted && no_root).then_some(files)
}

fn file_of(j: FileJson, layers: usize) -> Option<BaseFile> {
    let path = ImagePath::parse(&j.path).ok()?;
    if path.as_str() != j.path || j.layer >= layers || j.mode > 0o7777 {
        return None;
    }
    let kind = match j.kind.as_str() {
        "dir" => BaseKind::Dir,
        "file" => {
            let hex = hex::decode(j.sha1?).ok()?;
            BaseKind::File {
                size: j.size?,
                sha256: j.sha256?,
                sha1: Sha1(hex.try_into().ok()?),
            }
        }
        "symlink" => BaseKind::Symlink { target: j.target? },
        other => BaseKind::Other(OTHER.iter().find(|o| **o == other)?),
    };
    Some(BaseFile {
        path,
        kind,
        mode: j.mode,
        uid: j.uid,
        gid: j.gid,
        layer: j.layer,
    })
}
