//! Generated gRPC types and services for `meridian.v1`.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("meridian.v1");
}

/// Every gRPC method the protos define, as (`package.Service`, `Method`),
/// in the order the protos list them: the paths a region's servers route
/// (`/package.Service/Method`).
pub mod methods {
    include!(concat!(env!("OUT_DIR"), "/grpc_methods.rs"));
}
