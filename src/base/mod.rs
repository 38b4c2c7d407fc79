//! STUB (replaced by the `base` branch): the interface plan integration is written against.
#![allow(missing_docs, dead_code)]
use crate::digest::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum BaseRef {
    Docker(crate::registry::Reference),
    Oci { dir: PathBuf, tag: String },
    OciArchive { file: PathBuf, tag: String },
}
impl BaseRef {
    pub fn parse(_s: &str) -> Result<BaseRef, Error> {
        todo!()
    }
}
impl std::fmt::Display for BaseRef {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}
#[derive(Default)]
pub struct Access {
    pub insecure: bool,
    pub cert_dir: Option<PathBuf>,
}
#[derive(Debug)]
pub struct Base {
    pub reference: BaseRef,
    pub digest: Digest,
    pub pinned: Digest,
    pub manifest_bytes: Vec<u8>,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    pub layers: Vec<crate::oci::Descriptor>,
    pub platform: crate::types::Platform,
    pub store: PathBuf,
    pub root: PathBuf,
    pub files: Vec<BaseFile>,
}
impl Base {
    pub fn glibc_version(&self) -> Option<String> {
        todo!()
    }
}
#[derive(Debug)]
pub struct BaseFile {
    pub path: crate::types::ImagePath,
    pub kind: BaseKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub layer: usize,
}
#[derive(Debug)]
pub enum BaseKind {
    Dir,
    File {
        size: u64,
        sha256: Digest,
        sha1: crate::digest::Sha1,
    },
    Symlink {
        target: String,
    },
    Other(&'static str),
}
#[derive(Debug)]
pub struct ImageConfig {
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    pub config: RunConfig,
    pub diff_ids: Vec<Digest>,
    pub history: Vec<History>,
}
#[derive(Default, Debug)]
pub struct RunConfig {
    pub user: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub volumes: BTreeMap<String, serde_json::Value>,
}
#[derive(Debug)]
pub struct History {
    pub created: Option<String>,
    pub created_by: Option<String>,
    pub comment: Option<String>,
    pub empty_layer: bool,
}
#[derive(Debug, thiserror::Error)]
#[error("base")]
pub struct Error;
pub fn open(
    _r: &BaseRef,
    _p: Option<crate::types::Platform>,
    _a: &Access,
    _c: &Path,
) -> Result<Base, Error> {
    todo!()
}
pub fn cache_dir() -> PathBuf {
    todo!()
}
