//! Admin and status API, and the HTTP endpoint for `/metrics` and `/health`.
//! [`pulse`] pushes the counters the dashboard plots as they change;
//! [`pending`] reads the per-peer pending counts that both report.

mod pending;
mod pulse;

use std::sync::Arc;

use meridian_core::Version;
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_server::Admin;
use tonic::{Request, Response, Status};

use crate::Shared;
use crate::convert::version_to_pb;
use crate::metrics::{CallLabel, PeerDirectionLabel, PeerLabel, PeerReasonLabel};
use crate::status::status_from;
use crate::worker::{Stop, Worker};
use pending::refresh_pending;

pub struct AdminApi {
    pub(crate) shared: Arc<Shared>,
    /// Ends the open pulses when the region stops.
    pub(crate) stop: Stop,
    /// One permit per open pulse ([`pulse::MAX_PULSES`]).
    pub(crate) pulses: Arc<tokio::sync::Semaphore>,
}

impl AdminApi {
    pub(crate) fn new(shared: Arc<Shared>, stop: Stop) -> Self {
        AdminApi {
            shared,
            stop,
            pulses: Arc::new(tokio::sync::Semaphore::new(pulse::MAX_PULSES)),
        }
    }

    fn ops(&self) -> crate::ops::RegionHandle {
        crate::ops::RegionHandle {
            shared: self.shared.clone(),
            view: crate::ops::View::Catalog,
        }
    }

    /// Lets a mutating call through only with the cluster's admin token,
    /// when the region has one: skewing a clock, repairing, backing up,
    /// restoring and changing replicas change what the region holds or
    /// will write. Reads (status, conflicts, digests, the backup list) stay
    /// open. A refusal is logged and counted by call.
    #[allow(clippy::result_large_err)]
    fn authorize<T>(&self, call: &'static str, req: &Request<T>) -> Result<(), Status> {
        let Some(token) = &self.shared.config.admin_token else {
            return Ok(());
        };
        let given = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let why = match given {
            Some(g) if meridian_core::secret::same_secret(g.as_bytes(), token.as_bytes()) => {
                return Ok(());
            }
            Some(_) => "the admin token does not match",
            None => "it carries no admin token (authorization: Bearer <token>)",
        };
        tracing::warn!(call, reason = why, "refused an admin call");
        self.shared
            .metrics
            .admin_refused
            .get_or_create(&CallLabel { call })
            .inc();
        Err(Status::unauthenticated(format!(
            "admin call {call} refused: {why}; the token is in the cluster file's admin_token_file (docs/security.md)"
        )))
    }
}

/// The header a client puts on a mutating admin call: what
/// [`AdminApi::authorize`] checks.
pub fn authorized<T>(msg: T, token: Option<&str>) -> Request<T> {
    let mut req = Request::new(msg);
    if let Some(t) = token
        && let Ok(v) = format!("Bearer {t}").parse()
    {
        req.metadata_mut().insert("authorization", v);
    }
    req
}

fn backup_to_pb(b: &crate::backups::BackupRecord) -> pb::BackupInfo {
    pb::BackupInfo {
        id: b.id.clone(),
        name: b.meta.name.clone(),
        table: b.meta.def.name.clone(),
        created_micros: b.meta.created_micros,
        items: b.meta.items,
        size_bytes: b.size_bytes,
        log_id: b.meta.log_id.clone(),
        log_head: b.meta.log_head,
    }
}

fn restore_to_pb(table: String, r: crate::backups::Restore) -> pb::RestoreStatus {
    pb::RestoreStatus {
        table,
        backup_id: r.backup_id.unwrap_or_default(),
        in_progress: r.in_progress,
        loaded: r.loaded,
        total: r.total,
        error: r.error.unwrap_or_default(),
        restored_to_micros: r.restored_to,
    }
}

/// A restore asked for through the admin API: the replicas it names
/// (none: the restored table's), the billing unchanged.
fn restore_options(replicas: Vec<String>) -> crate::backups::RestoreOptions {
    crate::backups::RestoreOptions {
        billing: None,
        replicas: (!replicas.is_empty()).then_some(replicas),
        owner: meridian_core::account::DEFAULT,
    }
}

/// The answer to a restore just started: how far loading got.
fn restore_status(
    ops: &crate::ops::RegionHandle,
    table: String,
    incarnation: &Version,
) -> Result<Response<pb::RestoreStatus>, Status> {
    let restore = ops
        .restore_of(&table, incarnation)
        .ok_or_else(|| Status::internal("the restore was not recorded"))?;
    Ok(Response::new(restore_to_pb(table, restore)))
}

fn backup_status(e: crate::backups::BackupError) -> Status {
    use crate::backups::BackupError;
    match e {
        BackupError::NotFound(_) => Status::not_found(e.to_string()),
        BackupError::InUse(_) => Status::failed_precondition(e.to_string()),
        BackupError::NotAReplica { .. }
        | BackupError::UnknownRegion(_)
        | BackupError::InvalidName { .. } => Status::invalid_argument(e.to_string()),
        BackupError::Io { .. } => Status::internal(e.to_string()),
        BackupError::Op(e) => crate::status::status_from_op(e),
    }
}

fn conflict_to_pb(c: meridian_core::Conflict) -> pb::ConflictRecord {
    let reason = c.reason().as_str().to_string();
    let image = |i: &Option<meridian_core::Item>| {
        i.as_ref()
            .map(meridian_core::encode_item)
            .unwrap_or_default()
    };
    pb::ConflictRecord {
        table: c.table,
        partition_key: c.key.partition,
        sort_key: c.key.sort,
        winner: Some(version_to_pb(&c.winner)),
        loser: Some(version_to_pb(&c.loser)),
        winner_image: image(&c.winner_image),
        winner_tombstone: c.winner_image.is_none(),
        loser_image: image(&c.loser_image),
        loser_tombstone: c.loser_image.is_none(),
        detected_by: c.detected_by,
        reason,
        detected_real_micros: c.detected_real_micros,
    }
}

#[tonic::async_trait]
impl Admin for AdminApi {
    async fn repair(
        &self,
        req: Request<pb::RepairRequest>,
    ) -> Result<Response<pb::RepairReport>, Status> {
        self.authorize("Repair", &req)?;
        let req = req.into_inner();
        let shared = &self.shared;
        let peers: Vec<_> = shared
            .config
            .peers
            .iter()
            .filter(|p| req.peer.is_empty() || p.name == req.peer)
            .cloned()
            .collect();
        if peers.is_empty() {
            return Err(Status::invalid_argument(format!(
                "peer: {:?} is not a peer of {}",
                req.peer, shared.config.name
            )));
        }
        let only = (!req.table.is_empty()).then_some(req.table.as_str());
        let mut tables = Vec::new();
        for peer in &peers {
            match crate::repair::round::round(shared, peer, only).await {
                Ok(reports) => tables.extend(reports.iter().map(|r| r.to_pb())),
                Err(e) => tables.push(pb::RepairTableReport {
                    peer: peer.name.clone(),
                    table: req.table.clone(),
                    error: e.to_string(),
                    ..Default::default()
                }),
            }
        }
        Ok(Response::new(pb::RepairReport { tables }))
    }

    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let shared = &self.shared;
        let rows = refresh_pending(shared).await?;
        let (log_head, log_start, conflicts, by_table) = shared
            .storage
            .read(|r| {
                Ok((
                    r.log_head()?,
                    r.log_start()?,
                    r.conflict_count()?,
                    r.table_conflict_counts()?,
                ))
            })
            .await
            .map_err(status_from)?;
        let progress = shared.membership.progress();
        let units = table_units_pb(shared).await?;
        let peers = rows
            .into_iter()
            .map(|(peer, acked, pending)| peer_status(shared, peer, acked, pending))
            .collect();
        let drift_refusals = drift_refusals(shared);
        Ok(Response::new(pb::StatusResponse {
            region: shared.config.name.clone(),
            hlc_now: Some(version_to_pb(&Version::new(
                shared.hlc.peek(),
                shared.config.name.clone(),
            ))),
            log_head,
            log_start,
            peers,
            conflicts,
            drift_refusals,
            tombstones_purged: shared.metrics.tombstones_purged.get(),
            superseded: shared.metrics.superseded.get(),
            pid: std::process::id(),
            writer_failure: shared.storage.failure().unwrap_or_default(),
            strong: shared.strong.status(),
            table_conflicts: by_table
                .into_iter()
                .map(|(table, count)| pb::TableCount { table, count })
                .collect(),
            filling: filling_pb(progress.filling),
            removing: progress.removing,
            pauses: pauses_to_pb(
                &shared.pauses.lock().unwrap_or_else(|p| p.into_inner()),
                tokio::time::Instant::now(),
            ),
            units,
            requests: Some(shared.metrics.dynamodb_answers.to_pb()),
            fills: fills_pb(&shared.membership),
            removals: removals_pb(&shared.membership),
            seeded: seed_pb(shared),
            workers: workers_pb(shared),
        }))
    }

    type PulseStream = pulse::PulseStream;

    async fn pulse(
        &self,
        req: Request<pb::PulseRequest>,
    ) -> Result<Response<Self::PulseStream>, Status> {
        let every = pulse::interval(req.into_inner().every_ms)?;
        let stream = pulse::start(self.shared.clone(), &self.pulses, self.stop.clone(), every)?;
        Ok(Response::new(stream))
    }

    async fn conflicts(
        &self,
        req: Request<pb::ConflictsRequest>,
    ) -> Result<Response<pb::ConflictsResponse>, Status> {
        let r = req.into_inner();
        let limit = match r.limit {
            0 => 1000,
            n @ 1..=100_000 => n as usize,
            n => {
                return Err(Status::invalid_argument(format!(
                    "limit: {n} is above the maximum of 100000"
                )));
            }
        };
        let (rows, next) = self
            .shared
            .storage
            .read(move |rd| rd.conflicts_page(&r.table, r.after, limit, CONFLICT_PAGE_BYTES))
            .await
            .map_err(status_from)?;
        Ok(Response::new(pb::ConflictsResponse {
            conflicts: rows.into_iter().map(conflict_to_pb).collect(),
            next: next.unwrap_or(0),
        }))
    }

    async fn digest(
        &self,
        req: Request<pb::DigestRequest>,
    ) -> Result<Response<pb::DigestResponse>, Status> {
        let table = req.into_inner().table;
        let d = self
            .shared
            .storage
            .read(move |rd| rd.digest(&table))
            .await
            .map_err(status_from)?;
        Ok(Response::new(pb::DigestResponse {
            digest: d.hash,
            live_items: d.live,
            tombstones: d.tombstones,
        }))
    }

    async fn set_clock(
        &self,
        req: Request<pb::SetClockRequest>,
    ) -> Result<Response<pb::ClockStatus>, Status> {
        self.authorize("SetClock", &req)?;
        let req = req.into_inner();
        if req.offset_micros.unsigned_abs() > MAX_SKEW_OFFSET_MICROS {
            return Err(Status::invalid_argument(format!(
                "offset_micros must be within ±{MAX_SKEW_OFFSET_MICROS} (one day), got {}",
                req.offset_micros
            )));
        }
        if req.drift_ppm.unsigned_abs() > MAX_DRIFT_PPM {
            return Err(Status::invalid_argument(format!(
                "drift_ppm must be within ±{MAX_DRIFT_PPM} (10 %), got {}",
                req.drift_ppm
            )));
        }
        let shared = &self.shared;
        shared
            .skewed_clock
            .set_skew(req.offset_micros, req.drift_ppm);
        tracing::warn!(
            region = %shared.config.name,
            offset_micros = req.offset_micros,
            drift_ppm = req.drift_ppm,
            "clock skew injected"
        );
        let (offset_micros, drift_ppm) = shared.skewed_clock.skew();
        Ok(Response::new(pb::ClockStatus {
            offset_micros,
            drift_ppm,
            hlc_now: Some(version_to_pb(&Version::new(
                shared.hlc.peek(),
                shared.config.name.clone(),
            ))),
            real_micros: shared.real_clock.now_micros(),
        }))
    }

    async fn pause_replication(
        &self,
        req: Request<pb::PauseReplicationRequest>,
    ) -> Result<Response<pb::PauseStatus>, Status> {
        self.authorize("PauseReplication", &req)?;
        let req = req.into_inner();
        let shared = &self.shared;
        let me = shared.config.name.as_str();
        let duration = std::time::Duration::from_millis(req.duration_ms);
        let tail = std::time::Duration::from_millis(req.tail_ms);
        if duration > crate::pause::MAX_DURATION {
            return Err(Status::invalid_argument(format!(
                "duration_ms must be at most {} (12 hours; 0 ends the pause now), got {}",
                crate::pause::MAX_DURATION.as_millis(),
                req.duration_ms
            )));
        }
        if req.table.is_empty() || req.table == meridian_core::CATALOG_TABLE {
            return Err(Status::invalid_argument(format!(
                "table: {:?} is not a table whose replication can be paused",
                req.table
            )));
        }
        if tail > crate::pause::MAX_TAIL {
            return Err(Status::invalid_argument(format!(
                "tail_ms must be at most {} (5 minutes), got {}",
                crate::pause::MAX_TAIL.as_millis(),
                req.tail_ms
            )));
        }
        if req.region != me && !shared.config.peers.iter().any(|p| p.name == req.region) {
            return Err(Status::invalid_argument(format!(
                "region: {:?} is not a region of this cluster",
                req.region
            )));
        }
        // The replica itself checks that it holds the table; its peers
        // take the pause as the replica's word (they are told after it).
        if req.region == me {
            let replicas = crate::ops::RegionHandle {
                shared: shared.clone(),
                view: crate::ops::View::Replicas,
            };
            replicas.table(&req.table).await.map_err(|_| {
                Status::not_found(format!(
                    "table: {me} holds no replica of table {:?}, so there is no replication of it here to pause",
                    req.table
                ))
            })?;
        }
        let now = tokio::time::Instant::now();
        let mut pauses = shared.pauses.lock().unwrap_or_else(|p| p.into_inner());
        // A duration of 0 ends the pause now, as stopping an FIS
        // experiment does: it is over at once, and the next look at the
        // pauses pulls back what it skipped.
        let from = if duration.is_zero() { now } else { now + tail };
        pauses.install(crate::pause::Pause {
            table: req.table.clone(),
            region: req.region.clone(),
            from,
            until: from + duration,
        });
        tracing::warn!(region = %me, table = %req.table, replica = %req.region, duration_ms = req.duration_ms, tail_ms = req.tail_ms, "replication paused");
        Ok(Response::new(pb::PauseStatus {
            pauses: pauses_to_pb(&pauses, now),
        }))
    }

    async fn create_backup(
        &self,
        req: Request<pb::CreateBackupRequest>,
    ) -> Result<Response<pb::BackupInfo>, Status> {
        self.authorize("CreateBackup", &req)?;
        let req = req.into_inner();
        let record = self
            .ops()
            .create_backup(&req.table, &req.name)
            .await
            .map_err(backup_status)?;
        Ok(Response::new(backup_to_pb(&record)))
    }

    async fn list_backups(
        &self,
        req: Request<pb::ListBackupsRequest>,
    ) -> Result<Response<pb::ListBackupsResponse>, Status> {
        let table = req.into_inner().table;
        let backups = self
            .ops()
            .list_backups()
            .iter()
            .filter(|b| table.is_empty() || b.meta.def.name == table)
            .map(backup_to_pb)
            .collect();
        let restores = self
            .ops()
            .restores()
            .into_iter()
            .map(|(table, _, r)| restore_to_pb(table, r))
            .collect();
        Ok(Response::new(pb::ListBackupsResponse { backups, restores }))
    }

    async fn delete_backup(
        &self,
        req: Request<pb::BackupRequest>,
    ) -> Result<Response<pb::BackupInfo>, Status> {
        self.authorize("DeleteBackup", &req)?;
        let record = self
            .ops()
            .delete_backup(&req.into_inner().id)
            .map_err(backup_status)?;
        Ok(Response::new(backup_to_pb(&record)))
    }

    async fn set_recovery(
        &self,
        req: Request<pb::SetRecoveryRequest>,
    ) -> Result<Response<pb::RecoveryStatus>, Status> {
        self.authorize("SetRecovery", &req)?;
        let req = req.into_inner();
        let ops = self.ops();
        let days = (req.period_days > 0).then_some(req.period_days);
        let pitr = ops
            .set_pitr(&req.table, days)
            .await
            .map_err(crate::status::status_from_op)?;
        let now = ops.real_now_micros();
        Ok(Response::new(match pitr {
            Some(p) => pb::RecoveryStatus {
                enabled: true,
                period_days: p.period_days,
                earliest_micros: p.earliest(now),
                latest_micros: now,
            },
            None => pb::RecoveryStatus::default(),
        }))
    }

    async fn restore_to_time(
        &self,
        req: Request<pb::RestoreToTimeRequest>,
    ) -> Result<Response<pb::RestoreStatus>, Status> {
        self.authorize("RestoreToTime", &req)?;
        let req = req.into_inner();
        let ops = self.ops();
        let options = restore_options(req.replicas);
        let at = (req.at_micros > 0).then_some(req.at_micros);
        let (_, incarnation, _) = ops
            .restore_to_time(&req.table, at, &req.target_table, options)
            .await
            .map_err(backup_status)?;
        restore_status(&ops, req.target_table, &incarnation)
    }

    async fn update_replicas(
        &self,
        req: Request<pb::UpdateReplicasRequest>,
    ) -> Result<Response<pb::ReplicaSet>, Status> {
        self.authorize("UpdateReplicas", &req)?;
        let req = req.into_inner();
        let info = match req.consistency.as_str() {
            "STRONG" => {
                if !req.delete.is_empty() {
                    return Err(Status::invalid_argument(
                        "delete: a table becomes STRONG by adding replicas only",
                    ));
                }
                let witness = (!req.witness.is_empty()).then_some(req.witness.as_str());
                self.ops()
                    .make_strong(&req.table, &req.create, &Default::default(), witness)
                    .await
            }
            "" | "EVENTUAL" if req.witness.is_empty() => {
                let change = meridian_core::replicas::Change {
                    create: req.create,
                    delete: req.delete,
                    ..Default::default()
                };
                self.ops().change_replicas(&req.table, &change).await
            }
            "" | "EVENTUAL" => {
                return Err(Status::invalid_argument(
                    "witness: only a STRONG table has a witness; give consistency STRONG",
                ));
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "consistency: {other:?} is not EVENTUAL or STRONG"
                )));
            }
        }
        .map_err(crate::status::status_from_op)?;
        Ok(Response::new(pb::ReplicaSet {
            table: req.table,
            replicas: info
                .def
                .replica_states
                .iter()
                .map(|(region, s)| pb::ReplicaState {
                    region: region.clone(),
                    status: s.status.as_str().to_string(),
                    since_micros: s.since,
                })
                .collect(),
        }))
    }

    async fn restore_backup(
        &self,
        req: Request<pb::RestoreBackupRequest>,
    ) -> Result<Response<pb::RestoreStatus>, Status> {
        self.authorize("RestoreBackup", &req)?;
        let req = req.into_inner();
        let ops = self.ops();
        let options = restore_options(req.replicas);
        let (_, incarnation) = ops
            .restore_backup(&req.id, &req.target_table, options)
            .await
            .map_err(backup_status)?;
        restore_status(&ops, req.target_table, &incarnation)
    }
}

/// Largest injectable clock offset: one day either way.
pub const MAX_SKEW_OFFSET_MICROS: u64 = 86_400_000_000;
/// A page of conflict records stops once they come to this many bytes,
/// each counted with its overhead (`meridian_store::CONFLICT_RECORD_OVERHEAD`),
/// whatever `limit` asks: with the one record that may pass it (two
/// 400 KB images at most), far below the 4 MiB a gRPC message may have.
const CONFLICT_PAGE_BYTES: usize = 2 << 20;

/// Largest injectable drift rate: 10 % either way.
pub const MAX_DRIFT_PPM: u64 = 100_000;

/// A metrics or health request within the endpoint's [`Budget`]: past it,
/// 503 with the reason (a probe that gets it counts a failure, which is
/// what an endpoint this loaded deserves).
///
/// [`Budget`]: crate::limits::Budget
async fn within_budget(
    budget: &crate::limits::Budget,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use crate::limits::Refused;
    use axum::response::IntoResponse;
    let refused = match budget.admit() {
        Ok(admitted) => match admitted.bound(next.run(req)).await {
            Ok(answer) => return answer,
            Err(r) => r,
        },
        Err(r) => r,
    };
    let why = match refused {
        Refused::Overloaded { limit } => {
            format!("this endpoint is working on {limit} requests, its limit; retry later\n")
        }
        Refused::Timeout { after } => {
            format!("the request did not finish within {} s\n", after.as_secs())
        }
    };
    (axum::http::StatusCode::SERVICE_UNAVAILABLE, why).into_response()
}

/// The answer of a readiness probe: ready unless the writer stopped for
/// good, and then why.
pub fn readiness(failure: Option<String>) -> (axum::http::StatusCode, String) {
    match failure {
        None => (axum::http::StatusCode::OK, "ok\n".into()),
        Some(why) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Serves `/metrics` (Prometheus text) and the health probes until
/// shutdown: `/health/live` answers while the process serves, for a
/// liveness probe; `/health/ready` and `/health` answer 503 with the
/// reason once the writer has stopped for good, for a readiness probe
/// (docs/operations.md).
pub(crate) async fn serve_http(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    worker: Worker,
    mut stop: Stop,
) {
    use axum::routing::get;
    let metrics = shared.clone();
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let shared = metrics.clone();
            async move {
                let _ = refresh_pending(&shared).await;
                if let Ok(counts) = shared.storage.read(|r| r.table_conflict_counts()).await {
                    shared.metrics.table_conflicts.set(counts);
                }
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    shared.metrics.encode(),
                )
            }
        }),
    );
    let app = ["/health", "/health/ready"]
        .into_iter()
        .fold(app, |app, path| {
            let shared = shared.clone();
            app.route(
                path,
                get(move || {
                    let failure = shared.storage.failure();
                    async move { readiness(failure) }
                }),
            )
        });
    let budget = crate::limits::Budget::new(
        "metrics",
        crate::limits::MAX_METRICS_IN_FLIGHT,
        crate::limits::METRICS_TIMEOUT,
        shared.metrics.clone(),
    );
    // Liveness stays outside the budget: it touches nothing, and a loaded
    // region is not a dead one (Kubernetes restarts what fails it).
    let app = app
        .route_layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let budget = budget.clone();
                async move { within_budget(&budget, req, next).await }
            },
        ))
        .route("/health/live", get(|| async { "ok\n" }));
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.raised().await })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "metrics endpoint failed");
        worker.erroring(e);
    }
}

/// One peer's line of the status: its link, its lag and the latency of
/// its entries here, and what repair and the receiver did with it.
fn peer_status(shared: &Shared, peer: String, acked: u64, pending: u64) -> pb::PeerStatus {
    let state = shared
        .peers
        .get(&peer)
        .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .unwrap_or_default();
    let l = shared.metrics.latency(&peer);
    let m = &shared.metrics;
    let label = PeerLabel { peer: peer.clone() };
    let repair_bytes = |direction| {
        m.repair_bytes
            .get_or_create(&PeerDirectionLabel {
                peer: peer.clone(),
                direction,
            })
            .get()
    };
    let skipped = |why: meridian_store::Skip| {
        m.skipped
            .get_or_create(&PeerReasonLabel {
                peer: peer.clone(),
                reason: why.reason(),
            })
            .get()
    };
    pb::PeerStatus {
        connected: state.connected,
        acked_seq: acked,
        pending,
        latency: Some(pb::LatencyStats {
            count: l.count,
            p50_ms: l.p50_ms,
            p99_ms: l.p99_ms,
            max_ms: l.max_ms,
        }),
        last_error: state.last_error,
        latency_buckets: shared.metrics.latency_buckets(&peer),
        repair_rounds: m.repair_rounds.get_or_create(&label).get(),
        repair_keys: m.repair_keys.get_or_create(&label).get(),
        repair_bytes_sent: repair_bytes("sent"),
        repair_bytes_received: repair_bytes("received"),
        repair_item_bytes_received: m.repair_item_bytes.get_or_create(&label).get(),
        drift_ahead_micros: m.drift_ahead.get_or_create(&label).get().max(0) as u64,
        reordered: m.reordered.get_or_create(&label).get(),
        torn_units: m.torn_units.get_or_create(&label).get(),
        left_to_origin: m.left_to_origin.get_or_create(&label).get(),
        paused_skipped: skipped(meridian_store::Skip::Paused),
        withheld_skipped: skipped(meridian_store::Skip::Withheld),
        shipped: m.shipped.get_or_create(&label).get(),
        coalesced: m.coalesced.get_or_create(&label).get(),
        replicated_write_units: m.replicated_write_units.get_or_create(&label).get(),
        throttled_micros: (m.replication_throttled_seconds.get_or_create(&label).get() * 1e6)
            as u64,
        peer,
    }
}

/// Each table's provisioned units and what it consumed of them, for the
/// status.
async fn table_units_pb(shared: &Shared) -> Result<Vec<pb::TableUnits>, Status> {
    Ok(shared
        .capacity
        .units(&shared.storage)
        .await
        .map_err(status_from)?
        .into_iter()
        .map(
            |(table, (read_units, write_units), [r, w])| pb::TableUnits {
                table,
                read_units,
                write_units,
                consumed_read: r,
                consumed_write: w,
            },
        )
        .collect())
}

/// The entries refused for clock drift, summed over every peer, for the
/// status's one count.
fn drift_refusals(shared: &Shared) -> u64 {
    shared
        .config
        .peers
        .iter()
        .map(|p| {
            shared
                .metrics
                .drift_refusals
                .get_or_create(&PeerLabel {
                    peer: p.name.clone(),
                })
                .get()
        })
        .sum()
}

/// The replica fills under way here, with how long each has run, for the
/// status.
fn filling_pb(filling: Vec<crate::membership::FillProgress>) -> Vec<pb::ReplicaFilling> {
    filling
        .into_iter()
        .map(|f| pb::ReplicaFilling {
            table: f.table,
            done: f.done,
            peers: f.peers,
            items: f.items,
            bytes: f.bytes,
            micros: f.started.elapsed().as_micros() as u64,
            last_error: f.last_error.unwrap_or_default(),
        })
        .collect()
}

/// The peer this run's store was copied from, if it was, and how much
/// came, for the status.
fn seed_pb(shared: &Shared) -> Option<pb::SeedStatus> {
    shared.seeded.as_ref().map(|s| pb::SeedStatus {
        peer: s.peer.clone(),
        bytes: s.bytes,
        items: s.seeded.items,
        tombstones: s.seeded.tombstones,
        micros: s.micros,
    })
}

/// Each background worker's state, errors and restarts, for the status.
fn workers_pb(shared: &Shared) -> Vec<pb::WorkerStatus> {
    shared
        .workers
        .statuses()
        .into_iter()
        .map(|w| pb::WorkerStatus {
            name: w.name,
            state: w.state.as_str().to_string(),
            last_error: w.last_error,
            restarts: w.restarts,
        })
        .collect()
}

/// The replica fills this region ran since it started, for the status.
fn fills_pb(membership: &crate::membership::Membership) -> Vec<pb::ReplicaFill> {
    membership
        .fills()
        .into_iter()
        .map(|f| pb::ReplicaFill {
            table: f.table,
            peers: f.peers,
            items: f.items,
            bytes: f.bytes,
            micros: f.micros,
            active_at_micros: f.active_at,
        })
        .collect()
}

/// The replica removals this region saw since it started, with what each
/// peer still holds, for the status.
fn removals_pb(membership: &crate::membership::Membership) -> Vec<pb::ReplicaRemoval> {
    membership
        .removals()
        .into_iter()
        .map(|r| pb::ReplicaRemoval {
            table: r.table,
            pending: r
                .pending
                .into_iter()
                .map(|(peer, count)| pb::PeerCount { peer, count })
                .collect(),
            deleted_at_micros: r.deleted_at,
        })
        .collect()
}

/// The pauses not over at `now`, as the status API shows them.
fn pauses_to_pb(
    pauses: &crate::pause::Pauses,
    now: tokio::time::Instant,
) -> Vec<pb::ReplicationPause> {
    pauses
        .current(now)
        .into_iter()
        .map(|p| pb::ReplicationPause {
            starts_in_ms: p.from.saturating_duration_since(now).as_millis() as u64,
            ends_in_ms: p.until.saturating_duration_since(now).as_millis() as u64,
            table: p.table,
            region: p.region,
        })
        .collect()
}
