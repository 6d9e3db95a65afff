//! The drill's checks once the regions have settled, read from every
//! region's store file (read-only) and Admin API: the final heads and
//! conflicts, the change streams replayed against the items, and every
//! secondary index against the items that give it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use meridian_core::{Conflict, EncodedKey, Item};
use meridian_proto::v1::admin_client::AdminClient;
use meridian_region::convert::conflict_from_pb;
use meridian_scenario::Heads;

use crate::target::RegionTarget;

/// Most conflict records one region's Admin API lists at once.
const MAX_CONFLICTS: u32 = 100_000;

/// A region's final state could not be read: the drill cannot be judged.
#[derive(Debug, thiserror::Error)]
#[error("reading {region}'s store after the drill: {message}")]
pub struct FinalStateError {
    pub region: String,
    pub message: String,
}

pub(crate) type FinalState = (Vec<(String, Heads)>, BTreeMap<String, Vec<Conflict>>);

/// Replays every region's change stream of `table` (read from its store
/// file) and compares it with the region's final items, key by key.
pub(crate) fn check_streams(
    regions: &[RegionTarget],
    table: &str,
    heads: &[(String, Heads)],
    problems: &mut Vec<String>,
) -> Vec<meridian_scenario::report::StreamCheck> {
    let mut out = Vec::new();
    for (r, (name, h)) in regions.iter().zip(heads) {
        let mut check = meridian_scenario::report::StreamCheck {
            region: name.clone(),
            ..Default::default()
        };
        match meridian_cluster::state::stream_replay(&r.data_dir, table) {
            Err(e) => {
                problems.push(format!("{name}: its change stream could not be read: {e}"));
                check.error = Some(e.to_string());
            }
            Ok(replayed) => {
                check.records = replayed.records;
                check.removes = replayed.removes;
                check.tombstones_applied = replayed.tombstones_applied;
                check.trimmed = replayed.trimmed;
                problems.extend(removes_mismatch(&check));
                let live: BTreeMap<&EncodedKey, &Item> = h
                    .iter()
                    .filter_map(|((_, k), head)| head.image.as_ref().map(|i| (k, i)))
                    .collect();
                check.items = live.len() as u64;
                // A trimmed stream tells nothing of a key whose records
                // all went: its item stands as it is.
                let keys: BTreeSet<&EncodedKey> = if replayed.trimmed {
                    replayed.seen.iter().collect()
                } else {
                    live.keys().copied().chain(replayed.items.keys()).collect()
                };
                check.keys_checked = keys.len() as u64;
                for k in keys {
                    let got = replayed.items.get(k).map(|b| meridian_core::decode_item(b));
                    let got = match got {
                        Some(Ok(item)) => Some(item),
                        Some(Err(e)) => {
                            check
                                .mismatches
                                .push(format!("{k:?}: its record does not decode: {e}"));
                            continue;
                        }
                        None => None,
                    };
                    let want = live.get(k).copied();
                    if want != got.as_ref() {
                        let what = match (want, got) {
                            (Some(_), None) => "live, but the replay removed it or never saw it",
                            (None, Some(_)) => "absent, but the replay has it",
                            _ => "the replay's item differs",
                        };
                        check.mismatches.push(format!("{k:?}: {what}"));
                    }
                }
                if !check.mismatches.is_empty() {
                    problems.push(format!(
                        "{name}: its change stream replayed gives {} keys that differ from its items",
                        check.mismatches.len()
                    ));
                    check.mismatches.truncate(20);
                }
            }
        }
        out.push(check);
    }
    out
}

/// A region whose untrimmed stream holds REMOVE records other than the live items
/// it turned into tombstones (its store counts those apart, in each
/// change's transaction): a REMOVE dropped, written twice, or written for
/// what was no delete of a live item. A replay that gives the right items
/// can still hide one, as a REMOVE of a key written again later does.
fn removes_mismatch(check: &meridian_scenario::report::StreamCheck) -> Option<String> {
    // A trimmed stream lost REMOVEs with its retention: nothing to count.
    let counted = check.error.is_none() && !check.trimmed;
    (counted && check.removes != check.tombstones_applied).then(|| {
        format!(
            "{}: its change stream holds {} REMOVE records, but it turned {} live items into tombstones",
            check.region, check.removes, check.tombstones_applied
        )
    })
}

/// Checks every index of `table` in every region (read from its store
/// file): its entries must be exactly those the region's final items give
/// by the sparse rule, it must be built, and every region must hold the
/// same entries as the first.
pub(crate) fn check_indexes(
    regions: &[RegionTarget],
    table: &str,
    heads: &[(String, Heads)],
    problems: &mut Vec<String>,
) -> Vec<meridian_scenario::report::IndexCheck> {
    use meridian_scenario::report::IndexCheck;
    let mut out = Vec::new();
    let mut first: BTreeMap<String, BTreeSet<meridian_store::IndexPos>> = BTreeMap::new();
    for (r, (name, h)) in regions.iter().zip(heads) {
        let held = match meridian_cluster::state::indexes(&r.data_dir, table) {
            Ok(held) => held,
            Err(e) => {
                problems.push(format!("{name}: its indexes could not be read: {e}"));
                out.push(IndexCheck {
                    region: name.clone(),
                    error: Some(e.to_string()),
                    ..Default::default()
                });
                continue;
            }
        };
        let live: Vec<(&EncodedKey, &Item)> = h
            .iter()
            .filter_map(|((_, k), head)| head.image.as_ref().map(|i| (k, i)))
            .collect();
        for held in held {
            let want: BTreeSet<meridian_store::IndexPos> = live
                .iter()
                .filter_map(|(k, item)| {
                    held.def.key_of(item).map(|index| meridian_store::IndexPos {
                        index,
                        key: (*k).clone(),
                    })
                })
                .collect();
            let mut check = IndexCheck {
                region: name.clone(),
                index: held.def.name.clone(),
                entries: held.entries.len() as u64,
                items: live.len() as u64,
                ..Default::default()
            };
            for p in held.entries.difference(&want).take(20) {
                check
                    .mismatches
                    .push(format!("stored, no item gives it: {p:?}"));
            }
            for p in want.difference(&held.entries).take(20) {
                check
                    .mismatches
                    .push(format!("an item gives it, not stored: {p:?}"));
            }
            if held.building {
                check.error = Some("still being built".into());
                problems.push(format!(
                    "{name}: index {} is still being built",
                    held.def.name
                ));
            }
            if !check.mismatches.is_empty() {
                problems.push(format!(
                    "{name}: index {} differs from its items ({} entries stored, {} given by its items)",
                    held.def.name,
                    held.entries.len(),
                    want.len()
                ));
            }
            check.agrees = match first.get(&held.def.name) {
                None => {
                    first.insert(held.def.name.clone(), held.entries);
                    true
                }
                Some(reference) => *reference == held.entries,
            };
            if !check.agrees {
                problems.push(format!(
                    "{name}: index {} differs from {}'s",
                    check.index, regions[0].name
                ));
            }
            out.push(check);
        }
    }
    out
}

/// Every region's heads (from its store file, read-only) and conflicts.
pub(crate) async fn final_state(
    regions: &[RegionTarget],
    table: &str,
) -> Result<FinalState, FinalStateError> {
    let mut heads = Vec::new();
    let mut conflicts = BTreeMap::new();
    for r in regions {
        let fail = |message: String| FinalStateError {
            region: r.name.clone(),
            message,
        };
        let h =
            meridian_cluster::state::heads(&r.data_dir, table).map_err(|e| fail(e.to_string()))?;
        heads.push((r.name.clone(), h));
        let mut admin = AdminClient::new(r.admin.clone());
        let listed = tokio::time::timeout(
            Duration::from_secs(30),
            meridian_cluster::state::conflicts(&mut admin, table, MAX_CONFLICTS as usize),
        )
        .await
        .map_err(|_| fail("conflicts: no answer in 30 s".into()))?
        .map_err(|e| fail(format!("conflicts: {}", e.message())))?;
        if listed.len() >= MAX_CONFLICTS as usize {
            return Err(fail(format!(
                "more than {MAX_CONFLICTS} conflicts recorded; the drill cannot check them all (use fewer operations or more keys)"
            )));
        }
        let list = listed
            .into_iter()
            .map(|c| conflict_from_pb(c).map_err(|e| fail(format!("conflict: {}", e.message()))))
            .collect::<Result<Vec<_>, _>>()?;
        conflicts.insert(r.name.clone(), list);
    }
    Ok((heads, conflicts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_scenario::report::StreamCheck;

    #[test]
    fn a_stream_with_fewer_or_more_removes_than_tombstones_applied_is_reported() {
        let check = |removes, tombstones_applied| StreamCheck {
            region: "r1".into(),
            removes,
            tombstones_applied,
            ..Default::default()
        };
        assert_eq!(removes_mismatch(&check(7, 7)), None);
        let fewer = removes_mismatch(&check(6, 7)).expect("a missing REMOVE is reported");
        assert!(
            fewer.contains("6 REMOVE") && fewer.contains("7 live items"),
            "{fewer}"
        );
        assert!(removes_mismatch(&check(8, 7)).is_some());
        // An unreadable stream is reported once, as unreadable.
        let unreadable = StreamCheck {
            error: Some("no such table".into()),
            ..check(0, 3)
        };
        assert_eq!(removes_mismatch(&unreadable), None);
        // A stream whose oldest records went with its retention has lost
        // REMOVEs too: not counted, and not reported.
        let trimmed = StreamCheck {
            trimmed: true,
            ..check(2, 9)
        };
        assert_eq!(removes_mismatch(&trimmed), None);
    }
}
