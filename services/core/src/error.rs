//! Validation and decoding errors. Every message names the field and, where
//! one applies, the limit, so a user can fix the request without guessing.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("{field}: invalid number {value:?}: {reason}")]
    InvalidNumber {
        field: String,
        value: String,
        reason: String,
    },
    /// `kind` is DynamoDB's name for the set type: `string`, `number`, `binary`.
    #[error("{field}: a set must have at least one member")]
    EmptySet { field: String, kind: &'static str },
    /// `members` as sent, joined by ", "; `kind` as for [`Error::EmptySet`].
    #[error("{field}: the {kind} set [{members}] contains duplicates")]
    DuplicateSetMember {
        field: String,
        kind: &'static str,
        members: String,
    },
    /// `size` is exact when a whole item was measured, and what was
    /// counted so far when a decoder stopped early.
    #[error("item size exceeds the limit of {limit} bytes (at least {size} bytes)")]
    ItemTooLarge { size: usize, limit: usize },
    #[error("{field}: key attribute is {size} bytes, the limit is {limit} bytes")]
    KeyTooLarge {
        field: String,
        size: usize,
        limit: usize,
    },
    #[error("missing key attribute {field}")]
    MissingKey { field: String },
    #[error("{field}: key attribute must be of type {expected}, got {found}")]
    KeyType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{field}: a key attribute cannot be an empty {kind}")]
    EmptyKey { field: String, kind: &'static str },
    #[error("{field}: unexpected attribute: the key of this table is {schema}")]
    UnexpectedKeyAttribute { field: String, schema: String },
    #[error("{field}: nesting depth exceeds the limit of {limit}")]
    NestingTooDeep { field: String, limit: usize },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The JSON has the wrong shape for what it encodes (a number where a
    /// string belongs, base64 that does not decode): a request that cannot
    /// be deserialized, not one that fails validation. `reason` is
    /// DynamoDB's own text.
    #[error("{field}: {reason}")]
    Malformed { field: String, reason: String },
    /// An attribute name that is empty or longer than 65535 bytes.
    #[error("{reason}")]
    AttributeName { reason: String },
    /// An item whose value for a secondary index's key attribute could
    /// never be in the index; `reason` is DynamoDB's complete message.
    /// `op` is the position of the write in a request of several, `empty`
    /// tells an empty value from one of the wrong type (DynamoDB answers a
    /// transaction's differently).
    #[error("{reason}")]
    IndexKey {
        op: Option<usize>,
        reason: String,
        empty: bool,
    },
    /// A write that would take the item collection of a table with local
    /// secondary indexes (the items of one partition key) past its limit.
    #[error("item collection of {size} bytes would pass the limit of {limit} bytes")]
    ItemCollectionTooLarge { size: u64, limit: u64 },
    #[error("corrupt encoding: {0}")]
    Decode(String),
    /// An expression failed while being applied; the message is complete.
    #[error("{0}")]
    Expression(String),
}

impl Error {
    pub fn malformed(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
