//! Debian version numbers: `[epoch:]upstream[-revision]`, parsed and ordered exactly as dpkg
//! orders them (`dpkg --compare-versions`).
//!
//! Owns: the syntax check of one version string and dpkg's comparison algorithm
//! (`verrevcmp`): `~` sorts before everything, even the end of the string; letters sort
//! before non-letters; digit runs compare numerically (as digit strings, so no overflow).
//! Does not own: relation operators (`control`), which version apt picks (`index`, `solve`).
//! Invariants: a [`Version`] holds only ASCII alphanumerics and `.+-~:` (no whitespace, no
//! control characters), is at most [`MAX_LEN`] bytes, has a non-empty upstream part and a
//! numeric epoch ≤ `i32::MAX`; equality and hashing agree with the dpkg order, so `1.0`,
//! `0:1.0` and `1.0-0` are one value (dpkg considers them equal).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest version string accepted (bytes). dpkg has no limit; real versions are < 100.
pub const MAX_LEN: usize = 256;

/// Why a version string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The string is empty (or only an epoch/revision).
    #[error("version {version:?}: {problem}")]
    Invalid {
        /// The offending string (truncated to [`MAX_LEN`] bytes).
        version: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// A Debian package version. `Display` prints the original string; `Ord` is dpkg's order.
#[derive(Clone)]
pub struct Version {
    text: Box<str>,
    epoch: u32,
    /// Byte range of the upstream part in `text`.
    upstream: (u16, u16),
    /// Byte range of the revision in `text` (empty when there is none).
    revision: (u16, u16),
}

impl Version {
    /// Parses and checks a version string per Debian policy (as dpkg's `parseversion`).
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        let err = |problem| VersionError::Invalid {
            version: truncate(s),
            problem,
        };
        if s.is_empty() {
            return Err(err("empty version"));
        }
        if s.len() > MAX_LEN {
            return Err(err("version longer than 256 bytes"));
        }
        if s.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(err("whitespace in version"));
        }
        if s.bytes().any(|b| b.is_ascii_control() || !b.is_ascii()) {
            return Err(err("control or non-ASCII character in version"));
        }
        let (epoch, rest_start) = match s.find(':') {
            Some(colon) => (parse_epoch(&s[..colon]).map_err(err)?, colon + 1),
            None => (0, 0),
        };
        let rest = &s[rest_start..];
        let (up_end, rev_start) = match rest.rfind('-') {
            Some(dash) => (rest_start + dash, rest_start + dash + 1),
            None => (s.len(), s.len()),
        };
        let upstream = &s[rest_start..up_end];
        let revision = &s[rev_start..];
        if upstream.is_empty() {
            return Err(err("empty upstream version"));
        }
        if rest.contains('-') && revision.is_empty() {
            return Err(err("empty revision"));
        }
        if !upstream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+-~:".contains(&b))
        {
            return Err(err("invalid character in upstream version"));
        }
        if !revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b))
        {
            return Err(err("invalid character in revision"));
        }
        // MAX_LEN fits u16.
        let r = |a: usize, b: usize| (a as u16, b as u16);
        Ok(Version {
            text: s.into(),
            epoch,
            upstream: r(rest_start, up_end),
            revision: r(rev_start, s.len()),
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream part.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0 as usize..self.upstream.1 as usize]
    }

    /// The Debian revision (empty when absent).
    pub fn revision(&self) -> &str {
        &self.text[self.revision.0 as usize..self.revision.1 as usize]
    }

    /// The string as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn truncate(s: &str) -> String {
    let mut end = s.len().min(MAX_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn parse_epoch(e: &str) -> Result<u32, &'static str> {
    if e.is_empty() {
        return Err("nothing before the colon");
    }
    if !e.bytes().all(|b| b.is_ascii_digit()) {
        return Err("epoch is not a number");
    }
    let digits = e.trim_start_matches('0');
    if digits.len() > 10 {
        return Err("epoch too big");
    }
    match digits.parse::<u64>() {
        Ok(n) if n <= i32::MAX as u64 => Ok(n as u32),
        Ok(_) => Err("epoch too big"),
        Err(_) if digits.is_empty() => Ok(0),
        Err(_) => Err("epoch is not a number"),
    }
}

/// dpkg's character weight: `~` lowest, then end/digits, then letters, then the rest.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` on two upstream parts or two revisions.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Feeds the dpkg-canonical form of one part to a hasher: non-digit runs as is, digit runs
/// without leading zeros, a trailing empty run dropped (so `1.0` and `1.00`, `` and `0` agree).
fn hash_part<H: Hasher>(s: &[u8], state: &mut H) {
    let mut k = 0;
    let mut segments: Vec<(&[u8], &[u8])> = Vec::new();
    while k < s.len() {
        let start = k;
        while k < s.len() && !s[k].is_ascii_digit() {
            k += 1;
        }
        let text = &s[start..k];
        while k < s.len() && s[k] == b'0' {
            k += 1;
        }
        let dstart = k;
        while k < s.len() && s[k].is_ascii_digit() {
            k += 1;
        }
        segments.push((text, &s[dstart..k]));
    }
    if segments
        .last()
        .is_some_and(|(t, d)| t.is_empty() && d.is_empty())
    {
        segments.pop();
    }
    segments.len().hash(state);
    for (t, d) in segments {
        t.hash(state);
        d.hash(state);
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| verrevcmp(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        hash_part(self.upstream().as_bytes(), state);
        hash_part(self.revision().as_bytes(), state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", &*self.text)
    }
}

impl std::str::FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn known_pairs() {
        let less = [
            ("1.0~rc1", "1.0"),
            ("2.0", "1:0.1"),
            ("1.0-1", "1.0-1+deb12u1"),
            ("1.22.1-9+deb12u7", "1.22.1-9+deb12u7.1~"),
            ("1.0~~", "1.0~"),
            ("1.0~", "1.0"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("1.0", "1.0.1"),
            ("1.2", "1.10"),
            ("0.9", "1"),
            ("1.0-1", "1.0-2"),
            ("1.0-2", "1.0-10"),
            ("a", "b"),
            ("1.0~beta", "1.0~rc"),
            ("9", "10"),
            ("99999999999999999999998", "99999999999999999999999"),
            ("1:1.0", "2:0"),
            ("1.0-0.1", "1.0-1"),
            ("2.30-1", "2.30-1.1"),
            ("1~", "1"),
            ("1.0+dfsg", "1.0.1"),
        ];
        for (a, b) in less {
            assert!(v(a) < v(b), "{a} < {b}");
            assert!(v(b) > v(a), "{b} > {a}");
        }
        for (a, b) in [
            ("1.0", "0:1.0"),
            ("1.0", "1.0-0"),
            ("1.0", "1.00"),
            ("01", "1"),
        ] {
            assert_eq!(v(a), v(b), "{a} = {b}");
            let h = |x: &Version| {
                let mut s = std::collections::hash_map::DefaultHasher::new();
                x.hash(&mut s);
                s.finish()
            };
            assert_eq!(h(&v(a)), h(&v(b)), "hash {a} {b}");
        }
    }

    #[test]
    fn display_and_parts() {
        let x = v("2:1.22.1-9+deb12u7");
        assert_eq!(x.to_string(), "2:1.22.1-9+deb12u7");
        assert_eq!(x.epoch(), 2);
        assert_eq!(x.upstream(), "1.22.1");
        assert_eq!(x.revision(), "9+deb12u7");
        let y = v("1.0-a-b");
        assert_eq!(y.upstream(), "1.0-a");
        assert_eq!(y.revision(), "b");
        assert_eq!(v("1:2:3").upstream(), "2:3");
    }

    #[test]
    fn refuses_bad_versions() {
        for bad in [
            "",
            " ",
            "1.0 ",
            "1 0",
            "1.0\n",
            "1.0\u{7}",
            ":1.0",
            "a:1.0",
            "1:",
            "-1",
            "1.0-",
            "1.0_1",
            "1.0-a:b",
            "99999999999:1",
            "é",
            &"1".repeat(300),
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
        // dpkg only warns about these.
        assert!(Version::parse("a1.0").is_ok());
        assert!(Version::parse("0000000000001:1").is_ok());
    }

    /// Small deterministic generator (xorshift), so the test needs no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    fn random_version(r: &mut Rng) -> String {
        let atoms = [
            "0", "1", "2", "10", "01", "a", "b", "~", "+", ".", "~~", "z", "00",
        ];
        let mut s = String::new();
        if r.next().is_multiple_of(4) {
            s.push_str(r.pick(&["0:", "1:", "2:"]));
        }
        s.push_str(r.pick(&["0", "1", "2", "10"]));
        for _ in 0..(r.next() % 5) {
            s.push_str(r.pick(&atoms));
        }
        if r.next().is_multiple_of(2) {
            s.push('-');
            s.push_str(r.pick(&["0", "1", "a", "1~", "1+b1", "2.1"]));
            for _ in 0..(r.next() % 3) {
                s.push_str(r.pick(&atoms));
            }
        }
        s
    }

    /// Compares 300 random pairs with the real `dpkg --compare-versions`.
    #[test]
    fn agrees_with_dpkg() {
        if std::process::Command::new("dpkg")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "dpkg is missing under CI=true"
            );
            return;
        }
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut script = String::new();
        let mut pairs = Vec::new();
        while pairs.len() < 300 {
            let (a, b) = (random_version(&mut r), random_version(&mut r));
            if Version::parse(&a).is_err() || Version::parse(&b).is_err() {
                continue;
            }
            script.push_str(&format!(
                "if dpkg --compare-versions '{a}' lt '{b}'; then echo lt; \
                 elif dpkg --compare-versions '{a}' eq '{b}'; then echo eq; else echo gt; fi\n"
            ));
            pairs.push((a, b));
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let answers = String::from_utf8(out.stdout).unwrap();
        let answers: Vec<&str> = answers.lines().collect();
        assert_eq!(answers.len(), pairs.len());
        for ((a, b), want) in pairs.iter().zip(answers) {
            let got = match v(a).cmp(&v(b)) {
                Ordering::Less => "lt",
                Ordering::Equal => "eq",
                Ordering::Greater => "gt",
            };
            assert_eq!(got, want, "{a} vs {b}");
        }
    }
}
