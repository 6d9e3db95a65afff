//! An application's invariant under replication (`[workload] orders`):
//! "every order line has its header".
//!
//! A shop writes an order's header, and once that is acknowledged, the
//! order's lines in one multi-item request. In the region that took them
//! no line is ever without its header. Elsewhere that holds only if
//! replication keeps the order of writes across items, which DynamoDB
//! global tables do not promise: items replicate individually and each
//! partition in parallel (the developer guide's *Best practices for global
//! table design*), and the items of one transaction become visible at
//! different times (*Using transactional APIs with global tables*). So in
//! partition order (the default) another region may show a line before its
//! header, or some lines of an order and not the others, and in log order
//! it never does on a healthy link.
//!
//! Each region that runs the workload places orders at the scenario's
//! rate, one at a time, in a table of their own ([`TABLE`]) so the drill's
//! own checks are untouched. After an order's lines are acknowledged, a
//! reader in every other region polls for its first line; when it sees
//! it, it reads the header and the other lines there. A line without its
//! header is a **broken** invariant; an order seen with some of its lines
//! missing is a **torn** one. Both are what AWS allows, so they are
//! reported, not failed: the comparison scenario (`orders-vs-log`) shows
//! them under one order and not the other.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::{AttrValue, Item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_scenario::report::{OrderLink, OrdersReport};
use meridian_scenario::scenario::{Scenario, Table};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::target::RegionTarget;
use crate::workload::KEY_ATTR;

/// The orders' table, apart from the drill's.
pub const TABLE: &str = "drill-orders";
/// How long a reader looks for an order's first line in its region.
const LOOK_FOR: Duration = Duration::from_secs(3);
/// Between looks: fine at first, where reorderings show, then coarser.
const FIRST_POLLS: u32 = 40;
const FINE_POLL: Duration = Duration::from_millis(1);
const COARSE_POLL: Duration = Duration::from_millis(20);

/// What the readers saw, per directed link (origin, reader).
#[derive(Default)]
struct Tally {
    placed: u64,
    links: BTreeMap<(String, String), OrderLink>,
}

/// The orders under way: stopped with the workload, then reported.
pub struct Orders {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    tally: Arc<Mutex<Tally>>,
}

/// Creates the orders' table in the workload's replicas (EVENTUAL, as an
/// application's own table would be) when the scenario places orders.
pub(crate) async fn set_up(scenario: &Scenario, regions: &[RegionTarget]) -> Result<(), String> {
    if scenario.workload.orders == 0 {
        return Ok(());
    }
    crate::table::create(
        regions,
        TABLE,
        &scenario.workload.replicas,
        (None, false),
        &Table::default(),
    )
    .await
    .map(|_| ())
}

impl Orders {
    /// Starts one order-placing task per region that runs the workload;
    /// `None` when the scenario places no orders.
    pub(crate) fn start(scenario: &Scenario, regions: &[RegionTarget]) -> Option<Orders> {
        let rate = scenario.workload.orders;
        if rate == 0 {
            return None;
        }
        let (stop, stop_rx) = watch::channel(false);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let holders: Vec<RegionTarget> = regions
            .iter()
            .filter(|r| scenario.workload.replicas.contains(&r.name))
            .cloned()
            .collect();
        let tasks = holders
            .iter()
            .enumerate()
            .map(|(i, origin)| {
                let readers: Vec<RegionTarget> = holders
                    .iter()
                    .filter(|r| r.name != origin.name)
                    .cloned()
                    .collect();
                tokio::spawn(place(
                    origin.clone(),
                    readers,
                    Duration::from_secs(1) / rate,
                    i as u64,
                    tally.clone(),
                    stop_rx.clone(),
                ))
            })
            .collect();
        Some(Orders { stop, tasks, tally })
    }

    /// Stops placing orders; readers of those placed go on.
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops placing orders, lets the readers of the last ones finish, and
    /// reports.
    pub(crate) async fn finish(self) -> OrdersReport {
        self.stop();
        for t in self.tasks {
            let _ = t.await;
        }
        let tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        OrdersReport {
            placed: tally.placed,
            links: tally.links.values().cloned().collect(),
        }
    }
}

fn item(key: &str, attrs: &[(&str, &str)]) -> Vec<u8> {
    let mut item = Item::new();
    item.insert(KEY_ATTR.into(), AttrValue::S(key.into()));
    for (k, v) in attrs {
        item.insert((*k).into(), AttrValue::S((*v).into()));
    }
    meridian_core::encode_item(&item)
}

fn key(key: &str) -> Vec<u8> {
    item(key, &[])
}

/// Places orders from `origin` every `every` until stopped; each order's
/// readers run beside the next orders.
async fn place(
    origin: RegionTarget,
    readers: Vec<RegionTarget>,
    every: Duration,
    salt: u64,
    tally: Arc<Mutex<Tally>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut client = MeridianClient::new(origin.channel.clone());
    let mut looks = Vec::new();
    // Regions start their orders a little apart.
    let mut next = Instant::now() + every.mul_f64(0.1 * (salt % 10) as f64);
    for n in 0u64.. {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => break,
        }
        next += every;
        if *stop.borrow() {
            break;
        }
        let header = format!("o:{}:{n}", origin.name);
        let lines: Vec<String> = (1..=2 + n % 3).map(|i| format!("{header}:l{i}")).collect();
        let put = client
            .put_item(pb::PutItemRequest {
                table: TABLE.into(),
                item: item(&header, &[("kind", "header")]),
                condition: None,
            })
            .await;
        if put.is_err() {
            continue;
        }
        let ops = lines
            .iter()
            .map(|l| pb::BatchWriteOp {
                op: Some(pb::batch_write_op::Op::Put(item(
                    l,
                    &[("kind", "line"), ("order", header.as_str())],
                ))),
            })
            .collect();
        let written = client
            .batch_write(pb::BatchWriteRequest {
                table: TABLE.into(),
                ops,
            })
            .await;
        if written.is_err() {
            continue;
        }
        tally.lock().unwrap_or_else(|p| p.into_inner()).placed += 1;
        looks.retain(|t: &JoinHandle<()>| !t.is_finished());
        for r in &readers {
            looks.push(tokio::spawn(look(
                origin.name.clone(),
                r.clone(),
                header.clone(),
                lines.clone(),
                tally.clone(),
            )));
        }
    }
    for t in looks {
        let _ = t.await;
    }
}

/// Polls `reader` for the order's first line; once it shows, reads the
/// header and the other lines there, and records what it saw.
async fn look(
    origin: String,
    reader: RegionTarget,
    header: String,
    lines: Vec<String>,
    tally: Arc<Mutex<Tally>>,
) {
    let mut client = MeridianClient::new(reader.channel.clone());
    let deadline = Instant::now() + LOOK_FOR;
    let mut polls = 0u32;
    let present = |r: Result<tonic::Response<pb::GetItemResponse>, tonic::Status>| {
        r.ok().map(|r| r.into_inner().item.is_some())
    };
    let get = |k: &str| pb::GetItemRequest {
        table: TABLE.into(),
        key: key(k),
        consistent: false,
    };
    let seen = loop {
        if let Some(true) = present(client.get_item(get(&lines[0])).await) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        polls += 1;
        let pause = if polls < FIRST_POLLS {
            FINE_POLL
        } else {
            COARSE_POLL
        };
        tokio::time::sleep(pause).await;
    };
    let (mut broken, mut torn) = (false, false);
    if seen {
        broken = present(client.get_item(get(&header)).await) == Some(false);
        for l in &lines[1..] {
            if present(client.get_item(get(l)).await) == Some(false) {
                torn = true;
            }
        }
    }
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    let link = t
        .links
        .entry((origin.clone(), reader.name.clone()))
        .or_insert_with(|| OrderLink {
            from: origin,
            to: reader.name.clone(),
            ..OrderLink::default()
        });
    link.checked += u64::from(seen);
    link.unseen += u64::from(!seen);
    link.broken += u64::from(broken);
    link.torn += u64::from(torn);
}
