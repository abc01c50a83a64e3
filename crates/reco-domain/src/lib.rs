//! reco's domain: the types and pure logic every other crate shares.
//!
//! Nothing in this crate talks to AWS, a database or the network; I/O lives in the
//! crates at the edges so that this logic is tested with plain unit tests.

pub mod artifacts;
pub mod event;
pub mod experiment;
pub mod firehose;
pub mod lake_events;
pub mod model;
pub mod recommendation;
pub mod serving;
pub mod source;
pub mod training;
pub mod transform;
