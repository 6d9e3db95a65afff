//! Capacity: every replica pays for the other replicas' writes.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use serde_json::json;

use super::common::*;
use crate::ConfError;
use crate::ctx::{Ctx, Scope, TableSpec, Verdict, ms, s};

/// Bytes of the big item: about 390 write units wherever it is written,
/// more than the 300 a replica of one write unit keeps unused.
const BIG: usize = 390_000;

/// A replica's write units pay for the writes it applies from the other
/// replicas, "measured in replicated write capacity units (rWCUs)": a
/// replica whose own clients wrote nothing is throttled once another
/// region's write has spent its units.
pub(super) async fn replicated_write_units(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let spec = TableSpec {
        provisioned: Some((5, 1)),
        ..Default::default()
    };
    let home = ctx.create_table(scope, "rwcu", 0, spec).await?;
    ctx.add_replicas(0, &home, &[1]).await?;
    let (a, b) = (&ctx.regions[0], &ctx.regions[1]);
    // One write at home: its bucket (full) admits it and goes into debt.
    let written = Instant::now();
    ctx.put(
        0,
        &home,
        item(&[("pk", s("big")), ("blob", s("x".repeat(BIG)))]),
    )
    .await?;
    let Some((_, seen)) = ctx
        .poll_item(1, &home, "big", ctx.visible_within(), |i| i.is_some())
        .await?
    else {
        return Ok(Verdict::fail(format!(
            "the write in {} never reached {}",
            a.name, b.name
        )));
    };
    // The other replica's own client now writes one small item.
    let answer = b
        .ddb
        .put_item()
        .table_name(&home)
        .set_item(Some(item(&[("pk", s("small"))])))
        .send()
        .await;
    Ok(small_write_verdict(
        answer,
        (&a.name, &b.name),
        seen - written,
    ))
}

/// The verdict on the small write of the replica whose own client wrote
/// nothing before, `replicated` after the big write reached it from `a`:
/// a refusal for spent units passes, an acceptance or any other refusal
/// fails.
fn small_write_verdict(
    answer: Result<PutItemOutput, SdkError<PutItemError>>,
    (a, b): (&str, &str),
    replicated: Duration,
) -> Verdict {
    let data = json!({"replicated_after_ms": ms(replicated)});
    match answer {
        Ok(_) => Verdict::fail(format!(
            "{b}'s client wrote a one-unit item at once after a write of about 390 units replicated from {a}: the replicated write drew nothing (or less than AWS charges) from {b}'s one write unit a second"
        ))
        .with(data),
        Err(e) => {
            let e = e.into_service_error();
            let reason = match &e {
                PutItemError::ProvisionedThroughputExceededException(p) => p
                    .throttling_reasons()
                    .first()
                    .and_then(|r| r.reason())
                    .unwrap_or("no reason given")
                    .to_string(),
                _ => String::new(),
            };
            match e.code() {
                Some("ProvisionedThroughputExceededException") => Verdict::pass(format!(
                    "a write of about 390 units in {a} reached {b} in {:.0} ms and spent its units: {b}'s own client was refused ProvisionedThroughputExceededException ({reason})",
                    ms(replicated),
                ))
                .with(data),
                other => Verdict::fail(format!(
                    "{b}'s client was refused {other:?}, not ProvisionedThroughputExceededException: {}",
                    e.message().unwrap_or_default()
                ))
                .with(data),
            }
        }
    }
}
