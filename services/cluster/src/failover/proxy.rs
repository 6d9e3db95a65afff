//! The failover endpoint's HTTP side: every request goes to the active
//! region, passed through unchanged by [`crate::passthrough`]; a request
//! that cannot reach it is answered 503 there and counted as failed. After
//! a move the next request opens a connection to the new region.

use hyper::http::request::Parts;

use super::endpoint::Endpoint;
use crate::passthrough::{Decision, Router, Upstream};

impl Router for Endpoint {
    fn what(&self) -> &'static str {
        "the failover endpoint"
    }

    fn route(&self, _: &Parts) -> Decision {
        let (index, region) = self.active();
        Decision::Forward(Upstream {
            index,
            name: region.name.clone(),
            dynamo: region.dynamo.clone(),
        })
    }

    fn forwarded(&self, _: &Upstream, ok: bool, took: std::time::Duration) {
        self.count(ok, took);
    }
}
