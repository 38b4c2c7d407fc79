//! How errors read on a terminal: `error: ` and the message (with its location and hint),
//! then one `caused by:` line per underlying cause. Never colour-dependent, never a backtrace.

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
    s
}
