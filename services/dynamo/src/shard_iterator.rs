//! DynamoDB Streams' shard iterators as this endpoint writes them: a
//! position in one shard of a table's stream, with the time it was handed
//! out. A leaf below the Streams handlers (`crate::streams`) and the
//! request parser (`crate::request`), which reads the table an iterator
//! names for the account check.

use crate::arn::stream_arn;
use crate::error::{ApiError, ApiResult};

/// How long a shard iterator stays good, as in DynamoDB
/// ([`crate::FrontConfig::iterator_lifetime`]).
pub(crate) const ITERATOR_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// A position in a shard: its records after `after`. Sequence numbers are
/// this region's, so an iterator names the region that handed it out, and
/// another region's endpoint refuses it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Iterator {
    pub(crate) region: String,
    pub(crate) table: String,
    pub(crate) label: u64,
    pub(crate) shard: u32,
    pub(crate) after: u64,
    pub(crate) issued_ms: u64,
}

impl Iterator {
    /// The iterator as DynamoDB documents its shape: the stream's ARN,
    /// `|1|`, then the position. The position (`mi3.` and the fields,
    /// the region and table in hex) is the whole truth; the ARN in front
    /// must agree with it.
    pub(crate) fn encode(&self) -> String {
        let hex = |s: &str| -> String { s.bytes().map(|b| format!("{b:02x}")).collect() };
        format!(
            "{}|1|mi3.{}.{}.{}.{}.{}.{}",
            stream_arn(&self.region, &self.table, self.label),
            hex(&self.region),
            hex(&self.table),
            self.label,
            self.shard,
            self.after,
            self.issued_ms
        )
    }

    /// The message DynamoDB gives an iterator it cannot use.
    pub(crate) fn invalid(s: &str) -> ApiError {
        ApiError::validation(format!("Invalid ShardIterator: {s:?}"))
    }

    pub(crate) fn decode(s: &str) -> ApiResult<Self> {
        let bad = || Self::invalid(s);
        if s.is_empty() || s.len() > 2048 {
            return Err(ApiError::constraint(format!(
                "Value at 'shardIterator' failed to satisfy constraint: Member must have length between 1 and 2048, got {}",
                s.len()
            )));
        }
        let fields: Vec<&str> = s.split('|').collect();
        let [arn, "1", position] = fields.as_slice() else {
            return Err(bad());
        };
        let parts: Vec<&str> = position.split('.').collect();
        let [tag, region, table, label, shard, after, issued] = parts.as_slice() else {
            return Err(bad());
        };
        if *tag != "mi3" {
            return Err(bad());
        }
        let text = |hex: &str| -> ApiResult<String> {
            if !hex.len().is_multiple_of(2) {
                return Err(bad());
            }
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| bad())?;
            String::from_utf8(bytes).map_err(|_| bad())
        };
        let num = |x: &str| x.parse::<u64>().map_err(|_| bad());
        let it = Iterator {
            region: text(region)?,
            table: text(table)?,
            label: num(label)?,
            shard: shard.parse::<u32>().map_err(|_| bad())?,
            after: num(after)?,
            issued_ms: num(issued)?,
        };
        if *arn != stream_arn(&it.region, &it.table, it.label) {
            return Err(bad());
        }
        Ok(it)
    }
}

/// The table a shard iterator is a position in, if it is one of this
/// endpoint's (`crate::request` reads it for the account check).
pub(crate) fn iterator_table(s: &str) -> Option<String> {
    Iterator::decode(s).ok().map(|it| it.table)
}

/// An iterator of this endpoint in `region` at the start of `table`'s
/// stream, as GetShardIterator would hand one out.
#[cfg(test)]
pub(crate) fn sample_iterator(region: &str, table: &str) -> String {
    Iterator {
        region: region.to_string(),
        table: table.to_string(),
        label: 1_767_225_600_000_000,
        shard: 0,
        after: 0,
        issued_ms: 1_767_225_600_000,
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn an_iterator_reads_back_as_written_and_garbage_is_refused() {
        let it = Iterator {
            region: "eu-west-1".into(),
            table: "orders.x".into(),
            label: 1_700_000_000_123_456,
            shard: 3,
            after: 42,
            issued_ms: 1_700_000_000_000,
        };
        let text = it.encode();
        assert_eq!(Iterator::decode(&text).unwrap(), it);
        // DynamoDB's documented shape: the stream's ARN, `|<digit>|`, more.
        let arn = stream_arn("eu-west-1", "orders.x", it.label);
        assert!(text.starts_with(&format!("{arn}|1|")), "{text}");
        let (_, position) = text.rsplit_once('|').unwrap();
        let other = stream_arn("eu-west-1", "orders", it.label);
        for bad in [
            String::new(),
            format!("{arn}|1|mi3.61.zz.1.0.2.3"),
            format!("{arn}|1|mi3.6.61.1.0.2.3"),
            format!("{arn}|1|mi2.61.1.0.2.3"),
            format!("{arn}|1|mi3.61.61.1.2"),
            format!("{arn}|1|mi3.61.61.x.0.2.3"),
            format!("{arn}|1|mi3.61.61.1.-1.2.3"),
            format!("{arn}|2|{position}"),
            format!("{other}|1|{position}"),
            position.to_string(),
            "mi3|61|61|1|0|2|3".to_string(),
        ] {
            let e = Iterator::decode(&bad).unwrap_err();
            assert_eq!(e.kind, Kind::Validation, "{bad:?}");
        }
    }
}
