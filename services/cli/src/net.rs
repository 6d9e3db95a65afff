//! `meridian net`: inject network, clock and process faults into a running
//! cluster (`meridian up`) through the link proxy's control API.
//!
//! This module is argument parsing ([`args`], [`mod@parse`]) and rendering
//! ([`mod@render`], [`show`]) only. Each command parses into the fault
//! vocabulary of scenario files ([`meridian_scenario::scenario::Action`])
//! and is applied by
//! [`meridian_cluster::faults::Executor`], the same code a live drill uses;
//! the mapping of a directed link onto proxies and toxics is described
//! there and in docs/netsim.md.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Result, bail};
use meridian_cluster::ControlApi;
use meridian_cluster::faults::Executor;
use meridian_region::ClusterFile;
use meridian_scenario::scenario::Action;

use crate::load_cluster;
use meridian_netsim::api::MAX_FOR_MS;

pub(crate) mod args;
mod failover;
mod parse;
mod render;
pub(crate) mod show;

pub use args::NetArgs;
pub(crate) use args::NetCommand;
use parse::{parse, parse_ms};
use render::{render, show_ms};
use show::{gather, show_json, show_text};

pub async fn run(args: NetArgs) -> Result<()> {
    let config = crate::cluster_path(args.config.as_deref())?;
    let cluster = load_cluster(&config)?;
    let api = match &args.api {
        Some(a) => a.clone(),
        None => match &cluster.netsim {
            Some(n) => n.api_dial(),
            None => bail!(
                "{} has no [netsim] section, so its regions do not talk through the link proxy; \
                 add one (see regions/local-3.toml) and restart `meridian up`, or pass --api",
                config.display()
            ),
        },
    };
    let line = execute(cluster, api, args.for_, args.command).await?;
    // Not println!: a closed pipe (`meridian net show | head`) is not an error.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
    Ok(())
}

/// Runs one `net` command against the cluster's control API at `api` and
/// returns its line of output. The dashboard runs the commands of its
/// forms here too, so a fault set from the page is checked and applied
/// exactly as `meridian net` does it.
pub(crate) async fn execute(
    cluster: ClusterFile,
    api: String,
    for_: Option<String>,
    command: NetCommand,
) -> Result<String> {
    Ok(match command {
        NetCommand::Show { window, json } => {
            let window = window
                .map(|w| parse_ms("--window", &w, Duration::from_secs(600)))
                .transpose()?
                .map(Duration::from_millis);
            let api = ControlApi::new(api).with_token(cluster.client_admin_token()?);
            let shown = gather(&cluster, &api, window).await;
            if json {
                serde_json::to_string_pretty(&show_json(&shown))?
            } else {
                show_text(&shown)
            }
        }
        NetCommand::Failover { action, json } => {
            if for_.is_some() {
                bail!("--for applies to link faults; a failover move stands until the next one");
            }
            let api = ControlApi::new(api).with_token(cluster.client_admin_token()?);
            failover::run(&api, action, json).await?
        }
        command => {
            let for_ms = for_
                .map(|d| parse_ms("--for", &d, Duration::from_millis(MAX_FOR_MS)))
                .transpose()?;
            if for_ms.is_some() && !ends_by_itself(&command) {
                bail!(
                    "--for applies to link faults (lag, jitter, bandwidth, loss, partition, isolate, flap), \
                     which the link proxy can end by itself"
                );
            }
            if for_ms == Some(0) {
                bail!("--for must be longer than 0 (e.g. 30s)");
            }
            let mut restart_wait = meridian_cluster::faults::RESTART_WAIT;
            if let NetCommand::Restart { wait, .. } = &command {
                restart_wait =
                    Duration::from_millis(parse_ms("--wait", wait, Duration::from_secs(600))?);
            }
            let action = parse(&cluster, command)?;
            let api = ControlApi::new(api).with_token(cluster.client_admin_token()?);
            // Deleting the files of a region that runs would pull its
            // store from under it: only a crashed region is wiped.
            if let Action::Wipe { region } = &action
                && api.ended(region).await.is_none()
            {
                bail!(
                    "REGION: {region} is running (or the control API cannot say it is not); \
                     crash it first: meridian net crash {region}"
                );
            }
            let mut executor = Executor::new(cluster, api);
            executor.restart_wait = restart_wait;
            executor.for_ms = for_ms;
            let outcome = executor.apply(&action).await?;
            let mut line = render(&executor.cluster, &action, &outcome);
            if let Some(ms) = for_ms {
                line.push_str(&format!(
                    " (for {}: the link proxy ends it then)",
                    show_ms(ms)
                ));
            }
            line
        }
    })
}

/// Whether `command` is a link fault, which the proxy can end on its own.
fn ends_by_itself(command: &NetCommand) -> bool {
    matches!(
        command,
        NetCommand::Lag { .. }
            | NetCommand::Jitter { .. }
            | NetCommand::Bandwidth { .. }
            | NetCommand::Loss { .. }
            | NetCommand::Partition { .. }
            | NetCommand::Isolate { .. }
            | NetCommand::Flap { .. }
    )
}
