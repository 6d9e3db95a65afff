//! How a command reaches its region: the target's client or admin address
//! (from `--endpoint` or the cluster file), the channel to it, and what
//! calls carry: SigV4 credentials and the admin token.

use anyhow::{Context, Result, bail};
use meridian_core::sigv4::Credentials;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_region::client_auth::Signing;
use tonic::transport::{Channel, Endpoint};

use crate::{Target, load_cluster};

pub(crate) async fn channel(url: &str) -> Result<Channel> {
    Endpoint::from_shared(url.to_string())
        .with_context(|| format!("bad endpoint {url}"))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .connect()
        .await
        .with_context(|| format!("cannot reach {url}; is the region running? (meridian up)"))
}

/// The target region's client API (`grpc`).
pub(super) async fn endpoint(t: &Target) -> Result<String> {
    target_url(t, |e| e.grpc.to_string()).await
}

/// Where the target region answers admin calls: its `admin` listener, else
/// `grpc`; an `--endpoint` is taken as given.
pub(super) async fn admin_endpoint(t: &Target) -> Result<String> {
    target_url(t, meridian_region::RegionEntry::admin_dial).await
}

pub(super) async fn target_url(
    t: &Target,
    addr: impl Fn(&meridian_region::RegionEntry) -> String,
) -> Result<String> {
    if let Some(e) = &t.endpoint {
        return Ok(e.clone());
    }
    let cluster = load_cluster(&crate::cluster_path(t.config.as_deref())?)?;
    let name = match &t.region {
        Some(r) => r.clone(),
        None => bail!(
            "--region is required; the cluster has {}",
            cluster.region_names().join(", ")
        ),
    };
    Ok(format!("http://{}", addr(cluster.entry(&name)?)))
}

/// What a mutating admin call carries: the token in the cluster file's
/// `admin_token_file`, else none.
pub(super) fn admin_token(config: Option<&std::path::Path>) -> Result<Option<String>> {
    match crate::cluster_path(config) {
        Ok(path) => Ok(load_cluster(&path)?.client_admin_token()?),
        // Talking to an --endpoint with no cluster file to be found.
        Err(_) => Ok(None),
    }
}

/// What client calls are signed with: `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` when both are set, else the first of the cluster
/// file's `dynamodb_keys` (by access key id), else nothing: a cluster with
/// keys refuses unsigned calls (docs/security.md).
pub(super) fn credentials(t: &Target) -> Result<Option<Credentials>> {
    let region = t.region.clone().unwrap_or_else(|| "us-east-1".into());
    if let (Ok(access_key), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Some(Credentials {
            access_key,
            secret,
            region,
        }));
    }
    let Ok(path) = crate::cluster_path(t.config.as_deref()) else {
        // Talking to an --endpoint with no cluster file to be found.
        return Ok(None);
    };
    Ok(cluster_credentials(&load_cluster(&path)?, region))
}

/// The first of the cluster file's `dynamodb_keys` (by access key id), for
/// calls to `region`.
pub(crate) fn cluster_credentials(
    cluster: &meridian_region::ClusterFile,
    region: String,
) -> Option<Credentials> {
    cluster
        .dynamodb_keys
        .iter()
        .min_by(|a, b| a.0.cmp(b.0))
        .map(|(access_key, secret)| Credentials {
            access_key: access_key.clone(),
            secret: secret.clone(),
            region,
        })
}

/// The client API of the target region, signing its calls when there are
/// credentials.
pub(super) async fn client(t: &Target) -> Result<MeridianClient<Signing<Channel>>> {
    client_at(&endpoint(t).await?, credentials(t)?).await
}

/// The client API at `url`, its calls signed with `credentials` if any.
pub(crate) async fn client_at(
    url: &str,
    credentials: Option<Credentials>,
) -> Result<MeridianClient<Signing<Channel>>> {
    let limit = meridian_region::service::MAX_MESSAGE_BYTES;
    let host = url
        .parse::<tonic::codegen::http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let signing = Signing::new(channel(url).await?, credentials, host);
    Ok(MeridianClient::new(signing)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit))
}

pub(super) async fn admin(target: &Target) -> Result<AdminClient<Channel>> {
    Ok(AdminClient::new(
        channel(&admin_endpoint(target).await?).await?,
    ))
}
