//! Where a request's items sit: each item a data-plane request reads or
//! writes by its key, with its table, the access it draws on and its place
//! in the request, so metering (`crate::throttle`) can put it in one of its
//! table's partitions and hold back, or name, the ones whose partition is
//! spent.
//!
//! DynamoDB spreads a table's items over partitions by their partition
//! key, and each partition serves at most 1,000 write and 3,000 read units
//! a second whatever the table's units ("Each partition on the table can
//! serve up to 3,000 read request units or 1,000 write request units", AWS
//! knowledge center, *My on-demand DynamoDB table has throttling*). So a
//! hot key is throttled in a batch, a transaction or a Query as in a
//! request of one item. A Scan, a Query of a global index (whose
//! partitions are the index's own) and a PartiQL statement are not placed
//! (docs/limits.md).

use meridian_core::key::{KeyAttr, MAX_PARTITION_KEY_BYTES, encode_key_value};
use meridian_core::throughput::Op;
use meridian_core::value::AttrValue;
use serde_json::{Map, Value as Json};

use crate::request::{Operation, Request};

/// An item's place in its request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum At {
    /// The request is of this one item, or of one partition key (a Query).
    Whole,
    /// The `i`th entry of `RequestItems[table]` (a write request, or a
    /// key of `Keys`).
    Batch(usize),
    /// The `i`th action of `TransactItems`.
    Action(usize),
}

/// What names an item's partition key in the request.
#[derive(Debug)]
pub(crate) enum Key<'a> {
    /// A key or a whole item, holding the partition key attribute.
    Map(&'a Map<String, Json>),
    /// A Query's key condition: the values its equalities give, by
    /// attribute name.
    Equalities(Vec<(String, AttrValue)>),
}

/// One item a request reads or writes by its key.
#[derive(Debug)]
pub(crate) struct Placed<'a> {
    pub table: &'a str,
    pub op: Op,
    pub at: At,
    pub key: Key<'a>,
}

impl Key<'_> {
    /// The partition key's encoding (`EncodedKey::partition`), if the
    /// request gives a valid one: else the operation refuses it.
    pub(crate) fn encoded(&self, attr: &KeyAttr) -> Option<Vec<u8>> {
        let value = match self {
            Key::Map(m) => AttrValue::from_json(m.get(&attr.name)?, &attr.name).ok()?,
            Key::Equalities(eqs) => eqs.iter().find(|(n, _)| *n == attr.name)?.1.clone(),
        };
        encode_key_value(&value, attr, MAX_PARTITION_KEY_BYTES).ok()
    }
}

/// Every item `req` reads or writes by its key. `query_index` says
/// whether a Query is of a global index, which is not placed.
pub(crate) fn items(req: &Request, query_index: bool) -> Vec<Placed<'_>> {
    let body = req.body().0;
    let mut out = Vec::new();
    if let Some(member) = req.op.one_item() {
        if let (Some((table, op)), Some(Json::Object(key))) =
            (req.drawing_tables().next(), body.get(member))
        {
            out.push(Placed {
                table,
                op,
                at: At::Whole,
                key: Key::Map(key),
            });
        }
        return out;
    }
    match req.op {
        Operation::Query if !query_index => {
            if let Some((table, _)) = req.drawing_tables().next() {
                out.push(Placed {
                    table,
                    op: Op::Read,
                    at: At::Whole,
                    key: Key::Equalities(crate::reads::key_equalities(req.body())),
                });
            }
        }
        Operation::BatchGetItem | Operation::BatchWriteItem => batch_items(req, &mut out),
        Operation::TransactGetItems | Operation::TransactWriteItems => {
            transact_items(req, &mut out)
        }
        _ => {}
    }
    out
}

/// Each entry of a batch's `RequestItems`: a key of `Keys` to read, or the
/// item or key of a write request.
fn batch_items<'a>(req: &'a Request, out: &mut Vec<Placed<'a>>) {
    let body = req.body().0;
    for (table, op) in req.drawing_tables() {
        let entries = match body.get("RequestItems").and_then(|r| r.get(table)) {
            Some(Json::Object(o)) => o.get("Keys").and_then(Json::as_array),
            Some(Json::Array(a)) => Some(a),
            _ => None,
        };
        for (i, entry) in entries.into_iter().flatten().enumerate() {
            let key = match op {
                Op::Read => entry.as_object(),
                Op::Write => entry
                    .pointer("/PutRequest/Item")
                    .or_else(|| entry.pointer("/DeleteRequest/Key"))
                    .and_then(Json::as_object),
            };
            if let Some(key) = key {
                out.push(Placed {
                    table,
                    op,
                    at: At::Batch(i),
                    key: Key::Map(key),
                });
            }
        }
    }
}

/// Each action of a transaction's `TransactItems`, by its `Key` or `Item`.
fn transact_items<'a>(req: &'a Request, out: &mut Vec<Placed<'a>>) {
    let body = req.body().0;
    let op = if req.op == Operation::TransactGetItems {
        Op::Read
    } else {
        Op::Write
    };
    let actions = body.get("TransactItems").and_then(Json::as_array);
    for (i, table) in req.actions() {
        let Some(Json::Object(action)) = actions.and_then(|a| a.get(i)) else {
            continue;
        };
        // An action of two members is refused by its operation.
        let key = action.values().find_map(|a| {
            a.get("Key")
                .or_else(|| a.get("Item"))
                .and_then(Json::as_object)
        });
        if let Some(key) = key {
            out.push(Placed {
                table,
                op,
                at: At::Action(i),
                key: Key::Map(key),
            });
        }
    }
}
