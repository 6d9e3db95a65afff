//! `meridian backup` and `restore`: backups created, listed and deleted,
//! and restores (from a backup or to a point in time) followed to the end.

use anyhow::{Result, anyhow, bail};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_region::admin::authorized;
use serde_json::{Value as Json, json};
use tonic::transport::Channel;

use crate::BackupCommand;

use super::connect::{admin, admin_token};
use super::json::print;

pub(super) fn backup_json(b: &pb::BackupInfo) -> Json {
    json!({
        "BackupId": b.id,
        "BackupName": b.name,
        "TableName": b.table,
        "CreatedMicros": b.created_micros,
        "ItemCount": b.items,
        "SizeBytes": b.size_bytes,
        "LogPosition": format!("{}@{}", b.log_head, b.log_id),
    })
}

pub(super) fn restore_json(r: &pb::RestoreStatus) -> Json {
    json!({
        "TableName": r.table,
        "BackupId": (!r.backup_id.is_empty()).then_some(&r.backup_id),
        "RestoredTo": rfc3339(r.restored_to_micros),
        "InProgress": r.in_progress,
        "Loaded": r.loaded,
        "Total": r.total,
        "Error": (!r.error.is_empty()).then_some(&r.error),
    })
}

pub(super) async fn backup(command: BackupCommand) -> Result<()> {
    match command {
        BackupCommand::Create {
            target,
            table,
            name,
        } => {
            let b = admin(&target)
                .await?
                .create_backup(authorized(
                    pb::CreateBackupRequest { table, name },
                    admin_token(target.config.as_deref())?.as_deref(),
                ))
                .await?
                .into_inner();
            print(&backup_json(&b));
        }
        BackupCommand::List { target, table } => {
            let r = admin(&target)
                .await?
                .list_backups(pb::ListBackupsRequest { table })
                .await?
                .into_inner();
            print(&json!({
                "Backups": r.backups.iter().map(backup_json).collect::<Vec<_>>(),
                "Restores": r.restores.iter().map(restore_json).collect::<Vec<_>>(),
            }));
        }
        BackupCommand::Delete { target, id } => {
            let b = admin(&target)
                .await?
                .delete_backup(authorized(
                    pb::BackupRequest { id },
                    admin_token(target.config.as_deref())?.as_deref(),
                ))
                .await?
                .into_inner();
            print(&json!({"Deleted": backup_json(&b)}));
        }
        BackupCommand::Restore {
            target,
            id,
            to,
            replicas,
            wait,
        } => {
            let mut c = admin(&target).await?;
            let status = c
                .restore_backup(authorized(
                    pb::RestoreBackupRequest {
                        id,
                        target_table: to.clone(),
                        replicas,
                    },
                    admin_token(target.config.as_deref())?.as_deref(),
                ))
                .await?
                .into_inner();
            follow_restore(&mut c, status, &to, wait).await?;
        }
        BackupCommand::Recovery {
            target,
            table,
            days,
            off,
        } => {
            let r = admin(&target)
                .await?
                .set_recovery(authorized(
                    pb::SetRecoveryRequest {
                        table,
                        period_days: if off { 0 } else { days },
                    },
                    admin_token(target.config.as_deref())?.as_deref(),
                ))
                .await?
                .into_inner();
            print(&json!({
                "PointInTimeRecovery": if r.enabled { "ENABLED" } else { "DISABLED" },
                "RecoveryPeriodInDays": r.enabled.then_some(r.period_days),
                "EarliestRestorable": r.enabled.then(|| rfc3339(r.earliest_micros)),
                "LatestRestorable": r.enabled.then(|| rfc3339(r.latest_micros)),
            }));
        }
    }
    Ok(())
}

/// Prints a restore's state; with `wait`, polls the region until every
/// item is loaded. Fails if loading stopped early.
pub(super) async fn follow_restore(
    c: &mut AdminClient<Channel>,
    mut status: pb::RestoreStatus,
    table: &str,
    wait: bool,
) -> Result<()> {
    while wait && status.in_progress {
        eprintln!("loaded {} of {} items", status.loaded, status.total);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let all = c
            .list_backups(pb::ListBackupsRequest::default())
            .await?
            .into_inner();
        status = all
            .restores
            .into_iter()
            .find(|r| r.table == table)
            .ok_or_else(|| {
                anyhow!("the region no longer reports the restore of {table} (did it restart?)")
            })?;
    }
    print(&restore_json(&status));
    if !status.error.is_empty() {
        bail!("the restore of {table} stopped: {}", status.error);
    }
    Ok(())
}

/// An instant given on the command line, as µs since the epoch (0 for
/// "latest"): RFC 3339 in UTC (`2026-11-23T14:01:00Z`, a fraction allowed)
/// or seconds since the epoch.
pub(super) fn parse_instant(text: &str) -> Result<u64> {
    if text == "latest" {
        return Ok(0);
    }
    let secs = text
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0);
    secs.map(|s| (s * 1e6) as u64)
        .or_else(|| meridian_core::utc::parse_rfc3339(text))
        .ok_or_else(|| {
            anyhow!(
                "--at: expected RFC 3339 in UTC like 2026-11-23T14:01:00Z, seconds since the epoch, or latest; got {text:?}"
            )
        })
}

/// µs since the epoch in RFC 3339, UTC, to the millisecond.
pub(super) fn rfc3339(micros: u64) -> String {
    format!("{}Z", meridian_core::utc::format_millis(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339_epoch_seconds_or_latest() {
        assert_eq!(parse_instant("latest").unwrap(), 0);
        assert_eq!(parse_instant("1970-01-01T00:00:01Z").unwrap(), 1_000_000);
        assert_eq!(
            parse_instant("2026-11-23T14:01:00.25Z").unwrap(),
            1_795_442_460_250_000
        );
        assert_eq!(
            parse_instant("1795442460.25").unwrap(),
            1_795_442_460_250_000
        );
        assert_eq!(rfc3339(1_795_442_460_250_000), "2026-11-23T14:01:00.250Z");
        for bad in ["yesterday", "2026-11-23T14:01:00", "-5", "0"] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }
}
