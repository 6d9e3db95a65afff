//! Errors in the shape the AWS SDKs parse: HTTP 400 with a JSON body holding
//! `__type` (`com.amazonaws.dynamodb.v20120810#<Name>`) and `message`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_core::{Item, item_to_json};
use meridian_region::ops::OpError;
use meridian_store::ConditionFailure;
use serde_json::{Value as Json, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Validation,
    ResourceNotFound,
    /// The backup operations' name for a missing table.
    TableNotFound,
    /// RestoreTableFromBackup's name for a target table that exists.
    TableAlreadyExists,
    BackupNotFound,
    BackupInUse,
    PointInTimeRecoveryUnavailable,
    InvalidRestoreTime,
    /// DynamoDB Streams: an iterator older than 15 minutes.
    ExpiredIterator,
    /// DynamoDB Streams: records past the retention were asked for.
    TrimmedDataAccess,
    ResourceInUse,
    /// Too many index builds or similar per-account limits.
    LimitExceeded,
    /// A local secondary index's item collection passed 10 GB.
    ItemCollectionSizeLimitExceeded,
    ConditionalCheckFailed,
    /// A PartiQL `INSERT` of a key that exists.
    DuplicateItem,
    TransactionCanceled,
    IdempotentParameterMismatch,
    TransactionInProgress,
    Serialization,
    UnknownOperation,
    MissingAuthenticationToken,
    InvalidSignature,
    UnrecognizedClient,
    /// A resource that is no ARN IAM can read (TagResource and friends).
    AccessDenied,
    /// The endpoint is shedding load: SDKs back off and retry it.
    Throttling,
    /// A table's or index's throughput is spent (`crate::throttle`).
    ProvisionedThroughputExceeded,
    /// An on-demand table or index past the account's per-table quota
    /// (`crate::throttle`).
    RequestLimitExceeded,
    InternalServerError,
    /// A write to a STRONG table raced one from another region
    /// (docs/strong.md); retry-safe.
    ReplicatedWriteConflict,
    /// The global tables API of version 2017.11.29 (`crate::global_legacy`).
    GlobalTableNotFound,
    /// Resource-based policies (`crate::policies`): none attached, or not
    /// the revision the request expects.
    PolicyNotFound,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Validation => "ValidationException",
            Kind::ResourceNotFound => "ResourceNotFoundException",
            Kind::TableNotFound => "TableNotFoundException",
            Kind::TableAlreadyExists => "TableAlreadyExistsException",
            Kind::BackupNotFound => "BackupNotFoundException",
            Kind::BackupInUse => "BackupInUseException",
            Kind::PointInTimeRecoveryUnavailable => "PointInTimeRecoveryUnavailableException",
            Kind::InvalidRestoreTime => "InvalidRestoreTimeException",
            Kind::ExpiredIterator => "ExpiredIteratorException",
            Kind::TrimmedDataAccess => "TrimmedDataAccessException",
            Kind::ResourceInUse => "ResourceInUseException",
            Kind::LimitExceeded => "LimitExceededException",
            Kind::ItemCollectionSizeLimitExceeded => "ItemCollectionSizeLimitExceededException",
            Kind::ConditionalCheckFailed => "ConditionalCheckFailedException",
            Kind::DuplicateItem => "DuplicateItemException",
            Kind::TransactionCanceled => "TransactionCanceledException",
            Kind::IdempotentParameterMismatch => "IdempotentParameterMismatchException",
            Kind::TransactionInProgress => "TransactionInProgressException",
            Kind::Serialization => "SerializationException",
            Kind::UnknownOperation => "UnknownOperationException",
            Kind::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Kind::InvalidSignature => "InvalidSignatureException",
            Kind::UnrecognizedClient => "UnrecognizedClientException",
            Kind::AccessDenied => "AccessDeniedException",
            Kind::Throttling => "ThrottlingException",
            Kind::ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException",
            Kind::RequestLimitExceeded => "RequestLimitExceeded",
            Kind::InternalServerError => "InternalServerError",
            Kind::ReplicatedWriteConflict => "ReplicatedWriteConflictException",
            Kind::GlobalTableNotFound => "GlobalTableNotFoundException",
            Kind::PolicyNotFound => "PolicyNotFoundException",
        }
    }
}

/// An error answer. `extra` holds type-specific members such as
/// `CancellationReasons` or the `Item` of a failed condition.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: Kind,
    pub message: String,
    pub extra: serde_json::Map<String, Json>,
    /// Write units a refused write consumed all the same: a failed
    /// conditional write's (`crate::items`), charged to the table's
    /// provisioned units (`crate::throttle`) and never sent.
    pub consumed: Option<f64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            extra: Default::default(),
            consumed: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Kind::Validation, message)
    }

    /// One constraint violation found while reading the request, as
    /// DynamoDB reports it: `1 validation error detected: <what>`.
    pub fn constraint(what: impl Into<String>) -> Self {
        Self::validation(detected(&[what.into()]))
    }

    /// Every constraint violation found while reading the request, in
    /// DynamoDB's one summary (`N validation errors detected: a; b`), or
    /// nothing when there are none.
    pub fn constraints(errors: Vec<String>) -> ApiResult<()> {
        match errors.is_empty() {
            true => Ok(()),
            false => Err(Self::validation(detected(&errors))),
        }
    }

    /// A validation error reported as a constraint violation: DynamoDB's
    /// write operations (PutItem, UpdateItem, DeleteItem) and Query's
    /// `Select` checks word the errors of the request they read so. Errors
    /// of another kind, and those already worded so, are kept as they are.
    pub fn detected(self) -> Self {
        match self.kind == Kind::Validation && !is_detected(&self.message) {
            true => Self {
                message: detected(&[self.message]),
                ..self
            },
            false => self,
        }
    }

    pub fn not_found() -> Self {
        Self::new(Kind::ResourceNotFound, "Requested resource not found")
    }

    pub fn condition_failed(current: Option<&Item>, return_old: bool) -> Self {
        let mut e = Self::new(
            Kind::ConditionalCheckFailed,
            "The conditional request failed",
        );
        if return_old && let Some(item) = current {
            e.extra
                .insert("Item".into(), Json::Object(item_to_json(item)));
        }
        e
    }
}

/// DynamoDB's summary of constraint violations: their count, then each.
fn detected(errors: &[String]) -> String {
    let n = errors.len();
    format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        errors.join("; ")
    )
}

/// Whether `message` already is such a summary.
fn is_detected(message: &str) -> bool {
    message.split_once(' ').is_some_and(|(n, rest)| {
        n.parse::<usize>().is_ok()
            && (rest.starts_with("validation error detected: ")
                || rest.starts_with("validation errors detected: "))
    })
}

/// The DynamoDB error type of an answer, left in its extensions for the
/// request metrics (`crate::metered`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorType(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.kind {
            Kind::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::MissingAuthenticationToken
            | Kind::InvalidSignature
            | Kind::UnrecognizedClient => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut body = serde_json::Map::new();
        body.insert(
            "__type".into(),
            json!(format!(
                "com.amazonaws.dynamodb.v20120810#{}",
                self.kind.name()
            )),
        );
        // DynamoDB answers a body that is not JSON with a bare
        // SerializationException, no message member at all.
        if !self.message.is_empty() {
            body.insert("message".into(), json!(self.message));
        }
        body.extend(self.extra);
        (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/x-amz-json-1.0",
            )],
            axum::Extension(ErrorType(self.kind.name())),
            Json::Object(body).to_string(),
        )
            .into_response()
    }
}

/// Core validation errors in DynamoDB's words, keeping the field and limit.
impl From<meridian_core::Error> for ApiError {
    fn from(e: meridian_core::Error) -> Self {
        use meridian_core::Error as E;
        let invalid = |m: String| {
            ApiError::validation(format!("One or more parameter values were invalid: {m}"))
        };
        match &e {
            E::Expression(m) => ApiError::validation(m.clone()),
            E::IndexKey { reason, .. } => ApiError::validation(reason.clone()),
            E::ItemCollectionTooLarge { .. } => ApiError::new(
                Kind::ItemCollectionSizeLimitExceeded,
                "Collection size exceeded.",
            ),
            // Tag rules carry DynamoDB's own message.
            E::Invalid { field, reason }
                if field == "Tags"
                    || field == meridian_core::settings::FIELD
                    || field == meridian_core::index::FIELD
                    || field == meridian_core::protection::FIELD
                    || field == meridian_core::autoscaling::FIELD =>
            {
                ApiError::validation(reason.clone())
            }
            E::MissingKey { field } => invalid(format!("Missing the key {field} in the item")),
            E::KeyType {
                field,
                expected,
                found,
            } => invalid(format!(
                "Type mismatch for key {field} expected: {expected} actual: {found}"
            )),
            E::EmptyKey { field, .. } => ApiError::validation(format!(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {field}"
            )),
            E::ItemTooLarge { size, limit } => ApiError::validation(format!(
                "Item size has exceeded the maximum allowed size: at least {size} bytes, the limit is {limit} bytes"
            )),
            // DynamoDB's texts exactly, the hash key's with no space
            // before its limit: clients match them.
            E::KeyTooLarge { limit, .. }
                if *limit == meridian_core::key::MAX_PARTITION_KEY_BYTES =>
            {
                invalid(format!(
                    "Size of hashkey has exceeded the maximum size limit of{limit} bytes"
                ))
            }
            E::KeyTooLarge { limit, .. } => invalid(format!(
                "Aggregated size of all range keys has exceeded the size limit of {limit} bytes"
            )),
            E::Malformed { reason, .. } => ApiError::new(Kind::Serialization, reason.clone()),
            E::AttributeName { reason } => invalid(reason.clone()),
            E::EmptySet { kind: "binary", .. } => invalid("Binary sets should not be empty".into()),
            // DynamoDB's text, its two spaces included.
            E::EmptySet { kind, .. } => invalid(format!("An {kind} set  may not be empty")),
            // DynamoDB's texts: the collection as sent; binary sets also
            // name their type, with no space before it.
            E::DuplicateSetMember {
                kind: "binary",
                members,
                ..
            } => invalid(format!(
                "Input collection [{members}]of type BS contains duplicates."
            )),
            E::DuplicateSetMember { members, .. } => {
                invalid(format!("Input collection [{members}] contains duplicates."))
            }
            E::NestingTooDeep { field, limit } => ApiError::validation(format!(
                "Nesting Levels have exceeded supported limits: {field} is nested deeper than {limit} levels"
            )),
            // Number errors are DynamoDB's texts alone: they name no
            // attribute (ExpressionAttributeValues adds the key).
            E::InvalidNumber { reason, .. } if reason.contains("significant digits") => {
                ApiError::validation(
                    "Attempting to store more than 38 significant digits in a Number",
                )
            }
            E::InvalidNumber { reason, .. } if reason.contains("above the largest") => {
                ApiError::validation(
                    "Number overflow. Attempting to store a number with magnitude larger than supported range",
                )
            }
            E::InvalidNumber { reason, .. } if reason.contains("below the smallest") => {
                ApiError::validation(
                    "Number underflow. Attempting to store a number with magnitude smaller than supported range",
                )
            }
            E::InvalidNumber { value, .. } if value.is_empty() => {
                ApiError::validation("The parameter cannot be converted to a numeric value")
            }
            E::InvalidNumber { value, .. } => ApiError::validation(format!(
                "The parameter cannot be converted to a numeric value: {value}"
            )),
            _ => invalid(e.to_string()),
        }
    }
}

impl From<meridian_core::expr::ExprError> for ApiError {
    fn from(e: meridian_core::expr::ExprError) -> Self {
        ApiError::validation(e.message())
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::TableNotFound(_) => ApiError::not_found(),
            OpError::TableExists(name) => {
                ApiError::new(Kind::ResourceInUse, format!("Table already exists: {name}"))
            }
            OpError::Invalid(e) => e.into(),
            OpError::PolicyChanged(table) => ApiError::new(
                Kind::ResourceInUse,
                format!(
                    "Attempt to change a resource which is still in use: the resource-based policy of table {table} is being changed by another request"
                ),
            ),
            OpError::PitrDisabled(table) => ApiError::new(
                Kind::PointInTimeRecoveryUnavailable,
                format!("Point in time recovery is not enabled for table '{table}'"),
            ),
            OpError::RestoreTime {
                asked,
                earliest,
                latest,
            } => {
                let s = |micros: u64| micros as f64 / 1e6;
                ApiError::new(
                    Kind::InvalidRestoreTime,
                    format!(
                        "RestoreDateTime {} is outside the restorable window: the earliest restorable time is {} and the latest {} (seconds since the epoch)",
                        s(asked),
                        s(earliest),
                        s(latest)
                    ),
                )
            }
            OpError::ConditionFailed(f) => ApiError::condition_failed(f.current.as_ref(), false),
            OpError::TransactionCanceled { reasons } => {
                cancelled(&condition_reasons(&reasons, &[]))
            }
            OpError::NotReplica {
                table,
                region,
                replicas,
            } => ApiError::new(
                // DynamoDB's answer where a table has no replica: the
                // table does not exist in that region.
                Kind::ResourceNotFound,
                format!(
                    "Requested resource not found: Table: {table} has no replica in region {region}; its replicas are {}",
                    replicas.join(", ")
                ),
            ),
            OpError::Internal(e) => {
                tracing::error!(error = %e, "store error behind the DynamoDB front");
                ApiError::new(Kind::InternalServerError, e.to_string())
            }
            OpError::Strong(e) => {
                use meridian_region::strong::StrongError;
                let kind = match &e {
                    StrongError::Conflict => Kind::ReplicatedWriteConflict,
                    StrongError::Busy(_) => Kind::Throttling,
                    StrongError::NotMember(_) => return ApiError::not_found(),
                    StrongError::Unavailable { .. } | StrongError::Stale(_) => {
                        Kind::InternalServerError
                    }
                };
                ApiError::new(kind, e.to_string())
            }
        }
    }
}

/// Why one action of a cancelled transaction did not run: one member of
/// `CancellationReasons`, as DynamoDB words it.
#[derive(Debug, Clone, Copy)]
pub enum CancelReason<'a> {
    /// Nothing was wrong with the action; another cancelled the transaction.
    None,
    /// Its condition failed. `item` is the item as it stands, given when
    /// the action's `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`.
    ConditionalCheckFailed { item: Option<&'a Item> },
    /// Its own data is invalid, with DynamoDB's message.
    ValidationError(&'a str),
    /// A spent bucket holds it (`crate::throttle`): the code and message
    /// DynamoDB gives.
    Throttled(&'static str, &'static str),
}

impl CancelReason<'_> {
    fn code(&self) -> &'static str {
        match self {
            CancelReason::None => "None",
            CancelReason::ConditionalCheckFailed { .. } => "ConditionalCheckFailed",
            CancelReason::ValidationError(_) => "ValidationError",
            CancelReason::Throttled(code, _) => code,
        }
    }

    fn to_json(self) -> Json {
        let mut o = serde_json::Map::new();
        o.insert("Code".into(), json!(self.code()));
        match self {
            CancelReason::None => {}
            CancelReason::ConditionalCheckFailed { item } => {
                o.insert("Message".into(), json!("The conditional request failed"));
                if let Some(item) = item {
                    o.insert("Item".into(), Json::Object(item_to_json(item)));
                }
            }
            CancelReason::ValidationError(m) | CancelReason::Throttled(_, m) => {
                o.insert("Message".into(), json!(m));
            }
        }
        Json::Object(o)
    }
}

/// The reasons of a transaction the store cancelled: a failed condition
/// where `failures` holds one, `None` elsewhere. `return_old` says, per
/// action, whether its `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`.
pub fn condition_reasons<'a>(
    failures: &'a [Option<ConditionFailure>],
    return_old: &[bool],
) -> Vec<CancelReason<'a>> {
    failures
        .iter()
        .enumerate()
        .map(|(i, f)| match f {
            None => CancelReason::None,
            Some(f) => CancelReason::ConditionalCheckFailed {
                item: f
                    .current
                    .as_ref()
                    .filter(|_| return_old.get(i).copied().unwrap_or(false)),
            },
        })
        .collect()
}

/// A `TransactionCanceledException` with one reason per action.
pub fn cancelled(reasons: &[CancelReason<'_>]) -> ApiError {
    let codes: Vec<&str> = reasons.iter().map(CancelReason::code).collect();
    let mut err = ApiError::new(Kind::TransactionCanceled, cancelled_message(&codes));
    let list: Vec<Json> = reasons.iter().map(|r| r.to_json()).collect();
    err.extra
        .insert("CancellationReasons".into(), Json::Array(list));
    err
}

/// DynamoDB's message for a cancelled transaction, listing its reasons'
/// codes.
pub fn cancelled_message(codes: &[&str]) -> String {
    format!(
        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
        codes.join(", ")
    )
}
