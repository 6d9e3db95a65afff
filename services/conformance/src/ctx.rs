//! What every check shares: one SDK client per region, the fault API, and
//! the helpers that make and remove tables the way AWS does (CreateTable in
//! one region, then UpdateTable `ReplicaUpdates` Create; replicas removed
//! before the table), each wait a poll with a deadline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region as SdkRegion};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, AutoScalingPolicyUpdate, AutoScalingSettingsUpdate,
    AutoScalingTargetTrackingScalingPolicyConfigurationUpdate, BillingMode,
    CreateGlobalTableWitnessGroupMemberAction, CreateReplicationGroupMemberAction,
    DeleteReplicationGroupMemberAction, GlobalTableWitnessGroupUpdate, KeySchemaElement, KeyType,
    MultiRegionConsistency, ProvisionedThroughput, ReplicaStatus, ReplicationGroupUpdate,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use serde_json::Value;

use crate::ConfError;
use crate::cluster::Endpoint;
use crate::credentials::Creds;
use crate::fault::{Applied, Faults};
use crate::measure::Samples;
use crate::report::Outcome;
use crate::tls::Trust;

pub type Item = HashMap<String, AttributeValue>;

/// One region as the checks see it.
pub struct Region {
    pub name: String,
    pub url: String,
    pub real_aws: bool,
    /// The SDK's standard retries (3 attempts): setup and reads.
    pub ddb: Client,
    /// No retries: races, where the first answer is the observation
    /// (the SDKs retry `ReplicatedWriteConflictException` by themselves).
    pub raw: Client,
    pub streams: StreamsClient,
}

/// Shared by all checks of a run.
pub struct Ctx {
    pub regions: Vec<Region>,
    pub faults: Option<Faults>,
    /// Names of the fault API's proxies, read once.
    pub proxies: Vec<String>,
    pub samples: usize,
    pub timeout: Duration,
    pub expect_reordering: bool,
    pub ttl_deadline: Duration,
    pub ttl_interval_ms: Option<u64>,
    /// A random tag in every table name, so runs never collide.
    pub run_id: String,
    pub collected: std::sync::Mutex<Samples>,
}

/// A check's verdict before the runner adds its name, source and time.
pub struct Verdict {
    pub outcome: Outcome,
    pub saw: String,
    pub data: Value,
}

impl Verdict {
    pub fn pass(saw: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::Pass,
            saw: saw.into(),
            data: Value::Null,
        }
    }
    pub fn fail(saw: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::Fail,
            saw: saw.into(),
            data: Value::Null,
        }
    }
    pub fn skip(saw: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::Skip,
            saw: saw.into(),
            data: Value::Null,
        }
    }
    pub fn with(mut self, data: Value) -> Verdict {
        self.data = data;
        self
    }
}

/// A table a check made (or started to make): cleaned up by the runner
/// whatever the check's fate.
#[derive(Clone, Debug)]
pub struct TableRec {
    pub name: String,
    pub home: usize,
}

/// What a check holds that the runner must undo: its tables and faults.
#[derive(Default)]
pub struct Scope {
    pub tables: Vec<TableRec>,
    pub faults: Vec<Applied>,
}

/// The code of an SDK error (`ConditionalCheckFailedException`), or the
/// kind of failure when there was no answer.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(s) => s.err().code().unwrap_or("UnknownServiceError").to_string(),
        SdkError::TimeoutError(_) => "Timeout".into(),
        SdkError::DispatchFailure(_) => "DispatchFailure".into(),
        SdkError::ResponseError(_) => "ResponseError".into(),
        SdkError::ConstructionFailure(_) => "ConstructionFailure".into(),
        _ => "SdkError".into(),
    }
}

/// An SDK error as a [`ConfError`], with the operation and region.
pub fn sdk<E, R>(op: &str, region: &str, e: SdkError<E, R>) -> ConfError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut text = format!("{}", DisplayErrorContext(&e));
    text.truncate(300);
    ConfError::Dynamo(format!("{op} in {region}: {} ({text})", code(&e)))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A number attribute of an item.
pub fn num(item: &Item, attr: &str) -> Option<i64> {
    match item.get(attr) {
        Some(AttributeValue::N(x)) => x.parse().ok(),
        _ => None,
    }
}

pub fn key(pk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk))])
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Builds a region's clients. `https` endpoints sign with the credentials
/// the AWS CLI would find (`creds`, crate::credentials) and check servers
/// against `trust`; anything else gets dummy credentials, as DynamoDB Local
/// and Meridian accept, and plain HTTP.
pub fn region_clients(e: &Endpoint, creds: Option<&Creds>, trust: Option<&Trust>) -> Region {
    let creds = match creds {
        Some(c) if e.is_https() => Credentials::new(
            &c.access_key_id,
            &c.secret_access_key,
            c.session_token.clone(),
            None,
            "conformance",
        ),
        _ => Credentials::new("conformance", "conformance", None, None, "conformance"),
    };
    let http = || match trust {
        Some(t) => t.sdk_client(),
        None => aws_smithy_http_client::Builder::new().build_http(),
    };
    let make = |retries: RetryConfig| {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .region(SdkRegion::new(e.name.clone()))
            .credentials_provider(creds.clone())
            .endpoint_url(&e.url)
            .http_client(http())
            .retry_config(retries)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(15))
                    .build(),
            )
            .build();
        Client::from_conf(conf)
    };
    let sconf = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_dynamodbstreams::config::Region::new(e.name.clone()))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            creds.session_token().map(String::from),
            None,
            "conformance",
        ))
        .endpoint_url(&e.url)
        .http_client(http())
        .build();
    Region {
        name: e.name.clone(),
        url: e.url.clone(),
        real_aws: e.is_real_aws(),
        ddb: make(RetryConfig::standard().with_max_attempts(3)),
        raw: make(RetryConfig::disabled()),
        streams: StreamsClient::from_conf(sconf),
    }
}

/// Auto scales `table`'s writes in `r` between `write` units and
/// themselves, which pins them there: AWS adds a replica to a provisioned
/// table only once its writes auto scale ([`TableSpec::provisioned`]).
async fn pin_write_scaling(r: &Region, table: &str, write: i64) -> Result<(), ConfError> {
    let pinned = AutoScalingSettingsUpdate::builder()
        .minimum_units(write)
        .maximum_units(write)
        .scaling_policy_update(
            AutoScalingPolicyUpdate::builder()
                .target_tracking_scaling_policy_configuration(
                    AutoScalingTargetTrackingScalingPolicyConfigurationUpdate::builder()
                        .target_value(70.0)
                        .build()?,
                )
                .build(),
        )
        .build();
    r.ddb
        .update_table_replica_auto_scaling()
        .table_name(table)
        .provisioned_write_capacity_auto_scaling_update(pinned)
        .send()
        .await
        .map_err(|e| sdk("UpdateTableReplicaAutoScaling", &r.name, e))?;
    Ok(())
}

/// How a global table is made.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableSpec {
    /// A `NEW_AND_OLD_IMAGES` stream from creation.
    pub stream: bool,
    /// Provisioned at these `(read, write)` units, its writes auto scaled
    /// between the write units and themselves (AWS adds a replica to a
    /// provisioned table only once its writes auto scale); else on demand.
    pub provisioned: Option<(i64, i64)>,
}

impl Ctx {
    /// How long a write may take to show up elsewhere before a check calls
    /// it missing: AWS says "typically within one second"; half the check's
    /// time allows for slow links and leaves time to clean up.
    pub fn visible_within(&self) -> Duration {
        (self.timeout / 2).max(Duration::from_secs(5))
    }

    /// A table name unique to this run and check.
    pub fn table_name(&self, check: &str) -> String {
        let suffix: u32 = rand::random();
        format!("conformance-{}-{check}-{suffix:08x}", self.run_id)
    }

    /// CreateTable in `home` (key `pk`, a string), waiting for ACTIVE.
    pub async fn create_table(
        &self,
        scope: &mut Scope,
        check: &str,
        home: usize,
        spec: TableSpec,
    ) -> Result<String, ConfError> {
        let name = self.table_name(check);
        scope.tables.push(TableRec {
            name: name.clone(),
            home,
        });
        let r = &self.regions[home];
        let mut req = r
            .ddb
            .create_table()
            .table_name(&name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .billing_mode(BillingMode::PayPerRequest);
        if let Some((read, write)) = spec.provisioned {
            req = req
                .billing_mode(BillingMode::Provisioned)
                .provisioned_throughput(
                    ProvisionedThroughput::builder()
                        .read_capacity_units(read)
                        .write_capacity_units(write)
                        .build()?,
                );
        }
        if spec.stream {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()?,
            );
        }
        req.send()
            .await
            .map_err(|e| sdk("CreateTable", &r.name, e))?;
        self.wait_active(home, &name, &[]).await?;
        if let Some((_, write)) = spec.provisioned {
            pin_write_scaling(r, &name, write).await?;
        }
        Ok(name)
    }

    /// Polls DescribeTable in `region` until the table and every replica in
    /// `replicas` is ACTIVE.
    pub async fn wait_active(
        &self,
        region: usize,
        table: &str,
        replicas: &[usize],
    ) -> Result<(), ConfError> {
        let r = &self.regions[region];
        let deadline = Instant::now() + self.timeout;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match r.ddb.describe_table().table_name(table).send().await {
                Ok(out) => {
                    let t = out.table();
                    let status = t.and_then(|t| t.table_status()).cloned();
                    let reps = t.map(|t| t.replicas()).unwrap_or_default();
                    let all = replicas.iter().all(|&i| {
                        reps.iter().any(|d| {
                            d.region_name() == Some(self.regions[i].name.as_str())
                                && d.replica_status() == Some(&ReplicaStatus::Active)
                        })
                    });
                    if status == Some(TableStatus::Active) && all {
                        return Ok(());
                    }
                    last = format!(
                        "status {status:?}, replicas {:?}",
                        reps.iter()
                            .map(|d| (d.region_name(), d.replica_status()))
                            .collect::<Vec<_>>()
                    );
                }
                Err(e) => last = code(&e),
            }
            tokio::time::sleep(Duration::from_millis(if r.real_aws { 2000 } else { 50 })).await;
        }
        Err(ConfError::Dynamo(format!(
            "{table} not ACTIVE in {} within {:?}: {last}",
            r.name, self.timeout
        )))
    }

    /// Makes `table` (in `home`) a global table with replicas in `others`,
    /// one `ReplicaUpdates` Create per UpdateTable as AWS processes them,
    /// waiting for each replica to be ACTIVE, seen from home and from the
    /// replica's own region.
    pub async fn add_replicas(
        &self,
        home: usize,
        table: &str,
        others: &[usize],
    ) -> Result<(), ConfError> {
        let r = &self.regions[home];
        let mut done = Vec::new();
        for &o in others {
            r.ddb
                .update_table()
                .table_name(table)
                .replica_updates(
                    ReplicationGroupUpdate::builder()
                        .create(
                            CreateReplicationGroupMemberAction::builder()
                                .region_name(&self.regions[o].name)
                                .build()?,
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk("UpdateTable ReplicaUpdates Create", &r.name, e))?;
            done.push(o);
            self.wait_active(home, table, &done).await?;
            self.wait_active(o, table, &[]).await?;
        }
        Ok(())
    }

    /// A global table over `regions` (the first is home).
    pub async fn global_table(
        &self,
        scope: &mut Scope,
        check: &str,
        regions: &[usize],
        spec: TableSpec,
    ) -> Result<String, ConfError> {
        let name = self.create_table(scope, check, regions[0], spec).await?;
        self.add_replicas(regions[0], &name, &regions[1..]).await?;
        Ok(name)
    }

    /// A STRONG (MRSC) table: replicas `home` and `replica`, witness
    /// `witness`, made in one UpdateTable as AWS documents.
    pub async fn strong_table(
        &self,
        scope: &mut Scope,
        check: &str,
        home: usize,
        replica: usize,
        witness: usize,
    ) -> Result<String, ConfError> {
        let name = self
            .create_table(scope, check, home, TableSpec::default())
            .await?;
        let r = &self.regions[home];
        r.ddb
            .update_table()
            .table_name(&name)
            .replica_updates(
                ReplicationGroupUpdate::builder()
                    .create(
                        CreateReplicationGroupMemberAction::builder()
                            .region_name(&self.regions[replica].name)
                            .build()?,
                    )
                    .build(),
            )
            .global_table_witness_updates(
                GlobalTableWitnessGroupUpdate::builder()
                    .create(
                        CreateGlobalTableWitnessGroupMemberAction::builder()
                            .region_name(&self.regions[witness].name)
                            .build()?,
                    )
                    .build(),
            )
            .multi_region_consistency(MultiRegionConsistency::Strong)
            .send()
            .await
            .map_err(|e| sdk("UpdateTable MultiRegionConsistency STRONG", &r.name, e))?;
        self.wait_active(home, &name, &[replica]).await?;
        self.wait_active(replica, &name, &[]).await?;
        let d = r
            .ddb
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .map_err(|e| sdk("DescribeTable", &r.name, e))?;
        let mode = d
            .table()
            .and_then(|t| t.multi_region_consistency())
            .cloned();
        if mode != Some(MultiRegionConsistency::Strong) {
            return Err(ConfError::Dynamo(format!(
                "DescribeTable says MultiRegionConsistency {mode:?}, not STRONG"
            )));
        }
        // ACTIVE is not yet "takes writes": the members may still be
        // finding each other (or recovering from the previous check's
        // healed fault). Setup ends with a write acknowledged from each
        // replica, retried for a bounded time, so a check's own steps
        // start from a table that works.
        for region in [home, replica] {
            let deadline = Instant::now() + self.visible_within();
            loop {
                let probe = HashMap::from([("pk".to_string(), s(format!("probe-{region}")))]);
                match self.put(region, &name, probe).await {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(ConfError::Dynamo(format!(
                            "the new STRONG table never took a write in {}: {e}",
                            self.regions[region].name
                        )));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(name)
    }

    /// Removes a table: every replica but home first (UpdateTable
    /// `ReplicaUpdates` Delete, as AWS requires), then DeleteTable in home,
    /// then waits until no region describes it. Returns what went wrong,
    /// for the report; never fails the check itself.
    pub async fn drop_table(&self, t: &TableRec) -> Option<String> {
        let home = &self.regions[t.home];
        let mut problems = Vec::new();
        // Refusals matter only if the table is still somewhere at the end
        // (a replica the check removed itself may still be listed).
        let mut refused = Vec::new();
        let replicas: Vec<String> = match home.ddb.describe_table().table_name(&t.name).send().await
        {
            Ok(d) => d
                .table()
                .map(|t| {
                    // A replica already being deleted is on its way out:
                    // asking again would only be refused.
                    t.replicas()
                        .iter()
                        .filter(|r| r.replica_status() != Some(&ReplicaStatus::Deleting))
                        .filter_map(|r| r.region_name().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            Err(e) if code(&e) == "ResourceNotFoundException" => return None,
            Err(e) => {
                problems.push(format!("DescribeTable: {}", code(&e)));
                vec![]
            }
        };
        let strong = !replicas.is_empty()
            && matches!(home.ddb.describe_table().table_name(&t.name).send().await, Ok(d) if d.table().and_then(|t| t.multi_region_consistency()) == Some(&MultiRegionConsistency::Strong));
        if !strong {
            for rep in replicas.iter().filter(|r| **r != home.name) {
                if let Err(e) = self.remove_replica(t, rep).await {
                    refused.push(e);
                }
            }
        }
        if let Err(e) = home.ddb.delete_table().table_name(&t.name).send().await
            && code(&e) != "ResourceNotFoundException"
        {
            // A STRONG table whose service will not delete it while it has
            // members: take its replica and witness away in one request,
            // then try again.
            let retried = strong && self.drop_strong_members(t).await.is_ok() && {
                let r = home.ddb.delete_table().table_name(&t.name).send().await;
                r.is_ok() || r.is_err_and(|e| code(&e) == "ResourceNotFoundException")
            };
            if !retried {
                problems.push(format!("DeleteTable: {}", code(&e)));
            }
        }
        // Gone everywhere (a STRONG table's DeleteTable takes its members).
        self.wait_gone(t, &mut problems).await;
        if !problems.is_empty() {
            problems.extend(refused);
        }
        (!problems.is_empty()).then(|| format!("{}: {}", t.name, problems.join("; ")))
    }

    /// UpdateTable `ReplicaUpdates` Delete of `t`'s replica in `rep`, sent
    /// to its home; then waits until home no longer lists it, so the next
    /// change is not refused while this one runs. A refusal is what home
    /// answered.
    async fn remove_replica(&self, t: &TableRec, rep: &str) -> Result<(), String> {
        let home = &self.regions[t.home];
        let upd = ReplicationGroupUpdate::builder()
            .delete(
                DeleteReplicationGroupMemberAction::builder()
                    .region_name(rep)
                    .build()
                    .expect("region set"),
            )
            .build();
        if let Err(e) = home
            .ddb
            .update_table()
            .table_name(&t.name)
            .replica_updates(upd)
            .send()
            .await
        {
            return Err(format!("ReplicaUpdates Delete {rep}: {}", code(&e)));
        }
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            match home.ddb.describe_table().table_name(&t.name).send().await {
                Ok(d)
                    if d.table().is_some_and(|t| {
                        t.replicas().iter().any(|r| r.region_name() == Some(rep))
                    }) => {}
                _ => break,
            }
            tokio::time::sleep(Duration::from_millis(if home.real_aws { 2000 } else { 50 })).await;
        }
        Ok(())
    }

    /// Waits until no region describes `t`, adding a problem for each that
    /// still does at the timeout.
    async fn wait_gone(&self, t: &TableRec, problems: &mut Vec<String>) {
        let deadline = Instant::now() + self.timeout;
        for r in &self.regions {
            loop {
                match r.ddb.describe_table().table_name(&t.name).send().await {
                    Err(e) if code(&e) == "ResourceNotFoundException" => break,
                    _ if Instant::now() >= deadline => {
                        problems.push(format!("still described in {}", r.name));
                        break;
                    }
                    _ => {
                        tokio::time::sleep(Duration::from_millis(if r.real_aws {
                            2000
                        } else {
                            50
                        }))
                        .await
                    }
                }
            }
        }
    }

    /// UpdateTable removing a STRONG table's other replica and its witness
    /// (the fallback of [`Ctx::drop_table`]), waiting until home lists
    /// neither.
    async fn drop_strong_members(&self, t: &TableRec) -> Result<(), ConfError> {
        let home = &self.regions[t.home];
        let d = home
            .ddb
            .describe_table()
            .table_name(&t.name)
            .send()
            .await
            .map_err(|e| sdk("DescribeTable", &home.name, e))?;
        let Some(table) = d.table() else {
            return Ok(());
        };
        let mut req = home.ddb.update_table().table_name(&t.name);
        for r in table.replicas().iter().filter_map(|r| r.region_name()) {
            if r != home.name {
                req = req.replica_updates(
                    ReplicationGroupUpdate::builder()
                        .delete(
                            DeleteReplicationGroupMemberAction::builder()
                                .region_name(r)
                                .build()?,
                        )
                        .build(),
                );
            }
        }
        for w in table
            .global_table_witnesses()
            .iter()
            .filter_map(|w| w.region_name())
        {
            req = req.global_table_witness_updates(
                GlobalTableWitnessGroupUpdate::builder()
                    .delete(
                        aws_sdk_dynamodb::types::DeleteGlobalTableWitnessGroupMemberAction::builder()
                            .region_name(w)
                            .build()?,
                    )
                    .build(),
            );
        }
        req.send()
            .await
            .map_err(|e| sdk("UpdateTable (remove STRONG members)", &home.name, e))?;
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            match home.ddb.describe_table().table_name(&t.name).send().await {
                Ok(d)
                    if d.table().is_some_and(|t| {
                        !t.replicas().is_empty() || !t.global_table_witnesses().is_empty()
                    }) => {}
                _ => return Ok(()),
            }
            tokio::time::sleep(Duration::from_millis(if home.real_aws { 2000 } else { 50 })).await;
        }
        Err(ConfError::Dynamo(
            "the STRONG table kept its members".into(),
        ))
    }

    /// PutItem of `item` in `region`.
    pub async fn put(&self, region: usize, table: &str, item: Item) -> Result<(), ConfError> {
        let r = &self.regions[region];
        r.ddb
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk("PutItem", &r.name, e))?;
        Ok(())
    }

    /// GetItem of `pk` in `region`.
    pub async fn get(
        &self,
        region: usize,
        table: &str,
        pk: &str,
        consistent: bool,
    ) -> Result<Option<Item>, ConfError> {
        let r = &self.regions[region];
        let out = r
            .ddb
            .get_item()
            .table_name(table)
            .set_key(Some(key(pk)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| sdk("GetItem", &r.name, e))?;
        Ok(out.item().cloned())
    }

    /// Polls `region` until `pk` satisfies `ok`, reading again a
    /// millisecond after an answer comes back (5 ms on AWS, where each read
    /// is a round trip anyway). Returns the item and when it was first seen.
    ///
    /// Not at once: one key's partition serves 3,000 read units a second
    /// on AWS and in Meridian (docs/dynamodb-compat.md, *Throughput*), and a
    /// poller reading again at once against a local region spends them; its
    /// throttled reads, retried with the SDK's backoff, would show as lag.
    /// A read a millisecond (500 units a second) stays far below, at a
    /// resolution of about a millisecond.
    pub async fn poll_item(
        &self,
        region: usize,
        table: &str,
        pk: &str,
        within: Duration,
        ok: impl Fn(Option<&Item>) -> bool,
    ) -> Result<Option<(Option<Item>, Instant)>, ConfError> {
        let deadline = Instant::now() + within;
        loop {
            let item = self.get(region, table, pk, false).await?;
            let now = Instant::now();
            if ok(item.as_ref()) {
                return Ok(Some((item, now)));
            }
            if now >= deadline {
                return Ok(None);
            }
            let pause = if self.regions[region].real_aws { 5 } else { 1 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    /// Waits until every region in `regions` returns the same item for `pk`
    /// (eventually consistent reads), and returns it.
    pub async fn converged(
        &self,
        table: &str,
        pk: &str,
        regions: &[usize],
    ) -> Result<Option<Item>, ConfError> {
        let deadline = Instant::now() + self.visible_within();
        loop {
            let mut seen = Vec::new();
            for &r in regions {
                seen.push(self.get(r, table, pk, false).await?);
            }
            if seen.windows(2).all(|w| w[0] == w[1]) {
                return Ok(seen.pop().flatten());
            }
            if Instant::now() >= deadline {
                return Err(ConfError::Dynamo(format!(
                    "{pk} did not converge within {:?}: {}",
                    self.visible_within(),
                    regions
                        .iter()
                        .zip(&seen)
                        .map(|(r, i)| format!("{}={}", self.regions[*r].name, show(i.as_ref())))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(
                if self.regions[regions[0]].real_aws {
                    200
                } else {
                    10
                },
            ))
            .await;
        }
    }

    /// Blackholes every link of `region` (the fault API must be there).
    pub async fn isolate(&self, scope: &mut Scope, region: usize) -> Result<(), ConfError> {
        let faults = self
            .faults
            .as_ref()
            .ok_or_else(|| ConfError::Fault("no fault API".into()))?;
        let proxies = crate::fault::proxies_touching(&self.proxies, &self.regions[region].name);
        if proxies.is_empty() {
            return Err(ConfError::Fault(format!(
                "the fault API has no proxy named `{0}>…` or `…>{0}`",
                self.regions[region].name
            )));
        }
        let for_ms = (self.timeout.as_millis() as u64).saturating_add(30_000);
        let applied = faults.blackhole(&proxies, for_ms).await?;
        scope.faults.push(applied);
        Ok(())
    }

    /// Removes every fault the check put on.
    pub async fn heal(&self, scope: &mut Scope) {
        if let Some(f) = &self.faults {
            for a in scope.faults.drain(..) {
                f.heal(&a).await;
            }
        }
    }

    /// Whether fault checks can run, and why not.
    pub fn fault_ready(&self, region: usize) -> Result<(), String> {
        if self.faults.is_none() {
            return Err("no fault API (--toxiproxy, or a cluster file with [netsim] api)".into());
        }
        if crate::fault::proxies_touching(&self.proxies, &self.regions[region].name).is_empty() {
            return Err(format!(
                "the fault API has no proxy named `{0}>X` or `X>{0}`",
                self.regions[region].name
            ));
        }
        Ok(())
    }
}

/// An item in one short line (`{pk=k, v=3}`), for what a check saw.
pub fn show(item: Option<&Item>) -> String {
    let Some(item) = item else {
        return "none".into();
    };
    let mut keys: Vec<_> = item.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let v = match &item[*k] {
                AttributeValue::S(x) => x.clone(),
                AttributeValue::N(x) => x.clone(),
                other => format!("{other:?}"),
            };
            format!("{k}={v}")
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}
