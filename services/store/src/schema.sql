-- Meridian region store, schema version 16.
-- Keys and versions are BLOBs whose bytewise (memcmp) order is their logical order.

CREATE TABLE IF NOT EXISTS meta (
    k TEXT PRIMARY KEY,
    v TEXT NOT NULL
) WITHOUT ROWID;

-- The table definition each stream was of, written with its first record:
-- a stream outlives its table by the retention (DynamoDB keeps a deleted
-- table's stream readable 24 hours), and its records' keys are read with
-- the definition they were written under. One row per stream enabled.
CREATE TABLE IF NOT EXISTS stream_tables (
    tbl   TEXT NOT NULL,
    label INTEGER NOT NULL,
    def   BLOB NOT NULL,
    PRIMARY KEY (tbl, label)
) WITHOUT ROWID;

-- Every stream label a table's incarnation has had, written when a settings
-- row enabling a stream is applied here: DescribeTable keeps the latest
-- one (`LatestStreamArn`, `LatestStreamLabel`) after the stream is
-- disabled, as DynamoDB does, records or none. One row per stream enabled.
CREATE TABLE IF NOT EXISTS stream_labels (
    tbl         TEXT NOT NULL,
    incarnation BLOB NOT NULL,
    label       INTEGER NOT NULL,
    PRIMARY KEY (tbl, incarnation, label)
) WITHOUT ROWID;

-- Current head of every key: a live item, or a tombstone (image IS NULL).
-- Tombstones stay until every replica has them, then they are purged
-- (`Group::purge_tombstones`, docs/repair.md).
CREATE TABLE IF NOT EXISTS items (
    tbl     TEXT NOT NULL,
    pk      BLOB NOT NULL,
    sk      BLOB NOT NULL,
    version BLOB NOT NULL,
    prev    BLOB,
    -- Causal context: highest version seen per origin (meridian_core::Context).
    ctx     BLOB NOT NULL,
    image   BLOB,
    -- 1 for a tombstone written by TTL expiry.
    ttl     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tbl, pk, sk)
) WITHOUT ROWID;

-- The tombstones by version, for purging the oldest first without reading
-- the live items.
CREATE INDEX IF NOT EXISTS tombstones ON items (version) WHERE image IS NULL;

-- The purge horizon: the timestamp (12 bytes) at or below which this
-- region may have purged tombstones (meridian_core::purge). A remote write
-- at or below it, for a key this region holds nothing for, is one such a
-- tombstone overwrote, and is dropped. One row, or none before any purge.
CREATE TABLE IF NOT EXISTS purge_horizon (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    hlc BLOB NOT NULL
);

-- The anti-entropy digest (meridian_core::digest): per table, one row that
-- holds every stored leaf of its hash tree, in leaf order, 32 bytes a leaf:
-- the XOR of the 128-bit entry hashes of the heads in it (16 bytes,
-- big-endian), then their live and tombstone counts (8 bytes each). Changed
-- in the transaction of every items row change, so it is never stale.
CREATE TABLE IF NOT EXISTS digest (
    tbl    TEXT PRIMARY KEY,
    leaves BLOB NOT NULL
);

-- The mutation log: every entry this region ships to its peers, in commit
-- order. That is its own writes, and the catalog changes it applied from
-- peers (relayed, so a table is known everywhere before its items). A peer's
-- item writes are not logged here: they live in the peer's own log, and
-- `inbound` records how far this region has applied it. Positions run 1,
-- 2, … without gaps. Entries every peer has applied, past the retention,
-- are deleted from the oldest on (`Group::truncate_log`); the newest entry
-- is never deleted, so positions keep counting from it.
CREATE TABLE IF NOT EXISTS log (
    seq           INTEGER PRIMARY KEY,
    tbl           TEXT NOT NULL,
    table_version BLOB,
    pk            BLOB NOT NULL,
    sk            BLOB NOT NULL,
    version       BLOB NOT NULL,
    prev          BLOB,
    ctx           BLOB NOT NULL,
    image         BLOB,
    origin        TEXT NOT NULL,
    commit_real   INTEGER NOT NULL,
    -- 1 for a tombstone written by TTL expiry.
    ttl           INTEGER NOT NULL DEFAULT 0,
    -- A request of several writes is one unit: entries txn_pos 0..txn_len-1,
    -- contiguous, shipped in one batch and applied all or nothing.
    txn_pos       INTEGER NOT NULL DEFAULT 0,
    txn_len       INTEGER NOT NULL DEFAULT 1
);

-- The identities (epochs) of this region's log, oldest first: a new one at
-- every start-up, from the next log position on, so a restored or wiped
-- store never passes for the continuation of what peers received
-- (meridian_core::epoch). The newest is the log's current identity.
CREATE TABLE IF NOT EXISTS epochs (
    n     INTEGER PRIMARY KEY,
    id    TEXT NOT NULL,
    start INTEGER NOT NULL
);

-- Per origin region, the highest version among the heads this store has
-- written (local writes, applied and repaired mutations alike), raised at
-- every group commit. Start-up restores the clock from it instead of
-- scanning the log, and a peer learns from it how far its own versions
-- reached here, so it never issues one of them again.
CREATE TABLE IF NOT EXISTS high_water (
    origin  TEXT PRIMARY KEY,
    version BLOB NOT NULL
) WITHOUT ROWID;

-- Outbound: our log position each peer has durably applied.
CREATE TABLE IF NOT EXISTS watermarks (
    peer  TEXT PRIMARY KEY,
    acked INTEGER NOT NULL
) WITHOUT ROWID;

-- Inbound: each sender's log position we have durably applied, in the log
-- identified by log_id. Updated in the same transaction as the applied
-- items, so redelivery has no effect; a new log_id starts again from 0.
CREATE TABLE IF NOT EXISTS inbound (
    peer    TEXT PRIMARY KEY,
    log_id  TEXT NOT NULL,
    applied INTEGER NOT NULL
) WITHOUT ROWID;

-- Every concurrent pair detected on apply. Ids never repeat (AUTOINCREMENT),
-- so the highest ever given is the count of conflicts recorded, which
-- purging old records (their retention) does not change.
CREATE TABLE IF NOT EXISTS conflicts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl              TEXT NOT NULL,
    pk               BLOB NOT NULL,
    sk               BLOB NOT NULL,
    winner           BLOB NOT NULL,
    winner_image     BLOB,
    loser            BLOB NOT NULL,
    loser_image      BLOB,
    detected_by      TEXT NOT NULL,
    detected_real    INTEGER NOT NULL
);
-- A key's conflicts.
CREATE INDEX IF NOT EXISTS conflicts_key ON conflicts (tbl, pk, sk);
-- The oldest conflicts, for their retention by age (Group::purge_conflicts).
CREATE INDEX IF NOT EXISTS conflicts_real ON conflicts (detected_real);

-- Conflicts recorded per table (`n`), bumped in the transaction that
-- records each one, so reading them costs a row per table rather than a
-- scan of the records. A table's count covers its current incarnation in
-- this region: deleting or creating the table anew removes its row, and
-- purging records by their retention does not change it. A store upgraded
-- from schema 16 or before starts from the records it kept then.
CREATE TABLE IF NOT EXISTS conflict_counts (
    tbl TEXT PRIMARY KEY,
    n   INTEGER NOT NULL
) WITHOUT ROWID;

-- Point-in-time recovery of a table in this region (DynamoDB sets it per
-- replica): on for the incarnation of the table created at `incarnation`,
-- since `since` (µs, this region's clock), keeping `period_days` of history.
-- Local to the region: it describes this region's `history`, which a
-- seeded or restored store does not have.
CREATE TABLE IF NOT EXISTS pitr (
    tbl         TEXT PRIMARY KEY,
    incarnation BLOB NOT NULL,
    period_days INTEGER NOT NULL,
    since       INTEGER NOT NULL
) WITHOUT ROWID;

-- For the tables with point-in-time recovery: every change of a live head
-- in this region, local or applied, as the head it replaced (`version` and
-- `image` NULL when the key held nothing, `image` NULL for a tombstone),
-- and when (`at`, µs, this region's clock, never decreasing). Written in
-- the transaction of the change. The table as it was at T is its heads
-- now with every key changed after T put back as its first such row held
-- it (docs/backups.md). Rows older than the period go.
CREATE TABLE IF NOT EXISTS history (
    n       INTEGER PRIMARY KEY,
    tbl     TEXT NOT NULL,
    at      INTEGER NOT NULL,
    pk      BLOB NOT NULL,
    sk      BLOB NOT NULL,
    version BLOB,
    image   BLOB
);
CREATE INDEX IF NOT EXISTS history_at ON history (tbl, at);

-- Change streams (docs/streams.md): while a table's stream is enabled,
-- every change of a live head in this region, local or applied, that is an
-- event (INSERT 1, MODIFY 2, REMOVE 3; a change that leaves the item as it
-- was is none), written in the change's transaction. `label` names the
-- stream (µs it was enabled); `view` is its view type (0 KEYS_ONLY,
-- 1 NEW_IMAGE, 2 OLD_IMAGE, 3 NEW_AND_OLD_IMAGES), and `old`/`new` hold
-- the images it keeps. `seq` is the record's sequence number: never
-- reused, so it only grows. Records older than the retention go.
CREATE TABLE IF NOT EXISTS stream (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl     TEXT NOT NULL,
    label   INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    pk      BLOB NOT NULL,
    sk      BLOB NOT NULL,
    event   INTEGER NOT NULL,
    view    INTEGER NOT NULL,
    old     BLOB,
    new     BLOB,
    ttl     INTEGER NOT NULL,
    version BLOB NOT NULL,
    -- The version of the head the change replaced, if any.
    replaced BLOB
);
CREATE INDEX IF NOT EXISTS stream_of ON stream (tbl, label, seq);

-- The conflicts a region resolves on a table while its stream is on, kept
-- with the stream for its retention so a watch shows every one
-- (docs/streams.md, Watching conflicts): the version kept and the one
-- discarded, their items unless the view type is KEYS_ONLY, and whether
-- the arriving write won (`applied`, it overwrote the head) or lost. `seq`
-- is the stream position the mark belongs at: the next record's when it
-- was written, so an applied mark names the record of its change (when
-- the change made one) and a lost write's mark comes after every record
-- below `seq`. Never a stream record: GetRecords does not read this. Marks
-- go with the stream's retention.
CREATE TABLE IF NOT EXISTS stream_marks (
    n               INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl             TEXT NOT NULL,
    label           INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    pk              BLOB NOT NULL,
    sk              BLOB NOT NULL,
    applied         INTEGER NOT NULL,
    kept            BLOB NOT NULL,
    kept_image      BLOB,
    discarded       BLOB NOT NULL,
    discarded_image BLOB
);
CREATE INDEX IF NOT EXISTS stream_marks_of ON stream_marks (tbl, label, n);
CREATE INDEX IF NOT EXISTS stream_marks_seq ON stream_marks (seq);

-- How many live items of each table this region turned into tombstones,
-- local deletes and TTL expiries and deletes applied from peers alike,
-- counted in the change's transaction by the head it replaced, not by the
-- stream (`GroupTxn::put_head`): the drill holds it against the REMOVE records
-- of the table's stream, which follow the same rule (docs/streams.md), so
-- a stream that dropped or invented a REMOVE shows. Goes with the table's
-- incarnation (`GroupTxn::purge_table`) and with a seed's stream records.
CREATE TABLE IF NOT EXISTS removes_applied (
    tbl TEXT PRIMARY KEY,
    n   INTEGER NOT NULL
) WITHOUT ROWID;

-- A stream's shards after its first (docs/streams.md): shard 0 opens with
-- the stream; the first change made `stream_shard_age` or more after a
-- shard opened closes it and opens the next, at that record's position.
-- Shard k holds the records from its `first_seq` up to shard k + 1's;
-- shard 0 from the stream's start. A shard whose records all went with
-- the retention goes too, but a stream's last shard stays.
CREATE TABLE IF NOT EXISTS stream_shards (
    tbl       TEXT NOT NULL,
    label     INTEGER NOT NULL,
    shard     INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    -- µs, the time of the record that opened it.
    opened    INTEGER NOT NULL,
    PRIMARY KEY (tbl, label, shard)
) WITHOUT ROWID;

-- How far the retention trimmed each shard of a stream: the position of
-- the shard's last record that went (docs/streams.md, Retention). A
-- consumer at or past it missed nothing of the shard, whatever went of
-- other streams; one before it missed records. A shard's row goes with
-- the shard's own (`stream_shards`); shard 0's stays, one per stream.
CREATE TABLE IF NOT EXISTS stream_trims (
    tbl     TEXT NOT NULL,
    label   INTEGER NOT NULL,
    shard   INTEGER NOT NULL,
    through INTEGER NOT NULL,
    PRIMARY KEY (tbl, label, shard)
) WITHOUT ROWID;

-- Secondary index entries (meridian_core::index): one row per item an index
-- holds, its index key (partition and sort tuples) and its table key.
-- Written in the transaction of every change of the item, so a region's
-- indexes always match its items. Queries read the item through the table
-- key and cut it to the index's projection.
CREATE TABLE IF NOT EXISTS idx (
    tbl  TEXT NOT NULL,
    name TEXT NOT NULL,
    ipk  BLOB NOT NULL,
    isk  BLOB NOT NULL,
    pk   BLOB NOT NULL,
    sk   BLOB NOT NULL,
    PRIMARY KEY (tbl, name, ipk, isk, pk, sk)
) WITHOUT ROWID;

-- Indexes added to a table after its creation, still being built here from
-- its items, with the last table key done (NULL: none yet). The row goes
-- when the build reaches the end; DescribeTable shows the index CREATING
-- (Backfilling) until then.
CREATE TABLE IF NOT EXISTS index_builds (
    tbl  TEXT NOT NULL,
    name TEXT NOT NULL,
    pk   BLOB,
    sk   BLOB,
    PRIMARY KEY (tbl, name)
) WITHOUT ROWID;

-- For tables with local secondary indexes: the bytes of each item
-- collection (the live items of one partition key, as stored), kept in the
-- transaction of every change, so a local write can be refused before it
-- takes a collection past 10 GB (meridian_core::index).
CREATE TABLE IF NOT EXISTS collections (
    tbl   TEXT NOT NULL,
    pk    BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;

-- Strong mode (docs/strong.md): each STRONG table's consensus state in this
-- region, as its member of the table's three keeps it
-- (meridian_core::strong::Durable). `seen` is the newest life seen of each
-- member: three of (present byte, counter, nonce), little-endian. `lives`
-- are this member's recent lives, (counter, nonce) each, oldest first.
CREATE TABLE IF NOT EXISTS strong_state (
    tbl             TEXT PRIMARY KEY,
    incarnation     BLOB NOT NULL,
    promised_round  INTEGER NOT NULL,
    promised_leader INTEGER NOT NULL,
    compacted       INTEGER NOT NULL,
    commit_idx      INTEGER NOT NULL,
    applied         INTEGER NOT NULL,
    gen_counter     INTEGER NOT NULL,
    gen_nonce       INTEGER NOT NULL,
    rejoining       INTEGER NOT NULL,
    seen            BLOB NOT NULL,
    lives           BLOB NOT NULL DEFAULT x''
) WITHOUT ROWID;

-- A STRONG table's consensus log above its compaction point: each entry
-- (meridian_core::strong::codec) with the ballot it was accepted at.
CREATE TABLE IF NOT EXISTS strong_log (
    tbl           TEXT NOT NULL,
    idx           INTEGER NOT NULL,
    ballot_round  INTEGER NOT NULL,
    ballot_leader INTEGER NOT NULL,
    entry         BLOB NOT NULL,
    PRIMARY KEY (tbl, idx)
) WITHOUT ROWID;

-- Settings DynamoDB keeps per replica of a table and never replicates: the
-- resource-based policies of the table and of its streams, contributor
-- insights of the table and of each index, and deletion protection
-- (docs/dynamodb-compat.md). Written only by this region, for the table's
-- incarnation created at `incarnation`; they go with the table
-- (`GroupTxn::purge_table`) and are not taken from a peer's seed.
CREATE TABLE IF NOT EXISTS replica_settings (
    tbl         TEXT NOT NULL,
    name        TEXT NOT NULL,
    incarnation BLOB NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (tbl, name)
) WITHOUT ROWID;
