//! Secondary indexes on the wire: `GlobalSecondaryIndexes` and
//! `LocalSecondaryIndexes` of CreateTable, `GlobalSecondaryIndexUpdates`
//! of UpdateTable, and how DescribeTable shows them. The rules themselves
//! (limits, the sparse rule, projections) are `meridian_core::index`.

use meridian_core::index::{self, IndexDef, Kind, Projection};
use meridian_core::settings::{Billing, OnDemandUpdate};
use meridian_core::{KeyAttr, KeySchema};
use meridian_region::ops::{IndexState, TableInfo};
use serde_json::{Value as Json, json};

use crate::arn::index_arn;
use crate::error::{ApiError, ApiResult};
use crate::keys::key_type;
use crate::req::Req;

/// The member a kind of index is listed in.
fn member(kind: Kind) -> &'static str {
    match kind {
        Kind::Global => "GlobalSecondaryIndexes",
        Kind::Local => "LocalSecondaryIndexes",
    }
}

fn invalid(m: String) -> ApiError {
    ApiError::validation(format!("One or more parameter values were invalid: {m}"))
}

/// One index of CreateTable, or an UpdateTable `Create`: its name, key
/// schema (every attribute typed by `defs`), projection and throughput,
/// checked as DynamoDB checks them. `at` is the member path errors name
/// (`globalSecondaryIndexes.1.member`); `updating`: an UpdateTable
/// `Create`, not CreateTable's.
fn parse_one(
    m: Req<'_>,
    kind: Kind,
    at: &str,
    defs: &[Json],
    billing: Billing,
    updating: bool,
) -> ApiResult<IndexDef> {
    let null = |field: &str| null_member(at, field);
    let name = m.opt_str("IndexName")?.ok_or_else(|| null("indexName"))?;
    let schema = m.opt_arr("KeySchema")?.ok_or_else(|| null("keySchema"))?;
    let (partition, sort) = index_key_schema(schema, at, defs)?;
    let p = m.opt_obj("Projection")?.ok_or_else(|| null("projection"))?;
    let projection = parse_projection(p, at)?;
    // A provisioned global index keeps its own units, checked as the
    // table's are; they are synchronized with its definition.
    let throughput = match kind {
        Kind::Global => crate::settings::throughput(&m, "ProvisionedThroughput")?,
        Kind::Local => None,
    };
    if kind == Kind::Global {
        check_global_units(m, name, billing, updating)?;
    }
    Ok(IndexDef {
        name: name.to_string(),
        kind,
        partition,
        sort,
        projection,
        throughput: throughput.filter(|_| billing != Billing::PayPerRequest),
    })
}

/// DynamoDB's refusal of a required member left out, at `at.field`.
fn null_member(at: &str, field: &str) -> ApiError {
    ApiError::constraint(format!(
        "Value null at '{at}.{field}' failed to satisfy constraint: Member must not be null"
    ))
}

/// An index's `KeySchema`: its partition attributes, then its sort
/// attributes (a multi-attribute key lists several of each), each typed
/// by `defs`.
fn index_key_schema(
    schema: &[Json],
    at: &str,
    defs: &[Json],
) -> ApiResult<(Vec<KeyAttr>, Vec<KeyAttr>)> {
    let (mut partition, mut sort) = (Vec::new(), Vec::new());
    for k in schema {
        let attr = k
            .get("AttributeName")
            .and_then(Json::as_str)
            .ok_or_else(|| null_member(at, "keySchema.member.attributeName"))?;
        let key = KeyAttr {
            name: attr.to_string(),
            ty: key_type(attr, defs)?,
        };
        match k.get("KeyType").and_then(Json::as_str) {
            // A multi-attribute key lists its partition attributes first.
            Some("HASH") if sort.is_empty() => partition.push(key),
            Some("RANGE") if !partition.is_empty() => sort.push(key),
            Some("RANGE") => {
                return Err(ApiError::validation(
                    "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
                ));
            }
            Some("HASH") => {
                return Err(invalid(
                    "All HASH key attributes must precede RANGE key attributes in the KeySchema"
                        .into(),
                ));
            }
            other => {
                return Err(ApiError::constraint(format!(
                    "Value '{}' at '{at}.keySchema.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]",
                    other.unwrap_or("null")
                )));
            }
        }
    }
    // One attribute of each kind: DynamoDB's text of the table's key.
    // Longer multi-attribute keys repeating one are refused by the index
    // rules in their own words.
    if let ([p], [s]) = (&partition[..], &sort[..])
        && p.name == s.name
    {
        return Err(crate::keys::same_name());
    }
    Ok((partition, sort))
}

/// An index's `Projection`: its type, and the attributes an `INCLUDE`
/// projects.
fn parse_projection(p: Req<'_>, at: &str) -> ApiResult<Projection> {
    let non_key = p
        .opt_arr("NonKeyAttributes")?
        .map(|a| {
            a.iter()
                .map(|n| {
                    n.as_str().map(str::to_string).ok_or_else(|| {
                        ApiError::new(
                            crate::error::Kind::Serialization,
                            "NonKeyAttributes must be a list of strings",
                        )
                    })
                })
                .collect::<ApiResult<Vec<_>>>()
        })
        .transpose()?;
    Ok(match (p.opt_str("ProjectionType")?, non_key) {
        (Some("ALL"), None) => Projection::All,
        (Some("KEYS_ONLY"), None) => Projection::KeysOnly,
        (Some("INCLUDE"), Some(n)) => Projection::Include(n),
        (Some("INCLUDE"), None) => Projection::Include(Vec::new()),
        (Some(t @ ("ALL" | "KEYS_ONLY")), Some(_)) => {
            return Err(invalid(format!(
                "ProjectionType is {t}, but NonKeyAttributes is specified"
            )));
        }
        (None, _) => return Err(invalid("Unknown ProjectionType: null".into())),
        (Some(t), _) => {
            return Err(ApiError::constraint(format!(
                "Value '{t}' at '{at}.projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]"
            )));
        }
    })
}

/// A global index's units against its table's billing: a provisioned
/// table's index names its own, an on-demand table's none (but for an
/// UpdateTable `Create`, `updating`).
fn check_global_units(m: Req<'_>, name: &str, billing: Billing, updating: bool) -> ApiResult<()> {
    match (billing, m.get("ProvisionedThroughput").is_some()) {
        (Billing::Provisioned { .. }, false) => Err(invalid(format!(
            "ProvisionedThroughput is not specified for index: {name}"
        ))),
        // UpdateTable's `Create` on an on-demand table: DynamoDB takes
        // the units and the index is on demand like its table (as
        // recorded against it); CreateTable refuses them.
        (Billing::PayPerRequest, true) if updating => Ok(()),
        (Billing::PayPerRequest, true) => Err(invalid(format!(
            "ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
        ))),
        _ => Ok(()),
    }
}

/// CreateTable's indexes, checked against the table's key schema and
/// with one another (`meridian_core::index::validate`).
pub fn parse_create(
    r: &Req<'_>,
    defs: &[Json],
    table: &KeySchema,
    billing: Billing,
) -> ApiResult<Vec<IndexDef>> {
    let mut out = Vec::new();
    for kind in [Kind::Global, Kind::Local] {
        let Some(list) = r.opt_arr(member(kind))? else {
            continue;
        };
        if list.is_empty() {
            return Err(invalid(format!("List of {} is empty", member(kind))));
        }
        let path = crate::req::lower_first(member(kind));
        for (i, m) in list.iter().enumerate() {
            let Some(m) = m.as_object().map(Req) else {
                return Err(ApiError::new(
                    crate::error::Kind::Serialization,
                    format!("{}[{i}] must be an object", member(kind)),
                ));
            };
            let at = format!("{path}.{}.member", i + 1);
            out.push(parse_one(m, kind, &at, defs, billing, false)?);
        }
    }
    index::validate(table, &out)?;
    Ok(out)
}

/// Refuses `AttributeDefinitions` that define an attribute no key schema
/// names (the table's, `table_keys`, or an index's), with DynamoDB's
/// wording, which differs when the table has indexes. DynamoDB checks this
/// before the indexes themselves.
pub fn check_definitions_used(r: &Req<'_>, defs: &[Json], table_keys: &[&str]) -> ApiResult<()> {
    let mut used: Vec<&str> = table_keys.to_vec();
    let mut indexed = false;
    for kind in [Kind::Global, Kind::Local] {
        for m in r.opt_arr(member(kind))?.into_iter().flatten() {
            indexed = true;
            let schema = m.get("KeySchema").and_then(Json::as_array);
            for k in schema.into_iter().flatten() {
                if let Some(n) = k.get("AttributeName").and_then(Json::as_str)
                    && !used.contains(&n)
                {
                    used.push(n);
                }
            }
        }
    }
    used.dedup();
    let defined: Vec<&str> = defs
        .iter()
        .filter_map(|d| d.get("AttributeName").and_then(Json::as_str))
        .collect();
    let Some(extra) = defined.iter().find(|n| !used.contains(n)) else {
        return Ok(());
    };
    Err(invalid(if indexed {
        format!(
            "Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
            defined.join(", "),
            used.join(", ")
        )
    } else {
        format!(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions; {extra} is not a key attribute"
        )
    }))
}

/// Every attribute named by the table's and its indexes' key schemas:
/// what `AttributeDefinitions` must define, no more.
pub fn key_attributes<'a>(table: &'a KeySchema, indexes: &'a [IndexDef]) -> Vec<&'a KeyAttr> {
    let mut out: Vec<&KeyAttr> = std::iter::once(&table.partition)
        .chain(table.sort.as_ref())
        .collect();
    for a in indexes.iter().flat_map(IndexDef::key_attrs) {
        if !out.iter().any(|o| o.name == a.name) {
            out.push(a);
        }
    }
    out
}

/// What UpdateTable's `GlobalSecondaryIndexUpdates` asks for: index
/// builds and drops, and `Update`s of indexes' own throughput.
pub struct IndexUpdates {
    pub changes: Vec<index::Change>,
    /// Each `Update`: the index and its new `(read, write)` units, which
    /// go into the table's synchronized settings
    /// (`meridian_core::settings::TableSettings::apply` has the rules).
    pub units: Vec<(String, (u64, u64))>,
    /// Each `Update`'s or `Create`'s `OnDemandThroughput`, by index: a
    /// synchronized setting too.
    pub on_demand: Vec<(String, OnDemandUpdate)>,
}

/// UpdateTable's `GlobalSecondaryIndexUpdates`: one `Create`, `Update` or
/// `Delete` per member, checked against `table`'s indexes (`building`:
/// those still being built here). An `Update` of a global index names its
/// new `ProvisionedThroughput`; `billing` is the table's, to word the
/// refusal of an `Update` without one as DynamoDB does.
pub fn parse_updates(
    updates: &[Json],
    defs: Option<&[Json]>,
    billing: Billing,
    table: &meridian_core::TableDef,
    building: &[String],
) -> ApiResult<IndexUpdates> {
    if updates.is_empty() {
        return Err(invalid(
            "List of GlobalSecondaryIndexUpdates is empty".into(),
        ));
    }
    let asked = named_updates(updates)?;
    // DynamoDB refuses more than one build or drop before it looks the
    // indexes up: two deletes of indexes that do not exist are refused as
    // too many, not as unknown.
    if asked
        .iter()
        .filter(|a| matches!(a.action, "Create" | "Delete"))
        .count()
        > 1
    {
        return Err(too_many());
    }
    let mut out = IndexUpdates {
        changes: Vec::new(),
        units: Vec::new(),
        on_demand: Vec::new(),
    };
    for a in asked {
        a.parse(table, defs, billing, &mut out)?;
    }
    // DynamoDB builds or drops one index of a table at a time; an index
    // still being built may itself be deleted, which ends its build.
    let busy = out.changes.iter().any(|change| {
        building.iter().any(|b| match change {
            index::Change::Delete(name) => b != name,
            index::Change::Create(_) => true,
        })
    });
    if busy {
        return Err(too_many());
    }
    Ok(out)
}

/// DynamoDB's refusal of a second index build or drop at once.
fn too_many() -> ApiError {
    ApiError::new(
        crate::error::Kind::LimitExceeded,
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
    )
}

/// One member of `GlobalSecondaryIndexUpdates`, its shape checked.
struct Asked<'a> {
    /// `Create`, `Update` or `Delete`.
    action: &'static str,
    /// The index it names.
    name: &'a str,
    member: Req<'a>,
    /// The member path errors name (`globalSecondaryIndexUpdates.1.member`).
    at: String,
}

/// Each member's shape, before any is looked up: an object holding one
/// action, and no two members naming one index.
fn named_updates(updates: &[Json]) -> ApiResult<Vec<Asked<'_>>> {
    let mut named: Vec<&str> = Vec::new();
    let mut asked = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        let Some(u) = u.as_object().map(Req) else {
            return Err(ApiError::new(
                crate::error::Kind::Serialization,
                format!("GlobalSecondaryIndexUpdates[{i}] must be an object"),
            ));
        };
        let at = format!("globalSecondaryIndexUpdates.{}.member", i + 1);
        let actions: Vec<&str> = ["Create", "Update", "Delete"]
            .into_iter()
            .filter(|a| u.get(a).is_some())
            .collect();
        let (action, name) = match actions.as_slice() {
            [one] => (*one, u.obj(one)?.str("IndexName")?),
            [] => {
                return Err(invalid(
                    "One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null".into(),
                ));
            }
            _ => {
                return Err(invalid(
                    "Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object".into(),
                ));
            }
        };
        if named.contains(&name) {
            return Err(invalid(format!(
                "Only one global secondary index update per index is allowed simultaneously. Index: {name}"
            )));
        }
        named.push(name);
        asked.push(Asked {
            action,
            name,
            member: u,
            at,
        });
    }
    Ok(asked)
}

impl Asked<'_> {
    /// This member against `table`'s indexes: a build or drop into
    /// `out.changes`, an `Update`'s units into `out.units`.
    fn parse(
        self,
        table: &meridian_core::TableDef,
        defs: Option<&[Json]>,
        billing: Billing,
        out: &mut IndexUpdates,
    ) -> ApiResult<()> {
        let Asked {
            action,
            name,
            member: u,
            at,
        } = self;
        let existing = table.index(name);
        match (action, existing) {
            ("Create", _) => {
                if existing.is_some() {
                    return Err(ApiError::validation(
                        "Attempting to create an index which already exists",
                    ));
                }
                if table
                    .indexes
                    .iter()
                    .filter(|i| i.kind == Kind::Global)
                    .count()
                    >= index::MAX_GLOBAL
                {
                    return Err(ApiError::new(
                        crate::error::Kind::LimitExceeded,
                        format!(
                            "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of {}",
                            index::MAX_GLOBAL
                        ),
                    ));
                }
                let defs = defs.ok_or_else(|| {
                    invalid(format!(
                        "AttributeDefinitions is not specified for index: {name}"
                    ))
                })?;
                let create = u.obj("Create")?;
                if let Some(most) = index_most(&create, billing)? {
                    out.on_demand.push((name.to_string(), most));
                }
                out.changes.push(index::Change::Create(parse_one(
                    create,
                    Kind::Global,
                    &format!("{at}.create"),
                    defs,
                    billing,
                    true,
                )?));
            }
            (_, None) => {
                return Err(ApiError::new(
                    crate::error::Kind::ResourceNotFound,
                    format!(
                        "Requested resource not found: Index {name} for table {}",
                        table.name
                    ),
                ));
            }
            (_, Some(i)) if i.kind == Kind::Local => {
                return Err(ApiError::validation(format!(
                    "Cannot {} an index that is not a GlobalSecondaryIndex: {name}",
                    action.to_lowercase()
                )));
            }
            ("Delete", Some(_)) => out.changes.push(index::Change::Delete(name.to_string())),
            (_, Some(_)) => {
                let update = u.obj("Update")?;
                let most = index_most(&update, billing)?;
                match crate::settings::throughput(&update, "ProvisionedThroughput")? {
                    Some(tp) => out.units.push((name.to_string(), tp)),
                    None if billing == Billing::PayPerRequest && most.is_some() => {}
                    None if billing == Billing::PayPerRequest => {
                        return Err(invalid(format!(
                            "The only Updates for index: {name} when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"
                        )));
                    }
                    None => {
                        return Err(invalid(format!(
                            "ProvisionedThroughput must be specified for index: {name}"
                        )));
                    }
                }
                if let Some(most) = most {
                    out.on_demand.push((name.to_string(), most));
                }
            }
        }
        Ok(())
    }
}

/// A global index's `OnDemandThroughput` (a `Create`'s, an `Update`'s,
/// or one of CreateTable's `GlobalSecondaryIndexes`), checked as the
/// table's: only on an on-demand table.
pub fn index_most(r: &Req<'_>, billing: Billing) -> ApiResult<Option<OnDemandUpdate>> {
    let most = crate::settings::on_demand_throughput(r)?;
    if most.is_some() && billing != Billing::PayPerRequest {
        return Err(invalid(
            "OnDemandThroughput can be specified only when BillingMode is PAY_PER_REQUEST".into(),
        ));
    }
    Ok(most)
}

/// A table's or global index's `OnDemandThroughput` as DynamoDB describes
/// it: only the members set, nothing when neither is.
pub fn on_demand_described(most: meridian_core::settings::OnDemandMax) -> Option<Json> {
    if most.is_empty() {
        return None;
    }
    let mut o = serde_json::Map::new();
    if let Some(n) = most.read {
        o.insert("MaxReadRequestUnits".into(), json!(n));
    }
    if let Some(n) = most.write {
        o.insert("MaxWriteRequestUnits".into(), json!(n));
    }
    Some(Json::Object(o))
}

fn key_schema_json(i: &IndexDef) -> Vec<Json> {
    i.partition
        .iter()
        .map(|a| json!({"AttributeName": a.name, "KeyType": "HASH"}))
        .chain(
            i.sort
                .iter()
                .map(|a| json!({"AttributeName": a.name, "KeyType": "RANGE"})),
        )
        .collect()
}

/// One index's description; a global one has its own provisioned
/// throughput (`units`, while the table is provisioned), else the
/// table's (0 on demand), and a warm throughput: its own units, as AWS
/// records it, else the table's default (`throughput`).
fn describe_one(
    table_arn: &str,
    s: &IndexState,
    units: Option<(u64, u64)>,
    most: Option<Json>,
    throughput: &(Json, Json),
) -> Json {
    let i = &s.def;
    let mut projection = json!({"ProjectionType": i.projection.type_name()});
    if let Projection::Include(names) = &i.projection {
        let mut names = names.clone();
        names.sort();
        projection["NonKeyAttributes"] = json!(names);
    }
    let mut d = json!({
        "IndexName": i.name,
        "KeySchema": key_schema_json(i),
        "Projection": projection,
        "IndexSizeBytes": s.stats.bytes,
        "ItemCount": s.stats.items,
        "IndexArn": index_arn(table_arn, &i.name),
    });
    if i.kind == Kind::Global {
        d["IndexStatus"] = json!(if s.building { "CREATING" } else { "ACTIVE" });
        if s.building {
            d["Backfilling"] = json!(true);
        }
        d["ProvisionedThroughput"] = throughput.0.clone();
        if let Some((read, write)) = units {
            d["ProvisionedThroughput"] = json!({"ReadCapacityUnits": read, "WriteCapacityUnits": write, "NumberOfDecreasesToday": 0});
        }
        d["WarmThroughput"] = throughput.1.clone();
        if let Some((read, write)) = units {
            d["WarmThroughput"] = json!({"ReadUnitsPerSecond": read, "WriteUnitsPerSecond": write, "Status": "ACTIVE"});
        }
        if let Some(most) = most {
            d["OnDemandThroughput"] = most;
        }
    }
    d
}

/// Adds the table's indexes to its description `d`: the two lists, and
/// their key attributes to `AttributeDefinitions` (sorted by name, as
/// DynamoDB lists them).
pub fn describe(d: &mut Json, table_arn: &str, t: &TableInfo) {
    let throughput = (
        d["ProvisionedThroughput"].clone(),
        crate::warm::described(t.settings.billing, None),
    );
    for kind in [Kind::Global, Kind::Local] {
        let list: Vec<Json> = t
            .indexes
            .iter()
            .filter(|s| s.def.kind == kind)
            .map(|s| {
                let units = t.settings.index_units(&t.def, &s.def.name);
                let most = t.settings.index_on_demand.get(&s.def.name).copied();
                let most = most.and_then(on_demand_described);
                describe_one(table_arn, s, units, most, &throughput)
            })
            .collect();
        if !list.is_empty() {
            d[member(kind)] = Json::Array(list);
        }
    }
    let mut attrs = key_attributes(&t.def.key_schema, &t.def.indexes);
    attrs.sort_by(|a, b| a.name.cmp(&b.name));
    let defs: Vec<Json> = attrs
        .into_iter()
        .map(|a| json!({"AttributeName": a.name, "AttributeType": a.ty.as_str()}))
        .collect();
    d["AttributeDefinitions"] = Json::Array(defs);
}
