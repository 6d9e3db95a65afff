//! The link proxy: every ordered pair of regions can talk through its own
//! proxy, at the TCP level, so gRPC and anything else pass through unchanged
//! while the proxy injects latency (with a jitter distribution), bandwidth
//! limits, stalls, resets and partitions.
//!
//! Partitions come in two kinds: **blackhole** (a `timeout` toxic with
//! `timeout = 0`: bytes are accepted and never forwarded) and **refuse** (the
//! proxy disabled: connections are refused and open ones closed). One-way
//! partitions put the toxic on one stream only.
//!
//! It is driven by a REST API compatible with Toxiproxy's ([`api`]), so
//! existing Toxiproxy clients work unmodified. Meridian adds two toxics
//! (`loss`, `flap`) and, when a [`Supervisor`] is attached, routes under
//! `/meridian/` that list, crash and restart region processes.

pub mod api;
mod delay;
pub mod proxy;
pub mod supervisor;
pub mod toxic;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use proxy::{Proxy, ProxyError, ProxyState};
pub use supervisor::{ProcessState, RegionProcess, Supervisor, SupervisorError};
pub use toxic::{Distribution, Effect, Stream, Toxic, ToxicError};

/// Every proxy, by name.
#[derive(Default, Clone)]
pub struct Registry {
    proxies: Arc<Mutex<BTreeMap<String, Arc<Proxy>>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("proxy already exists")]
    Exists,
    #[error("proxy not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error(transparent)]
    Toxic(#[from] ToxicError),
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Proxy>>> {
        self.proxies.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<Arc<Proxy>> {
        self.lock().values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Result<Arc<Proxy>, RegistryError> {
        self.lock()
            .get(name)
            .cloned()
            .ok_or(RegistryError::NotFound)
    }

    pub async fn create(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
        enabled: bool,
    ) -> Result<Arc<Proxy>, RegistryError> {
        if name.is_empty() || upstream.is_empty() {
            return Err(RegistryError::Invalid(
                "missing required field: name and upstream are required".into(),
            ));
        }
        if self.lock().contains_key(name) {
            return Err(RegistryError::Exists);
        }
        let proxy = Proxy::start(name, listen, upstream, enabled).await?;
        let mut proxies = self.lock();
        if proxies.contains_key(name) {
            proxy.stop();
            return Err(RegistryError::Exists);
        }
        proxies.insert(name.to_string(), proxy.clone());
        Ok(proxy)
    }

    pub fn delete(&self, name: &str) -> Result<(), RegistryError> {
        let proxy = self.lock().remove(name).ok_or(RegistryError::NotFound)?;
        proxy.stop();
        Ok(())
    }

    /// Enables every proxy and removes every toxic: the network heals.
    pub async fn reset(&self) -> Result<(), RegistryError> {
        for p in self.list() {
            p.clear_toxics();
            p.set_enabled(true).await?;
        }
        Ok(())
    }
}
