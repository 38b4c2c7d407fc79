//! How errors read on a terminal: `error: ` and the message (with its location and hint),
//! then one `caused by:` line per underlying cause, then the hint: one a cause's text ends
//! with (a `span::Diagnostic`'s), else one an `ops` error carries as data (`hint()`). Never colour-dependent (`report` adds the
//! colour), never a backtrace.
//! Also how counts read (`1 layer`, `2 layers`).

/// Renders an error and its cause chain.
pub(super) fn error(e: &anyhow::Error) -> String {
    let mut s = format!("error: {e}");
    let mut hint = None;
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        // A cause that is a diagnostic carries its own hint; keep it for the end.
        if let Some((body, h)) = text.split_once("\n\nhint: ") {
            s += &format!("\n  caused by: {body}");
            hint = Some(h.to_string());
        } else {
            s += &format!("\n  caused by: {text}");
        }
    }
    if let Some(h) = hint.or_else(|| typed_hints(e).into_iter().next()) {
        s += &format!("\n\nhint: {h}");
    }
    printable(&s)
}

/// The hints errors carry as data (the ops' `hint()`), as text.
fn typed_hints(e: &anyhow::Error) -> Vec<String> {
    e.chain()
        .filter_map(|c| {
            if let Some(s) = c.downcast_ref::<crate::ops::sign::Error>() {
                return s.hint().map(|h| h.to_string());
            }
            if let Some(s) = c.downcast_ref::<crate::deb::Error>() {
                return s.hint();
            }
            if let Some(crate::ops::lock::Error::Plans(l)) = c.downcast_ref() {
                return l.hint();
            }
            c.downcast_ref::<crate::ops::build::Error>()?.hint()
        })
        .collect()
}

/// A message and the hint it carries (`...\n\nhint: ...`).
fn split_hint(text: &str) -> (&str, Option<&str>) {
    match text.split_once("\n\nhint: ") {
        Some((body, hint)) => (body, Some(hint)),
        None => (text, None),
    }
}

/// An error as one JSON object (`--json`): `{"schema", "error": {"message", "causes",
/// "hints", "exit"}}`, on one line.
pub(super) fn error_json(e: &anyhow::Error, exit: u8) -> String {
    let mut texts = e.chain().map(|c| c.to_string());
    let first = texts.next().unwrap_or_default();
    let (message, hint) = split_hint(&first);
    let mut hints: Vec<String> = hint.map(str::to_string).into_iter().collect();
    let mut causes = Vec::new();
    for t in texts {
        let (body, hint) = split_hint(&t);
        causes.push(body.to_string());
        hints.extend(hint.map(str::to_string));
    }
    hints.extend(typed_hints(e));
    error_object(message, &causes, &hints, exit)
}

/// A usage error clap rendered (`error: ...`, usage, `For more information, try '--help'.`)
/// as the same JSON object.
pub(super) fn usage_error_json(rendered: &str, exit: u8) -> String {
    let text = rendered.trim();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    let (message, rest) = text.split_once("\n\n").unwrap_or((text, ""));
    let hints: Vec<String> = rest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("tip: ").map(str::to_string))
        .chain(std::iter::once(
            "`kiln --help` lists the commands and options".to_string(),
        ))
        .collect();
    error_object(message, &[], &hints, exit)
}

fn error_object(message: &str, causes: &[String], hints: &[String], exit: u8) -> String {
    serde_json::json!({
        "schema": crate::JSON_SCHEMA,
        "error": {
            "message": message,
            "causes": causes,
            "hints": hints,
            "exit": exit,
        }
    })
    .to_string()
}

/// Text safe for a terminal: control characters (escape sequences a hostile file name or
/// archive could carry) and undecodable bytes become `?`; newlines and tabs stay.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control() || c == char::REPLACEMENT_CHARACTER => '?',
            c => c,
        })
        .collect()
}

/// `N THING` with the plural for every N but 1 (`1 layer`, `0 layers`, `3 paths`).
pub(super) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(
            printable("a\u{1b}[31mb\n\tc\u{fffd}\u{7}"),
            "a?[31mb\n\tc??"
        );
        let e = anyhow::anyhow!("bad \u{1b}]0;title\u{7} name");
        assert_eq!(error(&e), "error: bad ?]0;title? name");
    }
}
