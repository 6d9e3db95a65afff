//! The query plans of the statements that run on every truncation pass or
//! every `Status`, checked against the schema: each must reach its rows
//! through a key or an index, never by reading a whole table that grows
//! with the data. A plan that scans makes a region's CPU grow with its
//! store (each of these once did).

use rusqlite::Connection;

/// The plan's steps; parameters stay unbound (NULL), which a plan does
/// not depend on.
fn steps(conn: &Connection, sql: &str) -> Vec<String> {
    let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let mut rows = plan.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push(row.get::<_, String>(3).unwrap());
    }
    out
}

/// The steps that read every row of `table` (or of one of its indexes).
fn scans(conn: &Connection, sql: &str, table: &str) -> Vec<String> {
    let (plain, aliased) = (format!("SCAN {table}"), format!("SCAN {table} "));
    steps(conn, sql)
        .into_iter()
        .filter(|s| *s == plain || s.starts_with(&aliased))
        .collect()
}

fn schema() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(crate::SCHEMA).unwrap();
    conn
}

#[test]
fn periodic_statements_read_by_key_or_index() {
    let conn = schema();
    let cases = [
        (crate::log::ENDS, "log"),
        (crate::upkeep::PURGE_CONFLICTS_OVER_COUNT, "conflicts"),
        (crate::upkeep::PURGE_CONFLICTS_TOO_OLD, "conflicts"),
        (crate::stream::STREAMS_GOING, "stream"),
        (crate::pitr::HISTORY_DUE, "history"),
        (crate::pitr::HISTORY_DUE, "h"),
    ];
    for (sql, table) in cases {
        let found = scans(&conn, sql, table);
        assert!(
            found.is_empty(),
            "{sql}\nscans {table}: {:?}",
            steps(&conn, sql)
        );
    }
}

/// The check can fail: each statement these replaced scans.
#[test]
fn the_forms_replaced_scan() {
    let conn = schema();
    let replaced = [
        ("SELECT MIN(seq), MAX(seq) FROM log", "log"),
        (
            "DELETE FROM conflicts WHERE id IN (SELECT id FROM conflicts
               WHERE id <= (SELECT MAX(id) FROM conflicts) - ?1 OR detected_real < ?2
               ORDER BY id LIMIT ?3)",
            "conflicts",
        ),
        (
            "SELECT DISTINCT tbl, label FROM stream WHERE seq <= ?1",
            "stream",
        ),
        (
            "DELETE FROM history WHERE n IN (
               SELECT h.n FROM pitr p JOIN history h ON h.tbl = p.tbl
               WHERE h.at < ?1 - p.period_days * ?2 LIMIT ?3)",
            "h",
        ),
    ];
    for (sql, table) in replaced {
        assert!(
            !scans(&conn, sql, table).is_empty(),
            "no longer scans {table}: {:?}",
            steps(&conn, sql)
        );
    }
}
