//! Link jitter in simulated drills, as a pure function of the seed, the
//! link and virtual time.
//!
//! turmoil draws every message's delay from one random stream that all
//! links share, so a single extra frame anywhere shifts the delay of every
//! later message on every link. HTTP/2 sends such frames on a timer of real
//! time: h2 forgets a reset stream after a second of wall-clock time and
//! answers a late frame for it with one more `RST_STREAM`, so on a busy
//! machine a refusal, a cancelled call or a crash could change every figure
//! after it, and a report did not replay byte for byte. Instead, turmoil's
//! own per-message range is kept at zero and each link's latency is set,
//! once per millisecond of virtual time, to its base plus a draw keyed by
//! (seed, link, millisecond): no amount of traffic can move it.
//!
//! The draw is exponential with the scenario's jitter as its mean and
//! capped at five times the mean, the same curve turmoil's own jitter had
//! here before.

use std::time::Duration;

/// The cap on one draw, in means.
const CAP: f64 = 5.0;

/// The jitter added to the base latency of the link between `a` and `b`
/// during the millisecond of virtual time that contains `at`.
pub fn at(seed: u64, a: &str, b: &str, at: Duration, mean: Duration) -> Duration {
    if mean.is_zero() {
        return Duration::ZERO;
    }
    // FNV-1a over the link's names, then the millisecond, mixed by
    // splitmix64: stable across runs, builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for byte in a.bytes().chain([b'|']).chain(b.bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    let u = unit(splitmix(h ^ splitmix(at.as_millis() as u64)));
    mean.mul_f64((-u.ln()).min(CAP))
}

/// A uniform draw in (0, 1) from 53 bits of `x`.
fn unit(x: u64) -> f64 {
    ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEAN: Duration = Duration::from_millis(4);

    #[test]
    fn the_same_seed_link_and_millisecond_give_the_same_jitter() {
        let t = Duration::from_micros(12_345_678);
        assert_eq!(at(7, "r1", "r2", t, MEAN), at(7, "r1", "r2", t, MEAN));
        // Within one millisecond the draw holds.
        let later = t + Duration::from_micros(300);
        assert_eq!(at(7, "r1", "r2", t, MEAN), at(7, "r1", "r2", later, MEAN));
    }

    #[test]
    fn seeds_links_and_milliseconds_draw_apart() {
        let t = Duration::from_millis(1_000);
        let base = at(7, "r1", "r2", t, MEAN);
        let others = [
            at(8, "r1", "r2", t, MEAN),
            at(7, "r1", "r3", t, MEAN),
            at(7, "r1", "r2", t + Duration::from_millis(1), MEAN),
        ];
        assert!(others.iter().any(|o| *o != base), "{base:?} {others:?}");
    }

    #[test]
    fn draws_have_the_mean_and_stay_under_the_cap() {
        let n = 20_000u64;
        let total: Duration = (0..n)
            .map(|ms| {
                let j = at(3, "a", "b", Duration::from_millis(ms), MEAN);
                assert!(j <= MEAN.mul_f64(CAP), "{j:?} passes the cap");
                j
            })
            .sum();
        let mean = total.as_secs_f64() / n as f64;
        // Exponential capped at 5 means: mean (1 - e^-5) ≈ 0.993 of it.
        let want = MEAN.as_secs_f64() * (1.0 - (-CAP).exp());
        assert!(
            (mean - want).abs() < want * 0.05,
            "mean {mean} against {want}"
        );
    }

    #[test]
    fn no_jitter_is_no_jitter() {
        assert_eq!(
            at(1, "a", "b", Duration::from_secs(3), Duration::ZERO),
            Duration::ZERO
        );
    }
}
