//! Debian packages from a signed archive: the `[[source]]` a manifest names, verified from its
//! `InRelease` down to every `.deb`, the packages a `deb` component asks for with their
//! dependency closure as apt would choose it, and the unpacked files as a target root.
//!
//! Owns: the chain of trust (OpenPGP signature on `InRelease` → `Packages` by the hash the
//! release lists → `.deb` by the SHA-256 the index lists), Debian version order and relation
//! syntax, dependency resolution, the content-addressed download cache
//! (`$KILN_CACHE_DIR/deb`), reading `.deb` files, and the merged tree they make.
//! Does not own: deciding what ships (`plan`), ELF closures (`resolve`), document formats
//! (`sbom`), the lock file's format (`lock`).
//! Invariant: nothing read from an archive is used before it is checked against a signature
//! or a hash that chains up to the keyring the manifest names.

pub mod control;
pub mod debfile;
pub mod fetch;
pub mod index;
pub mod release;
pub mod solve;
pub mod version;
