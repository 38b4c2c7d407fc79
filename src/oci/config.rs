//! The typed OCI (and Docker) image config, the one reader of configs: a base image's, and
//! every image `kiln inspect` shows. Only what kiln needs.
//!
//! Unknown members are ignored; the members read are type-checked by serde, then checked for
//! values no real image has (a NUL byte, an `Env` entry without `=`, lists or strings beyond
//! generous limits), so a hostile config is an error naming what is wrong, never passed on.

use crate::digest::Digest;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The largest config kiln reads (as `kiln inspect` does).
pub const MAX_CONFIG: u64 = super::inspect::MAX_CONFIG;
/// At most this many entries in any list of the config (Env, Cmd, diff_ids, history, ...).
pub const MAX_LIST: usize = 100_000;
/// At most this many bytes in any one string of the config.
pub const MAX_STRING: usize = 1 << 20;

/// An image config: the platform, the run configuration, the layers' diff_ids and history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    pub config: RunConfig,
    /// `rootfs.diff_ids`: the sha256 of each layer's uncompressed tar, in order.
    pub diff_ids: Vec<Digest>,
    pub history: Vec<History>,
    /// When the image was made, as the config says (RFC 3339), if it says.
    pub created: Option<String>,
}

/// The document as serde reads it (`rootfs` then becomes `diff_ids`).
#[derive(Deserialize)]
struct RawConfig {
    architecture: String,
    os: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    config: RunConfig,
    #[serde(default, deserialize_with = "null_as_default")]
    history: Vec<History>,
    #[serde(default)]
    rootfs: Option<RootFs>,
    #[serde(default)]
    created: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    diff_ids: Vec<Digest>,
}

/// The `config` member: how a container of the image runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
}

/// One `history` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct History {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl ImageConfig {
    /// Parses and checks a config blob; the error says what is wrong (not where: the caller
    /// names the image and the digest).
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, String> {
        if bytes.len() as u64 > MAX_CONFIG {
            return Err(format!(
                "it has {} bytes, more than {MAX_CONFIG}",
                bytes.len()
            ));
        }
        let raw: RawConfig =
            serde_json::from_slice(bytes).map_err(|e| format!("it is not an image config: {e}"))?;
        let rootfs = raw
            .rootfs
            .ok_or("it has no `rootfs` (an image config lists its layers' diff_ids there)")?;
        if rootfs.kind != "layers" {
            return Err(format!(
                "its rootfs type is {:?}, not \"layers\"",
                crate::digest::shorten(&rootfs.kind)
            ));
        }
        let c = ImageConfig {
            architecture: raw.architecture,
            os: raw.os,
            variant: raw.variant,
            config: raw.config,
            diff_ids: rootfs.diff_ids,
            history: raw.history,
            created: raw.created,
        };
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        if self.os.is_empty() || self.architecture.is_empty() {
            return Err("it names no `os` or no `architecture`".into());
        }
        if self.diff_ids.len() > MAX_LIST || self.history.len() > MAX_LIST {
            return Err(format!(
                "it lists more than {MAX_LIST} layers or history entries"
            ));
        }
        let r = &self.config;
        let mut strings: Vec<(&str, &str)> =
            vec![("os", &self.os), ("architecture", &self.architecture)];
        let opt = [
            ("variant", &self.variant),
            ("User", &r.user),
            ("WorkingDir", &r.working_dir),
            ("StopSignal", &r.stop_signal),
        ];
        strings.extend(
            opt.iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))),
        );
        for (key, list) in [
            ("Env", &r.env),
            ("Entrypoint", &r.entrypoint),
            ("Cmd", &r.cmd),
        ] {
            let list = list.as_deref().unwrap_or_default();
            if list.len() > MAX_LIST {
                return Err(format!("its `{key}` has more than {MAX_LIST} entries"));
            }
            strings.extend(list.iter().map(|s| (key, s.as_str())));
        }
        for (key, map) in [("ExposedPorts", &r.exposed_ports), ("Volumes", &r.volumes)] {
            strings.extend(map.iter().flat_map(|m| m.keys()).map(|s| (key, s.as_str())));
        }
        for (k, v) in r.labels.iter().flatten() {
            strings.push(("Labels", k));
            strings.push(("Labels", v));
        }
        for (key, s) in strings {
            check_string(key, s)?;
        }
        for e in r.env.iter().flatten() {
            if !e.contains('=') || e.starts_with('=') {
                return Err(format!(
                    "its `Env` entry {:?} is not NAME=VALUE",
                    crate::digest::shorten(e)
                ));
            }
        }
        Ok(())
    }
}

fn check_string(key: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_STRING {
        return Err(format!("a `{key}` value has more than {MAX_STRING} bytes"));
    }
    if s.contains('\0') {
        return Err(format!(
            "a `{key}` value contains a NUL byte: {:?}",
            crate::digest::shorten(s)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn a_docker_config_parses_and_unknown_members_are_ignored() {
        let c = ImageConfig::parse(
            format!(
                r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin"],
                "Cmd":["sh"],"Entrypoint":null,"ExposedPorts":{{"80/tcp":{{}}}},"Labels":null,
                "Hostname":""}},"rootfs":{{"type":"layers","diff_ids":["{D}"]}},
                "history":[{{"created_by":"x","empty_layer":true}}],"container_config":{{}}}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            c.config.env.as_deref(),
            Some(&["PATH=/bin".to_string()][..])
        );
        assert_eq!(c.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(c.config.entrypoint, None);
        assert_eq!(c.diff_ids.len(), 1);
        assert!(c.history[0].empty_layer);
    }

    #[test]
    fn hostile_configs_are_refused_with_a_reason() {
        let cases = [
            (r#"{"architecture":"amd64","os":"linux"}"#, "no `rootfs`"),
            (
                r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["md5:00"]}}"#,
                "not a digest",
            ),
            (
                r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":["NOEQUALS"]}}"#,
                "not NAME=VALUE",
            ),
            (
                r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":["a\u0000b"]}}"#,
                "NUL",
            ),
            (
                r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":"sh"}}"#,
                "not an image config",
            ),
            (r#"{"architecture":7,"os":"linux"}"#, "not an image config"),
            (
                r#"{"architecture":"","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
                "no `os`",
            ),
        ];
        for (json, want) in cases {
            let e = ImageConfig::parse(json.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
