//! Removing members of a STRONG table, by DynamoDB's rules: two at once in
//! one UpdateTable (two replicas, or a replica and the witness), sent to
//! the replica that stays, which is left a single-Region table; one alone,
//! or all three, never (the developer guide's tutorial *Deleting an MRSC
//! global table*, and the API reference's
//! `DeleteGlobalTableWitnessGroupMemberAction`).

use super::FIELD;
use crate::error::Error;
use crate::replicas::Status;
use crate::schema::TableDef;

/// The replica rows a removal of `replicas` (ReplicaUpdates `Delete`) and
/// `witness` (GlobalTableWitnessUpdates `Delete`) from STRONG `def`, sent
/// to region `local`, writes: each removed replica `DELETING`. The
/// consistency row that makes the table single-Region follows them.
/// Nothing is written when a rule is broken.
pub fn plan_removal(
    def: &TableDef,
    local: &str,
    replicas: &[String],
    witness: Option<&str>,
) -> Result<Vec<(String, Status)>, Error> {
    let refuse = |m: String| Err(Error::invalid(FIELD, m));
    let Some(set) = def.consistency.strong() else {
        return refuse(format!(
            "Table '{}' has no witness: a witness belongs only to a multi-Region strongly consistent global table",
            def.name
        ));
    };
    if replicas.iter().any(|r| r == local) {
        return refuse(
            "Cannot add, delete, or update the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required.".into(),
        );
    }
    for r in replicas {
        if set.is_witness(r) {
            return refuse(format!(
                "Region {r} is the witness of table '{}', not a replica: remove it with GlobalTableWitnessUpdates Delete",
                def.name
            ));
        }
        if set.member(r).is_none() {
            return refuse(format!(
                "Replica in region {r} of table '{}' does not exist; its members are {}",
                def.name,
                set.members.join(", ")
            ));
        }
    }
    if let Some(w) = witness
        && !set.is_witness(w)
    {
        return refuse(match &set.witness {
            Some(actual) => format!(
                "Region {w} is not the witness of table '{}'; its witness is {actual}",
                def.name
            ),
            None => format!("Table '{}' has no witness; {w} is not one", def.name),
        });
    }
    let mut removed: Vec<&str> = replicas.iter().map(String::as_str).collect();
    removed.extend(witness);
    removed.sort_unstable();
    removed.dedup();
    if removed.len() != 2 {
        return refuse(format!(
            "Members of the multi-Region strongly consistent global table '{}' are removed two at a time, in one UpdateTable: the two other replicas, or the other replica and the witness, which leaves a single-Region table; this request removes {}",
            def.name,
            removed.len()
        ));
    }
    Ok(replicas
        .iter()
        .map(|r| (r.clone(), Status::Deleting))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consistency::{Consistency, StrongSet};

    fn strong(replicas: &[&str], witness: Option<&str>) -> TableDef {
        let names: Vec<String> = replicas.iter().map(|r| r.to_string()).collect();
        let mut def = crate::schema::test_table("music", replicas);
        def.consistency = Consistency::Strong(
            StrongSet::new(names, witness.map(str::to_string), replicas[0]).unwrap(),
        );
        def
    }

    fn names(rs: &[&str]) -> Vec<String> {
        rs.iter().map(|r| r.to_string()).collect()
    }

    fn says(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn two_members_go_together_and_leave_the_asking_replica() {
        let three = strong(&["us-east-1", "us-east-2", "us-west-2"], None);
        assert_eq!(
            plan_removal(
                &three,
                "us-east-2",
                &names(&["us-east-1", "us-west-2"]),
                None
            )
            .unwrap(),
            vec![
                ("us-east-1".to_string(), Status::Deleting),
                ("us-west-2".to_string(), Status::Deleting)
            ]
        );
        let witnessed = strong(&["us-east-1", "us-east-2"], Some("us-west-2"));
        assert_eq!(
            plan_removal(
                &witnessed,
                "us-east-1",
                &names(&["us-east-2"]),
                Some("us-west-2")
            )
            .unwrap(),
            vec![("us-east-2".to_string(), Status::Deleting)]
        );
    }

    #[test]
    fn one_alone_or_the_wrong_member_is_refused_by_name() {
        let three = strong(&["us-east-1", "us-east-2", "us-west-2"], None);
        let one =
            says(plan_removal(&three, "us-east-1", &names(&["us-east-2"]), None).unwrap_err());
        assert!(
            one.contains("two at a time") && one.contains("removes 1"),
            "{one}"
        );
        let local = says(
            plan_removal(
                &three,
                "us-east-1",
                &names(&["us-east-1", "us-west-2"]),
                None,
            )
            .unwrap_err(),
        );
        assert!(local.contains("local region"), "{local}");
        let stranger = says(
            plan_removal(
                &three,
                "us-east-1",
                &names(&["eu-west-1", "us-west-2"]),
                None,
            )
            .unwrap_err(),
        );
        assert!(
            stranger.contains("eu-west-1") && stranger.contains("does not exist"),
            "{stranger}"
        );
        let no_witness = says(
            plan_removal(
                &three,
                "us-east-1",
                &names(&["us-east-2"]),
                Some("us-west-2"),
            )
            .unwrap_err(),
        );
        assert!(no_witness.contains("has no witness"), "{no_witness}");
        let witnessed = strong(&["us-east-1", "us-east-2"], Some("us-west-2"));
        let alone =
            says(plan_removal(&witnessed, "us-east-1", &[], Some("us-west-2")).unwrap_err());
        assert!(alone.contains("removes 1"), "{alone}");
        let as_replica =
            says(plan_removal(&witnessed, "us-east-1", &names(&["us-west-2"]), None).unwrap_err());
        assert!(as_replica.contains("is the witness"), "{as_replica}");
    }
}
