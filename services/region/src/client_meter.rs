//! The client API's provisioned throughput: a provisioned table's reads
//! and writes through `meridian.v1.Meridian` draw on the same buckets as
//! the DynamoDB endpoint's and the replication receivers'
//! ([`crate::capacity`]), charged by the same per-item rules
//! (`meridian_core::throughput`). Without it a client of the native API
//! would be the one way past a replica's units, kinder than AWS.
//!
//! A request meets its table's bucket and, for a write, each of the
//! table's provisioned global indexes' write buckets; a spent one refuses
//! it with `RESOURCE_EXHAUSTED` and a message starting with
//! [`THROTTLED`], DynamoDB's exception name, so a client (a drill among
//! them) tells a throttle from a busy STRONG leader. Partitions' ceilings
//! are the DynamoDB endpoint's alone (docs/limits.md).

use meridian_core::Item;
use meridian_core::throughput::{Op, item_read_units, read_units, sized_write_units, write_units};
use meridian_core::value::item_size;
use meridian_store::{ItemWrite, WriteResult};
use tonic::Status;

use crate::capacity::Resource;
use crate::ops::OpError;
use crate::service::ClientApi;
use crate::status::status_from_op;

/// How a throttled request's message starts: DynamoDB's exception.
pub const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// DynamoDB's message for a provisioned table's spent units.
const MESSAGE: &str = "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.";

fn refusal(r: &Resource) -> Status {
    let what = match (&r.index, r.op) {
        (Some(i), _) => format!("index {i} of table {}, write units", r.table),
        (None, Op::Read) => format!("table {}, read units", r.table),
        (None, Op::Write) => format!("table {}, write units", r.table),
    };
    Status::resource_exhausted(format!("{THROTTLED}: {MESSAGE} ({what})"))
}

impl ClientApi {
    /// The buckets a request of `op` on `table` draws on, each checked:
    /// the table's, and for a write each provisioned global index's.
    async fn admit(&self, table: &str, op: Op) -> Result<Vec<Resource>, Status> {
        let mut touches = vec![Resource::of(table, None, op)];
        if op == Op::Write {
            let indexes = self
                .ops
                .capacity_write_indexes(table)
                .await
                .map_err(status_from_op)?;
            touches.extend(
                indexes
                    .into_iter()
                    .map(|(i, _)| Resource::of(table, Some(i), op)),
            );
        }
        for r in &touches {
            if !self.ops.capacity_admits(r).await.map_err(status_from_op)? {
                return Err(refusal(r));
            }
        }
        Ok(touches)
    }

    /// Charges `units` to every bucket of `touches`. A failure to read the
    /// table's settings is logged: the request itself was served.
    async fn charge(&self, touches: &[Resource], units: f64) {
        for r in touches {
            if let Err(e) = self.ops.capacity_charge(r, units).await {
                tracing::warn!(table = %r.table, error = %e, "could not charge a client request's units");
            }
        }
    }

    /// Writes `ops` (all of table `table`) once its buckets admit them,
    /// and charges what they wrote: per item the larger of the item
    /// before and after, one unit per started KB. A write refused by its
    /// condition is charged too, as DynamoDB charges one, by the item it
    /// would have written (at least a unit).
    pub(crate) async fn write_items(
        &self,
        table: &str,
        ops: Vec<ItemWrite>,
    ) -> Result<Vec<WriteResult>, Status> {
        let touches = self.admit(table, Op::Write).await?;
        // Only a conditional write can be refused and still charged: the
        // size it would have written is counted for those requests alone.
        let conditional = ops.iter().any(|op| {
            matches!(
                op,
                ItemWrite::Put {
                    condition: Some(_),
                    ..
                } | ItemWrite::Delete {
                    condition: Some(_),
                    ..
                }
            )
        });
        let attempted: f64 = if conditional {
            ops.iter()
                .map(|op| match op {
                    ItemWrite::Put { item, .. } => sized_write_units(item_size(item)),
                    _ => 1.0,
                })
                .sum()
        } else {
            0.0
        };
        match self.ops.write(ops).await {
            Ok(results) => {
                let units = results
                    .iter()
                    .map(|w| write_units(w.old.as_ref(), w.new.as_ref()))
                    .sum();
                self.charge(&touches, units).await;
                Ok(results)
            }
            Err(e @ OpError::ConditionFailed(_)) => {
                self.charge(&touches, attempted).await;
                Err(status_from_op(e))
            }
            Err(e) => Err(status_from_op(e)),
        }
    }

    /// Admits a read of `table`; [`ClientApi::charge_read`] charges it.
    pub(crate) async fn admit_read(&self, table: &str) -> Result<Vec<Resource>, Status> {
        self.admit(table, Op::Read).await
    }

    /// Charges what a read consumed: for GetItem and BatchGet (`page`
    /// false) each key asked its item's units, half a unit at least for a
    /// key with no item, as DynamoDB charges; for a Query or Scan page the
    /// bytes of the items it read, rounded once. Eventually consistent
    /// reads cost half.
    pub(crate) async fn charge_read<'a>(
        &self,
        touches: &[Resource],
        items: impl IntoIterator<Item = Option<&'a Item>>,
        consistent: bool,
        page: bool,
    ) {
        let units = if page {
            let bytes = items.into_iter().flatten().map(item_size).sum();
            read_units(bytes, consistent)
        } else {
            items
                .into_iter()
                .map(|i| item_read_units(i, consistent))
                .sum()
        };
        self.charge(touches, units).await;
    }
}
