//! reco's Firehose transformation Lambda: not built yet (see the streaming-inference issue).

fn main() -> std::process::ExitCode {
    eprintln!("reco-transform-lambda is not built yet: the streaming-inference work is pending");
    std::process::ExitCode::from(2)
}
