//! Generated gRPC types of the Extend event services (see `proto/`).
#![allow(clippy::all, missing_docs)]

pub mod iam {
    tonic::include_proto!("accelbyte.iam.account.v1");
}

pub mod statistic {
    tonic::include_proto!("accelbyte.social.statistic.v1");
}

/// The encoded descriptor set, served by gRPC reflection.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
