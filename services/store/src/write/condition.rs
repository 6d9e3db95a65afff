//! What an item write may ask of the item it replaces: a [`Condition`]
//! that must hold, or a [`Change`] worked out from it. Both run inside the
//! write's transaction, against the head the write replaces.

use std::sync::Arc;

use meridian_core::{Item, Version};

/// A condition on the current item (`None`: no live item), evaluated inside
/// the write's transaction. Expression conditions arrive as closures so the
/// store stays independent of the expression language.
pub type Check = Arc<dyn Fn(Option<&Item>) -> bool + Send + Sync>;

/// Computes the new item from the current one (`None`: no live item yet),
/// inside the write's transaction: an atomic read-modify-write. It answers
/// `None` when the update leaves no item, and then nothing is written.
pub type Change =
    Arc<dyn Fn(Option<&Item>) -> Result<Option<Item>, meridian_core::Error> + Send + Sync>;

/// What must hold of the current item for a write to go ahead.
#[derive(Clone)]
pub enum Condition {
    MustNotExist,
    VersionEquals(Version),
    Check(Check),
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::MustNotExist => f.write_str("MustNotExist"),
            Condition::VersionEquals(v) => write!(f, "VersionEquals({v})"),
            Condition::Check(_) => f.write_str("Check(..)"),
        }
    }
}
