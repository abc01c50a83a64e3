//! The CLI's one logging setup: library events (progress, reports) as plain lines on stderr at
//! INFO; `RUST_LOG` overrides (`RUST_LOG=debug` shows the SDKs' and stores' full errors).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber once; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Our crates at INFO; dependencies only when they warn.
        EnvFilter::new("warn,reco=info,reco_cli=info,reco_etl=info,reco_train=info,reco_vector_store=info,reco_vector_loader=info,reco_firehose_local=info,reco_serving=info,reco_transform_lambda=info,reco_aws=info")
    });
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}
