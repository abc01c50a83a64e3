//! reco's serving side: every customer's latest recommendations one S3 GET away.
//!
//! - [`documents`]: the store of latest documents, newest wins under replays and reordering
//!   (conditional puts on any [`object_store::ObjectStore`]: S3, the emulator, in memory).
//! - [`publisher`]: a delivered batch object (NDJSON recommendation records) to the latest
//!   document of each customer in it; run by the publisher Lambda on S3 events and by the
//!   local Firehose on every object it delivers.
//! - [`catalogue`]: the product catalogue that gives documents their display fields.
//! - [`score_all`]: the daily batch: top-k for every customer of a shard as `batch`
//!   documents, plus the `popular` fallback; [`scoring`] is its pure kernel.

pub mod catalogue;
pub mod documents;
pub mod lambda;
pub mod publisher;
pub mod score_all;
pub mod scoring;
