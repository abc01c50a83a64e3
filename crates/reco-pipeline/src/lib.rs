//! reco's daily loop: snapshot → train (quality gate) → load embeddings → score every
//! customer → make the version live → notify.
//!
//! - [`steps`]: the loop described once (order, requests, kept answers, retries, gate,
//!   fan-out, messages).
//! - [`asl`]: the Step Functions definition generated from it (committed as a Terraform
//!   template, checked by a test).
//! - [`runner`]: the same loop in one process (`reco pipeline run`).
//! - [`exec`]: the real steps ([`exec::Services`]), shared by the runner and the
//!   `reco-pipeline-lambda` function, behind the [`exec::Executor`] seam.
//! - [`io`]: requests and answers; [`metrics`]: what each step reports to CloudWatch.
//!
//! Every step is idempotent, so re-running a failed run is safe: the snapshot of a date is
//! replaced, a model version is immutable and new per run, the embeddings load swaps
//! atomically, documents are newest-wins, and `LATEST` is written last.

pub mod asl;
pub mod exec;
pub mod io;
pub mod json_path;
pub mod metrics;
pub mod runner;
pub mod steps;

pub use exec::{Executor, ServiceArgs, Services, StepError};
pub use runner::{Observer, Outcome, RunOptions, RunReport, StepRecord};
