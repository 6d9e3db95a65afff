//! Causal contexts: which earlier writes to a key a write descends from.
//!
//! A single `prev` says which write the writer replaced, but not what that
//! write had itself seen, so a rule on `prev` alone misses conflicts whose
//! loser was beaten by a *descendant* of a concurrent write. A context
//! keeps, per origin region, the highest version of that origin in the
//! write's history for this key. It has at most one entry per region.
//!
//! `ctx(w) = ctx(head it replaced) ⊔ {w}`, and a write `a` has seen `b`
//! when `ctx(a)[b.origin] >= b`. See docs/conflicts.md for why this is
//! exact for lost updates at their origin region.

use crate::error::Error;
use crate::version::Version;

/// Most origins a context may name; a cluster has far fewer regions.
pub const MAX_CONTEXT_ORIGINS: usize = 64;

/// Highest seen version per origin, sorted by origin, one entry per origin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Context(Vec<Version>);

impl Context {
    pub fn empty() -> Self {
        Context(Vec::new())
    }

    /// The context of a write `v` made over a head whose context is `self`.
    pub fn after(&self, v: &Version) -> Context {
        let mut out = self.0.clone();
        match out.binary_search_by(|s| s.origin.as_bytes().cmp(v.origin.as_bytes())) {
            Ok(i) => {
                if out[i] < *v {
                    out[i] = v.clone();
                }
            }
            Err(i) => out.insert(i, v.clone()),
        }
        Context(out)
    }

    /// The context of a write at a key that holds nothing where tombstones
    /// at or below `h` were purged: any write to the key at or below `h`,
    /// from any of `origins`, was held there and deleted since, so the new
    /// write descends from it (docs/repair.md, "Purging tombstones").
    pub fn seen_through(h: crate::hlc::Timestamp, origins: &[String]) -> Context {
        let mut out: Vec<Version> = origins.iter().map(|o| Version::new(h, o)).collect();
        out.sort_by(|a, b| a.origin.as_bytes().cmp(b.origin.as_bytes()));
        out.dedup_by(|a, b| a.origin == b.origin);
        out.truncate(MAX_CONTEXT_ORIGINS);
        Context(out)
    }

    /// Whether a write with this context had seen `v`.
    pub fn saw(&self, v: &Version) -> bool {
        self.0.iter().any(|s| s.origin == v.origin && s >= v)
    }

    pub fn entries(&self) -> &[Version] {
        &self.0
    }

    /// Length-prefixed version bytes, in origin order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 24);
        for v in &self.0 {
            let b = v.to_bytes();
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
        }
        out
    }

    /// Parses and validates; the bytes may come from an untrusted peer.
    pub fn from_bytes(mut b: &[u8]) -> Result<Self, Error> {
        let mut out: Vec<Version> = Vec::new();
        while let Some((&len, rest)) = b.split_first() {
            let len = usize::from(len);
            if rest.len() < len {
                return Err(Error::Decode("context entry runs past the end".into()));
            }
            let v = Version::from_bytes(&rest[..len])?;
            if out
                .last()
                .is_some_and(|last| last.origin.as_bytes() >= v.origin.as_bytes())
            {
                return Err(Error::Decode(
                    "context origins must be strictly sorted".into(),
                ));
            }
            out.push(v);
            if out.len() > MAX_CONTEXT_ORIGINS {
                return Err(Error::Decode(format!(
                    "context names more than {MAX_CONTEXT_ORIGINS} origins"
                )));
            }
            b = &rest[len..];
        }
        Ok(Context(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Timestamp;

    fn v(p: u64, o: &str) -> Version {
        Version::new(Timestamp::new(p, 0), o)
    }

    #[test]
    fn after_keeps_the_highest_per_origin_and_round_trips() {
        let c = Context::empty()
            .after(&v(5, "b-1"))
            .after(&v(3, "a-1"))
            .after(&v(2, "b-1"));
        assert_eq!(c.entries(), &[v(3, "a-1"), v(5, "b-1")]);
        assert!(c.saw(&v(4, "b-1")) && c.saw(&v(3, "a-1")));
        assert!(!c.saw(&v(4, "a-1")) && !c.saw(&v(1, "c-1")));
        assert_eq!(Context::from_bytes(&c.to_bytes()).unwrap(), c);
        let mut unsorted = v(5, "b-1").to_bytes();
        unsorted.insert(0, unsorted.len() as u8);
        let a = v(3, "a-1").to_bytes();
        unsorted.push(a.len() as u8);
        unsorted.extend_from_slice(&a);
        assert!(Context::from_bytes(&unsorted).is_err());
        assert!(Context::from_bytes(&[40, 1, 2]).is_err());
    }

    #[test]
    fn seen_through_covers_every_origin_up_to_the_horizon() {
        let c = Context::seen_through(Timestamp::new(10, 0), &["b-1".into(), "a-1".into()])
            .after(&v(12, "a-1"));
        assert!(c.saw(&v(10, "b-1")) && c.saw(&v(9, "a-1")) && c.saw(&v(12, "a-1")));
        assert!(!c.saw(&v(11, "b-1")) && !c.saw(&v(1, "c-1")));
        assert_eq!(Context::from_bytes(&c.to_bytes()).unwrap(), c);
    }
}
