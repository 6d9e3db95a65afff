//! `meridian metrics scrape-config`: the Prometheus configuration that
//! scrapes every region of a cluster file, made from the file itself so it
//! never goes stale. `regions/prometheus/` ships its output for the
//! default clusters; a test checks the shipped files still equal it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use meridian_region::ClusterFile;

#[derive(Args)]
pub struct MetricsArgs {
    #[command(subcommand)]
    pub command: MetricsCommand,
}

#[derive(Subcommand)]
pub enum MetricsCommand {
    /// Print a Prometheus configuration that scrapes every region's
    /// `/metrics` (regions without a `metrics` address are listed as not
    /// scraped).
    ScrapeConfig {
        /// Cluster file whose regions to scrape.
        #[arg(long, visible_alias = "cluster", default_value = crate::DEFAULT_CLUSTER, env = "MERIDIAN_CONFIG")]
        config: PathBuf,
        /// How often Prometheus scrapes each region, in seconds.
        #[arg(long, default_value_t = 5)]
        interval_secs: u32,
    },
}

pub fn run(args: MetricsArgs) -> Result<()> {
    match args.command {
        MetricsCommand::ScrapeConfig {
            config,
            interval_secs,
        } => {
            let cluster = crate::load_cluster(&config)?;
            print!("{}", scrape_config(&cluster, &config, interval_secs)?);
            Ok(())
        }
    }
}

/// Where Prometheus reaches a region's metrics listener: the host peers
/// dial (`advertise`) when there is one, since a listener on all interfaces
/// (`0.0.0.0`) names no host; else the listen address itself.
fn target(name: &str, metrics: SocketAddr, advertise: Option<&str>) -> Result<String> {
    if let Some(a) = advertise {
        let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
        return Ok(format!("{host}:{}", metrics.port()));
    }
    if metrics.ip().is_unspecified() {
        bail!(
            "region {name}: metrics listens on {metrics}, all interfaces, and no advertise names the host Prometheus should dial"
        );
    }
    Ok(metrics.to_string())
}

/// The configuration text for `cluster`, read from `source`.
pub fn scrape_config(cluster: &ClusterFile, source: &Path, interval_secs: u32) -> Result<String> {
    if interval_secs == 0 || interval_secs > 3600 {
        bail!("--interval-secs must be 1 to 3600, got {interval_secs}");
    }
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for r in &cluster.regions {
        match r.metrics {
            Some(m) => targets.push((r.name.as_str(), target(&r.name, m, r.advertise.as_deref())?)),
            None => skipped.push(r.name.as_str()),
        }
    }
    if targets.is_empty() {
        bail!(
            "{}: no region has a metrics address, so there is nothing to scrape",
            source.display()
        );
    }
    let mut out = format!(
        "# Prometheus scrape configuration for the cluster {name}, made by\n\
         #   meridian metrics scrape-config --config {source}\n\
         # Run it again after changing the cluster file; do not edit by hand.\n\
         # Every series carries its region's `region` label; `cluster` is added here.\n\
         global:\n  scrape_interval: {interval_secs}s\n  evaluation_interval: {interval_secs}s\n\
         scrape_configs:\n  - job_name: meridian\n    metrics_path: /metrics\n    static_configs:\n",
        name = cluster.name,
        source = source.display(),
    );
    out.push_str("      - targets:\n");
    for (name, addr) in &targets {
        out.push_str(&format!("          - \"{addr}\" # {name}\n"));
    }
    out.push_str(&format!(
        "        labels:\n          cluster: \"{}\"\n",
        cluster.name
    ));
    for name in skipped {
        out.push_str(&format!(
            "# not scraped: region {name} has no metrics address\n"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace root, where `regions/` is.
    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The shipped configurations are the command's output for the
    /// default clusters, byte for byte.
    #[test]
    fn the_shipped_scrape_configs_are_the_commands_output() {
        for name in ["local-3", "compose-3"] {
            let source = PathBuf::from(format!("regions/{name}.toml"));
            let cluster = ClusterFile::load(&root().join(&source)).unwrap();
            let made = scrape_config(&cluster, &source, 5).unwrap();
            let shipped = root().join(format!("regions/prometheus/{name}.yml"));
            let shipped = std::fs::read_to_string(&shipped)
                .unwrap_or_else(|e| panic!("{}: {e}", shipped.display()));
            assert_eq!(
                shipped,
                made,
                "regions/prometheus/{name}.yml is stale: meridian metrics scrape-config --config {} > regions/prometheus/{name}.yml",
                source.display()
            );
        }
    }

    #[test]
    fn targets_are_the_metrics_ports_at_the_host_peers_dial() {
        let local = ClusterFile::load(&root().join("regions/local-3.toml")).unwrap();
        let text = scrape_config(&local, Path::new("regions/local-3.toml"), 5).unwrap();
        for port in [9101, 9102, 9103] {
            assert!(text.contains(&format!("\"127.0.0.1:{port}\"")), "{text}");
        }
        let compose = ClusterFile::load(&root().join("regions/compose-3.toml")).unwrap();
        let text = scrape_config(&compose, Path::new("regions/compose-3.toml"), 5).unwrap();
        assert!(text.contains("\"mesh-eu-west-1:9101\""), "{text}");
        assert!(!text.contains("0.0.0.0"), "{text}");
    }

    #[test]
    fn what_cannot_be_scraped_is_said() {
        let addr: SocketAddr = "127.0.0.1:7101".parse().unwrap();
        let mut cluster = ClusterFile::new(
            "one",
            Path::new("/tmp/one"),
            &[
                ("us-east-1".to_string(), addr),
                ("eu-west-1".to_string(), addr),
            ],
        );
        let err = scrape_config(&cluster, Path::new("one.toml"), 5).unwrap_err();
        assert!(
            err.to_string().contains("no region has a metrics address"),
            "{err}"
        );
        cluster.regions[0].metrics = Some("0.0.0.0:9101".parse().unwrap());
        let err = scrape_config(&cluster, Path::new("one.toml"), 5).unwrap_err();
        assert!(
            err.to_string()
                .contains("region us-east-1: metrics listens on 0.0.0.0:9101"),
            "{err}"
        );
        cluster.regions[0].advertise = Some("node-a:7101".into());
        let text = scrape_config(&cluster, Path::new("one.toml"), 5).unwrap();
        assert!(text.contains("\"node-a:9101\""), "{text}");
        assert!(
            text.contains("# not scraped: region eu-west-1 has no metrics address"),
            "{text}"
        );
        let err = scrape_config(&cluster, Path::new("one.toml"), 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("--interval-secs must be 1 to 3600, got 0"),
            "{err}"
        );
    }
}
