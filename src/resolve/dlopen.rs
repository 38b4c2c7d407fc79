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
//!   `$LIB/gconv`; only UTF-8, ASCII, UCS-2/4 and WCHAR_T are built in;
//! - systemd-style `.note.dlopen` notes: required and recommended entries (suggested ones
//!   when asked).
//!
//! Each load can be waived by the manifest with a reason (`[[waive]]`).

use super::{view::View, Found, Object, Target};
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

    // gconv modules for iconv.
    if let Some((i, sym)) = user_of(&["iconv_open"]) {
        waivable.push("gconv".into());
        if !waived("gconv") {
            let dir = format!("/usr/{}/gconv", target.lib);
            let reason = format!("{vstr} loads converters from {dir} for {sym} (used by {}); only UTF-8, ASCII, UCS-2, UCS-4 and WCHAR_T are built in", short(&objects[i].name));
            let host = view.root.join(dir.trim_start_matches('/'));
            let mut names: Vec<String> = fs_err::read_dir(&host)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .filter_map(|e| e.file_name().to_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            if names.is_empty() {
                warnings.push(format!("{} uses {sym}, but the target root has no {dir}: iconv will only know its built-in charsets", short(&objects[i].name)));
            }
            for n in names {
                let p = format!("{dir}/{n}");
                if n.ends_with(".so") {
                    out.push(Want::Library {
                        name: p,
                        alternatives: vec![],
                        requester: i,
                        reason: reason.clone(),
                        required: false,
                    });
                } else if n == "gconv-modules.d" {
                    let sub = host.join(&n);
                    let mut confs: Vec<String> = fs_err::read_dir(&sub)
                        .map(|rd| {
                            rd.filter_map(Result::ok)
                                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    confs.sort();
                    for c in confs.into_iter().filter(|c| c.ends_with(".conf")) {
                        if let Ok(found) = view.lookup(&format!("{p}/{c}")) {
                            out.push(Want::Data {
                                found,
                                reason: reason.clone(),
                            });
                        }
                    }
                } else if n.starts_with("gconv-modules") {
                    if let Ok(found) = view.lookup(&p) {
                        out.push(Want::Data {
                            found,
                            reason: reason.clone(),
                        });
                    }
                }
            }
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
