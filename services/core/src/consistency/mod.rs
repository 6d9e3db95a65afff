//! A table's multi-Region consistency: EVENTUAL (last writer wins, the
//! default) or STRONG (a majority of three members decides each write, as
//! DynamoDB's multi-Region strong consistency, docs/strong.md).
//!
//! A table becomes STRONG once, when it is made global: UpdateTable with
//! `ReplicaUpdates`, at most one witness and `MultiRegionConsistency:
//! STRONG`, on an empty table held by its creating region alone. The mode
//! is a catalog row of its own (`consistency`, beside the definition like
//! the replica rows), written after the replica rows of the same request,
//! so a region learns the replicas before it learns that they decide
//! together. It changes once more at most: removing two members at once
//! ([`plan_removal`]) leaves a single-Region table, and the row then says
//! `EVENTUAL` for the incarnation, written after the removed replicas'
//! rows, so every region stops deciding together only once it knows which
//! replica stays.

use crate::error::Error;
use crate::key::EncodedKey;
use crate::schema::TableDef;
use crate::value::{AttrValue, Item};
use crate::version::Version;

mod region_sets;
mod removal;
pub mod set;

/// The sort key of a table's consistency row in the catalog.
pub const SORT_KEY: &[u8] = b"consistency";

pub use region_sets::{REGION_SETS, check as check_region_set, region_set};
pub use removal::plan_removal;
pub use set::{Consistency, FIELD, StrongSet};

/// The catalog key of `table`'s consistency row.
pub fn key(table: &str) -> EncodedKey {
    EncodedKey {
        partition: table.as_bytes().to_vec(),
        sort: SORT_KEY.to_vec(),
    }
}

/// The consistency row of the incarnation created at `incarnation`:
/// STRONG with its set, or `EVENTUAL` once two members were removed.
pub fn item(mode: &Consistency, incarnation: &Version) -> Item {
    let Consistency::Strong(set) = mode else {
        return Item::from([
            ("mode".to_string(), AttrValue::S("EVENTUAL".into())),
            (
                "table_version".to_string(),
                AttrValue::B(incarnation.to_bytes()),
            ),
        ]);
    };
    let mut item = Item::from([
        ("mode".to_string(), AttrValue::S("STRONG".into())),
        (
            "members".to_string(),
            AttrValue::L(
                set.members
                    .iter()
                    .map(|m| AttrValue::S(m.clone()))
                    .collect(),
            ),
        ),
        ("leader".to_string(), AttrValue::S(set.leader.clone())),
        (
            "table_version".to_string(),
            AttrValue::B(incarnation.to_bytes()),
        ),
    ]);
    if let Some(w) = &set.witness {
        item.insert("witness".to_string(), AttrValue::S(w.clone()));
    }
    item
}

/// A consistency row read back: the mode and the incarnation it belongs
/// to. A peer's row is untrusted: an `EVENTUAL` row holds nothing else.
pub fn from_item(item: &Item) -> Result<(Consistency, Version), Error> {
    let decode = |what: &str| Error::Decode(format!("consistency row: {what}"));
    let s = |name: &str| match item.get(name) {
        Some(AttrValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    let of = || match item.get("table_version") {
        Some(AttrValue::B(b)) => Version::from_bytes(b),
        _ => Err(decode("table_version")),
    };
    match s("mode").as_deref() {
        Some("STRONG") => {}
        Some("EVENTUAL") if item.len() == 2 => return Ok((Consistency::Eventual, of()?)),
        _ => return Err(decode("mode")),
    }
    let members: Vec<String> = match item.get("members") {
        Some(AttrValue::L(l)) => l
            .iter()
            .map(|v| match v {
                AttrValue::S(s) => Ok(s.clone()),
                _ => Err(decode("members")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(decode("members")),
    };
    let members: [String; 3] = members.try_into().map_err(|_| decode("members"))?;
    let set = StrongSet {
        members,
        witness: s("witness"),
        leader: s("leader").ok_or_else(|| decode("leader"))?,
    };
    Ok((Consistency::Strong(set), of()?))
}

/// `def` with its consistency row applied, if the row belongs to the
/// incarnation created at `incarnation`.
pub fn apply(
    mut def: TableDef,
    incarnation: &Version,
    row: Option<&Item>,
) -> Result<TableDef, Error> {
    if let Some(row) = row {
        let (mode, of) = from_item(row)?;
        if of == *incarnation {
            def.consistency = mode;
        }
    }
    Ok(def)
}

/// What a table is, as the rules for making it STRONG need it.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Items the table holds in the region asked.
    pub items: u64,
    pub ttl: bool,
}

/// Checks a request to make `def` a STRONG global table from region
/// `local`, adding `create` as replicas and `witness`, by DynamoDB's rules
/// (the table is empty and held by `local` alone; three members in all;
/// no TTL and no local secondary index). Returns the set; nothing is
/// written when a rule is broken.
pub fn plan(
    def: &TableDef,
    local: &str,
    create: &[String],
    witness: Option<&str>,
    facts: &Facts,
) -> Result<StrongSet, Error> {
    let refuse = |m: &str| Err(Error::invalid(FIELD, m));
    if def.consistency.strong().is_some() {
        return refuse("The consistency mode of a global table cannot be changed once it is set");
    }
    if def.replica_states.keys().any(|r| r != local) {
        return refuse(
            "Only a single-Region table can become a multi-Region strongly consistent global table; this table already has replicas in other Regions",
        );
    }
    if facts.items > 0 {
        return refuse(
            "A table must be empty to become a multi-Region strongly consistent global table",
        );
    }
    if facts.ttl {
        return refuse(
            "Time to Live is not supported on multi-Region strongly consistent global tables; disable it first",
        );
    }
    if def
        .indexes
        .iter()
        .any(|i| i.kind == crate::index::Kind::Local)
    {
        return refuse(
            "Local secondary indexes are not supported on multi-Region strongly consistent global tables",
        );
    }
    let mut replicas = vec![local.to_string()];
    replicas.extend(create.iter().cloned());
    StrongSet::new(replicas, witness.map(str::to_string), local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn def() -> TableDef {
        crate::schema::test_table("orders", &["us-east-1"])
    }

    fn regions(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_set_is_three_regions_sorted_with_its_witness_and_first_leader() {
        let set = plan(
            &def(),
            "us-east-1",
            &regions(&["us-east-2"]),
            Some("us-west-2"),
            &Facts::default(),
        )
        .unwrap();
        assert_eq!(set.members, ["us-east-1", "us-east-2", "us-west-2"]);
        assert_eq!(set.witness_member(), Some(2));
        assert_eq!(set.leader_member(), 0);
        assert_eq!(set.replicas().count(), 2);
        let inc = Version::new(Timestamp::new(5, 0), "us-east-1".to_string());
        let strong = Consistency::Strong(set);
        let (back, of) = from_item(&item(&strong, &inc)).unwrap();
        assert_eq!((back, of), (strong, inc.clone()));
        let (back, _) = from_item(&item(&Consistency::Eventual, &inc)).unwrap();
        assert_eq!(back, Consistency::Eventual);
    }

    #[test]
    fn the_rules_refuse_with_the_field_named() {
        let f = Facts::default();
        let two = plan(&def(), "us-east-1", &regions(&["us-east-2"]), None, &f);
        assert!(
            two.unwrap_err()
                .to_string()
                .contains("exactly three Regions")
        );
        let four = plan(
            &def(),
            "us-east-1",
            &regions(&["a-1", "b-1"]),
            Some("c-1"),
            &f,
        );
        assert!(four.is_err());
        let same = plan(&def(), "us-east-1", &regions(&["a-1"]), Some("a-1"), &f);
        assert!(same.unwrap_err().to_string().contains("witness"));
        let full = plan(
            &def(),
            "us-east-1",
            &regions(&["a-1", "b-1"]),
            None,
            &Facts {
                items: 1,
                ..Default::default()
            },
        );
        assert!(full.unwrap_err().to_string().contains("empty"));
        let ttl = plan(
            &def(),
            "us-east-1",
            &regions(&["a-1", "b-1"]),
            None,
            &Facts {
                ttl: true,
                ..Default::default()
            },
        );
        assert!(ttl.unwrap_err().to_string().contains("Time to Live"));
    }
}
