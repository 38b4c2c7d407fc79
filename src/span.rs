//! Positions in the manifest's text, and how they are shown to a user.
//!
//! Owns: `SourceFile` (the manifest's path and text, shared by every value parsed from it),
//! `Span` (a byte range in it) and `Location`, which renders `--> file:line:col` with the line
//! and a caret underline, in the style of rustc and uv.
//! Invariant: every error about something the user wrote carries a `Location`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The manifest as read: its path (as the user gave it) and its text.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// A byte range in a `SourceFile`.
pub type Span = Range<usize>;

/// A place in a source file, ready to render.
#[derive(Clone, Debug)]
pub struct Location {
    file: Arc<SourceFile>,
    span: Span,
}

impl Location {
    pub fn new(file: &Arc<SourceFile>, span: Span) -> Location {
        let len = file.text.len();
        let start = span.start.min(len);
        let end = span.end.clamp(start, len);
        Location {
            file: file.clone(),
            span: start..end,
        }
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// 1-based line and column (in characters).
    pub fn line_col(&self) -> (usize, usize) {
        let before = &self.file.text[..floor_char(&self.file.text, self.span.start)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    fn line_text(&self) -> &str {
        let text = &self.file.text;
        let start = floor_char(text, self.span.start);
        let ls = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let le = text[start..].find('\n').map_or(text.len(), |i| start + i);
        text[ls..le].trim_end_matches('\r')
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Location {
    /// ```text
    ///   --> kiln.toml:31:1
    ///    |
    /// 31 | remove_when = "all timestamps are UTC"
    ///    | ^^^^^^^^^^^
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.line_col();
        let num = line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "{pad}--> {}:{line}:{col}", self.file.path.display())?;
        let text = self.line_text();
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {text}")?;
        let span_text = &self.file.text[floor_char(&self.file.text, self.span.start)
            ..floor_char(&self.file.text, self.span.end)];
        let first_line = span_text.split('\n').next().unwrap_or("");
        let width = first_line
            .chars()
            .count()
            .clamp(1, text.chars().count().max(1));
        write!(f, "{pad} | {}{}", " ".repeat(col - 1), "^".repeat(width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_column_and_caret() {
        let file = Arc::new(SourceFile {
            path: "kiln.toml".into(),
            text: "[image]\nname = \"x\"\nremove_when = 1\n".into(),
        });
        let start = file.text.find("remove_when").unwrap();
        let loc = Location::new(&file, start..start + "remove_when".len());
        assert_eq!(loc.line_col(), (3, 1));
        assert_eq!(
            loc.to_string(),
            " --> kiln.toml:3:1\n  |\n3 | remove_when = 1\n  | ^^^^^^^^^^^"
        );
    }

    #[test]
    fn out_of_range_spans_are_clamped() {
        let file = Arc::new(SourceFile {
            path: "m.toml".into(),
            text: "a = é".into(),
        });
        let loc = Location::new(&file, 5..500);
        let (line, _) = loc.line_col();
        assert_eq!(line, 1);
        let _ = loc.to_string();
    }
}

/// An error about something the user wrote: what is wrong, where, and what to do.
///
/// Renders as the message, then the location with its source line, then `hint:` after a blank
/// line (the layout of `uv` and `rustc`).
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub message: String,
    pub locations: Vec<(Location, Option<String>)>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, location: Location) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            locations: vec![(location, None)],
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// A further labelled place, e.g. the other party of a conflict.
    pub fn also(mut self, location: Location, label: impl Into<String>) -> Diagnostic {
        self.locations.push((location, Some(label.into())));
        self
    }

    /// The first location's `file:line:col`.
    pub fn place(&self) -> Option<String> {
        self.locations.first().map(|(l, _)| {
            let (line, col) = l.line_col();
            format!("{}:{line}:{col}", l.path().display())
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        for (loc, label) in &self.locations {
            write!(f, "\n{loc}")?;
            if let Some(label) = label {
                write!(f, " {label}")?;
            }
        }
        if let Some(h) = &self.hint {
            write!(f, "\n\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}
