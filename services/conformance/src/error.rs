//! What can go wrong outside a check's own verdict ([`ConfError`]). A
//! leaf: the cluster file, the fault API, the context and the checks all
//! return it, apart from `lib.rs`, which runs them.

/// What can go wrong outside a check's own verdict.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("arguments: {0}")]
    Arg(String),
    #[error("cluster file: {0}")]
    Cluster(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("fault API: {0}")]
    Fault(String),
    #[error("{0}")]
    Dynamo(String),
    #[error("building a request: {0}")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
