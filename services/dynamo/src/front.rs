//! The endpoint's shared state ([`Front`]) and its configuration: what
//! every handler holds, with the transaction tokens it remembers for
//! idempotency. A leaf below `lib.rs`, which routes requests to the
//! handlers, so the handlers (`txn`, `partiql`, ...) reach it without a
//! loop through the router.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meridian_region::ops::{RegionHandle, View};
use serde_json::Value as Json;

use crate::error::{ApiError, Kind};

/// Most requests the endpoint works on at once; past it, it sheds load.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Longest a request may take, from its headers to its answer: a stalled
/// client or a stuck operation does not hold its slot for ever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct FrontConfig {
    /// Access key id → secret. When not empty, every request must carry a
    /// valid SigV4 signature made with one of these keys.
    pub keys: HashMap<String, String>,
    /// Requests worked on at once ([`MAX_IN_FLIGHT`]); one more is
    /// answered `ThrottlingException` at once, which every SDK backs off
    /// from and retries.
    pub max_in_flight: usize,
    /// How long a DynamoDB Streams shard iterator stays good: 15 minutes,
    /// as in DynamoDB; shorter in tests of `ExpiredIteratorException`.
    pub iterator_lifetime: Duration,
}

impl Default for FrontConfig {
    fn default() -> Self {
        FrontConfig {
            keys: HashMap::new(),
            max_in_flight: MAX_IN_FLIGHT,
            iterator_lifetime: crate::shard_iterator::ITERATOR_LIFETIME,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct Front {
    pub(crate) ops: RegionHandle,
    pub(crate) config: FrontConfig,
    /// `ClientRequestToken`s of recent transactions, for idempotency.
    pub(crate) tokens: Arc<Mutex<HashMap<String, Token>>>,
    /// The requests being worked on, and for how long each may take.
    pub(crate) budget: meridian_region::limits::Budget,
    /// Which account each replica here belongs to (`crate::accounts`).
    pub(crate) owners: Arc<crate::accounts::Owners>,
}

/// A transaction token: when it was first used, the request it came with,
/// and the answer once there is one (`None` while the first is running).
pub(crate) struct Token {
    at: Instant,
    fingerprint: String,
    answer: Option<Json>,
}

/// Most tokens remembered at once, so memory stays bounded.
const MAX_TOKENS: usize = 100_000;

/// A request's identity for token idempotency: a SHA-256 of its JSON.
pub(crate) fn fingerprint(request: &serde_json::Map<String, Json>) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(Json::Object(request.clone()).to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long a `ClientRequestToken` is remembered, as in DynamoDB.
const TOKEN_TTL: Duration = Duration::from_secs(600);

impl Front {
    pub fn new(ops: RegionHandle, config: FrontConfig) -> Self {
        let ops = ops.with_view(View::Replicas);
        Front {
            budget: ops.budget("dynamodb", config.max_in_flight, REQUEST_TIMEOUT),
            ops,
            config,
            tokens: Arc::default(),
            owners: Arc::default(),
        }
    }

    /// Claims a transaction token. `Some(answer)` replays an earlier success;
    /// `None` means the caller now owns the token and must call
    /// [`Front::token_finish`]. A token still in use by a running request, or
    /// used for a different request, is refused.
    pub(crate) fn token_begin(
        &self,
        token: &str,
        fingerprint: &str,
    ) -> Result<Option<Json>, ApiError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        // Sweep now and then, not on every call; a stale entry is ignored below.
        if tokens.len() >= MAX_TOKENS || (tokens.len().is_multiple_of(1024) && !tokens.is_empty()) {
            tokens.retain(|_, t| t.at.elapsed() < TOKEN_TTL);
        }
        if tokens.len() >= MAX_TOKENS {
            return Err(ApiError::new(
                Kind::Validation,
                format!(
                    "too many transactions with a ClientRequestToken in the last 10 minutes; the limit is {MAX_TOKENS}"
                ),
            ));
        }
        match tokens.get(token).filter(|t| t.at.elapsed() < TOKEN_TTL) {
            Some(t) if t.fingerprint != fingerprint => Err(ApiError::new(
                Kind::IdempotentParameterMismatch,
                "The request uses the same client token as a previous, but non-identical request.",
            )),
            Some(Token {
                answer: Some(a), ..
            }) => Ok(Some(a.clone())),
            Some(_) => Err(ApiError::new(
                Kind::TransactionInProgress,
                "The transaction with the given request token is already in progress.",
            )),
            None => {
                let claim = Token {
                    at: Instant::now(),
                    fingerprint: fingerprint.to_string(),
                    answer: None,
                };
                tokens.insert(token.to_string(), claim);
                Ok(None)
            }
        }
    }

    /// Records the answer for a claimed token, or releases it on failure so
    /// the client may retry.
    pub(crate) fn token_finish(&self, token: &str, answer: Option<&Json>) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match answer {
            Some(a) => {
                if let Some(t) = tokens.get_mut(token) {
                    t.answer = Some(a.clone());
                }
            }
            None => {
                tokens.remove(token);
            }
        }
    }
}
