//! Format rules for the values kiln writes into generated files: account names and the other
//! fields of `/etc/passwd` and `/etc/group`, environment variables, labels and annotations of
//! the image config, `os-release` fields, and image path limits.
//!
//! Owns: one validator per format rule ([`AccountName::new`], [`PasswdField::new`],
//! [`env_key`], [`config_key`], [`no_nul`], [`os_release_key`], [`os_release_value`],
//! [`path_limits`]) and the newtypes only a validator can make, so that a renderer cannot
//! format an unchecked value into a passwd or group line.
//! Does not own: where a value came from (spans, file names, the component): callers say that.
//! Invariant: a value that passes cannot break its format: no NUL anywhere, no `:`, newline or
//! other control character in a passwd or group field, no newline in an os-release value.

use std::fmt;

/// Why a value breaks its format. Messages complete a sentence that starts with the value
/// (`"a:b" contains `:``).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The value is empty.
    #[error("is empty")]
    Empty,
    /// The value holds a NUL byte.
    #[error("contains a NUL byte")]
    Nul,
    /// The value holds a newline.
    #[error("contains a newline")]
    Newline,
    /// The value holds this other control character.
    #[error("contains control character {0:?}")]
    Control(char),
    /// The value holds this character, which its format reserves (`:` in passwd, `=` in an env key).
    #[error("contains `{0}`")]
    Forbidden(char),
    /// The value is longer than its format allows.
    #[error("is {len} bytes, over the {max} allowed")]
    TooLong {
        /// The value's length in bytes.
        len: usize,
        /// The most the format allows.
        max: usize,
    },
    /// A path that must be absolute is not.
    #[error("is not an absolute path")]
    Relative,
    /// An account name starts with this character.
    #[error("starts with {0:?}; names start with a letter, digit, `_` or `.`")]
    BadStart(char),
    /// An account name holds this character.
    #[error("contains {0:?}; names hold letters, digits, `_`, `.`, `-` and a final `$`")]
    BadChar(char),
    /// An account name is all digits.
    #[error("is all digits, which tools would read as a numeric id")]
    Numeric,
    /// An account name is `.` or `..`.
    #[error("is `.` or `..`")]
    Dots,
    /// A path component is this many bytes, over 255.
    #[error("is too long: path component of {0} bytes exceeds 255")]
    LongComponent(usize),
    /// A path is this many bytes, over 4096.
    #[error("is too long: path of {0} bytes exceeds 4096")]
    LongPath(usize),
    /// An os-release key holds something other than upper-case letters, digits and `_`.
    #[error("may hold only upper-case letters, digits and `_`")]
    NotUpperSnake,
}

/// The longest user or group name (Linux `UT_NAMESIZE`, shadow's `GROUP_NAME_MAX_LENGTH`).
pub const MAX_ACCOUNT_NAME: usize = 32;
/// The longest GECOS field kiln writes.
pub const MAX_GECOS: usize = 255;
/// The longest path Linux takes (`PATH_MAX`, with its NUL).
pub const MAX_PATH: usize = crate::types::MAX_PATH;
/// The longest path component (`NAME_MAX`).
pub const MAX_COMPONENT: usize = crate::types::MAX_COMPONENT;

/// Shows a value in a message: escaped (`{:?}`, so a NUL reads `\0`), and cut after 60 bytes
/// when long, with its length.
pub fn shown(s: &str) -> String {
    if s.len() <= 100 {
        return format!("{s:?}");
    }
    let mut end = 60;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &s[..end], s.len())
}

/// No NUL, newline or other control character.
fn no_control(s: &str) -> Result<(), Refusal> {
    match s.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some('\0') => Err(Refusal::Nul),
        Some('\n') => Err(Refusal::Newline),
        Some(c) => Err(Refusal::Control(c)),
    }
}

/// A user or group name as Debian 12's shadow (4.13, `lib/chkname.c`) lets useradd and
/// groupadd create it: `[a-zA-Z0-9_.][a-zA-Z0-9_.-]*$?`, not all digits, not `.` or `..`, at
/// most 32 bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountName(String);

impl AccountName {
    /// Checks `s` against shadow's rules; the refusal says which one it breaks.
    pub fn new(s: &str) -> Result<AccountName, Refusal> {
        let Some(first) = s.chars().next() else {
            return Err(Refusal::Empty);
        };
        no_control(s)?;
        if s.len() > MAX_ACCOUNT_NAME {
            return Err(Refusal::TooLong {
                len: s.len(),
                max: MAX_ACCOUNT_NAME,
            });
        }
        if s == "." || s == ".." {
            return Err(Refusal::Dots);
        }
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
        if !word(first) {
            return Err(Refusal::BadStart(first));
        }
        let body = s.strip_suffix('$').unwrap_or(s);
        if let Some(c) = body.chars().find(|&c| !word(c) && c != '-') {
            return Err(Refusal::BadChar(c));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::Numeric);
        }
        Ok(AccountName(s.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for AccountName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// A field of a passwd or group line that is not a name: no `:`, newline, NUL or other
/// control character, and bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdField(String);

impl PasswdField {
    /// Any field, at most `max` bytes.
    pub fn new(s: &str, max: usize) -> Result<PasswdField, Refusal> {
        no_control(s)?;
        if s.contains(':') {
            return Err(Refusal::Forbidden(':'));
        }
        if s.len() > max {
            return Err(Refusal::TooLong { len: s.len(), max });
        }
        Ok(PasswdField(s.to_string()))
    }

    /// A home directory or shell: also absolute and within the path limits.
    pub fn path(s: &str) -> Result<PasswdField, Refusal> {
        let f = PasswdField::new(s, usize::MAX)?;
        if !s.starts_with('/') {
            return Err(Refusal::Relative);
        }
        path_limits(s)?;
        Ok(f)
    }

    /// The field's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&AccountName> for PasswdField {
    /// A valid name is a valid field (the default GECOS is the user's name).
    fn from(n: &AccountName) -> Self {
        PasswdField(n.0.clone())
    }
}

impl fmt::Display for PasswdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An environment variable name in the image config: not empty, no `=` (it ends the name), no
/// NUL or other control character. Other characters are allowed, as Docker allows them.
pub fn env_key(s: &str) -> Result<(), Refusal> {
    if s.is_empty() {
        return Err(Refusal::Empty);
    }
    no_control(s)?;
    if s.contains('=') {
        return Err(Refusal::Forbidden('='));
    }
    Ok(())
}

/// A label or annotation key: not empty, no NUL or other control character.
pub fn config_key(s: &str) -> Result<(), Refusal> {
    if s.is_empty() {
        return Err(Refusal::Empty);
    }
    no_control(s)
}

/// A value that ends up in a C string (environment, labels, arguments): no NUL.
pub fn no_nul(s: &str) -> Result<(), Refusal> {
    if s.contains('\0') {
        return Err(Refusal::Nul);
    }
    Ok(())
}

/// An os-release field name: `[A-Z0-9_]+`.
pub fn os_release_key(s: &str) -> Result<(), Refusal> {
    if s.is_empty() {
        return Err(Refusal::Empty);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Refusal::NotUpperSnake);
    }
    Ok(())
}

/// The longest os-release value kiln writes.
pub const MAX_OS_RELEASE_VALUE: usize = 1024;

/// An os-release value (written quoted and escaped): one line, no NUL or other control
/// character, at most [`MAX_OS_RELEASE_VALUE`] bytes.
pub fn os_release_value(s: &str) -> Result<(), Refusal> {
    no_control(s)?;
    if s.len() > MAX_OS_RELEASE_VALUE {
        return Err(Refusal::TooLong {
            len: s.len(),
            max: MAX_OS_RELEASE_VALUE,
        });
    }
    Ok(())
}

/// Linux's limits on a path: no component over 255 bytes, at most 4096 bytes in all.
pub fn path_limits(s: &str) -> Result<(), Refusal> {
    if let Some(long) = s.split('/').map(str::len).find(|&n| n > MAX_COMPONENT) {
        return Err(Refusal::LongComponent(long));
    }
    if s.len() > MAX_PATH {
        return Err(Refusal::LongPath(s.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_follow_useradd() {
        for ok in [
            "root", "_apt", "a.b", "a-b", "Admin", "x$", ".hidden", "1a", "a1",
        ] {
            assert!(AccountName::new(ok).is_ok(), "{ok}");
        }
        let bad = |s: &str| AccountName::new(s).unwrap_err();
        assert_eq!(bad(""), Refusal::Empty);
        assert_eq!(bad("-x"), Refusal::BadStart('-'));
        assert_eq!(bad("123"), Refusal::Numeric);
        assert_eq!(bad("."), Refusal::Dots);
        assert_eq!(bad(".."), Refusal::Dots);
        assert_eq!(bad("a:b"), Refusal::BadChar(':'));
        assert_eq!(bad("a$b"), Refusal::BadChar('$'));
        assert_eq!(bad("a b"), Refusal::BadChar(' '));
        assert_eq!(bad("a\nb"), Refusal::Newline);
        assert_eq!(bad("a\0"), Refusal::Nul);
        assert_eq!(bad("é"), Refusal::BadStart('é'));
        assert_eq!(
            &"a".repeat(32),
            AccountName::new(&"a".repeat(32)).unwrap().as_str()
        );
        assert_eq!(bad(&"a".repeat(33)), Refusal::TooLong { len: 33, max: 32 });
    }

    #[test]
    fn passwd_fields_cannot_add_fields_or_lines() {
        assert!(PasswdField::new("Jane Doe,Room 1", 255).is_ok());
        assert_eq!(PasswdField::new("x:0:0", 255), Err(Refusal::Forbidden(':')));
        assert_eq!(PasswdField::new("a\nroot", 255), Err(Refusal::Newline));
        assert_eq!(PasswdField::new("a\0", 255), Err(Refusal::Nul));
        assert_eq!(PasswdField::new("a\tb", 255), Err(Refusal::Control('\t')));
        assert_eq!(
            PasswdField::new(&"g".repeat(256), 255),
            Err(Refusal::TooLong { len: 256, max: 255 })
        );
        assert_eq!(PasswdField::path("bin/sh"), Err(Refusal::Relative));
        assert!(PasswdField::path("/bin/sh").is_ok());
    }

    #[test]
    fn config_and_os_release_values() {
        assert!(env_key("my.var-1").is_ok());
        assert_eq!(env_key(""), Err(Refusal::Empty));
        assert_eq!(env_key("A=B"), Err(Refusal::Forbidden('=')));
        assert_eq!(env_key("A\0"), Err(Refusal::Nul));
        assert_eq!(config_key("a\u{1b}"), Err(Refusal::Control('\u{1b}')));
        assert_eq!(no_nul("a\0b"), Err(Refusal::Nul));
        assert!(no_nul("a\nb").is_ok());
        assert!(os_release_key("VERSION_ID").is_ok());
        assert_eq!(os_release_key("name"), Err(Refusal::NotUpperSnake));
        assert_eq!(os_release_value("a\nID=x"), Err(Refusal::Newline));
        assert_eq!(os_release_value("a\r"), Err(Refusal::Control('\r')));
    }

    #[test]
    fn path_limits_are_linux_limits() {
        let c255 = format!("/{}", "a".repeat(255));
        assert!(path_limits(&c255).is_ok());
        assert_eq!(
            path_limits(&format!("/{}", "a".repeat(256))),
            Err(Refusal::LongComponent(256))
        );
        let deep = "/abcdefg".repeat(512);
        assert!(path_limits(&deep).is_ok());
        assert_eq!(
            path_limits(&format!("{deep}/x")),
            Err(Refusal::LongPath(4098))
        );
        assert_eq!(
            Refusal::LongComponent(256).to_string(),
            "is too long: path component of 256 bytes exceeds 255"
        );
    }

    #[test]
    fn long_values_are_shown_cut() {
        assert_eq!(shown("a\0"), "\"a\\0\"");
        let s = shown(&"x".repeat(300));
        assert!(s.ends_with("… (300 bytes)"), "{s}");
        assert!(s.len() < 100);
    }
}
