//! Streams of replicas, TTL deletes as the service's, replicas added and
//! removed.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::TimeToLiveSpecification;
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};

use super::common::*;
use crate::ConfError;
use crate::ctx::{Ctx, Scope, TableSpec, Verdict, code, ms, n, s, sdk};

/// A record of `pk` in `region`'s stream of `table` with `event`, polled
/// until `within` ends.
pub(super) async fn find_stream_record(
    ctx: &Ctx,
    region: usize,
    table: &str,
    pk: &str,
    event: OperationType,
    within: Duration,
) -> Result<Option<aws_sdk_dynamodbstreams::types::Record>, ConfError> {
    let r = &ctx.regions[region];
    let deadline = Instant::now() + within;
    let smap = |op: &str, e: String| ConfError::Dynamo(format!("{op} in {}: {e}", r.name));
    loop {
        let streams = r
            .streams
            .list_streams()
            .table_name(table)
            .send()
            .await
            .map_err(|e| smap("ListStreams", code(&e)))?;
        for st in streams.streams() {
            let Some(arn) = st.stream_arn() else { continue };
            let d = r
                .streams
                .describe_stream()
                .stream_arn(arn)
                .send()
                .await
                .map_err(|e| smap("DescribeStream", code(&e)))?;
            let shards = d
                .stream_description()
                .map(|d| d.shards().to_vec())
                .unwrap_or_default();
            for sh in shards {
                let Some(id) = sh.shard_id() else { continue };
                let it = r
                    .streams
                    .get_shard_iterator()
                    .stream_arn(arn)
                    .shard_id(id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .map_err(|e| smap("GetShardIterator", code(&e)))?;
                let mut iter = it.shard_iterator().map(String::from);
                for _ in 0..20 {
                    let Some(i) = iter.take() else { break };
                    let recs = r
                        .streams
                        .get_records()
                        .shard_iterator(i)
                        .send()
                        .await
                        .map_err(|e| smap("GetRecords", code(&e)))?;
                    for rec in recs.records() {
                        let matches = rec.event_name() == Some(&event)
                            && rec
                                .dynamodb()
                                .and_then(|d| d.keys())
                                .and_then(|k| k.get("pk"))
                                == Some(&aws_sdk_dynamodbstreams::types::AttributeValue::S(
                                    pk.into(),
                                ));
                        if matches {
                            return Ok(Some(rec.clone()));
                        }
                    }
                    if recs.records().is_empty() {
                        break;
                    }
                    iter = recs.next_shard_iterator().map(String::from);
                }
            }
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(if r.real_aws { 1000 } else { 100 })).await;
    }
}

/// 9. Every replica's stream has the writes replicated to it.
pub(super) async fn streams_of_replicas(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(
            scope,
            "streams",
            &regions,
            TableSpec {
                stream: true,
                ..Default::default()
            },
        )
        .await?;
    ctx.put(0, &t, item(&[("pk", s("s1")), ("v", n(7))]))
        .await?;
    let mut missing = Vec::new();
    let mut ok = Vec::new();
    for &b in &regions[1..] {
        match find_stream_record(
            ctx,
            b,
            &t,
            "s1",
            OperationType::Insert,
            ctx.visible_within(),
        )
        .await?
        {
            Some(rec) => {
                let image = rec.dynamodb().and_then(|d| d.new_image());
                let v = image.and_then(|i| i.get("v"));
                if v == Some(&aws_sdk_dynamodbstreams::types::AttributeValue::N(
                    "7".into(),
                )) {
                    ok.push(name(ctx, b).to_string());
                } else {
                    missing.push(format!("{}: INSERT without the new image", name(ctx, b)));
                }
            }
            None => missing.push(format!("{}: no INSERT record", name(ctx, b))),
        }
    }
    Ok(if missing.is_empty() {
        Verdict::pass(format!(
            "a put in {} is an INSERT with its NEW_IMAGE in the stream of {}",
            name(ctx, 0),
            ok.join(", ")
        ))
    } else {
        Verdict::fail(missing.join("; "))
    })
}

/// 10. TTL deletes are the service's: the stream's userIdentity says so.
pub(super) async fn ttl_delete_as_service(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<Verdict, ConfError> {
    let regions = all(ctx);
    let real_aws = ctx.regions.iter().any(|r| r.real_aws);
    let interval_ms = ctx
        .ttl_interval_ms
        .unwrap_or(crate::cluster::DEFAULT_TTL_INTERVAL_MS);
    // On Meridian the reaper runs every interval; a deadline of three
    // intervals and 10 s more is "clearly passed".
    let clearly = Duration::from_millis(3 * interval_ms) + Duration::from_secs(10);
    let t = if regions.len() > 1 {
        ctx.global_table(
            scope,
            "ttl",
            &regions,
            TableSpec {
                stream: true,
                ..Default::default()
            },
        )
        .await?
    } else {
        ctx.create_table(
            scope,
            "ttl",
            0,
            TableSpec {
                stream: true,
                ..Default::default()
            },
        )
        .await?
    };
    let r0 = &ctx.regions[0];
    r0.ddb
        .update_time_to_live()
        .table_name(&t)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("exp")
                .build()?,
        )
        .send()
        .await
        .map_err(|e| sdk("UpdateTimeToLive", &r0.name, e))?;
    // Expires in 3 s: time enough to reach every region first.
    ctx.put(
        0,
        &t,
        item(&[("pk", s("ttl-1")), ("exp", n(now_secs() + 3))]),
    )
    .await?;
    let expired_at = Instant::now() + Duration::from_secs(3);
    let mut gone = Vec::new();
    let mut stayed = Vec::new();
    for &r in &regions {
        let left = (expired_at + ctx.ttl_deadline).saturating_duration_since(Instant::now());
        match ctx.poll_item(r, &t, "ttl-1", left, |i| i.is_none()).await? {
            Some(_) => gone.push(r),
            None => stayed.push(name(ctx, r).to_string()),
        }
    }
    if !stayed.is_empty() {
        let waited = format!(
            "not deleted in {} within {} s of expiry",
            stayed.join(", "),
            ctx.ttl_deadline.as_secs()
        );
        if real_aws {
            return Ok(Verdict::skip(format!(
                "{waited} (AWS deletes expired items typically within two days; raise --ttl-deadline-secs)"
            )));
        }
        if ctx.ttl_deadline < clearly {
            return Ok(Verdict::skip(format!(
                "{waited}, shorter than 3 TTL intervals ({interval_ms} ms) + 10 s"
            )));
        }
        return Ok(Verdict::fail(format!(
            "{waited}, more than 3 TTL intervals ({interval_ms} ms)"
        )));
    }
    removed_by_the_service(ctx, &t, &gone).await
}

/// Each region that deleted the expired item (`gone`) has a REMOVE record
/// of it in its stream whose userIdentity is the service's.
async fn removed_by_the_service(ctx: &Ctx, t: &str, gone: &[usize]) -> Result<Verdict, ConfError> {
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for &r in gone {
        match find_stream_record(
            ctx,
            r,
            t,
            "ttl-1",
            OperationType::Remove,
            ctx.visible_within(),
        )
        .await?
        {
            None => bad.push(format!("{}: no REMOVE record", name(ctx, r))),
            Some(rec) => {
                let id = rec.user_identity();
                let (ty, pid) = (
                    id.and_then(|i| i.r#type()),
                    id.and_then(|i| i.principal_id()),
                );
                if ty == Some("Service") && pid == Some("dynamodb.amazonaws.com") {
                    good.push(name(ctx, r).to_string());
                } else {
                    bad.push(format!("{}: userIdentity {:?}/{:?}", name(ctx, r), ty, pid));
                }
            }
        }
    }
    Ok(if bad.is_empty() {
        Verdict::pass(format!(
            "the expired item was deleted everywhere; REMOVE with userIdentity Service/dynamodb.amazonaws.com in {}",
            good.join(", ")
        ))
    } else {
        Verdict::fail(bad.join("; "))
    })
}

/// 11. A new replica gets the existing items; a removed one goes.
pub(super) async fn replica_add_remove(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let last = ctx.regions.len() - 1;
    let t = ctx
        .create_table(scope, "replica", 0, TableSpec::default())
        .await?;
    let items = 10;
    for i in 0..items {
        ctx.put(0, &t, item(&[("pk", s(format!("pre-{i}"))), ("v", n(i))]))
            .await?;
    }
    let added = Instant::now();
    ctx.add_replicas(0, &t, &[last]).await?;
    let mut missing = 0;
    for i in 0..items {
        if ctx
            .poll_item(last, &t, &format!("pre-{i}"), ctx.visible_within(), |x| {
                x.is_some()
            })
            .await?
            .is_none()
        {
            missing += 1;
        }
    }
    if missing > 0 {
        return Ok(Verdict::fail(format!(
            "{missing} of {items} existing items never reached the new replica in {}",
            name(ctx, last)
        )));
    }
    let filled = ms(added.elapsed());
    let r0 = &ctx.regions[0];
    r0.ddb
        .update_table()
        .table_name(&t)
        .replica_updates(
            aws_sdk_dynamodb::types::ReplicationGroupUpdate::builder()
                .delete(
                    aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder()
                        .region_name(name(ctx, last))
                        .build()?,
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk("UpdateTable ReplicaUpdates Delete", &r0.name, e))?;
    let deadline = Instant::now() + ctx.visible_within();
    let rl = &ctx.regions[last];
    loop {
        match rl.ddb.describe_table().table_name(&t).send().await {
            Err(e) if code(&e) == "ResourceNotFoundException" => break,
            _ if Instant::now() > deadline => {
                return Ok(Verdict::fail(format!(
                    "{} still describes the table {:?} after its replica was removed",
                    rl.name,
                    ctx.visible_within()
                )));
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(if rl.real_aws { 2000 } else { 50 })).await
            }
        }
    }
    Ok(Verdict::pass(format!(
        "a replica added in {} held all {items} existing items ({filled:.0} ms from the request); removed, its region answers ResourceNotFoundException",
        rl.name
    )))
}
