//! One module per `reco` subcommand: its arguments and its `run`.

pub mod etl;
pub mod eval;
pub mod firehose_local;
pub mod load_embeddings;
pub mod produce;
pub mod recs;
pub mod source;
pub mod train;

use std::process::ExitCode;

/// Reports a subcommand that is not built yet and returns exit code 2 (no fake output).
pub fn not_built(command: &str, arriving_with: &str) -> anyhow::Result<ExitCode> {
    eprintln!("reco {command}: not built yet; it arrives with {arriving_with}");
    Ok(ExitCode::from(2))
}
