//! A write to a STRONG table, as the region's operations make it.

use super::StrongError;
use crate::error::OpError;

/// Most times a write is evaluated again because the copy it was
/// evaluated against had moved on before it was chosen.
const MAX_ATTEMPTS: usize = 8;

/// A write to a STRONG table: evaluated against this region's copy,
/// proposed with the versions it read, and answered once chosen and
/// applied here. A write that finds a key moved on (its copy was stale) is
/// evaluated again; a condition that fails, or a write that finds nothing
/// to write, is checked once more after a linearizable read, so neither
/// answers from a stale copy.
pub(crate) async fn write(
    shared: &crate::Shared,
    table: &str,
    ops: Vec<meridian_store::ItemWrite>,
) -> Result<Vec<meridian_store::WriteResult>, OpError> {
    use crate::bridge::BridgeError;
    use crate::metrics::OutcomeLabel;
    use meridian_store::StoreError;
    let count = |outcome: &'static str| {
        shared
            .metrics
            .strong_writes
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        if outcome == "conflict" {
            shared.strong.count_write_conflict(table);
        }
    };
    if let Some(other) = ops
        .iter()
        .map(meridian_store::ItemWrite::table)
        .find(|t| *t != table)
    {
        return Err(OpError::Invalid(meridian_core::Error::invalid(
            "RequestItems",
            format!(
                "a request that writes the multi-Region strongly consistent table {table} writes no other table; {other} is in it too"
            ),
        )));
    }
    let strong = &shared.strong;
    let mut verified = false;
    for _ in 0..MAX_ATTEMPTS {
        // A condition that fails, or nothing to write (an update that
        // leaves no item where this copy holds none), is an answer only
        // from a current copy: checked once more after a linearizable read.
        let evaluated = match shared.storage.strong_evaluate(ops.clone()).await {
            Ok(e) if !e.writes.mutations.is_empty() => Some(e),
            Ok(e) if verified => return Ok(e.results),
            Ok(_) => None,
            Err(BridgeError::Store(
                StoreError::ConditionFailed(_) | StoreError::TransactionCanceled { .. },
            )) if !verified => None,
            Err(e) => return Err(e.into()),
        };
        let Some(evaluated) = evaluated else {
            verified = true;
            strong
                .read_barrier(table)
                .await
                .inspect_err(|_| count("unavailable"))?;
            continue;
        };
        match strong.propose(table, evaluated.writes).await {
            Ok((_, true)) => {
                count("ok");
                return Ok(evaluated.results);
            }
            Ok((_, false)) => count("retried"),
            Err(StrongError::Stale(index)) => {
                count("retried");
                strong.wait_applied(table, index).await?;
            }
            Err(e) => {
                count(match e {
                    StrongError::Conflict => "conflict",
                    StrongError::Busy(_) => "busy",
                    _ => "unavailable",
                });
                return Err(e.into());
            }
        }
    }
    count("conflict");
    Err(StrongError::Conflict.into())
}
