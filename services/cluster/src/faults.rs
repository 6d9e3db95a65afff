//! Faults applied to a running cluster: the scenario vocabulary
//! ([`Action`]) onto the link proxies, through their control API, and onto
//! the regions' clocks and processes. `meridian net` and live drills both
//! apply faults here, so a fault means the same whoever applies it.
//!
//! A directed link `A → B` is every byte travelling from region A to region
//! B. Regions talk over one TCP connection per ordered pair: A's connection
//! to B runs through proxy `A>B` (A's mutations go upstream, B's acks come
//! back downstream), and B's connection to A through proxy `B>A`. So the
//! bytes from A to B are the **upstream of `A>B`** plus the **downstream of
//! `B>A`**, and every link fault puts one toxic on each of those two
//! streams, under a stable name ([`toxic_name`]: `meridian.<fault>.<stream>`)
//! so a repeated fault replaces, never stacks.

use std::collections::BTreeMap;
use std::time::Duration;

use meridian_layout::link_name;
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_region::ClusterFile;
use meridian_scenario::scenario::{Action, Distribution, PartitionKind, directed, isolating};
use serde_json::{Value as Json, json};

use crate::api::ControlApi;
use crate::{ClusterError, Result};

/// Toxic types that cut a link; a heal removes these and nothing else.
pub const CUTTING: [&str; 3] = ["timeout", "reset_peer", "flap"];

/// How long a restart waits for the region to serve, unless told.
pub const RESTART_WAIT: Duration = Duration::from_secs(30);

/// The stable name of a fault's toxic on one stream, so a repeated fault
/// replaces its toxic.
pub fn toxic_name(fault: &str, stream: &str) -> String {
    format!("meridian.{fault}.{stream}")
}

/// The two halves of the directed link `from → to`: (proxy, stream).
pub fn halves(from: &str, to: &str) -> [(String, &'static str); 2] {
    [
        (link_name(from, to), "upstream"),
        (link_name(to, from), "downstream"),
    ]
}

/// What applying a fault did, for the caller to report.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The toxics put, as the API returned them (one per half).
    pub toxics: Vec<Json>,
    /// Toxics removed.
    pub removed: usize,
    /// Proxies enabled again.
    pub enabled: usize,
    /// The region's process after a crash or restart, as the API lists it.
    pub process: Option<Json>,
    /// How long a restarted region took to serve.
    pub serving_after: Option<Duration>,
    /// The region's clock after a skew.
    pub clock: Option<pb::ClockStatus>,
    /// The replica's pauses after a pause-replication.
    pub pauses: Vec<pb::ReplicationPause>,
}

/// Applies faults to one cluster through its control API.
pub struct Executor {
    pub cluster: ClusterFile,
    pub api: ControlApi,
    /// How long a restart waits for the region to serve.
    pub restart_wait: Duration,
    /// When set, every link fault applied ends by itself this long after:
    /// the proxy removes it on its own timer (`meridian net ... --for`).
    pub for_ms: Option<u64>,
}

impl Executor {
    pub fn new(cluster: ClusterFile, api: ControlApi) -> Self {
        Executor {
            cluster,
            api,
            restart_wait: RESTART_WAIT,
            for_ms: None,
        }
    }

    /// Puts the same toxic on both halves of each directed link.
    async fn put(
        &self,
        links: &[(String, String)],
        fault: &str,
        kind: &str,
        create: Json,
        update: Json,
    ) -> Result<Vec<Json>> {
        let mut out = Vec::new();
        for (a, b) in links {
            for (proxy, stream) in halves(a, b) {
                out.push(
                    self.api
                        .put_toxic(
                            &proxy,
                            &toxic_name(fault, stream),
                            kind,
                            stream,
                            create.clone(),
                            update.clone(),
                            self.for_ms,
                        )
                        .await?,
                );
            }
        }
        Ok(out)
    }

    async fn remove(&self, links: &[(String, String)], fault: &str) -> Result<usize> {
        let mut n = 0;
        for (a, b) in links {
            for (proxy, stream) in halves(a, b) {
                n += usize::from(
                    self.api
                        .remove_toxic(&proxy, &toxic_name(fault, stream))
                        .await?,
                );
            }
        }
        Ok(n)
    }

    /// Cuts `from → to`. One kind at a time: switching kinds replaces.
    async fn partition(&self, from: &str, to: &str, kind: PartitionKind) -> Result<()> {
        let links = [(from.to_string(), to.to_string())];
        let proxy = link_name(from, to);
        let refuse = toxic_name("refuse", "upstream");
        match kind {
            PartitionKind::Blackhole => {
                self.api.remove_toxic(&proxy, &refuse).await?;
                self.api.set_enabled(&proxy, true).await?;
                let attrs = json!({"timeout": 0});
                self.put(&links, "partition", "timeout", attrs.clone(), attrs)
                    .await?;
            }
            // Refusing acts on the connection `from` opens to `to`: open ones
            // are reset, new ones refused. Connections `to` opens stay up.
            PartitionKind::Refuse => {
                self.remove(&links, "partition").await?;
                // The RST first, while connections are open, then the refusal.
                let attrs = json!({"timeout": 0});
                self.api
                    .put_toxic(
                        &proxy,
                        &refuse,
                        "reset_peer",
                        "upstream",
                        attrs.clone(),
                        attrs,
                        self.for_ms,
                    )
                    .await?;
                match self.for_ms {
                    Some(ms) => self.api.disable_for(&proxy, ms).await?,
                    None => self.api.set_enabled(&proxy, false).await?,
                }
            }
        }
        Ok(())
    }

    /// The proxies of a heal or clear: of link A ⇄ B, of every link of a
    /// region, or (`None`) every proxy.
    pub fn scope(
        &self,
        link: &Option<(String, String)>,
        region: &Option<String>,
    ) -> Option<Vec<String>> {
        match (link, region) {
            (Some((a, b)), _) => Some(vec![link_name(a, b), link_name(b, a)]),
            (None, Some(r)) => Some(
                self.cluster
                    .links()
                    .into_iter()
                    .filter(|l| &l.from == r || &l.to == r)
                    .map(|l| l.name)
                    .collect(),
            ),
            (None, None) => None,
        }
    }

    /// Removes the cutting toxics (or, with `all_faults`, every toxic, of
    /// any client) of the given proxies and enables them.
    async fn heal(&self, proxies: Option<Vec<String>>, all_faults: bool) -> Result<Outcome> {
        let all = self.api.proxies().await?;
        let names = proxies.unwrap_or_else(|| all.keys().cloned().collect());
        let mut out = Outcome::default();
        for name in names {
            let p = match all.get(&name) {
                Some(p) => p.clone(),
                None => self.api.proxy(&name).await?,
            };
            for t in p["toxics"].as_array().into_iter().flatten() {
                let kind = t["type"].as_str().unwrap_or_default();
                if all_faults || CUTTING.contains(&kind) {
                    let tname = t["name"].as_str().unwrap_or_default();
                    out.removed += usize::from(self.api.remove_toxic(&name, tname).await?);
                }
            }
            if p["enabled"] == json!(false) {
                self.api.set_enabled(&name, true).await?;
                out.enabled += 1;
            }
        }
        Ok(out)
    }

    /// Whether any link is cut: a proxy disabled, or a cutting toxic on it.
    pub async fn cut(&self) -> Result<bool> {
        Ok(self.api.proxies().await?.values().any(|p| {
            p["enabled"] == json!(false)
                || p["toxics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| CUTTING.contains(&t["type"].as_str().unwrap_or_default()))
        }))
    }

    /// Where `region` answers admin calls.
    fn admin_url(&self, region: &str) -> Result<String> {
        Ok(format!(
            "http://{}",
            self.cluster.entry(region)?.admin_dial()
        ))
    }

    /// Pauses `table`'s replication at its replica in `region`, in every
    /// region of the cluster ([`pause_everywhere`]).
    async fn pause(
        &self,
        table: &str,
        region: &str,
        duration: Duration,
        tail: Duration,
    ) -> Result<Vec<pb::ReplicationPause>> {
        self.cluster.entry(region)?;
        let token = self.cluster.client_admin_token()?;
        let mut admins = Vec::new();
        for r in &self.cluster.regions {
            admins.push((
                r.name.clone(),
                crate::wait::channel(&self.admin_url(&r.name)?)?,
            ));
        }
        pause_everywhere(
            &admins,
            token.as_deref(),
            pause_request(table, region, duration, tail),
        )
        .await
    }

    /// Applies one fault.
    pub async fn apply(&self, action: &Action) -> Result<Outcome> {
        let mut out = Outcome::default();
        match action {
            Action::Latency { .. }
            | Action::Bandwidth { .. }
            | Action::Loss { .. }
            | Action::Partition { .. }
            | Action::Isolate { .. }
            | Action::Flap { .. }
            | Action::Heal { .. }
            | Action::Clear { .. } => out = self.apply_to_links(action).await?,
            Action::Skew {
                region,
                offset_micros,
                drift_ppm,
            } => {
                out.clock = Some(self.skew(region, *offset_micros, *drift_ppm).await?);
            }
            Action::PauseReplication {
                table,
                region,
                duration,
                tail,
                tail_max: None,
            } => {
                out.pauses = self.pause(table, region, *duration, *tail).await?;
            }
            // A drill draws such a tail from its seed before any event.
            Action::PauseReplication {
                tail_max: Some(_), ..
            } => {
                return Err(ClusterError::Failed(
                    "a pause whose tail is left to a seed is drawn by a drill (Scenario::with_seeded_tails) before it is applied".into(),
                ));
            }
            Action::Crash { region } => {
                out.process = Some(self.api.process(region, "crash").await?);
            }
            Action::Wipe { region }
            | Action::Snapshot { region, .. }
            | Action::Restore { region, .. } => {
                self.cluster.entry(region)?;
                crate::state::apply_to_data(&self.cluster.data_dir.join(region), action)?;
            }
            // These need the drill's workload and oracle around them.
            Action::Recovery { .. }
            | Action::Mark { .. }
            | Action::RestoreToTime { .. }
            | Action::AddReplica { .. }
            | Action::Recreate { .. }
            | Action::MoveTraffic { .. } => {
                return Err(ClusterError::Failed(format!(
                    "{} is a drill event: put it in a scenario file (docs/drills.md)",
                    action.name()
                )));
            }
            Action::Restart { region } => {
                out.process = Some(self.api.process(region, "restart").await?);
                out.serving_after = Some(self.serving_again(region).await?);
            }
        }
        Ok(out)
    }

    /// A fault of the links, through the link proxies' control API.
    async fn apply_to_links(&self, action: &Action) -> Result<Outcome> {
        let mut out = Outcome::default();
        match action {
            Action::Latency {
                from,
                to,
                both,
                latency,
                jitter,
                distribution,
            } => {
                let links = directed(from, to, *both);
                out = self
                    .latency(&links, *latency, *jitter, *distribution)
                    .await?;
            }
            Action::Bandwidth {
                from,
                to,
                both,
                kbps,
            } => out = self.bandwidth(&directed(from, to, *both), *kbps).await?,
            Action::Loss {
                from,
                to,
                both,
                percent,
                rto,
            } => {
                out = self
                    .loss(&directed(from, to, *both), *percent, *rto)
                    .await?
            }
            Action::Partition {
                from,
                to,
                both,
                kind,
            } => {
                for (a, b) in directed(from, to, *both) {
                    self.partition(&a, &b, *kind).await?;
                }
            }
            Action::Isolate { region, kind } => {
                for (a, b) in isolating(region, &self.cluster.region_names()) {
                    self.partition(&a, &b, *kind).await?;
                }
            }
            Action::Flap {
                from,
                to,
                both,
                period,
                down,
            } => {
                let links = directed(from, to, *both);
                let attrs = json!({
                    "period_ms": period.as_millis() as u64,
                    "down_ms": down.as_millis() as u64,
                });
                out.toxics = self
                    .put(&links, "flap", "flap", attrs.clone(), attrs)
                    .await?;
            }
            Action::Heal { link, region } => {
                out = self.heal(self.scope(link, region), false).await?;
            }
            Action::Clear { link, region } => match self.scope(link, region) {
                None => self.api.reset().await?,
                proxies => out = self.heal(proxies, true).await?,
            },
            _ => unreachable!("apply hands only the links' faults here"),
        }
        Ok(out)
    }

    /// A latency change on `links`: only the figures given change on a
    /// link that has latency already. A link left with neither latency
    /// nor jitter loses the toxic.
    async fn latency(
        &self,
        links: &[(String, String)],
        latency: Option<Duration>,
        jitter: Option<Duration>,
        distribution: Option<Distribution>,
    ) -> Result<Outcome> {
        let mut out = Outcome::default();
        let ms = |d: &Duration| d.as_millis() as u64;
        let mut update = json!({});
        if let Some(l) = &latency {
            update["latency"] = json!(ms(l));
        }
        if let Some(j) = &jitter {
            update["jitter"] = json!(ms(j));
        }
        if let Some(d) = distribution {
            update["distribution"] = json!(d.as_str());
        }
        let create = json!({
            "latency": latency.as_ref().map(ms).unwrap_or(0),
            "jitter": jitter.as_ref().map(ms).unwrap_or(0),
            "distribution": distribution.unwrap_or(Distribution::Uniform).as_str(),
        });
        out.toxics = self
            .put(links, "latency", "latency", create, update)
            .await?;
        // Every half now holds the same figures; read them from one.
        let a = &out.toxics[0]["attributes"];
        if a["latency"].as_u64().unwrap_or(0) == 0 && a["jitter"].as_u64().unwrap_or(0) == 0 {
            out.removed = self.remove(links, "latency").await?;
        }
        Ok(out)
    }

    /// A bandwidth limit on `links`, or with no rate its removal.
    async fn bandwidth(&self, links: &[(String, String)], kbps: Option<u64>) -> Result<Outcome> {
        let mut out = Outcome::default();
        match kbps {
            None => out.removed = self.remove(links, "bandwidth").await?,
            Some(r) => {
                let attrs = json!({"rate": r});
                out.toxics = self
                    .put(links, "bandwidth", "bandwidth", attrs.clone(), attrs)
                    .await?;
            }
        }
        Ok(out)
    }

    /// Packet loss on `links`, with its retransmission timeout if given;
    /// at 0 % its removal.
    async fn loss(
        &self,
        links: &[(String, String)],
        percent: f64,
        rto: Option<Duration>,
    ) -> Result<Outcome> {
        let mut out = Outcome::default();
        if percent == 0.0 {
            out.removed = self.remove(links, "loss").await?;
        } else {
            let mut attrs = json!({"percent": percent});
            if let Some(rto) = rto {
                attrs["rto_ms"] = json!(rto.as_millis() as u64);
            }
            out.toxics = self
                .put(links, "loss", "loss", attrs.clone(), attrs)
                .await?;
        }
        Ok(out)
    }

    /// Sets `region`'s clock offset and drift through its admin API.
    async fn skew(
        &self,
        region: &str,
        offset_micros: i64,
        drift_ppm: i64,
    ) -> Result<pb::ClockStatus> {
        let url = self.admin_url(region)?;
        let ch = crate::wait::channel(&url)?;
        let token = self.cluster.client_admin_token()?;
        let clock = AdminClient::new(ch)
            .set_clock(meridian_region::admin::authorized(
                pb::SetClockRequest {
                    offset_micros,
                    drift_ppm,
                },
                token.as_deref(),
            ))
            .await
            .map_err(|s| {
                ClusterError::Failed(format!("skew {region}: {} ({:?})", s.message(), s.code()))
            })?
            .into_inner();
        Ok(clock)
    }

    /// How long a restarted `region` took to serve again. Admin Status
    /// answers on the region's admin listener, which may be apart from its
    /// client API; the region keeps the ports it had.
    async fn serving_again(&self, region: &str) -> Result<Duration> {
        let admin = self.cluster.entry(region)?.admin_addr();
        crate::wait::serving(admin, self.restart_wait, None, || self.api.ended(region))
            .await
            .map_err(|e| {
                ClusterError::Failed(format!(
                    "{region} was restarted but {e}; see `meridian up`'s output or the region's log"
                ))
            })
    }
}

/// The toxics of every proxy by name, as the API lists them.
pub type Proxies = BTreeMap<String, Json>;

/// The Admin request that pauses `table`'s replication at `region`.
pub fn pause_request(
    table: &str,
    region: &str,
    duration: Duration,
    tail: Duration,
) -> pb::PauseReplicationRequest {
    pb::PauseReplicationRequest {
        table: table.to_string(),
        region: region.to_string(),
        duration_ms: duration.as_millis() as u64,
        tail_ms: tail.as_millis() as u64,
    }
}

/// Sends `request` (a table's replication paused at one replica) to every
/// region of `admins` (name, admin channel): the replica first, which
/// refuses a table it does not hold, so a refused pause is installed
/// nowhere; then the others, each of which must skip the replica's
/// entries of the table. Returns the replica's pauses. `meridian net
/// pause-replication` and drills both pause through this.
pub async fn pause_everywhere(
    admins: &[(String, tonic::transport::Channel)],
    token: Option<&str>,
    request: pb::PauseReplicationRequest,
) -> Result<Vec<pb::ReplicationPause>> {
    let replica = request.region.clone();
    let Some(first) = admins.iter().position(|(name, _)| *name == replica) else {
        return Err(ClusterError::Failed(format!(
            "pause replication: no region {replica}"
        )));
    };
    let mut order: Vec<&(String, tonic::transport::Channel)> = vec![&admins[first]];
    order.extend(admins.iter().filter(|(name, _)| *name != replica));
    let mut pauses = Vec::new();
    for (name, ch) in order {
        let status = AdminClient::new(ch.clone())
            .pause_replication(meridian_region::admin::authorized(request.clone(), token))
            .await
            .map_err(|s| {
                ClusterError::Failed(format!(
                    "pause replication of {} at {replica}, in {name}: {}",
                    request.table,
                    s.message()
                ))
            })?
            .into_inner();
        if *name == replica {
            pauses = status.pauses;
        }
    }
    Ok(pauses)
}
