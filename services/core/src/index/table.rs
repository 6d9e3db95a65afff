//! An index change checked against the table definition in force: the one
//! index rule that needs the whole definition, kept apart from the index
//! definitions below it, which the definition itself is made of.

use super::{Change, FIELD, IndexDef, Kind, validate};
use crate::error::Error;
use crate::schema::TableDef;

/// The index row `change` writes to `def`, the definition in force, by
/// DynamoDB's rules: a new index's name is free and the table's indexes
/// stay within every limit; a deleted index exists and is global.
pub fn plan(def: &TableDef, change: &Change) -> Result<Option<IndexDef>, Error> {
    match change {
        Change::Create(new) => {
            if new.kind != Kind::Global {
                return Err(Error::invalid(
                    FIELD,
                    "One or more parameter values were invalid: Only global secondary indexes can be created on an existing table",
                ));
            }
            if def.index(&new.name).is_some() {
                return Err(Error::invalid(
                    FIELD,
                    "Attempting to create an index which already exists",
                ));
            }
            let mut all = def.indexes.clone();
            all.push(new.clone());
            validate(&def.key_schema, &all)?;
            Ok(Some(new.clone()))
        }
        Change::Delete(name) => match def.index(name) {
            Some(i) if i.kind == Kind::Global => Ok(None),
            Some(_) => Err(Error::invalid(
                FIELD,
                format!("Cannot delete an index that is not a GlobalSecondaryIndex: {name}"),
            )),
            None => Err(Error::invalid(
                FIELD,
                format!(
                    "Requested resource not found: Index {name} for table {}",
                    def.name
                ),
            )),
        },
    }
}
