//! Secondary indexes: their definitions, the rule that decides which items
//! an index holds and under which key, and the catalog rows that add and
//! remove global secondary indexes after a table's creation.
//!
//! **What an index holds.** An item is in an index exactly when it has
//! every one of the index's key attributes, each of the type the index
//! declares, non-empty (the sparse-index rule). Its entry is the index key
//! (partition attributes, then sort attributes) and the table key. The rule
//! is a pure function of the item, so every region that holds the same
//! items holds the same index: the store keeps the entries in the
//! transaction of every item change, and the drill checker recomputes them.
//!
//! **Index keys are tuples.** A key of up to four attributes (DynamoDB's
//! multi-attribute keys) is encoded as its components in order, each
//! escaped (`00` becomes `00 FF`) and terminated by `00 01`. Bytewise order
//! of the encoding is then the order of the tuples, compared component by
//! component, and a range over a prefix of the components is a byte range.
//!
//! **Indexes added later.** `UpdateTable` creates and deletes global
//! secondary indexes as catalog rows of their own (`index/<name>`, beside
//! the definition like replica rows), so a table's incarnation and items
//! are untouched. Each row is a last-writer-wins register per index name.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::key::{EncodedKey, encode_key_value};
use crate::key::{KeyAttr, KeySchema, KeyType, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES};
use crate::value::{AttrValue, Item};
use crate::version::Version;

mod table;
pub use table::plan;

/// The field index definition errors name; their messages are DynamoDB's
/// own and complete.
pub const FIELD: &str = "SecondaryIndexes";

/// Most global secondary indexes on a table, as in DynamoDB.
pub const MAX_GLOBAL: usize = 20;
/// Most local secondary indexes on a table.
pub const MAX_LOCAL: usize = 5;
/// Most attributes in a global secondary index's partition key, and in its
/// sort key (multi-attribute keys).
pub const MAX_KEY_ATTRS: usize = 4;
/// Most `NonKeyAttributes` over all the indexes of a table.
pub const MAX_NON_KEY_ATTRS: usize = 100;
/// Most bytes of one item collection (a partition key's items) of a table
/// with local secondary indexes, as in DynamoDB.
pub const MAX_ITEM_COLLECTION_BYTES: u64 = 10 << 30;

/// Whether a table's indexes make it keep item collection sizes: it has a
/// local secondary index.
pub fn keeps_collections(indexes: &[IndexDef]) -> bool {
    indexes.iter().any(|i| i.kind == Kind::Local)
}

/// Refuses a write that takes an item collection of `now` bytes, where
/// the item's old image took `old` bytes and its new one takes `new`,
/// past `limit`. A write that shrinks the collection always goes ahead.
pub fn check_collection(now: u64, old: usize, new: usize, limit: u64) -> Result<(), Error> {
    let size = now.saturating_sub(old as u64).saturating_add(new as u64);
    if new > old && size > limit {
        return Err(Error::ItemCollectionTooLarge { size, limit });
    }
    Ok(())
}

/// Prefix of the sort keys of a table's index rows in the catalog.
pub const SORT_PREFIX: &[u8] = b"index/";

/// Global (its own partition key) or local (the table's partition key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Global,
    Local,
}

/// Which attributes an index query returns besides the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    /// The keys and these attributes.
    Include(Vec<String>),
}

impl Projection {
    /// DynamoDB's `ProjectionType`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Projection::All => "ALL",
            Projection::KeysOnly => "KEYS_ONLY",
            Projection::Include(_) => "INCLUDE",
        }
    }
}

/// One secondary index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub kind: Kind,
    /// One attribute, or up to four for a global index.
    pub partition: Vec<KeyAttr>,
    /// None, one, or up to four for a global index.
    pub sort: Vec<KeyAttr>,
    pub projection: Projection,
    /// A provisioned global index's own `(read, write)` capacity units, as
    /// CreateTable gave them; `None` on demand, for a local index, and in
    /// rows of the encoding before it (then described as the table's).
    /// Written as `rcu` and `wcu` only when set, which peers of that
    /// encoding skip.
    pub throughput: Option<(u64, u64)>,
}

/// An index entry's key: the index's partition and sort tuples, encoded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexKey {
    pub partition: Vec<u8>,
    pub sort: Vec<u8>,
}

/// Appends one tuple component: escaped, then terminated.
pub fn push_component(out: &mut Vec<u8>, bytes: &[u8]) {
    push_escaped(out, bytes);
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Appends `bytes` escaped but not terminated: the prefix every component
/// starting with `bytes` begins with (for `begins_with`).
pub fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

/// Splits an encoded tuple back into its components.
pub fn components(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    let bad = || Error::Decode("index key tuple is malformed".into());
    while !bytes.is_empty() {
        let mut part = Vec::new();
        loop {
            match bytes {
                [0x00, 0xFF, rest @ ..] => {
                    part.push(0);
                    bytes = rest;
                }
                [0x00, 0x01, rest @ ..] => {
                    bytes = rest;
                    break;
                }
                [0x00, ..] | [] => return Err(bad()),
                [b, rest @ ..] => {
                    part.push(*b);
                    bytes = rest;
                }
            }
        }
        out.push(part);
    }
    Ok(out)
}

/// DynamoDB's name for an empty value of a key type.
fn empty_kind(ty: KeyType) -> &'static str {
    match ty {
        KeyType::B => "binary",
        _ => "string",
    }
}

/// Why an item's value cannot be one of an index's key attributes: the
/// write carrying it is refused (DynamoDB's words, `IndexDef::check`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Unfit {
    Missing,
    Type(&'static str),
    Empty,
    TooLarge(usize, usize),
}

fn fit(item: &Item, attr: &KeyAttr, limit: usize) -> Result<Vec<u8>, Unfit> {
    let Some(v) = item.get(&attr.name) else {
        return Err(Unfit::Missing);
    };
    encode_key_value(v, attr, limit).map_err(|e| match e {
        Error::EmptyKey { .. } => Unfit::Empty,
        Error::KeyTooLarge { size, limit, .. } => Unfit::TooLarge(size, limit),
        _ => Unfit::Type(v.type_name()),
    })
}

impl IndexDef {
    /// Every key attribute: partition ones, then sort ones.
    pub fn key_attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        self.partition.iter().chain(&self.sort)
    }

    /// The entry key of `item` in this index, or `None` when the index does
    /// not hold it (the sparse rule: a key attribute missing, of another
    /// type, empty or too large).
    pub fn key_of(&self, item: &Item) -> Option<IndexKey> {
        let mut key = IndexKey {
            partition: Vec::new(),
            sort: Vec::new(),
        };
        for a in &self.partition {
            push_component(
                &mut key.partition,
                &fit(item, a, MAX_PARTITION_KEY_BYTES).ok()?,
            );
        }
        for a in &self.sort {
            push_component(&mut key.sort, &fit(item, a, MAX_SORT_KEY_BYTES).ok()?);
        }
        Some(key)
    }

    /// Refuses an item written to the table whose value for one of this
    /// index's key attributes could never be in it: another type than the
    /// index declares, an empty string or binary value, or too large. A
    /// missing attribute is fine: the item is just not in the index.
    /// `update` picks DynamoDB's wording for an update expression's result.
    pub fn check(&self, item: &Item, update: bool) -> Result<(), Error> {
        for (attr, limit) in self
            .partition
            .iter()
            .map(|a| (a, MAX_PARTITION_KEY_BYTES))
            .chain(self.sort.iter().map(|a| (a, MAX_SORT_KEY_BYTES)))
        {
            let unfit = match fit(item, attr, limit) {
                Ok(_) | Err(Unfit::Missing) => continue,
                Err(u) => u,
            };
            let empty = unfit == Unfit::Empty;
            let reason = match unfit {
                Unfit::Missing => continue,
                Unfit::Type(found) => format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    attr.name,
                    attr.ty.as_str(),
                    found,
                    self.name
                ),
                Unfit::Empty if update => format!(
                    "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty {} value.",
                    empty_kind(attr.ty)
                ),
                Unfit::Empty => format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {}",
                    empty_kind(attr.ty),
                    self.name,
                    attr.name
                ),
                Unfit::TooLarge(size, limit) => format!(
                    "One or more parameter values were invalid: Size of an index key attribute has exceeded the maximum size limit of {limit} bytes. IndexName: {}, IndexKey: {} ({size} bytes)",
                    self.name, attr.name
                ),
            };
            return Err(Error::IndexKey {
                op: None,
                reason,
                empty,
            });
        }
        Ok(())
    }

    /// What a query of this index returns of `item`: the whole item, or
    /// the table's and the index's keys with the included attributes.
    pub fn project(&self, table: &KeySchema, item: &Item) -> Item {
        let keep: BTreeSet<&str> = match &self.projection {
            Projection::All => return item.clone(),
            Projection::KeysOnly => BTreeSet::new(),
            Projection::Include(names) => names.iter().map(String::as_str).collect(),
        };
        item.iter()
            .filter(|(k, _)| {
                keep.contains(k.as_str())
                    || table.partition.name == **k
                    || table.sort.as_ref().is_some_and(|s| s.name == **k)
                    || self.key_attrs().any(|a| a.name == **k)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The attributes a `LastEvaluatedKey` of this index carries: the
    /// index's keys, then the table's not among them.
    pub fn position_attrs<'a>(&'a self, table: &'a KeySchema) -> Vec<&'a KeyAttr> {
        let mut out: Vec<&KeyAttr> = self.key_attrs().collect();
        for a in std::iter::once(&table.partition).chain(table.sort.as_ref()) {
            if !out.iter().any(|o| o.name == a.name) {
                out.push(a);
            }
        }
        out
    }

    /// The catalog form of the definition.
    pub fn to_value(&self) -> AttrValue {
        let attrs = |list: &[KeyAttr]| {
            AttrValue::L(
                list.iter()
                    .map(|a| {
                        AttrValue::M(BTreeMap::from([
                            ("n".to_string(), AttrValue::S(a.name.clone())),
                            ("t".to_string(), AttrValue::S(a.ty.as_str().into())),
                        ]))
                    })
                    .collect(),
            )
        };
        let mut m = BTreeMap::from([
            ("name".to_string(), AttrValue::S(self.name.clone())),
            (
                "kind".to_string(),
                AttrValue::S(
                    match self.kind {
                        Kind::Global => "GLOBAL",
                        Kind::Local => "LOCAL",
                    }
                    .into(),
                ),
            ),
            ("pk".to_string(), attrs(&self.partition)),
            ("sk".to_string(), attrs(&self.sort)),
            (
                "projection".to_string(),
                AttrValue::S(self.projection.type_name().into()),
            ),
        ]);
        if let Projection::Include(names) = &self.projection {
            m.insert(
                "include".to_string(),
                AttrValue::L(names.iter().map(|n| AttrValue::S(n.clone())).collect()),
            );
        }
        if let Some((read, write)) = self.throughput {
            let n = |v: u64| {
                AttrValue::N(crate::Number::parse(&v.to_string(), "capacity").expect("an integer"))
            };
            m.insert("rcu".to_string(), n(read));
            m.insert("wcu".to_string(), n(write));
        }
        AttrValue::M(m)
    }

    /// A definition read back from the catalog, which a peer may have
    /// sent: every part checked.
    pub fn from_value(v: &AttrValue) -> Result<Self, Error> {
        let bad = |what: &str| Error::Decode(format!("catalog index definition: {what}"));
        let AttrValue::M(m) = v else {
            return Err(bad("not a map"));
        };
        let s = |k: &str| match m.get(k) {
            Some(AttrValue::S(s)) => Ok(s.clone()),
            _ => Err(bad(k)),
        };
        let attrs = |k: &str| -> Result<Vec<KeyAttr>, Error> {
            let Some(AttrValue::L(list)) = m.get(k) else {
                return Err(bad(k));
            };
            list.iter()
                .map(|a| match a {
                    AttrValue::M(a) => match (a.get("n"), a.get("t")) {
                        (Some(AttrValue::S(n)), Some(AttrValue::S(t))) => Ok(KeyAttr {
                            name: n.clone(),
                            ty: KeyType::parse(t, k)?,
                        }),
                        _ => Err(bad(k)),
                    },
                    _ => Err(bad(k)),
                })
                .collect()
        };
        let kind = match s("kind")?.as_str() {
            "GLOBAL" => Kind::Global,
            "LOCAL" => Kind::Local,
            _ => return Err(bad("kind")),
        };
        let projection = match (s("projection")?.as_str(), m.get("include")) {
            ("ALL", None) => Projection::All,
            ("KEYS_ONLY", None) => Projection::KeysOnly,
            ("INCLUDE", Some(AttrValue::L(names))) => Projection::Include(
                names
                    .iter()
                    .map(|n| match n {
                        AttrValue::S(n) => Ok(n.clone()),
                        _ => Err(bad("include")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(bad("projection")),
        };
        let units = |k: &str| crate::settings::stored_units(m.get(k)).map_err(|_| bad(k));
        let throughput = match (units("rcu")?, units("wcu")?) {
            (None, None) => None,
            (Some(read), Some(write)) if kind == Kind::Global => Some((read, write)),
            _ => return Err(bad("capacity units")),
        };
        let def = IndexDef {
            name: s("name")?,
            kind,
            partition: attrs("pk")?,
            sort: attrs("sk")?,
            projection,
            throughput,
        };
        def.check_shape().map_err(|e| bad(&e.to_string()))?;
        Ok(def)
    }

    /// The rules of one definition on its own: name, key sizes, projection.
    fn check_shape(&self) -> Result<(), Error> {
        let refuse = |m: String| Err(Error::invalid(FIELD, m));
        if !(3..=255).contains(&self.name.len())
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return refuse(format!(
                "1 validation error detected: Value '{}' at 'indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and be 3 to 255 characters long",
                self.name
            ));
        }
        let most = match self.kind {
            Kind::Global => MAX_KEY_ATTRS,
            Kind::Local => 1,
        };
        if self.partition.is_empty() {
            return refuse(
                "Invalid KeySchema: The first KeySchemaElement is not a HASH key type".into(),
            );
        }
        if self.kind == Kind::Local && (self.partition.len() > most || self.sort.len() > most) {
            return refuse(format!(
                "1 validation error detected: Value '{}' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2",
                self.key_attrs()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (n, part) in [(self.partition.len(), "HASH"), (self.sort.len(), "RANGE")] {
            if n > most {
                return refuse(format!(
                    "One or more parameter values were invalid: The KeySchema exceeds the maximum allowed number of {part} key attributes"
                ));
            }
        }
        if self.kind == Kind::Local && self.sort.is_empty() {
            return refuse(format!(
                "One or more parameter values were invalid: Index KeySchema does not have a range key for index: {}",
                self.name
            ));
        }
        let mut seen = BTreeSet::new();
        for a in self.key_attrs() {
            if a.name.is_empty() || a.name.len() > 255 {
                return refuse(format!(
                    "One or more parameter values were invalid: key attribute names of index {} must be 1 to 255 bytes",
                    self.name
                ));
            }
            if !seen.insert(a.name.as_str()) {
                return refuse(
                    "The KeySchema contains multiple key attributes with the same name".into(),
                );
            }
        }
        match &self.projection {
            Projection::Include(names) if names.is_empty() => refuse(
                "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified".into(),
            ),
            Projection::Include(names) => {
                let mut seen = BTreeSet::new();
                for n in names {
                    if n.is_empty() || n.len() > 255 {
                        return refuse(format!(
                            "One or more parameter values were invalid: NonKeyAttributes of index {} must be 1 to 255 bytes each",
                            self.name
                        ));
                    }
                    if !seen.insert(n) {
                        return refuse(format!(
                            "One or more parameter values were invalid: Duplicate element in NonKeyAttributes: {n}"
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Checks a table's whole set of indexes against its key schema, by
/// DynamoDB's rules: each definition, the counts, unique names, local
/// indexes on the table's partition key, and the `NonKeyAttributes` total.
pub fn validate(table: &KeySchema, indexes: &[IndexDef]) -> Result<(), Error> {
    let refuse = |m: String| Err(Error::invalid(FIELD, m));
    let count = |k: Kind| indexes.iter().filter(|i| i.kind == k).count();
    if count(Kind::Global) > MAX_GLOBAL {
        return refuse(format!(
            "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GLOBAL}"
        ));
    }
    if count(Kind::Local) > MAX_LOCAL {
        return refuse(format!(
            "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of {MAX_LOCAL}"
        ));
    }
    let mut names = BTreeSet::new();
    let mut non_key = 0;
    // One type per attribute name, as AttributeDefinitions has it.
    let mut types: BTreeMap<&str, KeyType> = std::iter::once(&table.partition)
        .chain(table.sort.as_ref())
        .map(|a| (a.name.as_str(), a.ty))
        .collect();
    for i in indexes {
        i.check_shape()?;
        if !names.insert(i.name.as_str()) {
            return refuse(format!(
                "One or more parameter values were invalid: Duplicate index name: {}",
                i.name
            ));
        }
        if i.kind == Kind::Local {
            if table.sort.is_none() {
                return refuse(
                    "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex".into(),
                );
            }
            if i.partition[0] != table.partition {
                return refuse(format!(
                    "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                    i.name, i.partition[0].name, table.partition.name
                ));
            }
        }
        for a in i.key_attrs() {
            if *types.entry(&a.name).or_insert(a.ty) != a.ty {
                return refuse(format!(
                    "One or more parameter values were invalid: Attributes cannot be redefined. Please check that your attribute has the same type as previously defined. Attribute: {}, index: {}",
                    a.name, i.name
                ));
            }
        }
        if let Projection::Include(n) = &i.projection {
            non_key += n.len();
        }
    }
    if non_key > MAX_NON_KEY_ATTRS {
        return refuse(format!(
            "One or more parameter values were invalid: Number of projected attributes in all indexes exceeds limit of {MAX_NON_KEY_ATTRS}"
        ));
    }
    Ok(())
}

/// One action of UpdateTable's `GlobalSecondaryIndexUpdates`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Create(IndexDef),
    Delete(String),
}

impl Change {
    /// The index the action names.
    pub fn name(&self) -> &str {
        match self {
            Change::Create(i) => &i.name,
            Change::Delete(n) => n,
        }
    }
}

/// The catalog key of index `name`'s row of `table`.
pub fn key(table: &str, name: &str) -> EncodedKey {
    let mut sort = SORT_PREFIX.to_vec();
    sort.extend_from_slice(name.as_bytes());
    EncodedKey {
        partition: table.as_bytes().to_vec(),
        sort,
    }
}

/// An index row: the index created (`Some`) or deleted (`None`) in the
/// incarnation of the table created at `incarnation`.
pub fn item(index: Option<&IndexDef>, incarnation: &Version) -> Item {
    let mut item = Item::from([(
        "table_version".to_string(),
        AttrValue::B(incarnation.to_bytes()),
    )]);
    if let Some(i) = index {
        item.insert("index".to_string(), i.to_value());
    }
    item
}

/// An index row read back: the definition (`None`: deleted) and the
/// incarnation it belongs to.
pub fn from_item(item: &Item) -> Result<(Option<IndexDef>, Version), Error> {
    let of = match item.get("table_version") {
        Some(AttrValue::B(b)) => Version::from_bytes(b)?,
        _ => return Err(Error::Decode("index row without its table version".into())),
    };
    let def = item.get("index").map(IndexDef::from_value).transpose()?;
    if item.len() != 1 + usize::from(def.is_some()) {
        return Err(Error::Decode("index row with unknown fields".into()));
    }
    Ok((def, of))
}

/// The index name a catalog sort key names, if it is an index row.
pub fn name_of(sort: &[u8]) -> Option<String> {
    let rest = sort.strip_prefix(SORT_PREFIX)?;
    String::from_utf8(rest.to_vec()).ok()
}

/// `indexes`, those a table keyed by `table` was created with, after the
/// index rows `rows` (name, row, in name order) of the incarnation created
/// at `incarnation`. Rows of another incarnation are ignored.
///
/// Each row was checked on its own where it was written, but two regions
/// may create indexes at once that do not fit together (more than 20, one
/// attribute typed two ways). The rule, the same in every region since it
/// reads only the rows: rows apply in name order, and a row that would
/// break the table's index rules (`validate`) is left out, as is a row that
/// creates or deletes a local index, which only CreateTable makes.
pub fn apply(
    table: &KeySchema,
    mut indexes: Vec<IndexDef>,
    incarnation: &Version,
    rows: &[(String, Item)],
) -> Result<Vec<IndexDef>, Error> {
    for (name, row) in rows {
        let (def, of) = from_item(row)?;
        if of != *incarnation {
            continue;
        }
        let local = |i: &IndexDef| i.kind == Kind::Local;
        if indexes.iter().any(|i| i.name == *name && local(i)) {
            continue;
        }
        let mut next: Vec<IndexDef> = indexes
            .iter()
            .filter(|i| i.name != *name)
            .cloned()
            .collect();
        if let Some(def) = def {
            if def.name != *name {
                return Err(Error::Decode(format!(
                    "index row {name} defines index {}",
                    def.name
                )));
            }
            if local(&def) {
                continue;
            }
            next.push(def);
            if validate(table, &next).is_err() {
                continue;
            }
        }
        indexes = next;
    }
    Ok(indexes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::item_from_json;
    use serde_json::json;

    fn attr(n: &str, ty: KeyType) -> KeyAttr {
        KeyAttr { name: n.into(), ty }
    }

    fn table() -> KeySchema {
        KeySchema {
            partition: attr("pk", KeyType::S),
            sort: Some(attr("sk", KeyType::N)),
        }
    }

    fn gsi(name: &str, pk: &[&str], sk: &[&str]) -> IndexDef {
        IndexDef {
            name: name.into(),
            kind: Kind::Global,
            partition: pk.iter().map(|n| attr(n, KeyType::S)).collect(),
            sort: sk.iter().map(|n| attr(n, KeyType::N)).collect(),
            projection: Projection::All,
            throughput: None,
        }
    }

    #[test]
    fn tuples_sort_component_by_component_and_split_back() {
        let enc = |parts: &[&[u8]]| {
            let mut out = Vec::new();
            for p in parts {
                push_component(&mut out, p);
            }
            out
        };
        // A shorter first component sorts first whatever follows it.
        assert!(enc(&[b"a", b"zz"]) < enc(&[b"a\0", b"a"]));
        assert!(enc(&[b"a", b"zz"]) < enc(&[b"ab", b""]));
        assert!(enc(&[b"a\0b"]) > enc(&[b"a\0"]));
        assert!(enc(&[b"a\0"]) > enc(&[b"a"]));
        let t = enc(&[b"a\0b", b"", b"\0"]);
        assert_eq!(
            components(&t).unwrap(),
            vec![b"a\0b".to_vec(), vec![], vec![0]]
        );
        assert!(components(&[0x00]).is_err());
        assert!(components(b"abc").is_err());
    }

    #[test]
    fn sparse_rule_and_write_checks() {
        let i = gsi("by_status", &["status"], &["at"]);
        let item = |j| item_from_json(&j).unwrap();
        assert!(
            i.key_of(&item(json!({"status": {"S": "open"}, "at": {"N": "3"}})))
                .is_some()
        );
        assert!(i.key_of(&item(json!({"status": {"S": "open"}}))).is_none());
        assert!(
            i.key_of(&item(json!({"status": {"N": "1"}, "at": {"N": "3"}})))
                .is_none()
        );
        assert!(
            i.check(&item(json!({"status": {"S": "open"}})), false)
                .is_ok()
        );
        let e = i
            .check(
                &item(json!({"status": {"N": "1"}, "at": {"N": "3"}})),
                false,
            )
            .unwrap_err();
        assert!(
            e.to_string().contains(
                "Type mismatch for Index Key status Expected: S Actual: N IndexName: by_status"
            ),
            "{e}"
        );
        let e = i
            .check(&item(json!({"status": {"S": ""}, "at": {"N": "3"}})), false)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("IndexName: by_status, IndexKey: status"),
            "{e}"
        );
    }

    #[test]
    fn projections_keep_both_keys() {
        let mut i = gsi("g1", &["a"], &[]);
        let item = item_from_json(&json!({
            "pk": {"S": "p"}, "sk": {"N": "1"}, "a": {"S": "x"}, "b": {"S": "y"}, "c": {"S": "z"}
        }))
        .unwrap();
        i.projection = Projection::KeysOnly;
        let names = |it: Item| it.into_keys().collect::<Vec<_>>();
        assert_eq!(names(i.project(&table(), &item)), ["a", "pk", "sk"]);
        i.projection = Projection::Include(vec!["c".into()]);
        assert_eq!(names(i.project(&table(), &item)), ["a", "c", "pk", "sk"]);
        i.projection = Projection::All;
        assert_eq!(i.project(&table(), &item), item);
    }

    #[test]
    fn definitions_round_trip_and_bad_ones_are_refused() {
        let mut i = gsi("multi", &["t", "r"], &["a", "b", "c"]);
        i.projection = Projection::Include(vec!["x".into()]);
        assert_eq!(IndexDef::from_value(&i.to_value()).unwrap(), i);
        let v = Version::new(crate::Timestamp::ZERO, "r1");
        assert_eq!(
            from_item(&item(Some(&i), &v)).unwrap(),
            (Some(i.clone()), v.clone())
        );
        assert_eq!(from_item(&item(None, &v)).unwrap(), (None, v.clone()));
        let t = table();
        assert!(validate(&t, std::slice::from_ref(&i)).is_ok());
        let e = validate(&t, &[i.clone(), i.clone()]).unwrap_err();
        assert!(e.to_string().contains("Duplicate index name: multi"), "{e}");
        let five = gsi("five", &["a", "b", "c", "d", "e"], &[]);
        assert!(validate(&t, &[five]).is_err());
        let mut lsi = gsi("lsi1", &["other"], &["x"]);
        lsi.kind = Kind::Local;
        let e = validate(&t, &[lsi.clone()]).unwrap_err();
        assert!(e.to_string().contains("same leading hash key"), "{e}");
        lsi.partition = vec![attr("pk", KeyType::S)];
        assert!(validate(&t, &[lsi]).is_ok());
        let many: Vec<IndexDef> = (0..21)
            .map(|n| gsi(&format!("g{n:02}"), &["a"], &[]))
            .collect();
        let e = validate(&t, &many).unwrap_err();
        assert!(e.to_string().contains("per-table limit of 20"), "{e}");
    }

    /// A global index's own units round-trip; a definition of the encoding
    /// before them (no `rcu`, `wcu`) still decodes, with none; half a pair,
    /// or units on a local index, are refused.
    #[test]
    fn an_index_keeps_its_own_throughput_and_old_definitions_decode() {
        let mut i = gsi("own", &["t"], &[]);
        let old = i.to_value();
        assert_eq!(IndexDef::from_value(&old).unwrap().throughput, None);
        i.throughput = Some((3, 4));
        let v = i.to_value();
        assert_eq!(IndexDef::from_value(&v).unwrap(), i);
        let AttrValue::M(mut m) = v else {
            panic!("a map")
        };
        m.remove("wcu");
        assert!(IndexDef::from_value(&AttrValue::M(m.clone())).is_err());
        let mut lsi = i.clone();
        lsi.kind = Kind::Local;
        assert!(IndexDef::from_value(&lsi.to_value()).is_err());
    }

    #[test]
    fn collections_stop_growing_at_the_limit() {
        assert!(check_collection(90, 10, 20, 100).is_ok());
        assert!(check_collection(90, 10, 21, 100).is_err());
        // Shrinking, or staying the same, is always allowed.
        assert!(check_collection(150, 30, 20, 100).is_ok());
        assert!(check_collection(150, 30, 30, 100).is_ok());
        let e = check_collection(0, 0, 200, 100).unwrap_err();
        assert!(
            matches!(
                e,
                Error::ItemCollectionTooLarge {
                    size: 200,
                    limit: 100
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn rows_add_and_remove_indexes_of_their_incarnation_only() {
        let now = Version::new(crate::Timestamp::ZERO, "r1");
        let old = Version::new(
            crate::Timestamp {
                physical: 5,
                logical: 0,
            },
            "r1",
        );
        let a = gsi("aaa", &["a"], &[]);
        let b = gsi("bbb", &["b"], &[]);
        let rows = vec![
            ("aaa".to_string(), item(None, &now)),
            ("bbb".to_string(), item(Some(&b), &now)),
            (
                "ccc".to_string(),
                item(Some(&gsi("ccc", &["c"], &[])), &old),
            ),
        ];
        assert_eq!(apply(&table(), vec![a], &now, &rows).unwrap(), vec![b]);
    }

    #[test]
    fn rows_that_break_the_rules_together_are_left_out_in_name_order() {
        let now = Version::new(crate::Timestamp::ZERO, "r1");
        // Two regions each created an index typing `x` its own way.
        let mut as_number = gsi("aaa", &["x"], &[]);
        as_number.partition[0].ty = KeyType::N;
        let as_string = gsi("bbb", &["x"], &[]);
        let rows = vec![
            ("aaa".to_string(), item(Some(&as_number), &now)),
            ("bbb".to_string(), item(Some(&as_string), &now)),
        ];
        assert_eq!(
            apply(&table(), Vec::new(), &now, &rows).unwrap(),
            vec![as_number]
        );
        // A row never makes or drops a local index.
        let mut lsi = gsi("lsi", &["pk"], &["x"]);
        lsi.kind = Kind::Local;
        let rows = vec![
            ("lsi".to_string(), item(None, &now)),
            (
                "new".to_string(),
                item(
                    Some(&{
                        let mut l = lsi.clone();
                        l.name = "new".into();
                        l
                    }),
                    &now,
                ),
            ),
        ];
        assert_eq!(
            apply(&table(), vec![lsi.clone()], &now, &rows).unwrap(),
            vec![lsi]
        );
    }
}
