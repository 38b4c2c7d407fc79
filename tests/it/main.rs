//! kiln's integration tests: the real binary on real inputs, checked with real peers
//! (skopeo, umoci, chroot). One test binary; one module per property.

// Tests report measurements (peak RSS) on stderr.
#![allow(clippy::print_stderr)]
// Test code panics with the path anyway; plain std::fs keeps it short.
#![allow(clippy::disallowed_methods)]

mod arm64;
mod base;
mod base_open;
mod big_file;
mod build_cli;
mod cli;
mod concurrency;
mod conventions;
mod deb_build;
mod deb_debian;
mod deb_fetch;
mod deb_release;
mod deb_solve;
mod debrepo;
mod embedded;
mod engines;
mod errors;
mod examples;
mod explain_foreign;
mod gc;
mod hostile;
mod hostile_registry;
mod hostile_root;
mod init;
mod inspect;
mod ldd_parity;
mod modules;
mod multiarch;
mod musl;
mod plan_layers;
mod platform;
mod pull;
mod push;
mod refuse;
mod registry_util;
mod repro;
mod rules;
mod runtime_loads;
mod sbom;
mod sign;
mod snapshots;
mod util;
