//! One request at the front, parsed once: its operation, its caller's
//! account, and every resource it names, in every member where
//! botocore's model says one is named (`request/members.rs`). The
//! account check (`crate::accounts`), metering (`crate::throttle`), ARN
//! resolution and the listings' filter all read this value; no other code
//! looks through a request for the tables it names.

mod members;
mod operation;

use meridian_core::account::Account;
use meridian_core::throughput::Op as Access;
use serde_json::{Map, Value as Json};

use crate::error::{ApiError, ApiResult};
use crate::req::Req;
pub(crate) use members::Kind;
use members::{MEMBERS, Member};
pub(crate) use operation::{Operation, target};

/// A parsed request.
pub(crate) struct Request {
    pub op: Operation,
    pub caller: Account,
    /// The `Host` the client reached the endpoint by, if it sent one.
    pub host: Option<String>,
    /// The request's JSON, with every table ARN given for a table's name
    /// (DynamoDB's `TableArn` members) turned into the name.
    body: Map<String, Json>,
    names: Vec<Named>,
    /// The batch keys given as ARNs: (name, as given), for the answer to
    /// be keyed as the request was.
    renamed: Vec<(String, String)>,
}

/// One resource a request names.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Named {
    pub kind: Kind,
    /// The table, by name; for an index, the table the request names.
    pub table: String,
    pub index: Option<String>,
    /// The throughput it draws on, for a data-plane request.
    pub access: Option<Access>,
    /// Its place in the first list on its member's path (a transaction's
    /// action in `TransactItems`), if the path has one.
    pub at: Option<usize>,
}

impl Request {
    /// Parses `body`, a request of `op` by `caller` to this endpoint in
    /// `region`. Refused when a table ARN in a name's place is of another
    /// region or account (`crate::arn::table_name_of`), or names a table
    /// twice in a batch.
    pub(crate) fn parse(
        region: &str,
        caller: Account,
        host: Option<String>,
        op: Operation,
        body: Map<String, Json>,
    ) -> ApiResult<Request> {
        Request::parse_with(MEMBERS, region, caller, host, op, body)
    }

    /// [`Request::parse`] knowing only `members`: the tests plant a
    /// parser that misses one and watch the model's check fail.
    fn parse_with(
        members: &[Member],
        region: &str,
        caller: Account,
        host: Option<String>,
        op: Operation,
        mut body: Map<String, Json>,
    ) -> ApiResult<Request> {
        let mut names = Vec::new();
        let mut renamed = Vec::new();
        for m in members.iter().filter(|m| m.op == op) {
            let mut found = |given: &str, at: Option<usize>| -> ApiResult<Option<String>> {
                let mut name = |table: String, index: Option<String>, access| {
                    names.push(Named {
                        kind: m.kind,
                        table,
                        index,
                        access,
                        at,
                    });
                };
                if m.arn {
                    let table = crate::arn::table_name_of(region, caller, op.name(), given)?;
                    name(table.to_string(), None, m.access);
                    return Ok((table != given).then(|| table.to_string()));
                }
                if let Some((table, index, access)) = named_in(m, given) {
                    name(table, index, access);
                }
                Ok(None)
            };
            walk(&mut body, m.path, None, &mut found, &mut renamed)?;
        }
        // An index is of the table the request names.
        if let Some(table) = body.get("TableName").and_then(Json::as_str) {
            for n in names.iter_mut().filter(|n| n.kind == Kind::Index) {
                n.table = table.to_string();
            }
        }
        Ok(Request {
            op,
            caller,
            host,
            body,
            names,
            renamed,
        })
    }

    /// A request the front makes of itself while serving this one (a
    /// PartiQL statement run as the operation it translates to): this
    /// one's caller, and no names of its own, the statement's tables
    /// having been checked as this request's.
    pub(crate) fn within(&self, op: Operation, body: Map<String, Json>) -> Request {
        Request {
            op,
            caller: self.caller,
            host: self.host.clone(),
            body,
            names: Vec::new(),
            renamed: Vec::new(),
        }
    }

    /// The request's members, tables named by name.
    pub(crate) fn body(&self) -> Req<'_> {
        Req(&self.body)
    }

    /// The request's members, for metering to set what it computes and
    /// hold back a batch's requests of throttled tables.
    pub(crate) fn body_mut(&mut self) -> &mut Map<String, Json> {
        &mut self.body
    }

    /// Every resource the request names, in the order of its members.
    #[cfg(test)]
    pub(crate) fn names(&self) -> &[Named] {
        &self.names
    }

    /// The table of each of a transaction's actions, by the action's place
    /// in `TransactItems`, as the request named it.
    pub(crate) fn actions(&self) -> impl Iterator<Item = (usize, &str)> {
        self.names
            .iter()
            .filter(|n| n.kind == Kind::Table)
            .filter_map(|n| Some((n.at?, n.table.as_str())))
    }

    /// The tables the request names outside any list (its `TableName`, a
    /// batch's `RequestItems` keys), by name, each with the access it
    /// draws on.
    pub(crate) fn drawing_tables(&self) -> impl Iterator<Item = (&str, Access)> {
        self.names
            .iter()
            .filter(|n| n.kind == Kind::Table && n.at.is_none())
            .filter_map(|n| Some((n.table.as_str(), n.access?)))
    }

    /// The tables the caller's account must own for the request to be
    /// served, each once, in the order they are named.
    pub(crate) fn owned_tables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for n in self.names.iter().filter(|n| n.kind.owned()) {
            if !out.contains(&n.table.as_str()) {
                out.push(&n.table);
            }
        }
        out
    }

    /// What a data-plane request reads or writes: table, index and
    /// access, once each; `None` for a request that is not metered. A
    /// read through an `IndexName` is of that index.
    pub(crate) fn touches(&self) -> Option<Vec<(String, Option<String>, Access)>> {
        if !self.op.draws_throughput() {
            return None;
        }
        let index = self
            .names
            .iter()
            .find(|n| n.kind == Kind::Index)
            .and_then(|n| n.index.clone());
        let mut out = Vec::new();
        for n in &self.names {
            let Some(access) = n.access else { continue };
            let index = match n.kind {
                Kind::Statement => n.index.clone(),
                _ => index.clone(),
            };
            let touch = (n.table.clone(), index, access);
            if !out.contains(&touch) {
                out.push(touch);
            }
        }
        Some(out)
    }

    /// Keys a batch's answer by the tables as the request named them.
    pub(crate) fn key_as_given(&self, answer: &mut Json) {
        for member in [
            "Responses",
            "UnprocessedKeys",
            "UnprocessedItems",
            "ItemCollectionMetrics",
        ] {
            if let Some(Json::Object(m)) = answer.get_mut(member) {
                for (name, given) in &self.renamed {
                    if let Some(v) = m.remove(name) {
                        m.insert(given.clone(), v);
                    }
                }
            }
        }
    }
}

/// The table, index and access named by `given` in a member whose table
/// ARN is not read as a name (`Member::arn` off): what its kind reads
/// there (an ARN of any kind, a shard iterator, a PartiQL statement, an
/// index's name), or `None` when it names no table.
fn named_in(m: &Member, given: &str) -> Option<(String, Option<String>, Option<Access>)> {
    match m.kind {
        Kind::Arn | Kind::Source => {
            crate::arn::table_of(given).map(|table| (table.to_string(), None, m.access))
        }
        Kind::Iterator => {
            crate::shard_iterator::iterator_table(given).map(|table| (table, None, m.access))
        }
        Kind::Statement => {
            let (table, index, read) = crate::partiql::parser::target(given)?;
            let access = if read { Access::Read } else { Access::Write };
            Some((table, index.filter(|_| read), Some(access)))
        }
        Kind::Index => Some((String::new(), Some(given.to_string()), m.access)),
        // A listing starts after a table's name or an ARN under
        // one (a backup's, a stream's).
        Kind::Cursor => {
            let table = crate::arn::table_of(given).unwrap_or(given);
            Some((table.to_string(), None, m.access))
        }
        _ => Some((given.to_string(), None, m.access)),
    }
}

/// What [`walk`] calls on each string it reaches, with its place in the
/// first list on the way: its replacement, if any.
type Found<'a> = dyn FnMut(&str, Option<usize>) -> ApiResult<Option<String>> + 'a;

/// Calls `found` on every string `path` (as [`Member::path`] writes it)
/// reaches in `obj`, and puts back the replacement it gives; a map's key
/// replaced is recorded in `renamed` (the replacement, then the key as
/// given). What is not there, or not of the shape the path says, is
/// passed over: the operation refuses it. `at` is the place in the first
/// list walked through so far.
fn walk(
    obj: &mut Map<String, Json>,
    path: &str,
    at: Option<usize>,
    found: &mut Found<'_>,
    renamed: &mut Vec<(String, String)>,
) -> ApiResult<()> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    if let Some(name) = head.strip_suffix("{key}") {
        if let Some(Json::Object(map)) = obj.get_mut(name) {
            rename_keys(map, found, renamed)?;
        }
        return Ok(());
    }
    let (name, list) = match head.strip_suffix("[]") {
        Some(n) => (n, true),
        None => (head, false),
    };
    let members: Vec<&mut Json> = match name {
        "*" => obj.values_mut().collect(),
        _ => obj.get_mut(name).into_iter().collect(),
    };
    for member in members {
        let each: Vec<&mut Json> = match member {
            Json::Array(a) if list => a.iter_mut().collect(),
            _ if list => Vec::new(),
            one => vec![one],
        };
        for (i, value) in each.into_iter().enumerate() {
            let at = if list { at.or(Some(i)) } else { at };
            match (rest, value) {
                (None, Json::String(s)) => {
                    if let Some(new) = found(s, at)? {
                        *s = new;
                    }
                }
                (Some(rest), Json::Object(o)) => walk(o, rest, at, found, renamed)?,
                _ => {}
            }
        }
    }
    Ok(())
}

/// [`walk`] at a map's keys: a key replaced by one the map already has is
/// a table named twice, DynamoDB's duplicate.
fn rename_keys(
    map: &mut Map<String, Json>,
    found: &mut Found<'_>,
    renamed: &mut Vec<(String, String)>,
) -> ApiResult<()> {
    for given in map.keys().cloned().collect::<Vec<_>>() {
        let Some(name) = found(&given, None)? else {
            continue;
        };
        if map.contains_key(&name) {
            return Err(ApiError::validation(
                "Provided list of item keys contains duplicates",
            ));
        }
        if let Some(v) = map.remove(&given) {
            map.insert(name.clone(), v);
        }
        renamed.push((name, given));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
