//! A table's settings as its definition gives them: those it was created
//! with, and those in force once its settings row is read. The one part of
//! the settings that needs the whole definition, kept apart from the
//! settings types below it, which the definition itself holds.

use super::{Stream, TableSettings};
use crate::error::Error;
use crate::schema::TableDef;
use crate::value::Item;
use crate::version::Version;

impl TableSettings {
    /// The settings a table was created with, before any UpdateTable.
    pub fn initial(def: &TableDef, incarnation: &Version) -> Self {
        let created = incarnation.hlc.physical;
        TableSettings {
            billing: def.billing,
            billing_since: created,
            last_increase: None,
            last_decrease: None,
            stream: def.stream_view_type.as_ref().map(|v| Stream {
                view_type: v.clone(),
                since: created,
            }),
        }
    }

    /// The settings in force: the settings row when it belongs to this
    /// incarnation of the table (a recreated table starts afresh), else
    /// the definition's.
    pub fn current(
        def: &TableDef,
        incarnation: &Version,
        row: Option<&Item>,
    ) -> Result<Self, Error> {
        if let Some(row) = row {
            let (settings, of) = Self::from_item(row)?;
            if of == *incarnation {
                return Ok(settings);
            }
        }
        Ok(Self::initial(def, incarnation))
    }
}
