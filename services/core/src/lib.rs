//! Meridian's core: the pure rules every replica shares.
//!
//! Nothing here does I/O. Versions and the hybrid logical clock, typed items
//! and their canonical encoding, order-preserving keys, the LWW merge, the
//! conflict rule and the anti-entropy digest's shape and hashes all live
//! here so that one rule lives in one place.

pub mod account;
pub mod autoscaling;
pub mod consistency;
pub mod context;
pub mod digest;
pub mod epoch;
pub mod error;
pub mod expr;
#[cfg(any(test, feature = "golden"))]
pub mod golden;
pub mod hlc;
pub mod index;
pub mod key;
pub mod lag;
pub mod merge;
pub mod mutation;
pub mod number;
pub mod policy;
pub mod protection;
pub mod purge;
pub mod replicas;
pub mod schema;
pub mod secret;
pub mod settings;
pub mod sigv4;
pub mod strong;
pub mod throughput;
pub mod units;
pub mod utc;
pub mod value;
pub mod version;

pub use context::Context;
pub use error::Error;
pub use hlc::{Hlc, HlcError, PhysicalClock, SkewedClock, SystemClock, Timestamp};
pub use key::{EncodedKey, KeyAttr, KeySchema, KeyType};
pub use merge::{Conflict, Head, Resolution, WinReason, concurrent, merge, resolve};
pub use mutation::Mutation;
pub use number::Number;
pub use schema::{CATALOG_TABLE, TableDef};
pub use value::{AttrValue, Item, decode_item, encode_item, item_from_json, item_to_json};
pub use version::Version;
