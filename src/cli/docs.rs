//! `kiln completions` and `kiln man`: documents generated from the CLI definition.
//!
//! Owns: the completion scripts and the roff pages (clap_complete, clap_mangen).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::out;
use super::{command, EXAMPLES, EXIT_CODES, SUBCOMMAND_EXAMPLES};

#[derive(clap::Args, Debug)]
pub(super) struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub(super) struct ManArgs {
    /// Print the page of this subcommand, kiln-COMMAND(1), instead of kiln(1).
    command: Option<String>,
}

pub(super) fn completions(a: CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut command(), "kiln", &mut script);
    out(&String::from_utf8(script)?)
}

/// `kiln man`: kiln(1), or kiln-COMMAND(1), rendered from the CLI definition by
/// clap_mangen, with kiln's examples and exit statuses as their own sections.
pub(super) fn man(a: ManArgs) -> anyhow::Result<()> {
    use clap_mangen::roff::{bold, roman, Roff};
    let mut cmd = command();
    cmd.build();
    let page = match &a.command {
        None => cmd,
        Some(name) => cmd
            .find_subcommand(name)
            // clap's own `help` has no page: clap_mangen cannot render it.
            .filter(|_| name != "help")
            .cloned()
            // clap names are `&'static str` without its `string` feature; the process prints
            // one page and exits.
            .map(|sub| sub.name(&*Box::leak(format!("kiln-{name}").into_boxed_str())))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no subcommand `{name}`\n\nhint: `kiln --help` lists the subcommands"
                )
            })?,
    };
    let man = clap_mangen::Man::new(page);
    let mut roff_text = Vec::new();
    man.render_title(&mut roff_text)?;
    man.render_name_section(&mut roff_text)?;
    man.render_synopsis_section(&mut roff_text)?;
    man.render_description_section(&mut roff_text)?;
    man.render_options_section(&mut roff_text)?;
    if a.command.is_none() {
        man.render_subcommands_section(&mut roff_text)?;
        let mut extra = Roff::default();
        extra.control("SH", ["EXAMPLES"]);
        for (line, what) in EXAMPLES {
            if what.is_empty() {
                extra.control("PP", []);
                extra.text([bold(*line)]);
            } else {
                extra.control("TP", []);
                extra.text([bold(*line)]);
                extra.text([roman(*what)]);
            }
        }
        extra.control("SH", ["EXIT STATUS"]);
        for (code, meaning) in EXIT_CODES {
            extra.control("TP", []);
            extra.text([bold(code.to_string())]);
            extra.text([roman(*meaning)]);
        }
        extra.to_writer(&mut roff_text)?;
    } else if let Some((_, lines)) = SUBCOMMAND_EXAMPLES
        .iter()
        .find(|(n, _)| Some(*n) == a.command.as_deref())
    {
        let mut extra = Roff::default();
        extra.control("SH", ["EXAMPLES"]);
        for line in *lines {
            extra.control("PP", []);
            extra.text([bold(*line)]);
        }
        extra.to_writer(&mut roff_text)?;
    }
    man.render_version_section(&mut roff_text)?;
    out(&String::from_utf8(roff_text)?)
}
