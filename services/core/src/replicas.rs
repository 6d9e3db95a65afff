//! A table's replica set after its creation: replicas added and removed
//! with UpdateTable's `ReplicaUpdates`.
//!
//! The regions a table is created with are its first replicas, `ACTIVE`.
//! Every change after that is a catalog row of its own per region
//! (`replica/<region>`, beside the definition like TTL and settings), so a
//! change never alters the table's incarnation and its items survive.
//!
//! **The rule for concurrent changes.** Each region's membership is one
//! last-writer-wins register. Two regions that change the replica set at
//! once both take effect when they name different regions; when they name
//! the same region, the change with the later version (HLC, then origin
//! region) wins in every region. Each row names the incarnation it belongs
//! to: a table deleted and created again starts from its creation set.
//!
//! A replica's life: `CREATING` (written by the region that takes the
//! request) while the new region fills from its peers, `ACTIVE` (written by
//! the new region when the fill is done), `DELETING` (written by the region
//! that takes the removal) until the removed region has deleted its copy,
//! then `DELETED` (written by that region), which is no longer described.
//! A replica disassociated from the others (`DISASSOCIATING` while its own
//! writes reach its peers, then `DISASSOCIATED`, both written by its own
//! region) keeps its items as a single-Region table ([`disassociate`]).

use std::collections::BTreeMap;

use crate::error::Error;
use crate::key::EncodedKey;
use crate::value::{AttrValue, Item};
use crate::version::Version;

pub mod authorize;
pub mod disassociate;
mod table;
pub use table::{apply, plan};

/// Prefix of the sort keys of a table's replica rows in the catalog.
pub const SORT_PREFIX: &[u8] = b"replica/";

/// The field a replica-set error names.
pub const FIELD: &str = "ReplicaUpdates";

/// Where a replica is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Creating,
    Active,
    Deleting,
    Deleted,
    Disassociating,
    Disassociated,
}

impl Status {
    /// DynamoDB's `ReplicaStatus` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "CREATING",
            Status::Active => "ACTIVE",
            Status::Deleting => "DELETING",
            Status::Deleted => "DELETED",
            Status::Disassociating => "DISASSOCIATING",
            Status::Disassociated => "DISASSOCIATED",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "CREATING" => Status::Creating,
            "ACTIVE" => Status::Active,
            "DELETING" => Status::Deleting,
            "DELETED" => Status::Deleted,
            "DISASSOCIATING" => Status::Disassociating,
            "DISASSOCIATED" => Status::Disassociated,
            other => return Err(Error::Decode(format!("replica status {other:?}"))),
        })
    }

    /// Whether a region in this state holds the table's items: it applies
    /// its peers' writes and accepts its own.
    pub fn holds_data(self) -> bool {
        matches!(
            self,
            Status::Creating | Status::Active | Status::Disassociating | Status::Disassociated
        )
    }

    /// DynamoDB's `ReplicaStatus` for it: a replica being disassociated is
    /// `UPDATING`, as its table is.
    pub fn described_as(self) -> &'static str {
        match self {
            Status::Disassociating => "UPDATING",
            s => s.as_str(),
        }
    }

    /// Whether DescribeTable lists the replica.
    pub fn described(self) -> bool {
        self != Status::Deleted
    }
}

/// One replica's state, and since when (µs since the epoch; 0 for the
/// creation set, which dates from the table's creation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    pub since: u64,
    /// Where the replica left its global table, once disassociated
    /// ([`disassociate`]): kept through its later states, so a write made
    /// after it never crosses, until the region is made a replica again.
    pub cut: Option<u64>,
    /// The account the replica belongs to when it is not the table's
    /// owner's: a replica another account added with CreateTable's
    /// `GlobalTableSourceArn` ([`authorize`]).
    pub account: Option<crate::account::Account>,
    /// The KMS key `ReplicaUpdates` `Create` named for the replica
    /// (`KMSMasterKeyId`), as given: DynamoDB describes it among the
    /// table's `Replicas`, so it is in the replica's row, which every
    /// region reads, and kept through the replica's life.
    pub kms_key: Option<String>,
}

/// The catalog key of `region`'s replica row of `table`.
pub fn key(table: &str, region: &str) -> EncodedKey {
    region_row_key(SORT_PREFIX, table, region)
}

/// The region a replica row's sort key names, if it is one.
pub fn region_of(sort: &[u8]) -> Option<String> {
    region_of_row(SORT_PREFIX, sort)
}

/// The catalog key of `region`'s row of `table` among the rows whose sort
/// keys start with `prefix`: the one form of the rows each region keeps of
/// its own replica (its state, protection, policy).
pub fn region_row_key(prefix: &[u8], table: &str, region: &str) -> EncodedKey {
    EncodedKey {
        partition: table.as_bytes().to_vec(),
        sort: [prefix, region.as_bytes()].concat(),
    }
}

/// The region a sort key of `prefix`'s rows names, if it is one.
pub fn region_of_row(prefix: &[u8], sort: &[u8]) -> Option<String> {
    let rest = sort.strip_prefix(prefix)?;
    String::from_utf8(rest.to_vec()).ok()
}

/// The attribute of a replica row holding [`State::kms_key`].
pub const KMS_KEY: &str = "kms_key";

/// A replica row: `state`, for the incarnation created at `incarnation`.
pub fn item(state: &State, incarnation: &Version) -> Item {
    let number =
        |n: u64| AttrValue::N(crate::Number::parse(&n.to_string(), "since").expect("an integer"));
    let mut item = Item::from([
        (
            "status".to_string(),
            AttrValue::S(state.status.as_str().into()),
        ),
        ("since".to_string(), number(state.since)),
        (
            "table_version".to_string(),
            AttrValue::B(incarnation.to_bytes()),
        ),
    ]);
    if let Some(cut) = state.cut {
        item.insert("cut".to_string(), number(cut));
    }
    if let Some(account) = state.account {
        item.insert("account".to_string(), AttrValue::S(account.to_string()));
    }
    if let Some(key) = &state.kms_key {
        item.insert(KMS_KEY.to_string(), AttrValue::S(key.clone()));
    }
    item
}

/// A replica row read back: its state and the incarnation it belongs to.
pub fn from_item(item: &Item) -> Result<(State, Version), Error> {
    let status = match item.get("status") {
        Some(AttrValue::S(s)) => Status::parse(s)?,
        _ => return Err(Error::Decode("replica row without a status".into())),
    };
    let micros = |field: &str, n: &crate::Number| {
        n.to_string()
            .parse::<u64>()
            .map_err(|_| Error::Decode(format!("replica row {field} {n}")))
    };
    let since = match item.get("since") {
        Some(AttrValue::N(n)) => micros("since", n)?,
        _ => return Err(Error::Decode("replica row without since".into())),
    };
    let cut = match item.get("cut") {
        None => None,
        Some(AttrValue::N(n)) => Some(micros("cut", n)?),
        Some(_) => return Err(Error::Decode("replica row cut is not a number".into())),
    };
    let account = match item.get("account") {
        None => None,
        Some(AttrValue::S(a)) => Some(
            crate::account::Account::parse(a)
                .ok_or_else(|| Error::Decode(format!("replica row account {a:?}")))?,
        ),
        Some(_) => return Err(Error::Decode("replica row account is not a string".into())),
    };
    let kms_key = match item.get(KMS_KEY) {
        None => None,
        Some(AttrValue::S(k)) => Some(k.clone()),
        Some(_) => return Err(Error::Decode("replica row kms_key is not a string".into())),
    };
    let of = match item.get("table_version") {
        Some(AttrValue::B(b)) => Version::from_bytes(b)?,
        _ => {
            return Err(Error::Decode(
                "replica row without its table version".into(),
            ));
        }
    };
    Ok((
        State {
            status,
            since,
            cut,
            account,
            kms_key,
        },
        of,
    ))
}

/// The creation set: every region `ACTIVE` since the table's creation.
pub fn initial(replicas: &[String]) -> BTreeMap<String, State> {
    replicas
        .iter()
        .map(|r| {
            (
                r.clone(),
                State {
                    status: Status::Active,
                    since: 0,
                    cut: None,
                    account: None,
                    kms_key: None,
                },
            )
        })
        .collect()
}

/// One `ReplicaUpdates` request, by region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub create: Vec<String>,
    pub delete: Vec<String>,
    /// The `KMSMasterKeyId` a `Create` named, by region.
    pub kms_keys: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::schema::TableDef;

    fn def(replicas: &[&str]) -> TableDef {
        crate::schema::test_table("orders", replicas)
    }

    fn v(p: u64, region: &str) -> Version {
        Version::new(Timestamp::new(p, 0), region.to_string())
    }

    fn st(status: Status, since: u64) -> State {
        State {
            status,
            since,
            cut: None,
            account: None,
            kms_key: None,
        }
    }

    fn known() -> Vec<String> {
        ["a-1", "b-1", "c-1", "d-1"].map(String::from).to_vec()
    }

    #[test]
    fn rows_of_the_incarnation_change_the_set_and_others_do_not() {
        let inc = v(10, "a-1");
        let rows = vec![
            ("c-1".to_string(), item(&st(Status::Creating, 5), &inc)),
            ("b-1".to_string(), item(&st(Status::Deleting, 6), &inc)),
            (
                "d-1".to_string(),
                item(&st(Status::Active, 7), &v(3, "a-1")),
            ),
        ];
        let d = apply(def(&["a-1", "b-1"]), &inc, &rows).unwrap();
        assert_eq!(d.replicas, vec!["a-1", "c-1"]);
        assert_eq!(d.replica_states["b-1"].status, Status::Deleting);
        assert!(!d.replica_states.contains_key("d-1"));
        assert!(d.has_replica("c-1") && !d.has_replica("b-1"));
    }

    #[test]
    fn a_change_is_planned_by_dynamodbs_rules() {
        let d = def(&["a-1", "b-1"]);
        let ch = |create: &[&str], delete: &[&str]| Change {
            create: create.iter().map(|r| r.to_string()).collect(),
            delete: delete.iter().map(|r| r.to_string()).collect(),
            ..Change::default()
        };
        assert_eq!(
            plan(&d, "a-1", &known(), &ch(&["c-1"], &["b-1"])).unwrap(),
            vec![
                ("c-1".to_string(), Status::Creating),
                ("b-1".to_string(), Status::Deleting)
            ]
        );
        let err = |c: Change| plan(&d, "a-1", &known(), &c).unwrap_err().to_string();
        assert!(err(ch(&["a-1"], &[])).contains("local region"));
        assert!(err(ch(&["b-1"], &[])).contains("already existed"));
        assert!(err(ch(&["x-9"], &[])).contains("x-9 is not a region"));
        assert_eq!(
            err(ch(&[], &["c-1", "b-1", "d-1"])),
            "UpdateTable: Update global table operation failed because one or more replicas were not part of the global table. Please retry the request without these replicas: [c-1, d-1]."
        );
        assert!(err(ch(&["c-1"], &["c-1"])).contains("named twice"));
        assert!(err(ch(&[], &[])).contains("at least one"));
        let alone = def(&["a-1"]);
        // The local replica cannot go this way; from another region, the
        // last one cannot.
        let e = plan(&alone, "b-1", &known(), &ch(&[], &["a-1"])).unwrap_err();
        assert!(e.to_string().contains("no replica"), "{e}");
    }

    #[test]
    fn rows_read_back_as_written() {
        let inc = v(42, "b-1");
        let (s, of) = from_item(&item(&st(Status::Deleting, 99), &inc)).unwrap();
        assert_eq!((s.status, s.since, of), (Status::Deleting, 99, inc.clone()));
        let split = State {
            cut: Some(7),
            ..st(Status::Disassociated, 5)
        };
        assert_eq!(from_item(&item(&split, &inc)).unwrap().0, split);
        let keyed = State {
            kms_key: Some("alias/k".into()),
            ..st(Status::Creating, 5)
        };
        assert_eq!(from_item(&item(&keyed, &inc)).unwrap().0, keyed);
        assert_eq!(region_of(&key("t", "c-1").sort).as_deref(), Some("c-1"));
        assert_eq!(region_of(b"settings"), None);
    }
}
