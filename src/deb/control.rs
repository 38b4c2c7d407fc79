//! deb822 control data as dpkg and apt read it: paragraphs of `Field: value` lines, and the
//! relation fields (`Depends`, `Pre-Depends`, `Conflicts`, `Breaks`, `Provides`, …) inside.
//!
//! Owns: splitting text into paragraphs (blank or whitespace-only lines separate them; a line
//! starting with `#` in column 0 is a comment and skipped, as deb822(5) allows in source
//! control files; apt's tag-file reader skips them too), field lookup (case-insensitive
//! names, continuation lines kept with their newlines as dpkg keeps them), relation syntax,
//! and the package-name rule of Debian policy.
//! Does not own: which fields a `Packages` record needs (`index`), what a relation means for
//! the set of packages chosen (`solve`), version order (`version`).
//! Invariants: every input is untrusted; nothing here panics or recurses. A line that is
//! neither a field, a continuation, a comment nor blank is an error naming its line; field
//! names are at most [`MAX_FIELD_NAME`] bytes; a paragraph never holds the same field twice.
//! Architecture restriction lists (`[amd64 !i386]`) and build profiles (`<!nocheck>`) are
//! source-package syntax: they are checked for shape and then ignored.

use super::version::{Version, VersionError};
use std::fmt;
use std::ops::Range;

/// Longest field name accepted (bytes).
pub const MAX_FIELD_NAME: usize = 256;

/// Longest package or architecture name accepted in a relation (bytes).
const MAX_NAME: usize = 256;

/// Malformed control data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A line of a deb822 document is not valid there.
    #[error("line {line}: {problem}")]
    Line {
        /// 1-based line number in the document.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A relation field does not parse.
    #[error("relation {text:?}: {problem}")]
    Relation {
        /// The offending item (truncated to 200 bytes).
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// A version inside a relation is not a Debian version.
    #[error("relation {text:?}: {source}")]
    Version {
        /// The offending item (truncated to 200 bytes).
        text: String,
        /// The version error.
        source: VersionError,
    },
}

/// One deb822 paragraph: its original text and the fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph {
    raw: String,
    /// (name range, value range) into `raw`.
    fields: Vec<(Range<usize>, Range<usize>)>,
}

impl Paragraph {
    /// The value of field `name` (case-insensitive): the first line's value after `:` and
    /// leading blanks, then each continuation line after a `\n`, as written; trailing
    /// whitespace of the whole value removed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| self.raw[n.clone()].eq_ignore_ascii_case(name))
            .map(|(_, v)| &self.raw[v.clone()])
    }

    /// The fields in order, as (name, value).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|(n, v)| (&self.raw[n.clone()], &self.raw[v.clone()]))
    }

    /// The paragraph's original text, lines with their newlines (comment lines included).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Gives up the original text without copying it.
    pub fn into_raw(self) -> String {
        self.raw
    }
}

/// Splits a deb822 document into paragraphs. The iterator stops after the first error.
pub fn paragraphs(text: &str) -> impl Iterator<Item = Result<Paragraph, ControlError>> + '_ {
    Paragraphs {
        text,
        pos: 0,
        line: 0,
        done: false,
    }
}

struct Paragraphs<'a> {
    text: &'a str,
    pos: usize,
    /// Lines consumed so far.
    line: usize,
    done: bool,
}

fn is_blank(line: &str) -> bool {
    line.bytes().all(|b| b == b' ' || b == b'\t' || b == b'\r')
}

impl<'a> Paragraphs<'a> {
    /// The next line (without its newline) and the offset just after it.
    fn peek_line(&self) -> Option<(&'a str, usize)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        Some(match rest.find('\n') {
            Some(n) => (&rest[..n], self.pos + n + 1),
            None => (rest, self.text.len()),
        })
    }

    fn skip_separators(&mut self) {
        while let Some((line, next)) = self.peek_line() {
            if !is_blank(line) && !line.starts_with('#') {
                break;
            }
            self.pos = next;
            self.line += 1;
        }
    }

    fn paragraph(&mut self) -> Result<Paragraph, ControlError> {
        let start = self.pos;
        let mut fields: Vec<(Range<usize>, Range<usize>)> = Vec::new();
        while let Some((line, next)) = self.peek_line() {
            if is_blank(line) {
                break;
            }
            self.line += 1;
            let off = self.pos - start;
            self.pos = next;
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(self.err("continuation line before any field"));
                };
                if line.trim().is_empty() {
                    // Only whitespace that does not end the paragraph (a vertical tab, a
                    // form feed, U+3000, …): nothing to add, as trailing whitespace of the
                    // value is trimmed (its start and end would otherwise cross).
                    continue;
                }
                let end = off + line.trim_end().len();
                if end > value.end {
                    if value.start == value.end {
                        // First line was empty: the value starts at this line's text.
                        value.start = off + line.len() - line.trim_start().len();
                    }
                    value.end = end;
                }
                continue;
            }
            let field = self.field(line, off)?;
            let name = &line[..field.0.end - off];
            if fields
                .iter()
                .any(|(n, _)| self.text[start + n.start..start + n.end].eq_ignore_ascii_case(name))
            {
                return Err(self.err(&format!("field {name:?} appears twice")));
            }
            fields.push(field);
        }
        let raw = self.text[start..self.pos].to_string();
        Ok(Paragraph { raw, fields })
    }

    /// Parses `Name: value` at offset `off` of the paragraph into ranges.
    fn field(&self, line: &str, off: usize) -> Result<(Range<usize>, Range<usize>), ControlError> {
        let Some(colon) = line.find(':') else {
            return Err(self.err("neither `Field: value` nor a continuation line"));
        };
        let name = &line[..colon];
        if name.is_empty() {
            return Err(self.err("empty field name"));
        }
        if name.len() > MAX_FIELD_NAME {
            return Err(self.err("field name longer than 256 bytes"));
        }
        if name.starts_with('-') || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.err("invalid character in field name"));
        }
        let after = &line[colon + 1..];
        let lead = after.len() - after.trim_start_matches([' ', '\t']).len();
        let vstart = off + colon + 1 + lead;
        let vend = off + colon + 1 + after.trim_end().len().max(lead);
        Ok((off..off + colon, vstart..vend.max(vstart)))
    }

    fn err(&self, problem: &str) -> ControlError {
        ControlError::Line {
            line: self.line,
            problem: problem.to_string(),
        }
    }
}

impl Iterator for Paragraphs<'_> {
    type Item = Result<Paragraph, ControlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.skip_separators();
        if self.pos >= self.text.len() {
            self.done = true;
            return None;
        }
        let p = self.paragraph();
        if p.is_err() {
            self.done = true;
        }
        Some(p)
    }
}

/// A relation operator. The obsolete `<` and `>` read as `<=` and `>=`, as dpkg reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `<<`
    Lt,
    /// `<=`
    Le,
    /// `=`
    Eq,
    /// `>=`
    Ge,
    /// `>>`
    Gt,
}

impl Op {
    fn parse(s: &str) -> Option<(Op, usize)> {
        Some(match s.as_bytes() {
            [b'<', b'<', ..] => (Op::Lt, 2),
            [b'<', b'=', ..] => (Op::Le, 2),
            [b'>', b'>', ..] => (Op::Gt, 2),
            [b'>', b'=', ..] => (Op::Ge, 2),
            [b'=', ..] => (Op::Eq, 1),
            [b'<', ..] => (Op::Le, 1),
            [b'>', ..] => (Op::Ge, 1),
            _ => return None,
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        })
    }
}

/// A version constraint such as `(>= 1.2)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    /// The operator.
    pub op: Op,
    /// The version compared against.
    pub version: Version,
}

impl Constraint {
    /// Whether `v` satisfies the constraint (dpkg order).
    pub fn matches(&self, v: &Version) -> bool {
        let o = v.cmp(&self.version);
        match self.op {
            Op::Lt => o.is_lt(),
            Op::Le => o.is_le(),
            Op::Eq => o.is_eq(),
            Op::Ge => o.is_ge(),
            Op::Gt => o.is_gt(),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} {})", self.op, self.version)
    }
}

/// The architecture qualifier after a package name in a relation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchQual {
    /// No qualifier: the depending package's architecture (or any, for `Multi-Arch: foreign`).
    None,
    /// `:any`: satisfied by a `Multi-Arch: allowed` package of any architecture.
    Any,
    /// `:native`: the native architecture.
    Native,
    /// `:ARCH`: that architecture.
    Arch(String),
}

/// One alternative of a relation: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dep {
    /// The package (real or virtual) named.
    pub name: String,
    /// Its architecture qualifier.
    pub arch: ArchQual,
    /// Its version constraint, if any.
    pub constraint: Option<Constraint>,
}

impl fmt::Display for Dep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.arch {
            ArchQual::None => {}
            ArchQual::Any => f.write_str(":any")?,
            ArchQual::Native => f.write_str(":native")?,
            ArchQual::Arch(a) => write!(f, ":{a}")?,
        }
        if let Some(c) = &self.constraint {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

/// One comma-separated item of a relation field: `a | b | c`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    /// The alternatives, in the order written (never empty).
    pub alternatives: Vec<Dep>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

fn shorten(s: &str) -> String {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn rel_err(text: &str, problem: &str) -> ControlError {
    ControlError::Relation {
        text: shorten(text.trim()),
        problem: problem.to_string(),
    }
}

/// Parses a relation field (`Depends`, `Pre-Depends`, `Conflicts`, `Breaks`, …). An empty
/// or blank field is no relations; an empty item (`a, , b`) is an error.
pub fn parse_relations(s: &str) -> Result<Vec<Relation>, ControlError> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|item| {
            let alternatives = item
                .split('|')
                .map(|alt| parse_dep(alt).map_err(|e| with_item(e, item)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Relation { alternatives })
        })
        .collect()
}

fn with_item(e: ControlError, item: &str) -> ControlError {
    match e {
        ControlError::Relation { problem, .. } => rel_err(item, &problem),
        ControlError::Version { source, .. } => ControlError::Version {
            text: shorten(item.trim()),
            source,
        },
        other => other,
    }
}

/// Parses `Provides`: a list of `name` or `name (= version)`, nothing else.
pub fn parse_provides(s: &str) -> Result<Vec<(String, Option<Version>)>, ControlError> {
    parse_relations(s)?
        .into_iter()
        .map(|r| {
            let text = r.to_string();
            let mut alts = r.alternatives.into_iter();
            let (Some(dep), None) = (alts.next(), alts.next()) else {
                return Err(rel_err(&text, "alternatives are not allowed in Provides"));
            };
            if dep.arch != ArchQual::None {
                return Err(rel_err(&text, "architecture qualifier in Provides"));
            }
            match dep.constraint {
                None => Ok((dep.name, None)),
                Some(Constraint {
                    op: Op::Eq,
                    version,
                }) => Ok((dep.name, Some(version))),
                Some(_) => Err(rel_err(&text, "only `=` is allowed in Provides")),
            }
        })
        .collect()
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

/// Parses one alternative: name, qualifier, constraint, arch list, build profiles.
fn parse_dep(text: &str) -> Result<Dep, ControlError> {
    let s = text.trim_matches(is_ws);
    let name_end = s
        .find(|c: char| is_ws(c) || "(:[<".contains(c))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() {
        return Err(rel_err(text, "empty package name"));
    }
    if !relation_name_ok(name) {
        return Err(rel_err(text, "invalid package name"));
    }
    let mut rest = &s[name_end..];
    let arch = match rest.strip_prefix(':') {
        Some(r) => {
            let end = r
                .find(|c: char| is_ws(c) || "([<".contains(c))
                .unwrap_or(r.len());
            rest = &r[end..];
            parse_arch_qual(&r[..end]).ok_or_else(|| rel_err(text, "invalid architecture"))?
        }
        None => ArchQual::None,
    };
    rest = rest.trim_start_matches(is_ws);
    let mut constraint = None;
    if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')').ok_or_else(|| rel_err(text, "missing `)`"))?;
        constraint = Some(parse_constraint(&r[..close], text)?);
        rest = r[close + 1..].trim_start_matches(is_ws);
    }
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']').ok_or_else(|| rel_err(text, "missing `]`"))?;
        check_arch_list(&r[..close]).map_err(|p| rel_err(text, p))?;
        rest = r[close + 1..].trim_start_matches(is_ws);
    }
    while let Some(r) = rest.strip_prefix('<') {
        let close = r.find('>').ok_or_else(|| rel_err(text, "missing `>`"))?;
        check_profiles(&r[..close]).map_err(|p| rel_err(text, p))?;
        rest = r[close + 1..].trim_start_matches(is_ws);
    }
    if !rest.is_empty() {
        return Err(rel_err(text, "unexpected text after the package"));
    }
    Ok(Dep {
        name: name.to_string(),
        arch,
        constraint,
    })
}

fn parse_constraint(inner: &str, text: &str) -> Result<Constraint, ControlError> {
    let inner = inner.trim_matches(is_ws);
    let (op, n) = Op::parse(inner).ok_or_else(|| rel_err(text, "missing relation operator"))?;
    let v = inner[n..].trim_matches(is_ws);
    let version = Version::parse(v).map_err(|source| ControlError::Version {
        text: shorten(text.trim()),
        source,
    })?;
    Ok(Constraint { op, version })
}

fn arch_name_ok(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= MAX_NAME
        && a.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_arch_qual(a: &str) -> Option<ArchQual> {
    match a {
        "any" => Some(ArchQual::Any),
        "native" => Some(ArchQual::Native),
        a if arch_name_ok(a) => Some(ArchQual::Arch(a.to_string())),
        _ => None,
    }
}

fn check_arch_list(list: &str) -> Result<(), &'static str> {
    let mut any = false;
    for a in list.split(is_ws).filter(|a| !a.is_empty()) {
        any = true;
        if !arch_name_ok(a.strip_prefix('!').unwrap_or(a)) {
            return Err("invalid architecture in `[...]`");
        }
    }
    if any {
        Ok(())
    } else {
        Err("empty architecture list")
    }
}

fn check_profiles(list: &str) -> Result<(), &'static str> {
    let mut any = false;
    for p in list.split(is_ws).filter(|p| !p.is_empty()) {
        any = true;
        let p = p.strip_prefix('!').unwrap_or(p);
        let ok = !p.is_empty()
            && p.len() <= MAX_NAME
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.+".contains(&b));
        if !ok {
            return Err("invalid build profile");
        }
    }
    if any {
        Ok(())
    } else {
        Err("empty build profile list")
    }
}

/// The name rule dpkg applies when reading relations: starts with an alphanumeric, then
/// alphanumerics and `+-._`. Looser than [`valid_package_name`], which is policy's rule.
fn relation_name_ok(n: &str) -> bool {
    let b = n.as_bytes();
    n.len() <= MAX_NAME
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"+-._".contains(c))
}

/// Debian policy 5.6.1: at least two characters of `[a-z0-9+.-]`, starting with `[a-z0-9]`
/// (and at most 256 bytes here).
pub fn valid_package_name(name: &str) -> bool {
    let b = name.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.len() >= 2
        && b.len() <= MAX_NAME
        && b.first().is_some_and(ok)
        && b.iter().all(|c| ok(c) || b"+.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn paragraphs_and_fields() {
        let text = "# comment\nPackage: a\nVersion: 1.0\nDescription: short\n more\n .\n end  \n\n  \n\npackage: b\nversion:2\nEmpty:\nMulti:\n first\n";
        let ps: Vec<_> = paragraphs(text).collect::<Result<_, _>>().unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(ps[0].get("DESCRIPTION"), Some("short\n more\n .\n end"));
        assert_eq!(
            ps[0].raw(),
            "Package: a\nVersion: 1.0\nDescription: short\n more\n .\n end  \n"
        );
        assert_eq!(ps[1].get("Version"), Some("2"));
        assert_eq!(ps[1].get("Empty"), Some(""));
        assert_eq!(ps[1].get("Multi"), Some("first"));
        assert_eq!(ps[1].get("Missing"), None);
        assert_eq!(ps[1].fields().count(), 4);
    }

    #[test]
    fn paragraph_errors_name_the_line() {
        for (text, line) in [
            ("Package: a\nbogus line\n", 2),
            (" continuation\n", 1),
            ("Package: a\n\nA: 1\na: 2\n", 4),
            (": x\n", 1),
            ("-X: 1\n", 1),
        ] {
            let e = paragraphs(text).find_map(Result::err).unwrap();
            assert!(
                matches!(e, ControlError::Line { line: l, .. } if l == line),
                "{text:?}: {e}"
            );
        }
        let long = format!("{}: x\n", "F".repeat(300));
        assert!(paragraphs(&long).next().unwrap().is_err());
        // Hostile bytes never panic.
        for text in ["\u{0}:\u{0}", "é: ü\n ä", ":", "\n\n\n", "a:b\r\n c\r\n"] {
            let _ = paragraphs(text).count();
        }
    }

    #[test]
    fn relations() {
        let r = parse_relations(
            "libc6 (>= 2.34), a | b:any (<< 3~) , c:native,\n d [amd64 !i386] <!nocheck> <stage1 cross>, e (>2), f (<1)",
        )
        .unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(r[0].alternatives[0].constraint.as_ref().unwrap().op, Op::Ge);
        assert_eq!(r[1].alternatives.len(), 2);
        assert_eq!(r[1].alternatives[1].arch, ArchQual::Any);
        assert_eq!(r[1].to_string(), "a | b:any (<< 3~)");
        assert_eq!(r[2].alternatives[0].arch, ArchQual::Native);
        assert_eq!(r[3].alternatives[0].name, "d");
        assert_eq!(r[4].alternatives[0].constraint.as_ref().unwrap().op, Op::Ge);
        assert_eq!(r[5].alternatives[0].constraint.as_ref().unwrap().op, Op::Le);
        assert!(parse_relations("  ").unwrap().is_empty());
        for bad in [
            "a,,b",
            "a |",
            "(>= 1)",
            "a (>= )",
            "a (1.0)",
            "a (>= 1",
            "a b",
            "a [",
            "a:",
            "a/b",
            "_a",
            "a (>= 1 2)",
            "a []",
            "a <>",
        ] {
            assert!(parse_relations(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn constraints_match() {
        let c = |op, s: &str| Constraint { op, version: v(s) };
        assert!(c(Op::Ge, "1.0").matches(&v("1.0")));
        assert!(c(Op::Ge, "1.0").matches(&v("1.0-1")));
        assert!(!c(Op::Lt, "1.0").matches(&v("1.0")));
        assert!(c(Op::Lt, "1.0").matches(&v("1.0~rc1")));
        assert!(c(Op::Eq, "1.0").matches(&v("0:1.0-0")));
        assert!(c(Op::Gt, "1.0").matches(&v("1.0+b1")));
        assert!(c(Op::Le, "1.0").matches(&v("1.0")));
    }

    #[test]
    fn provides() {
        let p = parse_provides("a, b (= 1.0), c(=2)").unwrap();
        assert_eq!(p[0], ("a".to_string(), None));
        assert_eq!(p[1], ("b".to_string(), Some(v("1.0"))));
        assert_eq!(p[2].1, Some(v("2")));
        for bad in ["a | b", "a (>= 1)", "a:any"] {
            assert!(parse_provides(bad).is_err(), "{bad}");
        }
    }

    /// Found by the `deb_index` fuzz target: a continuation line of only whitespace that
    /// `is_blank` does not count (here a vertical tab) after an empty first line made the
    /// value's start pass its end, and `get` and `fields` panicked slicing it.
    #[test]
    fn whitespace_only_continuation_lines() {
        let p = paragraphs("s:\n\t\x0b\n").next().unwrap().unwrap();
        assert_eq!(p.get("s"), Some(""));
        assert_eq!(p.fields().collect::<Vec<_>>(), [("s", "")]);
        let text = "A:\n \u{3000}\n x\n B: y\n \x0c\nC: z \u{a0}\n";
        let p = paragraphs(text).next().unwrap().unwrap();
        assert_eq!(p.get("a"), Some("x\n B: y"));
        assert_eq!(p.get("c"), Some("z"));
        let p = paragraphs("D: 1\n \u{2000}\t\n").next().unwrap().unwrap();
        assert_eq!(p.get("d"), Some("1"));
    }

    #[test]
    fn package_names() {
        for ok in ["libc6", "g++", "0ad", "libstdc++6", "a.b-c"] {
            assert!(valid_package_name(ok), "{ok}");
        }
        for bad in ["", "a", "A1", "-a", "a_b", "+a", "a b", "é1"] {
            assert!(!valid_package_name(bad), "{bad}");
        }
    }
}
