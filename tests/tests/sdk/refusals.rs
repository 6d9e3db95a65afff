//! A request's outcome with its operation's types erased: what it answered,
//! or the one thing these tests read from a refusal (its error code and
//! message). Requests of different operations then fit in one table of
//! rows, each with the message DynamoDB answers it with.

use std::fmt::Debug;
use std::future::Future;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use futures::FutureExt;
use futures::future::LocalBoxFuture;

/// How a request ended, whatever its operation: what it answered, or how it
/// was refused.
pub type Outcome = Result<Answered, Refused>;

/// A success, kept only to be shown when a refusal was expected.
#[derive(Debug)]
pub struct Answered(pub String);

/// A refusal: the service error's code and message, and the whole error
/// for the failure text.
pub struct Refused {
    pub code: Option<String>,
    pub message: String,
    pub debug: String,
}

/// The [`Outcome`] of a request's result.
pub fn outcome<T: Debug, E: ProvideErrorMetadata + Debug, R: Debug>(
    r: Result<T, SdkError<E, R>>,
) -> Outcome {
    match r {
        Ok(v) => Ok(Answered(format!("{v:?}"))),
        Err(e) => Err(Refused {
            code: e.code().map(str::to_string),
            message: e.message().unwrap_or_default().to_string(),
            debug: format!("{e:?}"),
        }),
    }
}

/// A request (with any set-up it needs) to run as one row of a table: sent
/// when the row's case runs, its result reduced to an [`Outcome`].
pub fn ask<'a, T, E, R>(
    request: impl Future<Output = Result<T, SdkError<E, R>>> + 'a,
) -> LocalBoxFuture<'a, Outcome>
where
    T: Debug + 'a,
    E: ProvideErrorMetadata + Debug + 'a,
    R: Debug + 'a,
{
    request.map(outcome).boxed_local()
}

/// Asserts an outcome is a refusal with the service error `code`; returns
/// its message.
#[track_caller]
pub fn expect_refused(o: Outcome, code: &str, what: &str) -> String {
    match o {
        Ok(Answered(v)) => panic!("{what}: expected {code}, got success {v}"),
        Err(e) => {
            assert_eq!(e.code.as_deref(), Some(code), "{what}: {}", e.debug);
            e.message
        }
    }
}

/// What a refusal's message must say.
#[derive(Clone, Copy)]
pub enum Says<'a> {
    /// Exactly this.
    Is(&'a str),
    /// This, somewhere in it.
    Has(&'a str),
    /// This, at its start.
    Starts(&'a str),
}

impl Says<'_> {
    #[track_caller]
    pub fn check(self, msg: &str, what: &str) {
        match self {
            Says::Is(want) => assert_eq!(msg, want, "{what}"),
            Says::Has(want) => assert!(
                msg.contains(want),
                "{what}: message {msg:?} should contain {want:?}"
            ),
            Says::Starts(want) => assert!(
                msg.starts_with(want),
                "{what}: {msg:?} should start with {want:?}"
            ),
        }
    }
}

/// One refused request of a table: the case's name, the request, and what
/// the refusal's message says.
pub type Refusal<'a> = (&'a str, LocalBoxFuture<'a, Outcome>, Says<'a>);
