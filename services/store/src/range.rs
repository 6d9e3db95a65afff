//! Sort-key ranges in encoded form: what a query, an index query and a
//! catalog read of one kind of row each bound their reads by. A leaf the
//! readers and the catalog share.

use std::ops::Bound;

/// A sort-key range, bounds in encoded form.
#[derive(Clone, Debug)]
pub struct SortRange {
    pub lower: Bound<Vec<u8>>,
    pub upper: Bound<Vec<u8>>,
}

impl SortRange {
    pub fn all() -> Self {
        SortRange {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
        }
    }

    /// Every encoded value that starts with `prefix` (strings and binary).
    pub fn prefix(prefix: &[u8]) -> Self {
        let mut upper = prefix.to_vec();
        // The smallest byte string greater than every string with this prefix.
        while let Some(last) = upper.pop() {
            if last < 0xFF {
                upper.push(last + 1);
                break;
            }
        }
        SortRange {
            lower: Bound::Included(prefix.to_vec()),
            upper: if upper.is_empty() {
                Bound::Unbounded
            } else {
                Bound::Excluded(upper)
            },
        }
    }
}
