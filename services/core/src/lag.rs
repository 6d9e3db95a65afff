//! Replication-latency buckets shared by regions and drills.
//!
//! A region keeps cumulative counts per bucket for each inbound link. A drill
//! samples them periodically and subtracts two samples to get the latencies
//! of one window, so percentiles over time need no reset and several
//! observers never interfere. Bounds grow by 2^(1/8) (about 9 %), so a
//! percentile read from buckets is at most one bucket width off: fine
//! enough to tell 48 ms from 52 ms, which a target of L + 10 ms needs.

/// Upper bound (inclusive, µs) of every bucket but the last; the last bucket
/// holds everything above the final bound.
pub const BUCKET_BOUNDS_MICROS: [u64; BUCKETS - 1] = bounds();

/// Number of buckets, including the overflow bucket.
pub const BUCKETS: usize = 162;

const fn bounds() -> [u64; BUCKETS - 1] {
    // 100 µs · 2^(i/8), i = 0..=160: 100 µs up to about 105 s.
    // Eighth-octave factors in fixed point (×10⁶), exact enough for bucketing.
    const EIGHTHS: [u64; 8] = [
        1_000_000, 1_090_508, 1_189_207, 1_296_840, 1_414_214, 1_542_211, 1_681_793, 1_834_008,
    ];
    let mut out = [0u64; BUCKETS - 1];
    let mut i = 0;
    while i < BUCKETS - 1 {
        let octave = (i / 8) as u32;
        out[i] = 100 * (1u64 << octave) * EIGHTHS[i % 8] / 1_000_000;
        i += 1;
    }
    out
}

/// Which bucket a latency falls into.
pub fn bucket_of(micros: u64) -> usize {
    BUCKET_BOUNDS_MICROS.partition_point(|&b| b < micros)
}

/// The upper bound of a bucket in µs (the overflow bucket reports its lower
/// bound, the largest finite value it can name).
pub fn bucket_upper_micros(bucket: usize) -> u64 {
    BUCKET_BOUNDS_MICROS[bucket.min(BUCKETS - 2)]
}

/// Counts of one window: `later - earlier`, element-wise. Returns `None` when
/// the samples do not line up (different lengths, or counts went backwards
/// because the region restarted), so a caller never reads a negative window.
pub fn window(earlier: &[u64], later: &[u64]) -> Option<Vec<u64>> {
    if earlier.is_empty() {
        return (later.len() == BUCKETS).then(|| later.to_vec());
    }
    if earlier.len() != BUCKETS || later.len() != BUCKETS {
        return None;
    }
    later
        .iter()
        .zip(earlier)
        .map(|(l, e)| l.checked_sub(*e))
        .collect()
}

/// The `q` quantile (0..=1) of bucketed counts, as the upper bound of the
/// bucket that holds it, in µs. `None` when there are no samples.
pub fn quantile_micros(counts: &[u64], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the quantile, 1-based, as HdrHistogram counts it.
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(bucket_upper_micros(i));
        }
    }
    Some(bucket_upper_micros(counts.len() - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_increase_and_span_100us_to_100s() {
        assert_eq!(BUCKET_BOUNDS_MICROS[0], 100);
        assert!(BUCKET_BOUNDS_MICROS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(BUCKET_BOUNDS_MICROS[8], 200);
        // No bucket is more than 9.1 % wider than the one below it.
        assert!(
            BUCKET_BOUNDS_MICROS
                .windows(2)
                .all(|w| w[1] * 1000 <= w[0] * 1091 + 1000)
        );
        assert!(BUCKET_BOUNDS_MICROS[BUCKETS - 2] > 100_000_000);
    }

    #[test]
    fn bucket_of_respects_inclusive_upper_bounds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(100), 0);
        assert_eq!(bucket_of(101), 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        for (i, &b) in BUCKET_BOUNDS_MICROS.iter().enumerate() {
            assert_eq!(bucket_of(b), i);
            assert_eq!(bucket_of(b + 1), i + 1);
        }
    }

    #[test]
    fn quantiles_of_a_window() {
        let mut before = vec![0u64; BUCKETS];
        before[bucket_of(1_000)] = 5;
        let mut after = before.clone();
        // 98 fast samples, 2 slow ones in the window.
        after[bucket_of(2_000)] += 98;
        after[bucket_of(50_000)] += 2;
        let w = window(&before, &after).unwrap();
        assert_eq!(w.iter().sum::<u64>(), 100);
        let p50 = quantile_micros(&w, 0.5).unwrap();
        assert!((2_000..2_200).contains(&p50), "{p50}");
        let p99 = quantile_micros(&w, 0.99).unwrap();
        assert!((50_000..55_000).contains(&p99), "{p99}");
        assert_eq!(quantile_micros(&vec![0; BUCKETS], 0.5), None);
    }

    #[test]
    fn window_refuses_counts_that_went_backwards() {
        let mut a = vec![0u64; BUCKETS];
        a[3] = 10;
        let b = vec![0u64; BUCKETS];
        assert_eq!(window(&a, &b), None);
        assert_eq!(window(&a, &b[..10]), None);
    }
}
