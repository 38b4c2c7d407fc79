//! kiln's integration tests: the real binary on real inputs, checked with real peers
//! (skopeo, umoci, chroot). One test binary; one module per property.

mod util;

mod big_file;
mod errors;
mod examples;
mod init;
mod plan_layers;
mod repro;
