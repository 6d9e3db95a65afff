//! What every check shares: the AWS pages they cite and small helpers.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::ctx::{Ctx, Item, Verdict};

pub const SRC_CORE: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/globaltables-CoreConcepts.html";
pub const SRC_BEST_PRACTICES: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-global-table-design.html";
pub const SRC_PRESCRIPTIVE: &str =
    "https://docs.aws.amazon.com/prescriptive-guidance/latest/dynamodb-global-tables/overview.html";
pub const SRC_WRITE_MODES: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-global-table-design.prescriptive-guidance.writemodes.html";
pub const SRC_TRANSACTIONS: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-apis-global-tables";
pub const SRC_STREAMS_IDENTITY: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Identity.html";
pub const SRC_MRSC_EXAMPLE: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/example_dynamodb_Scenario_MRSCGlobalTables_section.html";
pub const SRC_MRSC: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html#V2globaltables_HowItWorks.consistency-modes-mrsc";
pub const SRC_RWCU: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_reqs_bestpractices.html";
pub const SRC_RWCE: &str = "https://docs.aws.amazon.com/botocore/latest/reference/services/dynamodb/client/exceptions/ReplicatedWriteConflictException.html";

pub(super) fn need(ctx: &Ctx, k: usize) -> Option<Verdict> {
    (ctx.regions.len() < k)
        .then(|| Verdict::skip(format!("needs {k} endpoints, {} given", ctx.regions.len())))
}

pub(super) fn all(ctx: &Ctx) -> Vec<usize> {
    (0..ctx.regions.len()).collect()
}

pub(super) fn name(ctx: &Ctx, i: usize) -> &str {
    &ctx.regions[i].name
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}
