//! [`Plan`]: one op of a request resolved against the current state (its
//! row, the head it replaces, the failed condition if any, what it would
//! write), before anything is written. Both kinds of op plan into it, so
//! the request's checks and its writing are the same for both.

use meridian_core::{EncodedKey, Item, Version, decode_item};

use super::condition::Condition;
use crate::error::{ConditionFailure, StoreError};
use crate::heads::HeadRow;

/// One local op, resolved against the current state, not yet written.
pub(crate) struct Plan {
    pub(crate) table: String,
    pub(crate) key: EncodedKey,
    pub(crate) table_version: Option<Version>,
    pub(crate) head: Option<HeadRow>,
    /// The live item now, decoded.
    pub(crate) current: Option<Item>,
    pub(crate) failure: Option<ConditionFailure>,
    /// `Some(image)` to write (`Some(None)` a tombstone); `None` writes nothing.
    pub(crate) write: Option<Option<Item>>,
    pub(crate) ttl: bool,
    /// A table whose items go with this catalog write.
    pub(crate) purge: Option<String>,
}

impl Plan {
    pub(crate) fn new(
        table: &str,
        key: EncodedKey,
        table_version: Option<Version>,
        head: Option<HeadRow>,
    ) -> Result<Self, StoreError> {
        let current = match head.as_ref().and_then(|h| h.image.as_deref()) {
            Some(bytes) => {
                Some(decode_item(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
            None => None,
        };
        Ok(Plan {
            table: table.to_string(),
            key,
            table_version,
            head,
            current,
            failure: None,
            write: None,
            ttl: false,
            purge: None,
        })
    }

    /// The row this op touches, for the one-touch-per-key rule.
    pub(crate) fn target(&self) -> (&str, &EncodedKey) {
        (self.table.as_str(), &self.key)
    }

    pub(crate) fn check(&mut self, condition: Option<&Condition>) {
        let version = self.head.as_ref().map(|h| &h.version);
        let message = match condition {
            None => None,
            Some(Condition::MustNotExist) => self.current.is_some().then(|| {
                format!(
                    "the item exists, at version {}",
                    version.map(ToString::to_string).unwrap_or_default()
                )
            }),
            Some(Condition::VersionEquals(want)) => match version {
                Some(h) if h == want => None,
                Some(h) => Some(format!(
                    "expected version {want}, the current version is {h}"
                )),
                None => Some(format!("expected version {want}, the item does not exist")),
            },
            Some(Condition::Check(f)) => {
                (!f(self.current.as_ref())).then(|| "The conditional request failed".to_string())
            }
        };
        self.failure = message.map(|message| ConditionFailure {
            message,
            current: self.current.clone(),
        });
    }
}
