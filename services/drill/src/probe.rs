//! Looking at the regions through their Admin API while a drill runs:
//! status samples, table digests, and the clock skew the driver sets. Each
//! call is bounded by [`SAMPLE_TIMEOUT`]: a region that does not answer in
//! time is down, and the drill goes on without it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::collect::Sample;
use crate::target::RegionTarget;

/// Longest a status sample may take; a region that does not answer is down.
pub(crate) const SAMPLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Every region's status, `None` for a region that did not answer in time.
pub(crate) async fn sample(regions: &[RegionTarget], start: Instant) -> Sample {
    let t_ms = Instant::now().duration_since(start).as_millis() as u64;
    Sample {
        t_ms,
        statuses: statuses(regions.iter().map(|r| &r.admin)).await,
    }
}

/// The Status of the region behind each of `admins`, asked at once;
/// `None` for one that did not answer within [`SAMPLE_TIMEOUT`].
pub(crate) async fn statuses<'a>(
    admins: impl Iterator<Item = &'a Channel>,
) -> Vec<Option<pb::StatusResponse>> {
    let asks = admins.map(|a| {
        let mut admin = AdminClient::new(a.clone());
        async move {
            tokio::time::timeout(SAMPLE_TIMEOUT, admin.status(pb::StatusRequest {}))
                .await
                .ok()
                .and_then(|r| r.ok())
                .map(|r| r.into_inner())
        }
    });
    futures::future::join_all(asks).await
}

/// Whether every region answered `s` with every link drained.
pub(crate) fn drained(s: &Sample) -> bool {
    s.statuses.iter().all(|st| {
        st.as_ref()
            .is_some_and(|st| meridian_cluster::wait::drained(st).is_ok())
    })
}

/// Each region's digest of `table`; a region that does not answer is left
/// out.
pub(crate) async fn digest_all(regions: &[RegionTarget], table: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in regions {
        let mut admin = AdminClient::new(r.admin.clone());
        if let Ok(Ok(d)) = tokio::time::timeout(
            SAMPLE_TIMEOUT,
            admin.digest(pb::DigestRequest {
                table: table.into(),
            }),
        )
        .await
        {
            out.insert(r.name.clone(), d.into_inner().digest);
        }
    }
    out
}

/// Whether `digests` has one from each of `regions` regions, all the same.
pub(crate) fn agree(digests: &BTreeMap<String, String>, regions: usize) -> bool {
    let distinct: BTreeSet<_> = digests.values().collect();
    digests.len() == regions && distinct.len() == 1
}

/// Sets `r`'s clock skew through its Admin API.
pub(crate) async fn set_clock(
    r: &RegionTarget,
    offset_micros: i64,
    drift_ppm: i64,
) -> Result<(), String> {
    let mut admin = AdminClient::new(r.admin.clone());
    tokio::time::timeout(
        SAMPLE_TIMEOUT * 2,
        admin.set_clock(meridian_region::admin::authorized(
            pb::SetClockRequest {
                offset_micros,
                drift_ppm,
            },
            r.admin_token.as_deref(),
        )),
    )
    .await
    .map_err(|_| format!("{} did not answer", r.name))?
    .map(|_| ())
    .map_err(|e| e.message().to_string())
}
