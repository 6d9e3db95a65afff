//! Snapshots of a STRONG table in a region (docs/strong.md, *Catching up
//! past the compacted log*): the leader's side reads the table's heads as
//! of the position its store has applied (one read transaction), cuts them
//! into parts of at most [`SNAPSHOT_PART_BYTES`] and sends the part the
//! member asks for; the member's side keeps the parts in memory, in order,
//! until the last, and installs them in the group commit that makes its
//! state changes durable, before any later message leaves. A restart loses
//! the kept parts, and the member starts the snapshot over.
//!
//! Every part arrived through [`super::wire::decode`] and
//! [`super::wire::check_writes`]: its heads are of the table's incarnation,
//! valid by the rules of a replication batch, each image under its own key.

use std::collections::HashMap;

use meridian_core::Mutation;
use meridian_core::strong::codec::Writes;
use meridian_core::strong::{Ballot, Generation, Index, Member};

use super::wire::{SNAPSHOT_PART_BYTES, SNAPSHOT_PART_HEADS};
use crate::bridge::StrongInstall;

/// A part the core asked to send ([`meridian_core::strong::Action::SendSnapshot`]),
/// sent once the state changes before it are durable.
pub(crate) struct PartToSend {
    pub to: Member,
    pub ballot: Ballot,
    pub through: Option<Index>,
    pub part: u32,
    pub at_least: Index,
    pub generation: Generation,
}

/// A table's snapshots in flight, both ways.
#[derive(Default)]
pub(crate) struct Snapshots {
    /// The parts kept of the snapshot being received, in order.
    staged: Vec<Vec<u8>>,
    /// The snapshots being sent, by member: their position and parts.
    sending: HashMap<Member, (Index, Vec<Vec<u8>>)>,
    pub(crate) to_send: Vec<PartToSend>,
}

impl Snapshots {
    /// Whether the snapshot at `through` being sent to `to` is still held,
    /// with its part `part`.
    pub(crate) fn holds(&self, to: Member, through: Option<Index>, part: u32) -> bool {
        self.sending
            .get(&to)
            .is_some_and(|(t, parts)| Some(*t) == through && (part as usize) < parts.len())
    }

    /// Keeps the parts of a new snapshot at `through` for `to`.
    pub(crate) fn sending(&mut self, to: Member, through: Index, parts: Vec<Vec<u8>>) {
        self.sending.insert(to, (through, parts));
    }

    /// Part `part` of the snapshot being sent to `to`: its position,
    /// whether it is the last, and its bytes.
    pub(crate) fn part(&self, to: Member, part: u32) -> Option<(Index, bool, Vec<u8>)> {
        let (through, parts) = self.sending.get(&to)?;
        let data = parts.get(part as usize)?.clone();
        Some((*through, part as usize + 1 == parts.len(), data))
    }

    /// Keeps part `part`; part 0 starts a snapshot over.
    pub(crate) fn stage(&mut self, part: u32, data: Vec<u8>) {
        if part == 0 {
            self.staged.clear();
        }
        self.staged.push(data);
    }

    /// The parts kept, as the install of the snapshot at `through` (its
    /// heads, or none on the witness).
    pub(crate) fn install(
        &mut self,
        incarnation: &[u8],
        through: Index,
        witness: bool,
    ) -> Result<StrongInstall, String> {
        let parts = std::mem::take(&mut self.staged);
        let heads = if witness {
            None
        } else {
            let mut heads = Vec::new();
            for p in parts.iter().filter(|p| !p.is_empty()) {
                heads.extend(Writes::decode(p).map_err(|e| e.to_string())?.mutations);
            }
            Some(heads)
        };
        Ok(StrongInstall {
            incarnation: incarnation.to_vec(),
            through,
            heads,
        })
    }
}

/// Cuts a snapshot's heads into parts: each at most [`SNAPSHOT_PART_HEADS`]
/// heads, and cut once past [`SNAPSHOT_PART_BYTES`]; one empty part for a
/// table with no heads.
pub(crate) fn cut(heads: Vec<Mutation>) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut part: Vec<Mutation> = Vec::new();
    let mut bytes = 0;
    let encode = |part: Vec<Mutation>| {
        let expect = vec![None; part.len()];
        Writes {
            mutations: part,
            expect,
        }
        .encode()
    };
    for m in heads {
        bytes += 64
            + m.key.partition.len()
            + m.key.sort.len()
            + m.version.len()
            + m.context.len()
            + m.image.as_ref().map_or(0, Vec::len);
        part.push(m);
        if part.len() >= SNAPSHOT_PART_HEADS || bytes >= SNAPSHOT_PART_BYTES {
            parts.push(encode(std::mem::take(&mut part)));
            bytes = 0;
        }
    }
    if !part.is_empty() || parts.is_empty() {
        parts.push(encode(part));
    }
    parts
}
