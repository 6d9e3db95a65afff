//! The client API's provisioned throughput: a provisioned table's reads
//! and writes through `meridian.v1.Meridian` draw on the same buckets as
//! the DynamoDB endpoint's and the replication receivers'
//! ([`crate::capacity`]), charged by the same per-item rules
//! (`meridian_core::throughput`). Without it a client of the native API
//! would be the one way past a replica's units, kinder than AWS.
//!
//! A request meets its table's bucket, for a write each of the table's
//! global indexes' write buckets, and each partition holding an item it
//! names by its key (GetItem, BatchGet, Query, PutItem, DeleteItem,
//! UpdateItem, BatchWrite: the partitions' ceilings, in either billing
//! mode, as the DynamoDB endpoint places them); a spent one refuses it
//! with `RESOURCE_EXHAUSTED` and a message starting with [`THROTTLED`],
//! DynamoDB's exception name, so a client (a drill among them) tells a
//! throttle from a busy STRONG leader. A Scan is not placed.

use meridian_core::Item;
use meridian_core::key::{MAX_PARTITION_KEY_BYTES, encode_key_value};
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
    let units = match r.op {
        Op::Read => "read units",
        Op::Write => "write units",
    };
    let what = match (&r.index, r.partition) {
        (Some(i), _) => format!("index {i} of table {}, {units}", r.table),
        (None, Some(p)) => format!("partition {p} of table {}, {units}", r.table),
        (None, None) => format!("table {}, {units}", r.table),
    };
    Status::resource_exhausted(format!("{THROTTLED}: {MESSAGE} ({what})"))
}

/// The buckets a request draws on, each with its share of the request's
/// units: the whole for a table's or index's, the part of the request's
/// items placed in it for a partition's.
pub(crate) type Touches = Vec<(Resource, f64)>;

impl ClientApi {
    /// The buckets a request of `op` on `table` draws on, each checked:
    /// the table's, for a write each global index's with units of its
    /// own, and the partition of each item `keys` gives (an item or a key,
    /// the partition key's encoding asked with its attribute).
    async fn admit(
        &self,
        table: &str,
        op: Op,
        keys: impl FnOnce(&meridian_core::KeyAttr) -> Vec<Option<Vec<u8>>>,
    ) -> Result<Touches, Status> {
        let mut touches = vec![(Resource::of(table, None, op), 1.0)];
        if op == Op::Write {
            let indexes = self
                .ops
                .capacity_write_indexes(table)
                .await
                .map_err(status_from_op)?;
            touches.extend(
                indexes
                    .into_iter()
                    .map(|(i, _)| (Resource::of(table, Some(i), op), 1.0)),
            );
        }
        let placed = self
            .ops
            .capacity_partitions(table, keys)
            .await
            .map_err(status_from_op)?
            .unwrap_or_default();
        let all = placed.iter().flatten().count();
        for p in placed.into_iter().flatten() {
            let r = Resource {
                partition: Some(p),
                ..Resource::of(table, None, op)
            };
            match touches.iter_mut().find(|(t, _)| *t == r) {
                Some((_, share)) => *share += 1.0 / all as f64,
                None => touches.push((r, 1.0 / all as f64)),
            }
        }
        for (r, _) in &touches {
            if !self.ops.capacity_admits(r).await.map_err(status_from_op)? {
                return Err(refusal(r));
            }
        }
        Ok(touches)
    }

    /// Charges each bucket of `touches` its share of `units`. A failure to
    /// read the table's settings is logged: the request itself was served.
    async fn charge(&self, touches: &Touches, units: f64) {
        for (r, share) in touches {
            if let Err(e) = self.ops.capacity_charge(r, units * share).await {
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
        let touches = self
            .admit(table, Op::Write, |attr| {
                ops.iter()
                    .map(|op| {
                        let key = match op {
                            ItemWrite::Put { item, .. } | ItemWrite::Load { item, .. } => item,
                            ItemWrite::Delete { key, .. }
                            | ItemWrite::Update { key, .. }
                            | ItemWrite::ConditionCheck { key, .. }
                            | ItemWrite::Expire { key, .. } => key,
                        };
                        let value = key.get(&attr.name)?;
                        encode_key_value(value, attr, MAX_PARTITION_KEY_BYTES).ok()
                    })
                    .collect()
            })
            .await?;
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

    /// Admits a read of `table` of the items whose partition keys
    /// `partitions` gives, encoded (none for a Scan);
    /// [`ClientApi::charge_read`] charges it.
    pub(crate) async fn admit_read(
        &self,
        table: &str,
        partitions: &[&[u8]],
    ) -> Result<Touches, Status> {
        self.admit(table, Op::Read, |_| {
            partitions.iter().map(|p| Some(p.to_vec())).collect()
        })
        .await
    }

    /// Charges what a read consumed: for GetItem and BatchGet (`page`
    /// false) each key asked its item's units, half a unit at least for a
    /// key with no item, as DynamoDB charges; for a Query or Scan page the
    /// bytes of the items it read, rounded once. Eventually consistent
    /// reads cost half.
    pub(crate) async fn charge_read<'a>(
        &self,
        touches: &Touches,
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
