//! reco's local Firehose, split along the data flow as the service is: the delivery stream's
//! configuration read from the Firehose API ([`delivery`]); the [`source`] (Kinesis shards,
//! the [`checkpoint`] of what was delivered); the [`processor`] (the transform handler
//! in-process, retries, the 6 MB response limit, error records); the [`sink`] (buffers, S3
//! objects named and prefixed as Firehose does ([`prefix`]), the 500 active-partition quota,
//! the publisher on every delivered object); the [`lake`] (every valid raw event as Parquet in
//! the data lake, its Glue partition registered); and the [`runner`] joining them. Every retry
//! follows the one policy of [`retry`] (exponential back-off with jitter, bounded attempts).

pub mod checkpoint;
pub mod delivery;
pub mod lake;
pub mod prefix;
pub mod processor;
pub mod retry;
pub mod runner;
pub mod sink;
pub mod source;

pub use checkpoint::Checkpoint;
pub use delivery::{DeliveryConfig, firehose_client};
pub use lake::{EventLake, LakeCounts, LakeOptions};
pub use runner::{LocalFirehose, RunCounts, RunError, RunOptions, StartPosition};
pub use source::kinesis_client;
