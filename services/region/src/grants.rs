//! Replication withheld by resource-based policies
//! (`meridian_core::replicas::authorize`): for each peer, the tables whose
//! entries this region neither applies from it nor pulls from it by
//! repair, because the pair's policies do not grant the replication
//! service both ways. The receiver skips them (`meridian_store::Skip::Withheld`),
//! and acknowledges them so the link goes on; when a grant comes back, the
//! resume worker (`crate::resume`) pulls what was skipped by repair.
//!
//! Worked out from the catalog, which every region holds alike, so both
//! ends of a pair withhold the same tables; again whenever the catalog
//! changes, and every [`REFRESH`] besides, since a policy's conditions
//! may name a time (the deny statement AWS FIS adds to pause a table). A
//! pure core: the grants worker (`crate::grants_refresh`) reads the
//! catalog and hands it in.

use std::collections::BTreeMap;
use std::time::Duration;

use meridian_core::policy::Policy;
use meridian_core::replicas::authorize;

/// How often the grants are worked out again without a catalog change.
pub const REFRESH: Duration = Duration::from_secs(1);

/// A table and a peer: one pair of replicas' replication of one table.
pub type Pair = (String, String);

/// The tables withheld, by peer, as last worked out.
#[derive(Debug, Default)]
pub struct Withheld {
    by_peer: BTreeMap<String, Vec<String>>,
    /// Pairs granted again and not yet taken to be pulled back
    /// ([`Withheld::take_reopened`]).
    reopened: Vec<Pair>,
    /// The catalog epoch and the time they were worked out at.
    epoch: Option<u64>,
    at: Option<tokio::time::Instant>,
}

impl Withheld {
    /// The tables whose entries from `peer` are skipped.
    pub fn tables(&self, peer: &str) -> &[String] {
        self.by_peer.get(peer).map_or(&[], Vec::as_slice)
    }

    /// Whether `table` is withheld between this region and `peer`.
    pub fn blocks(&self, peer: &str, table: &str) -> bool {
        self.tables(peer).iter().any(|t| t == table)
    }

    /// Whether the grants are to be worked out again at `now`, the
    /// catalog being at `epoch`.
    pub fn due(&self, epoch: u64, now: tokio::time::Instant) -> bool {
        self.epoch != Some(epoch) || self.at.is_none_or(|at| now >= at + REFRESH)
    }

    /// Takes `fresh`, worked out at `now` from the catalog at `epoch`, and
    /// answers the pairs (table, peer) granted again since the last time
    /// and those newly withheld. The pairs granted again are kept, too,
    /// for [`Withheld::take_reopened`].
    pub fn replace(
        &mut self,
        fresh: BTreeMap<String, Vec<String>>,
        epoch: u64,
        now: tokio::time::Instant,
    ) -> (Vec<Pair>, Vec<Pair>) {
        let pairs = |m: &BTreeMap<String, Vec<String>>| -> Vec<Pair> {
            m.iter()
                .flat_map(|(peer, tables)| tables.iter().map(|t| (t.clone(), peer.clone())))
                .collect()
        };
        let (was, now_withheld) = (pairs(&self.by_peer), pairs(&fresh));
        let reopened: Vec<Pair> = was
            .iter()
            .filter(|p| !now_withheld.contains(p))
            .cloned()
            .collect();
        let closed: Vec<Pair> = now_withheld
            .iter()
            .filter(|p| !was.contains(p))
            .cloned()
            .collect();
        self.by_peer = fresh;
        self.epoch = Some(epoch);
        self.at = Some(now);
        self.reopened.extend_from_slice(&reopened);
        (reopened, closed)
    }

    /// The pairs (table, peer) granted again since the last call and not
    /// withheld again since: what the resume worker pulls back by repair.
    pub fn take_reopened(&mut self) -> Vec<Pair> {
        let mut out = std::mem::take(&mut self.reopened);
        out.retain(|(table, peer)| !self.blocks(peer, table));
        out.dedup();
        out
    }
}

/// The pairs (table, peer) withheld from this region (`me`) at `now`
/// (wall-clock µs), from each table's definition and policies.
pub fn work_out(
    me: &str,
    tables: &[(meridian_core::TableDef, BTreeMap<String, authorize::Stored>)],
    now: u64,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (def, stored) in tables {
        // STRONG tables are same-account only, and replicate by consensus.
        if def.consistency.strong().is_some() || !def.has_replica(me) {
            continue;
        }
        let policies: authorize::Policies = stored
            .iter()
            .map(|(r, s)| (r.clone(), Policy::parse(&s.document)))
            .collect();
        for peer in meridian_core::replicas::disassociate::group(def, me) {
            if peer != me && !authorize::pair(def, &policies, me, &peer, now) {
                out.entry(peer).or_default().push(def.name.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denying_policy_withholds_its_table_from_every_peer_of_that_replica() {
        use meridian_core::{KeyAttr, KeySchema, KeyType, TableDef};
        let key = KeySchema {
            partition: KeyAttr {
                name: "pk".into(),
                ty: KeyType::S,
            },
            sort: None,
        };
        let regions = ["a", "b", "c"].map(String::from).to_vec();
        let def = TableDef::new("orders", key, regions).unwrap();
        let deny = authorize::Stored {
            revision: "1".into(),
            document: format!(
                r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"dynamodb:*DataForReplication","Resource":"*","Condition":{{"StringEquals":{{"aws:PrincipalServiceName":"{}"}}}}}}]}}"#,
                authorize::SERVICE
            ),
        };
        let tables = vec![(def, BTreeMap::from([("b".to_string(), deny)]))];
        assert_eq!(
            work_out("a", &tables, 0),
            BTreeMap::from([("b".into(), vec!["orders".into()])])
        );
        assert_eq!(
            work_out("b", &tables, 0),
            BTreeMap::from([
                ("a".into(), vec!["orders".into()]),
                ("c".into(), vec!["orders".into()])
            ])
        );
        assert!(work_out("x", &tables, 0).is_empty());
    }

    #[test]
    fn a_pair_granted_again_is_taken_once_unless_withheld_again() {
        let t0 = tokio::time::Instant::now();
        let withheld = |peers: &[&str]| -> BTreeMap<String, Vec<String>> {
            peers
                .iter()
                .map(|p| (p.to_string(), vec!["t".to_string()]))
                .collect()
        };
        let mut w = Withheld::default();
        assert!(w.due(0, t0));
        let (reopened, closed) = w.replace(withheld(&["b", "c"]), 0, t0);
        assert!(reopened.is_empty());
        assert_eq!(closed.len(), 2);
        assert!(w.blocks("b", "t") && !w.due(0, t0));
        assert!(w.due(1, t0), "a catalog change");
        assert!(w.due(0, t0 + REFRESH), "a second later");
        let (reopened, _) = w.replace(withheld(&[]), 1, t0);
        assert_eq!(reopened.len(), 2);
        // c's grant is withheld again before the pairs are taken.
        w.replace(withheld(&["c"]), 2, t0);
        assert_eq!(w.take_reopened(), vec![("t".to_string(), "b".to_string())]);
        assert!(w.take_reopened().is_empty(), "taken once");
    }
}
