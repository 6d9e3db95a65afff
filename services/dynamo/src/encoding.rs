//! Compressed requests and answers.
//!
//! The AWS SDKs may compress a request body and say so in
//! `Content-Encoding`; DynamoDB accepts `gzip` (one member or several,
//! concatenated) and `deflate` (one zlib stream). As in DynamoDB, a body
//! that does not decode, an encoding it does not know, and a body that
//! decodes past the request limit are `InternalServerError`s (HTTP 500), and
//! nothing of the request is done.
//!
//! An answer larger than 4 KB is compressed when the request's
//! `Accept-Encoding` allows `gzip` or `deflate`, read as DynamoDB reads it.

use std::borrow::Cow;
use std::io::Read;

use axum::http::HeaderMap;
use flate2::Compression;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};

use crate::error::{ApiError, Kind};

/// The body as the operation reads it: decoded as `Content-Encoding` says,
/// at most `limit` bytes once decoded. Without the header (or with
/// `identity`) it is the body as sent.
pub(crate) fn decode<'a>(
    headers: &HeaderMap,
    body: &'a [u8],
    limit: usize,
) -> Result<Cow<'a, [u8]>, ApiError> {
    let Some(value) = headers.get(axum::http::header::CONTENT_ENCODING) else {
        return Ok(Cow::Borrowed(body));
    };
    let encoding = value
        .to_str()
        .map_err(|_| internal("the Content-Encoding header is not text".to_string()))?
        .trim()
        .to_ascii_lowercase();
    if matches!(encoding.as_str(), "" | "identity") {
        return Ok(Cow::Borrowed(body));
    }
    if body.is_empty() {
        return Err(internal(format!(
            "the body is empty, which is not {encoding} content"
        )));
    }
    let decoded = match encoding.as_str() {
        "gzip" => read_limited(MultiGzDecoder::new(body), "gzip", limit)?,
        "deflate" => {
            let mut decoder = ZlibDecoder::new(body);
            let out = read_limited(&mut decoder, "deflate", limit)?;
            // One zlib stream: bytes after its end are not part of it.
            if decoder.total_in() != body.len() as u64 {
                return Err(internal(
                    "the deflate body has bytes after its end".to_string(),
                ));
            }
            out
        }
        other => {
            return Err(internal(format!(
                "unsupported Content-Encoding {other:?}: gzip and deflate are supported"
            )));
        }
    };
    Ok(Cow::Owned(decoded))
}

/// Everything `reader` yields, refused as soon as it passes `limit`.
fn read_limited(reader: impl Read, encoding: &str, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut limited = reader.take(limit as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| internal(format!("the {encoding} body does not decode: {e}")))?;
    if out.len() > limit {
        return Err(internal(format!(
            "the request decodes to more than {limit} bytes, the limit"
        )));
    }
    Ok(out)
}

fn internal(message: String) -> ApiError {
    ApiError::new(Kind::InternalServerError, message)
}

/// Answers up to this size are sent as they are, as DynamoDB sends them.
pub(crate) const COMPRESS_ABOVE: usize = 4096;

/// An encoding an answer may be sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Packing {
    Gzip,
    Deflate,
}

impl Packing {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Packing::Gzip => "gzip",
            Packing::Deflate => "deflate",
        }
    }

    /// `body` in this encoding.
    pub(crate) fn pack(self, body: &[u8]) -> Vec<u8> {
        use std::io::Write;
        // Writing to a Vec cannot fail.
        match self {
            Packing::Gzip => {
                let mut e = GzEncoder::new(Vec::new(), Compression::default());
                let _ = e.write_all(body);
                e.finish().unwrap_or_default()
            }
            Packing::Deflate => {
                let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
                let _ = e.write_all(body);
                e.finish().unwrap_or_default()
            }
        }
    }
}

/// The encoding an `Accept-Encoding` value asks for, read as DynamoDB
/// reads it: comma-separated codings, case-insensitive, each with a quality
/// from the first `q=` after its `;` (1 without one, 1 when it does not
/// parse, at most 1, none when 0 or less). `*` stands for the codings not
/// named; `identity` and unknown codings are ignored. The highest quality
/// wins; on a tie a named coding beats `*`, then the first named wins, and
/// `*` prefers gzip. `None`: send the answer as it is.
pub(crate) fn accepted(value: &str) -> Option<Packing> {
    // (quality, named, position) of gzip and deflate.
    let mut named: [Option<(f64, usize)>; 2] = [None, None];
    let mut star: Option<(f64, usize)> = None;
    for (position, element) in value.split(',').enumerate() {
        let (coding, params) = element.split_once(';').unwrap_or((element, ""));
        let quality = params.find("q=").map_or(1.0, |at| {
            let v = params[at + 2..].split(';').next().unwrap_or_default();
            v.trim().parse::<f64>().map_or(1.0, |q| q.min(1.0))
        });
        let slot = match coding.trim().to_ascii_lowercase().as_str() {
            "gzip" => &mut named[0],
            "deflate" => &mut named[1],
            "*" => &mut star,
            _ => continue,
        };
        // A coding listed twice keeps its best quality and first position.
        *slot = match *slot {
            Some((q, p)) => Some((q.max(quality), p)),
            None => Some((quality, position)),
        };
    }
    let mut best: Option<(Packing, f64, bool, usize)> = None;
    for (i, packing) in [Packing::Gzip, Packing::Deflate].into_iter().enumerate() {
        let (quality, is_named, position) = match (named[i], star) {
            (Some((q, p)), _) => (q, true, p),
            // `*` lists gzip before deflate.
            (None, Some((q, p))) => (q, false, p * 2 + i),
            (None, None) => continue,
        };
        if quality <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, bq, bn, bp)) => {
                quality > bq
                    || (quality == bq && is_named && !bn)
                    || (quality == bq && is_named == bn && position < bp)
            }
        };
        if better {
            best = Some((packing, quality, is_named, position));
        }
    }
    best.map(|(packing, ..)| packing)
}

#[cfg(test)]
mod tests {
    use super::{Packing, accepted};

    #[test]
    fn accept_encoding_is_read_as_dynamodb_reads_it() {
        let (g, d) = (Some(Packing::Gzip), Some(Packing::Deflate));
        let cases = [
            ("identity", None),
            ("", None),
            ("br", None),
            ("zstd", None),
            ("compress", None),
            ("x-gzip", None),
            ("gzip, deflate", g),
            ("br, identity, deflate, gzip", d),
            ("GZIP, identity", g),
            ("dog, gzip ,, cat", g),
            ("gzip;q=0.8, deflate;q=0.5", g),
            ("br, gzip;q=0, deflate; q = 0.5 , identity;q=0", d),
            ("*", g),
            ("*, deflate;q=0.5", g),
            ("*, deflate", d),
            ("*, identity", g),
            ("*, gzip;q=0.5", d),
            ("gzip ;q=0", None),
            ("identity;q=0", None),
            ("*;q=0", None),
            ("*;q=0.5,identity", g),
            ("gzip;q=0.5,identity;q=0.8", g),
            ("br;q=0.8,identity;q=0.5,*;q=0", None),
            ("\"gzip\"", None),
            ("gzip br", None),
            ("gzip:q=1", None),
            ("deflate;q=0.5, gzip;q=31", g),
            ("gzip;q=31,deflate;q=51", g),
            ("deflate;q=0.5, gzip;q=0.2", d),
            ("deflate;q=0.5, gzip;q=1;q=0.2", g),
            ("deflate;q=0.5,gzip;q=0.", d),
            ("deflate;q=0.5,gzip;q=0.x", g),
            ("deflate;q=0.5,gzip;q=0. x", g),
            ("deflate;q=-0.5,gzip;q=0.2", g),
            ("gzip;q= 0;q=1", None),
            ("gzip;q =0;q=1", g),
            ("gzip; q=0;q=1", None),
            ("gzip;nq=0;q=1", None),
            ("gzip;q=0, gzip;q=1, gzip;q=0", g),
            ("br,identity;q=0.5,gzip;q=0.0001", g),
        ];
        for (value, want) in cases {
            assert_eq!(accepted(value), want, "Accept-Encoding: {value}");
        }
    }
}
