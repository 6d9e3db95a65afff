//! Strong-mode messages on the wire: the core's [`Msg`] to and from
//! `meridian.v1.StrongEnvelope`. Decoding checks a peer's message as
//! untrusted input: bounded counts, ballots and members in range, every
//! entry's bytes decoded ([`codec`]), and every write's mutations checked
//! by the same rules as a replication batch (`untrusted::decode_batch`) and
//! against the table they claim.

use std::sync::Arc;

use meridian_core::strong::codec::{self, Writes};
use meridian_core::strong::{
    Ballot, Entry, Generation, Index, LIVES_KEPT, MEMBERS, Msg, ProposalId, Refusal, Slot,
};
use meridian_core::{Mutation, TableDef};
use meridian_proto::v1 as pb;
use pb::strong_envelope::Msg as M;

use crate::convert::mutation_to_pb;
use crate::untrusted::{Origins, decode_batch};

/// Most entries one message may carry: the core sends at most 512.
pub const MAX_ENTRIES: usize = 4_096;

/// Most bytes of heads in one part of a snapshot a member takes: the
/// leader cuts parts at [`SNAPSHOT_PART_BYTES`], which one head of the
/// largest item allowed may pass.
pub const MAX_SNAPSHOT_PART_BYTES: usize = 4 << 20;

/// Most heads in one part of a snapshot a member takes.
pub const MAX_SNAPSHOT_PART_HEADS: usize = 4_096;

/// Where the leader cuts a snapshot into parts: past this many bytes of
/// heads, or [`SNAPSHOT_PART_HEADS`] heads.
pub const SNAPSHOT_PART_BYTES: usize = 1 << 20;
pub const SNAPSHOT_PART_HEADS: usize = 1_024;

/// A message as it arrived, before its table is looked up.
pub struct Envelope {
    pub from: String,
    pub table: String,
    pub incarnation: Vec<u8>,
    pub generation: Generation,
    pub msg: Msg,
    /// The decoded writes of the entries it carries, to be checked against
    /// the table.
    pub writes: Vec<Writes>,
}

/// Why a message was refused; the reason is its metric label.
#[derive(Debug, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct WireError {
    pub reason: &'static str,
    pub detail: String,
}

fn malformed(detail: impl Into<String>) -> WireError {
    WireError {
        reason: "malformed",
        detail: detail.into(),
    }
}

fn ballot_pb(b: Ballot) -> pb::StrongBallot {
    pb::StrongBallot {
        round: b.round,
        leader: b.leader as u32,
    }
}

fn ballot(b: Option<pb::StrongBallot>) -> Result<Ballot, WireError> {
    let b = b.ok_or_else(|| malformed("a ballot is missing"))?;
    if b.leader as usize >= MEMBERS {
        return Err(malformed(format!(
            "ballot leader {} is not a member",
            b.leader
        )));
    }
    Ok(Ballot {
        round: b.round,
        leader: b.leader as u8,
    })
}

/// The envelope of `msg` from this region.
pub fn encode(
    from: &str,
    table: &str,
    incarnation: &[u8],
    generation: Generation,
    msg: &Msg,
) -> pb::StrongEnvelope {
    pb::StrongEnvelope {
        from_region: from.to_string(),
        table: table.to_string(),
        table_version: incarnation.to_vec(),
        generation: generation.counter,
        nonce: generation.nonce,
        msg: Some(msg_pb(msg)),
    }
}

fn generation_pb(g: Generation) -> pb::StrongGeneration {
    pb::StrongGeneration {
        counter: g.counter,
        nonce: g.nonce,
    }
}

fn generation(g: pb::StrongGeneration) -> Generation {
    Generation {
        counter: g.counter,
        nonce: g.nonce,
    }
}

/// One message of the core, as the wire carries it, by kind: field for
/// field; those that carry entries or heads have a function of their own,
/// as in decoding. Over 70 lines, since it is one arm per kind of message
/// in one match, so that the compiler checks every kind has its wire
/// form; split by kind, each part would need an arm for the kinds it does
/// not take.
fn msg_pb(msg: &Msg) -> M {
    match msg {
        Msg::Hello { lives } => M::Hello(pb::StrongHello {
            lives: lives.iter().map(|g| generation_pb(*g)).collect(),
        }),
        Msg::Welcome { life } => M::Welcome(generation_pb(*life)),
        Msg::Stale { seen } => M::Stale(generation_pb(*seen)),
        Msg::Probe { ballot } => M::Probe(ballot_pb(*ballot)),
        Msg::ProbeReply { ballot, ok } => M::ProbeReply(pb::StrongProbeReply {
            ballot: Some(ballot_pb(*ballot)),
            ok: *ok,
        }),
        Msg::Prepare { ballot, after } => M::Prepare(pb::StrongPrepare {
            ballot: Some(ballot_pb(*ballot)),
            after: *after,
        }),
        Msg::Promise {
            ballot,
            commit,
            entries,
            more,
        } => M::Promise(promise_pb(*ballot, *commit, entries, *more)),
        Msg::Nack { promised } => M::Nack(ballot_pb(*promised)),
        Msg::Accept {
            ballot,
            start,
            entries,
            commit,
            safe,
            ping,
            held,
        } => M::Accept(accept_pb(
            *ballot,
            *start,
            entries,
            (*commit, *safe, *held),
            *ping,
        )),
        Msg::Accepted {
            ballot,
            through,
            voter,
            ping,
            gap,
        } => M::Accepted(pb::StrongAccepted {
            ballot: Some(ballot_pb(*ballot)),
            through: *through,
            voter: *voter,
            ping: *ping,
            gap: *gap,
        }),
        Msg::Propose { entry, ballot } => M::Propose(pb::StrongPropose {
            entry: codec::encode(entry),
            ballot: Some(ballot_pb(*ballot)),
        }),
        Msg::Refused { id, reason } => M::Refused(refused_pb(id, reason)),
        Msg::ReadIndex { rid, confirm } => M::ReadIndex(pb::StrongReadIndex {
            rid: *rid,
            confirm: *confirm,
        }),
        Msg::ReadAt { rid, ballot, index } => M::ReadAt(pb::StrongReadAt {
            rid: *rid,
            ballot: Some(ballot_pb(*ballot)),
            index: *index,
        }),
        Msg::Held {
            ballot,
            held,
            commit,
        } => M::Held(pb::StrongHeld {
            ballot: Some(ballot_pb(*ballot)),
            held: *held,
            commit: *commit,
        }),
        Msg::Snapshot {
            ballot,
            through,
            part,
            last,
            data,
        } => M::Snapshot(snapshot_pb(*ballot, *through, *part, *last, data)),
        Msg::SnapshotAck {
            ballot,
            through,
            next,
        } => M::SnapshotAck(pb::StrongSnapshotAck {
            ballot: Some(ballot_pb(*ballot)),
            through: *through,
            next: *next,
        }),
    }
}

/// A promise: the candidate's ballot, the promiser's commit, and the
/// entries it accepted past the candidate's, each with its ballot.
fn promise_pb(
    ballot: Ballot,
    commit: Index,
    entries: &[(Index, Slot)],
    more: bool,
) -> pb::StrongPromise {
    pb::StrongPromise {
        ballot: Some(ballot_pb(ballot)),
        commit,
        entries: entries
            .iter()
            .map(|(i, s)| pb::StrongSlot {
                index: *i,
                ballot: Some(ballot_pb(s.ballot)),
                entry: codec::encode(&s.entry),
            })
            .collect(),
        more,
    }
}

/// The leader's entries from `start` on, with how far its log is chosen
/// (`commit`), safe to drop (`safe`) and durable on its own disk (`held`).
fn accept_pb(
    ballot: Ballot,
    start: Index,
    entries: &[Arc<Entry>],
    (commit, safe, held): (Index, Index, Index),
    ping: u64,
) -> pb::StrongAccept {
    pb::StrongAccept {
        ballot: Some(ballot_pb(ballot)),
        start,
        entries: entries.iter().map(|e| codec::encode(e)).collect(),
        commit,
        safe,
        ping,
        held,
    }
}

/// One part of a snapshot through `through`: the heads as the leader cut
/// them.
fn snapshot_pb(
    ballot: Ballot,
    through: Index,
    part: u32,
    last: bool,
    heads: &[u8],
) -> pb::StrongSnapshot {
    pb::StrongSnapshot {
        ballot: Some(ballot_pb(ballot)),
        through,
        part,
        last,
        heads: heads.to_vec(),
    }
}

/// A refusal on the wire: its reason by name, with the index a stale one
/// names.
fn refused_pb(id: &ProposalId, reason: &Refusal) -> pb::StrongRefused {
    let (reason, index) = match reason {
        Refusal::Conflict => ("conflict", 0),
        Refusal::Stale { index } => ("stale", *index),
        Refusal::Busy => ("busy", 0),
        Refusal::NotLeader => ("not_leader", 0),
    };
    pb::StrongRefused {
        origin: id.origin as u32,
        life: id.life,
        seq: id.seq,
        reason: reason.into(),
        index,
    }
}

/// A peer's envelope, decoded and checked as far as it can be without the
/// table ([`check_writes`] does the rest).
pub fn decode(env: pb::StrongEnvelope) -> Result<Envelope, WireError> {
    let mut d = Decoder::default();
    let msg = d.msg(env.msg.ok_or_else(|| malformed("no message"))?)?;
    Ok(Envelope {
        from: env.from_region,
        table: env.table,
        incarnation: env.table_version,
        generation: Generation {
            counter: env.generation,
            nonce: env.nonce,
        },
        msg,
        writes: d.writes,
    })
}

/// Most entries one message may carry ([`MAX_ENTRIES`]).
fn count(n: usize) -> Result<(), WireError> {
    if n > MAX_ENTRIES {
        Err(malformed(format!(
            "{n} entries in one message, the limit is {MAX_ENTRIES}"
        )))
    } else {
        Ok(())
    }
}

/// Decodes one message, gathering the writes its entries carry for
/// [`check_writes`].
#[derive(Default)]
struct Decoder {
    writes: Vec<Writes>,
}

impl Decoder {
    /// One entry's bytes ([`codec`]); its writes are kept.
    fn entry(&mut self, bytes: &[u8]) -> Result<Arc<Entry>, WireError> {
        let (e, w) = codec::decode(bytes).map_err(|e| malformed(e.to_string()))?;
        self.writes.extend(w);
        Ok(Arc::new(e))
    }

    /// The message, by kind; those that carry entries or heads have a
    /// function of their own.
    fn msg(&mut self, m: M) -> Result<Msg, WireError> {
        Ok(match m {
            M::Hello(h) => hello(h)?,
            M::Welcome(g) => Msg::Welcome {
                life: generation(g),
            },
            M::Stale(g) => Msg::Stale {
                seen: generation(g),
            },
            M::Probe(b) => Msg::Probe {
                ballot: ballot(Some(b))?,
            },
            M::ProbeReply(r) => Msg::ProbeReply {
                ballot: ballot(r.ballot)?,
                ok: r.ok,
            },
            M::Prepare(p) => Msg::Prepare {
                ballot: ballot(p.ballot)?,
                after: p.after,
            },
            M::Promise(p) => self.promise(p)?,
            M::Nack(b) => Msg::Nack {
                promised: ballot(Some(b))?,
            },
            M::Accept(a) => self.accept(a)?,
            M::Accepted(a) => Msg::Accepted {
                ballot: ballot(a.ballot)?,
                through: a.through,
                voter: a.voter,
                ping: a.ping,
                gap: a.gap,
            },
            M::Propose(p) => Msg::Propose {
                entry: self.entry(&p.entry)?,
                ballot: ballot(p.ballot)?,
            },
            M::Refused(r) => refused(r)?,
            M::ReadIndex(r) => Msg::ReadIndex {
                rid: r.rid,
                confirm: r.confirm,
            },
            M::ReadAt(r) => Msg::ReadAt {
                rid: r.rid,
                ballot: ballot(r.ballot)?,
                index: r.index,
            },
            M::Held(h) => Msg::Held {
                ballot: ballot(h.ballot)?,
                held: h.held,
                commit: h.commit,
            },
            M::Snapshot(p) => self.snapshot(p)?,
            M::SnapshotAck(a) => Msg::SnapshotAck {
                ballot: ballot(a.ballot)?,
                through: a.through,
                next: a.next,
            },
        })
    }

    /// A promise: its entries at consecutive positions from 1 on.
    fn promise(&mut self, p: pb::StrongPromise) -> Result<Msg, WireError> {
        count(p.entries.len())?;
        let mut entries = Vec::with_capacity(p.entries.len());
        for s in p.entries {
            let b = ballot(s.ballot)?;
            entries.push((
                s.index,
                Slot {
                    ballot: b,
                    entry: self.entry(&s.entry)?,
                },
            ));
        }
        if entries.windows(2).any(|w| w[1].0 != w[0].0 + 1)
            || entries.first().is_some_and(|e| e.0 == 0)
        {
            return Err(malformed(
                "a promise's entries are not consecutive positions",
            ));
        }
        Ok(Msg::Promise {
            ballot: ballot(p.ballot)?,
            commit: p.commit,
            entries,
            more: p.more,
        })
    }

    /// An accept: its entries from a position above 0.
    fn accept(&mut self, a: pb::StrongAccept) -> Result<Msg, WireError> {
        count(a.entries.len())?;
        if a.start == 0 {
            return Err(malformed("an accept starts at position 0"));
        }
        let entries = a
            .entries
            .iter()
            .map(|b| self.entry(b))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Msg::Accept {
            ballot: ballot(a.ballot)?,
            start: a.start,
            entries,
            commit: a.commit,
            safe: a.safe,
            ping: a.ping,
            held: a.held,
        })
    }

    /// A part of a snapshot: within the limits, above position 0, its
    /// heads kept as writes to check.
    fn snapshot(&mut self, p: pb::StrongSnapshot) -> Result<Msg, WireError> {
        if p.heads.len() > MAX_SNAPSHOT_PART_BYTES {
            return Err(malformed(format!(
                "a snapshot part of {} bytes, the limit is {MAX_SNAPSHOT_PART_BYTES}",
                p.heads.len()
            )));
        }
        if p.through == 0 {
            return Err(malformed("a snapshot at position 0"));
        }
        // The heads are checked against the table like a write's
        // mutations (`check_writes`): of its incarnation, valid, each
        // image under its own key.
        if !p.heads.is_empty() {
            let heads = Writes::decode(&p.heads).map_err(|e| malformed(e.to_string()))?;
            if heads.mutations.len() > MAX_SNAPSHOT_PART_HEADS {
                return Err(malformed(format!(
                    "{} heads in a snapshot part, the limit is {MAX_SNAPSHOT_PART_HEADS}",
                    heads.mutations.len()
                )));
            }
            if heads.expect.iter().any(Option::is_some) {
                return Err(malformed("a snapshot's head expects a version"));
            }
            // Each head is checked as a write of its own: heads of
            // several origins make no one unit.
            self.writes
                .extend(heads.mutations.into_iter().map(|m| Writes {
                    mutations: vec![m],
                    expect: vec![None],
                }));
        }
        Ok(Msg::Snapshot {
            ballot: ballot(p.ballot)?,
            through: p.through,
            part: p.part,
            last: p.last,
            data: p.heads,
        })
    }
}

/// A hello: no more lives than a member keeps.
fn hello(h: pb::StrongHello) -> Result<Msg, WireError> {
    if h.lives.len() > LIVES_KEPT {
        return Err(malformed(format!(
            "{} lives in a hello, the limit is {LIVES_KEPT}",
            h.lives.len()
        )));
    }
    Ok(Msg::Hello {
        lives: h
            .lives
            .iter()
            .map(|g| Generation {
                counter: g.counter,
                nonce: g.nonce,
            })
            .collect(),
    })
}

/// A refusal: from a member, for a reason the core knows.
fn refused(r: pb::StrongRefused) -> Result<Msg, WireError> {
    if r.origin as usize >= MEMBERS {
        return Err(malformed(format!("origin {} is not a member", r.origin)));
    }
    let reason = match r.reason.as_str() {
        "conflict" => Refusal::Conflict,
        "stale" => Refusal::Stale { index: r.index },
        "busy" => Refusal::Busy,
        "not_leader" => Refusal::NotLeader,
        other => return Err(malformed(format!("refusal {other:?}"))),
    };
    Ok(Msg::Refused {
        id: ProposalId {
            origin: r.origin as u8,
            life: r.life,
            seq: r.seq,
        },
        reason,
    })
}

/// Checks the writes a message carries against the table they claim:
/// every mutation of this table's incarnation, valid by the rules of a
/// replication batch (versions, contexts, images, keys, written by a
/// region of the cluster), each image holding its own key. A write that
/// passes here cannot fail to apply in any replica.
pub fn check_writes(
    from: &str,
    def: &TableDef,
    incarnation: &[u8],
    regions: &[String],
    writes: &[Writes],
) -> Result<(), WireError> {
    let forged = |detail: String| WireError {
        reason: "forged_entry",
        detail,
    };
    for w in writes {
        let mut entries: Vec<pb::LogEntry> = Vec::with_capacity(w.mutations.len());
        for (i, m) in w.mutations.iter().enumerate() {
            if m.table != def.name || m.table_version.as_deref() != Some(incarnation) {
                return Err(forged(format!(
                    "an entry of table {} carries a write of table {}",
                    def.name, m.table
                )));
            }
            let mut e = mutation_to_pb(Mutation {
                seq: i as u64 + 1,
                ..m.clone()
            });
            e.unit_pos = i as u32;
            e.unit_len = w.mutations.len() as u32;
            entries.push(e);
        }
        let batch = decode_batch(from, Origins::AnyRegion, regions, pb::Batch { entries })
            .map_err(|e| forged(e.to_string()))?;
        for m in &batch {
            if let Some(image) = &m.image {
                let item =
                    meridian_core::decode_item(image).map_err(|e| forged(format!("image: {e}")))?;
                let key = def
                    .key_schema
                    .key_of(&item)
                    .map_err(|e| forged(format!("image key: {e}")))?;
                if key != m.key {
                    return Err(forged("an image holds another key than its write".into()));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(n: u64) -> Msg {
        Msg::Hello {
            lives: (1..=n)
                .map(|counter| Generation {
                    counter,
                    nonce: counter * 7,
                })
                .collect(),
        }
    }

    fn snapshot(heads: Vec<u8>) -> Msg {
        Msg::Snapshot {
            ballot: Ballot {
                round: 2,
                leader: 1,
            },
            through: 70,
            part: 1,
            last: true,
            data: heads,
        }
    }

    /// A snapshot part travels whole, its heads each checked as a write of
    /// their own; one past the byte limit, or whose bytes are no heads, is
    /// refused as malformed.
    #[test]
    fn a_snapshot_part_carries_its_heads_within_the_limits() {
        let g = Generation {
            counter: 1,
            nonce: 5,
        };
        let head = |origin: &str, k: &str| Mutation {
            seq: 0,
            table: "t".into(),
            table_version: Some(b"v".to_vec()),
            key: meridian_core::EncodedKey {
                partition: k.as_bytes().to_vec(),
                sort: Vec::new(),
            },
            version: origin.as_bytes().to_vec(),
            prev: None,
            context: Vec::new(),
            image: None,
            commit_real: 0,
            ttl: false,
            unit: (0, 1),
        };
        let heads = Writes {
            mutations: vec![head("r-a", "x"), head("r-b", "y")],
            expect: vec![None, None],
        }
        .encode();
        let back = decode(encode("r-a", "t", b"v", g, &snapshot(heads.clone()))).unwrap();
        assert_eq!(back.msg, snapshot(heads));
        assert_eq!(back.writes.len(), 2, "one write per head");
        assert!(back.writes.iter().all(|w| w.mutations.len() == 1));
        let witness = decode(encode("r-a", "t", b"v", g, &snapshot(Vec::new()))).unwrap();
        assert!(witness.writes.is_empty());

        let big = decode(encode(
            "r-a",
            "t",
            b"v",
            g,
            &snapshot(vec![0; MAX_SNAPSHOT_PART_BYTES + 1]),
        ))
        .err()
        .expect("a part past the limit is refused");
        assert_eq!(big.reason, "malformed");
        assert!(big.detail.contains("limit"), "{}", big.detail);
        let junk = decode(encode("r-a", "t", b"v", g, &snapshot(vec![9; 10])))
            .err()
            .expect("bytes that are no heads are refused");
        assert_eq!(junk.reason, "malformed");
    }

    #[test]
    fn a_hello_carries_its_lives_and_no_more_than_kept() {
        let g = Generation {
            counter: 3,
            nonce: 9,
        };
        let back = decode(encode("r-a", "t", b"v", g, &hello(2))).unwrap();
        assert_eq!(back.msg, hello(2));
        assert_eq!(back.generation, g);
        let kept = decode(encode("r-a", "t", b"v", g, &hello(LIVES_KEPT as u64))).unwrap();
        assert_eq!(kept.msg, hello(LIVES_KEPT as u64));
        let refused = decode(encode("r-a", "t", b"v", g, &hello(LIVES_KEPT as u64 + 1)))
            .err()
            .expect("a hello past the limit is refused");
        assert_eq!(refused.reason, "malformed");
        assert!(refused.detail.contains("33 lives"), "{}", refused.detail);
    }
}
