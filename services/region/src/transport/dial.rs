//! Dialling a peer: the one way replication, repair rounds and seeding
//! open a gRPC channel to another region, over TCP or the simulated
//! network's [`Dialer`](super::Dialer), with TLS when the config has it.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::config::{PeerConfig, RegionConfig};

/// Why a channel to a peer could not be opened. Every caller retries
/// later or skips the peer, so the kinds only keep the messages apart.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("bad peer url {url}: {source}")]
    BadUrl {
        url: String,
        source: tonic::transport::Error,
    },
    #[error(transparent)]
    Certificates(#[from] crate::tls::TlsError),
    #[error("TLS to {peer}: {source}")]
    Tls {
        peer: String,
        source: tonic::transport::Error,
    },
    #[error("connect {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("connect {url}: no connection within {after:?} (TCP, TLS and HTTP/2 handshakes)")]
    Timeout { url: String, after: Duration },
}

/// A channel to `peer` as `config` reaches it: over TCP, or the simulated
/// network's dialer. Also used before the region runs (seeding).
pub async fn dial(config: &RegionConfig, peer: &PeerConfig) -> Result<Channel, DialError> {
    let t = &config.replication;
    let mut endpoint =
        Endpoint::from_shared(peer.url.clone()).map_err(|source| DialError::BadUrl {
            url: peer.url.clone(),
            source,
        })?;
    if let Some(files) = &config.tls {
        let tls = crate::tls::client_config(files, &peer.name)?;
        endpoint = endpoint.tls_config(tls).map_err(|source| DialError::Tls {
            peer: peer.name.clone(),
            source,
        })?;
    }
    let endpoint = endpoint
        .connect_timeout(t.connect_timeout)
        .timeout(Duration::from_secs(3600))
        .http2_keep_alive_interval(t.keepalive_interval)
        .keep_alive_timeout(t.keepalive_timeout)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    // The connect timeout bounds the whole dial, not only the TCP connect:
    // through a blackholed link the TCP connect to a proxy succeeds and the
    // TLS handshake then waits for an answer that never comes (tonic's own
    // handshake timeout is 10 s). Bounded here, a link retries within
    // about a second of a heal instead of after a handshake's 10 s.
    let connect = async {
        match &config.dialer {
            None => endpoint.connect().await,
            Some(dialer) => {
                let dialer = dialer.clone();
                endpoint
                    .connect_with_connector(tower::service_fn(move |uri: tonic::transport::Uri| {
                        let target = format!(
                            "{}:{}",
                            uri.host().unwrap_or_default(),
                            uri.port_u16().unwrap_or(80)
                        );
                        let dial = (dialer.0)(target);
                        async move { dial.await.map(hyper_util::rt::TokioIo::new) }
                    }))
                    .await
            }
        }
    };
    match tokio::time::timeout(t.connect_timeout, connect).await {
        Ok(connected) => connected.map_err(|source| DialError::Connect {
            url: peer.url.clone(),
            source,
        }),
        Err(_) => Err(DialError::Timeout {
            url: peer.url.clone(),
            after: t.connect_timeout,
        }),
    }
}
