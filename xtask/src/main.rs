//! `cargo xtask`: the project's developer and CI tasks, in plain Rust with no dependencies.
//!
//! `cargo xtask` is an alias (see `.cargo/config.toml`) for `cargo run --package xtask --`.
//!
//! Sub-commands:
//! - `test [-- ARGS]`: install what the test suite needs ([`setup`]), then run fmt, clippy, a
//!   release build and the whole test suite, failing fast ([`suite`]).
//! - `lint`: `cargo fmt --check` and clippy only.
//! - `setup`: the installs only (Debian packages and the Python venv of validators).
//! - `bench [--size-mib N] [--no-build] [--only image|ldd|push|pull|base|deb]`: time kiln
//!   against `tar | gzip` and `umoci insert` on a generated tree, `kiln ldd` against glibc's
//!   `ldd` and `lddtree` on every ELF file in /usr/bin, `kiln push` and `kiln pull` against
//!   `skopeo copy` of the tree's image to and from a loopback registry, a build on that image
//!   as a base against `umoci unpack`, and the postgres image from Debian's archive against
//!   `apt-get download` + `dpkg-deb -x`, cold and warm ([`bench`], [`tree`]).
//! - `fuzz [--target NAME] [SECONDS]`: run a fuzz target (`elf_resolve`, the default,
//!   `manifest`, `oci_read`, `deb_index`, `deb_release`, or `all`) for SECONDS (default 60),
//!   installing cargo-fuzz when missing ([`fuzz`]); not part of `test`.
//!
//! Under `CI=true` a missing tool is always an error, never a skip.

// The workspace's clippy.toml sends kiln's I/O through fs-err so every error names its path;
// xtask has no dependencies by design and adds the path to its messages itself.
#![allow(clippy::disallowed_methods)]

mod bench;
mod fuzz;
mod setup;
mod suite;
mod tree;
mod util;

use std::process::ExitCode;

use util::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [-- ARGS...]          install what the tests need when missing, then run
                             fmt --check, clippy, the release build and
                             `cargo test --workspace --locked ARGS...`
  lint                       cargo fmt --check and clippy -D warnings
  setup                      install the Debian packages and the Python venv only
  bench [--size-mib N] [--no-build] [--only image|ldd|push|pull|base|deb]
                             time kiln against tar|gzip and umoci insert on a
                             generated tree of N MiB (default 1024), `kiln ldd`
                             against batched ldd and lddtree on every ELF file
                             in /usr/bin, `kiln push` and `kiln pull` against
                             `skopeo copy` of that tree's image to and from a
                             local docker-registry, cold and warm, a build on
                             that image as a base against `umoci unpack`, and
                             the postgres image from Debian's archive against
                             `apt-get download` + `dpkg-deb -x`, cold and warm;
                             --only runs one section;
                             --no-build uses the existing target/release/kiln
  fuzz [--target NAME] [SECONDS]
                             run fuzz target NAME (elf_resolve, the default;
                             manifest; oci_read; deb_index; deb_release; or all,
                             each in turn) for SECONDS (default 60); installs
                             cargo-fuzz when missing
  help                       this text

environment:
  KILN_TESTBED   where the test venv and caches live (default $HOME/.cache/kiln-testbed)
  CI             when true, a missing tool is an error, never a skip
";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Test { extra: Vec<String> },
    Lint,
    Setup,
    Bench(bench::Options),
    Fuzz(fuzz::Options),
    Help,
}

fn parse(args: &[String]) -> Result<Command> {
    let Some((name, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    match name.as_str() {
        "test" => match rest.split_first() {
            None => Ok(Command::Test { extra: Vec::new() }),
            Some((sep, extra)) if sep == "--" => Ok(Command::Test {
                extra: extra.to_vec(),
            }),
            Some((other, _)) => bail!(
                "unexpected argument `{other}` for `test`: extra cargo test arguments go \
                 after `--`, e.g. `cargo xtask test -- --test it`"
            ),
        },
        "lint" | "setup" => {
            if let Some(other) = rest.first() {
                bail!("`{name}` takes no arguments, got `{other}`");
            }
            Ok(if name == "lint" {
                Command::Lint
            } else {
                Command::Setup
            })
        }
        "bench" => bench::Options::parse(rest).map(Command::Bench),
        "fuzz" => fuzz::Options::parse(rest).map(Command::Fuzz),
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => bail!("unknown command `{other}`"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("xtask: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command {
        Command::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Command::Test { extra } => suite::test(&extra),
        Command::Lint => suite::lint(),
        Command::Setup => setup::setup().map(|_| ()),
        Command::Bench(options) => bench::run(&options),
        Command::Fuzz(options) => fuzz::run(&options),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_test_with_extra_args() {
        assert_eq!(
            parse(&args(&["test", "--", "--test", "it", "--", "--nocapture"])).unwrap(),
            Command::Test {
                extra: args(&["--test", "it", "--", "--nocapture"])
            }
        );
        assert_eq!(
            parse(&args(&["test"])).unwrap(),
            Command::Test { extra: vec![] }
        );
        assert!(parse(&args(&["test", "--nocapture"])).is_err());
    }

    #[test]
    fn parses_simple_commands() {
        assert_eq!(parse(&args(&["lint"])).unwrap(), Command::Lint);
        assert_eq!(parse(&args(&["setup"])).unwrap(), Command::Setup);
        assert_eq!(parse(&args(&[])).unwrap(), Command::Help);
        assert!(parse(&args(&["lint", "x"])).is_err());
        assert!(parse(&args(&["frobnicate"])).is_err());
    }
}
