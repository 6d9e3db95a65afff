//! A peer's replication batch, decoded and validated as the receiver does
//! (`decode_batch`), for the log stream and for repair. Half the inputs are
//! raw protobuf bytes; the other half build a batch of entries whose
//! versions, contexts, table definitions and images are well-formed or
//! not, as the input decides, so the checks past the first decode are
//! reached too. Any batch must be refused or accepted, never panic; what
//! is accepted holds the entries it was given.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use meridian_core::{AttrValue, Context, Item, Timestamp, Version, encode_item};
use meridian_proto::v1 as pb;
use meridian_region::replication::{Origins, decode_batch};
use prost::Message;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const NAMES: [&str; 5] = ["eu-west-1", "us-east-1", "ap-southeast-1", "mallory-1", ""];
const TABLES: [&str; 4] = ["orders", "$catalog", "", "o"];

fn version(u: &mut Unstructured) -> Result<Version> {
    Ok(Version::new(
        Timestamp::new(u.int_in_range(0..=3_000_000_000_000_000)?, u.arbitrary()?),
        *u.choose(&NAMES)?,
    ))
}

/// Well-formed bytes from `good`, or the input's own.
fn bytes(
    u: &mut Unstructured,
    good: impl FnOnce(&mut Unstructured) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    if u.ratio(1, 4)? {
        u.arbitrary()
    } else {
        good(u)
    }
}

fn item(u: &mut Unstructured) -> Result<Item> {
    let mut item = Item::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let name: String = u.choose(&["id", "n", "s", "", "l"])?.to_string();
        let value = match u.int_in_range(0..=4)? {
            0 => AttrValue::S(u.arbitrary()?),
            1 => AttrValue::Bool(u.arbitrary()?),
            2 => AttrValue::Null,
            3 => AttrValue::B(u.arbitrary()?),
            _ => AttrValue::L(vec![AttrValue::S(u.arbitrary()?)]),
        };
        item.insert(name, value);
    }
    Ok(item)
}

fn entry(u: &mut Unstructured) -> Result<pb::LogEntry> {
    let v = version(u)?;
    let context = {
        let mut c = Context::empty();
        for _ in 0..u.int_in_range(0..=2)? {
            c = c.after(&version(u)?);
        }
        if u.ratio(3, 4)? {
            c = c.after(&v);
        }
        c
    };
    let table = u.choose(&TABLES)?.to_string();
    Ok(pb::LogEntry {
        seq: u.int_in_range(0..=20)?,
        table_version: if u.arbitrary()? {
            Vec::new()
        } else {
            bytes(u, |u| Ok(version(u)?.to_bytes()))?
        },
        partition_key: if table == "$catalog" && u.arbitrary()? {
            u.choose(&TABLES)?.as_bytes().to_vec()
        } else {
            u.arbitrary()?
        },
        sort_key: u
            .choose(&[
                &b""[..],
                b"ttl",
                b"settings",
                b"replica/us-east-1",
                b"index/i",
            ])?
            .to_vec(),
        version: bytes(u, |_| Ok(v.to_bytes()))?,
        prev: if u.arbitrary()? {
            Vec::new()
        } else {
            bytes(u, |u| Ok(version(u)?.to_bytes()))?
        },
        image: bytes(u, |u| Ok(encode_item(&item(u)?)))?,
        tombstone: u.arbitrary()?,
        commit_real_micros: u.arbitrary()?,
        context: bytes(u, |_| Ok(context.to_bytes()))?,
        ttl: u.ratio(1, 8)?,
        unit_pos: u.int_in_range(0..=2)?,
        unit_len: u.int_in_range(0..=3)?,
        table,
    })
}

fn structured(data: &[u8]) -> Result<pb::Batch> {
    let mut u = Unstructured::new(data);
    let mut entries = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        entries.push(entry(&mut u)?);
    }
    Ok(pb::Batch { entries })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let batch = if mode % 2 == 0 {
        match pb::Batch::decode(rest) {
            Ok(b) => b,
            Err(_) => return,
        }
    } else {
        match structured(rest) {
            Ok(b) => b,
            Err(_) => return,
        }
    };
    let regions: Vec<String> = REGIONS.map(String::from).into();
    for origins in [Origins::Sender, Origins::AnyRegion] {
        let n = batch.entries.len();
        if let Ok(entries) = decode_batch("eu-west-1", origins, &regions, batch.clone()) {
            assert_eq!(entries.len(), n);
        }
    }
});
