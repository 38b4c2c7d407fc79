//! "Did you mean" suggestions for misspelt keys and kinds.
//!
//! Only close names are suggested (edit distance ≤ 3 after folding `_` to `-` and case), the
//! rule cargo uses; the full list of valid names is never dumped on the user.

/// The candidate closest to `typed`, if it is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'a>(typed: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let folded = typed.replace('_', "-").to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&folded, c), *c))
        .filter(|(d, c)| *d <= 3.min(c.len().max(1) - 1).max(1))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["name", "kind", "why", "remove-when", "capabilities"];
        assert_eq!(did_you_mean("remove_when", &keys), Some("remove-when"));
        assert_eq!(did_you_mean("capabilites", &keys), Some("capabilities"));
        assert_eq!(did_you_mean("wyh", &keys), Some("why"));
        assert_eq!(did_you_mean("frobnicate", &keys), None);
    }
}
