//! Regions reached by URL only: regions in containers
//! (tests/containers/tests/containers.rs) or on other machines, whose store
//! files the test cannot open. Heads are read through Scan, so what is
//! checked is what clients see; conflicts come from the Admin API, and
//! quiescence from `meridian_cluster::wait`, as in
//! [`crate::TestCluster`].
//!
//! Nothing here depends on Docker; the container plumbing stays in the test.

use std::time::Duration;

use meridian_core::{Conflict, EncodedKey, KeySchema, decode_item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_scenario::{Head, Heads};
use tonic::transport::{Channel, Endpoint};

use crate::version_of;

/// A lazily connected channel to `url` with short timeouts, so a call to a
/// cut-off or paused region fails instead of hanging the test.
pub fn channel(url: &str) -> Channel {
    Endpoint::from_shared(url.to_string())
        .expect("a valid URL")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect_lazy()
}

pub fn client(url: &str) -> MeridianClient<Channel> {
    let limit = meridian_region::service::MAX_MESSAGE_BYTES;
    MeridianClient::new(channel(url))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit)
}

pub fn admin(url: &str) -> AdminClient<Channel> {
    AdminClient::new(channel(url))
}

/// Every live item of `table` with its version, read page by page through
/// Scan. Tombstones are not visible this way, so tests that use it check
/// puts only; the digest in [`meridian_cluster::wait::quiescent`] still covers tombstones.
pub async fn scan_heads(url: &str, table: &str, schema: &KeySchema) -> Result<Heads, String> {
    let mut heads = Heads::new();
    let mut token = Vec::new();
    let mut c = client(url);
    // Bounded: each page holds at least one item or ends the scan.
    for _ in 0..100_000 {
        let page = c
            .scan(pb::ScanRequest {
                index: String::new(),
                table: table.into(),
                limit: 1000,
                page_token: token,
            })
            .await
            .map_err(|e| format!("scan {table} at {url}: {e}"))?
            .into_inner();
        for stored in page.items {
            let item = decode_item(&stored.item).map_err(|e| format!("bad item: {e}"))?;
            let key: EncodedKey = schema
                .key_of(&item)
                .map_err(|e| format!("item without its key: {e}"))?;
            heads.insert(
                (table.to_string(), key),
                Head {
                    version: version_of(&stored.version),
                    image: Some(item),
                },
            );
        }
        if page.next_page_token.is_empty() {
            return Ok(heads);
        }
        token = page.next_page_token;
    }
    Err(format!("scan of {table} at {url} did not end"))
}

/// The conflicts a region recorded for `table`.
pub async fn conflicts(url: &str, table: &str) -> Result<Vec<Conflict>, String> {
    meridian_cluster::state::conflicts(&mut admin(url), table, usize::MAX)
        .await
        .map_err(|e| format!("conflicts at {url}: {e}"))?
        .into_iter()
        .map(|c| {
            let image = |b: &[u8], tomb: bool| -> Result<_, String> {
                if tomb {
                    Ok(None)
                } else {
                    decode_item(b).map(Some).map_err(|e| e.to_string())
                }
            };
            Ok(Conflict {
                detected_by: c.detected_by.clone(),
                table: c.table.clone(),
                key: EncodedKey {
                    partition: c.partition_key.clone(),
                    sort: c.sort_key.clone(),
                },
                winner: version_of(&c.winner),
                winner_image: image(&c.winner_image, c.winner_tombstone)?,
                loser: version_of(&c.loser),
                loser_image: image(&c.loser_image, c.loser_tombstone)?,
                detected_real_micros: c.detected_real_micros,
            })
        })
        .collect()
}

/// A cluster file for regions that each run in a container of their own:
/// every region listens on the same ports on all of its container's
/// interfaces, and peers dial `advertise`, the `(name, host)` given.
pub fn container_cluster_file(cluster: &str, regions: &[(String, String)]) -> String {
    let any = |port: u16| std::net::SocketAddr::from(([0, 0, 0, 0], port));
    let names: Vec<_> = regions
        .iter()
        .map(|(name, _)| (name.clone(), any(7101)))
        .collect();
    let mut file =
        meridian_region::ClusterFile::new(cluster, std::path::Path::new("/data"), &names);
    for (entry, (_, host)) in file.regions.iter_mut().zip(regions) {
        entry.advertise = Some(format!("{host}:7101"));
        entry.metrics = Some(any(9101));
        entry.dynamo = Some(any(8101));
    }
    file.to_toml().expect("a valid container cluster file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_cluster_files_parse_and_route_peers_by_advertised_host() {
        let text = container_cluster_file(
            "c",
            &[
                ("us-east-1".into(), "mesh-a".into()),
                ("eu-west-1".into(), "mesh-b".into()),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let file = meridian_region::ClusterFile::load(&path).unwrap();
        let cfg = file.region_config("us-east-1").unwrap();
        assert_eq!(cfg.peers.len(), 1);
        assert_eq!(cfg.peers[0].url, "http://mesh-b:7101");
        assert_eq!(cfg.data_dir, std::path::Path::new("/data/us-east-1"));
    }
}
