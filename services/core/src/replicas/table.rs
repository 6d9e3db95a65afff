//! The replica rules that read or change a whole table definition: the
//! replica set in force once the replica rows are applied, and a
//! `ReplicaUpdates` request checked against it. The rows and states they
//! work with live in the parent module, below the definition.

use super::{Change, FIELD, Status, from_item};
use crate::error::Error;
use crate::schema::TableDef;
use crate::value::Item;
use crate::version::Version;

/// `def` with the replica rows `rows` (region, row) of the incarnation
/// `incarnation` applied: its `replicas` become the regions that hold data,
/// and its `replica_states` every region's state. Rows of another
/// incarnation are ignored.
pub fn apply(
    mut def: TableDef,
    incarnation: &Version,
    rows: &[(String, Item)],
) -> Result<TableDef, Error> {
    for (region, row) in rows {
        let (state, of) = from_item(row)?;
        if of == *incarnation {
            def.replica_states.insert(region.clone(), state);
        }
    }
    def.replicas = def
        .replica_states
        .iter()
        .filter(|(_, s)| s.status.holds_data())
        .map(|(r, _)| r.clone())
        .collect();
    Ok(def)
}

/// The rows a change writes, by DynamoDB's rules, checked against the
/// replica set in force (`def`) from region `local` of a cluster whose
/// regions are `known`. Nothing is written when any part is refused.
pub fn plan(
    def: &TableDef,
    local: &str,
    known: &[String],
    change: &Change,
) -> Result<Vec<(String, Status)>, Error> {
    let refuse = |m: String| Err(Error::invalid(FIELD, m));
    super::disassociate::check_shared_change(def, "The replicas")?;
    if def.consistency.strong().is_some() {
        return refuse(format!(
            "No replica can be added to the multi-Region strongly consistent global table '{}': its three members are set when it is made, and only removed two at a time",
            def.name
        ));
    }
    if super::authorize::multi_account(def) {
        return refuse(format!(
            "ReplicaUpdates cannot change the replicas of the multi-account global table '{}': each account adds its replica with CreateTable GlobalTableSourceArn and removes it with DeleteTable",
            def.name
        ));
    }
    if change.create.is_empty() && change.delete.is_empty() {
        return refuse("ReplicaUpdates must name at least one replica to Create or Delete".into());
    }
    let mut out: Vec<(String, Status)> = Vec::new();
    let mut missing: Vec<&str> = Vec::new();
    let status = |r: &str| def.replica_states.get(r).map(|s| s.status);
    for (region, create) in change
        .create
        .iter()
        .map(|r| (r, true))
        .chain(change.delete.iter().map(|r| (r, false)))
    {
        if region == local {
            return refuse(
                "Cannot add, delete, or update the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required.".into(),
            );
        }
        if out.iter().any(|(r, _)| r == region) {
            return refuse(format!(
                "Only one replica update per region is allowed in one request; {region} is named twice"
            ));
        }
        if !known.iter().any(|k| k == region) {
            return refuse(format!(
                "Region {region} is not a region of this cluster; its regions are {}",
                known.join(", ")
            ));
        }
        match (create, status(region)) {
            (true, Some(s)) if s.holds_data() => {
                return refuse(format!(
                    "Failed to create a the new replica of table with name: '{}' because one or more replicas already existed as tables ({region} is {})",
                    def.name,
                    s.as_str()
                ));
            }
            (true, Some(Status::Deleting)) => {
                return refuse(format!(
                    "Replica in region {region} of table '{}' is still being deleted; create it again once DescribeTable no longer lists it",
                    def.name
                ));
            }
            (true, _) => out.push((region.clone(), Status::Creating)),
            (false, Some(s)) if s.holds_data() => out.push((region.clone(), Status::Deleting)),
            (false, _) => missing.push(region.as_str()),
        }
    }
    if !missing.is_empty() {
        // DynamoDB's complete message, every missing region listed, as
        // recorded against AWS (docs/replicas.md); not a parameter error.
        return Err(Error::invalid(
            crate::settings::FIELD,
            format!(
                "Update global table operation failed because one or more replicas were not part of the global table. Please retry the request without these replicas: [{}].",
                missing.join(", ")
            ),
        ));
    }
    let left = def
        .replicas
        .iter()
        .filter(|r| !out.iter().any(|(o, s)| o == *r && *s == Status::Deleting))
        .count();
    if left == 0 {
        return refuse(format!(
            "The update would leave table '{}' with no replica; delete the table instead",
            def.name
        ));
    }
    Ok(out)
}
