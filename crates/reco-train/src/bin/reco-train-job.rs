//! Scheduled training job (AWS Lambda); wired to the pipeline in the next commit.

fn main() {}
