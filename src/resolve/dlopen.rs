//! What glibc loads at run time on its own, and why: objects no DT_NEEDED names.
//!
//! Owns: the facts, read from the target's glibc version (the highest `GLIBC_2.N` that its
//! libc.so.6 defines) rather than folklore:
//! - `libgcc_s.so.1`: glibc dlopens it to unwind for `pthread_cancel` and `pthread_exit`
//!   (without it: "libgcc_s.so.1 must be installed", abort) and for `backtrace`;
//! - NSS modules: for the databases a program looks up (passwd, group, shadow, hosts, ...),
//!   every service its `nsswitch.conf` names other than the built-in ones (`files` and `dns`
//!   are inside libc.so.6 from glibc 2.34 on) is `libnss_SERVICE.so.2`;
//! - gconv: `iconv_open` loads `gconv-modules` (or its cache) and the converter modules from
//!   `$LIB/gconv`; only UTF-8, ASCII, UCS-2/4 and WCHAR_T are built in. gconv ships only when
//!   an object calls `iconv_open` itself (its own undefined dynamic symbols name it; libc and
//!   libstdc++, [`ICONV_RUNTIMES`], do not count), and then the configuration files plus the
//!   modules of [`DEFAULT_GCONV`] and the manifest's `gconv` charsets (found through the
//!   configuration's `alias` and `module` lines), or every module for `gconv = "all"`;
//! - systemd-style `.note.dlopen` notes: required and recommended entries (suggested ones
//!   when asked).
//!
//! Each load can be waived by the manifest with a reason (`[[waive]]`).

use super::{view::View, Found, Object, Target};
use crate::types::Gconv;
use std::collections::BTreeMap;

/// What the manifest says about run-time loads.
#[derive(Clone, Debug, Default)]
pub struct DlopenPolicy {
    /// Loads left out on purpose: key (`libgcc_s.so.1`, `nss:SERVICE`, `gconv`, a soname or a
    /// `.note.dlopen` feature) → the manifest's reason.
    pub waived: BTreeMap<String, String>,
    /// The image's nsswitch.conf.
    pub nss: Nss,
    /// Also add `suggested` `.note.dlopen` entries.
    pub suggested: bool,
    /// Which converter modules ship when gconv does.
    pub gconv: Gconv,
}

/// Which nsswitch.conf the image will have.
#[derive(Clone, Debug, Default)]
pub enum Nss {
    /// No nsswitch.conf: glibc's built-in defaults (files, dns: all built in since 2.34).
    #[default]
    Builtin,
    /// This text.
    Text(String),
}

pub(super) enum Want {
    Library {
        name: String,
        alternatives: Vec<String>,
        requester: usize,
        reason: String,
        required: bool,
    },
    Data {
        found: Found,
        reason: String,
    },
}

/// glibc's (major, minor) from the libc.so.6 in the closure.
pub(super) fn glibc_version(objects: &[Object]) -> Option<(u32, u32)> {
    let libc = objects
        .iter()
        .find(|o| o.soname.as_deref() == Some("libc.so.6"))?;
    libc.info
        .version_defs
        .iter()
        .filter_map(|v| v.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut it = v.split('.');
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .max()
}

/// The database each trigger symbol looks up.
fn nss_database(symbol: &str) -> Option<&'static str> {
    Some(match symbol {
        s if s.starts_with("getpw") => "passwd",
        s if s.starts_with("getgr") || s == "initgroups" => "group",
        s if s.starts_with("getsp") => "shadow",
        s if s.starts_with("gethost") || s == "getaddrinfo" || s == "getnameinfo" => "hosts",
        s if s.starts_with("getserv") => "services",
        s if s.starts_with("getproto") => "protocols",
        s if s.starts_with("getnet") => "networks",
        _ => return None,
    })
}

/// Services per database of an nsswitch.conf text (`[...]` actions dropped).
fn parse_nsswitch(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((db, rest)) = line.split_once(':') else {
            continue;
        };
        let mut services = Vec::new();
        let mut in_action = false;
        for tok in rest.split_whitespace() {
            if tok.starts_with('[') {
                in_action = !tok.ends_with(']');
                continue;
            }
            if in_action {
                in_action = !tok.ends_with(']');
                continue;
            }
            services.push(tok.to_string());
        }
        m.insert(db.trim().to_string(), services);
    }
    m
}

fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

pub(super) fn wants(
    objects: &[Object],
    policy: &DlopenPolicy,
    view: &View<'_>,
    target: &Target,
    warnings: &mut Vec<String>,
    waivable: &mut Vec<String>,
) -> Vec<Want> {
    let mut out = Vec::new();
    let Some(version) = glibc_version(objects) else {
        return out; // not a glibc closure
    };
    let vstr = format!("glibc {}.{}", version.0, version.1);
    let waived = |k: &str| policy.waived.contains_key(k);
    // The first object (in load order) that uses a trigger symbol, and that symbol.
    let user_of = |syms: &[&str]| -> Option<(usize, String)> {
        objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.soname.as_deref() != Some("libc.so.6"))
            .find_map(|(i, o)| {
                o.info
                    .triggers
                    .iter()
                    .find(|t| syms.contains(&t.as_str()))
                    .map(|t| (i, t.clone()))
            })
    };

    // libgcc_s for unwinding.
    if let Some((i, sym)) = user_of(&["pthread_cancel", "pthread_exit", "backtrace"]) {
        waivable.push("libgcc_s.so.1".into());
        if !waived("libgcc_s.so.1") {
            out.push(Want::Library {
                name: "libgcc_s.so.1".into(),
                alternatives: vec![],
                requester: i,
                reason: format!(
                    "{vstr} dlopens libgcc_s.so.1 to unwind the stack for {sym} (used by {})",
                    short(&objects[i].name)
                ),
                required: true,
            });
        }
    }

    // NSS modules for the databases in use.
    let mut dbs: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    for (i, o) in objects.iter().enumerate() {
        if o.soname.as_deref() == Some("libc.so.6") {
            continue;
        }
        for t in &o.info.triggers {
            if let Some(db) = nss_database(t) {
                dbs.entry(db).or_insert((i, t.clone()));
            }
        }
    }
    if !dbs.is_empty() {
        let builtin: &[&str] = if version >= (2, 34) {
            &["files", "dns"]
        } else {
            &[]
        };
        let conf = match &policy.nss {
            Nss::Text(t) => parse_nsswitch(t),
            Nss::Builtin => BTreeMap::new(),
        };
        for (db, (i, sym)) in &dbs {
            let services: Vec<String> = match conf.get(*db) {
                Some(s) => s.clone(),
                None if *db == "hosts" => vec!["dns".into(), "files".into()],
                None => vec!["files".into()],
            };
            for s in services {
                let lib = format!("libnss_{s}.so.2");
                if !builtin.contains(&s.as_str()) {
                    waivable.extend([format!("nss:{s}"), lib.clone()]);
                }
                if builtin.contains(&s.as_str()) || waived(&format!("nss:{s}")) || waived(&lib) {
                    continue;
                }
                out.push(Want::Library {
                    name: lib.clone(),
                    alternatives: vec![],
                    requester: *i,
                    reason: format!("nsswitch.conf names `{s}` for {db}; {vstr} loads {lib} for {sym} (used by {})", short(&objects[*i].name)),
                    required: false,
                });
            }
        }
    }

    // gconv modules for iconv: only for an object that calls iconv_open itself.
    if let Some((i, sym)) = iconv_user(objects) {
        waivable.push("gconv".into());
        if !waived("gconv") {
            out.extend(gconv_wants(
                objects, i, &sym, &vstr, policy, view, target, warnings,
            ));
        }
    }

    // systemd-style .note.dlopen.
    for (i, o) in objects.iter().enumerate() {
        for note in &o.info.dlopen_notes {
            let wanted = match note.priority.as_str() {
                "required" | "recommended" => true,
                "suggested" => policy.suggested,
                _ => false,
            };
            if !wanted || note.soname.is_empty() {
                continue;
            }
            waivable.push(note.feature.clone());
            waivable.extend(note.soname.iter().cloned());
            if waived(&note.feature) || note.soname.iter().any(|s| waived(s)) {
                continue;
            }
            let what = if note.description.is_empty() {
                note.feature.clone()
            } else {
                format!("{} ({})", note.feature, note.description)
            };
            out.push(Want::Library {
                name: note.soname[0].clone(),
                alternatives: note.soname[1..].to_vec(),
                requester: i,
                reason: format!(
                    "{} declares a {} dlopen dependency in .note.dlopen: {what}",
                    short(&o.name),
                    note.priority
                ),
                required: note.priority == "required",
            });
        }
    }
    out
}

/// The charsets whose modules ship whenever gconv does: the common ones glibc does not build
/// in (UTF-16 and UTF-32 modules also do their LE and BE forms).
pub const DEFAULT_GCONV: &[&str] = &["UTF-16", "UTF-32", "ISO-8859-1"];

/// Charsets (and glibc's own aliases of them) that glibc 2.x converts without any module.
const BUILTIN_CHARSETS: &[&str] = &[
    "INTERNAL",
    "WCHAR_T",
    "UTF-8",
    "UTF8",
    "ISO-10646/UTF8",
    "ISO-10646/UTF-8",
    "ISO-IR-193",
    "ASCII",
    "US-ASCII",
    "ANSI_X3.4-1968",
    "ANSI_X3.4-1986",
    "ANSI_X3.4",
    "ISO646-US",
    "ISO_646.IRV:1991",
    "ISO-IR-6",
    "US",
    "IBM367",
    "CP367",
    "CSASCII",
    "UCS-2",
    "UCS2",
    "UCS-2LE",
    "UCS-2BE",
    "UNICODELITTLE",
    "UNICODEBIG",
    "ISO-10646/UCS2",
    "UCS-4",
    "UCS4",
    "UCS-4LE",
    "UCS-4BE",
    "ISO-10646/UCS4",
    "ISO-10646",
    "CSUCS4",
];

/// Libraries that import `iconv_open` for conversions of their own (libstdc++: the `codecvt`
/// and `messages` facets of named locales), which a program reaches only by asking for such a
/// locale: their import alone does not ship gconv. The program, or another library, that calls
/// `iconv_open` does.
pub const ICONV_RUNTIMES: &[&str] = &["libc.so.6", "libstdc++.so.6"];

/// The first object (in load order) that calls `iconv_open` itself, not through a runtime of
/// [`ICONV_RUNTIMES`].
fn iconv_user(objects: &[Object]) -> Option<(usize, String)> {
    objects
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            !o.soname
                .as_deref()
                .is_some_and(|s| ICONV_RUNTIMES.contains(&s))
        })
        .find(|(_, o)| o.info.triggers.iter().any(|t| t == "iconv_open"))
        .map(|(i, _)| (i, "iconv_open".to_string()))
}

/// A charset name as gconv compares them: upper case, without the trailing `/`s.
fn charset_key(name: &str) -> String {
    name.trim_end_matches('/').to_ascii_uppercase()
}

/// What the target's gconv configuration (`gconv-modules`, `gconv-modules.d/*.conf`) says.
#[derive(Debug, Default)]
struct GconvConfig {
    /// alias → charset.
    aliases: BTreeMap<String, String>,
    /// charset → the module files (`NAME.so`) that convert from or to it.
    modules: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl GconvConfig {
    fn read(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["alias", alias, to, ..] => {
                    self.aliases.insert(charset_key(alias), charset_key(to));
                }
                ["module", from, to, file, ..] if !file.contains('/') => {
                    let file = if file.ends_with(".so") {
                        file.to_string()
                    } else {
                        format!("{file}.so")
                    };
                    for cs in [charset_key(from), charset_key(to)] {
                        if cs != "INTERNAL" {
                            self.modules.entry(cs).or_default().insert(file.clone());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The module files for `charset`: None when the configuration does not know it.
    fn files(&self, charset: &str) -> Option<&std::collections::BTreeSet<String>> {
        let key = charset_key(charset);
        let key = self.aliases.get(&key).unwrap_or(&key);
        self.modules.get(key)
    }
}

fn dir_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The gconv configuration files and the converter modules the manifest's charsets need.
#[allow(clippy::too_many_arguments)]
fn gconv_wants(
    objects: &[Object],
    i: usize,
    sym: &str,
    vstr: &str,
    policy: &DlopenPolicy,
    view: &View<'_>,
    target: &Target,
    warnings: &mut Vec<String>,
) -> Vec<Want> {
    let mut out = Vec::new();
    let user = short(&objects[i].name);
    let dir = format!("/usr/{}/gconv", target.lib);
    let host = view.root.join(dir.trim_start_matches('/'));
    let names = dir_names(&host);
    if names.is_empty() {
        warnings.push(format!("{user} uses {sym}, but the target root has no {dir}: iconv will only know its built-in charsets"));
        return out;
    }
    let config_reason =
        format!("{vstr} reads the gconv configuration in {dir} for {sym} (used by {user})");
    // The configuration: the main file, its cache and the gconv-modules.d drop-ins.
    let mut config = GconvConfig::default();
    let mut config_files = Vec::new();
    for n in names.iter().filter(|n| n.starts_with("gconv-modules")) {
        if n == "gconv-modules.d" {
            for c in dir_names(&host.join(n))
                .into_iter()
                .filter(|c| c.ends_with(".conf"))
            {
                config_files.push(format!("{dir}/{n}/{c}"));
            }
        } else {
            config_files.push(format!("{dir}/{n}"));
        }
    }
    for p in config_files {
        if let Ok(found) = view.lookup(&p) {
            if !p.ends_with(".cache") {
                if let Ok(text) = fs_err::read_to_string(found.origin.host()) {
                    config.read(&text);
                }
            }
            out.push(Want::Data {
                found,
                reason: config_reason.clone(),
            });
        }
    }
    // The converter modules.
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    match &policy.gconv {
        Gconv::All => {
            for n in names.iter().filter(|n| n.ends_with(".so")) {
                modules.insert(n.clone(), "`gconv = \"all\"` in [image]".into());
            }
        }
        Gconv::Charsets(extra) => {
            let wanted = DEFAULT_GCONV
                .iter()
                .map(|c| (c.to_string(), "the default set"))
                .chain(extra.iter().map(|c| (c.clone(), "`gconv` in [image]")));
            for (cs, from) in wanted {
                match config.files(&cs) {
                    Some(files) => {
                        for f in files {
                            modules
                                .entry(f.clone())
                                .or_insert_with(|| format!("charset {cs} ({from})"));
                        }
                    }
                    None if BUILTIN_CHARSETS.contains(&charset_key(&cs).as_str()) => {}
                    None => warnings.push(format!(
                        "gconv charset `{cs}` ({from}) is neither built into glibc nor named by the gconv configuration in {dir}: iconv_open will fail for it"
                    )),
                }
            }
        }
    }
    for (file, why) in modules {
        let p = format!("{dir}/{file}");
        if !names.contains(&file) {
            warnings.push(format!(
                "the gconv configuration names {p} for {why}, but the target root has no such file"
            ));
            continue;
        }
        out.push(Want::Library {
            name: p,
            alternatives: vec![],
            requester: i,
            reason: format!("{vstr} loads converters from {dir} for {sym} (used by {user}): {why}; only UTF-8, ASCII, UCS-2, UCS-4 and WCHAR_T are built in"),
            required: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsswitch_parsing_drops_actions() {
        let m = parse_nsswitch("passwd: files systemd\nhosts: files [NOTFOUND=return] mdns4_minimal [ !UNAVAIL=return ] dns # x\n");
        assert_eq!(m["passwd"], ["files", "systemd"]);
        assert_eq!(m["hosts"], ["files", "mdns4_minimal", "dns"]);
    }
}
