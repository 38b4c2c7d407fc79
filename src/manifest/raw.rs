//! The manifest exactly as written: serde structs with spans, no validation beyond TOML types.
//!
//! Every field is optional here so that `model` can report a missing field with the place of
//! the table it is missing from. Unknown keys are rejected by serde (`deny_unknown_fields`).

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManifest {
    pub(crate) image: Option<S<RawImage>>,
    pub(crate) defaults: Option<RawOwnership>,
    #[serde(default)]
    pub(crate) component: Vec<S<RawComponent>>,
    #[serde(default)]
    pub(crate) waive: Vec<S<RawWaive>>,
    /// `[[source]]`: Debian archives `deb` components take packages from.
    #[serde(default)]
    pub(crate) source: Vec<S<RawSource>>,
    /// `[platform."linux/arm64"]`: what differs for one platform.
    pub(crate) platform: Option<BTreeMap<S<String>, S<RawPlatform>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawPlatform {
    pub(crate) sysroot: Option<S<String>>,
    pub(crate) cpu_level: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawWaive {
    pub(crate) load: Option<S<String>>,
    /// A Debian package a `deb` component's dependency closure leaves out.
    pub(crate) package: Option<S<String>>,
    pub(crate) why: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawSource {
    pub(crate) name: Option<S<String>>,
    pub(crate) kind: Option<S<String>>,
    pub(crate) url: Option<S<String>>,
    /// One suite, or `suites` for several of one archive.
    pub(crate) suite: Option<S<String>>,
    pub(crate) suites: Option<S<Vec<S<String>>>>,
    pub(crate) components: Option<S<Vec<S<String>>>>,
    pub(crate) keyring: Option<S<String>>,
    /// Accept a release whose `Valid-Until` has passed (an old snapshot).
    pub(crate) allow_expired: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawImage {
    pub(crate) name: Option<S<String>>,
    pub(crate) entrypoint: Option<S<Vec<S<String>>>>,
    pub(crate) cmd: Option<S<Vec<S<String>>>>,
    pub(crate) user: Option<S<String>>,
    pub(crate) workdir: Option<S<String>>,
    pub(crate) env: Option<BTreeMap<S<String>, S<String>>>,
    pub(crate) ports: Option<Vec<S<toml::Value>>>,
    pub(crate) labels: Option<BTreeMap<String, S<String>>>,
    pub(crate) annotations: Option<BTreeMap<String, S<String>>>,
    pub(crate) cpu_level: Option<S<String>>,
    pub(crate) sysroot: Option<S<String>>,
    pub(crate) platforms: Option<S<Vec<S<String>>>>,
    /// Charsets whose gconv modules ship (a list), or `"all"`.
    pub(crate) gconv: Option<S<toml::Value>>,
    /// The image to build on: `docker://...`, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`.
    pub(crate) base: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawOwnership {
    pub(crate) owner: Option<S<String>>,
    pub(crate) capabilities: Option<Vec<S<String>>>,
    pub(crate) cadence: Option<S<String>>,
    pub(crate) remove_when: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawComponent {
    pub(crate) name: Option<S<String>>,
    pub(crate) kind: Option<S<String>>,
    pub(crate) why: Option<S<String>>,
    pub(crate) owner: Option<S<String>>,
    pub(crate) capabilities: Option<Vec<S<String>>>,
    pub(crate) cadence: Option<S<String>>,
    pub(crate) remove_when: Option<S<String>>,
    pub(crate) layer: Option<S<String>>,
    // Kind-specific fields; `model` checks which apply.
    pub(crate) from: Option<S<toml::Value>>,
    pub(crate) to: Option<S<String>>,
    pub(crate) content: Option<S<String>>,
    pub(crate) mode: Option<S<toml::Value>>,
    pub(crate) uid: Option<S<i64>>,
    pub(crate) gid: Option<S<i64>>,
    pub(crate) resolve: Option<S<bool>>,
    pub(crate) include: Option<S<Vec<S<String>>>>,
    pub(crate) exclude: Option<S<Vec<S<String>>>>,
    pub(crate) target: Option<S<String>>,
    pub(crate) defaults: Option<S<bool>>,
    pub(crate) users: Option<S<Vec<S<RawUser>>>>,
    pub(crate) groups: Option<S<Vec<S<RawGroup>>>>,
    pub(crate) extra: Option<S<Vec<S<String>>>>,
    pub(crate) zones: Option<S<Vec<S<String>>>>,
    pub(crate) fields: Option<S<BTreeMap<String, S<String>>>>,
    /// Image directories the program loads libraries from itself (elf, tree).
    pub(crate) loaded_from: Option<S<Vec<S<String>>>>,
    /// The component may place paths the base image already has (its files win).
    pub(crate) replace: Option<S<bool>>,
    /// `deb`: the packages, each `NAME` or `NAME (OP VERSION)`.
    pub(crate) packages: Option<S<Vec<S<String>>>>,
    /// `deb`: the `[[source]]` name (or names) the packages come from.
    pub(crate) source: Option<S<toml::Value>>,
    /// `deb`: whether the Depends/Pre-Depends closure ships (default true).
    pub(crate) depends: Option<S<bool>>,
}

impl RawComponent {
    /// The kind-specific fields that are present, with their spans, for "does not apply" checks.
    pub(crate) fn present_fields(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut v = Vec::new();
        macro_rules! f {
            ($($field:ident => $key:literal),*) => {
                $( if let Some(x) = &self.$field { v.push(($key, x.span())); } )*
            };
        }
        f!(from => "from", to => "to", content => "content", mode => "mode", uid => "uid",
           gid => "gid", resolve => "resolve", include => "include", exclude => "exclude",
           target => "target", defaults => "defaults", users => "users", groups => "groups",
           extra => "extra", zones => "zones", fields => "fields", loaded_from => "loaded-from",
           packages => "packages", source => "source", depends => "depends");
        v
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawUser {
    pub(crate) name: S<String>,
    pub(crate) uid: S<i64>,
    pub(crate) gid: Option<S<i64>>,
    pub(crate) home: Option<S<String>>,
    pub(crate) shell: Option<S<String>>,
    pub(crate) gecos: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawGroup {
    pub(crate) name: S<String>,
    pub(crate) gid: S<i64>,
    #[serde(default)]
    pub(crate) members: Vec<S<String>>,
}
