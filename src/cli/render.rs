//! How errors read on a terminal: `error: ` and the message (with its location and hint),
//! then one `caused by:` line per underlying cause. Never colour-dependent (`report` adds the
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
    if let Some(h) = hint {
        s += &format!("\n\nhint: {h}");
    }
    printable(&s)
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
