//! A test peer that speaks the replication protocol to region 0 of a
//! [`TestCluster`]: the messages an honest or hostile sender puts on a
//! `Ship` stream, and the stream itself.

use meridian_core::{Timestamp, Version, encode_item, item_from_json};
use meridian_proto::v1 as pb;
use meridian_proto::v1::replication_client::ReplicationClient;

use crate::TestCluster;

/// The first message of a replication stream from `from` to `to`, naming
/// `log_id` as the sender's log and only its current epoch.
pub fn hello(from: &str, to: &str) -> pb::ShipRequest {
    hello_with(from, to, "a-log", vec![])
}

/// A `Hello` naming its log's epochs, oldest first.
pub fn hello_with(from: &str, to: &str, log_id: &str, epochs: Vec<pb::Epoch>) -> pb::ShipRequest {
    pb::ShipRequest {
        msg: Some(pb::ship_request::Msg::Hello(pb::Hello {
            from_region: from.into(),
            to_region: to.into(),
            protocol: 1,
            log_id: log_id.into(),
            epochs,
            log_start: 0,
        })),
    }
}

pub fn batch(entries: Vec<pb::LogEntry>) -> pb::ShipRequest {
    pb::ShipRequest {
        msg: Some(pb::ship_request::Msg::Batch(pb::Batch { entries })),
    }
}

/// Entry `seq` of a peer's log: item `id` (key `id`) of `table` (at table
/// version `tv`), written at `micros` by `origin`.
pub fn peer_entry(
    table: &str,
    tv: &Version,
    seq: u64,
    micros: u64,
    origin: &str,
    id: &str,
) -> pb::LogEntry {
    let v = Version::new(Timestamp::new(micros, 0), origin);
    let image = item_from_json(&serde_json::json!({"id": {"S": id}})).expect("a valid item");
    pb::LogEntry {
        seq,
        table: table.into(),
        table_version: tv.to_bytes(),
        partition_key: id.as_bytes().to_vec(),
        version: v.to_bytes(),
        context: meridian_core::Context::empty().after(&v).to_bytes(),
        image: encode_item(&image),
        ..Default::default()
    }
}

/// A connection to region 0's replication endpoint as a test peer sees it.
/// In a cluster on TLS ([`TestCluster::start_tls`]) that is region 0's
/// replication listener, reached with the certificate of the first
/// stopped region: a test peer speaks with a valid certificate of its own,
/// under a name that is free. Otherwise it is region 0's one gRPC port.
pub async fn replication_channel(c: &TestCluster) -> tonic::transport::Channel {
    let tls = c.nodes[0].config.tls.as_ref();
    let me = c.nodes.iter().find(|n| n.region.is_none());
    let (Some(tls), Some(me), Some(addr)) = (
        tls,
        me,
        c.nodes[0].region.as_ref().and_then(|r| r.replication_addr),
    ) else {
        return tonic::transport::Endpoint::from_shared(c.url(0))
            .expect("a URL")
            .connect()
            .await
            .expect("region 0 listens");
    };
    let mine = me
        .config
        .tls
        .as_ref()
        .expect("every region of a TLS cluster has files");
    let read = |p: &std::path::Path| std::fs::read(p).expect("a certificate file");
    let config = tonic::transport::ClientTlsConfig::new()
        .domain_name(c.nodes[0].name.clone())
        .ca_certificate(tonic::transport::Certificate::from_pem(read(&tls.ca)))
        .identity(tonic::transport::Identity::from_pem(
            read(&mine.cert),
            read(&mine.key),
        ));
    tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
        .expect("a URL")
        .tls_config(config)
        .expect("a TLS config")
        .connect()
        .await
        .expect("region 0's replication listener takes the certificate")
}

/// Sends `messages` to region 0 as one replication stream: every position
/// it acknowledged, in order, and the error that ended the stream, if one
/// did (a refused `Hello` included).
pub async fn ship(
    c: &TestCluster,
    messages: Vec<pb::ShipRequest>,
) -> (Vec<u64>, Option<tonic::Status>) {
    let (acks, error) = ship_acks(c, messages).await;
    (acks.iter().map(|a| a.applied_through).collect(), error)
}

/// [`ship`], with each ack whole: what a refusal said is in `refused`.
pub async fn ship_acks(
    c: &TestCluster,
    messages: Vec<pb::ShipRequest>,
) -> (Vec<pb::Ack>, Option<tonic::Status>) {
    let mut repl =
        ReplicationClient::new(replication_channel(c).await).max_encoding_message_size(usize::MAX);
    let mut responses = match repl.ship(futures::stream::iter(messages)).await {
        Ok(r) => r.into_inner(),
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut acks = Vec::new();
    while let Some(m) = responses.message().await.transpose() {
        match m {
            Ok(pb::ShipResponse {
                msg: Some(pb::ship_response::Msg::Ack(a)),
            }) => acks.push(a),
            Ok(_) => {}
            Err(e) => return (acks, Some(e)),
        }
    }
    (acks, None)
}

/// Sends `frames` to region 0's `Ship` call as they are, each one gRPC
/// message of whatever bytes it holds (valid `ShipRequest`s or not); the
/// error that ended the stream, if one did.
pub async fn ship_raw(c: &TestCluster, frames: Vec<Vec<u8>>) -> Option<tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(replication_channel(c).await);
    grpc.ready().await.expect("ready");
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/meridian.v1.Replication/Ship");
    let request = tonic::Request::new(futures::stream::iter(frames));
    let mut responses = match grpc.streaming(request, path, RawCodec).await {
        Ok(r) => r.into_inner(),
        Err(e) => return Some(e),
    };
    loop {
        match responses.message().await {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// Bytes in, bytes out: a gRPC codec that leaves messages undecoded.
#[derive(Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        let out = src.chunk().to_vec();
        src.advance(out.len());
        Ok(Some(out))
    }
}

/// A message's bytes, as [`ship_raw`] takes them.
pub fn encoded(m: &pb::ShipRequest) -> Vec<u8> {
    prost::Message::encode_to_vec(m)
}

/// The value of the metric `name` in region `i`'s `/metrics` whose labels
/// include every `(label, value)` of `labels`; 0 when it has none yet.
pub fn metric(c: &TestCluster, i: usize, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = c.nodes[i]
        .region
        .as_ref()
        .expect("region is running")
        .metrics_text();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
