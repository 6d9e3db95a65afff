//! What a region holds, read from its store file (read-only, so the region
//! may still be running), in the convergence checker's terms. Drills, live
//! and simulated, and the end-to-end tests judge a cluster from this one
//! reading.

use std::path::Path;

use meridian_scenario::{Head, Heads};
use meridian_store::StoreError;

/// Every head of `table`, tombstones included, in the store under
/// `data_dir`.
pub fn heads(data_dir: &Path, table: &str) -> Result<Heads, StoreError> {
    let rows = meridian_store::open_reader(data_dir)?.heads(table)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                (table.to_string(), row.key),
                Head {
                    version: row.version,
                    image: row.image,
                },
            )
        })
        .collect())
}
