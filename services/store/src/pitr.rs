//! Point-in-time recovery: the history a region keeps of a table's
//! changes, and its setting.
//!
//! Recovery to an instant T needs the table as this region held it then.
//! The store keeps, for each table with recovery on, an undo history: every
//! change of a live head, local or applied from a peer, recorded in the
//! change's own transaction as the head it replaced and the group's time
//! ([`GroupTxn::record_history`]). The table at T is then its heads now, with
//! every key changed after T put back as the first of its later rows held
//! it (`crate::backup::take` at an instant). No base snapshot is needed, a
//! table without recovery pays one cached map lookup per write, and the
//! window is bounded by deleting rows older than the period
//! ([`Group::truncate_history`]).

use meridian_core::{CATALOG_TABLE, EncodedKey, Version};
use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::group::{Group, GroupTxn};
use crate::read::Reader;

/// History rows past their table's period at `?1` (µs; `?2` µs a day), at
/// most `?3`. `CROSS JOIN` keeps the tables with PITR on as the outer
/// loop, so each one's rows due are a range of `history_at`; with a plain
/// join SQLite put `history` outside and read every row of it on every
/// truncation pass (224 ms with a million rows).
pub(crate) const HISTORY_DUE: &str = "DELETE FROM history WHERE n IN (
       SELECT h.n FROM pitr p CROSS JOIN history h ON h.tbl = p.tbl
       WHERE h.at < ?1 - p.period_days * ?2 LIMIT ?3)";

/// Longest recovery period, in days, as in DynamoDB.
pub const MAX_PERIOD_DAYS: u32 = 35;
/// One day, in µs.
const DAY_MICROS: u64 = 86_400_000_000;

/// Point-in-time recovery on a table in this region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pitr {
    /// How many days back a restore may reach.
    pub period_days: u32,
    /// When it was turned on, µs: nothing earlier is recorded.
    pub since: u64,
}

impl Pitr {
    /// The earliest instant a restore may ask for at `now`: the start of
    /// the period, or when recovery was turned on if that is later.
    pub fn earliest(&self, now: u64) -> u64 {
        self.since
            .max(now.saturating_sub(u64::from(self.period_days) * DAY_MICROS))
    }
}

/// The setting of `table` as stored, if it is for the table's current
/// incarnation `incarnation`.
fn setting(
    conn: &rusqlite::Connection,
    table: &str,
    incarnation: &Version,
) -> Result<Option<Pitr>, StoreError> {
    let row: Option<(Vec<u8>, i64, i64)> = conn
        .prepare_cached("SELECT incarnation, period_days, since FROM pitr WHERE tbl = ?1")?
        .query_row([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row
        .filter(|(of, _, _)| *of == incarnation.to_bytes())
        .map(|(_, days, since)| Pitr {
            period_days: days as u32,
            since: since as u64,
        }))
}

impl GroupTxn<'_, '_> {
    /// Whether `table` keeps history here, as stored for its current
    /// incarnation (read through the cache of [`GroupTxn::records`]).
    pub(crate) fn keeps_history(&mut self, table: &str) -> Result<bool, StoreError> {
        Ok(match self.table_def(table)? {
            Some((_, incarnation)) => setting(self.conn, table, &incarnation)?.is_some(),
            None => false,
        })
    }

    /// Records that the head of `key` changed from `replaced` (its version
    /// and image; `None` when the key held nothing), if `table` keeps
    /// history.
    pub(crate) fn record_history(
        &mut self,
        table: &str,
        key: &EncodedKey,
        replaced: Option<(Vec<u8>, Option<&[u8]>)>,
    ) -> Result<(), StoreError> {
        if table == CATALOG_TABLE || !self.records(table)?.history {
            return Ok(());
        }
        let (version, image) = match replaced {
            Some((v, image)) => (Some(v), image),
            None => (None, None),
        };
        self.conn
            .prepare_cached(
                "INSERT INTO history (tbl, at, pk, sk, version, image) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                table,
                self.at as i64,
                key.partition,
                key.sort,
                version,
                image
            ])?;
        Ok(())
    }
}

impl Group<'_> {
    /// Turns point-in-time recovery of `table` on in this region, keeping
    /// `period_days` (1 to [`MAX_PERIOD_DAYS`]), or off (`None`, which
    /// deletes its history). Turning it on when it is on changes the
    /// period only: the history kept so far stays.
    pub fn set_pitr(
        &mut self,
        table: &str,
        period_days: Option<u32>,
    ) -> Result<Option<Pitr>, StoreError> {
        if let Some(d) = period_days
            && !(1..=MAX_PERIOD_DAYS).contains(&d)
        {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "RecoveryPeriodInDays",
                format!("must be between 1 and {MAX_PERIOD_DAYS}, got {d}"),
            )));
        }
        self.unguarded(|ctx| {
            let (_, incarnation) = ctx
                .table_def(table)?
                .ok_or_else(|| StoreError::TableNotFound(table.to_string()))?;
            ctx.records.remove(table);
            let Some(period_days) = period_days else {
                for sql in ["DELETE FROM pitr WHERE tbl = ?1", "DELETE FROM history WHERE tbl = ?1"] {
                    ctx.conn.prepare_cached(sql)?.execute([table])?;
                }
                return Ok(None);
            };
            let since = setting(ctx.conn, table, &incarnation)?.map_or(ctx.at, |p| p.since);
            ctx.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO pitr (tbl, incarnation, period_days, since) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    table,
                    incarnation.to_bytes(),
                    period_days,
                    since as i64
                ])?;
            Ok(Some(Pitr { period_days, since }))
        })
    }

    /// Deletes history rows past their table's period at `now`, at most
    /// `max_rows`; returns how many went ([`HISTORY_DUE`]).
    pub fn truncate_history(&mut self, now: u64, max_rows: u64) -> Result<u64, StoreError> {
        let n = self.unguarded(|ctx| {
            Ok(ctx.conn.prepare_cached(HISTORY_DUE)?.execute(params![
                now as i64,
                DAY_MICROS as i64,
                max_rows as i64
            ])?)
        })?;
        Ok(n as u64)
    }
}

impl Reader {
    /// Point-in-time recovery of `table` in this region, if it is on.
    pub fn pitr(&self, table: &str) -> Result<Option<Pitr>, StoreError> {
        match self.table_def(table)? {
            Some((_, incarnation)) => setting(self.conn(), table, &incarnation),
            None => Ok(None),
        }
    }

    /// Rows of history kept for `table`.
    pub fn history_rows(&self, table: &str) -> Result<u64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM history WHERE tbl = ?1")?
            .query_row([table], |r| r.get::<_, i64>(0))? as u64)
    }
}
