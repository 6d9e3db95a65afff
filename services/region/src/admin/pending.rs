//! The outbound pending counts per peer that admin `Status`, the metrics
//! endpoint and the dashboard's pulse ([`super::pulse`]) all report: one
//! reading, kept below both so that the pulse does not reach back into
//! [`super`], which serves it.

use tonic::Status;

use crate::Shared;
use crate::metrics::PeerLabel;
use crate::status::status_from;

/// Outbound pending counts per peer, from the durable watermarks.
pub(crate) async fn refresh_pending(shared: &Shared) -> Result<Vec<(String, u64, u64)>, Status> {
    // A live session's position is newer than the stored watermark.
    let peers: Vec<(String, Option<u64>)> = shared
        .config
        .peers
        .iter()
        .map(|p| {
            let live = shared.peers.get(&p.name).and_then(|s| {
                let s = s.lock().unwrap_or_else(|e| e.into_inner());
                s.acked_live.then_some(s.acked)
            });
            (p.name.clone(), live)
        })
        .collect();
    let rows = shared
        .storage
        .read(move |r| {
            let marks = r.watermarks()?;
            peers
                .into_iter()
                .map(|(p, live)| {
                    let acked = live.unwrap_or_else(|| marks.get(&p).copied().unwrap_or(0));
                    Ok((p, acked, r.pending(acked)?))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(status_from)?;
    for (peer, acked, pending) in &rows {
        let label = PeerLabel { peer: peer.clone() };
        shared
            .metrics
            .pending
            .get_or_create(&label)
            .set(*pending as i64);
        shared
            .metrics
            .acked_seq
            .get_or_create(&label)
            .set(*acked as i64);
    }
    Ok(rows)
}
