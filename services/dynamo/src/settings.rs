//! A table's settings on the wire: `BillingMode` and
//! `ProvisionedThroughput` (or a restore's `BillingModeOverride` and
//! `ProvisionedThroughputOverride`) and `StreamSpecification`, checked as
//! DynamoDB checks them, with its messages. CreateTable, UpdateTable and
//! the two restores read them through these; the rules of what may change
//! are `meridian_core::settings`.

use meridian_core::settings::{Billing, MAX_CAPACITY_UNITS, VIEW_TYPES};
use serde_json::Value as Json;

use crate::error::{ApiError, ApiResult, Kind};
use crate::req::Req;

/// `ProvisionedThroughput` (or RestoreTableFromBackup's
/// `ProvisionedThroughputOverride`, named by `field`), checked as DynamoDB
/// checks it: both units present, at least 1, and within the per-table
/// quota.
pub fn throughput(r: &Req<'_>, field: &str) -> ApiResult<Option<(u64, u64)>> {
    let Some(tp) = r.opt_obj(field)? else {
        return Ok(None);
    };
    let path = crate::req::lower_first(field);
    let unit = |name: &str, member: &str| -> ApiResult<u64> {
        let at = format!("{path}.{member}");
        match tp.get(name) {
            None | Some(Json::Null) => Err(ApiError::constraint(format!(
                "Value null at '{at}' failed to satisfy constraint: Member must not be null"
            ))),
            Some(v) => match v.as_i64() {
                Some(n) if n < 1 => Err(ApiError::constraint(format!(
                    "Value '{n}' at '{at}' failed to satisfy constraint: Member must have value greater than or equal to 1"
                ))),
                Some(n) if n as u64 > MAX_CAPACITY_UNITS => Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: {name} {n} is above the per-table limit of {MAX_CAPACITY_UNITS}"
                ))),
                Some(n) => Ok(n as u64),
                None => Err(ApiError::new(
                    Kind::Serialization,
                    format!("{name} must be a whole number, got {v}"),
                )),
            },
        }
    };
    Ok(Some((
        unit("ReadCapacityUnits", "readCapacityUnits")?,
        unit("WriteCapacityUnits", "writeCapacityUnits")?,
    )))
}

/// `BillingMode` (or `BillingModeOverride`, named by `field`), if given.
pub fn billing_mode(r: &Req<'_>, field: &str) -> ApiResult<Option<&'static str>> {
    match r.opt_str(field)? {
        None => Ok(None),
        Some("PAY_PER_REQUEST") => Ok(Some("PAY_PER_REQUEST")),
        Some("PROVISIONED") => Ok(Some("PROVISIONED")),
        Some(mode) => Err(ApiError::constraint(format!(
            "Value '{mode}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]",
            crate::req::lower_first(field)
        ))),
    }
}

/// The billing a new table asks for by `mode_field` and `throughput_field`
/// (CreateTable's, or a restore's overrides), by DynamoDB's rules: `None`
/// when it names neither; provisioned needs both units, on-demand takes
/// none.
pub fn billing(
    r: &Req<'_>,
    mode_field: &str,
    throughput_field: &str,
) -> ApiResult<Option<Billing>> {
    let units = throughput(r, throughput_field)?;
    match (billing_mode(r, mode_field)?, units) {
        (None, None) => Ok(None),
        (Some("PAY_PER_REQUEST"), None) => Ok(Some(Billing::PayPerRequest)),
        (Some("PAY_PER_REQUEST"), Some(_)) => Err(ApiError::validation(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        )),
        (_, None) => Err(provisioned_needs_units()),
        (_, Some((read, write))) => Ok(Some(Billing::Provisioned { read, write })),
    }
}

/// `OnDemandThroughput` (CreateTable's, UpdateTable's): each direction's
/// most request units a second, `-1` to remove one (the API reference's
/// *OnDemandThroughput*), `None` when not given. At least one of the two,
/// as that page requires ("you must specify MaxReadRequestUnits,
/// MaxWriteRequestUnits, or both"; the wording of the refusals is
/// Meridian's, naming the member).
pub fn on_demand_throughput(r: &Req<'_>) -> ApiResult<Option<(Option<i64>, Option<i64>)>> {
    let Some(o) = r.opt_obj("OnDemandThroughput")? else {
        return Ok(None);
    };
    let most = |name: &str| -> ApiResult<Option<i64>> {
        let at = format!("onDemandThroughput.{}", crate::req::lower_first(name));
        match o.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if n == -1 || n >= 1 => Ok(Some(n)),
                Some(n) => Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: {name} {n} at '{at}': a most of 1 or more request units, or -1 to remove it"
                ))),
                None => Err(ApiError::new(
                    Kind::Serialization,
                    format!("{name} must be a whole number, got {v}"),
                )),
            },
        }
    };
    let (read, write) = (most("MaxReadRequestUnits")?, most("MaxWriteRequestUnits")?);
    if read.is_none() && write.is_none() {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: OnDemandThroughput needs MaxReadRequestUnits, MaxWriteRequestUnits, or both",
        ));
    }
    Ok(Some((read, write)))
}

/// DynamoDB's refusal of provisioned billing without both units.
pub fn provisioned_needs_units() -> ApiError {
    ApiError::validation(
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
    )
}

/// `StreamSpecification`: `Some(Some(view))` to enable a stream,
/// `Some(None)` to have none. `creating` picks DynamoDB's wording, which
/// differs between CreateTable and UpdateTable.
pub fn stream_spec(r: &Req<'_>, creating: bool) -> ApiResult<Option<Option<String>>> {
    let Some(spec) = r.opt_obj("StreamSpecification")? else {
        return Ok(None);
    };
    let enabled = spec.opt_bool("StreamEnabled")?.ok_or_else(|| {
        ApiError::constraint(
            "Value null at 'streamSpecification.streamEnabled' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let view = spec.opt_str("StreamViewType")?;
    if let Some(v) = view
        && !VIEW_TYPES.contains(&v)
    {
        return Err(ApiError::constraint(format!(
            "Value '{v}' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            VIEW_TYPES.join(", ")
        )));
    }
    let invalid = |m: &str| {
        Err(ApiError::validation(format!(
            "One or more parameter values were invalid: {m}"
        )))
    };
    match (enabled, view, creating) {
        (true, Some(v), _) => Ok(Some(Some(v.to_string()))),
        (false, None, _) => Ok(Some(None)),
        (true, None, true) => {
            invalid("Table is being created with a stream enabled, UpdateViewType is required")
        }
        (true, None, false) => {
            invalid("If stream is being enabled then UpdateViewType is required")
        }
        (false, Some(_), true) => invalid(
            "Table is being created with a stream disabled, UpdateViewType should not be specified",
        ),
        (false, Some(_), false) => {
            invalid("If stream is being disabled, then UpdateViewType must not be specified")
        }
    }
}
