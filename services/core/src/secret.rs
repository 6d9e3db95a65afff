//! Comparing secrets (admin tokens) so that the time taken says nothing of
//! where they differ.

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_only_when_every_byte_and_the_length_agree() {
        assert!(super::same_secret(b"token", b"token"));
        assert!(!super::same_secret(b"token", b"tokem"));
        assert!(!super::same_secret(b"token", b"token2"));
        assert!(!super::same_secret(b"", b"x"));
    }
}
