//! One module per `reco` subcommand: its arguments and its `run`.

pub mod db;
pub mod etl;
pub mod eval;
pub mod experiment;
pub mod firehose_local;
pub mod load_embeddings;
pub mod pipeline;
pub mod produce;
pub mod recs;
pub mod report;
pub mod score_all;
pub mod source;
pub mod train;
