//! The bytes of a strong-mode log entry: as a member stores it and as it
//! travels between members, the same bytes (the write's mutations
//! included), so an entry is never encoded twice.
//!
//! Decoding takes untrusted input: every length is checked against what is
//! left, so a forged entry fails with [`CodecError`] and never allocates
//! more than it carries. The keys a write entry names for the protocol are
//! derived from its mutations, never taken on trust.

use crate::Mutation;
use crate::key::EncodedKey;

use super::types::{Body, Entry, KeyWrite, Member, ProposalId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strong-mode entry: {0}")]
pub struct CodecError(pub String);

/// The mutations of a write entry, with the live version each key had
/// where the write was evaluated (`None`: no live item).
#[derive(Clone, Debug, PartialEq)]
pub struct Writes {
    pub mutations: Vec<Mutation>,
    pub expect: Vec<Option<Vec<u8>>>,
}

/// The key a write names for the protocol: its table and its key, so
/// writes to two tables never collide.
pub fn protocol_key(table: &str, key: &EncodedKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + table.len() + key.partition.len() + key.sort.len());
    put_bytes(&mut out, table.as_bytes());
    put_bytes(&mut out, &key.partition);
    out.extend_from_slice(&key.sort);
    out
}

impl Writes {
    /// The entry body for these writes.
    pub fn into_body(self) -> Body {
        let keys = self.keys();
        Body::Write {
            keys,
            payload: self.encode(),
        }
    }

    fn keys(&self) -> Vec<KeyWrite> {
        self.mutations
            .iter()
            .zip(&self.expect)
            .map(|(m, e)| KeyWrite {
                key: protocol_key(&m.table, &m.key),
                expect: e.clone(),
                version: m.version.clone(),
            })
            .collect()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u32(&mut out, self.mutations.len() as u32);
        for (m, e) in self.mutations.iter().zip(&self.expect) {
            put_bytes(&mut out, m.table.as_bytes());
            put_opt(&mut out, m.table_version.as_deref());
            put_bytes(&mut out, &m.key.partition);
            put_bytes(&mut out, &m.key.sort);
            put_bytes(&mut out, &m.version);
            put_opt(&mut out, m.prev.as_deref());
            put_bytes(&mut out, &m.context);
            put_opt(&mut out, m.image.as_deref());
            out.extend_from_slice(&m.commit_real.to_le_bytes());
            out.push(m.ttl as u8);
            put_opt(&mut out, e.as_deref());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Cursor(bytes);
        let n = r.u32()? as usize;
        // Each mutation takes at least 40 bytes: a count past that is forged.
        if n > bytes.len() / 40 + 1 {
            return Err(CodecError(format!(
                "{n} mutations in {} bytes",
                bytes.len()
            )));
        }
        let mut mutations = Vec::with_capacity(n);
        let mut expect = Vec::with_capacity(n);
        for i in 0..n {
            let table = String::from_utf8(r.bytes()?.to_vec())
                .map_err(|_| CodecError("a table name is not UTF-8".into()))?;
            let table_version = r.opt()?;
            let partition = r.bytes()?.to_vec();
            let sort = r.bytes()?.to_vec();
            let version = r.bytes()?.to_vec();
            let prev = r.opt()?;
            let context = r.bytes()?.to_vec();
            let image = r.opt()?;
            let commit_real = r.u64()?;
            let ttl = r.u8()? != 0;
            expect.push(r.opt()?);
            mutations.push(Mutation {
                seq: 0,
                table,
                table_version,
                key: EncodedKey { partition, sort },
                version,
                prev,
                context,
                image,
                commit_real,
                ttl,
                unit: (i as u32, n as u32),
            });
        }
        r.end()?;
        Ok(Writes { mutations, expect })
    }
}

/// An entry's bytes.
pub fn encode(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(entry.id.origin);
    out.extend_from_slice(&entry.id.life.to_le_bytes());
    out.extend_from_slice(&entry.id.seq.to_le_bytes());
    match &entry.body {
        Body::Write { payload, .. } => {
            out.push(1);
            out.extend_from_slice(payload);
        }
        Body::Rejoin { member, nonce } => {
            out.push(2);
            out.push(*member);
            out.extend_from_slice(&nonce.to_le_bytes());
        }
    }
    out
}

/// An entry from its bytes, with a write's mutations decoded (checked)
/// and its protocol keys derived from them.
pub fn decode(bytes: &[u8]) -> Result<(Entry, Option<Writes>), CodecError> {
    let mut r = Cursor(bytes);
    let origin: Member = r.u8()?;
    let life = r.u64()?;
    let seq = r.u64()?;
    let id = ProposalId { origin, life, seq };
    if origin as usize >= super::MEMBERS {
        return Err(CodecError(format!("origin {origin} is not a member")));
    }
    match r.u8()? {
        1 => {
            let payload = r.0;
            let writes = Writes::decode(payload)?;
            let keys = writes.keys();
            let entry = Entry {
                id,
                body: Body::Write {
                    keys,
                    payload: payload.to_vec(),
                },
            };
            Ok((entry, Some(writes)))
        }
        2 => {
            let member = r.u8()?;
            let nonce = r.u64()?;
            r.end()?;
            if member as usize >= super::MEMBERS {
                return Err(CodecError(format!("rejoin of member {member}")));
            }
            Ok((
                Entry {
                    id,
                    body: Body::Rejoin { member, nonce },
                },
                None,
            ))
        }
        k => Err(CodecError(format!("entry kind {k}"))),
    }
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

fn put_opt(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            put_bytes(out, b);
        }
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.0.len() < n {
            return Err(CodecError(format!(
                "{n} bytes wanted, {} left",
                self.0.len()
            )));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn opt(&mut self) -> Result<Option<Vec<u8>>, CodecError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?.to_vec())),
            f => Err(CodecError(format!("option flag {f}"))),
        }
    }

    fn end(&self) -> Result<(), CodecError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CodecError(format!("{} bytes past the end", self.0.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes() -> Writes {
        Writes {
            mutations: vec![Mutation {
                seq: 0,
                table: "orders".into(),
                table_version: Some(vec![1, 2]),
                key: EncodedKey {
                    partition: b"p".to_vec(),
                    sort: b"s".to_vec(),
                },
                version: vec![9; 12],
                prev: None,
                context: vec![3],
                image: Some(vec![4, 5]),
                commit_real: 77,
                ttl: false,
                unit: (0, 1),
            }],
            expect: vec![Some(vec![8; 12])],
        }
    }

    #[test]
    fn an_entry_round_trips_with_its_keys_derived() {
        let entry = Entry {
            id: ProposalId {
                origin: 2,
                life: 5,
                seq: 9,
            },
            body: writes().into_body(),
        };
        let bytes = encode(&entry);
        let (back, w) = decode(&bytes).expect("decodes");
        assert_eq!(back, entry);
        assert_eq!(w.expect("writes"), writes());
        let rejoin = Entry {
            id: ProposalId::default(),
            body: Body::Rejoin {
                member: 1,
                nonce: 42,
            },
        };
        assert_eq!(decode(&encode(&rejoin)).expect("decodes").0, rejoin);
    }

    #[test]
    fn every_cut_or_flipped_entry_is_refused_or_decodes_without_panic() {
        let entry = Entry {
            id: ProposalId::default(),
            body: writes().into_body(),
        };
        let bytes = encode(&entry);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} decoded");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xFF;
            let _ = decode(&b);
        }
        let mut huge = bytes.clone();
        huge[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
    }
}
