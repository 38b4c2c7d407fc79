//! The commands as library calls: one function per command, a typed request in and a typed
//! report out (as cargo's `ops::`), so a program can do what `kiln push`, `kiln sign` or
//! `kiln explain` does without going through the command line.
//!
//! Owns: what a command does, in order (open, check, act, write `--image-refs`), its request
//! (typed values: `Output`, `Reference`, paths, enums, never strings to match on) and its
//! report (`serde::Serialize`, what `--json` prints), and the errors of each op, keeping their
//! causes typed (`#[source]`) with hints as data (`hint()`) where an op has its own `Error`
//! enum (`push`, `pull`, `sign`, `ldd`, `lock`); `explain`, `sbom` and `inspect` return
//! `anyhow` chains whose text is the CLI's message.
//! Does not own: parsing arguments, reading passwords from a terminal or stdin, printing text,
//! JSON or progress, exit codes (`cli`); the formats and protocols (`registry`, `sign`,
//! `resolve`, `lock`, `oci`, `dpkg`).
//! Invariant: an op never prints. Progress reaches the caller through the receiver the op
//! takes (`registry::Progress` for a transfer, `progress::Progress` through
//! `progress::scope` for the build steps), and a warning is part of the report.

pub mod explain;
pub mod inspect;
pub mod ldd;
// documented with the build op (issue 11)
#[allow(missing_docs)]
pub mod lock;
pub mod pull;
pub mod push;
pub mod sbom;
pub mod sign;
