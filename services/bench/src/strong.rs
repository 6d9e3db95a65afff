//! `bench strong`: writes to a STRONG table against the same writes to an
//! EVENTUAL table in the same cluster and run (docs/strong.md): the
//! latency of an uncontended write from the leader's region and from
//! another, and of a strongly consistent read in a region that did not
//! take the write, with every link at one-way latency L = 0 and L; the
//! write throughput at L = 0; and the share of writes refused with
//! ReplicatedWriteConflictException when two regions race on hot keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use hdrhistogram::Histogram;
use meridian_proto::v1 as pb;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::{Cluster, TABLE};
use super::load::{item, key_bytes};
use super::phase::{CpuMeter, PhaseCpu, add_cpu};
use super::report::{Report, ms};

/// The STRONG table beside the EVENTUAL one ([`TABLE`]).
const STRONG: &str = "bench_strong";

#[derive(Args, Debug)]
pub struct StrongArgs {
    #[command(flatten)]
    common: Common,
    /// Sequential writes per latency measurement.
    #[arg(long, default_value_t = 300)]
    writes: u64,
    /// Injected one-way latency L in ms for the second latency phase.
    #[arg(long, default_value_t = 40)]
    latency_ms: u64,
    /// Seconds of the throughput and race phases.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Concurrent clients of the throughput phase.
    #[arg(long, default_value_t = 32)]
    clients: usize,
}

/// On three regions, per repetition: sequential writes to an EVENTUAL and
/// a STRONG table at L = 0 and L from two regions, consistent reads, both
/// tables flat out, and a two-region race on hot keys.
pub async fn strong(a: StrongArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let (writes, secs) = if smoke { (20, 1) } else { (a.writes, a.secs) };
    let lat = a.latency_ms;
    let mut r = Report::new(
        "strong",
        smoke,
        reps,
        json!({"writes": writes, "latency_ms": lat, "secs": secs, "clients": a.clients}),
    );
    r.machine = a.common.machine()?;
    let dir = a.common.tempdir()?;
    let cluster = Cluster::start(3, true, dir.path()).await?;
    let result = async {
        cluster.create_table().await?;
        create_strong(&cluster).await?;
        for rep in 0..reps {
            for l in [0, lat] {
                cluster.set_latency(l).await?;
                for (mode, table) in [("EVENTUAL", TABLE), ("STRONG", STRONG)] {
                    // From the first leader's region, then from another.
                    for from in [0, 1] {
                        let tag = format!("L={l}ms {mode} write from region {from}");
                        let h = sequential_writes(&cluster, from, table, writes, &tag).await?;
                        r.add(&format!("{tag} p50"), "ms", ms(h.value_at_quantile(0.5)));
                        r.add(&format!("{tag} p99"), "ms", ms(h.value_at_quantile(0.99)));
                    }
                }
                let tag = format!("L={l}ms STRONG consistent read in region 2");
                let h = consistent_reads(&cluster, 2, writes, &format!("rd{rep}{l}")).await?;
                r.add(&format!("{tag} p50"), "ms", ms(h.value_at_quantile(0.5)));
                r.add(&format!("{tag} p99"), "ms", ms(h.value_at_quantile(0.99)));
            }
            cluster.set_latency(0).await?;
            let mut rates = Vec::new();
            for (mode, table) in [("EVENTUAL", TABLE), ("STRONG", STRONG)] {
                let f = flat_out(&cluster, table, a.clients, secs, &format!("tp{rep}")).await?;
                r.add(
                    &format!("L=0ms {mode} writes/s from region 0"),
                    "writes/s",
                    f.rate,
                );
                add_cpu(&mut r, &format!("L=0ms {mode} flat out:"), &f.cpu);
                rates.push(f.rate);
            }
            r.add(
                "L=0ms STRONG / EVENTUAL writes/s",
                "ratio",
                rates[1] / rates[0].max(1.0),
            );
            let (done, refused) = race(&cluster, secs).await?;
            r.add(
                "race on 10 hot keys: writes refused (ReplicatedWriteConflict)",
                "%",
                100.0 * refused as f64 / (done + refused).max(1) as f64,
            );
            r.runs
                .push(json!({"rep": rep, "race_written": done, "race_refused": refused}));
        }
        anyhow::Ok(())
    }
    .await;
    cluster.shutdown().await;
    result?;
    targets_and_notes(&mut r, lat);
    r.finish(&a.common.out)?;
    Ok(())
}

/// The STRONG table's latency targets against L, its throughput against
/// EVENTUAL's, and what the figures mean.
fn targets_and_notes(r: &mut Report, lat: u64) {
    let two_l = (2 * lat) as f64;
    for from in [0, 1] {
        let m = format!("L={lat}ms STRONG write from region {from}");
        r.target(
            &format!("uncontended p50 ≤ 2L + 5 ms = {} ms", two_l + 5.0),
            &format!("{m} p50"),
            false,
            two_l + 5.0,
        );
        r.target(
            &format!("uncontended p99 ≤ 2L + 20 ms = {} ms", two_l + 20.0),
            &format!("{m} p99"),
            false,
            two_l + 20.0,
        );
        r.target(
            "uncontended p99 ≤ 10 ms at L = 0",
            &format!("L=0ms STRONG write from region {from} p99"),
            false,
            10.0,
        );
    }
    r.target(
        "STRONG throughput ≥ 0.5 × EVENTUAL at L = 0",
        "L=0ms STRONG / EVENTUAL writes/s",
        true,
        0.5,
    );
    r.notes.push(
        "region 0 took the CreateTable that made the table STRONG and leads it; region 1's writes go to it and come back chosen: one round trip either way (docs/strong.md)".into(),
    );
    r.notes.push(
        "each latency phase writes distinct keys one at a time from one client: uncontended".into(),
    );
}

async fn create_strong(cluster: &Cluster) -> Result<()> {
    cluster
        .client(0)?
        .create_table(pb::CreateTableRequest {
            indexes: Vec::new(),
            name: STRONG.into(),
            partition_key: Some(pb::KeyAttr {
                name: "id".into(),
                r#type: "S".into(),
            }),
            sort_key: None,
            replicas: cluster.names.clone(),
            stream_view_type: String::new(),
            consistency: "STRONG".into(),
            witness: String::new(),
            provisioned: None,
        })
        .await
        .context("CreateTable STRONG")?;
    // Every member votes and follows a leader before anything is measured.
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..cluster.names.len() {
        loop {
            let s = cluster
                .admin(i)
                .status(pb::StatusRequest {})
                .await?
                .into_inner();
            if s.strong
                .iter()
                .any(|t| t.table == STRONG && t.standing == "voter" && !t.leader.is_empty())
            {
                break;
            }
            if Instant::now() >= deadline {
                bail!("{} did not join {STRONG} within 30 s", cluster.names[i]);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

async fn put(
    c: &mut pb::meridian_client::MeridianClient<tonic::transport::Channel>,
    table: &str,
    id: &str,
) -> Result<(), tonic::Status> {
    c.put_item(pb::PutItemRequest {
        table: table.into(),
        item: item(id),
        condition: None,
    })
    .await
    .map(|_| ())
}

/// `n` writes of distinct keys, one at a time, from region `from`: each
/// write's latency in µs.
async fn sequential_writes(
    cluster: &Cluster,
    from: usize,
    table: &str,
    n: u64,
    tag: &str,
) -> Result<Histogram<u64>> {
    let mut c = cluster.client(from)?;
    let mut h = histogram();
    for i in 0..n {
        let started = Instant::now();
        put(&mut c, table, &format!("{tag}-{i}")).await?;
        h.record(started.elapsed().as_micros().max(1) as u64)?;
    }
    Ok(h)
}

/// A write in region 0, then a strongly consistent read of it in region
/// `at`: the read's latency in µs, and a check that it saw the write.
async fn consistent_reads(
    cluster: &Cluster,
    at: usize,
    n: u64,
    tag: &str,
) -> Result<Histogram<u64>> {
    let (mut w, mut rd) = (cluster.client(0)?, cluster.client(at)?);
    let mut h = histogram();
    for i in 0..n {
        let id = format!("{tag}-{i}");
        put(&mut w, STRONG, &id).await?;
        let started = Instant::now();
        let got = rd
            .get_item(pb::GetItemRequest {
                table: STRONG.into(),
                key: key_bytes(&id),
                consistent: true,
            })
            .await?
            .into_inner();
        h.record(started.elapsed().as_micros().max(1) as u64)?;
        if got.item.is_none() {
            bail!(
                "a strongly consistent read in {} missed a chosen write",
                cluster.names[at]
            );
        }
    }
    Ok(h)
}

/// What a flat-out phase achieved (writes per second) and what it cost.
struct FlatOut {
    rate: f64,
    cpu: PhaseCpu,
}

/// Writes from `clients` clients at region 0, flat out, for `secs`.
async fn flat_out(
    cluster: &Cluster,
    table: &str,
    clients: usize,
    secs: u64,
    tag: &str,
) -> Result<FlatOut> {
    let meter = CpuMeter::start(cluster)?;
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = cluster.client(0)?;
        let (done, table, tag) = (done.clone(), table.to_string(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < until {
                i += 1;
                if put(&mut client, &table, &format!("{tag}-{c}-{i}"))
                    .await
                    .is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let n = done.load(Ordering::Relaxed);
    Ok(FlatOut {
        rate: n as f64 / started.elapsed().as_secs_f64(),
        cpu: meter.finish(cluster, n)?,
    })
}

/// Regions 0 and 1 write 10 hot keys of the STRONG table with 8 clients
/// each for `secs`: writes that took effect and writes refused as
/// conflicts.
async fn race(cluster: &Cluster, secs: u64) -> Result<(u64, u64)> {
    let (done, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for region in [0, 1] {
        for c in 0..8u64 {
            let mut client = cluster.client(region)?;
            let (done, refused) = (done.clone(), refused.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = c;
                while Instant::now() < until {
                    i += 1;
                    match put(&mut client, STRONG, &format!("hot-{}", i % 10)).await {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(s) if s.code() == tonic::Code::Aborted => {
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => 0,
                    };
                }
            }));
        }
    }
    for t in tasks {
        t.await?;
    }
    Ok((
        done.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    ))
}
