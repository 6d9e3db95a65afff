//! `--measure`: the distributions a run saw, and the replication profile
//! Meridian's cluster and scenario files load to behave like them.
//!
//! # The model being fitted
//!
//! Meridian's partition lanes (services/region/src/replication/lanes.rs)
//! make a write visible in a receiving region after the link's one-way
//! latency `L` plus a lane delay drawn from an exponential of mean `m`,
//! capped at `max`. So one write's lag from its acknowledgement in region A
//! to its first sighting in region B is `L + min(Exp(m), max)` (plus the
//! poll's own resolution, which the checker keeps to about a millisecond by
//! reading again a millisecond after an answer comes back: sooner would
//! spend the key's partition's read units, `Ctx::poll_item`).
//!
//! # Why quantiles
//!
//! [`estimate`] fits `L` and `m` per directed pair from two quantiles of the
//! lags: `q5 = L + a·m` and `q50 = L + b·m` with `a = −ln 0.95` and
//! `b = ln 2` (the exponential's 5th percentile and median), so
//! `m = (q50 − q5)/(b − a)` and `L = q5 − a·m`. The brief's alternatives are
//! kept beside it but not used for the profile:
//!
//! - `mean − min` is the exponential's mean above its floor only when the
//!   tail is clean: one GC pause, one retransmission, one slow poll moves the
//!   mean by (stall / n) and the minimum is the single most extreme sample
//!   there is. Quantiles move by at most one rank per outlier.
//! - the cap biases the mean downward (`E[min(X, c)] = m(1 − e^{−c/m})`) but
//!   leaves the median alone as long as `c > m ln 2`.
//! - the reordering rate `P(B before A | δ) = ½·e^{−δ/m}` needs reorderings,
//!   which are rare by nature (a few in hundreds of pairs when `m` is a few
//!   milliseconds and δ is one write's latency): its binomial noise is far
//!   larger than the lag quantiles' for the same run length, and it reads 0
//!   on a log-ordered system whatever its lag. It is reported as a cross-check
//!   ([`reorder_mle`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One write's lag from its acknowledgement in `from` to its first sighting
/// in `to`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LagSample {
    pub from: String,
    pub to: String,
    pub lag_ms: f64,
}

/// One pair of writes (item A, then item B, different partition keys) in
/// one region, and whether another region showed B without A.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReorderSample {
    /// Time between the two acknowledgements.
    pub gap_ms: f64,
    pub reordered: bool,
}

/// What a run collected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub lags: Vec<LagSample>,
    pub reorders: Vec<ReorderSample>,
}

/// One directed pair's lag distribution and the fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairStats {
    /// `from>to`, as the fault API names the link.
    pub pair: String,
    pub n: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub stddev_ms: f64,
    /// Fitted one-way latency `L`.
    pub latency_ms: f64,
    /// Fitted lane delay mean `m`.
    pub lane_delay_ms: f64,
}

/// The reordering cross-check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReorderStats {
    pub observed: usize,
    pub samples: usize,
    pub mean_gap_ms: f64,
    /// Maximum-likelihood `m` of `½·e^{−δ/m}`; `None` when nothing was
    /// reordered (the likelihood is then largest at m = 0).
    pub lane_delay_ms_mle: Option<f64>,
}

/// The fitted profile: the four cluster-file keys and the per-pair figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `partition` when any reordering was seen, else `log`.
    pub replication_order: String,
    /// Not observable from outside: how many partitions a table has is
    /// DynamoDB's business. Written as [`DEFAULT_PARTITIONS`].
    pub replication_partitions: u32,
    pub replication_lane_delay_ms: f64,
    pub replication_lane_delay_max_ms: f64,
    pub pairs: Vec<PairStats>,
    pub reordering: Option<ReorderStats>,
}

/// What the profile says for `replication_partitions`, which no client can
/// measure.
pub const DEFAULT_PARTITIONS: u32 = 16;

const A5: f64 = 0.051_293_294_387_550_53; // −ln 0.95
const B50: f64 = std::f64::consts::LN_2;

/// The `p`-quantile (0..=1) of sorted values, interpolated linearly.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Fits `L` and `m` to one pair's lags (see the module docs).
pub fn fit_pair(pair: &str, lags: &[f64]) -> PairStats {
    let mut v: Vec<f64> = lags.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n.max(1) as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
    let (q5, q50) = (quantile(&v, 0.05), quantile(&v, 0.5));
    let m = ((q50 - q5) / (B50 - A5)).max(0.0);
    let l = (q5 - A5 * m).max(0.0);
    PairStats {
        pair: pair.into(),
        n,
        min_ms: v.first().copied().unwrap_or(f64::NAN),
        p50_ms: q50,
        p90_ms: quantile(&v, 0.9),
        p99_ms: quantile(&v, 0.99),
        max_ms: v.last().copied().unwrap_or(f64::NAN),
        mean_ms: mean,
        stddev_ms: var.sqrt(),
        latency_ms: l,
        lane_delay_ms: m,
    }
}

/// Maximum-likelihood `m` of `P(reordered | δ) = ½·e^{−δ/m}`, by a search
/// over a log grid from 10 µs to 100 s refined by golden section.
pub fn reorder_mle(samples: &[ReorderSample]) -> Option<f64> {
    if !samples.iter().any(|s| s.reordered) {
        return None;
    }
    let ll = |m: f64| -> f64 {
        samples
            .iter()
            .map(|s| {
                let p = (0.5 * (-s.gap_ms.max(0.0) / m).exp()).clamp(1e-12, 1.0 - 1e-12);
                if s.reordered { p.ln() } else { (1.0 - p).ln() }
            })
            .sum()
    };
    let grid: Vec<f64> = (0..=140)
        .map(|i| 10f64.powf(-2.0 + i as f64 * 0.05))
        .collect();
    let best = (0..grid.len()).max_by(|&a, &b| ll(grid[a]).total_cmp(&ll(grid[b])))?;
    let (mut lo, mut hi) = (
        grid[best.saturating_sub(1)],
        grid[(best + 1).min(grid.len() - 1)],
    );
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (c, d) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if ll(c) > ll(d) { hi = d } else { lo = c }
    }
    Some((lo + hi) / 2.0)
}

/// Fits the profile to what a run collected.
pub fn estimate(samples: &Samples) -> Profile {
    let mut by_pair: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in &samples.lags {
        by_pair
            .entry(meridian_layout::link_name(&s.from, &s.to))
            .or_default()
            .push(s.lag_ms);
    }
    let pairs: Vec<PairStats> = by_pair.iter().map(|(p, v)| fit_pair(p, v)).collect();
    let total: usize = pairs.iter().map(|p| p.n).sum();
    // The lane delay is one figure for the whole cluster in the cluster
    // file: the pairs' fits, weighted by how many lags each rests on.
    let lane = if total == 0 {
        0.0
    } else {
        pairs
            .iter()
            .map(|p| p.lane_delay_ms * p.n as f64)
            .sum::<f64>()
            / total as f64
    };
    // The cap: the largest delay above its pair's floor that was seen. A
    // larger cap would let the simulation make delays nobody observed.
    let max = pairs
        .iter()
        .map(|p| p.max_ms - p.latency_ms)
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max)
        .max(lane);
    let reordering = (!samples.reorders.is_empty()).then(|| ReorderStats {
        observed: samples.reorders.iter().filter(|s| s.reordered).count(),
        samples: samples.reorders.len(),
        mean_gap_ms: samples.reorders.iter().map(|s| s.gap_ms).sum::<f64>()
            / samples.reorders.len() as f64,
        lane_delay_ms_mle: reorder_mle(&samples.reorders),
    });
    let order = match &reordering {
        Some(r) if r.observed > 0 => "partition",
        _ => "log",
    };
    Profile {
        replication_order: order.into(),
        replication_partitions: DEFAULT_PARTITIONS,
        replication_lane_delay_ms: round3(lane),
        replication_lane_delay_max_ms: round3(max),
        pairs,
        reordering,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Profile {
    /// The TOML fragment a cluster or scenario file takes (docs/conformance.md,
    /// *The profile*). `measured_on` names the endpoints, `when` the time.
    pub fn to_toml(&self, measured_on: &str, when: &str) -> String {
        let mut s = String::new();
        s.push_str("# Replication profile written by `meridian conformance --measure`.\n");
        s.push_str(&format!(
            "# Measured on: {measured_on}\n# Measured at: {when}\n"
        ));
        s.push_str(
            "# Fit: per directed pair, latency = q5 - 0.0513*m and lane delay m = (q50 - q5)/0.642\n\
             # of the lag from a write's acknowledgement to its first sighting in the other region\n\
             # (docs/conformance.md). Paste the top-level keys into a cluster file.\n",
        );
        if let Some(r) = &self.reordering {
            s.push_str(&format!(
                "# Reordering between partitions: {} of {} pairs, mean commit gap {:.3} ms",
                r.observed, r.samples, r.mean_gap_ms
            ));
            match r.lane_delay_ms_mle {
                Some(m) => s.push_str(&format!(
                    "; its own estimate of the lane delay: {m:.3} ms\n"
                )),
                None => s.push_str("; no estimate of the lane delay from it\n"),
            }
        }
        s.push_str(&format!(
            "replication_order = \"{}\"\n",
            self.replication_order
        ));
        s.push_str(
            "# Not observable from outside the service; Meridian's value to model partitions.\n",
        );
        s.push_str(&format!(
            "replication_partitions = {}\n",
            self.replication_partitions
        ));
        s.push_str(&format!(
            "replication_lane_delay_ms = {}\n",
            fmt_f(self.replication_lane_delay_ms)
        ));
        s.push_str(&format!(
            "replication_lane_delay_max_ms = {}\n\n",
            fmt_f(self.replication_lane_delay_max_ms)
        ));
        s.push_str("[profile]\n# One-way link latency per directed pair, ms (\"from>to\", as the proxies are named).\n");
        s.push_str("latency_ms = { ");
        let body: Vec<String> = self
            .pairs
            .iter()
            .map(|p| format!("\"{}\" = {}", p.pair, fmt_f(round3(p.latency_ms))))
            .collect();
        s.push_str(&body.join(", "));
        s.push_str(" }\n");
        s.push_str("# The observed lag per pair: n, min, p50, p90, p99, max, mean, stddev (ms), lane delay fit.\n");
        for p in &self.pairs {
            s.push_str(&format!(
                "# {}: n={} min={:.3} p50={:.3} p90={:.3} p99={:.3} max={:.3} mean={:.3} sd={:.3} m={:.3}\n",
                p.pair, p.n, p.min_ms, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.mean_ms, p.stddev_ms,
                p.lane_delay_ms
            ));
        }
        s
    }
}

/// `secs` since the Unix epoch as RFC 3339 UTC (`2026-11-27T13:47:47Z`),
/// for the profile's comment (the calendar is `meridian_core::utc`'s).
pub fn utc_timestamp(secs: u64) -> String {
    let (y, m, d) = meridian_core::utc::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A float TOML always reads as a float (`3.0`, never `3`).
fn fmt_f(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') || s.contains('e') || !x.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn exp(rng: &mut StdRng, mean: f64) -> f64 {
        -mean * (1.0 - rng.random::<f64>()).ln()
    }

    /// Lags drawn from the lane model with known parameters come back.
    /// Tolerance: the lane mean within 10 %, the latency within 0.1·m
    /// (3,000 lags per pair: the median's standard error is about 3.5 % of m).
    #[test]
    fn lags_from_known_parameters_give_them_back() {
        let mut rng = StdRng::seed_from_u64(7);
        let truth = [
            ("us-east-1", "eu-west-1", 40.0),
            ("eu-west-1", "us-east-1", 38.0),
            ("us-east-1", "ap-southeast-1", 110.0),
        ];
        let (m, cap) = (5.0, 200.0);
        let mut samples = Samples::default();
        for (from, to, l) in truth {
            for _ in 0..3000 {
                // Plus a poll resolution of up to 1 ms, as the checker's poller sees.
                let lag = l + exp(&mut rng, m).min(cap) + rng.random::<f64>();
                samples.lags.push(LagSample {
                    from: from.into(),
                    to: to.into(),
                    lag_ms: lag,
                });
            }
        }
        let p = estimate(&samples);
        assert_eq!(p.pairs.len(), 3);
        for (from, to, l) in truth {
            let pair = p
                .pairs
                .iter()
                .find(|x| x.pair == meridian_layout::link_name(from, to))
                .unwrap();
            assert!((pair.latency_ms - l).abs() < 0.1 * m + 0.2, "{pair:?}");
            assert!((pair.lane_delay_ms - m).abs() < 0.1 * m, "{pair:?}");
        }
        assert!((p.replication_lane_delay_ms - m).abs() < 0.1 * m, "{p:?}");
        assert!(p.replication_lane_delay_max_ms >= p.replication_lane_delay_ms);
        assert_eq!(
            p.replication_order, "log",
            "no reordering samples: no evidence of partitions"
        );
    }

    /// A few huge stalls (a GC pause, a retransmission) barely move the fit,
    /// where they would move mean − min by stall/n each.
    #[test]
    fn stalls_do_not_move_the_fit() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut lags: Vec<f64> = (0..2000).map(|_| 20.0 + exp(&mut rng, 3.0)).collect();
        lags.extend([2000.0, 3000.0, 5000.0, 8000.0]);
        let s = fit_pair("a>b", &lags);
        assert!((s.lane_delay_ms - 3.0).abs() < 0.3, "{s:?}");
        assert!((s.latency_ms - 20.0).abs() < 0.3, "{s:?}");
        assert!(
            s.mean_ms - s.min_ms > 3.0 + 5.0,
            "the naive estimator is thrown far off"
        );
    }

    /// Reorderings drawn from ½·e^{−δ/m} give m back within 15 % (5,000 pairs).
    #[test]
    fn reordering_rate_gives_the_lane_delay_back() {
        let mut rng = StdRng::seed_from_u64(3);
        let m = 6.0;
        let reorders: Vec<ReorderSample> = (0..5000)
            .map(|_| {
                let gap = rng.random::<f64>() * 20.0;
                let reordered = rng.random::<f64>() < 0.5 * (-gap / m).exp();
                ReorderSample {
                    gap_ms: gap,
                    reordered,
                }
            })
            .collect();
        let est = reorder_mle(&reorders).unwrap();
        assert!((est - m).abs() < 0.15 * m, "{est}");
        let p = estimate(&Samples {
            lags: vec![],
            reorders,
        });
        assert_eq!(p.replication_order, "partition");
    }

    #[test]
    fn no_reordering_has_no_estimate() {
        let r = vec![
            ReorderSample {
                gap_ms: 1.0,
                reordered: false
            };
            50
        ];
        assert_eq!(reorder_mle(&r), None);
    }

    #[test]
    fn the_profile_is_toml_with_the_four_keys_and_the_latencies() {
        let mut rng = StdRng::seed_from_u64(5);
        let lags = (0..500)
            .map(|_| LagSample {
                from: "a".into(),
                to: "b".into(),
                lag_ms: 10.0 + exp(&mut rng, 2.0),
            })
            .collect();
        let p = estimate(&Samples {
            lags,
            reorders: vec![ReorderSample {
                gap_ms: 1.0,
                reordered: true,
            }],
        });
        let text = p.to_toml("a=http://x, b=http://y", "2026-11-27T14:00:00Z");
        let v: toml::Value = toml::from_str(&text).expect(&text);
        assert_eq!(v["replication_order"].as_str(), Some("partition"));
        assert_eq!(
            v["replication_partitions"].as_integer(),
            Some(DEFAULT_PARTITIONS as i64)
        );
        assert!(v["replication_lane_delay_ms"].as_float().unwrap() > 1.0);
        assert!(v["replication_lane_delay_max_ms"].as_float().is_some());
        let l = v["profile"]["latency_ms"]["a>b"].as_float().unwrap();
        assert!((l - 10.0).abs() < 0.5, "{l}");
        assert!(text.contains("# Measured at: 2026-11-27T14:00:00Z"));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_795_787_267), "2026-11-27T13:47:47Z");
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert_eq!(quantile(&v, 0.5), 2.5);
    }
}
