//! The build's notion of time: `SOURCE_DATE_EPOCH` (default 0), never the wall clock.
//!
//! Owns: reading and validating `SOURCE_DATE_EPOCH`, formatting it as RFC 3339 for OCI
//! `created` fields. Invariant: nothing kiln writes depends on the current time.

/// Seconds since the Unix epoch that every timestamp in the image uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch(pub u64);

/// A `SOURCE_DATE_EPOCH` that is not a whole number of seconds a tar header can hold.
#[derive(Debug, thiserror::Error)]
#[error("SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not {value:?}")]
pub struct EpochError {
    /// The value as given.
    pub value: String,
}

impl Epoch {
    /// From the environment: `SOURCE_DATE_EPOCH` if set and not empty, else 0.
    pub fn from_env() -> Result<Epoch, EpochError> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.trim().is_empty() => Epoch::parse(&v),
            _ => Ok(Epoch(0)),
        }
    }

    /// Parses a number of seconds (surrounding whitespace ignored); errors unless it is a whole number below 8^11 (what a tar header holds).
    pub fn parse(v: &str) -> Result<Epoch, EpochError> {
        let t = v.trim();
        // Tar headers hold 11 octal digits; 8^11 - 1 seconds is the year 2242.
        match t.parse::<u64>() {
            Ok(n) if n < 8u64.pow(11) => Ok(Epoch(n)),
            _ => Err(EpochError {
                value: v.to_string(),
            }),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn rfc3339(self) -> String {
        let secs = self.0;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Epoch(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Epoch(951_782_400).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Epoch(1_700_000_000).rfc3339(), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn rejects_garbage() {
        assert!(Epoch::parse("-1").is_err());
        assert!(Epoch::parse("1e9").is_err());
        assert!(Epoch::parse("99999999999999").is_err());
        assert_eq!(Epoch::parse(" 42 ").unwrap(), Epoch(42));
    }
}
