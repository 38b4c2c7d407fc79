//! The `kiln` binary: parse arguments, run, map the outcome to an exit code.
use std::process::ExitCode;

fn main() -> ExitCode {
    // Bad input must never show a Rust backtrace: errors are values, and panics (bugs) get a
    // one-line report from `cli::run`'s hook.
    kiln::cli::main()
}
