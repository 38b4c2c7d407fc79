//! kiln builds minimal, hardened, reproducible OCI images from a declarative manifest.
//!
//! The pipeline: a TOML [`manifest`] is parsed and validated (spans kept for errors), each
//! component is expanded and ELF files get their shared-library closure [`resolve`]d the way
//! the target's dynamic loader would; the result is a [`plan::Plan`], the sorted list of every
//! path the image will contain with its provenance. [`layer`] writes deterministic tar+gzip
//! blobs from the Plan, and [`image`] adds the OCI config, manifest and index and writes the
//! requested output form atomically. Everything after `plan` is a view of the Plan.

pub mod cli;

/// The `schema` every JSON document kiln prints carries (results, errors, `--plan --json`, the
/// portable plan stored beside an image): one version for them all, raised when any of them
/// changes incompatibly. Documented in docs/json.md.
pub const JSON_SCHEMA: &str = "kiln/v1";
pub mod digest;
pub mod dpkg;
pub mod elf;
pub mod image;
pub mod init;
pub mod layer;
pub mod lock;
pub mod manifest;
pub mod oci;
pub mod plan;
pub mod progress;
pub mod registry;
pub mod resolve;
pub mod sbom;
pub mod sign;
pub mod span;
pub mod time;
pub mod types;
