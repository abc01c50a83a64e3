//! reco's local Firehose, split along the data flow as the service is: the delivery stream's
//! configuration read from the Firehose API ([`delivery`]); the [`source`] (Kinesis shards,
//! the [`checkpoint`] of what was delivered); the [`processor`] (the transform handler
//! in-process, retries, the 6 MB response limit, error records); the [`sink`] (buffers, S3
//! objects named and prefixed as Firehose does ([`prefix`]), the 500 active-partition quota,
//! the publisher on every delivered object); and the [`runner`] joining them.

pub mod checkpoint;
pub mod delivery;
pub mod prefix;
pub mod processor;
pub mod runner;
pub mod sink;
pub mod source;

pub use checkpoint::Checkpoint;
pub use delivery::DeliveryConfig;
pub use runner::{LocalFirehose, RunCounts, RunOptions, StartPosition};
