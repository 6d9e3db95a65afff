//! What comparing two replicas reads (docs/repair.md): the stored digest
//! tree, the heads below its leaves, and the heads as mutations ready to
//! ship to a replica that lacks them.

use std::collections::HashMap;

use meridian_core::digest::{self, HeadDigest, NodeId, Summary};
use meridian_core::{CATALOG_TABLE, EncodedKey, Mutation, Version};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::Reader;
use crate::{StoreError, digest as digest_rows};

/// Order-independent summary of a table's heads, to compare replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub hash: String,
    pub live: u64,
    pub tombstones: u64,
}

/// One head as a comparison below the stored leaves needs it: the key, its
/// version (`Version` bytes), whether it is a tombstone, and its digest.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafHead {
    pub key: EncodedKey,
    pub version: Vec<u8>,
    pub tombstone: bool,
    pub digest: HeadDigest,
}

impl Reader {
    /// The root of `table`'s digest tree, as the admin `Digest` shows it:
    /// equal digests mean equal keys, versions, items and tombstones (to a
    /// 128-bit hash). Reads the table's stored leaves, never its items.
    pub fn digest(&self, table: &str) -> Result<Digest, StoreError> {
        let root = self.digest_node(table, NodeId::ROOT)?;
        Ok(Digest {
            hash: root.hash_hex(),
            live: root.live,
            tombstones: root.tombstones,
        })
    }

    /// The summary of one node of `table`'s digest tree at most at
    /// [`digest::LEAF_LEVEL`], from the stored leaves (a node below the leaf
    /// level needs the leaf's heads: [`Reader::leaf_heads`]).
    pub fn digest_node(&self, table: &str, node: NodeId) -> Result<Summary, StoreError> {
        check_stored(node)?;
        let range = node.leaves();
        let leaves = digest_rows::leaves(&self.conn, table, range.start, range.end)?;
        Ok(digest::node_from_leaves(node, &leaves))
    }

    /// The summaries of the children of `parent`, a node above
    /// [`digest::LEAF_LEVEL`], from the stored leaves under it: one step of
    /// a top-down comparison. Below, [`Reader::leaf_heads`] and
    /// [`digest::children_of`] continue it.
    pub fn digest_children(
        &self,
        table: &str,
        parent: NodeId,
    ) -> Result<Vec<(NodeId, Summary)>, StoreError> {
        if parent.level >= digest::LEAF_LEVEL {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "level",
                format!(
                    "{} is not above the stored leaves (level {}); their children come from the leaf's heads",
                    parent.level,
                    digest::LEAF_LEVEL
                ),
            )));
        }
        let range = parent.leaves();
        let leaves = digest_rows::leaves(&self.conn, table, range.start, range.end)?;
        Ok(digest::children_from_leaves(parent, &leaves))
    }

    /// Every stored non-empty leaf of `table`, in leaf order.
    pub fn digest_leaves(&self, table: &str) -> Result<Vec<(u32, Summary)>, StoreError> {
        digest_rows::leaves(&self.conn, table, 0, digest::LEAVES)
    }

    /// The heads of `table` in the given stored leaves, tombstones
    /// included, in key order: what a comparison below the stored leaves
    /// works on. One pass over the table serves any number of leaves, so a
    /// caller asks for every differing leaf at once. (A per-leaf index on
    /// `items` would make this a range read, but costs every write an index
    /// update; see docs/repair.md.)
    pub fn leaf_heads(&self, table: &str, leaves: &[u32]) -> Result<Vec<LeafHead>, StoreError> {
        self.heads_in(table, leaves, |h| h.to_owned())
    }

    /// [`Reader::leaf_heads`] as digests only: all a summary of nodes below
    /// the stored leaves needs. Under writes nearly every leaf differs
    /// between replicas, so a comparison's step asks for most of the table:
    /// a digest is 40 bytes where a [`LeafHead`] also copies the key and
    /// the version out of every row.
    fn leaf_digests(&self, table: &str, leaves: &[u32]) -> Result<Vec<HeadDigest>, StoreError> {
        self.heads_in(table, leaves, |h| h.digest())
    }

    /// What `build` makes of each head in the given stored leaves.
    fn heads_in<T>(
        &self,
        table: &str,
        leaves: &[u32],
        build: impl Fn(&RowHead<'_>) -> T,
    ) -> Result<Vec<T>, StoreError> {
        let wanted = wanted_leaves(leaves)?;
        let mut out = Vec::new();
        self.each_head(
            table,
            |key_hash| wanted[NodeId::leaf_of(key_hash).index as usize],
            |h| out.push(build(&h)),
        )?;
        Ok(out)
    }

    /// Calls `f` with every head of `table` whose key hash `keep` accepts,
    /// in key order, borrowed from its row: one pass over the table that
    /// copies nothing out of the rows it does not keep.
    fn each_head(
        &self,
        table: &str,
        keep: impl Fn(u64) -> bool,
        mut f: impl FnMut(RowHead<'_>),
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT pk, sk, version, image FROM items WHERE tbl = ?1 ORDER BY pk, sk",
        )?;
        let mut rows = stmt.query([table])?;
        while let Some(r) = rows.next()? {
            let blob = |i: usize, name: &str| {
                r.get_ref(i)?
                    .as_blob()
                    .map_err(|e| StoreError::Corrupt(format!("items.{name}: {e}")))
            };
            let (partition, sort) = (blob(0, "pk")?, blob(1, "sk")?);
            let key_hash = digest::key_hash_of(partition, sort);
            if !keep(key_hash) {
                continue;
            }
            f(RowHead {
                partition,
                sort,
                version: blob(2, "version")?,
                image: r
                    .get_ref(3)?
                    .as_blob_or_null()
                    .map_err(|e| StoreError::Corrupt(format!("items.image: {e}")))?,
                key_hash,
            });
        }
        Ok(())
    }

    /// The root of every table's tree (`$catalog` included) that has ever
    /// held a head here, in table order: where a comparison starts.
    pub fn digest_roots(&self) -> Result<Vec<(String, Summary)>, StoreError> {
        digest_rows::roots(&self.conn)
    }

    /// The 16 children of each of `parents`, any level, in order: above
    /// the stored leaves from the leaves, at or below them from the heads
    /// of their leaves, all read from one snapshot (one pass over the table
    /// for all the parents that need heads).
    pub fn digest_children_of(
        &self,
        table: &str,
        parents: &[NodeId],
    ) -> Result<Vec<Vec<(NodeId, Summary)>>, StoreError> {
        self.snapshot(|r| r.children_in_snapshot(table, parents))
    }

    fn children_in_snapshot(
        &self,
        table: &str,
        parents: &[NodeId],
    ) -> Result<Vec<Vec<(NodeId, Summary)>>, StoreError> {
        let deep: Vec<u32> = parents
            .iter()
            .filter(|p| p.level >= digest::LEAF_LEVEL)
            .map(|p| p.leaves().start)
            .collect();
        let mut heads: Vec<HeadDigest> = if deep.is_empty() {
            Vec::new()
        } else {
            self.leaf_digests(table, &deep)?
        };
        heads.sort_unstable_by_key(|h| h.key_hash);
        let leaves = if deep.len() < parents.len() {
            self.digest_leaves(table)?
        } else {
            Vec::new()
        };
        Ok(parents
            .iter()
            .map(|p| {
                if p.level >= digest::LEAF_LEVEL {
                    digest::children_of_sorted(*p, &heads)
                } else {
                    digest::children_from_leaves(*p, &leaves)
                }
            })
            .collect())
    }

    /// The heads of `table` below any of `nodes`, in key order, refused
    /// when there are more than `limit` of them (the caller should descend
    /// further instead): a comparison's last step before it names keys.
    pub fn heads_under(
        &self,
        table: &str,
        nodes: &[NodeId],
        limit: usize,
    ) -> Result<Vec<LeafHead>, StoreError> {
        let leaves: Vec<u32> = nodes.iter().flat_map(NodeId::leaves).collect();
        let wanted = wanted_leaves(&leaves)?;
        let ranges = digest::ranges(nodes);
        // Counted to the end for the error, copied only up to the limit.
        let (mut heads, mut held) = (Vec::new(), 0usize);
        self.each_head(
            table,
            |key_hash| {
                wanted[NodeId::leaf_of(key_hash).index as usize]
                    && digest::covers(&ranges, key_hash)
            },
            |h| {
                held += 1;
                if held <= limit {
                    heads.push(h.to_owned());
                }
            },
        )?;
        if held > limit {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "nodes",
                format!(
                    "the nodes hold {held} heads, more than the limit of {limit}; ask for their children"
                ),
            )));
        }
        Ok(heads)
    }

    /// The heads of `table` below any of `nodes`, as mutations ready to
    /// ship ([`Reader::entries`]), in key order after `after`, at most
    /// `limit` of them and until about `max_bytes`: what a replica that
    /// lacks a whole subtree needs. The second value is true when more
    /// follow the last one returned.
    pub fn entries_under(
        &self,
        table: &str,
        nodes: &[NodeId],
        after: Option<&EncodedKey>,
        (limit, max_bytes): (usize, usize),
    ) -> Result<(Vec<Mutation>, bool), StoreError> {
        self.snapshot(|r| r.entries_under_in_snapshot(table, nodes, after, limit, max_bytes))
    }

    fn entries_under_in_snapshot(
        &self,
        table: &str,
        nodes: &[NodeId],
        after: Option<&EncodedKey>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Mutation>, bool), StoreError> {
        let Some(table_version) = self.table_version_bytes(table)? else {
            return Ok((Vec::new(), false));
        };
        const COLUMNS: &str =
            "SELECT pk, sk, version, prev, ctx, image, ttl FROM items WHERE tbl = ?1";
        let (mut stmt, args) = match after {
            // Row values compare as the primary key orders: strictly after
            // `after`, a range of the key's index.
            Some(k) => (
                self.conn.prepare_cached(&format!(
                    "{COLUMNS} AND (pk, sk) > (?2, ?3) ORDER BY pk, sk"
                ))?,
                params_from_iter(vec![
                    Value::Text(table.to_string()),
                    Value::Blob(k.partition.clone()),
                    Value::Blob(k.sort.clone()),
                ]),
            ),
            None => (
                self.conn
                    .prepare_cached(&format!("{COLUMNS} ORDER BY pk, sk"))?,
                params_from_iter(vec![Value::Text(table.to_string())]),
            ),
        };
        let mut rows = stmt.query(args)?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let ranges = digest::ranges(nodes);
        while let Some(r) = rows.next()? {
            let key = EncodedKey {
                partition: r.get(0)?,
                sort: r.get(1)?,
            };
            let key_hash = digest::key_hash(&key);
            if !digest::covers(&ranges, key_hash) {
                continue;
            }
            if (bytes >= max_bytes || out.len() >= limit) && !out.is_empty() {
                return Ok((out, true));
            }
            let m = head_mutation(
                table,
                &table_version,
                key,
                (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
            )?;
            bytes += m.size();
            out.push(m);
        }
        Ok((out, false))
    }

    /// The catalog version of `table`'s live incarnation, as an item
    /// mutation carries it (`None` for `$catalog` itself: `Some(None)`).
    fn table_version_bytes(&self, table: &str) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        if table == CATALOG_TABLE {
            return Ok(Some(None));
        }
        Ok(self.table_def(table)?.map(|(_, v)| Some(v.to_bytes())))
    }

    /// The current heads of `keys` in `table`, as mutations ready to ship
    /// to a peer that lacks them and apply there by the normal LWW apply,
    /// from one snapshot. A key with no head is left out. Each carries the
    /// table's current catalog version (an items row exists only in the
    /// current incarnation); `seq` is 0 and `commit_real` the version's
    /// physical time, since a head is not a log entry.
    pub fn entries(&self, table: &str, keys: &[EncodedKey]) -> Result<Vec<Mutation>, StoreError> {
        self.snapshot(|r| r.entries_in_snapshot(table, keys))
    }

    fn entries_in_snapshot(
        &self,
        table: &str,
        keys: &[EncodedKey],
    ) -> Result<Vec<Mutation>, StoreError> {
        let Some(table_version) = self.table_version_bytes(table)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT version, prev, ctx, image, ttl FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3",
        )?;
        let mut out = Vec::new();
        for key in keys {
            let row = stmt
                .query_row(params![table, key.partition, key.sort], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Option<Vec<u8>>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                })
                .optional()?;
            let Some(row) = row else {
                continue;
            };
            out.push(head_mutation(table, &table_version, key.clone(), row)?);
        }
        Ok(out)
    }

    /// The leaves of `table` whose stored summary differs from one
    /// recomputed from its heads: empty when the maintained tree is exact.
    /// Reads the whole table, from one snapshot.
    pub fn verify_digest(&self, table: &str) -> Result<Vec<u32>, StoreError> {
        let all: Vec<u32> = (0..digest::LEAVES).collect();
        let (stored, heads) =
            self.snapshot(|r| Ok((r.digest_leaves(table)?, r.leaf_heads(table, &all)?)))?;
        let recomputed = digest::leaves_of(heads.into_iter().map(|h| h.digest));
        Ok(differing_leaves(&stored, &recomputed))
    }
}

/// An items row's (version, prev, ctx, image, ttl).
/// One head as [`Reader::each_head`] reads it, borrowed from its row.
struct RowHead<'a> {
    partition: &'a [u8],
    sort: &'a [u8],
    version: &'a [u8],
    image: Option<&'a [u8]>,
    key_hash: u64,
}

impl RowHead<'_> {
    fn digest(&self) -> HeadDigest {
        HeadDigest {
            key_hash: self.key_hash,
            entry: digest::entry_of(self.partition, self.sort, self.version, self.image),
        }
    }

    fn to_owned(&self) -> LeafHead {
        LeafHead {
            key: EncodedKey {
                partition: self.partition.to_vec(),
                sort: self.sort.to_vec(),
            },
            version: self.version.to_vec(),
            tombstone: self.image.is_none(),
            digest: self.digest(),
        }
    }
}

/// Which of the stored leaves `leaves` names, refusing a number that is
/// not a leaf (`leaves` may come from a peer).
fn wanted_leaves(leaves: &[u32]) -> Result<Vec<bool>, StoreError> {
    let mut wanted = vec![false; digest::LEAVES as usize];
    for (i, &leaf) in leaves.iter().enumerate() {
        if leaf >= digest::LEAVES {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                format!("leaves[{i}]"),
                format!("{leaf} is not a leaf; there are {}", digest::LEAVES),
            )));
        }
        wanted[leaf as usize] = true;
    }
    Ok(wanted)
}

type HeadColumns = (Vec<u8>, Option<Vec<u8>>, Vec<u8>, Option<Vec<u8>>, bool);

/// The head of `key` as a mutation ready to ship: `seq` 0 and
/// `commit_real` the version's physical time, since a head is not a log
/// entry.
fn head_mutation(
    table: &str,
    table_version: &Option<Vec<u8>>,
    key: EncodedKey,
    (version, prev, context, image, ttl): HeadColumns,
) -> Result<Mutation, StoreError> {
    let physical = Version::from_bytes(&version)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .hlc
        .physical;
    Ok(Mutation {
        seq: 0,
        table: table.to_string(),
        table_version: table_version.clone(),
        key,
        version,
        prev,
        context,
        image,
        commit_real: physical,
        ttl,
        unit: (0, 1),
    })
}

/// The leaves whose summaries differ between two lists of non-empty
/// leaves, each in leaf order, in leaf order.
pub fn differing_leaves(a: &[(u32, Summary)], b: &[(u32, Summary)]) -> Vec<u32> {
    let a: HashMap<u32, Summary> = a.iter().copied().collect();
    let b: HashMap<u32, Summary> = b.iter().copied().collect();
    let mut out: Vec<u32> = a
        .keys()
        .chain(b.keys())
        .copied()
        .filter(|l| a.get(l) != b.get(l))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A node whose summary the store keeps.
fn check_stored(node: NodeId) -> Result<(), StoreError> {
    if node.level > digest::LEAF_LEVEL {
        return Err(StoreError::Invalid(meridian_core::Error::invalid(
            "level",
            format!(
                "{} is below the stored leaves (level {}); sum the leaf's heads instead",
                node.level,
                digest::LEAF_LEVEL
            ),
        )));
    }
    Ok(())
}
