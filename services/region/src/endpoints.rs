//! The DynamoDB endpoints `meridian up` serves besides the regions' own,
//! the `[failover]` and `[edge]` sections, checked against the rest of the
//! cluster file: the regions they forward to and the ports already taken.

use std::net::SocketAddr;

use crate::ClusterFile;

impl ClusterFile {
    /// Checks `[failover]` and `[edge]`, when present; each error names the
    /// field and its limit.
    pub(crate) fn validate_endpoints(&self) -> Result<(), String> {
        if let Some(f) = &self.failover {
            // Its status and moves are served by the control API.
            if self.netsim.is_none() {
                return Err(
                    "a [failover] section needs a [netsim] section: the control API serves its status and moves"
                        .into(),
                );
            }
            f.validate(&self.dynamo_addresses(), &self.listeners())?;
        }
        if let Some(e) = &self.edge {
            let mut taken = self.listeners();
            taken.extend(self.failover.as_ref().map(|f| f.listen));
            e.validate(&self.dynamo_addresses(), &taken)?;
        }
        Ok(())
    }

    /// Each region's name and DynamoDB address, in file order.
    fn dynamo_addresses(&self) -> Vec<(&str, Option<SocketAddr>)> {
        self.regions
            .iter()
            .map(|r| (r.name.as_str(), r.dynamo))
            .collect()
    }

    /// The addresses the regions, the control API and the link proxies
    /// listen on, which an endpoint of `meridian up` must not take.
    fn listeners(&self) -> Vec<SocketAddr> {
        let mut taken: Vec<SocketAddr> = self
            .regions
            .iter()
            .flat_map(|r| [Some(r.grpc), r.metrics, r.dynamo, r.replication, r.admin])
            .flatten()
            .collect();
        taken.extend(self.netsim.as_ref().map(|n| n.api));
        taken.extend(self.links().iter().map(|l| l.listen));
        taken
    }
}
