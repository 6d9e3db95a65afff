//! `bench tls`: replication over mutual TLS against plaintext, two
//! clusters side by side in alternating phases.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::Common;
use super::cluster::Cluster;
use super::phase::{add_cpu, phase, q_ms};
use super::report::Report;

#[derive(Args)]
pub struct TlsArgs {
    #[command(flatten)]
    common: Common,
    /// Writes per second per region (single-item PutItem).
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Seconds of writing per phase.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Concurrent clients per region.
    #[arg(long, default_value_t = 32)]
    clients: usize,
}

/// `bench tls`: the same writes replicated in plaintext and over mutual
/// TLS, by two clusters started side by side (both through link proxies
/// with no faults), one loaded at a time, in alternating phases.
pub async fn tls(a: TlsArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let (rate, secs) = if smoke { (200, 1) } else { (a.rate, a.secs) };
    let mut r = Report::new(
        "tls",
        smoke,
        reps,
        json!({"rate_per_region": rate, "secs": secs, "clients": a.clients}),
    );
    r.machine = a.common.machine()?;
    let dir = a.common.tempdir()?;
    let (plain_dir, tls_dir) = (dir.path().join("plain"), dir.path().join("tls"));
    for d in [&plain_dir, &tls_dir] {
        std::fs::create_dir_all(d)?;
    }
    let plain = Cluster::start(3, true, &plain_dir).await?;
    let certs = dir.path().join("certs");
    let mut issued = Ok(());
    let tls = match Cluster::start_with(3, true, &tls_dir, |f| {
        issued = meridian_cluster::local::enable_tls(f, &certs);
    })
    .await
    {
        Ok(c) => c,
        Err(e) => {
            plain.shutdown().await;
            issued?;
            return Err(e);
        }
    };
    let result = async {
        for c in [&plain, &tls] {
            c.create_table().await?;
        }
        for rep in 0..reps {
            let (mut p99, mut cpu) = ([0.0; 2], [0.0; 2]);
            for (i, (tag, c)) in [("plaintext", &plain), ("TLS", &tls)]
                .into_iter()
                .enumerate()
            {
                let p = phase(c, rate, secs, a.clients, &format!("{tag}{rep}")).await?;
                r.add(
                    &format!("{tag} achieved rate/region"),
                    "writes/s",
                    p.achieved,
                );
                r.add(&format!("{tag} p50"), "ms", q_ms(&p.all, 0.5));
                r.add(&format!("{tag} p99"), "ms", q_ms(&p.all, 0.99));
                add_cpu(&mut r, tag, &p.cpu);
                p99[i] = q_ms(&p.all, 0.99);
                cpu[i] = p.cpu.region_per_write_us;
                r.runs.push(json!({
                    "rep": rep, "tls": i == 1, "achieved": p.achieved,
                    "p50_ms": q_ms(&p.all, 0.5), "p99_ms": p99[i],
                    "region_cpu_per_write_us": p.cpu.region_per_write_us,
                }));
            }
            r.add(
                "TLS p99 / plaintext p99",
                "ratio",
                p99[1] / p99[0].max(1e-3),
            );
            r.add(
                "TLS / plaintext region CPU/write",
                "ratio",
                cpu[1] / cpu[0].max(1e-3),
            );
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    plain.shutdown().await;
    tls.shutdown().await;
    result?;
    r.target(
        "TLS costs the regions at most a quarter more CPU per write",
        "TLS / plaintext region CPU/write",
        false,
        1.25,
    );
    r.target(
        "TLS adds at most half to replication p99",
        "TLS p99 / plaintext p99",
        false,
        1.5,
    );
    r.notes.push(
        "two clusters side by side, one loaded at a time: plaintext first in each repetition, then TLS, at the same rate; ratios per repetition".into(),
    );
    r.finish(&a.common.out)?;
    Ok(())
}
