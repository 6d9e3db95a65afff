//! The drill's workload: every region's open-loop stream of requests
//! against its gRPC API, and the [`Tally`] of what they got back, which
//! feeds the oracle every check is made against.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use meridian_core::{EncodedKey, Item, KeyAttr, KeySchema, KeyType, Version};
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_region::convert::version_to_pb;
use meridian_scenario::scenario::Scenario;
use meridian_scenario::{AckedWrite, Oracle};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::endpoint::SimEndpoint;
use crate::history::{End, Fail, History, ReadAnswer, Record};
use crate::table::version_of;
use crate::target::RegionTarget;
use crate::workload::{self, Generator, OpKind};
use meridian_scenario::linear::{Call, Expect};

/// Longest a single workload request may take before it counts as failed.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Workload ticks: operations are started in bursts this far apart.
const TICK: Duration = Duration::from_millis(10);

/// What the workload got back, shared by every region's workload task and
/// read by the driver.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) oracle: Oracle,
    pub(crate) attempted: u64,
    pub(crate) acked: u64,
    pub(crate) failed: u64,
    /// Updates whose condition failed because a concurrent write got there
    /// first: correct behaviour, not a failure.
    pub(crate) rejected: u64,
    pub(crate) by_op: BTreeMap<String, u64>,
    pub(crate) by_region: BTreeMap<String, u64>,
    /// Failed requests per region, for the alarms on a region's errors.
    pub(crate) failed_by_region: BTreeMap<String, u64>,
    /// Of those, the requests a provisioned table's spent units refused.
    pub(crate) throttled_by_region: BTreeMap<String, u64>,
    /// Workloads moved by a `move-traffic` event: the region each
    /// region's workload is sent to now, by the region it started in.
    pub(crate) moved: BTreeMap<String, String>,
    /// A simulated failover endpoint, which its home's workload goes
    /// through (`[failover]`).
    pub(crate) endpoint: Option<SimEndpoint>,
    /// Requests sent and not yet answered (a mark waits for none).
    pub(crate) in_flight: u64,
    /// Per region, how many times it was restarted while a recreated
    /// table's newest incarnation was current ([`crate::recreate::Recreate::restarted`]).
    pub(crate) fences: BTreeMap<String, u64>,
    /// Per region, how many of its data losses (a wipe, a rollback, a power
    /// loss) have struck: a request answered across one was committed
    /// before it, and may be gone with it.
    pub(crate) losses: BTreeMap<String, u64>,
    /// Writes a region acknowledged to a request in flight when it lost its
    /// data, answered only after the loss was read: at risk from it like
    /// those the oracle knew then ([`crate::disaster::Disaster::settle`]).
    pub(crate) acked_across_loss: BTreeMap<String, BTreeSet<Version>>,
    /// Every operation's history, when the scenario reports on consistency.
    pub(crate) history: Option<History>,
}

/// How a workload request reaches its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Sent to the region itself.
    Direct,
    /// Through the simulated failover endpoint, which forwards it.
    Endpoint,
    /// To the endpoint, whose region does not answer: it fails there at
    /// once (HTTP 503 from the real one), never reaching a region.
    Unreachable,
}

fn schema() -> KeySchema {
    KeySchema {
        partition: KeyAttr {
            name: workload::KEY_ATTR.into(),
            ty: KeyType::S,
        },
        sort: None,
    }
}

/// The tally, even if a workload task panicked holding it: what it holds
/// is counts, each whole.
pub(crate) fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(|p| p.into_inner())
}

/// The drill's clock in the regions' epoch time: the instant the workload
/// started, and the epoch time then.
#[derive(Clone, Copy)]
pub(crate) struct DrillClock {
    pub(crate) start: Instant,
    pub(crate) epoch_micros: u64,
}

impl DrillClock {
    /// Microseconds since the workload started, on the drill's clock.
    pub(crate) fn micros_since_start(&self) -> u64 {
        Instant::now().duration_since(self.start).as_micros() as u64
    }

    pub(crate) fn epoch_micros_now(&self) -> u64 {
        self.epoch_micros + Instant::now().duration_since(self.start).as_micros() as u64
    }
}

/// How far into the workload a put may still carry an expiry: its time
/// then passes, one to two seconds later, at least a second before the
/// workload ends.
fn expiring_until(duration: Duration) -> Duration {
    duration.saturating_sub(Duration::from_secs(3))
}

/// One region's open-loop workload: `rate_per_region` operations per second
/// started on schedule, at most `concurrency` in flight. When the region is
/// slow or down, ticks that find no free slot are skipped and counted as
/// failed, so a stalled region cannot pile up unbounded work.
pub(crate) async fn region_workload(
    scenario: Scenario,
    seed: u64,
    (index, targets): (usize, Vec<RegionTarget>),
    tally: Arc<Mutex<Tally>>,
    (mut stop, paused): (watch::Receiver<bool>, watch::Receiver<bool>),
    clock: DrillClock,
) {
    let w = &scenario.workload;
    let expiring_until = clock.start + expiring_until(scenario.duration);
    let mut generator = Generator::new(w, seed, index);
    let launcher = Launcher {
        index,
        home: targets[index].name.clone(),
        clients: targets
            .iter()
            .map(|t| (t.name.clone(), MeridianClient::new(t.channel.clone())))
            .collect(),
        slots: Arc::new(Semaphore::new(w.concurrency)),
        tally,
        table: w.table.clone(),
        item_bytes: w.item_bytes,
        ttl: w.ttl,
        expiring_until,
        history: scenario.table.history,
        clock,
    };
    let per_tick = f64::from(w.rate_per_region) * TICK.as_secs_f64();
    let mut owed = 0.0;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut counter = (index as u64) << 48;
    let mut inflight = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        // A mark holds the workload: nothing is owed for the pause.
        if *paused.borrow() {
            owed = 0.0;
            while inflight.try_join_next().is_some() {}
            continue;
        }
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let op = generator.next_op();
            counter += 1;
            launcher.launch(op, counter, &mut inflight);
        }
        // Reap finished requests so the set stays small.
        while inflight.try_join_next().is_some() {}
    }
    while inflight.join_next().await.is_some() {}
}

/// What one region's workload starts each of its requests with: fixed for
/// the whole workload, so each tick only draws the next operation.
struct Launcher {
    index: usize,
    /// The region the workload started in.
    home: String,
    /// A client of every region, as a moved workload or the failover
    /// endpoint may send to any of them.
    clients: BTreeMap<String, MeridianClient<Channel>>,
    /// The workload's `concurrency`: a request holds one while in flight.
    slots: Arc<Semaphore>,
    tally: Arc<Mutex<Tally>>,
    table: String,
    item_bytes: usize,
    ttl: bool,
    /// Past this instant a put carries no expiry ([`expiring_until`]).
    expiring_until: Instant,
    /// Whether every operation's history is recorded.
    history: bool,
    clock: DrillClock,
}

impl Launcher {
    /// Starts `op` as the workload's request number `counter` on a task of
    /// its own in `inflight`, or, when it cannot be sent (no free slot, or
    /// an endpoint whose region is down), counts it failed at once.
    fn launch(&self, op: workload::Op, counter: u64, inflight: &mut JoinSet<()>) {
        let (region, via) = lock(&self.tally).serving(&self.home);
        let permit = match via {
            // The endpoint answers 503 itself: its region is down.
            Via::Unreachable => None,
            _ => self.slots.clone().try_acquire_owned().ok(),
        };
        let Some(permit) = permit else {
            lock(&self.tally).unsent(&region, via);
            return;
        };
        let via_endpoint = via == Via::Endpoint;
        let Some(client) = self.clients.get(&region).cloned() else {
            return;
        };
        let (tally, table) = (self.tally.clone(), self.table.clone());
        // One put in four carries an expiry 1 to 2 s ahead, while it
        // will pass before the workload ends.
        let expires = (self.ttl
            && op.kind == OpKind::Put
            && counter.is_multiple_of(4)
            && Instant::now() <= self.expiring_until)
            .then(|| self.clock.epoch_micros_now() / 1_000_000 + 2);
        let (fence, partitioned) = lock(&tally).start(self.index, &region);
        let dispatch = Dispatch {
            client,
            table,
            region,
            op,
            shape: (counter, self.item_bytes, expires),
            history: self.history,
            index: self.index,
            partitioned,
            fence,
            via_endpoint,
            tally,
            permit,
        };
        inflight.spawn(dispatch.run(self.clock));
    }
}

/// One workload request on its own task: what it is sent with, and what
/// its answer is counted against when it comes back.
struct Dispatch {
    client: MeridianClient<Channel>,
    table: String,
    region: String,
    op: workload::Op,
    /// The request's counter, the items' size and a put's expiry, as
    /// [`run_op`] takes them.
    shape: (u64, usize, Option<u64>),
    /// Whether every operation's history is recorded.
    history: bool,
    /// The index of the region whose workload sent it.
    index: usize,
    partitioned: bool,
    fence: (u64, u64),
    via_endpoint: bool,
    tally: Arc<Mutex<Tally>>,
    /// The workload's slot, held until the answer is tallied.
    permit: OwnedSemaphorePermit,
}

impl Dispatch {
    /// Sends the request, giving up after [`REQUEST_TIMEOUT`], and counts
    /// its answer in the tally, its history and the failover endpoint's.
    async fn run(self, clock: DrillClock) {
        let Dispatch {
            client,
            table,
            region,
            op,
            shape,
            history,
            index,
            partitioned,
            fence,
            via_endpoint,
            tally,
            permit,
        } = self;
        let invoked = clock.micros_since_start();
        let mut calls = Vec::new();
        let request = run_op(
            client,
            &table,
            &region,
            &op,
            shape,
            history.then_some(&mut calls),
        );
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, request).await;
        let timed_out = answer.is_err();
        let result = answer.unwrap_or(Err(Fail::Unknown));
        let completed = clock.micros_since_start();
        let mut t = lock(&tally);
        if let Some(h) = t.history.as_mut().filter(|_| !calls.is_empty()) {
            h.record(Record {
                region: index,
                invoked,
                completed,
                partitioned,
                calls,
                end: end_of(&result),
            });
        }
        t.attempted += 1;
        t.in_flight -= 1;
        if via_endpoint && let Some(e) = t.endpoint.as_mut() {
            // Any answer of the region, an error too, was
            // forwarded; none within the timeout (its region went
            // down with the request in flight) was not, as the
            // real endpoint's forward that times out.
            e.count(!timed_out, completed.saturating_sub(invoked));
        }
        t.settle(&op, &region, &table, result, fence);
        drop(permit);
    }
}

impl Tally {
    /// Where `home`'s workload is sent now, and how: where the failover
    /// endpoint forwards if it fronts `home`, else where a `move-traffic`
    /// event sent it, else `home` itself.
    pub(crate) fn serving(&self, home: &str) -> (String, Via) {
        if let Some(e) = self.endpoint.as_ref().filter(|e| e.home() == home) {
            let via = match e.reachable() {
                true => Via::Endpoint,
                false => Via::Unreachable,
            };
            return (e.active().to_string(), via);
        }
        let region = self.moved.get(home).map_or(home, String::as_str);
        (region.to_string(), Via::Direct)
    }

    /// A request of the workload never sent: refused by the drill's own
    /// concurrency limit, or by the failover endpoint, whose region is
    /// down. It failed, and was surely not applied.
    fn unsent(&mut self, region: &str, via: Via) {
        self.attempted += 1;
        self.failed += 1;
        *self.failed_by_region.entry(region.to_string()).or_default() += 1;
        if let (Via::Unreachable, Some(e)) = (via, self.endpoint.as_mut()) {
            e.count(false, 0);
        }
    }

    /// A `move-traffic` event: `from`'s workload goes to `to` from now on.
    pub(crate) fn move_traffic(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.moved.insert(from.to_string(), to.to_string());
        Ok(())
    }

    /// The report's count of the workload's requests; updates rejected by
    /// their condition are counted apart, as `update-rejected`.
    pub(crate) fn report(&self) -> meridian_scenario::report::WorkloadReport {
        let mut w = meridian_scenario::report::WorkloadReport {
            attempted: self.attempted,
            acked: self.acked,
            failed: self.failed,
            throttled_by_region: self.throttled_by_region.clone(),
            by_op: self.by_op.clone(),
            by_region: self.by_region.clone(),
            ..Default::default()
        };
        if self.rejected > 0 {
            w.by_op.insert("update-rejected".into(), self.rejected);
        }
        w
    }

    /// A request starts in `region` (the workload's `index`th): counted in
    /// flight, with the region's fence and loss counts as they stand (the
    /// answer is weighed against them in [`Tally::settle`]) and whether
    /// the history has the region cut off from its peers.
    fn start(&mut self, index: usize, region: &str) -> ((u64, u64), bool) {
        self.in_flight += 1;
        let partitioned = self.history.as_ref().is_some_and(|h| h.partitioned(index));
        let fence = self.fences.get(region).copied().unwrap_or(0);
        let loss = self.losses.get(region).copied().unwrap_or(0);
        ((fence, loss), partitioned)
    }

    /// Counts the answer to `op` in `region`, and hands what it wrote to
    /// the oracle; `fence` is [`Tally::start`]'s.
    fn settle(
        &mut self,
        op: &workload::Op,
        region: &str,
        table: &str,
        result: Result<Outcome, Fail>,
        fence: (u64, u64),
    ) {
        // Answered across a restart that fenced the region off: as
        // if it had timed out.
        let (fence, loss) = fence;
        let result = match result {
            Ok(Outcome::Acked(_)) if self.fences.get(region).copied().unwrap_or(0) != fence => {
                Err(Fail::Unknown)
            }
            Ok(Outcome::Read(_)) => Ok(Outcome::Acked(Vec::new())),
            r => r,
        };
        match result {
            Ok(Outcome::Read(_)) => {}
            Ok(Outcome::Acked(writes)) => {
                self.acked += 1;
                *self.by_op.entry(op.kind.as_str().into()).or_default() += 1;
                *self.by_region.entry(region.to_string()).or_default() += 1;
                let across = self.losses.get(region).copied().unwrap_or(0) != loss;
                for w in writes {
                    if across {
                        self.acked_across_loss
                            .entry(region.to_string())
                            .or_default()
                            .insert(w.version.clone());
                    }
                    self.oracle.record(w);
                }
            }
            Ok(Outcome::Rejected) => self.rejected += 1,
            Err(Fail::Throttled) => {
                // Refused before it was run: nothing to doubt.
                self.failed += 1;
                *self.failed_by_region.entry(region.to_string()).or_default() += 1;
                *self
                    .throttled_by_region
                    .entry(region.to_string())
                    .or_default() += 1;
            }
            Err(_) => {
                self.failed += 1;
                *self.failed_by_region.entry(region.to_string()).or_default() += 1;
                // A delete whose outcome no client saw may have
                // been applied, alone or in a transaction.
                let deleted = (op.kind == OpKind::Delete)
                    .then_some(op.key)
                    .into_iter()
                    .chain(op.also.iter().filter(|(_, d)| *d).map(|&(k, _)| k));
                for key in deleted {
                    if let Ok(k) = schema().key_of(&workload::key_item(key)) {
                        self.oracle.record_uncertain_delete(table, k);
                    }
                }
            }
        }
    }
}

/// How a request ended, as the history records it.
fn end_of(result: &Result<Outcome, Fail>) -> End {
    match result {
        Ok(Outcome::Acked(w)) => End::Written(w.iter().map(|w| w.version.clone()).collect()),
        Ok(Outcome::Read(a)) => End::Read(a.clone()),
        Ok(Outcome::Rejected) => End::ConditionFailed,
        Err(f) => End::Failed(*f),
    }
}

enum Outcome {
    /// The writes the region acknowledged: one, several for a
    /// transaction, none for a read.
    Acked(Vec<AckedWrite>),
    /// A conditional update lost to a concurrent write in the same region.
    Rejected,
    /// A strongly consistent read's answer (history only).
    Read(ReadAnswer),
}

/// The drill's tag in an item (history only): the operation that wrote it.
fn tag_of(item: &Item) -> Option<u64> {
    match item.get(workload::TAG_ATTR)? {
        meridian_core::AttrValue::N(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// Runs one operation; with `calls`, tags every item it writes with
/// `counter`, reads strongly consistently, and says per key what it asks.
async fn run_op(
    client: MeridianClient<Channel>,
    table: &str,
    region: &str,
    op: &workload::Op,
    (counter, item_bytes, expires): (u64, usize, Option<u64>),
    calls: Option<&mut Vec<(u64, Call)>>,
) -> Result<Outcome, Fail> {
    let mut request = Request {
        client,
        table,
        region,
        counter,
        item_bytes,
        tagged: calls.is_some(),
        schema: schema(),
    };
    match op.kind {
        OpKind::Transact => request.transact(op, calls).await,
        OpKind::Put => request.put(op.key, expires, calls).await,
        OpKind::Delete => request.delete(op.key, calls).await,
        OpKind::Get => request.get(op.key, calls).await,
        OpKind::Update => request.update(op.key, calls).await,
    }
}

/// What every kind of operation's request shares: where it goes, the
/// `counter` its items carry, and whether the history is kept (`tagged`:
/// items carry their counter as a tag, reads are strongly consistent).
struct Request<'a> {
    client: MeridianClient<Channel>,
    table: &'a str,
    region: &'a str,
    counter: u64,
    item_bytes: usize,
    tagged: bool,
    schema: KeySchema,
}

fn failed(e: tonic::Status) -> Fail {
    Fail::of(&e)
}

impl Request<'_> {
    /// `item` with the operation's tag when the history is kept.
    fn tag(&self, mut item: Item) -> Item {
        if self.tagged {
            item.insert(workload::TAG_ATTR.into(), workload::number(self.counter));
        }
        item
    }

    fn encoded(&self, item: &Item) -> Result<EncodedKey, Fail> {
        self.schema.key_of(item).map_err(|_| Fail::Unknown)
    }

    /// The write the region acknowledged to `key` with `r`.
    fn write(
        &self,
        key: EncodedKey,
        r: &pb::WriteResponse,
        image: Option<Item>,
    ) -> Result<AckedWrite, Fail> {
        Ok(AckedWrite {
            table: self.table.to_string(),
            key,
            version: version_of(&r.version).ok_or(Fail::Unknown)?,
            prev: version_of(&r.prev),
            image,
            seen_through: version_of(&r.seen_through).map(|v| v.hlc),
        })
    }

    fn acked(
        &self,
        key: EncodedKey,
        r: pb::WriteResponse,
        image: Option<Item>,
    ) -> Result<Outcome, Fail> {
        Ok(Outcome::Acked(vec![self.write(key, &r, image)?]))
    }

    /// Several keys written in one transaction: the first key is always
    /// put, the others put or deleted as drawn; every item of one
    /// transaction carries its counter.
    async fn transact(
        &mut self,
        op: &workload::Op,
        mut calls: Option<&mut Vec<(u64, Call)>>,
    ) -> Result<Outcome, Fail> {
        let counter = self.counter;
        let writes: Vec<(Item, Option<Item>)> = std::iter::once((op.key, false))
            .chain(op.also.iter().copied())
            .map(|(k, delete)| {
                if let Some(c) = calls.as_deref_mut() {
                    let value = (!delete).then_some(counter);
                    c.push((
                        k,
                        Call::Write {
                            value,
                            expect: Expect::Any,
                        },
                    ));
                }
                if delete {
                    (workload::key_item(k), None)
                } else {
                    let item = self.tag(workload::item(k, self.region, counter, self.item_bytes));
                    (workload::key_item(k), Some(item))
                }
            })
            .collect();
        let ops = writes
            .iter()
            .map(|(k, image)| pb::BatchWriteOp {
                op: Some(match image {
                    Some(item) => pb::batch_write_op::Op::Put(meridian_core::encode_item(item)),
                    None => pb::batch_write_op::Op::DeleteKey(meridian_core::encode_item(k)),
                }),
            })
            .collect();
        let r = self
            .client
            .batch_write(pb::BatchWriteRequest {
                table: self.table.into(),
                ops,
            })
            .await
            .map_err(failed)?
            .into_inner();
        if r.results.len() != writes.len() {
            return Err(Fail::Unknown);
        }
        let acked = writes
            .into_iter()
            .zip(&r.results)
            .map(|((k, image), r)| self.write(self.encoded(&k)?, r, image))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Outcome::Acked(acked))
    }

    /// An unconditional put, with an expiry at `expires` if any.
    async fn put(
        &mut self,
        key: u64,
        expires: Option<u64>,
        calls: Option<&mut Vec<(u64, Call)>>,
    ) -> Result<Outcome, Fail> {
        if let Some(c) = calls {
            c.push((
                key,
                Call::Write {
                    value: Some(self.counter),
                    expect: Expect::Any,
                },
            ));
        }
        let mut item = self.tag(workload::item(
            key,
            self.region,
            self.counter,
            self.item_bytes,
        ));
        if let Some(at) = expires {
            item.insert(workload::TTL_ATTR.into(), workload::number(at));
        }
        let r = self
            .client
            .put_item(pb::PutItemRequest {
                table: self.table.into(),
                item: meridian_core::encode_item(&item),
                condition: None,
            })
            .await
            .map_err(failed)?
            .into_inner();
        self.acked(self.encoded(&item)?, r, Some(item))
    }

    /// An unconditional delete.
    async fn delete(
        &mut self,
        key: u64,
        calls: Option<&mut Vec<(u64, Call)>>,
    ) -> Result<Outcome, Fail> {
        if let Some(c) = calls {
            c.push((
                key,
                Call::Write {
                    value: None,
                    expect: Expect::Any,
                },
            ));
        }
        let k = workload::key_item(key);
        let r = self
            .client
            .delete_item(pb::DeleteItemRequest {
                table: self.table.into(),
                key: meridian_core::encode_item(&k),
                condition: None,
            })
            .await
            .map_err(failed)?
            .into_inner();
        self.acked(self.encoded(&k)?, r, None)
    }

    /// A read: strongly consistent when the history is kept, each read
    /// then an observation the checker holds the table to.
    async fn get(
        &mut self,
        key: u64,
        calls: Option<&mut Vec<(u64, Call)>>,
    ) -> Result<Outcome, Fail> {
        if let Some(c) = calls {
            c.push((key, Call::Read));
        }
        let got = self
            .client
            .get_item(pb::GetItemRequest {
                table: self.table.into(),
                key: meridian_core::encode_item(&workload::key_item(key)),
                consistent: self.tagged,
            })
            .await
            .map_err(failed)?
            .into_inner();
        if !self.tagged {
            return Ok(Outcome::Acked(Vec::new()));
        }
        let answer = match got.item {
            None => None,
            Some(stored) => {
                let item = meridian_core::decode_item(&stored.item).map_err(|_| Fail::Unknown)?;
                let v = version_of(&stored.version).ok_or(Fail::Unknown)?;
                Some((v, tag_of(&item)))
            }
        };
        Ok(Outcome::Read(answer))
    }

    /// A read, then a put conditional on the version it read (or on the
    /// item's absence) that bumps the item's counter: rejected when a
    /// concurrent write in the region got there first.
    async fn update(
        &mut self,
        key: u64,
        calls: Option<&mut Vec<(u64, Call)>>,
    ) -> Result<Outcome, Fail> {
        let got = self
            .client
            .get_item(pb::GetItemRequest {
                table: self.table.into(),
                key: meridian_core::encode_item(&workload::key_item(key)),
                consistent: false,
            })
            .await
            .map_err(failed)?
            .into_inner();
        let (n, condition, expect) = match got.item {
            Some(stored) => {
                let current =
                    meridian_core::decode_item(&stored.item).map_err(|_| Fail::Unknown)?;
                let v = version_of(&stored.version).ok_or(Fail::Unknown)?;
                (
                    workload::counter_of(&current) + 1,
                    pb::condition::Kind::VersionEquals(version_to_pb(&v)),
                    tag_of(&current).map(Expect::Value),
                )
            }
            None => (
                1,
                pb::condition::Kind::MustNotExist(true),
                Some(Expect::Absent),
            ),
        };
        // An item with no tag was written outside the history: the
        // write is made, and not checked.
        if let (Some(c), Some(expect)) = (calls, expect) {
            c.push((
                key,
                Call::Write {
                    value: Some(self.counter),
                    expect,
                },
            ));
        }
        let item = self.tag(workload::item(key, self.region, n, self.item_bytes));
        match self
            .client
            .put_item(pb::PutItemRequest {
                table: self.table.into(),
                item: meridian_core::encode_item(&item),
                condition: Some(pb::Condition {
                    kind: Some(condition),
                }),
            })
            .await
        {
            Ok(r) => self.acked(self.encoded(&item)?, r.into_inner(), Some(item)),
            Err(e) if e.code() == tonic::Code::FailedPrecondition => Ok(Outcome::Rejected),
            Err(e) => Err(Fail::of(&e)),
        }
    }
}
