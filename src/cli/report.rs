//! How kiln talks to the person running it on stderr: `error:`, `warning:`, `note:` and
//! `hint:` lines (coloured when allowed), progress bars for the long steps of a build, and
//! the `-q`/`-v` levels.
//!
//! Owns: the global output settings (`--quiet`, `--verbose`, `--color`, set once by `main`),
//! colour decisions (`--color always|never`, else `CLICOLOR_FORCE`, then `NO_COLOR`, then
//! whether stderr is a terminal: anstream's rules), and the [`Bars`] receiver of
//! [`crate::progress`] events.
//! Does not own: the words of messages (`render`, each command), what stdout prints.
//! Invariant: nothing here writes to stdout; progress is drawn only on a terminal and never
//! under `--quiet`; meaning never depends on colour (the words are the same without it).

use crate::progress::{Event, Progress, Step};
use anstyle::{AnsiColor, Style};
use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ColorWhen {
    /// Colour when stderr is a terminal and `NO_COLOR` is unset or empty (`CLICOLOR_FORCE`
    /// forces it).
    Auto,
    Always,
    Never,
}

/// How much kiln says on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Level {
    /// `-q`: errors and warnings only; no progress, no `note:` lines, no text summary.
    Quiet,
    Normal,
    /// `-v`: also each build step's timing and counts.
    Verbose,
}

static LEVEL: OnceLock<Level> = OnceLock::new();
static JSON: OnceLock<bool> = OnceLock::new();

/// `--json`: stderr then holds nothing but an error's JSON object (warnings are in the
/// result; no progress, no notes).
pub(super) fn init_json(json: bool) {
    let _ = JSON.set(json);
}

fn json() -> bool {
    JSON.get().copied().unwrap_or(false)
}

/// Sets the level for the rest of the process (once, from `main`).
pub(super) fn init_level(level: Level) {
    let _ = LEVEL.set(level);
}

/// Sets the colour choice for the rest of the process (from `main`, before parsing).
pub(super) fn init_color(color: ColorWhen) {
    let choice = match color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

pub(super) fn level() -> Level {
    LEVEL.get().copied().unwrap_or(Level::Normal)
}

/// The `--color` given on the command line before clap has parsed it (so clap's own usage
/// errors and help follow it too); `auto` when absent or unreadable.
pub(super) fn color_from_args(args: &[std::ffi::OsString]) -> ColorWhen {
    let mut it = args.iter().map(|a| a.to_string_lossy());
    let mut found = ColorWhen::Auto;
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--color=") {
            Some(v) => Some(v.to_string()),
            None if a == "--color" => it.next().map(|v| v.to_string()),
            None => None,
        };
        match value.as_deref() {
            Some("always") => found = ColorWhen::Always,
            Some("never") => found = ColorWhen::Never,
            Some(_) => found = ColorWhen::Auto,
            None => {}
        }
    }
    found
}

/// clap's colour setting for `choice`.
pub(super) fn clap_color(choice: ColorWhen) -> clap::ColorChoice {
    match choice {
        ColorWhen::Auto => clap::ColorChoice::Auto,
        ColorWhen::Always => clap::ColorChoice::Always,
        ColorWhen::Never => clap::ColorChoice::Never,
    }
}

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const NOTE: Style = AnsiColor::Cyan.on_default().bold();
const HINT: Style = AnsiColor::Green.on_default().bold();

/// `text` with its `error:`, `warning:`, `note:`, `hint:` and `caused by:` prefixes styled
/// (at the start of a line, after indentation).
fn styled(text: &str) -> String {
    let mut s = String::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let prefix = [
            ("error:", ERROR),
            ("warning:", WARNING),
            ("note:", NOTE),
            ("hint:", HINT),
            ("caused by:", Style::new().bold()),
        ]
        .into_iter()
        .find(|(p, _)| body.starts_with(p));
        match prefix {
            Some((p, style)) => {
                s += &format!("{indent}{style}{p}{style:#}{}", &body[p.len()..]);
            }
            None => s += line,
        }
    }
    s
}

/// Writes `text` and a newline to stderr, styled when colour is on (anstream strips the
/// styles otherwise).
pub(super) fn eprint_styled(text: &str) {
    let mut e = anstream::stderr().lock();
    let _ = writeln!(e, "{}", styled(text));
    let _ = e.flush();
}

/// `warning: MSG` (shown under `-q` too: a warning says the image may not work).
pub(super) fn warning(msg: &str) {
    if json() {
        return;
    }
    eprint_styled(&format!("warning: {msg}"));
}

/// `note: MSG` (not under `-q`).
pub(super) fn note(msg: &str) {
    if level() > Level::Quiet && !json() {
        eprint_styled(&format!("note: {msg}"));
    }
}

/// Whether progress bars are drawn: stderr is a terminal and not `-q`.
pub(super) fn show_progress() -> bool {
    level() > Level::Quiet && !json() && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// The receiver of build progress: a bar per step on a terminal, and under `-v` one line per
/// finished step with its counts and time.
pub(super) struct Bars {
    bar: std::sync::Mutex<Option<(indicatif::ProgressBar, Instant, String)>>,
    draw: bool,
    verbose: bool,
}

impl Bars {
    /// The receiver for this run, or None when it would show nothing.
    pub(super) fn for_this_run() -> Option<std::sync::Arc<dyn Progress>> {
        let draw = show_progress();
        let verbose = level() == Level::Verbose && !json();
        (draw || verbose).then(|| {
            std::sync::Arc::new(Bars {
                bar: Default::default(),
                draw,
                verbose,
            }) as std::sync::Arc<dyn Progress>
        })
    }

    fn new_bar(&self, step: Step, label: &str, total: Option<u64>) -> indicatif::ProgressBar {
        let target = if self.draw {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        };
        let bar = indicatif::ProgressBar::with_draw_target(total, target);
        let template = match (step.counts_bytes(), total.is_some()) {
            (true, true) => "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {msg}",
            (true, false) => "{prefix:>12} {spinner} {bytes} {msg}",
            (false, _) => "{prefix:>12} [{bar:30}] {pos}/{len} {msg}",
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(step.as_str());
        bar.set_message(label.to_string());
        bar.tick();
        bar
    }
}

impl Progress for Bars {
    fn event(&self, e: Event<'_>) {
        let mut slot = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Start { step, label, total } => {
                if let Some((old, _, _)) = slot.take() {
                    old.finish_and_clear();
                }
                *slot = Some((
                    self.new_bar(step, label, total),
                    Instant::now(),
                    label.into(),
                ));
            }
            Event::Advance { by, .. } => {
                if let Some((bar, _, _)) = slot.as_ref() {
                    bar.inc(by);
                }
            }
            // Printed by the receiver that wraps these bars (`cli::build`).
            Event::Warning(_) => {}
            Event::Finish { step, items, units } => {
                let Some((bar, started, label)) = slot.take() else {
                    return;
                };
                bar.finish_and_clear();
                if self.verbose {
                    let secs = started.elapsed().as_secs_f64();
                    let on = if label.is_empty() {
                        String::new()
                    } else {
                        format!(" ({label})")
                    };
                    let what = match step {
                        Step::Hash => format!(
                            "{}, {}",
                            super::render::count(items as usize, "file", "files"),
                            bytes(units)
                        ),
                        Step::Resolve => format!(
                            "{} from {}",
                            super::render::count(items as usize, "object", "objects"),
                            super::render::count(units as usize, "ELF file", "ELF files")
                        ),
                        Step::Layer => format!(
                            "{}, {} uncompressed",
                            super::render::count(items as usize, "entry", "entries"),
                            bytes(units)
                        ),
                        Step::Download => format!(
                            "{}, {}",
                            super::render::count(items as usize, "package", "packages"),
                            bytes(units)
                        ),
                    };
                    eprint_styled(&format!(
                        "note: {}{on}: {what} in {secs:.2}s",
                        step.as_str()
                    ));
                }
            }
        }
    }
}

/// A byte count as people read it (`812 B`, `3.4 KiB`, `1.2 MiB`).
fn bytes(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / 1048576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_styled_at_line_starts_only() {
        let s = styled("error: bad `x`\n  caused by: y\n\nhint: try error: z");
        assert!(s.starts_with("\u{1b}["), "{s:?}");
        assert!(s.contains("hint:\u{1b}[0m try error: z"), "{s:?}");
        assert_eq!(styled("plain text"), "plain text");
    }

    #[test]
    fn color_flag_is_read_before_parsing() {
        let a = |v: &[&str]| v.iter().map(Into::into).collect::<Vec<_>>();
        assert_eq!(
            color_from_args(&a(&["kiln", "--color", "never"])),
            ColorWhen::Never
        );
        assert_eq!(
            color_from_args(&a(&["kiln", "build", "--color=always"])),
            ColorWhen::Always
        );
        assert_eq!(color_from_args(&a(&["kiln"])), ColorWhen::Auto);
    }
}
