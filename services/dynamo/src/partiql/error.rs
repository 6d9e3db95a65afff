//! What goes wrong with a statement before it becomes a request: it does
//! not parse, or it asks for what DynamoDB's PartiQL refuses. The lexer,
//! the parser and the translation all say it this way, and the endpoint
//! answers it as a `ValidationException`.

use crate::error::ApiError;

/// A statement DynamoDB's PartiQL cannot run. Converted into a
/// `ValidationException` with this text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartiqlError {
    /// The statement does not parse: what was found, and where.
    #[error(
        "Statement wasn't well formed, can't be processed: {what} at line {line}, column {column}"
    )]
    Syntax {
        what: String,
        line: usize,
        column: usize,
    },
    /// It parses, but asks for something DynamoDB refuses or this endpoint
    /// does not support (in DynamoDB's words where it has them).
    #[error("{0}")]
    Invalid(String),
}

impl From<PartiqlError> for ApiError {
    fn from(e: PartiqlError) -> Self {
        ApiError::validation(e.to_string())
    }
}
