//! Generated gRPC types and services for `meridian.v1`.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("meridian.v1");
}
