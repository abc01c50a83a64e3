//! reco's local Firehose: the delivery stream's configuration read from the Firehose API
//! ([`delivery`]), its S3 key namespaces ([`prefix`]), the runner that consumes Kinesis and
//! calls the transform handler in-process, enforcing Firehose's quotas, and hands every
//! delivered object to the publisher ([`runner`]), and where it stopped ([`checkpoint`]).

pub mod checkpoint;
pub mod delivery;
pub mod prefix;
pub mod runner;

pub use checkpoint::Checkpoint;
pub use delivery::DeliveryConfig;
pub use runner::{LocalFirehose, RunCounts, RunOptions, StartPosition};
