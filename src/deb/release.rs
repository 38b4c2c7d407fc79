//! A Debian archive's `InRelease`: its OpenPGP cleartext signature checked against a keyring,
//! then its fields (dates, architectures, components, the SHA-256 of every index file).
//!
//! Owns: reading keyrings (binary `.gpg` or ASCII-armored `.asc`, one or many keys), the
//! cleartext-signature framing, the signature policy (which signatures count), the key
//! validity at a given instant (expiry, revocation, signing capability, subkey bindings),
//! parsing the signed `Release` paragraph, and choosing the `Packages` index to fetch.
//! Does not own: downloading (`deb::fetch`), the `Packages` format (`deb::index`), or where
//! the keyring path comes from (the manifest).
//!
//! Invariants:
//! - Nothing outside the signed block is read: only whitespace may stand before
//!   `-----BEGIN PGP SIGNED MESSAGE-----` or after the signature block, and the fields come
//!   only from the text the good signature covers (dash-unescaped, trailing blanks trimmed,
//!   exactly the bytes that were hashed).
//! - A signature counts only if a (sub)key of the keyring made it, it verifies over that
//!   text, it is a binary or text document signature, its digest is SHA-256 or stronger (no
//!   SHA-1, MD5, RIPEMD-160 or SHA-224, as apt refuses weak digests), and at `now` its key is
//!   neither expired nor revoked and may sign (a subkey: a valid binding with the signing flag
//!   and a valid back-signature). One such signature is enough: the others (Debian signs with
//!   several keys, which a keyring may not all hold) are ignored.
//! - Input is bounded ([`MAX_INRELEASE`]); no input makes this module panic.
//! - A `Date` more than a day after `now` is refused (apt only warns): a release from the
//!   future means a wrong clock or a forged time line, and `Valid-Until` checks lean on it.

use pgp::composed::{Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Packet, PacketParser, PacketTrait, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest `InRelease` accepted (Debian's are about 150 KiB).
pub const MAX_INRELEASE: usize = 16 << 20;
/// The largest keyring file read (Debian's archive keyring is about 60 KiB).
pub const MAX_KEYRING: u64 = 16 << 20;
/// At most this many signatures are looked at in one `InRelease`.
const MAX_SIGNATURES: usize = 32;
/// How far a release's `Date` may be ahead of `now` (clock skew).
const DATE_SKEW: Duration = Duration::from_secs(86_400);

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// Why a keyring or an `InRelease` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The keyring file could not be read.
    #[error("cannot read the keyring: {0}")]
    KeyringRead(#[source] std::io::Error),
    /// The keyring is larger than [`MAX_KEYRING`].
    #[error(
        "the keyring {keyring} has {size} bytes, more than the {MAX_KEYRING} a keyring may have"
    )]
    KeyringTooLarge {
        /// The keyring's path.
        keyring: String,
        /// Its size.
        size: u64,
    },
    /// No public key could be read from the keyring.
    #[error("the keyring {keyring} holds no usable OpenPGP public key{}\n\nhint: give a binary (.gpg, as /usr/share/keyrings/debian-archive-keyring.gpg) or ASCII-armored (.asc) public keyring", reason.as_ref().map_or(String::new(), |r| format!(" ({r})")))]
    KeyringEmpty {
        /// The keyring's path (or `keyring bytes`).
        keyring: String,
        /// The first parse error, if any.
        reason: Option<String>,
    },
    /// The `InRelease` is larger than [`MAX_INRELEASE`].
    #[error("the InRelease has {size} bytes, more than the {MAX_INRELEASE} kiln accepts")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// The `InRelease` is not a well-formed cleartext-signed message.
    #[error("the InRelease is not a cleartext-signed message: line {line}: {reason}")]
    Framing {
        /// 1-based line number in the InRelease.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// The signature block holds no signature.
    #[error("the InRelease carries no signature")]
    NoSignature,
    /// The signature block could not be decoded.
    #[error("the InRelease's signature block cannot be read: {0}")]
    SignatureBlock(String),
    /// Every signature was made by a key the keyring does not hold.
    #[error("the InRelease is signed only by keys that {keyring} does not hold: {}\n\nhint: the keyring does not hold the key that signed this release; give the archive's keyring (it holds {})", issuers.join(", "), if known.is_empty() { "no key".to_string() } else { known.join(", ") })]
    UnknownSigner {
        /// Issuer fingerprints (or key IDs) of the signatures.
        issuers: Vec<String>,
        /// The keyring's path.
        keyring: String,
        /// The primary fingerprints the keyring holds.
        known: Vec<String>,
    },
    /// No signature passed: each one's reason.
    #[error("no good signature on the InRelease (keyring {keyring}):\n{}", reasons.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
    BadSignature {
        /// One line per signature: its issuer and why it does not count.
        reasons: Vec<String>,
        /// The keyring's path.
        keyring: String,
    },
    /// A field of the signed Release is malformed.
    #[error("the Release field {field}: {reason}")]
    Field {
        /// The field's name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The release's `Date` is more than a day after `now`.
    #[error("the release is dated {}, after now ({})\n\nhint: check this machine's clock", show_time(*date), show_time(*now))]
    FromTheFuture {
        /// Its `Date`.
        date: SystemTime,
        /// The instant it was checked at.
        now: SystemTime,
    },
    /// The release's `Valid-Until` has passed.
    #[error("the release was valid until {}, which has passed\n\nhint: {hint}", show_time(*valid_until))]
    Expired {
        /// Its `Valid-Until`.
        valid_until: SystemTime,
        /// What to do.
        hint: &'static str,
    },
    /// The release lists no `Packages` index for a component and architecture.
    #[error("the release lists no Packages index for {component}/binary-{arch}; it offers {}", if offered.is_empty() { "none".to_string() } else { offered.join(", ") })]
    NoIndex {
        /// The component asked for.
        component: String,
        /// The architecture asked for.
        arch: String,
        /// The `COMPONENT/binary-ARCH` folders it does list.
        offered: Vec<String>,
    },
}

/// Options of [`verify`].
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyOptions {
    /// Accept a `Valid-Until` in the past (an old snapshot mirror).
    pub allow_expired: bool,
}

/// One index file the release lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexFile {
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// How a `Packages` index is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `Packages.xz`.
    Xz,
    /// `Packages.gz`.
    Gz,
    /// `Packages`.
    None,
}

/// A verified release: the fields of the signed `Release` paragraph.
#[derive(Clone, Debug)]
pub struct Release {
    /// `Origin`.
    pub origin: Option<String>,
    /// `Label`.
    pub label: Option<String>,
    /// `Suite`.
    pub suite: Option<String>,
    /// `Codename`.
    pub codename: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Date`.
    pub date: SystemTime,
    /// `Valid-Until`.
    pub valid_until: Option<SystemTime>,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components`.
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// `SHA256`: index path (e.g. `main/binary-amd64/Packages.xz`) to its size and hash.
    pub sha256: BTreeMap<String, IndexFile>,
    /// Upper-case hex fingerprint of the (sub)key that made the good signature.
    pub signed_by: String,
}

/// Public keys to check signatures with.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    origin: String,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("origin", &self.origin)
            .field("fingerprints", &self.fingerprints())
            .finish()
    }
}

impl Keyring {
    /// Reads a binary or ASCII-armored keyring file of one or many public keys.
    pub fn load(path: &Path) -> Result<Keyring, ReleaseError> {
        let file = fs_err::File::open(path).map_err(ReleaseError::KeyringRead)?;
        let mut bytes = Vec::new();
        file.take(MAX_KEYRING + 1)
            .read_to_end(&mut bytes)
            .map_err(ReleaseError::KeyringRead)?;
        let origin = path.display().to_string();
        if bytes.len() as u64 > MAX_KEYRING {
            return Err(ReleaseError::KeyringTooLarge {
                keyring: origin,
                size: bytes.len() as u64,
            });
        }
        Keyring::parse(&bytes, origin)
    }

    /// Reads a keyring from bytes (binary or ASCII-armored).
    pub fn from_bytes(bytes: &[u8]) -> Result<Keyring, ReleaseError> {
        Keyring::parse(bytes, "keyring bytes".to_string())
    }

    /// Upper-case hex fingerprints of the primary keys, for messages.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| fingerprint_hex(&k.primary_key))
            .collect()
    }

    /// Where the keyring came from (its path), for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn parse(bytes: &[u8], origin: String) -> Result<Keyring, ReleaseError> {
        let mut keys = Vec::new();
        let mut first_error = None;
        let mut note = |e: pgp::errors::Error| {
            first_error.get_or_insert_with(|| e.to_string());
        };
        if is_armored(bytes) {
            for block in armored_blocks(bytes) {
                match SignedPublicKey::from_armor_many(block) {
                    Ok((iter, _)) => iter.for_each(|k| k.map_or_else(&mut note, |k| keys.push(k))),
                    Err(e) => note(e),
                }
            }
        } else {
            match SignedPublicKey::from_bytes_many(bytes) {
                Ok(iter) => iter.for_each(|k| k.map_or_else(&mut note, |k| keys.push(k))),
                Err(e) => note(e),
            }
        }
        if keys.is_empty() {
            return Err(ReleaseError::KeyringEmpty {
                keyring: origin,
                reason: first_error,
            });
        }
        Ok(Keyring { keys, origin })
    }

    /// The keys (primary or subkey) whose fingerprint or key ID a signature names as issuer.
    fn signers_of<'a>(&'a self, sig: &Signature) -> Vec<Signer<'a>> {
        let fps = sig.issuer_fingerprint();
        let ids = sig.issuer_key_id();
        let named = |k: &dyn KeyDetails| {
            fps.iter().any(|f| **f == k.fingerprint())
                || ids.iter().any(|i| **i == k.legacy_key_id())
        };
        let mut out = Vec::new();
        for cert in &self.keys {
            if named(&cert.primary_key) {
                out.push(Signer { cert, sub: None });
            }
            for sub in cert.public_subkeys.iter().filter(|s| named(&s.key)) {
                out.push(Signer {
                    cert,
                    sub: Some(sub),
                });
            }
        }
        out
    }
}

/// Whether the bytes look like ASCII armor (after leading whitespace).
fn is_armored(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"-----BEGIN PGP")
}

/// Each `-----BEGIN PGP ...` block of an armored file (an `.asc` may hold several).
fn armored_blocks(bytes: &[u8]) -> Vec<&[u8]> {
    let marker = b"-----BEGIN PGP";
    let starts: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(marker) && (i == 0 || bytes[i - 1] == b'\n'))
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| &bytes[s..starts.get(n + 1).copied().unwrap_or(bytes.len())])
        .collect()
}

/// The key that may have made a signature: a certificate's primary key or one of its subkeys.
struct Signer<'a> {
    cert: &'a SignedPublicKey,
    sub: Option<&'a SignedPublicSubKey>,
}

impl Signer<'_> {
    fn fingerprint(&self) -> String {
        match self.sub {
            Some(s) => fingerprint_hex(&s.key),
            None => fingerprint_hex(&self.cert.primary_key),
        }
    }

    /// Checks `sig` over `text` under the policy of this module; the reason when it fails.
    fn check(&self, sig: &Signature, text: &[u8], now: SystemTime) -> Result<(), String> {
        check_signature_kind(sig)?;
        check_signature_time(sig, now)?;
        primary_usable(self.cert, now, self.sub.is_none())?;
        let verified = match self.sub {
            Some(sub) => {
                subkey_usable(self.cert, sub, now)?;
                sig.verify(&sub.key, text)
            }
            None => sig.verify(&self.cert.primary_key, text),
        };
        verified.map_err(|e| format!("the signature does not verify ({e})"))
    }
}

/// A document signature (binary or text) with a digest of at least 256 bits.
fn check_signature_kind(sig: &Signature) -> Result<(), String> {
    match sig.typ() {
        Some(SignatureType::Binary | SignatureType::Text) => {}
        other => return Err(format!("not a document signature ({other:?})")),
    }
    use pgp::crypto::hash::HashAlgorithm as H;
    match sig.hash_alg() {
        Some(H::Sha256 | H::Sha384 | H::Sha512 | H::Sha3_256 | H::Sha3_512) => Ok(()),
        Some(h) => Err(format!(
            "made with the weak digest {h} (SHA-256 or stronger is required, as apt does)"
        )),
        None => Err("no digest algorithm".to_string()),
    }
}

/// The signature has a creation time, not after `now` (with skew), and has not expired.
fn check_signature_time(sig: &Signature, now: SystemTime) -> Result<(), String> {
    let created: SystemTime = sig
        .created()
        .ok_or("the signature has no creation time")?
        .into();
    if created > now + DATE_SKEW {
        return Err(format!(
            "the signature is from the future ({})",
            show_time(created)
        ));
    }
    if let Some(exp) = sig.signature_expiration_time().filter(|d| d.as_secs() > 0) {
        let until = created + Duration::from_secs(exp.as_secs().into());
        if until <= now {
            return Err(format!("the signature expired on {}", show_time(until)));
        }
    }
    Ok(())
}

/// The primary key is valid at `now`: a self-signature, not expired, not revoked; and, when
/// it made the signature itself, allowed to sign.
fn primary_usable(cert: &SignedPublicKey, now: SystemTime, signs: bool) -> Result<(), String> {
    let primary = &cert.primary_key;
    let fp = fingerprint_hex(primary);
    let revoked =
        cert.details.revocation_signatures.iter().any(|s| {
            s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(primary).is_ok()
        });
    if revoked {
        return Err(format!("the key {fp} is revoked"));
    }
    let certifications = cert.details.users.iter().flat_map(|u| {
        u.signatures
            .iter()
            .filter(|s| is_self_certification(s))
            .filter(move |s| s.verify_certification(primary, Tag::UserId, &u.id).is_ok())
    });
    let direct = cert
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::Key) && s.verify_key(primary).is_ok());
    let selfsig = newest_before(certifications.chain(direct), now)
        .ok_or_else(|| format!("the key {fp} has no valid self-signature"))?;
    check_key_expiry(&fp, primary.created_at().into(), selfsig, now)?;
    if signs && has_key_flags(selfsig) && !selfsig.key_flags().sign() {
        return Err(format!("the key {fp} is not allowed to sign"));
    }
    Ok(())
}

/// The subkey is bound to its primary at `now`: a binding with the signing flag and a valid
/// back-signature, not expired, not revoked.
fn subkey_usable(
    cert: &SignedPublicKey,
    sub: &SignedPublicSubKey,
    now: SystemTime,
) -> Result<(), String> {
    let primary = &cert.primary_key;
    let fp = fingerprint_hex(&sub.key);
    let revoked = sub.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(primary, &sub.key).is_ok()
    });
    if revoked {
        return Err(format!("the subkey {fp} is revoked"));
    }
    let bindings = sub.signatures.iter().filter(|s| {
        s.typ() == Some(SignatureType::SubkeyBinding)
            && s.verify_subkey_binding(primary, &sub.key).is_ok()
    });
    let binding = newest_before(bindings, now)
        .ok_or_else(|| format!("the subkey {fp} has no valid binding signature"))?;
    check_key_expiry(&fp, sub.key.created_at().into(), binding, now)?;
    if !binding.key_flags().sign() {
        return Err(format!("the subkey {fp} is not allowed to sign"));
    }
    let backsig_ok = binding
        .embedded_signature()
        .is_some_and(|b| b.verify_primary_key_binding(&sub.key, primary).is_ok());
    if !backsig_ok {
        return Err(format!(
            "the signing subkey {fp} has no valid back-signature to its primary key"
        ));
    }
    Ok(())
}

/// A positive, casual, persona or generic certification (the kinds a self-signature is).
fn is_self_certification(sig: &Signature) -> bool {
    matches!(
        sig.typ(),
        Some(
            SignatureType::CertGeneric
                | SignatureType::CertPersona
                | SignatureType::CertCasual
                | SignatureType::CertPositive
        )
    )
}

/// The newest signature created at or before `now`.
fn newest_before<'a>(
    sigs: impl Iterator<Item = &'a Signature>,
    now: SystemTime,
) -> Option<&'a Signature> {
    sigs.filter_map(|s| s.created().map(|c| (SystemTime::from(c), s)))
        .filter(|(c, _)| *c <= now)
        .max_by_key(|(c, _)| *c)
        .map(|(_, s)| s)
}

/// The key (created at `created`) has not expired at `now` by the self-signature's terms.
fn check_key_expiry(
    fp: &str,
    created: SystemTime,
    selfsig: &Signature,
    now: SystemTime,
) -> Result<(), String> {
    match selfsig.key_expiration_time().filter(|d| d.as_secs() > 0) {
        Some(d) => {
            let until = created + Duration::from_secs(d.as_secs().into());
            if until <= now {
                Err(format!("the key {fp} expired on {}", show_time(until)))
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    }
}

/// Whether the signature carries a key-flags subpacket in its hashed area.
fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

fn fingerprint_hex(key: &impl KeyDetails) -> String {
    hex::encode_upper(key.fingerprint().as_bytes())
}

/// How a signature names its issuer, for messages.
fn issuer_names(sig: &Signature) -> String {
    let fps: Vec<String> = sig
        .issuer_fingerprint()
        .iter()
        .map(|f| hex::encode_upper(f.as_bytes()))
        .collect();
    if !fps.is_empty() {
        return fps.join("/");
    }
    let ids: Vec<String> = sig
        .issuer_key_id()
        .iter()
        .map(|i| format!("key ID {}", hex::encode_upper(i)))
        .collect();
    if ids.is_empty() {
        "(no issuer)".to_string()
    } else {
        ids.join("/")
    }
}

/// Checks the signature of an `InRelease` against `keyring` at `now` and parses the signed
/// `Release` paragraph. See the module doc for the policy.
pub fn verify(
    inrelease: &[u8],
    keyring: &Keyring,
    now: SystemTime,
    opts: &VerifyOptions,
) -> Result<Release, ReleaseError> {
    if inrelease.len() > MAX_INRELEASE {
        return Err(ReleaseError::TooLarge {
            size: inrelease.len(),
        });
    }
    let text = std::str::from_utf8(inrelease).map_err(|e| ReleaseError::Framing {
        line: line_of(inrelease, e.valid_up_to()),
        reason: "not UTF-8 text".to_string(),
    })?;
    let message = split_cleartext(text)?;
    let signatures = decode_signatures(&message.armor)?;
    let signed_by = pick_good_signature(&signatures, &message.signed, keyring, now)?;
    let release = parse_release(&message.lines, signed_by)?;
    check_dates(&release, now, opts)?;
    Ok(release)
}

/// The fingerprint of the first signature that counts, or why none does.
fn pick_good_signature(
    signatures: &[Signature],
    signed: &[u8],
    keyring: &Keyring,
    now: SystemTime,
) -> Result<String, ReleaseError> {
    let mut unknown = Vec::new();
    let mut reasons = Vec::new();
    for sig in signatures {
        let signers = keyring.signers_of(sig);
        if signers.is_empty() {
            unknown.push(issuer_names(sig));
            reasons.push(format!("{}: not in the keyring", issuer_names(sig)));
        }
        for signer in signers {
            match signer.check(sig, signed, now) {
                Ok(()) => return Ok(signer.fingerprint()),
                Err(why) => reasons.push(format!("{}: {why}", signer.fingerprint())),
            }
        }
    }
    if unknown.len() == signatures.len() {
        return Err(ReleaseError::UnknownSigner {
            issuers: unknown,
            keyring: keyring.origin.clone(),
            known: keyring.fingerprints(),
        });
    }
    Err(ReleaseError::BadSignature {
        reasons,
        keyring: keyring.origin.clone(),
    })
}

/// A cleartext-signed message taken apart.
struct Cleartext {
    /// The signed lines, dash-unescaped, trailing blanks trimmed.
    lines: Vec<String>,
    /// Exactly what the signature covers: `lines` joined by CR LF.
    signed: Vec<u8>,
    /// The armored signature block, BEGIN and END lines included.
    armor: String,
}

/// Where the framing parser is.
enum Stage {
    Before,
    Headers,
    Body,
    Signature,
    After,
}

/// Splits the message as RFC 9580 §7 frames it, refusing anything outside the signed block,
/// any other armor header than `Hash`, a line starting with `-` that is not dash-escaped, and
/// a second signed message.
fn split_cleartext(text: &str) -> Result<Cleartext, ReleaseError> {
    let mut stage = Stage::Before;
    let mut lines = Vec::new();
    let mut armor = String::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let fail = |reason: &str| ReleaseError::Framing {
            line: line_no,
            reason: reason.to_string(),
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let blank = line.trim().is_empty();
        match stage {
            Stage::Before if blank => {}
            Stage::Before if line.trim_end() == BEGIN_MESSAGE => stage = Stage::Headers,
            Stage::Before => return Err(fail("text before the signed message")),
            Stage::Headers if line.is_empty() => stage = Stage::Body,
            Stage::Headers if line.starts_with("Hash: ") => {}
            Stage::Headers => return Err(fail("an armor header other than `Hash:`")),
            Stage::Body if line.trim_end() == BEGIN_SIGNATURE => {
                armor.push_str(BEGIN_SIGNATURE);
                armor.push('\n');
                stage = Stage::Signature;
            }
            Stage::Body => lines.push(body_line(line).map_err(|r| fail(&r))?),
            Stage::Signature => {
                armor.push_str(line);
                armor.push('\n');
                if line.trim_end() == END_SIGNATURE {
                    stage = Stage::After;
                }
            }
            Stage::After if blank => {}
            Stage::After if line.trim_end() == BEGIN_MESSAGE => {
                return Err(fail("a second signed message (one InRelease holds one)"))
            }
            Stage::After => return Err(fail("text after the signature")),
        }
    }
    match stage {
        Stage::After => {}
        Stage::Before => return Err(framing_end("no signed message")),
        Stage::Headers | Stage::Body => return Err(framing_end("no signature block")),
        Stage::Signature => return Err(framing_end("the signature block does not end")),
    }
    let signed = lines.join("\r\n").into_bytes();
    Ok(Cleartext {
        lines,
        signed,
        armor,
    })
}

fn framing_end(reason: &str) -> ReleaseError {
    ReleaseError::Framing {
        line: 0,
        reason: format!("at the end: {reason}"),
    }
}

/// One line of the signed text: dash-unescaped and trimmed of trailing blanks; control
/// characters other than tab refused.
fn body_line(line: &str) -> Result<String, String> {
    let unescaped = match line.strip_prefix("- ") {
        Some(rest) => rest,
        None if line.starts_with('-') => {
            return Err("a line starting with `-` that is not dash-escaped".to_string())
        }
        None => line,
    };
    if unescaped.chars().any(|c| c.is_control() && c != '\t') {
        return Err("a control character in the signed text".to_string());
    }
    Ok(unescaped.trim_end_matches([' ', '\t']).to_string())
}

/// 1-based line number of a byte offset.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The signature packets of the armored block (nothing else may be in it).
fn decode_signatures(armor: &str) -> Result<Vec<Signature>, ReleaseError> {
    let bad = |e: &dyn std::fmt::Display| ReleaseError::SignatureBlock(e.to_string());
    let mut dearmor = pgp::armor::Dearmor::new(armor.as_bytes());
    let mut bytes = Vec::new();
    (&mut dearmor)
        .take(MAX_INRELEASE as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(&e))?;
    if dearmor.typ != Some(pgp::armor::BlockType::Signature) {
        return Err(ReleaseError::SignatureBlock(
            "not a signature block".to_string(),
        ));
    }
    let mut signatures = Vec::new();
    for packet in PacketParser::new(&bytes[..]) {
        match packet.map_err(|e| bad(&e))? {
            Packet::Signature(sig) if signatures.len() < MAX_SIGNATURES => signatures.push(sig),
            Packet::Signature(_) => {
                return Err(ReleaseError::SignatureBlock(format!(
                    "more than {MAX_SIGNATURES} signatures"
                )))
            }
            other => {
                return Err(ReleaseError::SignatureBlock(format!(
                    "a {:?} packet where only signatures belong",
                    other.tag()
                )))
            }
        }
    }
    if signatures.is_empty() {
        return Err(ReleaseError::NoSignature);
    }
    Ok(signatures)
}

/// The Release paragraph's fields: name (as written) → value lines (the first line's value,
/// then each continuation line without its leading blank).
type Fields = BTreeMap<String, (String, Vec<String>)>;

/// Splits the signed lines into fields; one paragraph, no duplicate field.
fn split_fields(lines: &[String]) -> Result<Fields, ReleaseError> {
    let mut fields: Fields = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut ended = false;
    for line in lines {
        let field_err = |reason: &str| ReleaseError::Field {
            field: current.clone().unwrap_or_else(|| "(none)".to_string()),
            reason: reason.to_string(),
        };
        if line.is_empty() {
            ended = true;
            continue;
        }
        if ended {
            return Err(field_err("the Release has more than one paragraph"));
        }
        if line.starts_with([' ', '\t']) {
            let key = current
                .as_ref()
                .ok_or_else(|| field_err("a continuation line before any field"))?;
            if let Some((_, rest)) = fields.get_mut(key) {
                rest.push(line.trim().to_string());
            }
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| field_err(&format!("a line that is not a field: {line:?}")))?;
        let key = name.to_ascii_lowercase();
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(field_err(&format!("a bad field name {name:?}")));
        }
        if fields.contains_key(&key) {
            return Err(ReleaseError::Field {
                field: name.to_string(),
                reason: "given twice".to_string(),
            });
        }
        fields.insert(key.clone(), (value.trim().to_string(), Vec::new()));
        current = Some(key);
    }
    Ok(fields)
}

fn parse_release(lines: &[String], signed_by: String) -> Result<Release, ReleaseError> {
    let fields = split_fields(lines)?;
    let single = |name: &str| {
        fields
            .get(&name.to_ascii_lowercase())
            .map(|(v, _)| v.clone())
    };
    let date_text = single("Date").ok_or_else(|| field_error("Date", "missing"))?;
    let date = parse_date(&date_text).map_err(|r| field_error("Date", &r))?;
    let valid_until = single("Valid-Until")
        .map(|v| parse_date(&v).map_err(|r| field_error("Valid-Until", &r)))
        .transpose()?;
    let words = |name: &str| {
        single(name)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let acquire_by_hash = match single("Acquire-By-Hash").as_deref() {
        None | Some("no") => false,
        Some("yes") => true,
        Some(other) => {
            return Err(field_error(
                "Acquire-By-Hash",
                &format!("{other:?} is neither yes nor no"),
            ))
        }
    };
    let (first, entries) = fields.get("sha256").ok_or_else(|| {
        field_error(
            "SHA256",
            "missing: the release lists no SHA-256 of its index files",
        )
    })?;
    if !first.is_empty() {
        return Err(field_error("SHA256", "text on the field's own line"));
    }
    Ok(Release {
        origin: single("Origin"),
        label: single("Label"),
        suite: single("Suite"),
        codename: single("Codename"),
        version: single("Version"),
        date,
        valid_until,
        architectures: words("Architectures"),
        components: words("Components"),
        acquire_by_hash,
        sha256: parse_sha256(entries)?,
        signed_by,
    })
}

fn field_error(field: &str, reason: &str) -> ReleaseError {
    ReleaseError::Field {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

/// `HEX SIZE PATH` lines into a map; bad or duplicate paths refused.
fn parse_sha256(entries: &[String]) -> Result<BTreeMap<String, IndexFile>, ReleaseError> {
    let mut out = BTreeMap::new();
    for entry in entries {
        let err = |reason: &str| field_error("SHA256", &format!("{entry:?}: {reason}"));
        let parts: Vec<&str> = entry.split_whitespace().collect();
        let [hash, size, path] = parts[..] else {
            return Err(err("not `SHA256 SIZE PATH`"));
        };
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(hash, &mut sha256).map_err(|_| err("not a SHA-256 in hex"))?;
        let size: u64 = size.parse().map_err(|_| err("the size is not a number"))?;
        check_index_path(path).map_err(|r| err(&r))?;
        if out
            .insert(path.to_string(), IndexFile { size, sha256 })
            .is_some()
        {
            return Err(err("the path is listed twice"));
        }
    }
    Ok(out)
}

/// A relative path below the suite's folder: no `..`, `.` or empty component, no control
/// characters, bounded length.
fn check_index_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > 1024 {
        return Err("an empty or overlong path".to_string());
    }
    if path.starts_with('/') {
        return Err("an absolute path".to_string());
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err("a control character or backslash in the path".to_string());
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("a `..`, `.` or empty path component".to_string());
    }
    Ok(())
}

/// Refuses a Date more than a day ahead of `now` and a passed Valid-Until (unless allowed).
fn check_dates(
    release: &Release,
    now: SystemTime,
    opts: &VerifyOptions,
) -> Result<(), ReleaseError> {
    if release.date > now + DATE_SKEW {
        return Err(ReleaseError::FromTheFuture {
            date: release.date,
            now,
        });
    }
    match release.valid_until {
        Some(valid_until) if valid_until < now && !opts.allow_expired => {
            Err(ReleaseError::Expired {
                valid_until,
                hint: "a mirror that is no longer updated, or an old snapshot mirror: allow_expired (`allow-expired = true` on the source) accepts it",
            })
        }
        _ => Ok(()),
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses Debian's RFC 2822 date: `Sat, 11 Jul 2026 10:16:37 UTC` (also `GMT`, `+0000`);
/// other zones, and a weekday that does not match the date, are refused.
pub fn parse_date(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("{text:?} is not a date as `Sat, 11 Jul 2026 10:16:37 UTC`");
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [weekday, day, month, year, clock, zone] = parts[..] else {
        return Err(bad());
    };
    if !matches!(zone, "UTC" | "GMT" | "+0000" | "Z") {
        return Err(format!("{text:?}: only UTC dates are accepted"));
    }
    let weekday = weekday.strip_suffix(',').ok_or_else(bad)?;
    let day: u32 = number(day, 1, 2)
        .filter(|d| (1..=31).contains(d))
        .ok_or_else(bad)?;
    let month = MONTHS.iter().position(|m| *m == month).ok_or_else(bad)? as u32 + 1;
    let year = number(year, 4, 4).filter(|y| *y >= 1970).ok_or_else(bad)?;
    let hms: Vec<u32> = clock
        .split(':')
        .map(|p| number(p, 2, 2))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let [h, m, s] = hms[..] else {
        return Err(bad());
    };
    if h > 23 || m > 59 || s > 59 || day > days_in_month(year, month) {
        return Err(bad());
    }
    let days = days_from_civil(i64::from(year), month, day);
    if DAYS[days.rem_euclid(7) as usize] != weekday {
        return Err(format!("{text:?}: the weekday does not match the date"));
    }
    let secs = days as u64 * 86_400 + u64::from(h * 3600 + m * 60 + s);
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

/// A decimal number of `min..=max` ASCII digits.
fn number(text: &str, min: usize, max: usize) -> Option<u32> {
    if text.len() < min || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days-from-civil algorithm (days since 1970-01-01).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An instant as `YYYY-MM-DDTHH:MM:SSZ`, for messages.
fn show_time(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => crate::time::Epoch(d.as_secs()).rfc3339(),
        Err(_) => "before 1970".to_string(),
    }
}

impl Release {
    /// The size and SHA-256 the release lists for `path` (relative to the suite's folder).
    pub fn sha256_of(&self, path: &str) -> Option<&IndexFile> {
        self.sha256.get(path)
    }

    /// The `Packages` index to fetch for a component and architecture: `.xz`, else `.gz`,
    /// else plain, as the release lists them.
    pub fn pick_index(
        &self,
        component: &str,
        arch: &str,
    ) -> Result<(String, IndexFile, Compression), ReleaseError> {
        let dir = format!("{component}/binary-{arch}");
        let candidates = [
            ("Packages.xz", Compression::Xz),
            ("Packages.gz", Compression::Gz),
            ("Packages", Compression::None),
        ];
        for (name, compression) in candidates {
            let path = format!("{dir}/{name}");
            if let Some(file) = self.sha256.get(&path) {
                return Ok((path, *file, compression));
            }
        }
        Err(ReleaseError::NoIndex {
            component: component.to_string(),
            arch: arch.to_string(),
            offered: self.offered_indexes(),
        })
    }

    /// The `COMPONENT/binary-ARCH` folders that list a `Packages` index.
    fn offered_indexes(&self) -> Vec<String> {
        let dirs: std::collections::BTreeSet<String> = self
            .sha256
            .keys()
            .filter_map(|p| p.rsplit_once('/'))
            .filter(|(dir, name)| name.starts_with("Packages") && dir.contains("/binary-"))
            .map(|(dir, _)| dir.to_string())
            .collect();
        dirs.into_iter().collect()
    }

    /// The by-hash path of a listed file when the release says `Acquire-By-Hash: yes`.
    pub fn by_hash(&self, path: &str) -> Option<String> {
        let file = self.sha256.get(path)?;
        self.acquire_by_hash
            .then(|| by_hash_path(path, &file.sha256))
    }
}

/// `main/binary-amd64/Packages.xz` → `main/binary-amd64/by-hash/SHA256/<hex>`: the name that
/// does not change while a mirror updates (fetch it first when the release offers it).
pub fn by_hash_path(path: &str, sha256: &[u8; 32]) -> String {
    let hex = hex::encode(sha256);
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/by-hash/SHA256/{hex}"),
        None => format!("by-hash/SHA256/{hex}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn parses_debian_dates() {
        assert_eq!(
            parse_date("Sat, 11 Jul 2026 10:16:37 UTC"),
            Ok(at(1_783_764_997))
        );
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 GMT"), Ok(at(0)));
        assert_eq!(parse_date("Thu, 1 Jan 1970 00:00:01 +0000"), Ok(at(1)));
    }

    #[test]
    fn refuses_other_dates() {
        for bad in [
            "Sat, 11 Jul 2026 10:16:37 CEST",
            "Sat, 11 Jul 2026 10:16:37 +0200",
            "Fri, 11 Jul 2026 10:16:37 UTC",
            "Sat, 31 Feb 2026 10:16:37 UTC",
            "Sat, 11 Jul 2026 24:00:00 UTC",
            "Sat 11 Jul 2026 10:16:37 UTC",
            "2026-07-11T10:16:37Z",
            "",
            "Sat, 11 Jul 99999 10:16:37 UTC",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_and_unescapes() {
        let text = "\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: b  \n- -dash\n\n-----BEGIN PGP SIGNATURE-----\n\nxx\n-----END PGP SIGNATURE-----\n\n";
        let m = split_cleartext(text).unwrap();
        assert_eq!(m.lines, ["A: b", "-dash", ""]);
        assert_eq!(m.signed, b"A: b\r\n-dash\r\n");
    }

    #[test]
    fn refuses_bad_framing() {
        let good_tail = "\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n";
        for (bad, why) in [
            (
                format!("junk\n{BEGIN_MESSAGE}\n\nA: b{good_tail}"),
                "before",
            ),
            (format!("{BEGIN_MESSAGE}\n\nA: b{good_tail}junk"), "after"),
            (format!("{BEGIN_MESSAGE}\n\n-A: b{good_tail}"), "dash"),
            (
                format!("{BEGIN_MESSAGE}\nComment: x\n\nA: b{good_tail}"),
                "header",
            ),
            (
                format!("{BEGIN_MESSAGE}\n\nA: b\u{1}{good_tail}"),
                "control",
            ),
            (
                format!("{BEGIN_MESSAGE}\n\nA: b{good_tail}{BEGIN_MESSAGE}\n\nA: c{good_tail}"),
                "second",
            ),
            (format!("{BEGIN_MESSAGE}\n\nA: b\n"), "end"),
        ] {
            let err = split_cleartext(&bad).err().unwrap().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn checks_index_paths() {
        for good in ["main/binary-amd64/Packages.xz", "Contents-amd64"] {
            assert!(check_index_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "main/../x",
            "./x",
            "a//b",
            "a/\u{7}",
            "a/",
        ] {
            assert!(check_index_path(bad).is_err(), "{bad:?}");
        }
    }

    fn release(lines: &[&str]) -> Result<Release, ReleaseError> {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        parse_release(&lines, "FP".to_string())
    }

    const HASH: &str = "2b3e2f3c5e4a5f1e9d3b9c1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e";

    #[test]
    fn parses_fields_and_picks_indexes() {
        let gz = format!(" {HASH} 10 main/binary-amd64/Packages.gz");
        let plain = format!(" {HASH} 30 main/binary-amd64/Packages");
        let r = release(&[
            "Origin: Test",
            "Date: Sat, 11 Jul 2026 10:16:37 UTC",
            "Architectures: amd64 arm64",
            "Components: main",
            "Acquire-By-Hash: yes",
            "SHA256:",
            &gz,
            &plain,
        ])
        .unwrap();
        assert_eq!(r.origin.as_deref(), Some("Test"));
        assert_eq!(r.architectures, ["amd64", "arm64"]);
        let (path, file, compression) = r.pick_index("main", "amd64").unwrap();
        assert_eq!(
            (path.as_str(), file.size, compression),
            ("main/binary-amd64/Packages.gz", 10, Compression::Gz)
        );
        assert_eq!(
            r.by_hash(&path).unwrap(),
            format!("main/binary-amd64/by-hash/SHA256/{HASH}")
        );
        let err = r.pick_index("main", "riscv64").unwrap_err().to_string();
        assert!(err.contains("offers main/binary-amd64"), "{err}");
    }

    #[test]
    fn refuses_bad_fields() {
        let date = "Date: Sat, 11 Jul 2026 10:16:37 UTC";
        let line = format!(" {HASH} 10 main/Packages");
        for (lines, why) in [
            (vec!["SHA256:", line.as_str()], "Date"),
            (vec![date], "SHA256"),
            (vec![date, "SHA256:", &line, &line], "twice"),
            (vec![date, date, "SHA256:"], "twice"),
            (vec![date, "SHA256:", " 12 10 main/Packages"], "hex"),
            (vec![date, "SHA256:", " zz"], "SHA256 SIZE PATH"),
            (vec![date, "", "SHA256:"], "paragraph"),
            (
                vec![date, "Acquire-By-Hash: maybe", "SHA256:"],
                "yes nor no",
            ),
        ] {
            let err = release(&lines).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn refuses_future_and_expired() {
        let r = release(&[
            "Date: Sat, 11 Jul 2026 10:16:37 UTC",
            "Valid-Until: Sun, 12 Jul 2026 10:16:37 UTC",
            "SHA256:",
        ])
        .unwrap();
        let strict = VerifyOptions::default();
        let lax = VerifyOptions {
            allow_expired: true,
        };
        let day = 86_400;
        assert!(check_dates(&r, at(1_783_764_997 + day / 2), &strict).is_ok());
        assert!(matches!(
            check_dates(&r, at(1_783_764_997 + 2 * day), &strict),
            Err(ReleaseError::Expired { .. })
        ));
        assert!(check_dates(&r, at(1_783_764_997 + 2 * day), &lax).is_ok());
        assert!(matches!(
            check_dates(&r, at(1_783_764_997 - 2 * day), &lax),
            Err(ReleaseError::FromTheFuture { .. })
        ));
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        let keyring = Keyring::from_bytes(b"no key");
        assert!(matches!(keyring, Err(ReleaseError::KeyringEmpty { .. })));
        let sig =
            decode_signatures("-----BEGIN PGP SIGNATURE-----\n\n!!\n-----END PGP SIGNATURE-----\n");
        assert!(sig.is_err());
        assert!(by_hash_path("Packages", &[0; 32]).starts_with("by-hash/SHA256/0000"));
    }
}
