//! Cluster files: one TOML file names every region of a cluster and where it
//! listens. A region reads the same file as `meridian up` and picks its own
//! entry by name, so peers always agree on addresses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meridian_store::Durability;

use crate::replication::lanes::{LaneModel, ReplicationOrder};
use crate::replication::shipper::ReplicationTuning;
use serde::{Deserialize, Serialize};

pub use meridian_layout::{Link, NetsimSection, RegionEntry, link_name};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The file format. See regions/local-3.toml. Programs that write a
/// cluster file (drills, benchmarks, tests) build this and serialize it
/// with [`ClusterFile::to_toml`], so what they write is what `load` reads.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    pub name: String,
    /// Each region keeps its store in `<data_dir>/<region>`; relative paths
    /// are relative to the working directory.
    pub data_dir: PathBuf,
    #[serde(default = "default_durability")]
    pub durability: String,
    #[serde(default = "default_max_offset_ms")]
    pub max_clock_offset_ms: u64,
    /// How often each region looks for items whose TTL has passed.
    #[serde(default = "default_ttl_interval_ms")]
    pub ttl_interval_ms: u64,
    /// The period of auto scaling's data points (docs/dynamodb-compat.md,
    /// *Auto scaling*): a minute, as DynamoDB's, so a replica scales out
    /// after two minutes above its target and in after fifteen below.
    /// Shorter only to test the cadence faster; never AWS's.
    #[serde(default = "default_autoscaling_period_ms")]
    pub autoscaling_period_ms: u64,
    /// Seconds of unused provisioned capacity each bucket keeps
    /// (docs/dynamodb-compat.md, *Throughput*): DynamoDB's 300 by default,
    /// and at most that. Fewer is as when DynamoDB has spent the burst on
    /// background maintenance, which its *Burst capacity* page allows
    /// "without prior notice": a drill of a replica short of units then
    /// throttles at once instead of after five minutes.
    #[serde(default = "default_burst_capacity_s")]
    pub burst_capacity_s: u64,
    /// The account's per-table quota on demand, units a second each way
    /// (docs/dynamodb-compat.md, *Throughput*): DynamoDB's 40,000 by
    /// default. AWS raises it on request, so more is allowed; fewer makes
    /// a drill meet `AccountLimitExceeded` at a laptop's rates.
    #[serde(default = "default_table_quota_units")]
    pub table_quota_units: u64,
    /// Whether each partition's ceiling (1,000 write and 3,000 read units
    /// a second) holds, as on AWS. `false` is kinder than AWS and exists
    /// for the benchmarks, which load one table far past a new table's
    /// partitions (as a pre-warmed table would take on AWS) to measure
    /// the engine; never for a drill (docs/limits.md).
    #[serde(default = "default_partition_ceilings")]
    pub partition_ceilings: bool,
    /// How often each region compares its digest trees with every peer's
    /// and pulls what differs (docs/repair.md), besides the round that
    /// follows every reconnect; 0 runs only those.
    #[serde(default = "default_repair_interval_ms")]
    pub repair_interval_ms: u64,
    /// Log entries every peer has applied are kept only while among the
    /// newest this many (docs/repair.md, "Log truncation").
    #[serde(default = "default_log_retain_entries")]
    pub log_retain_entries: u64,
    /// Past this many entries the oldest go even if a peer has not applied
    /// them; that peer is then brought back by anti-entropy.
    #[serde(default = "default_log_max_entries")]
    pub log_max_entries: u64,
    /// Conflict records kept: the newest this many, and none older than
    /// `conflict_retain_secs`. The count of conflicts recorded never drops.
    #[serde(default = "default_conflict_retain_records")]
    pub conflict_retain_records: u64,
    #[serde(default = "default_conflict_retain_secs")]
    pub conflict_retain_secs: u64,
    /// Tombstones stay at least this long, and then until every region
    /// holds them (docs/repair.md, "Purging tombstones").
    #[serde(default = "default_tombstone_retain_secs")]
    pub tombstone_retain_secs: u64,
    /// Change-stream records stay this long (docs/streams.md); DynamoDB
    /// keeps them 24 hours.
    #[serde(default = "default_stream_retain_secs")]
    pub stream_retain_secs: u64,
    /// A change stream's shard closes, and a child opens, at the first
    /// change this long after it opened (docs/streams.md); DynamoDB rolls
    /// its shards about every four hours.
    #[serde(default = "default_stream_shard_secs")]
    pub stream_shard_secs: u64,
    /// A region that starts on an empty data directory copies a peer's
    /// store before it serves (docs/repair.md, "Seeding from a peer");
    /// `false` leaves the rebuild to repair rounds alone.
    #[serde(default = "default_seed_from_peers")]
    pub seed_from_peers: bool,
    /// Each region keeps its on-demand backups in `<backup_dir>/<region>`,
    /// apart from its data directory, so a lost disk (a wiped data
    /// directory) leaves them. Default `<data_dir>/backups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_dir: Option<PathBuf>,
    /// Access key id → secret for the DynamoDB endpoints. When set, every
    /// request must carry a valid SigV4 signature made with one of them;
    /// when empty (the default) any credentials are accepted.
    #[serde(default, skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub dynamodb_keys: std::collections::HashMap<String, String>,
    /// Where a table made by the DynamoDB API's CreateTable lives: in the
    /// region that received it, as DynamoDB makes it (the default), until
    /// `UpdateTable` adds replicas; or, with `"every-region"`, in every
    /// region at once. Meridian's own CLI and gRPC CreateTable take their
    /// regions from the request.
    #[serde(default, skip_serializing_if = "CreateTableRegions::is_default")]
    pub dynamodb_create_table: CreateTableRegions,
    /// When present, every region reaches every peer through the link
    /// proxy, one proxy per directed pair, so faults can be injected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netsim: Option<NetsimSection>,
    /// One more DynamoDB endpoint, served by `meridian up`, that forwards
    /// to a home region and fails over to the next (docs/failover.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<meridian_layout::failover::FailoverSection>,
    /// One address for every region, served by `meridian up` (docs/edge.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<crate::edge::EdgeSection>,
    /// Mutual TLS between regions (docs/security.md). A file without it
    /// must say `plaintext = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// Regions replicate in plaintext and trust the names peers give: only
    /// when said outright, since anyone who reaches a replication port can
    /// then write as any region; each region logs a warning at start-up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plaintext: bool,
    /// A file holding the admin token (docs/security.md): when set, every
    /// region takes mutating admin calls (clock skew, repair, backups and
    /// restores, replica changes) only with it, and the CLI sends it.
    /// `meridian up` and `meridian certs` create it when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_file: Option<PathBuf>,
    /// How every region started from this file logs: `text` (the
    /// default) or `json`, one object per line for log pipelines.
    /// `--log-format` and `MERIDIAN_LOG_FORMAT` take precedence.
    #[serde(default, skip_serializing_if = "LogFormat::is_default")]
    pub log_format: LogFormat,
    /// How each region makes a peer's writes visible (docs/replication.md,
    /// *Lanes*): `"partition"` (DynamoDB's partition-parallel order, the
    /// default) or `"log"` (whole requests in commit order, for comparison).
    #[serde(default, skip_serializing_if = "ReplicationOrder::is_default")]
    pub replication_order: ReplicationOrder,
    /// Partitions of every table, for partition order's lanes.
    #[serde(default = "default_replication_partitions")]
    pub replication_partitions: u32,
    /// Partitions of particular tables, by name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub replication_table_partitions: std::collections::BTreeMap<String, u32>,
    /// Mean of each replicated write's lane delay (exponential), on top of
    /// the link's, in partition order.
    #[serde(default = "default_lane_delay_ms")]
    pub replication_lane_delay_ms: f64,
    /// No lane delay is longer than this.
    #[serde(default = "default_lane_delay_max_ms")]
    pub replication_lane_delay_max_ms: f64,
    /// Whether each region ships an item's quick changes pending for a
    /// peer in one batch as its latest version only, as DynamoDB may
    /// (docs/replication.md, *Coalescing*; the default), or every version
    /// (`false`, for comparison).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub replication_coalesce: bool,
    /// A replication profile (`meridian conformance --measure`; see
    /// [`crate::profile`]), relative to this file: its replication keys
    /// override this file's, and `meridian up` puts its link latencies on
    /// the link proxy. Made absolute when the file is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<PathBuf>,
    /// The profile's one-way latency per directed link `(from, to, ms)`,
    /// for `meridian up` to set.
    #[serde(skip)]
    pub link_latency_ms: Vec<(String, String, f64)>,
    /// Alarms `meridian up` evaluates over the cluster's metrics
    /// (`[[alarm]]`, a scenario's shape), shown by the dashboard and
    /// `meridian alarms`; checked at load by
    /// [`ClusterFile::checked_alarms`].
    #[serde(default, rename = "alarm", skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<meridian_scenario::scenario::criteria::AlarmSection>,
    #[serde(rename = "region")]
    pub regions: Vec<RegionEntry>,
}

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn default_replication_partitions() -> u32 {
    LaneModel::default().partitions
}

fn default_lane_delay_ms() -> f64 {
    LaneModel::default().delay_mean.as_secs_f64() * 1e3
}

fn default_lane_delay_max_ms() -> f64 {
    LaneModel::default().delay_max.as_secs_f64() * 1e3
}

/// How a `meridian` process writes its logs (`log_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, message and
    /// fields, and the spans it ran in.
    Json,
}

impl LogFormat {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("log format must be text or json, got {other:?}")),
        }
    }
}

/// Where DynamoDB's CreateTable makes a table (`dynamodb_create_table`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreateTableRegions {
    /// The region that received the request, as DynamoDB does.
    #[default]
    Region,
    /// Every region of the cluster.
    EveryRegion,
}

impl CreateTableRegions {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Where the cluster's certificates are: `ca.pem`, and `<region>.pem` and
/// `<region>.key` for each region, as `meridian certs` writes them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Relative to the directory meridian is started from, like `data_dir`.
    pub dir: PathBuf,
}

fn default_durability() -> String {
    "full".into()
}

fn default_max_offset_ms() -> u64 {
    500
}

fn default_ttl_interval_ms() -> u64 {
    meridian_layout::DEFAULT_TTL_INTERVAL_MS
}

fn default_autoscaling_period_ms() -> u64 {
    meridian_core::autoscaling::PERIOD_MS
}

fn default_burst_capacity_s() -> u64 {
    meridian_core::throughput::BURST_SECONDS
}

fn default_table_quota_units() -> u64 {
    meridian_core::throughput::TABLE_QUOTA_UNITS
}

fn default_partition_ceilings() -> bool {
    true
}

fn default_log_retain_entries() -> u64 {
    Retention::default().retain_entries
}

fn default_log_max_entries() -> u64 {
    Retention::default().max_entries
}

fn default_conflict_retain_records() -> u64 {
    Retention::default().conflict_records
}

fn default_conflict_retain_secs() -> u64 {
    Retention::default().conflict_age.as_secs()
}

fn default_tombstone_retain_secs() -> u64 {
    Retention::default().tombstone_age.as_secs()
}

fn default_stream_shard_secs() -> u64 {
    4 * 3600
}

fn default_stream_retain_secs() -> u64 {
    Retention::default().stream_age.as_secs()
}

fn default_seed_from_peers() -> bool {
    true
}

/// The default period of background repair rounds (`repair_interval_ms`).
pub const DEFAULT_REPAIR_INTERVAL: Duration = Duration::from_secs(30);

fn default_repair_interval_ms() -> u64 {
    DEFAULT_REPAIR_INTERVAL.as_millis() as u64
}

impl ClusterFile {
    /// A cluster with the defaults `load` fills in for the optional fields:
    /// one entry per `(name, gRPC address)`, no proxy, no DynamoDB keys.
    pub fn new(name: &str, data_dir: &Path, regions: &[(String, SocketAddr)]) -> Self {
        ClusterFile {
            name: name.to_string(),
            data_dir: data_dir.to_path_buf(),
            durability: default_durability(),
            max_clock_offset_ms: default_max_offset_ms(),
            ttl_interval_ms: default_ttl_interval_ms(),
            autoscaling_period_ms: default_autoscaling_period_ms(),
            burst_capacity_s: default_burst_capacity_s(),
            table_quota_units: default_table_quota_units(),
            partition_ceilings: default_partition_ceilings(),
            repair_interval_ms: default_repair_interval_ms(),
            log_retain_entries: default_log_retain_entries(),
            log_max_entries: default_log_max_entries(),
            conflict_retain_records: default_conflict_retain_records(),
            conflict_retain_secs: default_conflict_retain_secs(),
            tombstone_retain_secs: default_tombstone_retain_secs(),
            stream_retain_secs: default_stream_retain_secs(),
            stream_shard_secs: default_stream_shard_secs(),
            seed_from_peers: default_seed_from_peers(),
            backup_dir: None,
            dynamodb_keys: Default::default(),
            dynamodb_create_table: Default::default(),
            netsim: None,
            failover: None,
            edge: None,
            tls: None,
            // Programs that make loopback files start them plaintext and
            // turn TLS on where they test it (`enable_tls`).
            plaintext: true,
            admin_token_file: None,
            log_format: LogFormat::Text,
            replication_order: ReplicationOrder::default(),
            replication_partitions: default_replication_partitions(),
            replication_table_partitions: Default::default(),
            replication_lane_delay_ms: default_lane_delay_ms(),
            replication_lane_delay_max_ms: default_lane_delay_max_ms(),
            replication_coalesce: true,
            profile: None,
            link_latency_ms: Vec::new(),
            alarms: Vec::new(),
            regions: regions
                .iter()
                .map(|(name, grpc)| RegionEntry {
                    name: name.clone(),
                    grpc: *grpc,
                    advertise: None,
                    metrics: None,
                    dynamo: None,
                    replication: None,
                    admin: None,
                })
                .collect(),
        }
    }

    /// A `[netsim]` section with the defaults `load` fills in.
    pub fn netsim_section(api: SocketAddr, first_port: u16) -> NetsimSection {
        NetsimSection::new(api, first_port)
    }

    /// The file's text: validated first, so a written file always loads.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        self.validate().map_err(ConfigError::Invalid)?;
        toml::to_string(self).map_err(|e| ConfigError::Invalid(format!("serializing: {e}")))
    }

    /// Writes the file's text to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ConfigError> {
        let text = self.to_toml()?;
        std::fs::write(path, text).map_err(|source| ConfigError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut file: ClusterFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let Some(p) = file.profile.take() {
            let at = path.parent().unwrap_or(Path::new(".")).join(p);
            let at = std::path::absolute(&at).unwrap_or(at);
            file.apply_profile(&at)
                .map_err(|message| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message,
                })?;
        }
        file.validate().map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(file)
    }

    /// Takes the replication profile at `at` in: its order and lanes
    /// override this file's, its link latencies are kept for `meridian up`.
    fn apply_profile(&mut self, at: &Path) -> Result<(), String> {
        let p =
            crate::profile::Profile::load(at, &self.region_names()).map_err(|e| e.to_string())?;
        let lanes = p
            .lanes(&self.lane_model()?)
            .map_err(|e| format!("the profile {}: {e}", at.display()))?;
        if let Some(order) = p.replication_order {
            self.replication_order = order;
        }
        self.replication_partitions = lanes.partitions;
        self.replication_lane_delay_ms = lanes.delay_mean.as_secs_f64() * 1e3;
        self.replication_lane_delay_max_ms = lanes.delay_max.as_secs_f64() * 1e3;
        self.link_latency_ms = p.latencies();
        self.profile = Some(at.to_path_buf());
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        if self.regions.is_empty() {
            return Err("a cluster needs at least one [[region]]".into());
        }
        // A causal context holds one entry per writing region.
        let max = meridian_core::context::MAX_CONTEXT_ORIGINS;
        if self.regions.len() > max {
            return Err(format!(
                "a cluster has at most {max} regions, this one lists {}",
                self.regions.len()
            ));
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.regions {
            meridian_core::key::validate_region_name(&r.name).map_err(|e| e.to_string())?;
            if !names.insert(&r.name) {
                return Err(format!("region {} is listed twice", r.name));
            }
            if r.name == "backups" && self.backup_dir.is_none() {
                return Err(
                    "a region named backups needs a backup_dir: its data directory is where backups go by default"
                        .into(),
                );
            }
        }
        if let Some(n) = &self.netsim {
            n.check_ports(self.regions.len())?;
        }
        self.validate_endpoints()?;
        match (&self.tls, self.plaintext) {
            (None, false) => {
                return Err(
                    "no [tls] section: regions would replicate in plaintext and take any caller's word for its region. \
                     Add [tls] with a dir (meridian certs issues the certificates), or set plaintext = true to accept that (docs/security.md)"
                        .into(),
                );
            }
            (Some(_), true) => {
                return Err(
                    "plaintext = true and a [tls] section contradict each other: keep one".into(),
                );
            }
            _ => {}
        }
        if self.tls.is_some()
            && let Some(r) = self.regions.iter().find(|r| r.replication.is_none())
        {
            return Err(format!(
                "region {} needs a replication address: with [tls], regions replicate on a listener of their own",
                r.name
            ));
        }
        if Durability::parse(&self.durability).is_none() {
            return Err(format!(
                "durability must be \"full\" or \"normal\", got {:?}",
                self.durability
            ));
        }
        if !(1..=60_000).contains(&self.max_clock_offset_ms) {
            return Err(format!(
                "max_clock_offset_ms must be between 1 and 60000, got {}",
                self.max_clock_offset_ms
            ));
        }
        self.lane_model()?;
        self.checked_alarms()?;
        self.burst_capacity().map_err(|e| e.to_string())?;
        self.table_quota_units().map_err(|e| e.to_string())?;
        Ok(())
    }

    /// `burst_capacity_s`, checked: never more than DynamoDB keeps.
    pub fn burst_capacity(&self) -> Result<Duration, ConfigError> {
        let most = meridian_core::throughput::BURST_SECONDS;
        if self.burst_capacity_s > most {
            return Err(ConfigError::Invalid(format!(
                "burst_capacity_s = {}: at most {most} (DynamoDB keeps up to five minutes of unused capacity)",
                self.burst_capacity_s
            )));
        }
        Ok(Duration::from_secs(self.burst_capacity_s))
    }

    /// `table_quota_units`, checked: at least one unit a second.
    pub fn table_quota_units(&self) -> Result<u64, ConfigError> {
        if self.table_quota_units == 0 {
            return Err(ConfigError::Invalid(
                "table_quota_units = 0: at least 1 (DynamoDB's per-table quota on demand is 40,000 units a second by default)".into(),
            ));
        }
        Ok(self.table_quota_units)
    }

    /// Partition order's lane model, checked (`LaneModel::from_settings`).
    pub fn lane_model(&self) -> Result<LaneModel, String> {
        LaneModel::from_settings(
            self.replication_partitions,
            &self.replication_table_partitions,
            self.replication_lane_delay_ms,
            self.replication_lane_delay_max_ms,
        )
    }

    pub fn region_names(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.name.clone()).collect()
    }

    pub fn entry(&self, name: &str) -> Result<&RegionEntry, ConfigError> {
        self.regions.iter().find(|r| r.name == name).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "region {name:?} is not in cluster {}; it has {}",
                self.name,
                self.region_names().join(", ")
            ))
        })
    }

    /// Each region with the names and addresses it is dialled by besides
    /// its name: what `meridian certs` puts in its certificate.
    pub fn certificate_names(&self) -> Vec<(String, Vec<String>)> {
        self.regions
            .iter()
            .map(|r| (r.name.clone(), Self::cert_hosts(r)))
            .collect()
    }

    fn cert_hosts(r: &RegionEntry) -> Vec<String> {
        let mut hosts = vec!["localhost".to_string()];
        let mut add = |h: String| {
            if !h.is_empty() && !hosts.contains(&h) {
                hosts.push(h);
            }
        };
        if let Some(a) = &r.advertise {
            add(a.rsplit_once(':').map_or(a.clone(), |(h, _)| h.to_string()));
        }
        for addr in [Some(r.grpc), r.replication].into_iter().flatten() {
            if !addr.ip().is_unspecified() {
                add(addr.ip().to_string());
            }
        }
        hosts
    }

    /// Every directed link through the proxy, in file order; empty without
    /// a `[netsim]` section.
    pub fn links(&self) -> Vec<Link> {
        meridian_layout::links(&self.regions, self.netsim.as_ref())
    }

    /// The admin token, read from `admin_token_file` (created there first
    /// when `create`); `None` when the file names none.
    pub fn admin_token(&self, create: bool) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.admin_token_file else {
            return Ok(None);
        };
        read_admin_token(path, create)
            .map(Some)
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })
    }

    /// The token a client sends on mutating admin calls: as
    /// [`ClusterFile::admin_token`], but none while the file does not
    /// exist (regions started elsewhere, by compose say, have their own
    /// token or none; a region that wants one says so in its refusal).
    pub fn client_admin_token(&self) -> Result<Option<String>, ConfigError> {
        match self.admin_token(false) {
            Err(ConfigError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            other => other,
        }
    }

    /// The runtime configuration of one region of this cluster.
    pub fn region_config(&self, name: &str) -> Result<RegionConfig, ConfigError> {
        let me = self.entry(name)?;
        let defaults = RegionConfig::new(&me.name, &self.data_dir, me.grpc);
        Ok(RegionConfig {
            admin_token: self.admin_token(false)?,
            client_keys: self.dynamodb_keys.clone(),
            dynamodb_create_table: self.dynamodb_create_table,
            backup_dir: match &self.backup_dir {
                Some(dir) => dir.join(&me.name),
                None => defaults.backup_dir.clone(),
            },
            replication_listen: me.replication,
            admin_listen: me.admin,
            tls: self
                .tls
                .as_ref()
                .map(|t| crate::tls::TlsFiles::in_dir(&t.dir, &me.name)),
            metrics_listen: me.metrics,
            dynamo_listen: me.dynamo,
            peers: {
                let links = self.links();
                self.regions
                    .iter()
                    .filter(|r| r.name != name)
                    .map(|r| {
                        let dial = links
                            .iter()
                            .find(|l| l.from == name && l.to == r.name)
                            .map(|l| l.dial.clone())
                            .unwrap_or_else(|| r.peer_dial());
                        let scheme = if self.tls.is_some() { "https" } else { "http" };
                        PeerConfig {
                            name: r.name.clone(),
                            url: format!("{scheme}://{dial}"),
                        }
                    })
                    .collect()
            },
            durability: Durability::parse(&self.durability).unwrap_or_default(),
            crash_loses_commits: Durability::parse(&self.durability) == Some(Durability::Normal),
            max_clock_offset: Duration::from_millis(self.max_clock_offset_ms),
            ttl_interval: Duration::from_millis(self.ttl_interval_ms.max(100)),
            autoscaling_period: Duration::from_millis(self.autoscaling_period_ms.max(10)),
            burst_capacity: self.burst_capacity()?,
            table_quota_units: self.table_quota_units()?,
            partition_ceilings: self.partition_ceilings,
            repair_interval: Duration::from_millis(self.repair_interval_ms),
            retention: Retention {
                retain_entries: self.log_retain_entries,
                max_entries: self.log_max_entries,
                conflict_records: self.conflict_retain_records,
                conflict_age: Duration::from_secs(self.conflict_retain_secs),
                tombstone_age: Duration::from_secs(self.tombstone_retain_secs),
                stream_age: Duration::from_secs(self.stream_retain_secs),
                stream_shard_age: Duration::from_secs(self.stream_shard_secs.max(1)),
                ..Retention::default()
            },
            seed_from_peers: self.seed_from_peers,
            replication: ReplicationTuning {
                order: self.replication_order,
                lanes: self.lane_model().map_err(ConfigError::Invalid)?,
                coalesce: self.replication_coalesce,
                ..defaults.replication.clone()
            },
            ..defaults
        })
    }
}

/// Reads the admin token at `path`, creating it (256 random bits, hex,
/// readable by the owner only) when `create` and it is missing.
fn read_admin_token(path: &std::path::Path, create: bool) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        Ok(_) => Err(std::io::Error::other("the admin token file is empty")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            use rand::RngCore;
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            f.write_all(token.as_bytes())?;
            f.sync_all()?;
            Ok(token)
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub name: String,
    /// `http://host:port` (`https://` with TLS) where the peer takes
    /// replication and repair.
    pub url: String,
}

/// Everything a region needs to run.
#[derive(Debug, Clone)]
pub struct RegionConfig {
    pub name: String,
    pub data_dir: PathBuf,
    /// Where this region's on-demand backups live (docs/backups.md).
    pub backup_dir: PathBuf,
    pub grpc_listen: SocketAddr,
    /// Replication and repair's own listener; `None` serves them on
    /// `grpc_listen` with the client API.
    pub replication_listen: Option<SocketAddr>,
    /// Admin's own listener; `None` serves admin on `grpc_listen`.
    pub admin_listen: Option<SocketAddr>,
    /// Mutual TLS on the replication listener and to peers.
    pub tls: Option<crate::tls::TlsFiles>,
    /// What mutating admin calls must carry (`admin::authorized`); `None`
    /// takes them from anyone.
    pub admin_token: Option<String>,
    /// SigV4 keys (access key id → secret) the gRPC client API requires,
    /// the DynamoDB endpoint's `dynamodb_keys` (`client_auth`); empty takes
    /// unsigned calls.
    pub client_keys: std::collections::HashMap<String, String>,
    /// Where the DynamoDB endpoint's CreateTable makes a table.
    pub dynamodb_create_table: CreateTableRegions,
    pub metrics_listen: Option<SocketAddr>,
    /// Where the DynamoDB-compatible front listens, if anywhere.
    pub dynamo_listen: Option<SocketAddr>,
    pub peers: Vec<PeerConfig>,
    pub durability: Durability,
    /// Whether a crash may take the commits since the last sync point
    /// (`durability = "normal"`: a power loss; or a simulation of one). A
    /// STRONG member then rejoins at every start (docs/strong.md).
    pub crash_loses_commits: bool,
    pub max_clock_offset: Duration,
    /// How often the TTL reaper runs.
    pub ttl_interval: Duration,
    /// The period of auto scaling's data points (`autoscaling_period_ms`).
    pub autoscaling_period: Duration,
    /// Unused capacity each bucket keeps (`burst_capacity_s`).
    pub burst_capacity: Duration,
    /// The account's per-table quota on demand (`table_quota_units`).
    pub table_quota_units: u64,
    /// Whether partitions' ceilings hold (`partition_ceilings`).
    pub partition_ceilings: bool,
    /// How often each peer's repair worker runs an anti-entropy round
    /// besides the rounds after a reconnect; zero: only those.
    pub repair_interval: Duration,
    /// How much of the log (once peers have it) and of the conflict
    /// records is kept.
    pub retention: Retention,
    pub replication: ReplicationTuning,
    /// Whether an empty store is first seeded from a peer's snapshot.
    pub seed_from_peers: bool,
    /// Outbound connections on a simulated network; `None` dials with TCP.
    pub dialer: Option<crate::transport::Dialer>,
    /// Seeds the reconnect jitter, so a simulated run replays exactly;
    /// `None` draws from the OS.
    pub seed: Option<u64>,
}

impl RegionConfig {
    /// Region `name` of a cluster that keeps its stores under `data_dir`,
    /// laid out as a cluster file without `backup_dir` lays them out (the
    /// store in `<data_dir>/<name>`, backups in `<data_dir>/backups/<name>`),
    /// serving on `grpc_listen` alone, with no peers yet and every other
    /// setting at the default a cluster file gives it. Programs that start
    /// regions without a file (drills, tests) change what they need from here.
    pub fn new(name: &str, data_dir: &Path, grpc_listen: SocketAddr) -> Self {
        RegionConfig {
            name: name.to_string(),
            data_dir: data_dir.join(name),
            backup_dir: data_dir.join("backups").join(name),
            grpc_listen,
            replication_listen: None,
            admin_listen: None,
            tls: None,
            admin_token: None,
            client_keys: Default::default(),
            dynamodb_create_table: Default::default(),
            metrics_listen: None,
            dynamo_listen: None,
            peers: Vec::new(),
            durability: Durability::parse(&default_durability()).unwrap_or_default(),
            crash_loses_commits: false,
            max_clock_offset: Duration::from_millis(default_max_offset_ms()),
            ttl_interval: Duration::from_millis(default_ttl_interval_ms()),
            autoscaling_period: Duration::from_millis(meridian_core::autoscaling::PERIOD_MS),
            burst_capacity: Duration::from_secs(meridian_core::throughput::BURST_SECONDS),
            table_quota_units: meridian_core::throughput::TABLE_QUOTA_UNITS,
            partition_ceilings: true,
            repair_interval: DEFAULT_REPAIR_INTERVAL,
            retention: Retention::default(),
            replication: ReplicationTuning::default(),
            seed_from_peers: default_seed_from_peers(),
            dialer: None,
            seed: None,
        }
    }

    /// Every region of the cluster, this one included, sorted.
    pub fn all_regions(&self) -> Vec<String> {
        let mut all: Vec<String> = self.peers.iter().map(|p| p.name.clone()).collect();
        all.push(self.name.clone());
        all.sort();
        all
    }
}

/// How much of its log and of its conflict records a region keeps.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Log entries every peer has applied stay while among the newest this
    /// many (`meridian_core::epoch::keep_from`).
    pub retain_entries: u64,
    /// Past this many log entries, the oldest go whether or not every peer
    /// has them.
    pub max_entries: u64,
    /// Conflict records kept: the newest this many ...
    pub conflict_records: u64,
    /// ... and none older than this.
    pub conflict_age: Duration,
    /// Tombstones younger than this stay even below the purge horizon:
    /// deletes stay visible to people studying them, and a region that
    /// comes back within this time finds them still there.
    pub tombstone_age: Duration,
    /// Change-stream records older than this go.
    pub stream_age: Duration,
    /// A stream's shard closes at the first change this long after it
    /// opened, and its child opens (not a retention, but the other half of
    /// a stream's life, so it sits beside it).
    pub stream_shard_age: Duration,
    /// How often the region truncates.
    pub every: Duration,
    /// Most rows one truncation deletes, so the writer is never held long.
    pub batch: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            retain_entries: 100_000,
            max_entries: 5_000_000,
            conflict_records: 1_000_000,
            conflict_age: Duration::from_secs(7 * 24 * 3600),
            tombstone_age: Duration::from_secs(3600),
            stream_age: Duration::from_secs(24 * 3600),
            stream_shard_age: Duration::from_secs(4 * 3600),
            every: Duration::from_secs(1),
            batch: 20_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClusterFile, String> {
        let file: ClusterFile = toml::from_str(text).map_err(|e| e.to_string())?;
        file.validate()?;
        Ok(file)
    }

    const THREE: &str = r#"
        name = "t"
        data_dir = "/tmp/t"
        plaintext = true
        [[region]]
        name = "a"
        grpc = "127.0.0.1:7101"
        [[region]]
        name = "b"
        grpc = "0.0.0.0:7102"
        advertise = "b.internal:7102"
        [[region]]
        name = "c"
        grpc = "127.0.0.1:7103"
    "#;

    #[test]
    fn admin_and_the_control_api_are_dialled_at_their_advertised_hosts() {
        let file = parse(&format!(
            "{THREE}\n[netsim]\napi = \"0.0.0.0:8474\"\nhost = \"proxy\"\nfirst_port = 7201\n"
        ))
        .unwrap();
        // Listening on one address: dialled there.
        assert_eq!(file.regions[0].admin_dial(), "127.0.0.1:7101");
        assert_eq!(file.regions[0].grpc_dial(), "127.0.0.1:7101");
        assert_eq!(file.regions[1].grpc_dial(), "b.internal:7102");
        // On every interface, with an advertised host: that host.
        assert_eq!(file.regions[1].admin_dial(), "b.internal:7102");
        let mut b = file.regions[1].clone();
        b.admin = Some("0.0.0.0:7121".parse().unwrap());
        assert_eq!(b.admin_dial(), "b.internal:7121");
        b.admin = Some("127.0.0.1:7121".parse().unwrap());
        assert_eq!(b.admin_dial(), "127.0.0.1:7121");
        let netsim = file.netsim.clone().unwrap();
        assert_eq!(netsim.api_dial(), "proxy:8474");
        let local = NetsimSection {
            api: "127.0.0.1:8474".parse().unwrap(),
            ..netsim
        };
        assert_eq!(local.api_dial(), "127.0.0.1:8474");
    }

    /// THREE with a link proxy, whose control API serves the alarms.
    fn with_netsim(extra: &str) -> Result<ClusterFile, String> {
        parse(&format!(
            "{THREE}\n[netsim]\napi = \"127.0.0.1:8474\"\nfirst_port = 7201\n{extra}"
        ))
    }

    const ALARM: &str = "[[alarm]]\nname = \"lag\"\nmetric = \"ReplicationLatency\"\nregion = \"a\"\nreceiving_region = \"b\"\nstatistic = \"Maximum\"\nperiod = \"5s\"\nthreshold = 500\ncomparison = \"GreaterThanThreshold\"\nevaluation_periods = 3\n";

    #[test]
    fn a_cluster_files_alarms_are_a_scenarios() {
        let f = with_netsim(ALARM).unwrap();
        let a = f.checked_alarms().unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].evaluation_periods, a[0].datapoints_to_alarm), (3, 3));
        assert_eq!(a[0].metric_label(), "ReplicationLatency a → b");
        // Written back, it reads the same.
        let again = parse(&f.to_toml().unwrap()).unwrap();
        assert_eq!(again.checked_alarms().unwrap(), a);
        assert!(
            with_netsim("")
                .unwrap()
                .checked_alarms()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_per_table_quota_is_awss_unless_set_and_never_zero() {
        let f = parse(THREE).unwrap();
        assert_eq!(f.table_quota_units().unwrap(), 40_000);
        let low = parse(&THREE.replace(
            "plaintext = true",
            "plaintext = true\ntable_quota_units = 50",
        ));
        assert_eq!(low.unwrap().table_quota_units().unwrap(), 50);
        let e = parse(&THREE.replace(
            "plaintext = true",
            "plaintext = true\ntable_quota_units = 0",
        ))
        .unwrap_err();
        assert!(e.contains("table_quota_units = 0: at least 1"), "{e}");
    }

    #[test]
    fn bad_alarms_are_refused_at_load_naming_the_field() {
        for (text, wanted) in [
            (
                ALARM.replace("ReplicationLatency", "Nope"),
                "alarm[0].metric: \"Nope\" is not a metric",
            ),
            (ALARM.replace("\"5s\"", "\"-5s\""), "alarm[0].period"),
            (ALARM.replace("\"5s\"", "\"100ms\""), "alarm[0].period"),
            (
                ALARM.replace("region = \"a\"", "region = \"zz\""),
                "alarm[0].region = \"zz\" is not one of the regions (a, b, c)",
            ),
            (
                ALARM.replace("Maximum", "p99"),
                "alarm[0].statistic: \"p99\" is not a statistic",
            ),
            (
                ALARM.replace("name = \"lag\"\n", ""),
                "missing field `name`",
            ),
            (
                format!("{ALARM}{ALARM}"),
                "alarm[1].name: \"lag\" names two alarms",
            ),
            (
                ALARM
                    .replace("ReplicationLatency", "FailoverFailedRequests")
                    .replace("region = \"a\"\nreceiving_region = \"b\"\n", ""),
                "alarm[0].metric: FailoverFailedRequests is the failover endpoint's",
            ),
            (
                ALARM
                    .replace("ReplicationLatency", "FailoverLatency")
                    .replace("region = \"a\"\nreceiving_region = \"b\"\n", ""),
                "alarm[0].metric: FailoverLatency is the failover endpoint's",
            ),
            (
                ALARM.replace("ReplicationLatency", "UserErrors"),
                "alarm[0].receiving_region: only a link's metrics",
            ),
        ] {
            let err = with_netsim(&text).unwrap_err();
            assert!(err.contains(wanted), "wanted {wanted:?} in: {err}");
        }
        let err = parse(&format!("{THREE}\n{ALARM}")).unwrap_err();
        assert!(
            err.starts_with("alarm: ") && err.contains("[netsim]"),
            "{err}"
        );
        // The regions' answers are a cluster's to watch, a region's or all.
        for metric in [
            "UserErrors",
            "SystemErrors",
            "ThrottledRequests",
            "FailedRequests",
            "ErrorRate",
        ] {
            let text = ALARM
                .replace("ReplicationLatency", metric)
                .replace("receiving_region = \"b\"\n", "");
            assert!(with_netsim(&text).is_ok(), "{metric}");
        }
    }

    #[test]
    fn plaintext_must_be_said_outright_and_never_beside_tls() {
        let without = THREE.replace("plaintext = true", "");
        let err = parse(&without).unwrap_err();
        assert!(
            err.contains("no [tls] section") && err.contains("plaintext = true"),
            "{err}"
        );
        let both = format!("{THREE}\n[tls]\ndir = \"/certs\"\n");
        let err = parse(&both).unwrap_err();
        assert!(err.contains("contradict"), "{err}");
        // What programs write reads back the same.
        let made = ClusterFile::new(
            "m",
            Path::new("/tmp/m"),
            &[("a".into(), "127.0.0.1:1".parse().unwrap())],
        );
        let back = parse(&made.to_toml().unwrap()).unwrap();
        assert!(back.plaintext);
    }

    #[test]
    fn without_netsim_peers_dial_each_other_directly() {
        let f = parse(THREE).unwrap();
        assert!(f.links().is_empty());
        let a = f.region_config("a").unwrap();
        let urls: Vec<_> = a.peers.iter().map(|p| p.url.as_str()).collect();
        assert_eq!(urls, ["http://b.internal:7102", "http://127.0.0.1:7103"]);
    }

    #[test]
    fn with_netsim_every_directed_pair_goes_through_its_own_proxy() {
        let f = parse(&format!(
            "{THREE}\n[netsim]\nfirst_port = 7201\nhost = \"netsim\"\nlisten_host = \"0.0.0.0\"\n"
        ))
        .unwrap();
        let links = f.links();
        assert_eq!(links.len(), 6);
        let ab = links.iter().find(|l| l.name == "a>b").unwrap();
        assert_eq!(ab.listen, "0.0.0.0:7202".parse().unwrap());
        assert_eq!(ab.dial, "netsim:7202");
        assert_eq!(ab.upstream, "b.internal:7102");
        let cb = links.iter().find(|l| l.name == "c>b").unwrap();
        assert_eq!(cb.listen.port(), 7201 + 2 * 3 + 1);
        let c = f.region_config("c").unwrap();
        let urls: Vec<_> = c.peers.iter().map(|p| p.url.as_str()).collect();
        assert_eq!(urls, ["http://netsim:7207", "http://netsim:7208"]);
        let mut ports: Vec<_> = links.iter().map(|l| l.listen.port()).collect();
        ports.dedup();
        assert_eq!(ports.len(), 6);
    }

    #[test]
    fn a_written_file_loads_back_as_written() {
        let mut f = parse(THREE).unwrap();
        f.netsim = Some(ClusterFile::netsim_section(
            "127.0.0.1:9000".parse().unwrap(),
            7201,
        ));
        f.dynamodb_keys.insert("AKID".into(), "secret".into());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        f.write(&path).unwrap();
        let back = ClusterFile::load(&path).unwrap();
        assert_eq!(back.to_toml().unwrap(), f.to_toml().unwrap());
        assert_eq!(back.links(), f.links());
        assert_eq!(
            back.regions[1].advertise.as_deref(),
            Some("b.internal:7102")
        );
        assert_eq!(back.dynamodb_keys["AKID"], "secret");

        let made = ClusterFile::new(
            "m",
            Path::new("/tmp/m"),
            &[("a".into(), "127.0.0.1:7101".parse().unwrap())],
        );
        let text = made.to_toml().unwrap();
        let again: ClusterFile = toml::from_str(&text).unwrap();
        assert_eq!(again.durability, "full");
        assert_eq!(again.max_clock_offset_ms, 500);
        // An invalid file is refused before anything is written.
        let mut bad = made.clone();
        bad.regions.clear();
        assert!(bad.write(&dir.path().join("bad.toml")).is_err());
        assert!(!dir.path().join("bad.toml").exists());
    }

    #[test]
    fn netsim_ports_must_fit() {
        let err = parse(&format!("{THREE}\n[netsim]\nfirst_port = 65530\n")).unwrap_err();
        assert!(err.contains("netsim.first_port"), "{err}");
    }

    /// THREE with a dynamo address for regions a and b (TOML keys of a
    /// table come before the next header, so each goes after a grpc).
    fn with_dynamo() -> String {
        THREE
            .replace(
                "grpc = \"127.0.0.1:7101\"",
                "grpc = \"127.0.0.1:7101\"\ndynamo = \"127.0.0.1:8101\"",
            )
            .replace(
                "advertise = \"b.internal:7102\"",
                "advertise = \"b.internal:7102\"\ndynamo = \"127.0.0.1:8102\"",
            )
    }

    #[test]
    fn a_failover_section_is_checked_against_the_file() {
        let with_dynamo = with_dynamo();
        let section = "[failover]\nlisten = \"127.0.0.1:8100\"\nregions = [\"a\", \"b\"]\n";
        let netsim = "[netsim]\nfirst_port = 7201\n";
        let err = parse(&format!("{with_dynamo}\n{section}")).unwrap_err();
        assert!(err.contains("needs a [netsim] section"), "{err}");
        let file = parse(&format!("{with_dynamo}\n{netsim}{section}")).unwrap();
        let f = file.failover.unwrap();
        assert_eq!(
            (f.interval_ms, f.failure_threshold, f.ttl_ms),
            (1_000, 3, 5_000)
        );
        let err = parse(&format!(
            "{with_dynamo}\n{netsim}{}",
            section.replace("\"b\"", "\"c\"")
        ))
        .unwrap_err();
        assert!(err.contains("c, which has no dynamo address"), "{err}");
        let err = parse(&format!(
            "{with_dynamo}\n{netsim}{section}failure_threshold = 11\n"
        ))
        .unwrap_err();
        assert!(
            err.contains("failover.failure_threshold must be between 1 and 10"),
            "{err}"
        );
        let err = parse(&format!(
            "{with_dynamo}\n{netsim}{}",
            section.replace("8100", "7202")
        ))
        .unwrap_err();
        assert!(
            err.contains("failover.listen 127.0.0.1:7202 takes the port"),
            "{err}"
        );
    }

    #[test]
    fn an_edge_section_defaults_to_4566_and_is_checked_against_the_file() {
        // Region c too: the edge forwards to every region.
        let with_dynamo = with_dynamo().replace(
            "grpc = \"127.0.0.1:7103\"",
            "grpc = \"127.0.0.1:7103\"\ndynamo = \"127.0.0.1:8103\"",
        );
        assert_eq!(parse(&with_dynamo).unwrap().edge, None);
        let file = parse(&format!("{with_dynamo}\n[edge]\n")).unwrap();
        assert_eq!(file.edge.unwrap().listen.to_string(), "127.0.0.1:4566");
        let file = parse(&format!(
            "{with_dynamo}\n[edge]\nlisten = \"127.0.0.1:4599\"\n"
        ))
        .unwrap();
        assert_eq!(file.edge.unwrap().listen.to_string(), "127.0.0.1:4599");
        let err = parse(&format!(
            "{with_dynamo}\n[edge]\nlisten = \"127.0.0.1:8102\"\n"
        ))
        .unwrap_err();
        assert!(
            err.contains("edge.listen 127.0.0.1:8102 takes the port"),
            "{err}"
        );
        let err = parse(&format!("{THREE}\n[edge]\n")).unwrap_err();
        assert!(err.contains("region a has no dynamo address"), "{err}");
        let err = parse(&format!("{with_dynamo}\n[edge]\nport = 1\n")).unwrap_err();
        assert!(err.contains("port"), "{err}");
    }
}
