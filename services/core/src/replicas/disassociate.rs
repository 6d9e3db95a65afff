//! Disassociating a replica (UpdateTable `ReplicaUpdates` `Disassociate`,
//! the developer guide's *Disassociating a global table replica*): the
//! replica sent the request stops replicating with the others and stays a
//! single-Region table, keeping its items; the others go on as a global
//! table (with one left, it is single-Region too).
//!
//! **The cut.** A disassociated replica's row carries a point in hybrid
//! logical time, its `since`: a write of the table belongs in a copy
//! across the split only when it was made before the cut. Every region
//! decides so from the write's own version and the row, which every region
//! holds alike, so each write ends either in both sides or only in its
//! own, whatever the order things arrive in. The region disassociating
//! first waits until its peers hold every write of the table it made
//! (DynamoDB's `WAIT_FOR_REPLICATION`), then takes a cut above every
//! timestamp it has issued, and moves its clock past it, so its later
//! writes stay its own.
//!
//! Meridian keeps one definition per table name, so the two sides share
//! the table's definition and synchronized settings: while a replica is
//! disassociated, they are not changed ([`check_shared_change`]).

use super::{FIELD, State, Status};
use crate::error::Error;
use crate::schema::TableDef;

/// DynamoDB's one `DisassociationMode`.
pub const WAIT_FOR_REPLICATION: &str = "WAIT_FOR_REPLICATION";

/// Whether a write made in `origin` at hybrid-logical physical time `at`
/// (µs) belongs in `region`'s copy of `def`: always in its own region's;
/// across a disassociated replica's split only before its cut.
pub fn carries(def: &TableDef, origin: &str, region: &str, at: u64) -> bool {
    if origin == region {
        return true;
    }
    let cut_after = |r: &str| {
        def.replica_states
            .get(r)
            .and_then(|s| s.cut)
            .is_some_and(|cut| at >= cut)
    };
    !cut_after(origin) && !cut_after(region)
}

/// The regions whose copies replicate with `region`'s, itself included:
/// none but itself once it is disassociated; else every region holding
/// the table that is not.
pub fn group(def: &TableDef, region: &str) -> Vec<String> {
    let apart = |r: &str| {
        def.replica_states
            .get(r)
            .is_some_and(|s| s.status == Status::Disassociated)
    };
    if apart(region) {
        return vec![region.to_string()];
    }
    def.replicas.iter().filter(|r| !apart(r)).cloned().collect()
}

/// The other regions `region` describes as replicas of its global table:
/// none once it is disassociated; else every region described but those
/// that left the table at a cut.
pub fn listed<'a>(def: &'a TableDef, region: &'a str) -> Vec<(&'a String, &'a State)> {
    let apart = def
        .replica_states
        .get(region)
        .is_some_and(|s| s.status == Status::Disassociated);
    if apart {
        return Vec::new();
    }
    def.replica_states
        .iter()
        .filter(|(r, s)| *r != region && s.status.described() && s.cut.is_none())
        .collect()
}

/// Whether any replica of `def` is disassociated or being disassociated.
pub fn any(def: &TableDef) -> bool {
    def.replica_states
        .values()
        .any(|s| matches!(s.status, Status::Disassociating | Status::Disassociated))
}

/// Refuses a change of what the two sides of a split share (the table's
/// synchronized settings, indexes, TTL, its replicas) while a replica of
/// `def` is disassociated: Meridian keeps one definition per table name.
pub fn check_shared_change(def: &TableDef, what: &str) -> Result<(), Error> {
    match def
        .replica_states
        .iter()
        .find(|(_, s)| matches!(s.status, Status::Disassociating | Status::Disassociated))
    {
        None => Ok(()),
        Some((r, _)) => Err(Error::invalid(
            FIELD,
            format!(
                "{what} of table '{}' cannot change while its replica in {r} is disassociated: Meridian keeps one definition per table name, shared by both sides (docs/limits.md)",
                def.name
            ),
        )),
    }
}

/// Checks a `Disassociate` of `region`'s replica of `def`, sent to region
/// `local`, with `mode` and this replica's disassociation protection
/// (`protected`), by DynamoDB's rules: the local replica of a global MREC
/// table, `ACTIVE`, with its protection off.
pub fn plan(
    def: &TableDef,
    local: &str,
    region: &str,
    mode: &str,
    protected: bool,
) -> Result<(), Error> {
    let refuse = |m: String| Err(Error::invalid(FIELD, m));
    if mode != WAIT_FOR_REPLICATION {
        return refuse(format!(
            "DisassociationMode {mode} is not supported; it must be {WAIT_FOR_REPLICATION}"
        ));
    }
    if region != local {
        return refuse(format!(
            "A Disassociate action disassociates the local replica: its RegionName must be {local}, the Region the request is sent to, not {region}"
        ));
    }
    if def.consistency.strong().is_some() {
        return refuse(format!(
            "Table '{}' is a multi-Region strongly consistent global table: only replicas of multi-Region eventually consistent global tables can be disassociated",
            def.name
        ));
    }
    match def.replica_states.get(local).map(|s| s.status) {
        Some(Status::Active) => {}
        Some(s) => {
            return refuse(format!(
                "The replica of table '{}' in {local} is {}, not ACTIVE",
                def.name,
                s.as_str()
            ));
        }
        None => {}
    }
    if group(def, local).len() < 2 {
        return refuse(format!(
            "Table '{}' in {local} is not a replica of a global table",
            def.name
        ));
    }
    if protected {
        return refuse(format!(
            "Disassociation protection is enabled for the replica of table '{}' in {local}; disable it first with UpdateTable DisassociationProtectionEnabled false",
            def.name
        ));
    }
    Ok(())
}

/// The state a replica's row takes when it is written `status` at
/// `now`, from its state `before`: a cut, once taken, stays through every
/// later state but a new membership (`CREATING`).
pub fn next(before: Option<&State>, status: Status, now: u64, cut: Option<u64>) -> State {
    let kept = before
        .and_then(|s| s.cut)
        .filter(|_| status != Status::Creating);
    State {
        status,
        since: now,
        cut: cut.or(kept),
        // A replica keeps its account through its life; made a replica
        // again, it is its table's owner's unless its joining says
        // otherwise (`authorize`).
        account: before
            .and_then(|s| s.account)
            .filter(|_| status != Status::Creating),
        // Likewise its KMS key, which a new membership names anew.
        kms_key: before
            .and_then(|s| s.kms_key.clone())
            .filter(|_| status != Status::Creating),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(replicas: &[&str]) -> TableDef {
        crate::schema::test_table("orders", replicas)
    }

    fn split(mut d: TableDef, region: &str, cut: u64) -> TableDef {
        let s = next(None, Status::Disassociated, cut, Some(cut));
        d.replica_states.insert(region.into(), s);
        d
    }

    #[test]
    fn writes_cross_the_split_only_before_the_cut() {
        let d = split(def(&["a", "b", "c"]), "b", 100);
        // Before the cut, both ways.
        assert!(carries(&d, "a", "b", 99) && carries(&d, "b", "a", 99));
        // At or after it, neither way; the others go on.
        assert!(!carries(&d, "a", "b", 100) && !carries(&d, "b", "c", 150));
        assert!(carries(&d, "a", "c", 150) && carries(&d, "b", "b", 150));
        assert_eq!(group(&d, "b"), ["b"]);
        assert_eq!(group(&d, "a"), ["a", "c"]);
        assert!(any(&d) && !any(&def(&["a", "b"])));
        // Deleted afterwards, its later writes still stay apart; made a
        // replica again, it starts afresh.
        let gone = next(d.replica_states.get("b"), Status::Deleting, 200, None);
        assert_eq!(gone.cut, Some(100));
        assert_eq!(next(Some(&gone), Status::Creating, 300, None).cut, None);
    }

    #[test]
    fn only_the_local_active_unprotected_replica_of_a_global_table_goes() {
        let d = def(&["a", "b"]);
        plan(&d, "a", "a", WAIT_FOR_REPLICATION, false).unwrap();
        let says = |r: Result<(), Error>| r.unwrap_err().to_string();
        assert!(says(plan(&d, "a", "b", WAIT_FOR_REPLICATION, false)).contains("local replica"));
        assert!(says(plan(&d, "a", "a", "NOW", false)).contains("WAIT_FOR_REPLICATION"));
        assert!(says(plan(&d, "a", "a", WAIT_FOR_REPLICATION, true)).contains("protection"));
        assert!(
            says(plan(&def(&["a"]), "a", "a", WAIT_FOR_REPLICATION, false))
                .contains("not a replica of a global table")
        );
        // Once apart, it is no replica of a global table any more.
        let apart = split(def(&["a", "b"]), "a", 5);
        assert!(
            says(plan(&apart, "a", "a", WAIT_FOR_REPLICATION, false)).contains("DISASSOCIATED")
        );
        assert!(says(check_shared_change(&apart, "TTL")).contains("one definition per table name"));
        check_shared_change(&d, "TTL").unwrap();
    }
}
