//! Tables: the table definition, which folds in the key schema
//! ([`crate::key`]), the secondary indexes, the replica set and the
//! settings, and the other catalog rows kept beside it (TTL, tags).

use std::collections::BTreeMap;

use crate::error::Error;
use crate::key::{EncodedKey, KeyAttr, KeySchema, KeyType, validate_region_name};
use crate::number::Number;
use crate::value::{AttrValue, Item};

/// A table: name, key schema and the regions that hold a replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub name: String,
    pub key_schema: KeySchema,
    /// The regions that hold the table's items: the creation set, as
    /// changed since by replica rows ([`crate::replicas`]) when the store
    /// reads the definition back.
    pub replicas: Vec<String>,
    /// Every replica's state, removed ones included until they are gone.
    pub replica_states: std::collections::BTreeMap<String, crate::replicas::State>,
    /// The change stream's view type (`NEW_IMAGE`, …) when a stream was
    /// requested; served by the regions' change streams (docs/streams.md).
    /// UpdateTable changes it in the settings row ([`crate::settings`]).
    pub stream_view_type: Option<String>,
    /// The billing mode the table was created with; UpdateTable changes it
    /// in the settings row.
    pub billing: crate::settings::Billing,
    /// The warm throughput CreateTable asked for (`WarmThroughput`: reads,
    /// writes a second; 0 where a member was left out), kept to be
    /// described. Nothing is metered, so it changes no behaviour. Written
    /// only when asked for, as `warm_read` and `warm_write`: rows of the
    /// earlier encoding read back as never asked for. Boxed: rarely set,
    /// and it keeps the definition (in every catalog write) small.
    pub warm: Option<Box<(u64, u64)>>,
    /// The secondary indexes: those the table was created with, as changed
    /// since by index rows ([`crate::index`]) when the store reads the
    /// definition back.
    pub indexes: Vec<crate::index::IndexDef>,
    /// EVENTUAL, or STRONG once the table's consistency row
    /// ([`crate::consistency`]) says so when the store reads it back.
    /// Named in its leaf (`set`), not through the module's re-export: the
    /// module's rules read table definitions.
    pub consistency: crate::consistency::set::Consistency,
    /// The account that created the table, whose its creation set's
    /// replicas are, and any replica added through `ReplicaUpdates`
    /// (`crate::account`); written only when not the default account, so
    /// rows of tables created before accounts read back unchanged.
    pub owner: crate::account::Account,
}

/// The catalog is stored as ordinary LWW items in this reserved table, so
/// table definitions replicate through the same log as data. `$` cannot
/// appear in a user table name.
pub const CATALOG_TABLE: &str = "$catalog";

/// Sort key of a table's TTL row in the catalog (the definition has none).
pub const TTL_SORT_KEY: &[u8] = b"ttl";

/// Prefix of the sort keys of a table's tag rows in the catalog, one row per
/// region. DynamoDB does not synchronize tags between the replicas of a
/// global table (version 2019.11.21): each replica is a resource of its own,
/// with its own ARN and tags. The rows still travel through the log like the
/// rest of the catalog; each region reads only its own.
pub const TAGS_SORT_PREFIX: &[u8] = b"tags/";

/// Most tags on one table replica, as in DynamoDB.
pub const MAX_TAGS: usize = 50;

/// A replica's tags: key to value.
pub type Tags = BTreeMap<String, String>;

/// `current` with `add` set (replacing the values of keys already there)
/// and `remove` removed. More than [`MAX_TAGS`] afterwards is refused with
/// DynamoDB's message; the field is `Tags`.
pub fn merge_tags(mut current: Tags, add: &Tags, remove: &[String]) -> Result<Tags, Error> {
    for k in remove {
        current.remove(k);
    }
    current.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
    if current.len() > MAX_TAGS {
        return Err(Error::invalid(
            "Tags",
            "Number of Tags exceed the current limit for the provided ResourceArn",
        ));
    }
    Ok(current)
}

pub fn validate_table_name(name: &str) -> Result<(), Error> {
    if !(3..=255).contains(&name.len()) {
        return Err(Error::invalid(
            "TableName",
            format!("must be 3 to 255 characters long, got {}", name.len()),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(Error::invalid(
            "TableName",
            format!("may contain only a-z, A-Z, 0-9, '_', '-' and '.', found {c:?}"),
        ));
    }
    Ok(())
}

fn validate_attr_name(name: &str, field: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 255 {
        return Err(Error::invalid(
            field,
            format!(
                "key attribute names must be 1 to 255 bytes, got {}",
                name.len()
            ),
        ));
    }
    Ok(())
}

impl TableDef {
    pub fn new(
        name: &str,
        key_schema: KeySchema,
        mut replicas: Vec<String>,
    ) -> Result<Self, Error> {
        validate_table_name(name)?;
        validate_attr_name(&key_schema.partition.name, "partition_key")?;
        if let Some(s) = &key_schema.sort {
            validate_attr_name(&s.name, "sort_key")?;
            if s.name == key_schema.partition.name {
                return Err(Error::invalid(
                    "sort_key",
                    "the sort key must differ from the partition key",
                ));
            }
        }
        if replicas.is_empty() {
            return Err(Error::invalid(
                "replicas",
                "a table needs at least one replica region",
            ));
        }
        for r in &replicas {
            validate_region_name(r)?;
        }
        replicas.sort();
        replicas.dedup();
        Ok(TableDef {
            name: name.to_string(),
            key_schema,
            replica_states: crate::replicas::initial(&replicas),
            replicas,
            stream_view_type: None,
            billing: crate::settings::Billing::PayPerRequest,
            warm: None,
            indexes: Vec::new(),
            consistency: Default::default(),
            owner: crate::account::DEFAULT,
        })
    }

    /// The catalog row for this table.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert("name".into(), AttrValue::S(self.name.clone()));
        let ks = &self.key_schema;
        item.insert("pk_name".into(), AttrValue::S(ks.partition.name.clone()));
        item.insert(
            "pk_type".into(),
            AttrValue::S(ks.partition.ty.as_str().into()),
        );
        if let Some(s) = &ks.sort {
            item.insert("sk_name".into(), AttrValue::S(s.name.clone()));
            item.insert("sk_type".into(), AttrValue::S(s.ty.as_str().into()));
        }
        item.insert("replicas".into(), AttrValue::Ss(self.replicas.clone()));
        if !self.indexes.is_empty() {
            item.insert(
                "indexes".into(),
                AttrValue::L(self.indexes.iter().map(|i| i.to_value()).collect()),
            );
        }
        if let Some(v) = &self.stream_view_type {
            item.insert("stream".into(), AttrValue::S(v.clone()));
        }
        // On-demand is the default and is not written, so the rows of tables
        // created before billing modes existed read back unchanged.
        if let crate::settings::Billing::Provisioned { read, write } = self.billing {
            let n = |v: u64| {
                AttrValue::N(Number::parse(&v.to_string(), "capacity").expect("an integer"))
            };
            item.insert("rcu".into(), n(read));
            item.insert("wcu".into(), n(write));
        }
        if let Some(&(read, write)) = self.warm.as_deref() {
            let n =
                |v: u64| AttrValue::N(Number::parse(&v.to_string(), "warm").expect("an integer"));
            item.insert("warm_read".into(), n(read));
            item.insert("warm_write".into(), n(write));
        }
        if self.owner != crate::account::DEFAULT {
            item.insert("account".into(), AttrValue::S(self.owner.to_string()));
        }
        item
    }

    pub fn from_item(item: &Item) -> Result<Self, Error> {
        let s = |k: &str| match item.get(k) {
            Some(AttrValue::S(s)) => Ok(Some(s.clone())),
            None => Ok(None),
            Some(_) => Err(Error::Decode(format!("catalog field {k} is not a string"))),
        };
        let need =
            |k: &str| s(k)?.ok_or_else(|| Error::Decode(format!("catalog field {k} missing")));
        let partition = KeyAttr {
            name: need("pk_name")?,
            ty: KeyType::parse(&need("pk_type")?, "pk_type")?,
        };
        let sort = match (s("sk_name")?, s("sk_type")?) {
            (Some(name), Some(ty)) => Some(KeyAttr {
                name,
                ty: KeyType::parse(&ty, "sk_type")?,
            }),
            (None, None) => None,
            _ => return Err(Error::Decode("catalog sort key half present".into())),
        };
        let replicas = match item.get("replicas") {
            Some(AttrValue::Ss(r)) => r.clone(),
            _ => return Err(Error::Decode("catalog replicas missing".into())),
        };
        let mut def = TableDef::new(&need("name")?, KeySchema { partition, sort }, replicas)?;
        def.stream_view_type = s("stream")?;
        def.indexes = match item.get("indexes") {
            None => Vec::new(),
            Some(AttrValue::L(list)) => list
                .iter()
                .map(crate::index::IndexDef::from_value)
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Error::Decode("catalog indexes are not a list".into())),
        };
        crate::index::validate(&def.key_schema, &def.indexes)
            .map_err(|e| Error::Decode(format!("catalog indexes: {e}")))?;
        let units = |k: &str| {
            crate::settings::stored_units(item.get(k)).map_err(|number| {
                let what = if number { "a capacity" } else { "a number" };
                Error::Decode(format!("catalog field {k} is not {what}"))
            })
        };
        def.billing = match (units("rcu")?, units("wcu")?) {
            (None, None) => crate::settings::Billing::PayPerRequest,
            (Some(read), Some(write)) => crate::settings::Billing::Provisioned { read, write },
            _ => return Err(Error::Decode("catalog capacity half present".into())),
        };
        // `billing_mode`, which rows of an earlier encoding carry (whether
        // CreateTable named the mode), is read no more: DynamoDB's
        // description does not depend on it.
        let warm = |k: &str| match item.get(k) {
            None => Ok(None),
            Some(AttrValue::N(n)) => n
                .to_string()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| Error::Decode(format!("catalog field {k} is not a count"))),
            Some(_) => Err(Error::Decode(format!("catalog field {k} is not a number"))),
        };
        def.warm = match (warm("warm_read")?, warm("warm_write")?) {
            (None, None) => None,
            (Some(read), Some(write)) => Some(Box::new((read, write))),
            _ => return Err(Error::Decode("catalog warm throughput half present".into())),
        };
        def.owner = match s("account")? {
            None => crate::account::DEFAULT,
            Some(a) => crate::account::Account::parse(&a).ok_or_else(|| {
                Error::Decode(format!("catalog account {a:?} is not an account id"))
            })?,
        };
        Ok(def)
    }

    /// The index named `name`.
    pub fn index(&self, name: &str) -> Option<&crate::index::IndexDef> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Refuses an item whose value for some index's key attribute could
    /// never be in that index (`IndexDef::check`).
    /// DynamoDB names the first index by name when several refuse it;
    /// `update` picks its wording for an update expression's result.
    pub fn check_index_keys(&self, item: &Item, update: bool) -> Result<(), Error> {
        let mut by_name: Vec<&crate::index::IndexDef> = self.indexes.iter().collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        by_name.into_iter().try_for_each(|i| i.check(item, update))
    }

    pub fn has_replica(&self, region: &str) -> bool {
        self.replicas.iter().any(|r| r == region)
    }

    /// The catalog key of a table's TTL setting: beside its definition, so
    /// changing TTL never changes the table's incarnation.
    pub fn ttl_key(name: &str) -> EncodedKey {
        EncodedKey {
            partition: name.as_bytes().to_vec(),
            sort: TTL_SORT_KEY.to_vec(),
        }
    }

    /// The catalog row that enables TTL on `attribute` for the incarnation
    /// of the table created at `table_version`. A recreated table does not
    /// inherit it.
    pub fn ttl_item(attribute: &str, table_version: &crate::Version) -> Item {
        Item::from([
            ("attribute".to_string(), AttrValue::S(attribute.to_string())),
            (
                "table_version".to_string(),
                AttrValue::B(table_version.to_bytes()),
            ),
        ])
    }

    /// The TTL attribute and table incarnation named by a catalog TTL row.
    pub fn ttl_attribute(item: &Item) -> Result<(String, crate::Version), Error> {
        match (item.get("attribute"), item.get("table_version")) {
            (Some(AttrValue::S(a)), Some(AttrValue::B(v)))
                if !a.is_empty() && a.len() <= 255 && item.len() == 2 =>
            {
                Ok((a.clone(), crate::Version::from_bytes(v)?))
            }
            _ => Err(Error::Decode(
                "catalog TTL row must hold an attribute name and a table version".into(),
            )),
        }
    }

    /// The catalog key of a table's tags in `region`.
    pub fn tags_key(name: &str, region: &str) -> EncodedKey {
        EncodedKey {
            partition: name.as_bytes().to_vec(),
            sort: [TAGS_SORT_PREFIX, region.as_bytes()].concat(),
        }
    }

    /// The catalog row holding `tags` for the incarnation of the table
    /// created at `table_version`; a recreated table starts untagged.
    pub fn tags_item(tags: &Tags, table_version: &crate::Version) -> Item {
        let map = tags
            .iter()
            .map(|(k, v)| (k.clone(), AttrValue::S(v.clone())))
            .collect();
        Item::from([
            ("tags".to_string(), AttrValue::M(map)),
            (
                "table_version".to_string(),
                AttrValue::B(table_version.to_bytes()),
            ),
        ])
    }

    /// The tags and table incarnation named by a catalog tags row.
    pub fn tags(item: &Item) -> Result<(Tags, crate::Version), Error> {
        let bad =
            || Error::Decode("catalog tags row must hold string tags and a table version".into());
        match (item.get("tags"), item.get("table_version")) {
            (Some(AttrValue::M(m)), Some(AttrValue::B(v)))
                if item.len() == 2 && m.len() <= MAX_TAGS =>
            {
                let tags = m
                    .iter()
                    .map(|(k, v)| match v {
                        AttrValue::S(s) => Ok((k.clone(), s.clone())),
                        _ => Err(bad()),
                    })
                    .collect::<Result<Tags, Error>>()?;
                Ok((tags, crate::Version::from_bytes(v)?))
            }
            _ => Err(bad()),
        }
    }

    /// The catalog key for a table name.
    pub fn catalog_key(name: &str) -> EncodedKey {
        EncodedKey {
            partition: name.as_bytes().to_vec(),
            sort: Vec::new(),
        }
    }
}

/// A table for the core's tests: `name`, keyed by a string `pk`, with
/// `replicas`.
#[cfg(test)]
pub(crate) fn test_table(name: &str, replicas: &[&str]) -> TableDef {
    let ks = KeySchema {
        partition: KeyAttr {
            name: "pk".into(),
            ty: KeyType::S,
        },
        sort: None,
    };
    TableDef::new(name, ks, replicas.iter().map(|r| r.to_string()).collect())
        .expect("a valid test table")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::tests::schema;
    use crate::value::item_from_json;
    use serde_json::json;

    #[test]
    fn key_round_trips_and_table_defs_round_trip() {
        let s = schema();
        let item = item_from_json(&json!({"pk": {"S": "a"}, "sk": {"N": "-12.5"}})).unwrap();
        let k = s.key_of(&item).unwrap();
        assert_eq!(s.key_attrs(&k).unwrap(), item);
        let def = TableDef::new("orders", s, vec!["b-1".into(), "a-1".into()]).unwrap();
        assert_eq!(def.replicas, vec!["a-1", "b-1"]);
        assert_eq!(TableDef::from_item(&def.to_item()).unwrap(), def);
        assert!(TableDef::new("x$", schema(), vec!["a".into()]).is_err());
    }

    /// A definition row as written before `billing_mode` existed still
    /// decodes, and so does one written while it was (it is ignored).
    #[test]
    fn a_row_of_the_earlier_encoding_decodes() {
        let old = item_from_json(&json!({
            "name": {"S": "orders"},
            "pk_name": {"S": "pk"},
            "pk_type": {"S": "S"},
            "replicas": {"SS": ["us-east-1"]},
            "rcu": {"N": "5"},
            "wcu": {"N": "6"},
        }))
        .unwrap();
        let def = TableDef::from_item(&old).unwrap();
        assert_eq!(
            def.billing,
            crate::settings::Billing::Provisioned { read: 5, write: 6 }
        );
        assert_eq!(def.to_item(), old, "re-encoded unchanged");
        let mut named = old.clone();
        named.insert("billing_mode".into(), AttrValue::S("PROVISIONED".into()));
        assert_eq!(TableDef::from_item(&named).unwrap(), def);
        // A warm throughput asked for round-trips; the old row had none.
        assert_eq!(def.warm, None);
        let mut warm = def.clone();
        warm.warm = Some(Box::new((1000, 0)));
        let row = warm.to_item();
        assert_eq!(TableDef::from_item(&row).unwrap(), warm);
        let mut half = row;
        half.remove("warm_write");
        assert!(
            TableDef::from_item(&half).is_err(),
            "half a warm throughput"
        );
    }

    #[test]
    fn tags_merge_within_the_limit_and_round_trip() {
        let tag = |k: &str, v: &str| (k.to_string(), v.to_string());
        let current = Tags::from([tag("a", "1"), tag("b", "2")]);
        let merged = merge_tags(
            current,
            &Tags::from([tag("b", "3"), tag("c", "")]),
            &["a".into()],
        )
        .unwrap();
        assert_eq!(merged, Tags::from([tag("b", "3"), tag("c", "")]));
        let full: Tags = (0..MAX_TAGS).map(|i| tag(&format!("k{i}"), "v")).collect();
        let e = merge_tags(full.clone(), &Tags::from([tag("one-more", "v")]), &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("Number of Tags exceed the current limit"),
            "{e}"
        );
        assert!(merge_tags(full.clone(), &Tags::from([tag("k0", "w")]), &[]).is_ok());
        let version = crate::Version::new(crate::Timestamp::ZERO, "us-east-1");
        let item = TableDef::tags_item(&merged, &version);
        assert_eq!(TableDef::tags(&item).unwrap(), (merged, version));
        assert_eq!(
            TableDef::tags_key("t1", "eu-west-1").sort,
            b"tags/eu-west-1".to_vec()
        );
    }
}
