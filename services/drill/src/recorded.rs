//! A drill of the user's own application (`workload.external = true`): the
//! drill makes no request to the table; the application does, and what it
//! wrote is read from where the regions record it.
//!
//! A region acknowledges a write only once it has committed the write with
//! its log entry (docs/architecture.md), so the entries each region's log
//! holds of its own writes are every write a client may have seen succeed.
//! The drill reads them as it goes (at every sample, and from a region just
//! before it loses its data) into the same oracle a generated workload
//! fills from its answers, and the checker judges them with the same code:
//! every replica against them, the conflicts with both sides, the lost
//! updates, the disasters' RPO and RTO. It cannot know which of them a
//! client saw answered (one in flight when a region went down may not
//! have been), so the checks are the lenient ones of a drill whose requests
//! did not all get an answer.

use std::path::PathBuf;
use std::sync::Mutex;

use meridian_cluster::state::{LogCursor, own_writes};
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_scenario::scenario::Scenario;

use crate::target::RegionTarget;
use crate::traffic::{Tally, lock};

/// The application's writes read so far, region by region.
pub(crate) struct Recorded {
    table: String,
    regions: Vec<Log>,
    /// Real time (µs since the epoch) the drill began: conflicts detected
    /// before are another time's.
    pub(crate) since_micros: u64,
    /// Log entries truncated before the drill read them (their writes go
    /// unjudged).
    pub(crate) unread: u64,
}

/// One region's log, as far as the drill has read it.
struct Log {
    name: String,
    data_dir: PathBuf,
    cursor: LogCursor,
    /// Why the last reading failed, if it did.
    error: Option<String>,
}

/// Checks that the application's `table` is in every region of
/// `replicas`, as an EVENTUAL table: what a drill of its load needs before
/// it changes anything.
pub(crate) async fn check_table(table: &str, replicas: &[RegionTarget]) -> Result<(), String> {
    for r in replicas {
        let described = MeridianClient::new(r.channel.clone())
            .describe_table(pb::TableRequest { name: table.into() })
            .await
            .map_err(|e| match e.code() {
                tonic::Code::NotFound => format!(
                    "{} has no table {table}: with workload.external = true the table is your application's, and must exist in every region of workload.replicas",
                    r.name
                ),
                _ => format!("DescribeTable {table} in {}: {}", r.name, e.message()),
            })?
            .into_inner();
        if described.consistency == "STRONG" {
            return Err(format!(
                "{table} is a STRONG table: a drill of your application's load reads the writes from the regions' replication logs, and a STRONG table's writes are decided by its members' consensus log instead (docs/limits.md)"
            ));
        }
    }
    Ok(())
}

impl Recorded {
    /// Checks the application's table ([`check_table`]) and starts reading
    /// each region's log from where it is now: writes before the drill are
    /// not its to judge.
    pub(crate) async fn start(
        scenario: &Scenario,
        holders: &[RegionTarget],
        since_micros: u64,
    ) -> Result<Self, String> {
        let table = &scenario.workload.table;
        check_table(table, holders).await?;
        let mut regions = Vec::new();
        for r in holders {
            let data_dir = r.data_dir.clone();
            let cursor = tokio::task::spawn_blocking({
                let data_dir = data_dir.clone();
                move || meridian_cluster::state::log_cursor(&data_dir)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("reading {}'s log in {}: {e}", r.name, data_dir.display()))?;
            regions.push(Log {
                name: r.name.clone(),
                data_dir,
                cursor,
                error: None,
            });
        }
        Ok(Recorded {
            table: table.clone(),
            regions,
            since_micros,
            unread: 0,
        })
    }

    /// Reads what `region` committed since the last reading into `tally`'s
    /// oracle and counts; a region the drill does not read is skipped.
    pub(crate) async fn read(&mut self, region: &str, tally: &Mutex<Tally>) {
        if let Some(i) = self.regions.iter().position(|l| l.name == region) {
            self.read_at(i, tally).await;
        }
    }

    /// [`Recorded::read`] of the `i`th region.
    async fn read_at(&mut self, i: usize, tally: &Mutex<Tally>) {
        let log = &mut self.regions[i];
        let (dir, name, table, from) = (
            log.data_dir.clone(),
            log.name.clone(),
            self.table.clone(),
            log.cursor.clone(),
        );
        let began = std::time::Instant::now();
        let read = tokio::task::spawn_blocking(move || own_writes(&dir, &name, &table, &from))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match read {
            Ok(got) => {
                // What a reading costs, for docs/performance.md: real time,
                // which a simulated drill never reads (it has no external
                // load).
                tracing::debug!(
                    region = %log.name,
                    writes = got.writes.len(),
                    entries = got.cursor.seq.saturating_sub(log.cursor.seq),
                    micros = began.elapsed().as_micros() as u64,
                    "read the application's writes"
                );
                log.cursor = got.cursor;
                log.error = None;
                self.unread += got.missed;
                let mut t = lock(tally);
                for w in got.writes {
                    if t.oracle.get(&w.version).is_some() {
                        // Read again from a store rolled back to a copy.
                        continue;
                    }
                    let op = if w.image.is_some() { "write" } else { "delete" };
                    *t.by_op.entry(op.into()).or_default() += 1;
                    *t.by_region.entry(w.version.origin.clone()).or_default() += 1;
                    t.attempted += 1;
                    t.acked += 1;
                    t.oracle.record(w);
                }
            }
            // A store being wiped or copied in place may not open for a
            // moment; the next reading takes up from the same cursor.
            Err(e) => log.error = Some(e),
        }
    }

    /// [`Recorded::read`] of every region.
    pub(crate) async fn read_all(&mut self, tally: &Mutex<Tally>) {
        for i in 0..self.regions.len() {
            self.read_at(i, tally).await;
        }
    }

    /// The regions whose last reading failed, and why: after the final
    /// reading, writes the checks could not see.
    pub(crate) fn errors(&self) -> Vec<String> {
        self.regions
            .iter()
            .filter_map(|l| {
                l.error.as_ref().map(|e| {
                    format!(
                        "{}: its log could not be read at the end, so its last writes were not judged: {e}",
                        l.name
                    )
                })
            })
            .collect()
    }
}
