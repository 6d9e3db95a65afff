//! `bench backup`: a backup against a plain copy of the store's files,
//! writes while backups run against writes alone, and a point-in-time
//! restore.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use meridian_proto::v1 as pb;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::{Cluster, TABLE};
use super::load::{Load, Via, load_keys, load_table};
use super::probe::raw_copy;
use super::report::Report;

#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    common: Common,
    /// Items in the table (loaded with BatchWrite of 25).
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Concurrent BatchWrite clients for the loads.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of writes measured without, then with, backups running.
    #[arg(long, default_value_t = 5)]
    write_secs: u64,
    /// Time limit for each load and for the restore, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

/// Waits until region `i`'s restore of `table` has loaded every item, and
/// returns how many it loaded.
async fn restore_done(cluster: &Cluster, i: usize, table: &str, max: Duration) -> Result<u64> {
    use meridian_cluster::wait::{Step, poll};
    poll(
        "the restore did not finish",
        max,
        Duration::from_millis(50),
        || async {
            let list = cluster
                .admin(i)
                .list_backups(pb::ListBackupsRequest::default())
                .await;
            match list.map(|l| l.into_inner().restores) {
                Ok(restores) => match restores.into_iter().find(|r| r.table == table) {
                    Some(r) if !r.error.is_empty() => Step::Fail(r.error),
                    Some(r) if !r.in_progress => Step::Done(r.loaded),
                    Some(r) => Step::NotYet(format!("{} of {} loaded", r.loaded, r.total)),
                    None => Step::Fail(format!("no restore of {table}")),
                },
                Err(e) => Step::Fail(e.to_string()),
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))
}

/// A table of `items` items in one region: a backup of it against a plain
/// copy of the store's files; write throughput while backups run, against
/// the same load without them; and a restore to the point in time before
/// `items` overwrites, which the history must undo one by one.
pub async fn backup(a: BackupArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(1);
    let items = if smoke { 2_000 } else { a.items };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let write_for = Duration::from_secs(if smoke { 1 } else { a.write_secs });
    let mut r = Report::new(
        "backup",
        smoke,
        reps,
        json!({"items": items, "clients": a.clients, "batch": 25, "write_secs": write_for.as_secs(), "max_secs": max.as_secs()}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let cluster = Cluster::start_with(1, false, dir.path(), |_| {}).await?;
        let result = async {
            cluster.create_table().await?;
            load_table(&cluster, a.clients, items, max, "b-").await?;
            let copied = backup_against_copy(&cluster, dir.path()).await?;
            let beside = writes_beside_backups(&cluster, a.clients, items, write_for).await?;
            let restore = restore_to_before(&cluster, a.clients, items, max).await?;
            anyhow::Ok((copied, beside, restore))
        }
        .await;
        cluster.shutdown().await;
        let (copied, beside, restore) = result?;
        figures(&mut r, items, &copied, &beside, &restore);
        let (
            Copied {
                raw,
                raw_bytes,
                took,
                taken,
            },
            Beside {
                alone,
                beside,
                during,
            },
            Restore {
                changed,
                rebuilt,
                restore,
            },
        ) = (copied, beside, restore);
        r.runs.push(json!({
            "rep": rep, "raw_s": raw.as_secs_f64(), "raw_bytes": raw_bytes,
            "backup_s": took.as_secs_f64(), "backup_bytes": taken.size_bytes, "backup_items": taken.items,
            "alone_items": alone.items, "alone_s": alone.elapsed.as_secs_f64(),
            "beside_items": beside.items, "beside_s": beside.elapsed.as_secs_f64(), "backups_during": during,
            "history_rows": changed, "restore_rebuild_s": rebuilt.as_secs_f64(), "restore_s": restore.as_secs_f64(),
        }));
    }
    // A backup is taken online: writes must go on beside it. The restore's
    // time and rate are reported without a target; the 100,000 items/s
    // asked of a new replica is `bench fill`'s (a restore writes through
    // the write path, so its items reach every replica through the log).
    r.target(
        "≥ 0.5: writes go on while backups are taken back to back (a backup is online)",
        "writes while backups run / alone",
        true,
        0.5,
    );
    r.finish(&a.common.out)?;
    Ok(())
}

/// A plain copy of the store's files (the baseline) and a backup of the
/// table, each timed.
struct Copied {
    raw: Duration,
    raw_bytes: u64,
    took: Duration,
    taken: pb::BackupInfo,
}

async fn backup_against_copy(cluster: &Cluster, dir: &Path) -> Result<Copied> {
    let copy = dir.join("raw-copy");
    let t = Instant::now();
    let raw_bytes = raw_copy(&cluster.data_dir(0), &copy)?;
    let raw = t.elapsed();
    std::fs::remove_dir_all(&copy)?;
    let t = Instant::now();
    let taken = cluster
        .admin(0)
        .create_backup(pb::CreateBackupRequest {
            table: TABLE.into(),
            name: "bench".into(),
        })
        .await?
        .into_inner();
    let took = t.elapsed();
    Ok(Copied {
        raw,
        raw_bytes,
        took,
        taken,
    })
}

/// The same overwriting load alone and beside backups, with how many
/// backups were taken meanwhile.
struct Beside {
    alone: Load,
    beside: Load,
    during: u64,
}

/// The same overwriting load, alone and then beside backups taken back to
/// back, for `write_for` each.
async fn writes_beside_backups(
    cluster: &Cluster,
    clients: usize,
    items: u64,
    write_for: Duration,
) -> Result<Beside> {
    let overwrite = |count| {
        load_keys(
            cluster,
            0,
            Via::Grpc,
            clients,
            count,
            items,
            25,
            None,
            write_for,
            "b-",
        )
    };
    let alone = overwrite(u64::MAX).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut admin = cluster.admin(0);
    let backups = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                admin
                    .create_backup(pb::CreateBackupRequest {
                        table: TABLE.into(),
                        name: format!("during-{n}"),
                    })
                    .await?;
                n += 1;
            }
            anyhow::Ok(n)
        }
    });
    let beside = overwrite(u64::MAX).await;
    stop.store(true, Ordering::Relaxed);
    let during = backups.await??;
    let beside = beside?;
    Ok(Beside {
        alone,
        beside,
        during,
    })
}

/// A restore to a point in time: the history rows it undid (`changed`),
/// the table at the instant rebuilt, and the whole restore.
struct Restore {
    changed: u64,
    rebuilt: Duration,
    restore: Duration,
}

/// Point in time: recovery on, then every item overwritten once (one
/// history row each), then the table restored to before.
async fn restore_to_before(
    cluster: &Cluster,
    clients: usize,
    items: u64,
    max: Duration,
) -> Result<Restore> {
    cluster
        .admin(0)
        .set_recovery(pb::SetRecoveryRequest {
            table: TABLE.into(),
            period_days: 1,
        })
        .await?;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    let changed = load_keys(
        cluster,
        0,
        Via::Grpc,
        clients,
        items,
        items,
        25,
        None,
        max,
        "b-",
    )
    .await?;
    let t = Instant::now();
    let status = cluster
        .admin(0)
        .restore_to_time(pb::RestoreToTimeRequest {
            table: TABLE.into(),
            target_table: "restored".into(),
            at_micros: before,
            replicas: Vec::new(),
        })
        .await?
        .into_inner();
    let rebuilt = t.elapsed();
    let restored = restore_done(cluster, 0, "restored", max).await?;
    let restore = t.elapsed();
    if restored != status.total || status.total != items {
        bail!(
            "restored {restored} of {} items ({items} in the table)",
            status.total
        );
    }
    Ok(Restore {
        changed: changed.items,
        rebuilt,
        restore,
    })
}

/// One repetition's rows of the table.
fn figures(r: &mut Report, items: u64, copied: &Copied, beside: &Beside, restore: &Restore) {
    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    let raw_rate = mib(copied.raw_bytes) / copied.raw.as_secs_f64().max(1e-6);
    let backup_rate = mib(copied.taken.size_bytes) / copied.took.as_secs_f64().max(1e-6);
    r.add(
        "plain copy of the store's files (baseline)",
        "MiB/s",
        raw_rate,
    );
    r.add("backup of the table", "MiB/s", backup_rate);
    r.add("backup / plain copy", "ratio", backup_rate / raw_rate);
    r.add("backup time", "s", copied.took.as_secs_f64());
    r.add("backup file", "MiB", mib(copied.taken.size_bytes));
    r.add("store files copied", "MiB", mib(copied.raw_bytes));
    let rate = |l: &Load| l.items as f64 / l.elapsed.as_secs_f64().max(1e-6);
    r.add("writes alone (baseline)", "items/s", rate(&beside.alone));
    r.add("writes while backups run", "items/s", rate(&beside.beside));
    r.add(
        "writes while backups run / alone",
        "ratio",
        rate(&beside.beside) / rate(&beside.alone),
    );
    r.add(
        "backups taken during the writes",
        "backups",
        beside.during as f64,
    );
    r.add(
        "restore to a point in time: rate",
        "items/s",
        items as f64 / restore.restore.as_secs_f64().max(1e-6),
    );
    r.add(
        "restore to a point in time: time",
        "s",
        restore.restore.as_secs_f64(),
    );
    r.add(
        "of which the table at the instant, rebuilt",
        "s",
        restore.rebuilt.as_secs_f64(),
    );
    r.add(
        "history rows undone (overwrites after the instant)",
        "rows",
        restore.changed as f64,
    );
}
