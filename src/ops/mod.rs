//! One function per command: a typed request in, a typed report out (as cargo's `ops::`).
//!
//! Owns: what each command does, from its request (arguments already parsed into types) to
//! its report (plain data, `Serialize` where the command has `--json`).
//! Does not own: parsing the command line, printing and exit codes (`cli`, the only module
//! that prints), the pipeline stages the ops call (`image`, `oci`, `registry`, `dpkg`, ...).
//! Invariant: an op never prints; progress goes through a callback (`crate::progress::scope`
//! for the pipeline's events, `registry::Options::progress` for transfers) that the caller
//! installs. Errors are `anyhow` chains (as cargo's `CargoResult`) whose text is the CLI's
//! message: the first line, `caused by:` lines, a `hint:` after a blank line.

pub mod explain;
pub mod inspect;
pub mod sbom;
