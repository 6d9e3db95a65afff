//! Versions: `(hlc, origin_region)`, totally ordered, unique per write.

use std::cmp::Ordering;
use std::fmt;

use crate::error::Error;
use crate::hlc::Timestamp;
use crate::key::validate_region_name;

/// The version of one write. Ordered by `(hlc.physical, hlc.logical, origin)`,
/// so no two regions can tie: the deterministic-winner invariant
/// (docs/architecture.md#invariants-and-where-they-are-held).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Version {
    pub hlc: Timestamp,
    pub origin: String,
}

impl Version {
    pub fn new(hlc: Timestamp, origin: impl Into<String>) -> Self {
        Version {
            hlc,
            origin: origin.into(),
        }
    }

    /// Compact and order-preserving: 12 timestamp bytes, then the origin.
    /// SQLite compares these BLOBs with `memcmp`, which matches `Ord`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(12 + self.origin.len());
        b.extend_from_slice(&self.hlc.to_bytes());
        b.extend_from_slice(self.origin.as_bytes());
        b
    }

    /// Parses and validates; the bytes may come from an untrusted peer.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        let (ts, origin) = b.split_first_chunk::<12>().ok_or_else(|| {
            Error::Decode(format!("version is {} bytes, need at least 13", b.len()))
        })?;
        let origin = std::str::from_utf8(origin)
            .map_err(|_| Error::Decode("version origin is not UTF-8".into()))?;
        validate_region_name(origin)?;
        Ok(Version::new(Timestamp::from_bytes(ts), origin))
    }

    /// The origin in a version's bytes, without decoding or copying the
    /// rest; `None` if the bytes are too short or the origin is not UTF-8.
    /// Not validated as a region name: [`Version::from_bytes`] does that.
    pub fn origin_of(b: &[u8]) -> Option<&str> {
        let (_, origin) = b.split_first_chunk::<12>()?;
        std::str::from_utf8(origin).ok().filter(|o| !o.is_empty())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hlc
            .cmp(&other.hlc)
            .then_with(|| self.origin.as_bytes().cmp(other.origin.as_bytes()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.hlc, self.origin)
    }
}

/// Parses the `Display` form, `secs.micros+logical@origin`, so versions a
/// user copies from output can be fed back as conditions.
impl std::str::FromStr for Version {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(
                "version",
                format!("{s:?} is not a version like 1763683200.123456+0@us-east-1"),
            )
        };
        let (ts, origin) = s.split_once('@').ok_or_else(bad)?;
        let (wall, logical) = ts.split_once('+').ok_or_else(bad)?;
        let (secs, micros) = wall.split_once('.').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if micros.len() != 6 || !digits(secs) || !digits(micros) || !digits(logical) {
            return Err(bad());
        }
        let secs: u64 = secs.parse().map_err(|_| bad())?;
        let micros: u64 = micros.parse().map_err(|_| bad())?;
        let physical = secs
            .checked_mul(1_000_000)
            .and_then(|s| s.checked_add(micros))
            .ok_or_else(bad)?;
        let logical: u32 = logical.parse().map_err(|_| bad())?;
        validate_region_name(origin)?;
        Ok(Version::new(Timestamp::new(physical, logical), origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        let v = Version::new(Timestamp::new(1_763_683_200_000_042, 7), "us-east-1");
        assert_eq!(v.to_string(), "1763683200.000042+7@us-east-1");
        assert_eq!(v.to_string().parse::<Version>().unwrap(), v);
        assert!("12.5+1@x".parse::<Version>().is_err());
        assert!("1.+00042++7@a".parse::<Version>().is_err());
        assert!("1.000001+1@Bad_Region".parse::<Version>().is_err());
    }

    #[test]
    fn the_origin_is_read_from_the_bytes() {
        let v = Version::new(Timestamp::new(42, 7), "eu-west-1");
        assert_eq!(Version::origin_of(&v.to_bytes()), Some("eu-west-1"));
        assert_eq!(Version::origin_of(&v.to_bytes()[..12]), None);
        assert_eq!(Version::origin_of(&[1, 2, 3]), None);
        let mut bad = v.to_bytes();
        bad.push(0xFF);
        assert_eq!(Version::origin_of(&bad), None);
    }
}
