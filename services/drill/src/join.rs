//! A region joining the drill's table (`add-replica`, docs/replicas.md):
//! the request, then the new replica followed through the regions' status
//! samples until it reports its fill, which is when it became `ACTIVE`.

use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_scenario::report::{EventMark, JoinReport};

use crate::collect::Sample;
use crate::target::RegionTarget;

/// The replicas added so far, by region index.
#[derive(Default)]
pub struct Joins {
    joins: Vec<(usize, JoinReport)>,
}

impl Joins {
    /// Asks `from` to add a replica of `table` in `region`.
    pub async fn add(
        &mut self,
        regions: &[RegionTarget],
        table: &str,
        region: &str,
        from: &str,
        at_ms: u64,
    ) -> Result<(), String> {
        let index = |name: &str| {
            regions
                .iter()
                .position(|r| r.name == name)
                .ok_or_else(|| format!("no region {name}"))
        };
        let (new, asked) = (index(region)?, index(from)?);
        let mut report = JoinReport {
            region: region.to_string(),
            asked: from.to_string(),
            at_ms,
            ..JoinReport::default()
        };
        let mut admin = AdminClient::new(regions[asked].admin.clone());
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            admin.update_replicas(pb::UpdateReplicasRequest {
                table: table.to_string(),
                create: vec![region.to_string()],
                delete: Vec::new(),
                witness: String::new(),
                consistency: String::new(),
            }),
        )
        .await;
        let result = match answer {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.message().to_string()),
            Err(_) => Err("no answer within 10 s".to_string()),
        };
        report.error = result.clone().err();
        self.joins.push((new, report));
        result
    }

    /// Notes every replica a sample shows filled, on the timeline too.
    pub fn follow(&mut self, table: &str, sample: &Sample, marks: &mut Vec<EventMark>) {
        for (i, j) in self.joins.iter_mut() {
            if j.active_ms.is_some() || j.error.is_some() {
                continue;
            }
            let Some(Some(status)) = sample.statuses.get(*i) else {
                continue;
            };
            let Some(fill) = status.fills.iter().find(|f| f.table == table) else {
                continue;
            };
            j.active_ms = Some(sample.t_ms);
            j.items = fill.items;
            j.bytes = fill.bytes;
            j.fill_ms = fill.micros / 1000;
            j.peers = fill.peers.clone();
            marks.push(EventMark {
                at_ms: sample.t_ms,
                action: "replica-active".into(),
                label: format!(
                    "replica in {} ACTIVE ({} items filled in {} ms)",
                    j.region, j.items, j.fill_ms
                ),
            });
        }
    }

    /// Whether every replica asked for is `ACTIVE` (or failed to be asked).
    pub fn settled(&self) -> bool {
        self.joins
            .iter()
            .all(|(_, j)| j.active_ms.is_some() || j.error.is_some())
    }

    /// The reports, and a problem for each replica that never became
    /// `ACTIVE`.
    pub fn finish(self, problems: &mut Vec<String>) -> Vec<JoinReport> {
        self.joins
            .into_iter()
            .map(|(_, j)| {
                match (&j.error, j.active_ms) {
                    (Some(e), _) => {
                        problems.push(format!("adding a replica in {} failed: {e}", j.region))
                    }
                    (None, None) => problems.push(format!(
                        "the replica added in {} never became ACTIVE",
                        j.region
                    )),
                    _ => {}
                }
                j
            })
            .collect()
    }
}
