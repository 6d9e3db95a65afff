//! Query, Scan, BatchGetItem and TransactGetItems.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;

use meridian_core::expr::{self, SortKeyCondition};
use meridian_core::index::{IndexDef, Kind, Projection};
use meridian_core::key::{MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, encode_key_value};
use meridian_core::value::item_size;
use meridian_core::{AttrValue, EncodedKey, Item, KeyAttr, KeyType, TableDef, item_to_json};
use meridian_region::ops::RegionHandle;
use meridian_store::{IndexPos, SortRange, StoredRow};
use serde_json::{Value as Json, json};

use crate::capacity::{self, Report, Tally, Units};
use crate::error::{ApiError, ApiResult};
use crate::front::Front;
use crate::items::Exprs;
use crate::legacy;
use crate::req::{Req, key_of};
use crate::request::Request;

/// A page stops once it has read 1 MB, as in DynamoDB.
const PAGE_BYTES: usize = 1 << 20;
/// Rows fetched from the store per step.
const STEP: usize = 1000;
/// BatchGetItem answers at most 16 MB; the rest comes back unprocessed.
const BATCH_GET_BYTES: usize = 16 << 20;

fn key_value(v: &AttrValue, attr: &KeyAttr, limit: usize) -> ApiResult<Vec<u8>> {
    encode_key_value(v, attr, limit).map_err(condition_error)
}

/// A key condition's value that does not fit its key attribute, in
/// DynamoDB's words.
fn condition_error(e: meridian_core::Error) -> ApiError {
    match e {
        meridian_core::Error::KeyType { .. } => ApiError::validation(format!(
            "One or more parameter values were invalid: Condition parameter type does not match schema type: {e}"
        )),
        other => other.into(),
    }
}

fn sort_range(def: &TableDef, cond: Option<&SortKeyCondition>) -> ApiResult<SortRange> {
    let Some(cond) = cond else {
        return Ok(SortRange::all());
    };
    let Some(sk) = &def.key_schema.sort else {
        return Err(ApiError::validation(format!(
            "Query key condition not supported: {} is not a key of table {}",
            cond.attribute(),
            def.name
        )));
    };
    if cond.attribute() != sk.name {
        return Err(ApiError::validation(format!(
            "Query condition missed key schema element: {}",
            sk.name
        )));
    }
    let enc = |v: &AttrValue| key_value(v, sk, MAX_SORT_KEY_BYTES);
    use Bound::*;
    let (lower, upper) = match cond {
        SortKeyCondition::Eq(_, v) => (Included(enc(v)?), Included(enc(v)?)),
        SortKeyCondition::Lt(_, v) => (Unbounded, Excluded(enc(v)?)),
        SortKeyCondition::Le(_, v) => (Unbounded, Included(enc(v)?)),
        SortKeyCondition::Gt(_, v) => (Excluded(enc(v)?), Unbounded),
        SortKeyCondition::Ge(_, v) => (Included(enc(v)?), Unbounded),
        SortKeyCondition::Between(_, lo, hi) => {
            let (lo, hi) = (enc(lo)?, enc(hi)?);
            if lo > hi {
                return Err(ApiError::validation(
                    "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
                ));
            }
            (Included(lo), Included(hi))
        }
        SortKeyCondition::BeginsWith(_, v) => {
            if sk.ty == KeyType::N {
                return Err(ApiError::validation(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                ));
            }
            let r = SortRange::prefix(&enc(v)?);
            (r.lower, r.upper)
        }
    };
    Ok(SortRange { lower, upper })
}

/// `Select`, checked as DynamoDB checks it: a projection only with
/// `SPECIFIC_ATTRIBUTES` (which needs one), `ALL_PROJECTED_ATTRIBUTES` only
/// on an index. Whether only the count is wanted.
fn select(
    r: Req<'_>,
    query: bool,
    index: bool,
    by_expression: bool,
    by_names: bool,
) -> ApiResult<bool> {
    // Query words these as constraint violations, Scan does not.
    let fail = |m: String| {
        let e = ApiError::validation(m);
        Err(if query { e.detected() } else { e })
    };
    let Some(select) = r.opt_str("Select")? else {
        return Ok(false);
    };
    let what = match select {
        "SPECIFIC_ATTRIBUTES" => {
            if !by_expression && !by_names {
                return fail(
                    "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES".into(),
                );
            }
            return Ok(false);
        }
        "COUNT" => "only the Count",
        "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES" => select,
        other => {
            return Err(ApiError::constraint(format!(
                "Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
            )));
        }
    };
    if by_expression {
        return fail(format!(
            "Cannot specify the ProjectionExpression when choosing to get {what}"
        ));
    }
    if by_names {
        return fail(format!(
            "Cannot specify the AttributesToGet when choosing to get {what}"
        ));
    }
    if select == "ALL_PROJECTED_ATTRIBUTES" && !index {
        return fail(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName".into(),
        );
    }
    Ok(select == "COUNT")
}

/// What a Query or Scan returns, and how it reads.
struct Listing {
    limit: Option<usize>,
    filter: Option<std::sync::Arc<expr::ConditionExpr>>,
    projection: Option<Vec<expr::Path>>,
    count_only: bool,
    /// `Select` is `ALL_ATTRIBUTES`.
    all_attributes: bool,
    consistent: bool,
    report: Report,
    /// `IndexName`, if the listing reads an index.
    index: Option<String>,
}

/// Query's and Scan's expression and legacy members, in DynamoDB's order.
const QUERY_EXPRESSIONS: &[&str] = &[
    "ProjectionExpression",
    "FilterExpression",
    "KeyConditionExpression",
];
const QUERY_LEGACY: &[&str] = &[
    "AttributesToGet",
    "QueryFilter",
    "ConditionalOperator",
    "KeyConditions",
];
const SCAN_EXPRESSIONS: &[&str] = &["ProjectionExpression", "FilterExpression"];
const SCAN_LEGACY: &[&str] = &["AttributesToGet", "ScanFilter", "ConditionalOperator"];

/// Where a listing reads: the table, or one of its indexes, and how each
/// item read is shown.
struct Source<'a> {
    def: &'a TableDef,
    index: Option<&'a IndexDef>,
    /// The whole item is shown (a local index fetches what it does not
    /// project from the table, as DynamoDB does).
    whole: bool,
}

impl<'a> Source<'a> {
    /// The source `listing` names on `def`, checked as DynamoDB checks it:
    /// the index exists and is built, strong consistency only on a local
    /// index, all attributes only where the index projects them or fetches
    /// them.
    async fn of(ops: &RegionHandle, def: &'a TableDef, listing: &Listing) -> ApiResult<Source<'a>> {
        // On a STRONG table a strongly consistent read sees every write
        // chosen before it (docs/strong.md); a global index refuses below.
        let local = listing
            .index
            .as_ref()
            .is_none_or(|n| def.index(n).is_some_and(|i| i.kind == Kind::Local));
        if listing.consistent && local {
            ops.consistent(&def.name).await?;
        }
        let Some(name) = &listing.index else {
            return Ok(Source {
                def,
                index: None,
                whole: true,
            });
        };
        let index = def.index(name).ok_or_else(|| {
            ApiError::validation(format!(
                "The table does not have the specified index: {name}"
            ))
        })?;
        let global = index.kind == Kind::Global;
        if global && listing.consistent {
            return Err(ApiError::validation(
                "Consistent reads are not supported on global secondary indexes",
            ));
        }
        if global && listing.all_attributes && index.projection != Projection::All {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {name} because its projection type is not ALL"
            )));
        }
        let table = def.name.clone();
        if ops
            .read(move |r| r.indexes_building(&table))
            .await?
            .contains(name)
        {
            return Err(ApiError::validation(format!(
                "Cannot read from backfilling {} secondary index: {name}",
                if global { "global" } else { "local" }
            )));
        }
        Ok(Source {
            def,
            index: Some(index),
            whole: !global && (listing.all_attributes || listing.projection.is_some()),
        })
    }

    /// The attributes a `LastEvaluatedKey` carries.
    fn position_attrs(&self) -> Vec<&'a KeyAttr> {
        let ks = &self.def.key_schema;
        match self.index {
            Some(i) => i.position_attrs(ks),
            None => std::iter::once(&ks.partition)
                .chain(ks.sort.as_ref())
                .collect(),
        }
    }

    /// Whether a filter reads the whole item rather than the projected one:
    /// a local index fetches what it does not project from the table.
    fn filters_whole(&self) -> bool {
        self.index.is_some_and(|i| i.kind == Kind::Local)
    }

    /// An item as the listing sees it: cut to the index's projection.
    fn shape(&self, item: Item) -> Item {
        match self.index {
            Some(i) if !self.whole => i.project(&self.def.key_schema, &item),
            _ => item,
        }
    }

    /// The key attributes a Query's filter may not name: those of the
    /// key schema the key condition is on.
    fn key_names(&self) -> Vec<&'a str> {
        match self.index {
            Some(i) => i.key_attrs().map(|a| a.name.as_str()).collect(),
            None => {
                let ks = &self.def.key_schema;
                std::iter::once(&ks.partition)
                    .chain(ks.sort.as_ref())
                    .map(|a| a.name.as_str())
                    .collect()
            }
        }
    }

    /// An `ExclusiveStartKey` for an index: the table's key and the
    /// index's, nothing else.
    fn index_start(&self, index: &IndexDef, k: &Item) -> ApiResult<IndexPos> {
        let bad = || {
            ApiError::validation(
                "The provided starting key is invalid: The provided key element does not match the schema",
            )
        };
        // Missing or extra attributes, then values of the wrong type.
        let allowed = self.position_attrs();
        if k.len() != allowed.len() || k.keys().any(|n| !allowed.iter().any(|a| a.name == *n)) {
            return Err(ApiError::validation("The provided starting key is invalid"));
        }
        let key = self.def.key_schema.key_of(k).map_err(|_| bad())?;
        let index = index.key_of(k).ok_or_else(bad)?;
        Ok(IndexPos { index, key })
    }
}

impl Listing {
    /// The members Query (`query`) and Scan share. DynamoDB words Query's
    /// `Select` errors as a validation list and Scan's plainly.
    fn of(r: Req<'_>, ex: &mut Exprs, query: bool) -> ApiResult<Self> {
        let (expressions, legacy_members, legacy_filter) = if query {
            (QUERY_EXPRESSIONS, QUERY_LEGACY, "QueryFilter")
        } else {
            (SCAN_EXPRESSIONS, SCAN_LEGACY, "ScanFilter")
        };
        legacy::refuse_mixed(r, expressions, legacy_members)?;
        let index = r.opt_str("IndexName")?.map(str::to_string);
        if let Some(name) = &index
            && !(3..=255).contains(&name.len())
        {
            return Err(ApiError::constraint(format!(
                "Value '{name}' at 'indexName' failed to satisfy constraint: Member must have length {}",
                if name.len() < 3 {
                    "greater than or equal to 3"
                } else {
                    "less than or equal to 255"
                }
            )));
        }
        let limit = r.limit("Limit", None)?.map(|n| n as usize);
        let filter = match ex.condition(r, "FilterExpression")? {
            Some(f) => Some(f),
            None => legacy::filter(r, legacy_filter)?,
        };
        let by_expression = ex.projection(r)?;
        let by_names = legacy::attributes_to_get(r)?;
        let count_only = select(
            r,
            query,
            index.is_some(),
            by_expression.is_some(),
            by_names.is_some(),
        )?;
        Ok(Listing {
            limit,
            filter,
            projection: by_expression.or(by_names),
            count_only,
            all_attributes: r.opt_str("Select")? == Some("ALL_ATTRIBUTES"),
            consistent: r.opt_bool("ConsistentRead")?.unwrap_or(false),
            report: Report::of(r)?,
            index,
        })
    }

    /// Reads pages from `next` until the limit, 1 MB, or the end. `Limit`
    /// counts items read, before the filter, as in DynamoDB. `next` gives
    /// rows with their positions, which it takes back to continue.
    async fn run<C, F, Fut>(&self, source: &Source<'_>, mut next: F) -> ApiResult<Json>
    where
        C: Clone,
        F: FnMut(Option<C>, usize) -> Fut,
        Fut: std::future::Future<Output = ApiResult<(Vec<(C, StoredRow)>, bool)>>,
    {
        let (mut items, mut count, mut scanned, mut bytes) = (Vec::new(), 0usize, 0usize, 0usize);
        let mut after: Option<C> = None;
        let mut last: Option<Item> = None;
        let mut more = true;
        'pages: while more {
            let want = self.limit.map_or(STEP, |l| (l - scanned).min(STEP));
            let (rows, exhausted) = next(after.clone(), want).await?;
            more = !exhausted;
            for (pos, row) in rows {
                after = Some(pos);
                let Some(item) = row.image else { continue };
                scanned += 1;
                let whole = source.filters_whole();
                let keep = match &self.filter {
                    Some(f) if whole => f.eval(Some(&item))?,
                    _ => true,
                };
                let item = source.shape(item);
                bytes += item_size(&item);
                let keep = keep
                    && match &self.filter {
                        Some(f) if !whole => f.eval(Some(&item))?,
                        _ => true,
                    };
                if keep {
                    count += 1;
                    if !self.count_only {
                        let shown = match &self.projection {
                            Some(p) => expr::project(&item, p),
                            None => item.clone(),
                        };
                        items.push(Json::Object(item_to_json(&shown)));
                    }
                }
                last = Some(item);
                if self.limit.is_some_and(|l| scanned >= l) || bytes >= PAGE_BYTES {
                    more = true;
                    break 'pages;
                }
            }
        }
        let mut out = json!({"Count": count, "ScannedCount": scanned});
        if !self.count_only {
            out["Items"] = Json::Array(items);
        }
        if more && let Some(item) = last {
            let key: Item = source
                .position_attrs()
                .into_iter()
                .filter_map(|a| item.get(&a.name).map(|v| (a.name.clone(), v.clone())))
                .collect();
            out["LastEvaluatedKey"] = Json::Object(item_to_json(&key));
        }
        // Every item read counts, filtered out or not, rounded once.
        let units = capacity::read_units(bytes, self.consistent);
        capacity::attach(&mut out, self.report, &source.def.name, Units::read(units));
        Ok(out)
    }
}

/// The equalities of a Query's key condition, by attribute name, as
/// metering reads them to place the Query in its partition
/// (`crate::throttle`); none when the condition does not parse (the
/// Query refuses it).
pub(crate) fn key_equalities(r: Req<'_>) -> Vec<(String, AttrValue)> {
    let conds = match r.opt_str("KeyConditionExpression") {
        Ok(Some(text)) => Exprs::of(r)
            .ok()
            .and_then(|mut ex| ex.key_conditions(text).ok())
            .and_then(Result::ok),
        Ok(None) => legacy::key_conditions(r).ok().flatten(),
        Err(_) => None,
    };
    conds
        .into_iter()
        .flatten()
        .filter_map(|c| match c {
            SortKeyCondition::Eq(name, v) => Some((name, v)),
            _ => None,
        })
        .collect()
}

pub async fn query(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    let mut ex = Exprs::of(r)?;
    let listing = Listing::of(r, &mut ex, true)?;
    let conds = match r.opt_str("KeyConditionExpression")? {
        Some(text) => ex.key_conditions(text)?,
        None => Ok(legacy::key_conditions(r)?.ok_or_else(|| {
            ApiError::validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
        })?),
    };
    let forward = r.opt_bool("ScanIndexForward")?.unwrap_or(true);
    let start = r.opt_item("ExclusiveStartKey")?;
    // DynamoDB's order: unused names and values before the key condition's shape.
    ex.finish()?;
    let conds = conds?;
    let (def, _) = ops.item_table(table).await?;
    let source = Source::of(ops, &def, &listing).await?;
    check_filter_keys(r, &listing, &source)?;
    if let Some(index) = source.index {
        fn names(l: &[KeyAttr]) -> Vec<&str> {
            l.iter().map(|a| a.name.as_str()).collect()
        }
        let km = expr::match_keys(&conds, &names(&index.partition), &names(&index.sort))?;
        let (partition, range) =
            meridian_store::index_range(index, &km).map_err(condition_error)?;
        let mut first = start
            .map(|k| index_query_start(&source, index, &k, &partition))
            .transpose()?;
        let index_name = index.name.clone();
        return listing
            .run(&source, move |after, want| {
                let after = after.or_else(|| first.take());
                let (table, name) = (table.to_string(), index_name.clone());
                let (partition, range) = (partition.clone(), range.clone());
                async move {
                    let rows = ops
                        .read(move |r| {
                            r.index_query(
                                &table,
                                &name,
                                &partition,
                                &range,
                                !forward,
                                after.as_ref(),
                                want,
                            )
                        })
                        .await?;
                    let exhausted = rows.len() < want;
                    Ok((rows, exhausted))
                }
            })
            .await;
    }
    let kc = expr::KeyCondition::of(conds)?.oriented(&def.key_schema.partition.name)?;
    let pk = key_value(
        &kc.partition.1,
        &def.key_schema.partition,
        MAX_PARTITION_KEY_BYTES,
    )?;
    let range = sort_range(&def, kc.sort.as_ref())?;
    let mut first = start
        .map(|k| table_query_start(&def, &k, &pk))
        .transpose()?;
    let mut out = listing
        .run(&source, move |after: Option<EncodedKey>, want| {
            let after = after.or_else(|| first.take()).map(|k| k.sort);
            let (pk, range) = (pk.clone(), range.clone());
            async move {
                let rows = ops.query(table, pk, range, !forward, after, want).await?;
                let exhausted = rows.len() < want;
                Ok((keyed(rows), exhausted))
            }
        })
        .await?;
    if def.key_schema.sort.is_none()
        && let Some(o) = out.as_object_mut()
    {
        // The partition's one item is all there is, and a start key is
        // refused there (above): a page never points past it, or
        // paginators would send it back.
        o.remove("LastEvaluatedKey");
    }
    Ok(out)
}

/// DynamoDB's rule: a Query filters on what the key condition does not,
/// so neither its `QueryFilter` nor its `FilterExpression` may name a key
/// attribute of what it reads.
fn check_filter_keys(r: Req<'_>, listing: &Listing, source: &Source<'_>) -> ApiResult<()> {
    let keys = source.key_names();
    if let Some(filter) = r.opt_obj("QueryFilter")?
        && let Some(k) = keys.iter().find(|k| filter.0.contains_key(**k))
    {
        return Err(ApiError::validation(format!(
            "QueryFilter can only contain non-primary key attributes: Primary key attribute: {k}"
        )));
    }
    if r.opt_str("FilterExpression")?.is_some()
        && let Some(filter) = &listing.filter
        && let Some(k) = keys.iter().find(|k| filter.attributes().contains(**k))
    {
        return Err(ApiError::validation(format!(
            "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
        )));
    }
    Ok(())
}

/// A Query's `ExclusiveStartKey` on an index: its position, which must be
/// in the partition the key condition reads.
fn index_query_start(
    source: &Source<'_>,
    index: &IndexDef,
    k: &Item,
    partition: &[u8],
) -> ApiResult<IndexPos> {
    let pos = source.index_start(index, k)?;
    if pos.index.partition != partition {
        return Err(ApiError::validation(
            "The provided starting key is outside query boundaries based on provided conditions",
        ));
    }
    Ok(pos)
}

/// A Query's `ExclusiveStartKey` on the table: its key, which must be in
/// partition `pk`, of a table with a sort key.
fn table_query_start(def: &TableDef, k: &Item, pk: &[u8]) -> ApiResult<EncodedKey> {
    let key = crate::req::start_key_of(def, k)?;
    if def.key_schema.sort.is_none() {
        // A partition holds one item, so a start key "after" it
        // leaves nothing to read; DynamoDB refuses any.
        let shown: Vec<String> = k
            .iter()
            .map(|(name, v)| format!("{name}={}", expr::show_value(v)))
            .collect();
        return Err(ApiError::validation(format!(
            "The provided exclusive start key is invalid: ExclusiveStartKey: {{{}}}",
            shown.join(", ")
        )));
    }
    if key.partition != pk {
        return Err(ApiError::validation(
            "The provided starting key is outside query boundaries based on provided conditions",
        ));
    }
    Ok(key)
}

/// Rows of the table, each with its key as its position.
fn keyed(rows: Vec<StoredRow>) -> Vec<(EncodedKey, StoredRow)> {
    rows.into_iter().map(|r| (r.key.clone(), r)).collect()
}

/// Which segment of a parallel scan a partition belongs to.
fn segment_of(partition: &[u8], total: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in partition {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % total
}

/// Reads on from `cursor` with `step` until `want` rows of `segment` are
/// found or the end: a segment sees only its partitions. `partition_of`
/// names the partition a row's position belongs to.
async fn segment_rows<C, F, Fut>(
    mut cursor: Option<C>,
    want: usize,
    segment: Option<(u64, u64)>,
    partition_of: fn(&C) -> &[u8],
    mut step: F,
) -> ApiResult<(Vec<(C, StoredRow)>, bool)>
where
    C: Clone,
    F: FnMut(Option<C>) -> Fut,
    Fut: std::future::Future<Output = ApiResult<Vec<(C, StoredRow)>>>,
{
    let mut out = Vec::new();
    loop {
        let rows = step(cursor.clone()).await?;
        let exhausted = rows.len() < STEP;
        if let Some((pos, _)) = rows.last() {
            cursor = Some(pos.clone());
        }
        for (pos, row) in rows {
            if segment.is_none_or(|(s, t)| segment_of(partition_of(&pos), t) == s) {
                out.push((pos, row));
                if out.len() == want {
                    return Ok((out, false));
                }
            }
        }
        if exhausted {
            return Ok((out, true));
        }
    }
}

pub async fn scan(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    let mut ex = Exprs::of(r)?;
    let listing = Listing::of(r, &mut ex, false)?;
    let start = r.opt_item("ExclusiveStartKey")?;
    let segment = match (r.opt_u64("Segment")?, r.opt_u64("TotalSegments")?) {
        (None, None) => None,
        (Some(s), Some(t)) if (1..=1_000_000).contains(&t) && s < t => Some((s, t)),
        (Some(_), Some(t)) if !(1..=1_000_000).contains(&t) => {
            return Err(ApiError::constraint(format!(
                "Value '{t}' at 'totalSegments' failed to satisfy constraint: Member must have value between 1 and 1000000"
            )));
        }
        (Some(s), Some(t)) => {
            return Err(ApiError::validation(format!(
                "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
            )));
        }
        (Some(_), None) => {
            return Err(ApiError::validation(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::validation(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
            ));
        }
    };
    ex.finish()?;
    let (def, _) = ops.item_table(table).await?;
    let source = Source::of(ops, &def, &listing).await?;
    let wrong_segment = |partition: &[u8]| match segment {
        Some((s, t)) if segment_of(partition, t) != s => Err(ApiError::validation(format!(
            "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: {t} Segment: {s}"
        ))),
        _ => Ok(()),
    };
    if let Some(index) = source.index {
        let mut first = start.map(|k| source.index_start(index, &k)).transpose()?;
        if let Some(pos) = &first {
            wrong_segment(&pos.index.partition)?;
        }
        let index_name = index.name.clone();
        return listing
            .run(&source, move |after, want| {
                let after = after.or_else(|| first.take());
                let (table, name) = (table.to_string(), index_name.clone());
                segment_rows(
                    after,
                    want,
                    segment,
                    |p: &IndexPos| &p.index.partition,
                    move |cursor| {
                        let (table, name) = (table.clone(), name.clone());
                        async move {
                            Ok(ops
                                .read(move |r| r.index_scan(&table, &name, cursor.as_ref(), STEP))
                                .await?)
                        }
                    },
                )
            })
            .await;
    }
    let mut first = start
        .map(|k| crate::req::start_key_of(&def, &k))
        .transpose()?;
    if let Some(k) = &first {
        wrong_segment(&k.partition)?;
    }
    listing
        .run(&source, move |after, want| {
            let after = after.or_else(|| first.take());
            segment_rows(
                after,
                want,
                segment,
                |k: &EncodedKey| &k.partition,
                move |cursor| async move { Ok(keyed(ops.scan(table, cursor, STEP).await?)) },
            )
        })
        .await
}

pub async fn batch_get(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let requests = r.obj("RequestItems")?;
    let total: usize = requests
        .0
        .values()
        .map(|t| t.get("Keys").and_then(Json::as_array).map_or(0, Vec::len))
        .sum();
    if total == 0 || total > 100 {
        return Err(ApiError::validation(format!(
            "Too many items requested for the BatchGetItem call: {total} keys; a batch holds 1 to 100 keys"
        )));
    }
    let report = Report::of(r)?;
    let mut tally = Tally::default();
    let mut responses = serde_json::Map::new();
    let mut unprocessed = serde_json::Map::new();
    let mut bytes = 0;
    for (table, spec) in requests.0 {
        let Json::Object(spec) = spec else {
            return Err(ApiError::validation(format!(
                "RequestItems.{table} must be an object"
            )));
        };
        let spec = Req(spec);
        meridian_core::schema::validate_table_name(table)
            .map_err(|e| ApiError::validation(e.to_string()))?;
        legacy::refuse_mixed(spec, &["ProjectionExpression"], &["AttributesToGet"])?;
        let mut ex = Exprs::of(spec)?;
        let projection = match ex.projection(spec)? {
            Some(p) => Some(p),
            None => legacy::attributes_to_get(spec)?,
        };
        ex.finish()?;
        let consistent = spec.opt_bool("ConsistentRead")?.unwrap_or(false);
        let (def, _) = ops.item_table(table).await?;
        if consistent {
            ops.consistent(table).await?;
        }
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        for (i, k) in spec.arr("Keys")?.iter().enumerate() {
            let item = meridian_core::item_from_json(k)?;
            let key = key_of(&def, &item)?;
            if !seen.insert(key.clone()) {
                return Err(ApiError::validation(
                    "Provided list of item keys contains duplicates",
                ));
            }
            keys.push((i, item, key));
        }
        let rows = ops
            .get_many(table, keys.iter().map(|(_, _, k)| k.clone()).collect())
            .await?;
        let mut found = Vec::new();
        let mut left = Vec::new();
        // Each key read is its own read, rounded on its own; a table
        // appears in ConsumedCapacity even when nothing was found.
        tally.add(table, Units::default());
        for ((_, key_attrs, _), row) in keys.into_iter().zip(rows) {
            let item = row.and_then(|r| r.image);
            let size = item.as_ref().map_or(0, item_size);
            // Never past 16 MB: what does not fit comes back unprocessed.
            if bytes + size > BATCH_GET_BYTES {
                left.push(Json::Object(item_to_json(&key_attrs)));
                continue;
            }
            tally.add(table, Units::read(capacity::read_units(size, consistent)));
            if let Some(item) = item {
                bytes += size;
                let shown = match &projection {
                    Some(p) => expr::project(&item, p),
                    None => item,
                };
                found.push(Json::Object(item_to_json(&shown)));
            }
        }
        responses.insert(table.clone(), Json::Array(found));
        if !left.is_empty() {
            let mut u = spec.0.clone();
            u.insert("Keys".into(), Json::Array(left));
            unprocessed.insert(table.clone(), Json::Object(u));
        }
    }
    let mut out = json!({"Responses": responses, "UnprocessedKeys": unprocessed});
    if let Some(c) = tally.render(report, false) {
        out["ConsumedCapacity"] = c;
    }
    Ok(out)
}

pub async fn transact_get(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let actions = r.arr("TransactItems")?;
    if actions.is_empty() || actions.len() > 100 {
        return Err(ApiError::constraint(format!(
            "Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1; got {}",
            actions.len()
        )));
    }
    let report = Report::of(r)?;
    let mut defs: HashMap<String, TableDef> = HashMap::new();
    let mut keys = Vec::new();
    let mut projections = Vec::new();
    for (i, a) in actions.iter().enumerate() {
        let get = a.get("Get").and_then(Json::as_object).ok_or_else(|| {
            ApiError::validation(format!("TransactItems[{i}]: each action must be a Get"))
        })?;
        let get = Req(get);
        let table = get.table_name()?;
        let mut ex = Exprs::of(get)?;
        projections.push(ex.projection(get)?);
        ex.finish()?;
        if !defs.contains_key(table) {
            defs.insert(table.to_string(), ops.item_table(table).await?.0);
        }
        let key = key_of(&defs[table], &get.item("Key")?)?;
        if keys.iter().any(|(t, k)| t == table && *k == key) {
            return Err(ApiError::validation(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
        keys.push((table.to_string(), key));
    }
    crate::txn::refuse_strong(ops, defs.keys().map(String::as_str))?;
    let tables: Vec<String> = keys.iter().map(|(t, _)| t.clone()).collect();
    let rows = ops.get_all(keys).await?;
    let mut tally = Tally::default();
    for (table, row) in tables.iter().zip(&rows) {
        let item = row.as_ref().and_then(|r| r.image.as_ref());
        tally.add(table, Units::read(capacity::item_read_units(item, true)));
    }
    let responses: Vec<Json> = rows
        .into_iter()
        .zip(projections)
        .map(|(row, p)| match row.and_then(|r| r.image) {
            Some(item) => {
                let shown: Item = match &p {
                    Some(p) => expr::project(&item, p),
                    None => item,
                };
                json!({"Item": Json::Object(item_to_json(&shown))})
            }
            None => json!({}),
        })
        .collect();
    let mut out = json!({"Responses": responses});
    if let Some(c) = tally.render(report, true) {
        out["ConsumedCapacity"] = c;
    }
    Ok(out)
}
