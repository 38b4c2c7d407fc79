//! `cargo xtask test` and `cargo xtask lint`: the fixed sequence of checks, failing fast.
//!
//! `test` runs setup, `cargo fmt --all -- --check`, `cargo clippy --workspace --all-targets
//! --locked -- -D warnings`, `cargo build --release --locked` (the tests use the release binary
//! too) and `cargo test --workspace --locked [ARGS]` with `KILN_TESTBED` and `KILN_TEST_VENV`
//! exported; `CI` is passed through as given.

use std::process::Command;

use crate::setup;
use crate::util::{self, Result, Steps};

/// `cargo ARGS` run from the workspace root.
fn cargo_step(args: &[&str]) -> Command {
    let mut cmd = util::cargo();
    cmd.args(args).current_dir(util::repo_root());
    cmd
}

fn run_shown(mut cmd: Command) -> Result<()> {
    println!("    $ {}", util::show(&cmd));
    util::run(&mut cmd)
}

fn fmt_check() -> Result<()> {
    run_shown(cargo_step(&["fmt", "--all", "--", "--check"]))
}

fn clippy() -> Result<()> {
    run_shown(cargo_step(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))
}

/// `cargo xtask lint`.
pub fn lint() -> Result<()> {
    let mut steps = Steps::default();
    let outcome = (|| {
        steps.run("fmt", fmt_check)?;
        steps.run("clippy", clippy)
    })();
    steps.print_summary();
    outcome
}

/// PATH with cargo's bin directory (`$CARGO_HOME/bin`, default `~/.cargo/bin`) in front:
/// setup installs cargo-auditable there, and cargo finds it as a subcommand even when a shell
/// (a fresh root's, CI's) does not have that directory on PATH; the tests look it up on PATH.
fn path_with_cargo_bin() -> std::ffi::OsString {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let mut dirs: Vec<std::path::PathBuf> = home.into_iter().map(|h| h.join("bin")).collect();
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// `cargo xtask test [-- extra]`.
pub fn test(extra: &[String]) -> Result<()> {
    let mut steps = Steps::default();
    let outcome = (|| {
        let testbed = steps.run("setup", setup::setup)?;
        steps.run("fmt", fmt_check)?;
        steps.run("clippy", clippy)?;
        steps.run("build", || {
            run_shown(cargo_step(&["build", "--release", "--locked"]))
        })?;
        steps.run("test", || {
            let mut cmd = cargo_step(&["test", "--workspace", "--locked"]);
            cmd.args(extra)
                .env("KILN_TESTBED", &testbed.dir)
                .env("KILN_TEST_VENV", &testbed.venv)
                .env("KILN_COSIGN_PEER", testbed.cosign_peer())
                .env("PATH", path_with_cargo_bin());
            println!(
                "    KILN_TESTBED={} KILN_TEST_VENV={} CI={}",
                testbed.dir.display(),
                testbed.venv.display(),
                std::env::var("CI").unwrap_or_else(|_| "(unset)".to_string())
            );
            run_shown(cmd)
        })
    })();
    steps.print_summary();
    outcome
}
