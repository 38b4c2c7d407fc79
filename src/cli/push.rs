//! `kiln push` and the registry options `build --push` shares.
//!
//! Owns: turning flags into `registry::Options` (credentials from flags or stdin), the push
//! progress bars. Does not own: the protocol (`crate::registry`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use crate::image::output::Output;
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct PushArgs {
    /// The image, in the --output syntax: oci:DIR[:TAG] or oci-archive:FILE[:TAG].
    source: String,
    /// Where to: docker://HOST[:PORT]/REPO[:TAG].
    destination: String,
    /// Print JSON: reference, digest, blobs uploaded, skipped and mounted.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// How to reach and log in to a registry (every command that talks to one).
#[derive(clap::Args, Debug)]
pub(super) struct RegistryLogin {
    /// USER:PASS for the registry (else KILN_REGISTRY_USERNAME/KILN_REGISTRY_PASSWORD,
    /// containers' auth.json, Docker's config.json and credential helpers). A command line is
    /// visible to other users of the machine: prefer --password-stdin or the environment.
    #[arg(long, value_name = "USER:PASS", conflicts_with = "password_stdin")]
    creds: Option<String>,
    /// The registry user, with --password-stdin.
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    username: Option<String>,
    /// Read the password (or token) from standard input, as `docker login --password-stdin`.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Allow plain HTTP and unverified TLS for the registry's own host when it is not a
    /// loopback address (never for another host the registry names).
    #[arg(long)]
    insecure: bool,
    /// Trust every *.crt in DIR as a CA (like containers' certs.d).
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
}

/// How to push to a registry (`kiln push`, `kiln build --push`).
#[derive(clap::Args, Debug)]
pub(super) struct RegistryArgs {
    #[command(flatten)]
    login: RegistryLogin,
    /// Another repository of the same registry that may hold the blobs: mount them from it
    /// instead of uploading (repeatable).
    #[arg(long, value_name = "REPO")]
    from_repo: Vec<String>,
    /// Also write the pushed reference (HOST/REPO@sha256:...) to FILE.
    #[arg(long, value_name = "FILE")]
    pub(super) image_refs: Option<PathBuf>,
    /// Concurrent blob uploads.
    #[arg(long, value_name = "N", default_value_t = 3)]
    jobs: usize,
    /// MiB per request of a chunked upload (for registries or proxies that limit request
    /// sizes); blobs up to min(16, N) MiB go in one request.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    chunk_mib: u64,
}

impl RegistryArgs {
    pub(super) fn options(&self, pull_only: bool) -> anyhow::Result<crate::registry::Options> {
        let mut o = self.login.options(pull_only)?;
        o.from_repos = self.from_repo.clone();
        o.jobs = self.jobs;
        o.chunk = self.chunk_mib << 20;
        Ok(o)
    }
}

impl RegistryArgs {
    /// The TLS settings alone (`--insecure`, `--cert-dir`), without reading a password.
    pub(super) fn tls_only(&self) -> anyhow::Result<crate::registry::Options> {
        let mut o = crate::registry::Options {
            insecure: self.login.insecure,
            cert_dir: self.login.cert_dir.clone(),
            ..self.options_without_login()
        };
        o.pull_only = true;
        Ok(o)
    }

    fn options_without_login(&self) -> crate::registry::Options {
        crate::registry::Options {
            progress: crate::registry::ProgressSink::default(),
            credentials: None,
            insecure: false,
            cert_dir: None,
            from_repos: Vec::new(),
            jobs: 3,
            pull_only: true,
            chunk: crate::registry::CHUNK,
        }
    }
}

impl RegistryLogin {
    /// Options with these credentials and TLS settings, the rest defaults (3 jobs).
    pub(super) fn options(&self, pull_only: bool) -> anyhow::Result<crate::registry::Options> {
        let credentials = match (&self.creds, &self.username) {
            (Some(c), _) => Some(crate::registry::Credentials::parse(c)?),
            (None, Some(user)) if self.password_stdin => {
                let mut secret = zeroize::Zeroizing::new(String::new());
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut secret)
                    .context("cannot read the password from standard input")?;
                let secret = secret.trim_end_matches(['\n', '\r']);
                if secret.is_empty() {
                    anyhow::bail!("--password-stdin read an empty password");
                }
                Some(crate::registry::Credentials {
                    username: user.clone(),
                    secret: secret.to_string(),
                })
            }
            _ => None,
        };
        Ok(crate::registry::Options {
            progress: crate::registry::ProgressSink::default(),
            credentials,
            insecure: self.insecure,
            cert_dir: self.cert_dir.clone(),
            from_repos: Vec::new(),
            jobs: 3,
            pull_only,
            chunk: crate::registry::CHUNK,
        })
    }
}

/// Progress bars on stderr for `kiln push`: bytes sent and blobs done.
pub(super) struct Bars {
    bytes: indicatif::ProgressBar,
    blobs: std::sync::atomic::AtomicUsize,
    done: std::sync::atomic::AtomicUsize,
}

impl Bars {
    fn new() -> Bars {
        Bars::with_prefix("pushing")
    }

    /// Bars whose line starts with `prefix` (`pushing`, `pulling`).
    pub(super) fn with_prefix(prefix: &'static str) -> Bars {
        let bytes = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bytes.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bytes.set_prefix(prefix);
        Bars {
            bytes,
            blobs: Default::default(),
            done: Default::default(),
        }
    }
}

impl crate::registry::Progress for Bars {
    fn start(&self, blobs: usize, bytes: u64) {
        self.bytes.set_length(bytes);
        self.blobs
            .store(blobs, std::sync::atomic::Ordering::Relaxed);
        self.bytes.set_message(format!("0/{blobs} blobs"));
    }
    fn sent(&self, n: u64) {
        self.bytes.inc(n);
    }
    fn blob_done(&self, size: u64, uploaded: bool) {
        if !uploaded {
            // Skipped or mounted: its bytes count as done without being sent.
            self.bytes.inc(size);
        }
        use std::sync::atomic::Ordering::Relaxed;
        let done = self.done.fetch_add(1, Relaxed) + 1;
        self.bytes
            .set_message(format!("{done}/{} blobs", self.blobs.load(Relaxed)));
    }
    fn finish(&self) {
        self.bytes.finish_and_clear();
    }
}

/// Pushes `src` to `dest` (`ops::push`), with bars when `show_progress`; writes --image-refs.
pub(super) fn push_image(
    src: &Output,
    dest: &crate::registry::Reference,
    r: &RegistryArgs,
    show_progress: bool,
) -> anyhow::Result<crate::ops::push::PushReport> {
    let req = crate::ops::push::PushRequest {
        source: src.clone(),
        destination: dest.clone(),
        registry: r.options(false)?,
        image_refs: r.image_refs.clone(),
    };
    let progress: std::sync::Arc<dyn crate::registry::Progress> = match show_progress {
        true => std::sync::Arc::new(Bars::new()),
        false => std::sync::Arc::new(crate::registry::Quiet),
    };
    Ok(crate::ops::push::push(&req, progress)?)
}

pub(super) fn push(a: PushArgs) -> anyhow::Result<()> {
    let src = Output::parse(&a.source)?;
    let dest = crate::registry::Reference::parse(&a.destination)?;
    let s = push_image(
        &src,
        &dest,
        &a.registry,
        super::report::show_progress() && !a.json,
    )?;
    if a.json {
        return super::json_out(&s);
    }
    super::summary(&format!("{}\n", s.reference))
}
