//! Toxics: what a link does to the bytes that cross it, per direction.
//!
//! The names and attributes are Toxiproxy's, so its clients drive this proxy
//! unmodified. `latency` also takes a `distribution` (`uniform`, `normal` or
//! `pareto`) for the jitter. `loss` and `flap` are Meridian extensions; any
//! Toxiproxy client can add them, since it passes the type through as text.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tokio::time::Instant;

/// Which way bytes flow: `upstream` is client to server, `downstream` back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    Uniform,
    Normal,
    Pareto,
}

/// One toxic's effect.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Delay every chunk by `latency` ± jitter drawn from `distribution`.
    Latency {
        latency_ms: u64,
        jitter_ms: u64,
        distribution: Distribution,
    },
    /// At most `rate_kb` KB per second.
    Bandwidth { rate_kb: u64 },
    /// Stop all data; close after `timeout_ms`, or never when 0 (a blackhole).
    Timeout { timeout_ms: u64 },
    /// Reset the connection (TCP RST) after `timeout_ms`.
    ResetPeer { timeout_ms: u64 },
    /// Delay closing by `delay_ms`.
    SlowClose { delay_ms: u64 },
    /// Close the connection after `bytes` bytes.
    LimitData { bytes: u64 },
    /// Packet loss as TCP shows it to the application: each chunk, with
    /// probability `percent`/100, is held for one retransmission timeout,
    /// and the chunks after it wait behind it.
    ///
    /// A proxy sees a byte stream, not packets. Dropping bytes would corrupt
    /// the stream (gRPC would see garbage frames), which no real loss does:
    /// TCP retransmits the lost segment after its retransmission timeout and
    /// delivers nothing after the gap until it arrives (head-of-line
    /// blocking). So a loss costs the stream one RTO of stall, in order.
    Loss { percent: f64, rto_ms: u64 },
    /// An intermittent blackhole: bytes are accepted and dropped for the
    /// first `down_ms` of every `period_ms`, counted from `since` (when the
    /// toxic was added), and pass the rest of the time.
    Flap {
        period_ms: u64,
        down_ms: u64,
        since: Instant,
    },
}

/// Retransmission timeout of `loss` when none is given: Linux's minimum RTO.
pub const DEFAULT_RTO_MS: u64 = 200;
/// Largest `rto_ms`: Linux's maximum RTO.
pub const MAX_RTO_MS: u64 = 120_000;
/// Shortest flap period; shorter ones are noise, not a flapping link.
pub const MIN_FLAP_PERIOD_MS: u64 = 100;
/// Longest flap period: one day.
pub const MAX_FLAP_PERIOD_MS: u64 = 86_400_000;

/// A named toxic on a proxy, as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Toxic {
    pub name: String,
    pub stream: Stream,
    /// Probability that a new connection gets this toxic.
    pub toxicity: f64,
    pub effect: Effect,
}

#[derive(Debug, thiserror::Error)]
pub enum ToxicError {
    #[error(
        "unknown toxic type {0:?}; supported: latency, bandwidth, timeout, reset_peer, slow_close, limit_data, loss, flap"
    )]
    UnknownType(String),
    #[error("attribute {name}: {reason}")]
    Attribute { name: String, reason: String },
}

fn attr_u64(
    attrs: &Map<String, Json>,
    name: &str,
    default: Option<u64>,
) -> Result<u64, ToxicError> {
    match attrs.get(name) {
        None | Some(Json::Null) => default.ok_or_else(|| ToxicError::Attribute {
            name: name.into(),
            reason: "required".into(),
        }),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(|f| f as u64)
            })
            .filter(|n| *n <= 86_400_000_000)
            .ok_or_else(|| ToxicError::Attribute {
                name: name.into(),
                reason: format!("must be a non-negative number, got {v}"),
            }),
    }
}

fn attr_f64(
    attrs: &Map<String, Json>,
    name: &str,
    default: Option<f64>,
) -> Result<f64, ToxicError> {
    match attrs.get(name) {
        None | Some(Json::Null) => default.ok_or_else(|| ToxicError::Attribute {
            name: name.into(),
            reason: "required".into(),
        }),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| ToxicError::Attribute {
                name: name.into(),
                reason: format!("must be a number, got {v}"),
            }),
    }
}

fn out_of_range(name: &str, reason: String) -> ToxicError {
    ToxicError::Attribute {
        name: name.into(),
        reason,
    }
}

impl Effect {
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Latency { .. } => "latency",
            Effect::Bandwidth { .. } => "bandwidth",
            Effect::Timeout { .. } => "timeout",
            Effect::ResetPeer { .. } => "reset_peer",
            Effect::SlowClose { .. } => "slow_close",
            Effect::LimitData { .. } => "limit_data",
            Effect::Loss { .. } => "loss",
            Effect::Flap { .. } => "flap",
        }
    }

    /// Builds an effect from a Toxiproxy type and attributes.
    pub fn parse(kind: &str, attrs: &Map<String, Json>) -> Result<Effect, ToxicError> {
        Ok(match kind {
            "latency" => Effect::Latency {
                latency_ms: attr_u64(attrs, "latency", Some(0))?,
                jitter_ms: attr_u64(attrs, "jitter", Some(0))?,
                distribution: match attrs.get("distribution").and_then(Json::as_str) {
                    None | Some("uniform") => Distribution::Uniform,
                    Some("normal") => Distribution::Normal,
                    Some("pareto") => Distribution::Pareto,
                    Some(other) => {
                        return Err(ToxicError::Attribute {
                            name: "distribution".into(),
                            reason: format!("{other:?} is not uniform, normal or pareto"),
                        });
                    }
                },
            },
            "bandwidth" => {
                let rate_kb = attr_u64(attrs, "rate", None)?;
                if rate_kb == 0 {
                    return Err(ToxicError::Attribute {
                        name: "rate".into(),
                        reason: "must be at least 1 KB/s; use timeout=0 to stop traffic".into(),
                    });
                }
                Effect::Bandwidth { rate_kb }
            }
            "timeout" => Effect::Timeout {
                timeout_ms: attr_u64(attrs, "timeout", Some(0))?,
            },
            "reset_peer" => Effect::ResetPeer {
                timeout_ms: attr_u64(attrs, "timeout", Some(0))?,
            },
            "slow_close" => Effect::SlowClose {
                delay_ms: attr_u64(attrs, "delay", Some(0))?,
            },
            "limit_data" => Effect::LimitData {
                bytes: attr_u64(attrs, "bytes", Some(0))?,
            },
            "loss" => {
                let percent = attr_f64(attrs, "percent", None)?;
                if !(0.0..=100.0).contains(&percent) {
                    return Err(out_of_range(
                        "percent",
                        format!("must be between 0 and 100, got {percent}"),
                    ));
                }
                let rto_ms = attr_u64(attrs, "rto_ms", Some(DEFAULT_RTO_MS))?;
                if !(1..=MAX_RTO_MS).contains(&rto_ms) {
                    return Err(out_of_range(
                        "rto_ms",
                        format!("must be between 1 and {MAX_RTO_MS} ms, got {rto_ms}"),
                    ));
                }
                Effect::Loss { percent, rto_ms }
            }
            "flap" => {
                let period_ms = attr_u64(attrs, "period_ms", None)?;
                let down_ms = attr_u64(attrs, "down_ms", None)?;
                if !(MIN_FLAP_PERIOD_MS..=MAX_FLAP_PERIOD_MS).contains(&period_ms) {
                    return Err(out_of_range(
                        "period_ms",
                        format!(
                            "must be between {MIN_FLAP_PERIOD_MS} and {MAX_FLAP_PERIOD_MS} ms, got {period_ms}"
                        ),
                    ));
                }
                if down_ms == 0 || down_ms >= period_ms {
                    return Err(out_of_range(
                        "down_ms",
                        format!(
                            "must be more than 0 and less than period_ms ({period_ms}), got {down_ms}"
                        ),
                    ));
                }
                Effect::Flap {
                    period_ms,
                    down_ms,
                    since: Instant::now(),
                }
            }
            other => return Err(ToxicError::UnknownType(other.into())),
        })
    }

    pub fn attributes(&self) -> Json {
        match self {
            Effect::Latency {
                latency_ms,
                jitter_ms,
                distribution,
            } => {
                serde_json::json!({"latency": latency_ms, "jitter": jitter_ms, "distribution": distribution})
            }
            Effect::Bandwidth { rate_kb } => serde_json::json!({"rate": rate_kb}),
            Effect::Timeout { timeout_ms } => serde_json::json!({"timeout": timeout_ms}),
            Effect::ResetPeer { timeout_ms } => serde_json::json!({"timeout": timeout_ms}),
            Effect::SlowClose { delay_ms } => serde_json::json!({"delay": delay_ms}),
            Effect::LimitData { bytes } => serde_json::json!({"bytes": bytes}),
            Effect::Loss { percent, rto_ms } => {
                serde_json::json!({"percent": percent, "rto_ms": rto_ms})
            }
            Effect::Flap {
                period_ms, down_ms, ..
            } => serde_json::json!({"period_ms": period_ms, "down_ms": down_ms}),
        }
    }
}

/// Whether a flapping link is down at `now`: during the first `down_ms` of
/// every `period_ms` since `since`.
pub fn flap_is_down(period_ms: u64, down_ms: u64, since: Instant, now: Instant) -> bool {
    let period = u128::from(period_ms.max(1)) * 1_000_000;
    let into = now.saturating_duration_since(since).as_nanos() % period;
    into < u128::from(down_ms) * 1_000_000
}

/// Draws one delay for a chunk. Jitter is symmetric around `latency` for
/// uniform and normal (σ = jitter), and a heavy right tail for Pareto
/// (shape 2, scale such that the median extra delay is about `jitter`).
pub fn sample_delay(
    rng: &mut impl Rng,
    latency_ms: u64,
    jitter_ms: u64,
    distribution: Distribution,
) -> Duration {
    let (l, j) = (latency_ms as f64, jitter_ms as f64);
    let ms = if j == 0.0 {
        l
    } else {
        match distribution {
            Distribution::Uniform => l + rng.random_range(-j..=j),
            Distribution::Normal => {
                // Box-Muller.
                let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
                l + j * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            }
            Distribution::Pareto => {
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                // Scale x_m with median x_m·2^(1/2) ≈ j.
                let xm = j / std::f64::consts::SQRT_2;
                l + xm / u.sqrt() - xm
            }
        }
    };
    Duration::from_micros((ms.max(0.0) * 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toxiproxy_attributes_and_rejects_bad_ones() {
        let attrs = |j: Json| j.as_object().unwrap().clone();
        assert_eq!(
            Effect::parse(
                "latency",
                &attrs(serde_json::json!({"latency": 40, "jitter": 5}))
            )
            .unwrap(),
            Effect::Latency {
                latency_ms: 40,
                jitter_ms: 5,
                distribution: Distribution::Uniform
            }
        );
        assert!(Effect::parse("latency", &attrs(serde_json::json!({"latency": -1}))).is_err());
        assert!(Effect::parse("bandwidth", &attrs(serde_json::json!({}))).is_err());
        assert!(Effect::parse("frobnicate", &attrs(serde_json::json!({}))).is_err());
        let e = Effect::parse(
            "latency",
            &attrs(serde_json::json!({"distribution": "cauchy"})),
        )
        .unwrap_err();
        assert!(e.to_string().contains("distribution"), "{e}");
    }

    #[test]
    fn loss_and_flap_validate_and_name_the_attribute_and_the_limit() {
        let attrs = |j: Json| j.as_object().unwrap().clone();
        assert_eq!(
            Effect::parse("loss", &attrs(serde_json::json!({"percent": 2.5}))).unwrap(),
            Effect::Loss {
                percent: 2.5,
                rto_ms: DEFAULT_RTO_MS
            }
        );
        let err = |kind: &str, j: Json| Effect::parse(kind, &attrs(j)).unwrap_err().to_string();
        let e = err("loss", serde_json::json!({"percent": 101}));
        assert!(e.contains("percent") && e.contains("100"), "{e}");
        let e = err("loss", serde_json::json!({"percent": -1}));
        assert!(
            e.contains("percent") && e.contains("between 0 and 100"),
            "{e}"
        );
        let e = err("loss", serde_json::json!({}));
        assert!(e.contains("percent") && e.contains("required"), "{e}");
        let e = err("loss", serde_json::json!({"percent": 5, "rto_ms": 0}));
        assert!(e.contains("rto_ms") && e.contains("120000"), "{e}");
        let e = err("loss", serde_json::json!({"percent": "lots"}));
        assert!(e.contains("percent"), "{e}");

        match Effect::parse(
            "flap",
            &attrs(serde_json::json!({"period_ms": 2000, "down_ms": 500})),
        )
        .unwrap()
        {
            Effect::Flap {
                period_ms: 2000,
                down_ms: 500,
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        let e = err("flap", serde_json::json!({"period_ms": 99, "down_ms": 10}));
        assert!(e.contains("period_ms") && e.contains("100"), "{e}");
        let e = err(
            "flap",
            serde_json::json!({"period_ms": 1000, "down_ms": 1000}),
        );
        assert!(
            e.contains("down_ms") && e.contains("less than period_ms"),
            "{e}"
        );
        let e = err("flap", serde_json::json!({"period_ms": 1000, "down_ms": 0}));
        assert!(e.contains("down_ms") && e.contains("more than 0"), "{e}");
        let e = err("flap", serde_json::json!({"down_ms": 10}));
        assert!(e.contains("period_ms") && e.contains("required"), "{e}");
    }

    #[test]
    fn a_flap_is_down_for_the_first_down_ms_of_every_period() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for (ms, down) in [
            (0, true),
            (299, true),
            (300, false),
            (999, false),
            (1000, true),
            (1299, true),
            (1300, false),
            (10_100, true),
        ] {
            assert_eq!(flap_is_down(1000, 300, t0, at(ms)), down, "at {ms} ms");
        }
    }

    #[test]
    fn delays_follow_their_distribution() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        use rand::SeedableRng;
        let n = 20_000;
        for d in [Distribution::Uniform, Distribution::Normal] {
            let mean: f64 = (0..n)
                .map(|_| sample_delay(&mut rng, 50, 10, d).as_secs_f64() * 1e3)
                .sum::<f64>()
                / n as f64;
            assert!((mean - 50.0).abs() < 1.0, "{d:?}: mean {mean}");
        }
        let mut p: Vec<f64> = (0..n)
            .map(|_| sample_delay(&mut rng, 50, 10, Distribution::Pareto).as_secs_f64() * 1e3)
            .collect();
        p.sort_by(f64::total_cmp);
        assert!(p[0] >= 50.0, "Pareto jitter only adds delay");
        assert!(
            p[n * 99 / 100] > 50.0 + 3.0 * 10.0,
            "and has a heavy tail: p99 {}",
            p[n * 99 / 100]
        );
        assert_eq!(
            sample_delay(&mut rng, 7, 0, Distribution::Pareto),
            Duration::from_millis(7)
        );
    }
}
