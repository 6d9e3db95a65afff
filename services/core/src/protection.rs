//! Deletion protection of a table's replicas, and what a DynamoDB
//! DeleteTable removes.
//!
//! DynamoDB keeps `DeletionProtectionEnabled` per replica and never
//! synchronizes it; yet removing a replica from another region (UpdateTable
//! `ReplicaUpdates` `Delete`) runs as a deletion in the replica's own
//! region, which refuses it while the replica is protected. So the region
//! that decides must know every replica's protection: each region keeps its
//! own as a catalog row (`protection/<region>`, beside the definition like
//! the tags rows), written only by that region and replicated to every
//! region like any catalog row. The row is there while the replica is
//! protected and names the incarnation it belongs to, so a table deleted
//! and created again starts unprotected.
//!
//! DeleteTable sent through DynamoDB's API to a region of a global table
//! deletes that region's replica only, as DynamoDB does ("You can delete a
//! replica table the same way you would delete any other table"); the
//! whole table goes only where no other replica holds it, or where Meridian
//! makes and deletes a table everywhere at once ([`Deletion`]).

use crate::error::Error;
use crate::key::EncodedKey;
use crate::replicas::Status;
use crate::schema::TableDef;
use crate::value::{AttrValue, Item};
use crate::version::Version;

/// Prefix of the sort keys of a table's protection rows in the catalog.
pub const SORT_PREFIX: &[u8] = b"protection/";

/// The field a deletion-protection refusal names; its message is
/// DynamoDB's own, whole.
pub const FIELD: &str = "DeletionProtectionEnabled";

/// The catalog key of `region`'s protection row of `table`.
pub fn key(table: &str, region: &str) -> EncodedKey {
    crate::replicas::region_row_key(SORT_PREFIX, table, region)
}

/// The region a protection row's sort key names, if it is one.
pub fn region_of(sort: &[u8]) -> Option<String> {
    crate::replicas::region_of_row(SORT_PREFIX, sort)
}

/// The row that protects a replica of the incarnation created at
/// `incarnation`.
pub fn item(incarnation: &Version) -> Item {
    Item::from([(
        "table_version".to_string(),
        AttrValue::B(incarnation.to_bytes()),
    )])
}

/// The incarnation a protection row belongs to; a peer's row is untrusted,
/// so anything else in it is refused.
pub fn from_item(item: &Item) -> Result<Version, Error> {
    match (item.get("table_version"), item.len()) {
        (Some(AttrValue::B(v)), 1) => Version::from_bytes(v),
        _ => Err(Error::Decode(
            "catalog protection row must hold a table version and nothing else".into(),
        )),
    }
}

/// DynamoDB's refusal of a DeleteTable of the protected replica it is sent to.
pub fn refused_here() -> Error {
    Error::invalid(
        FIELD,
        "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
    )
}

/// DynamoDB's refusal of a deletion that would take the protected replica
/// of `table` in `region`, another region than the one asked.
pub fn refused_replica(table: &str, region: &str) -> Error {
    Error::invalid(
        FIELD,
        format!(
            "Cannot delete table {table} in region {region} because it has deletion protection enabled. Disable deletion protection first."
        ),
    )
}

/// Refuses a removal of replicas (`ReplicaUpdates` `Delete`, the legacy
/// UpdateGlobalTable's, the CLI's `remove-replica`) of `table` that names a
/// protected one, as the region of that replica would refuse to delete it.
pub fn check_removals(table: &str, removed: &[String], protected: &[String]) -> Result<(), Error> {
    match removed.iter().find(|r| protected.contains(r)) {
        Some(r) => Err(refused_replica(table, r)),
        None => Ok(()),
    }
}

/// What a DeleteTable through DynamoDB's API removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// The table, from every region.
    Table,
    /// The asking region's replica only (it becomes `DELETING`, then goes,
    /// as a `ReplicaUpdates` `Delete` of it would).
    Replica,
}

/// What a DeleteTable of `def` sent to region `local` removes, checked
/// against the protected replicas (`protected`, regions):
///
/// - `local`'s replica protected: refused, in DynamoDB's words;
/// - a STRONG table: refused, as DynamoDB never removes one member of one
///   alone ([`crate::consistency::plan_removal`] removes two);
/// - `everywhere` (tables made in every region at once): the whole table,
///   refused if any replica that holds it is protected, naming that region;
/// - else, when another region still holds the table (`CREATING` or
///   `ACTIVE`): `local`'s replica only, as DynamoDB deletes a replica;
/// - else the whole table, `local` being its last replica.
pub fn deletion(
    def: &TableDef,
    local: &str,
    protected: &[String],
    everywhere: bool,
) -> Result<Deletion, Error> {
    if protected.iter().any(|r| r == local) {
        return Err(refused_here());
    }
    let others: Vec<&String> = def
        .replicas
        .iter()
        .filter(|r| *r != local)
        .filter(|r| {
            def.replica_states
                .get(*r)
                .is_none_or(|s| s.status != Status::Deleting)
        })
        .collect();
    if def.consistency.strong().is_some() {
        return Err(Error::invalid(
            crate::consistency::FIELD,
            format!(
                "Cannot delete the replica of the multi-Region strongly consistent global table '{}' in region {local} alone: remove two members at once with UpdateTable (ReplicaUpdates Delete of the other replicas, or of the other replica with GlobalTableWitnessUpdates Delete), which leaves a single-Region table to delete",
                def.name
            ),
        ));
    }
    if everywhere {
        if let Some(r) = others.iter().find(|r| protected.contains(r)) {
            return Err(refused_replica(&def.name, r));
        }
        return Ok(Deletion::Table);
    }
    Ok(if others.is_empty() {
        Deletion::Table
    } else {
        Deletion::Replica
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Timestamp;
    use crate::replicas::State;

    fn def(replicas: &[&str]) -> TableDef {
        crate::schema::test_table("orders", replicas)
    }

    fn message(e: Error) -> String {
        match e {
            Error::Invalid { field, reason } if field == FIELD => reason,
            other => panic!("not a protection error: {other:?}"),
        }
    }

    fn names(rs: &[&str]) -> Vec<String> {
        rs.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn a_replica_goes_alone_while_another_region_holds_the_table() {
        let d = def(&["a", "b", "c"]);
        assert_eq!(deletion(&d, "a", &[], false).unwrap(), Deletion::Replica);
        // Another replica's protection does not stop this one going.
        assert_eq!(
            deletion(&d, "a", &names(&["b"]), false).unwrap(),
            Deletion::Replica
        );
        // Its own does, in DynamoDB's words.
        assert_eq!(
            message(deletion(&d, "a", &names(&["a"]), false).unwrap_err()),
            "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first."
        );
        // The last replica takes the table with it.
        assert_eq!(
            deletion(&def(&["a"]), "a", &[], false).unwrap(),
            Deletion::Table
        );
    }

    #[test]
    fn replicas_being_removed_do_not_keep_the_table() {
        let mut d = def(&["a", "b"]);
        d.replica_states.insert(
            "b".into(),
            State {
                status: Status::Deleting,
                since: 1,
                cut: None,
                account: None,
                kms_key: None,
            },
        );
        assert_eq!(deletion(&d, "a", &[], false).unwrap(), Deletion::Table);
    }

    #[test]
    fn a_table_deleted_everywhere_is_refused_for_any_protected_replica() {
        let d = def(&["a", "b", "c"]);
        assert_eq!(deletion(&d, "a", &[], true).unwrap(), Deletion::Table);
        assert_eq!(
            message(deletion(&d, "a", &names(&["c"]), true).unwrap_err()),
            "Cannot delete table orders in region c because it has deletion protection enabled. Disable deletion protection first."
        );
    }

    #[test]
    fn the_row_belongs_to_one_incarnation_and_holds_nothing_else() {
        let v = Version {
            hlc: Timestamp {
                physical: 7,
                logical: 0,
            },
            origin: "a".into(),
        };
        assert_eq!(from_item(&item(&v)).unwrap(), v);
        let mut bad = item(&v);
        bad.insert("on".into(), AttrValue::Bool(true));
        assert!(from_item(&bad).is_err());
        assert!(from_item(&Item::new()).is_err());
        let k = key("orders", "eu-west-1");
        assert_eq!(region_of(&k.sort).as_deref(), Some("eu-west-1"));
        assert_eq!(region_of(b"tags/eu-west-1"), None);
    }
}
