//! A `meridian net` command turned into the fault vocabulary of scenario
//! files ([`Action`]): durations, rates, percentages and region names
//! checked against the cluster file. Every error names the argument and the
//! limit.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use meridian_region::ClusterFile;
use meridian_scenario::scenario::{self, Action};

use super::args::{NetCommand, Pair};
use super::render::{show_dur, show_ms};

/// Longest latency or jitter `net` injects: an hour is already absurd.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// Highest bandwidth limit, KB/s (10 GB/s: no limit on loopback).
const MAX_RATE_KB: u64 = 10_000_000;

/// Parses `250ms`, `1.5s`, `2m`, `0` into a duration of whole milliseconds
/// (the proxy's resolution).
pub fn parse_ms(arg: &str, text: &str, max: Duration) -> Result<u64> {
    let d = scenario::parse_duration(text).map_err(|e| anyhow!("{arg}: {e}"))?;
    if d > max {
        bail!("{arg}: {text} is more than the limit of {}", show_dur(max));
    }
    if d.subsec_nanos() % 1_000_000 != 0 {
        bail!("{arg}: {text} is finer than the proxy's resolution of 1 ms");
    }
    Ok(d.as_millis() as u64)
}

/// Parses `+300ms`, `-1.5s`, `300ms` or `0` into signed microseconds.
pub fn parse_offset(arg: &str, text: &str) -> Result<i64> {
    scenario::parse_offset(text).map_err(|e| anyhow!("{arg}: {e}"))
}

pub fn parse_percent(arg: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    let p: f64 = n
        .parse()
        .map_err(|_| anyhow!("{arg}: {text:?} is not a percentage like 2% or 0.5"))?;
    if !(0.0..=100.0).contains(&p) {
        bail!("{arg}: must be between 0 and 100 %, got {text}");
    }
    Ok(p)
}

/// KB/s, with an optional `KB/s` suffix; `None` for `off`.
pub fn parse_rate(arg: &str, text: &str) -> Result<Option<u64>> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let n = t
        .strip_suffix("KB/s")
        .or_else(|| t.strip_suffix("kb/s"))
        .unwrap_or(t)
        .trim();
    let rate: u64 = n
        .parse()
        .map_err(|_| anyhow!("{arg}: {text:?} is not a whole number of KB/s like 100, or off"))?;
    if rate == 0 {
        bail!(
            "{arg}: must be at least 1 KB/s; `off` removes the limit and `meridian net partition` stops traffic"
        );
    }
    if rate > MAX_RATE_KB {
        bail!("{arg}: must be at most {MAX_RATE_KB} KB/s, got {rate}");
    }
    Ok(Some(rate))
}

/// Checks that `name` is a region of the cluster, naming the argument.
fn region(cluster: &ClusterFile, arg: &str, name: &str) -> Result<String> {
    cluster
        .entry(name)
        .map(|_| name.to_string())
        .map_err(|e| anyhow!("{arg}: {e}"))
}

/// Checks a pair of regions.
fn link(cluster: &ClusterFile, pair: &Pair) -> Result<(String, String)> {
    region(cluster, "FROM", &pair.from)?;
    region(cluster, "TO", &pair.to)?;
    if pair.from == pair.to {
        bail!(
            "FROM and TO are both {}; a link joins two different regions",
            pair.from
        );
    }
    Ok((pair.from.clone(), pair.to.clone()))
}

/// The scope of a heal or clear: link A ⇄ B, every link of a region, or
/// everywhere.
type Scope = (Option<(String, String)>, Option<String>);

fn scope(
    cluster: &ClusterFile,
    from: Option<String>,
    to: Option<String>,
    region_arg: Option<String>,
) -> Result<Scope> {
    match (from, to, region_arg) {
        (Some(a), Some(b), None) => {
            let pair = Pair {
                from: a,
                to: b,
                both: true,
            };
            Ok((Some(link(cluster, &pair)?), None))
        }
        (None, None, Some(r)) => Ok((None, Some(region(cluster, "--region", &r)?))),
        (None, None, None) => Ok((None, None)),
        (Some(_), None, _) => bail!("TO is missing: give two regions, --region, or nothing"),
        _ => bail!("give two regions, --region R, or nothing (everywhere)"),
    }
}

/// One command as the fault it is, checked before anything is sent.
pub fn parse(cluster: &ClusterFile, command: NetCommand) -> Result<Action> {
    Ok(match command {
        NetCommand::Show { .. } => bail!("show is not a fault"),
        NetCommand::Failover { .. } => bail!("failover is not a fault"),
        NetCommand::Lag {
            pair,
            latency,
            jitter,
            distribution,
        } => {
            let (from, to) = link(cluster, &pair)?;
            let latency = parse_ms("LATENCY", &latency, MAX_DELAY)?;
            let jitter = jitter
                .map(|j| parse_ms("--jitter", &j, MAX_DELAY))
                .transpose()?;
            Action::Latency {
                from,
                to,
                both: pair.both,
                latency: Some(Duration::from_millis(latency)),
                jitter: jitter.map(Duration::from_millis),
                distribution,
            }
        }
        NetCommand::Jitter {
            pair,
            jitter,
            distribution,
        } => {
            let (from, to) = link(cluster, &pair)?;
            let jitter = parse_ms("JITTER", &jitter, MAX_DELAY)?;
            Action::Latency {
                from,
                to,
                both: pair.both,
                latency: None,
                jitter: Some(Duration::from_millis(jitter)),
                distribution,
            }
        }
        NetCommand::Bandwidth { pair, rate } => {
            let (from, to) = link(cluster, &pair)?;
            Action::Bandwidth {
                from,
                to,
                both: pair.both,
                kbps: parse_rate("RATE", &rate)?,
            }
        }
        NetCommand::Loss { pair, percent, rto } => loss(cluster, &pair, &percent, &rto)?,
        NetCommand::Partition { pair, kind } => {
            let (from, to) = link(cluster, &pair)?;
            Action::Partition {
                from,
                to,
                both: pair.both,
                kind,
            }
        }
        NetCommand::Isolate { region: r, kind } => Action::Isolate {
            region: region(cluster, "REGION", &r)?,
            kind,
        },
        NetCommand::Flap { pair, period, down } => flap(cluster, &pair, &period, &down)?,
        NetCommand::Heal { from, to, region } => {
            let (link, region) = scope(cluster, from, to, region)?;
            Action::Heal { link, region }
        }
        NetCommand::Clear { from, to, region } => {
            let (link, region) = scope(cluster, from, to, region)?;
            Action::Clear { link, region }
        }
        NetCommand::Skew {
            region: r,
            offset,
            drift_ppm,
        } => skew(cluster, &r, &offset, drift_ppm)?,
        NetCommand::PauseReplication {
            table,
            region: r,
            duration,
            tail,
        } => pause(cluster, table, &r, &duration, &tail)?,
        NetCommand::Crash { region: r } => Action::Crash {
            region: region(cluster, "REGION", &r)?,
        },
        NetCommand::Wipe { region: r } => Action::Wipe {
            region: region(cluster, "REGION", &r)?,
        },
        NetCommand::Restart { region: r, .. } => Action::Restart {
            region: region(cluster, "REGION", &r)?,
        },
    })
}

/// `net loss`: a share of the link's chunks held one retransmission
/// timeout of at least 1 ms.
fn loss(cluster: &ClusterFile, pair: &Pair, percent: &str, rto: &str) -> Result<Action> {
    let (from, to) = link(cluster, pair)?;
    let percent = parse_percent("PERCENT", percent)?;
    let rto = parse_ms("--rto", rto, scenario::MAX_RTO)?;
    if rto == 0 {
        bail!("--rto: must be at least 1 ms");
    }
    Ok(Action::Loss {
        from,
        to,
        both: pair.both,
        percent,
        rto: Some(Duration::from_millis(rto)),
    })
}

/// `net flap`: a period within the link proxy's bounds, and a down part
/// of it that is neither nothing nor all of it.
fn flap(cluster: &ClusterFile, pair: &Pair, period: &str, down: &str) -> Result<Action> {
    let (from, to) = link(cluster, pair)?;
    let period = parse_ms(
        "--period",
        period,
        Duration::from_millis(meridian_netsim::toxic::MAX_FLAP_PERIOD_MS),
    )?;
    let down = parse_ms("--down", down, MAX_DELAY * 24)?;
    let min = meridian_netsim::toxic::MIN_FLAP_PERIOD_MS;
    if period < min {
        bail!(
            "--period: must be at least {min} ms, got {}",
            show_ms(period)
        );
    }
    if down == 0 || down >= period {
        bail!(
            "--down: must be more than 0 and less than --period ({}), got {}",
            show_ms(period),
            show_ms(down)
        );
    }
    Ok(Action::Flap {
        from,
        to,
        both: pair.both,
        period: Duration::from_millis(period),
        down: Duration::from_millis(down),
    })
}

/// `net skew`: a region's clock offset, and a drift within the bound.
fn skew(cluster: &ClusterFile, r: &str, offset: &str, drift_ppm: i64) -> Result<Action> {
    let region = region(cluster, "REGION", r)?;
    let offset_micros = parse_offset("OFFSET", offset)?;
    if drift_ppm.abs() > scenario::MAX_DRIFT_PPM {
        bail!(
            "--drift-ppm: must be within ±{}, got {drift_ppm}",
            scenario::MAX_DRIFT_PPM
        );
    }
    Ok(Action::Skew {
        region,
        offset_micros,
        drift_ppm,
    })
}

/// `net pause-replication`: a table's replication at a region paused for
/// a duration (0 ends a pause now, as stopping an FIS experiment does),
/// after a fixed tail.
fn pause(
    cluster: &ClusterFile,
    table: String,
    r: &str,
    duration: &str,
    tail: &str,
) -> Result<Action> {
    let region = region(cluster, "REGION", r)?;
    let length = parse_ms("DURATION", duration, scenario::MAX_PAUSE)?;
    let tail = parse_ms("--tail", tail, scenario::MAX_PAUSE_TAIL)?;
    if table.is_empty() {
        bail!("TABLE: must not be empty");
    }
    Ok(Action::PauseReplication {
        table,
        region,
        duration: Duration::from_millis(length),
        tail: Duration::from_millis(tail),
        tail_max: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_percentages_and_rates_name_the_argument_and_the_limit() {
        assert_eq!(parse_ms("L", "40ms", MAX_DELAY).unwrap(), 40);
        assert_eq!(parse_ms("L", "1.5s", MAX_DELAY).unwrap(), 1500);
        assert_eq!(parse_ms("L", "0.1s", MAX_DELAY).unwrap(), 100);
        assert_eq!(parse_ms("L", "0", MAX_DELAY).unwrap(), 0);
        let e = parse_ms("--jitter", "40", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--jitter") && e.contains("unit"), "{e}");
        let e = parse_ms("LATENCY", "2h", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATENCY") && e.contains("unknown unit"), "{e}");
        let e = parse_ms("LATENCY", "2m", Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATENCY") && e.contains("60 s"), "{e}");
        let e = parse_ms("LATENCY", "0.5ms", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 ms"), "{e}");

        assert_eq!(parse_percent("P", "2%").unwrap(), 2.0);
        assert_eq!(parse_percent("P", "0.5").unwrap(), 0.5);
        let e = parse_percent("PERCENT", "150%").unwrap_err().to_string();
        assert!(
            e.contains("PERCENT") && e.contains("between 0 and 100"),
            "{e}"
        );
        assert!(parse_percent("P", "-1%").is_err());
        assert!(parse_percent("P", "lots").is_err());

        assert_eq!(parse_rate("R", "100").unwrap(), Some(100));
        assert_eq!(parse_rate("R", "100KB/s").unwrap(), Some(100));
        assert_eq!(parse_rate("R", "off").unwrap(), None);
        let e = parse_rate("RATE", "0").unwrap_err().to_string();
        assert!(e.contains("RATE") && e.contains("at least 1"), "{e}");
        let e = parse_rate("RATE", "99999999999").unwrap_err().to_string();
        assert!(e.contains("at most"), "{e}");

        assert_eq!(parse_offset("O", "+300ms").unwrap(), 300_000);
        assert_eq!(parse_offset("O", "-1.5s").unwrap(), -1_500_000);
        assert_eq!(parse_offset("O", "250us").unwrap(), 250);
        assert_eq!(parse_offset("O", "0").unwrap(), 0);
        let e = parse_offset("OFFSET", "+2d").unwrap_err().to_string();
        assert!(e.contains("OFFSET"), "{e}");
        let e = parse_offset("OFFSET", "-25h").unwrap_err().to_string();
        assert!(e.contains("OFFSET") && e.contains("unknown unit"), "{e}");
        let e = parse_offset("OFFSET", "-1500m").unwrap_err().to_string();
        assert!(e.contains("one day"), "{e}");
    }
}
